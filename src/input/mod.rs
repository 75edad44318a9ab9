//! The CLI's input: files, directories and stdin, read as a stream on a thread of its own
//! and handed over as chunks of findings, while the caller normalizes and delivers the
//! previous chunk.
//!
//! Invariants:
//! - Memory stays flat in the size of the input: a file is framed value by value
//!   ([`frames`]), parsed one value at a time, and at most [`CHUNK_FINDINGS`] findings or
//!   [`CHUNK_BYTES`] bytes of input wait in a chunk, with one chunk queued, one being
//!   delivered and the ones handed back ([`Reader::spent`]) freed at the next hand-over.
//! - Every finding of the input is handed over exactly once, in input order; every value
//!   that is not a finding is counted (ignored or invalid) and logged with its file, never
//!   dropped quietly.
//! - A directory stands for the regular files under it, sorted by path, recursively,
//!   skipping hidden entries; `-` is stdin.
//! - `s3://bucket/prefix` stands for the objects under the prefix, in key order ([`s3`]).
//! - Any source may be gzip (told by its first bytes, [`gzip`]): it is decompressed as it is
//!   read, into the same framing and the same fast path as plain text.

pub mod frames;
pub mod gzip;
pub mod s3;
mod text;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::intake::{IntakeError, Item, bare_finding, items_of_document};
use frames::{FrameError, FrameKind, Framer};

/// At most this many findings travel in one chunk.
pub const CHUNK_FINDINGS: usize = 500;
/// A chunk is handed over once it holds this many bytes of input.
pub const CHUNK_BYTES: usize = 128 * 1024;

/// How findings are handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// Parsed whole ([`crate::intake::FindingJson::Parsed`]): what the OCSF mapping reads.
    Whole,
    /// Kept as the text that arrived, with only what normalization reads parsed, wherever
    /// the frame allows it (native records: the text becomes `raw_event` as it is).
    Text,
}

/// Findings to forward, in input order.
pub type Chunk = Vec<crate::intake::Incoming>;

/// What the reader saw besides findings.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Events that are not findings (another detail-type, a schedule).
    pub ignored: u64,
    /// Values or files that could not be read as findings.
    pub invalid: u64,
}

/// The reading thread: chunks arrive on `chunks`; `finish` gives the counts once they end.
pub struct Reader {
    pub chunks: mpsc::Receiver<Chunk>,
    spent: std::sync::mpsc::Sender<Chunk>,
    thread: std::thread::JoinHandle<Counts>,
}

impl Reader {
    /// Starts reading `sources` (none, or `-`, is stdin) on a thread of its own; S3 sources
    /// need `s3`.
    pub fn spawn(
        sources: Vec<Source>,
        parse: Parse,
        s3: Option<s3::Context>,
    ) -> std::io::Result<Reader> {
        let (tx, chunks) = mpsc::channel(1);
        let (spent, spent_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("input".into())
            .spawn(move || read_all(&sources, parse, s3.as_ref(), &tx, &spent_rx))?;
        Ok(Reader {
            chunks,
            spent,
            thread,
        })
    }

    /// Hands a chunk back once its findings are delivered, so that the reading thread frees
    /// what it allocated: freed on another thread, each allocation takes the allocator's
    /// lock of the arena it came from (measured with `perf`: futex wake-ups and context
    /// switches, a quarter of all CPU time, BENCHMARKS.md).
    pub fn spent(&self, chunk: Chunk) {
        // The thread has ended once the input is read: the chunk is dropped here then.
        let _ = self.spent.send(chunk);
    }

    /// Waits for the thread once every chunk has been received.
    pub fn finish(self) -> Counts {
        drop(self.chunks);
        self.thread.join().unwrap_or(Counts {
            ignored: 0,
            invalid: 1,
        })
    }
}

/// Where findings are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, a directory, or `-` (stdin).
    Path(PathBuf),
    S3(s3::Location),
}

impl Source {
    /// A command-line argument: an S3 URL, else a path.
    pub fn of_arg(arg: PathBuf) -> Result<Source, s3::S3Error> {
        match arg.to_str() {
            Some(url) if s3::Location::is_url(url) => s3::Location::parse(url).map(Source::S3),
            _ => Ok(Source::Path(arg)),
        }
    }
}

