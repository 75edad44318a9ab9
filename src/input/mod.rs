//! The CLI's input: files, directories, stdin and S3 prefixes, read as a stream on threads
//! of their own (one reads and frames, [`sources`]; one parses, [`Reader`]) and handed over
//! as chunks of findings, while the caller normalizes and delivers the previous chunk.
//!
//! Invariants:
//! - Memory stays flat in the size of the input: a file is framed value by value
//!   ([`frames`]), the frames travel in batches of about [`batch::BATCH_BYTES`] (one being
//!   filled, one queued, one being parsed), are parsed one value at a time, and at most
//!   [`CHUNK_FINDINGS`] findings or [`CHUNK_BYTES`] bytes of input wait in a chunk, with one
//!   chunk queued, one being delivered and the ones handed back ([`Reader::spent`]) freed at
//!   the next hand-over, on the thread that allocated them.
//! - Every finding of the input is handed over exactly once, in input order; every value
//!   that is not a finding is counted (ignored or invalid) and logged with its file, never
//!   dropped quietly.
//! - A directory stands for the regular files under it, sorted by path, recursively,
//!   skipping hidden entries; `-` is stdin.
//! - `s3://bucket/prefix` stands for the objects under the prefix, in key order ([`s3`]).
//! - Any source may be gzip (told by its first bytes, [`gzip`]): it is decompressed as it is
//!   read, into the same framing and the same fast path as plain text.

mod batch;
pub mod frames;
pub mod gzip;
pub mod s3;
mod sources;
mod text;

use std::io::Read;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::intake::{IntakeError, Item, bare_finding, items_of_document};
use batch::{Batch, Entry, Framed, frames_of_stream};
use frames::{Frame, FrameKind};
pub use sources::Source;

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

/// The input's two threads: chunks arrive on `chunks`; `finish` gives the counts once they
/// end. One thread reads, decompresses and frames the sources ([`sources`]); the other parses
/// the frames into findings and counts the rest, while the caller normalizes and delivers the
/// previous chunk: three stages, so that reading a fast input keeps two cores busy (measured
/// in BENCHMARKS.md: with one input thread, reading was the bottleneck).
pub struct Reader {
    pub chunks: mpsc::Receiver<Chunk>,
    spent: std::sync::mpsc::Sender<Chunk>,
    parsing: std::thread::JoinHandle<Counts>,
    reading: std::thread::JoinHandle<()>,
}

