//! Framing: splits a byte stream of JSON (one document, concatenated documents, NDJSON,
//! pretty-printed or not) into frames, each the bytes of one value small enough to parse on
//! its own, without ever holding the stream whole.
//!
//! Invariants (unit tests and proptests below):
//! - Frames come out in input order and hold every value once: a top-level array is split
//!   into its elements ([`FrameKind::Document`] each), the `findings` / `Findings` array of a
//!   GetFindings page into its findings ([`FrameKind::Finding`]; the page's other members are
//!   skipped), and any other top-level value is one frame. A page is recognized when its
//!   `findings` array comes before any EventBridge key (`source`, `detail-type`, `detail`).
//! - A frame is the exact bytes of one JSON value as they appear in the input. Only the
//!   structure (brackets, strings, separators) is checked here; the parser checks the rest.
//! - Memory is bounded by the largest frame plus one read, never by the stream: bytes are
//!   dropped once their frame has been handed out. A value that is still open after
//!   [`MAX_FRAME`] bytes is reported and skipped.
//! - After a broken value the framer resumes on the line after the one where it began, so
//!   one bad line of an NDJSON file does not hide the rest. No input makes it panic.

use std::io::Read;

/// The largest single value (event, finding, element) the framer holds before giving up on
/// it. Findings are at most a few hundred KB and EventBridge events 256 KB.
pub const MAX_FRAME: usize = 32 * 1024 * 1024;

const READ_SIZE: usize = 64 * 1024;

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A whole document: an event, a bare finding, a page, an element of a top-level array.
    Document,
    /// One element of a GetFindings page's findings array: a bare finding.
    Finding,
}

/// One value's bytes and where it began (1-based line and column).
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: FrameKind,
    pub bytes: &'a [u8],
    pub line: usize,
    pub column: usize,
}

/// Why the stream could not be framed. Syntax problems are not fatal: the next call resumes.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("value starting at line {line} is still open after {limit} bytes")]
    TooLarge { line: usize, limit: usize },
    #[error("read failed: {0}")]
    Read(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Top,
    /// Inside an array whose elements are frames; `then` says what follows its `]`.
    Seq {
        kind: FrameKind,
        first: bool,
        page: bool,
    },
    /// After a page's findings array: the page's remaining members, skipped.
    PageRest,
}

/// The EventBridge keys that make an object an event rather than a page.
fn is_event_key(key: &[u8]) -> bool {
    matches!(key, b"source" | b"detail-type" | b"detail")
}

fn is_findings_key(key: &[u8]) -> bool {
    matches!(key, b"findings" | b"Findings")
}

/// Splits what `reader` yields into frames.
pub struct Framer<R> {
    reader: R,
    buf: Vec<u8>,
    /// First byte of `buf` not yet consumed; every scan position is relative to it.
    start: usize,
    eof: bool,
    /// Line and column of `buf[start]`.
    line: usize,
    column: usize,
    mode: Mode,
    limit: usize,
}

/// A scan that could not finish: the input ended, the value grew past the limit, or a byte
/// broke the structure at the given offset.
enum Stop {
    End,
    TooLarge,
    At(usize),
    Read(std::io::Error),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Stop::Read(e)
    }
}

impl<R: Read> Framer<R> {
    pub fn new(reader: R) -> Self {
        Self::with_limit(reader, MAX_FRAME)
    }

    /// A framer that gives up on values longer than `limit` bytes.
    pub fn with_limit(reader: R, limit: usize) -> Self {
        Framer {
            reader,
            buf: Vec::with_capacity(READ_SIZE),
            start: 0,
            eof: false,
            line: 1,
            column: 1,
            mode: Mode::Top,
            limit,
        }
    }

