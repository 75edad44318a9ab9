//! The hand-over between the thread that reads and frames the input ([`super::sources`]) and
//! the thread that parses the frames into findings ([`super::Reader`]): batches of frames,
//! copied out of the framer's buffer, and of everything else the reader met on the way
//! (framing errors, unreadable sources, S3 listing failures), in input order.
//!
//! Invariants:
//! - Every frame and every problem of the input is one [`Entry`], in the order the input
//!   holds them; the parsing thread logs and counts problems, so messages keep that order.
//! - A batch holds at most [`BATCH_BYTES`] of frames (plus the one frame that crossed it) and
//!   [`BATCH_ENTRIES`] entries; batches are handed back once parsed and reused, so the
//!   framing thread allocates a batch's buffers once, not once per batch.

use std::io::Read;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

use super::frames::{Frame, FrameError, FrameKind, Framer};
use super::gzip;
use super::s3::S3Error;
use super::text;
use crate::intake::IntakeError;

/// A batch is handed over once its frames hold this many bytes.
pub const BATCH_BYTES: usize = 128 * 1024;
/// At most this many entries travel in one batch.
pub const BATCH_ENTRIES: usize = 500;
/// A batch handed back with buffers grown past this (a very large frame) is freed, not kept.
const KEEP_BYTES: usize = 4 * BATCH_BYTES;

/// What the reader met, in input order.
pub enum Entry {
    /// The entries after this one come from this source (as messages name it).
    Source(Arc<str>),
    /// One value, in the batch's text.
    Frame(Span),
    /// A value the framer could not read (the source goes on after it).
    Invalid(IntakeError),
    /// The current source could not be read (further).
    Unreadable(std::io::Error),
    /// Listing an S3 prefix (`what`) failed: nothing more comes from it.
    ListFailed { what: String, error: S3Error },
    /// A message to log at this point of the input.
    Note(Box<dyn FnOnce() + Send>),
}

/// Where a frame's bytes are in its batch's text: `text[start..end]` as they came; when the
/// value spreads over several lines and is to be kept as text, `text[end..one_line]` holds it
/// compacted ([`text::compact`]), done on the reading thread so that the parsing thread, the
/// busiest, does not.
pub struct Span {
    kind: FrameKind,
    line: usize,
    column: usize,
    start: usize,
    end: usize,
    one_line: Option<usize>,
}

impl Span {
    /// The frame as it came.
    pub fn frame<'a>(&self, text: &'a [u8]) -> Frame<'a> {
        self.at(text, self.start, self.end)
    }

    /// The frame compacted into one line, when it was.
    pub fn one_line<'a>(&self, text: &'a [u8]) -> Option<Frame<'a>> {
        self.one_line.map(|end| self.at(text, self.end, end))
    }

    /// How many bytes of input the frame took.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    fn at<'a>(&self, text: &'a [u8], start: usize, end: usize) -> Frame<'a> {
        Frame {
            kind: self.kind,
            bytes: &text[start..end],
            line: self.line,
            column: self.column,
        }
    }
}

/// Frames and entries, handed over together.
#[derive(Default)]
pub struct Batch {
    pub entries: Vec<Entry>,
    pub text: Vec<u8>,
}

impl Batch {
    /// Empties the batch for reuse, or `None` when it grew too large to keep.
    pub fn recycled(mut self) -> Option<Batch> {
        if self.text.capacity() > KEEP_BYTES {
            return None;
        }
        self.entries.clear();
        self.text.clear();
        Some(self)
    }
}

/// The framing thread's end of the hand-over.
pub struct Framed {
    /// Whether frames spread over several lines are compacted ([`Entry::Frame`]).
    compact: bool,
    tx: SyncSender<Batch>,
    /// Batches the parsing thread is done with.
    back: Receiver<Batch>,
    batch: Batch,
}

impl Framed {
    pub fn new(compact: bool, tx: SyncSender<Batch>, back: Receiver<Batch>) -> Self {
        Framed {
            compact,
            tx,
            back,
            batch: Batch::default(),
        }
    }

    pub fn entry(&mut self, entry: Entry) {
        self.batch.entries.push(entry);
        if self.batch.entries.len() >= BATCH_ENTRIES {
            self.send();
        }
    }

    /// Copies the frame into the batch.
    pub fn frame(&mut self, frame: &Frame<'_>) {
        let start = self.batch.text.len();
        self.batch.text.extend_from_slice(frame.bytes);
        let end = self.batch.text.len();
        let one_line =
            (self.compact && memchr::memchr2(b'\n', b'\r', frame.bytes).is_some()).then(|| {
                text::compact(frame.bytes, &mut self.batch.text);
                self.batch.text.len()
            });
        self.entry(Entry::Frame(Span {
            kind: frame.kind,
            line: frame.line,
            column: frame.column,
            start,
            end,
            one_line,
        }));
        if self.batch.text.len() >= BATCH_BYTES {
            self.send();
        }
    }

    /// Hands the batch over (blocking while the parsing thread is a batch behind).
    pub fn send(&mut self) {
        if self.batch.entries.is_empty() {
            return;
        }
        let next = self.back.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        // The parsing thread only goes away when it failed; nothing is left to do then.
        let _ = self.tx.send(full);
    }
}

/// Calls `each` with every frame of the stream (gzip or not), or the error that took its
/// place, in order. A read error ends the stream and is returned.
pub fn frames_of_stream(
    reader: impl Read,
    mut each: impl FnMut(Result<&Frame<'_>, IntakeError>),
) -> std::io::Result<()> {
    let mut framer = Framer::new(gzip::open(reader)?);
    while let Some(frame) = framer.next() {
        match frame {
            Ok(frame) => each(Ok(&frame)),
            Err(FrameError::Read(e)) => return Err(e),
            Err(FrameError::TooLarge { line, limit }) => {
                each(Err(IntakeError::TooLarge { line, limit }));
            }
            Err(FrameError::Syntax {
                line,
                column,
                message,
            }) => each(Err(IntakeError::Json {
                line,
                column,
                message,
            })),
        }
    }
    Ok(())
}