impl Reader {
    /// Starts reading `sources` (none, or `-`, is stdin) on threads of their own; S3 sources
    /// need `s3`.
    pub fn spawn(
        sources: Vec<Source>,
        parse: Parse,
        s3: Option<s3::Context>,
    ) -> std::io::Result<Reader> {
        let (tx, chunks) = mpsc::channel(1);
        let (spent, spent_rx) = std::sync::mpsc::channel();
        let (batches_tx, batches) = std::sync::mpsc::sync_channel(1);
        let (back, back_rx) = std::sync::mpsc::channel();
        let parsing = std::thread::Builder::new()
            .name("input-parse".into())
            .spawn(move || parse_all(&batches, &back, parse, &tx, &spent_rx))?;
        let reading = std::thread::Builder::new()
            .name("input".into())
            .spawn(move || {
                let compact = parse == Parse::Text;
                let mut out = Framed::new(compact, batches_tx, back_rx);
                sources::read_all(&sources, s3.as_ref(), &mut out);
            })?;
        Ok(Reader {
            chunks,
            spent,
            parsing,
            reading,
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

    /// Waits for the threads once every chunk has been received. A thread that panicked
    /// counts as an input that could not be read.
    pub fn finish(self) -> Counts {
        drop(self.chunks);
        let mut counts = self.parsing.join().unwrap_or(Counts {
            ignored: 0,
            invalid: 1,
        });
        if self.reading.join().is_err() {
            counts.invalid += 1;
        }
        counts
    }
}

/// The parsing thread: every batch's entries, in order, into chunks of findings.
fn parse_all(
    batches: &std::sync::mpsc::Receiver<Batch>,
    back: &std::sync::mpsc::Sender<Batch>,
    parse: Parse,
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
    let mut shown: Arc<str> = Arc::from("<stdin>");
    let mut items = Vec::new();
    for mut batch in batches {
        let Batch { entries, text } = &mut batch;
        for entry in entries.drain(..) {
            match entry {
                Entry::Source(source) => shown = source,
                Entry::Frame(span) => {
                    items_of_span(&span, text, parse, &mut items);
                    for item in items.drain(..) {
                        out.item(item, &shown);
                    }
                    out.grew(span.len());
                }
                Entry::Invalid(e) => out.invalid(&shown, &e),
                Entry::Unreadable(e) => out.unreadable(&shown, &e),
                Entry::ListFailed { what, error } => {
                    error!(message = "Cannot list S3 objects.", prefix = %what, error = %error);
                    out.counts.invalid += 1;
                }
                Entry::Note(note) => note(),
            }
        }
        if let Some(batch) = batch.recycled() {
            // The reading thread has ended once the input is framed: the batch is freed here then.
            let _ = back.send(batch);
        }
    }
    out.flush();
    out.counts
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

/// Parses JSON, concatenated JSON or NDJSON held in memory (or gzip of any) into items, in
/// order.
pub fn parse_documents(input: &[u8], out: &mut Vec<Item>) {
    parse_documents_as(input, Parse::Whole, out);
}

/// [`parse_documents`], handing findings over as `parse` says.
pub fn parse_documents_as(input: &[u8], parse: Parse, out: &mut Vec<Item>) {
    // Reading a slice cannot fail.
    let _ = items_of_stream(input, parse, |item| out.push(item));
}

/// The items of a frame the reading thread handed over: kept as text (compacted there when it
/// spread over several lines) where `parse` allows it, else parsed whole from its bytes as
/// they came, so that an error names its own line and column.
fn items_of_span(span: &batch::Span, text: &[u8], parse: Parse, out: &mut Vec<Item>) {
    let frame = span.frame(text);
    let kept =
        parse == Parse::Text && text::items(span.one_line(text).as_ref().unwrap_or(&frame), out);
    if !kept {
        items_of_frame(&frame, out);
    }
}

/// Calls `each` with every item of the stream, in order.
fn items_of_stream(
    reader: impl Read,
    parse: Parse,
    mut each: impl FnMut(Item),
) -> std::io::Result<()> {
    let mut items = Vec::new();
    let mut scratch = Vec::new();
    frames_of_stream(reader, |frame| match frame {
        Ok(frame) => {
            items_of(frame, parse, &mut scratch, &mut items);
            items.drain(..).for_each(&mut each);
        }
        Err(e) => each(Item::Invalid(e)),
    })
}

/// The items of one frame, kept as text where `parse` and the frame allow it.
fn items_of(frame: &Frame<'_>, parse: Parse, scratch: &mut Vec<u8>, out: &mut Vec<Item>) {
    let kept =
        parse == Parse::Text && (text::items(frame, out) || text::compacted(frame, scratch, out));
    if !kept {
        items_of_frame(frame, out);
    }
}

/// The items of one frame, parsed whole.
fn items_of_frame(frame: &Frame<'_>, out: &mut Vec<Item>) {
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
    fn the_reader_hands_every_finding_over_once_in_input_order_across_files_and_batches() {
        // More findings than a batch and a chunk hold, a broken line, a file that does not
        // exist and one that is gzip: every finding once, in order, each problem counted.
        let dir = tempfile::tempdir().unwrap();
        let line = |i: usize| {
            format!(
                "{{\"id\": \"f{i:04}\", \"padding\": \"{}\"}}\n",
                "x".repeat(i % 700)
            )
        };
        let first: String = (0..1200).map(line).collect();
        std::fs::write(dir.path().join("a.json"), first).unwrap();
        let second = format!("{}{{\"id\": broken\n{}", line(1200), line(1201));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, second.as_bytes()).unwrap();
        std::fs::write(dir.path().join("b.json.gz"), gz.finish().unwrap()).unwrap();
        let sources = vec![
            Source::Path(dir.path().to_path_buf()),
            Source::Path(dir.path().join("missing.json")),
            Source::Path(dir.path().join("a.json")),
        ];
        let mut reader = Reader::spawn(sources, Parse::Text, None).unwrap();
        let mut ids = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = reader.chunks.blocking_recv() {
            chunks += 1;
            assert!(chunk.len() <= CHUNK_FINDINGS);
            ids.extend(
                chunk
                    .iter()
                    .map(|f| finding_id(f.finding.view()).unwrap().into_owned()),
            );
            reader.spent(chunk);
        }
        let counts = reader.finish();
        let expected: Vec<String> = (0..1202)
            .chain(0..1200)
            .map(|i| format!("f{i:04}"))
            .collect();
        assert_eq!(ids, expected);
        assert!(chunks > 4, "{chunks} chunks");
        assert_eq!(
            counts,
            Counts {
                ignored: 0,
                invalid: 2
            }
        );
    }

    #[test]
    fn a_pretty_printed_value_is_kept_as_its_compacted_text_and_a_broken_one_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pretty.json");
        let input = "{\n  \"id\": \"a\",\n  \"title\": \"two  spaces\"\n}\n{\n  \"id\": \"b\",\n  \"n\": tru\n}\n";
        std::fs::write(&path, input).unwrap();
        let mut reader = Reader::spawn(vec![Source::Path(path)], Parse::Text, None).unwrap();
        let mut found = Vec::new();
        while let Some(chunk) = reader.chunks.blocking_recv() {
            found.extend(chunk.iter().map(|f| match &f.finding {
                crate::intake::FindingJson::Text { text, .. } => text.get().to_string(),
                other => panic!("not kept as text: {other:?}"),
            }));
            reader.spent(chunk);
        }
        assert_eq!(found, [r#"{"id":"a","title":"two  spaces"}"#]);
        // The error's line and column: tests/cli_forward.rs, through the binary's log.
        assert_eq!(
            reader.finish(),
            Counts {
                ignored: 0,
                invalid: 1
            }
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