    /// The next frame, an error to report (framing goes on after it), or `None` at the end.
    /// A read error ends the stream.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Frame<'_>, FrameError>> {
        let (kind, len) = match self.next_span() {
            Ok(Some(span)) => span,
            Ok(None) => return None,
            Err(Stop::Read(e)) => {
                self.eof = true;
                self.buf.clear();
                self.start = 0;
                return Some(Err(FrameError::Read(e)));
            }
            Err(stop) => return Some(Err(self.recover(stop))),
        };
        let (line, column) = (self.line, self.column);
        let begin = self.start;
        self.consume(len);
        let bytes = self.buf.get(begin..begin + len).unwrap_or_default();
        Some(Ok(Frame {
            kind,
            bytes,
            line,
            column,
        }))
    }

    fn next_span(&mut self) -> Result<Option<(FrameKind, usize)>, Stop> {
        loop {
            let Some(b) = self.skip_ws()? else {
                return match self.mode {
                    Mode::Top => Ok(None),
                    _ => Err(Stop::End),
                };
            };
            match self.mode {
                Mode::Top => match b {
                    b'[' => {
                        self.consume(1);
                        self.mode = Mode::Seq {
                            kind: FrameKind::Document,
                            first: true,
                            page: false,
                        };
                    }
                    b'{' => {
                        if let Some(len) = self.scan_object_or_enter_page()? {
                            return Ok(Some((FrameKind::Document, len)));
                        }
                    }
                    _ => return Ok(Some((FrameKind::Document, self.scan_value(0)?))),
                },
                Mode::Seq { kind, first, page } => {
                    if b == b']' {
                        self.consume(1);
                        self.mode = if page { Mode::PageRest } else { Mode::Top };
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(Stop::At(0));
                        }
                        self.consume(1);
                        if self.skip_ws()?.is_none() {
                            return Err(Stop::End);
                        }
                    }
                    self.mode = Mode::Seq {
                        kind,
                        first: false,
                        page,
                    };
                    return Ok(Some((kind, self.scan_value(0)?)));
                }
                Mode::PageRest => match b {
                    b'}' => {
                        self.consume(1);
                        self.mode = Mode::Top;
                    }
                    b',' => {
                        let (_, end) = self.scan_member(1)?;
                        self.consume(end);
                    }
                    _ => return Err(Stop::At(0)),
                },
            }
        }
    }

    /// At a top-level `{`: scans the object and gives its length, or, when it is a page
    /// whose findings array comes first, consumes up to that array's `[` and enters it.
    fn scan_object_or_enter_page(&mut self) -> Result<Option<usize>, Stop> {
        let mut pos = self.ws_from(1)?;
        if self.byte(pos)? == b'}' {
            return Ok(Some(pos + 1));
        }
        let mut event = false;
        loop {
            let key = self.scan_string(pos)?;
            let colon = self.ws_from(key)?;
            if self.byte(colon)? != b':' {
                return Err(Stop::At(colon));
            }
            let value = self.ws_from(colon + 1)?;
            let name = self.buf.get(self.start + pos + 1..self.start + key - 1);
            let name = name.unwrap_or_default();
            event |= is_event_key(name);
            if !event && is_findings_key(name) && self.byte(value)? == b'[' {
                self.consume(value + 1);
                self.mode = Mode::Seq {
                    kind: FrameKind::Finding,
                    first: true,
                    page: true,
                };
                return Ok(None);
            }
            let end = self.scan_value(value)?;
            let after = self.ws_from(end)?;
            match self.byte(after)? {
                b',' => pos = self.ws_from(after + 1)?,
                b'}' => return Ok(Some(after + 1)),
                _ => return Err(Stop::At(after)),
            }
        }
    }

    /// Scans `, "key": value` from `pos` (at the comma) and gives the key's span and the end.
    fn scan_member(&mut self, pos: usize) -> Result<(usize, usize), Stop> {
        let key = self.ws_from(pos)?;
        let key_end = self.scan_string(key)?;
        let colon = self.ws_from(key_end)?;
        if self.byte(colon)? != b':' {
            return Err(Stop::At(colon));
        }
        let value = self.ws_from(colon + 1)?;
        Ok((key, self.scan_value(value)?))
    }

    /// The end (exclusive) of the value starting at `pos`: a string, an object or array with
    /// everything nested in it, or a bare word (number, true, false, null).
    fn scan_value(&mut self, pos: usize) -> Result<usize, Stop> {
        match self.byte(pos)? {
            b'"' => self.scan_string(pos),
            b'{' | b'[' => self.scan_nested(pos),
            b'}' | b']' | b',' | b':' => Err(Stop::At(pos)),
            _ => self.scan_word(pos),
        }
    }

    fn scan_word(&mut self, pos: usize) -> Result<usize, Stop> {
        let mut i = pos;
        loop {
            match self.peek(i)? {
                None => return Ok(i),
                Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.') => i += 1,
                Some(_) if i == pos => return Err(Stop::At(pos)),
                Some(_) => return Ok(i),
            }
        }
    }

    /// From an opening quote to just past the closing one.
    fn scan_string(&mut self, pos: usize) -> Result<usize, Stop> {
        if self.byte(pos)? != b'"' {
            return Err(Stop::At(pos));
        }
        let mut i = pos + 1;
        loop {
            let rest = self.buf.get(self.start + i..).unwrap_or_default();
            match memchr::memchr2(b'"', b'\\', rest) {
                Some(p) => {
                    i += p;
                    if self.byte(i)? == b'"' {
                        return Ok(i + 1);
                    }
                    i += 2;
                }
                None => {
                    i += rest.len();
                    self.need(i)?;
                }
            }
        }
    }

    /// From an opening bracket to just past the matching closing one.
    fn scan_nested(&mut self, pos: usize) -> Result<usize, Stop> {
        let mut depth = 0usize;
        let mut i = pos;
        loop {
            let rest = self.buf.get(self.start + i..).unwrap_or_default();
            let hit = rest
                .iter()
                .position(|b| matches!(b, b'"' | b'{' | b'[' | b'}' | b']'));
            let Some(k) = hit else {
                i += rest.len();
                self.need(i)?;
                continue;
            };
            i += k;
            match self.byte(i)? {
                b'"' => i = self.scan_string(i)?,
                b'{' | b'[' => {
                    depth += 1;
                    i += 1;
                }
                _ => {
                    depth = depth.saturating_sub(1);
                    i += 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                }
            }
        }
    }

    /// The offset of the first non-whitespace byte at or after `pos`.
    fn ws_from(&mut self, pos: usize) -> Result<usize, Stop> {
        let mut i = pos;
        while self.byte(i)?.is_ascii_whitespace() {
            i += 1;
        }
        Ok(i)
    }

    /// Consumes whitespace; the next byte, or `None` at the end of the input.
    fn skip_ws(&mut self) -> Result<Option<u8>, Stop> {
        loop {
            match self.peek(0)? {
                Some(b) if b.is_ascii_whitespace() => {
                    let rest = self.buf.get(self.start..).unwrap_or_default();
                    let n = rest
                        .iter()
                        .position(|b| !b.is_ascii_whitespace())
                        .unwrap_or(rest.len());
                    self.consume(n);
                }
                other => return Ok(other),
            }
        }
    }

    /// The byte at `pos`, reading as needed; the input ending there is [`Stop::End`].
    fn byte(&mut self, pos: usize) -> Result<u8, Stop> {
        self.peek(pos)?.ok_or(Stop::End)
    }

    fn peek(&mut self, pos: usize) -> Result<Option<u8>, Stop> {
        if let Some(&b) = self.buf.get(self.start + pos) {
            return Ok(Some(b));
        }
        match self.need(pos) {
            Ok(()) => Ok(self.buf.get(self.start + pos).copied()),
            Err(Stop::End) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads until `buf[start + pos]` exists.
    fn need(&mut self, pos: usize) -> Result<(), Stop> {
        while self.start + pos >= self.buf.len() {
            if pos >= self.limit {
                return Err(Stop::TooLarge);
            }
            if self.eof {
                return Err(Stop::End);
            }
            self.fill()?;
        }
        Ok(())
    }

    fn fill(&mut self) -> std::io::Result<()> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_SIZE, 0);
        let read = loop {
            match self
                .reader
                .read(self.buf.get_mut(len..).unwrap_or_default())
            {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => self.eof = true,
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Marks `n` bytes as consumed, keeping the line and column of the next one.
    fn consume(&mut self, n: usize) {
        let end = (self.start + n).min(self.buf.len());
        let gone = self.buf.get(self.start..end).unwrap_or_default();
        match memchr::memrchr(b'\n', gone) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', gone).count();
                self.column = gone.len() - last;
            }
            None => self.column += gone.len(),
        }
        self.start = end;
    }

    /// Turns a failed scan into the error to report, and moves on to the line after the one
    /// where the broken value began.
    fn recover(&mut self, stop: Stop) -> FrameError {
        let held = self.buf.get(self.start..).unwrap_or_default();
        let seen = match stop {
            Stop::At(at) => held.get(..=at).unwrap_or(held),
            _ => held,
        };
        let parsed = serde_json::from_slice::<serde::de::IgnoredAny>(seen).err();
        let error = match (stop, parsed) {
            (Stop::TooLarge, e) if e.as_ref().is_none_or(serde_json::Error::is_eof) => {
                FrameError::TooLarge {
                    line: self.line,
                    limit: self.limit,
                }
            }
            (_, Some(e)) => match self.syntax(&e) {
                // Found on a later line than the broken value began on: that later line is
                // read again as its own value, so blame the line the broken value began on.
                FrameError::Syntax {
                    line,
                    column,
                    message,
                } if line > self.line => FrameError::Syntax {
                    line: self.line,
                    column: self.column,
                    message: format!("{message} at line {line}, column {column}"),
                },
                other => other,
            },
            (_, None) => FrameError::Syntax {
                line: self.line,
                column: self.column,
                message: "unexpected character".into(),
            },
        };
        let skip = held
            .iter()
            .position(|&b| b == b'\n')
            .map_or(held.len(), |p| p + 1);
        self.consume(skip.max(1));
        self.mode = Mode::Top;
        error
    }

    fn syntax(&self, e: &serde_json::Error) -> FrameError {
        let (line, column, message) = locate(e, self.line, self.column);
        FrameError::Syntax {
            line,
            column,
            message,
        }
    }
}