fn read_all(
    sources: &[Source],
    parse: Parse,
    s3: Option<&s3::Context>,
    tx: &mpsc::Sender<Chunk>,
    spent: &std::sync::mpsc::Receiver<Chunk>,
) -> Counts {
    let mut out = Collector {
        tx,
        spent,
        chunk: Vec::new(),
        bytes: 0,
        counts: Counts::default(),
    };
    let stdin = [Source::Path(PathBuf::from("-"))];
    let sources = if sources.is_empty() {
        &stdin[..]
    } else {
        sources
    };
    for source in sources {
        match source {
            Source::Path(path) if path.as_os_str() == "-" => {
                read_source(std::io::stdin().lock(), "<stdin>", parse, &mut out);
            }
            Source::Path(path) => read_path(path, parse, &mut out),
            Source::S3(location) => match s3 {
                Some(context) => read_s3(context, location, parse, &mut out),
                None => out.unreadable(
                    &location.shown(&location.prefix),
                    &std::io::Error::other("S3 is not configured for this command"),
                ),
            },
        }
    }
    out.flush();
    out.counts
}

/// A file, or the files under a directory.
fn read_path(path: &Path, parse: Parse, out: &mut Collector<'_>) {
    for file in expand(path) {
        let opened = file.and_then(|p| match std::fs::File::open(&p) {
            Ok(f) => Ok((p, f)),
            Err(e) => Err((p, e)),
        });
        match opened {
            Ok((p, f)) => read_source(f, &p.display().to_string(), parse, out),
            Err((p, e)) => out.unreadable(&p.display().to_string(), &e),
        }
    }
}

/// The objects under an S3 prefix, in key order, with a progress line on a terminal.
fn read_s3(context: &s3::Context, location: &s3::Location, parse: Parse, out: &mut Collector<'_>) {
    let mut progress = Progress::new();
    let mut entries = s3::entries(context, location.clone());
    let mut objects = 0u64;
    while let Some(entry) = entries.blocking_recv() {
        match entry {
            s3::Entry::Object { key, body } => {
                objects += 1;
                progress.show(objects, &key);
                let shown = location.shown(&key);
                tracing::debug!(message = "Reading S3 object.", object = %shown);
                read_source(body, &shown, parse, out);
            }
            s3::Entry::Failed { what, error } => {
                error!(message = "Cannot list S3 objects.", prefix = %what, error = %error);
                out.counts.invalid += 1;
            }
        }
    }
    progress.clear();
    if objects == 0 {
        warn!(message = "No object to read under the S3 prefix.", prefix = %location.shown(&location.prefix));
    }
    tracing::info!(message = "S3 objects read.", prefix = %location.shown(&location.prefix), objects);
}

/// One line on stderr, rewritten, when stderr is a terminal.
struct Progress {
    shown: bool,
    on: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Progress {
            shown: false,
            on: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, objects: u64, key: &str) {
        if self.on {
            let tail: String = key
                .chars()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            eprint!("\r\x1b[Kobject {objects}: …{tail}");
            self.shown = true;
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

/// The files `path` stands for: itself, or the regular files under a directory.
fn expand(path: &Path) -> Vec<Result<PathBuf, (PathBuf, std::io::Error)>> {
    if !path.is_dir() {
        return vec![Ok(path.to_path_buf())];
    }
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return vec![Err((path.to_path_buf(), e))],
    };
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) if e.file_name().to_string_lossy().starts_with('.') => {}
            Ok(e) => children.push(e.path()),
            Err(e) => found.push(Err((path.to_path_buf(), e))),
        }
    }
    children.sort();
    for child in children {
        found.extend(expand(&child));
    }
    found
}

/// Gathers findings into chunks and counts the rest.
struct Collector<'a> {
    tx: &'a mpsc::Sender<Chunk>,
    /// Chunks handed back by the caller, dropped here.
    spent: &'a std::sync::mpsc::Receiver<Chunk>,
    chunk: Chunk,
    bytes: usize,
    counts: Counts,
}

impl Collector<'_> {
    fn item(&mut self, item: Item, shown: &str) {
        match item {
            Item::Finding(f) => self.chunk.push(f),
            Item::Ignored {
                source,
                detail_type,
            } => {
                warn!(message = "Event ignored: not a GuardDuty finding.", file = %shown, source = %source, detail_type = %detail_type);
                self.counts.ignored += 1;
            }
            Item::Invalid(e) => self.invalid(shown, &e),
        }
    }

    fn invalid(&mut self, shown: &str, e: &IntakeError) {
        error!(message = "Input rejected.", file = %shown, error = %e);
        self.counts.invalid += 1;
    }

    fn unreadable(&mut self, shown: &str, e: &std::io::Error) {
        error!(message = "Cannot read input.", file = %shown, error = %e);
        self.counts.invalid += 1;
    }

    /// Counts `bytes` of input into the chunk and hands it over when it is full.
    fn grew(&mut self, bytes: usize) {
        self.bytes += bytes;
        if self.chunk.len() >= CHUNK_FINDINGS || self.bytes >= CHUNK_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.bytes = 0;
        if self.chunk.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.spent.try_iter().for_each(drop);
        // The receiver only goes away when the caller stops early; nothing is left to do then.
        let _ = self.tx.blocking_send(chunk);
        self.spent.try_iter().for_each(drop);
    }
}

/// Reads one source to its end.
fn read_source(reader: impl Read, shown: &str, parse: Parse, out: &mut Collector<'_>) {
    let read = items_of_stream(reader, parse, |item, bytes| {
        if let Some(item) = item {
            out.item(item, shown);
        }
        out.grew(bytes);
    });
    if let Err(e) = read {
        out.unreadable(shown, &e);
    }
}

/// Parses JSON, concatenated JSON or NDJSON held in memory (or gzip of any) into items, in
/// order.
pub fn parse_documents(input: &[u8], out: &mut Vec<Item>) {
    parse_documents_as(input, Parse::Whole, out);
}

/// [`parse_documents`], handing findings over as `parse` says.
pub fn parse_documents_as(input: &[u8], parse: Parse, out: &mut Vec<Item>) {
    // Reading a slice cannot fail.
    let _ = items_of_stream(input, parse, |item, _| out.extend(item));
}

/// Calls `each` with every item of the stream, in order, and after each value with the
/// number of input bytes it took (the item is then `None`).
fn items_of_stream(
    reader: impl Read,
    parse: Parse,
    mut each: impl FnMut(Option<Item>, usize),
) -> std::io::Result<()> {
    let mut framer = Framer::new(gzip::open(reader)?);
    let mut items = Vec::new();
    let mut scratch = Vec::new();
    while let Some(frame) = framer.next() {
        let frame = match frame {
            Ok(frame) => frame,
            Err(FrameError::Read(e)) => return Err(e),
            Err(FrameError::TooLarge { line, limit }) => {
                each(
                    Some(Item::Invalid(IntakeError::TooLarge { line, limit })),
                    0,
                );
                continue;
            }
            Err(FrameError::Syntax {
                line,
                column,
                message,
            }) => {
                each(
                    Some(Item::Invalid(IntakeError::Json {
                        line,
                        column,
                        message,
                    })),
                    0,
                );
                continue;
            }
        };
        let len = frame.bytes.len();
        let kept = parse == Parse::Text
            && (text::items(&frame, &mut items)
                || text::compacted(&frame, &mut scratch, &mut items));
        if !kept {
            items_of_frame(&frame, &mut items);
        }
        for item in items.drain(..) {
            each(Some(item), 0);
        }
        each(None, len);
    }
    Ok(())
}

/// The items of one frame, parsed whole.
fn items_of_frame(frame: &frames::Frame<'_>, out: &mut Vec<Item>) {
    match serde_json::from_slice::<Value>(frame.bytes) {
        Ok(doc) if frame.kind == FrameKind::Finding => out.push(bare_finding(doc)),
        Ok(doc) => items_of_document(doc, out),
        Err(e) => {
            let (line, column, message) = frames::locate(&e, frame.line, frame.column);
            out.push(Item::Invalid(IntakeError::Json {
                line,
                column,
                message,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::finding_id;

    #[test]
    fn documents_of_every_shape_are_split_into_findings() {
        let input = br#"{"findings": [{"id": "a"}, {"id": "b"}]}
{"Findings": [{"Id": "c"}]}
[{"id": "d"}, {"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "id": "e1", "detail": {"id": "e"}}]
{"id": "f"}
"#;
        let mut items = Vec::new();
        parse_documents(input, &mut items);
        let ids: Vec<String> = items
            .iter()
            .map(|i| match i {
                Item::Finding(f) => finding_id(f.finding.view()).unwrap().into_owned(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e", "f"]);
    }

    #[test]
    fn a_bad_ndjson_line_is_reported_with_its_line_and_the_rest_is_read() {
        let input = b"{\"id\": \"a\"}\n{\"id\": \"b\"\n{\"id\": \"c\"}\n";
        let mut items = Vec::new();
        parse_documents(input, &mut items);
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(
            matches!(&items[1], Item::Invalid(IntakeError::Json { line: 2, .. })),
            "{:?}",
            items[1]
        );
        assert!(
            matches!(&items[2], Item::Finding(f) if f.finding.view()["id"] == "c"),
            "{:?}",
            items[2]
        );
    }

    #[test]
    fn values_that_are_not_findings_are_invalid_items() {
        let mut items = Vec::new();
        parse_documents(
            br#"{"findings": "x"} 42 {"name": "not a finding"}"#,
            &mut items,
        );
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|i| matches!(i, Item::Invalid(_))));
        let mut items = Vec::new();
        parse_documents(br#"{"findings": []}"#, &mut items);
        assert!(items.is_empty());
    }
}