/// A parser error in a value that began at `line`, `column`: where it is in the whole
/// input, and the parser's message without its own (relative) position.
pub fn locate(e: &serde_json::Error, line: usize, column: usize) -> (usize, usize, String) {
    let message = e.to_string();
    let message = message.split(" at line").next().unwrap_or_default();
    let column = if e.line() <= 1 {
        column + e.column().saturating_sub(1)
    } else {
        e.column()
    };
    (
        line + e.line().saturating_sub(1),
        column,
        message.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of `input` read `chunk` bytes at a time: (kind, text) or the error text.
    fn frames(input: &[u8], chunk: usize) -> Vec<Result<(FrameKind, String), String>> {
        let reader = Trickle { data: input, chunk };
        let mut framer = Framer::new(reader);
        let mut out = Vec::new();
        while let Some(f) = framer.next() {
            out.push(
                f.map(|f| (f.kind, String::from_utf8_lossy(f.bytes).into_owned()))
                    .map_err(|e| e.to_string()),
            );
        }
        out
    }

    /// A reader that hands out at most `chunk` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len());
            let (head, rest) = self.data.split_at(n);
            out[..n].copy_from_slice(head);
            self.data = rest;
            Ok(n)
        }
    }

    fn docs(list: &[&str]) -> Vec<Result<(FrameKind, String), String>> {
        list.iter()
            .map(|s| Ok((FrameKind::Document, s.to_string())))
            .collect()
    }

    #[test]
    fn ndjson_and_concatenated_documents_are_one_frame_each() {
        let input = b"{\"id\": \"a\"}\n{\"id\":\"b\"} {\"id\": \"c\"}\n\n42 \"s\" null";
        for chunk in [1, 3, 64 * 1024] {
            assert_eq!(
                frames(input, chunk),
                docs(&[
                    r#"{"id": "a"}"#,
                    r#"{"id":"b"}"#,
                    r#"{"id": "c"}"#,
                    "42",
                    r#""s""#,
                    "null"
                ])
            );
        }
    }

    #[test]
    fn a_top_level_array_is_split_into_its_elements() {
        let input = b"[ {\"id\": \"a\"},\n [1, {\"x\": \"]\"}], {\"id\": \"b\\\"}\"} ]";
        assert_eq!(
            frames(input, 2),
            docs(&[r#"{"id": "a"}"#, r#"[1, {"x": "]"}]"#, r#"{"id": "b\"}"}"#])
        );
    }

    #[test]
    fn a_page_is_split_into_its_findings_and_its_other_members_are_skipped() {
        let input =
            br#"{"findings": [{"id": "a"}, {"id": "b"}], "nextToken": "t", "x": {"findings": []}}
{"NextToken": null, "Findings": [{"Id": "c"}]}"#;
        let f = |s: &str| Ok((FrameKind::Finding, s.to_string()));
        assert_eq!(
            frames(input, 5),
            vec![
                f(r#"{"id": "a"}"#),
                f(r#"{"id": "b"}"#),
                f(r#"{"Id": "c"}"#)
            ]
        );
    }

    #[test]
    fn events_and_objects_that_are_not_pages_stay_whole() {
        let event = r#"{"source": "x", "findings": [1], "detail": {"id": "a"}}"#;
        let not_a_list = r#"{"findings": "x"}"#;
        let input = format!("{event}\n{not_a_list}\n{{}}");
        assert_eq!(
            frames(input.as_bytes(), 7),
            docs(&[event, not_a_list, "{}"])
        );
    }

    #[test]
    fn a_broken_line_is_reported_with_its_line_and_the_next_line_is_read() {
        let out = frames(b"{\"id\": \"a\"}\n{\"id\": \"b\"\n{\"id\": \"c\"}\n", 4);
        assert_eq!(out.len(), 3, "{out:?}");
        let err = out[1].as_ref().unwrap_err();
        assert!(
            err.starts_with("invalid JSON at line 2, column 1:"),
            "{err}"
        );
        assert_eq!(out[2], Ok((FrameKind::Document, r#"{"id": "c"}"#.into())));
    }

    #[test]
    fn broken_structure_inside_arrays_and_pages_is_reported_and_reading_goes_on() {
        let cases: [&[u8]; 5] = [
            b"[{\"id\": 1} {\"id\": 2}]\n{\"id\": 3}",
            b"{\"findings\": [{\"id\": 1}}\n{\"id\": 3}",
            b"{\"a\" 1}\n{\"id\": 3}",
            b"[1, ]\n{\"id\": 3}",
            b"{\"findings\": [], \"n\": }\n{\"id\": 3}",
        ];
        for input in cases {
            let out = frames(input, 3);
            assert!(
                out.iter().any(Result::is_err),
                "{}: {out:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(
                out.last(),
                Some(&Ok((FrameKind::Document, r#"{"id": 3}"#.into()))),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_value_still_open_past_the_limit_is_named_and_skipped() {
        let input = format!("{{\"a\": [{}\n{{\"id\": 1}}", "1, ".repeat(100));
        let mut framer = Framer::with_limit(input.as_bytes(), 100);
        let err = framer.next().unwrap().unwrap_err().to_string();
        assert!(err.contains("still open after 100 bytes"), "{err}");
        assert_eq!(framer.next().unwrap().unwrap().bytes, br#"{"id": 1}"#);
    }

    #[test]
    fn a_syntax_error_on_the_first_line_gives_the_column_in_the_line() {
        let out = frames(b"{\"id\": 1}   {\"id\" 2}", 64);
        let err = out[1].as_ref().unwrap_err();
        assert!(err.contains("line 1, column 19"), "{err}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                "[a-z\"\\\\\\[\\]{}, \n\u{e9}]{0,8}".prop_map(Value::String),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            leaf().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec((key(), inner), 0..4)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        /// The findings a page holds: its first `findings` array before any event key.
        fn page_findings(o: &serde_json::Map<String, Value>) -> Option<&Vec<Value>> {
            for (k, v) in o {
                if is_event_key(k.as_bytes()) {
                    return None;
                }
                if let (true, Some(list)) = (is_findings_key(k.as_bytes()), v.as_array()) {
                    return Some(list);
                }
            }
            None
        }

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("findings".to_string()),
                Just("Findings".to_string()),
                Just("source".to_string()),
                Just("detail".to_string()),
                "[a-zA-Z\"-]{0,6}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn any_stream_of_documents_comes_back_value_for_value(
                values in prop::collection::vec(value(), 0..6),
                pretty in any::<bool>(),
                chunk in 1usize..40,
            ) {
                let mut input = Vec::new();
                let mut expected = Vec::new();
                for v in &values {
                    let text = if pretty { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) };
                    input.extend_from_slice(text.unwrap().as_bytes());
                    input.push(b'\n');
                    match v {
                        Value::Array(items) => expected.extend(items.iter().cloned()),
                        Value::Object(o) => match page_findings(o) {
                            Some(list) => expected.extend(list.iter().cloned()),
                            None => expected.push(v.clone()),
                        },
                        other => expected.push(other.clone()),
                    }
                }
                let got: Vec<Value> = frames(&input, chunk)
                    .into_iter()
                    .map(|f| serde_json::from_str(&f.unwrap().1).unwrap())
                    .collect();
                prop_assert_eq!(got, expected);
            }

            #[test]
            fn no_input_makes_the_framer_panic_or_loop(
                bytes in prop::collection::vec(prop_oneof![
                    Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b'"'), Just(b'\\'),
                    Just(b','), Just(b':'), Just(b'\n'), Just(b' '), Just(b'1'), Just(b'a'),
                ], 0..64),
                chunk in 1usize..8,
            ) {
                let out = frames(&bytes, chunk);
                prop_assert!(out.len() <= bytes.len() + 1);
            }
        }
    }
}
