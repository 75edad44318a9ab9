//! Gzip input, told by its magic bytes (`1f 8b`), never by a file name: GuardDuty's S3 export
//! (gzip JSON Lines), `gzip -c findings.json`, `cat a.gz b.gz`. The decompressed bytes go to
//! the same framer and the same fast path as plain input.
//!
//! Invariants:
//! - [`open`] hands back exactly the bytes the source holds when it is not gzip, and the
//!   concatenation of every member's content when it is (multi-member streams: the export,
//!   `cat a.gz b.gz`), read a buffer at a time: memory stays flat whatever the size.
//! - A stream that ends inside a member, or holds bytes that are not gzip after a member,
//!   fails with [`GzipError`] saying where (compressed byte offset, decompressed line);
//!   what was decompressed before it has been handed on.

use std::io::{BufReader, Chain, Cursor, Read};

/// The first two bytes of every gzip member.
const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Compressed bytes read from the source at a time.
const READ_SIZE: usize = 64 * 1024;

/// Why a gzip stream could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum GzipError {
    #[error(
        "gzip data ends inside a member (truncated?) at compressed byte {offset}, after line {line} of its text"
    )]
    Truncated { offset: u64, line: u64 },
    #[error(
        "gzip data is corrupt at compressed byte {offset}, after line {line} of its text: {message}"
    )]
    Corrupt {
        offset: u64,
        line: u64,
        message: String,
    },
}

/// The source's first bytes, put back in front of the rest.
type Rewound<R> = Chain<Cursor<Vec<u8>>, R>;

/// A source as plain bytes: itself, or what its gzip members hold.
pub enum Input<R: Read> {
    Plain(Rewound<R>),
    Gzip(Box<Gunzip<R>>),
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Plain(r) => r.read(buf),
            Input::Gzip(r) => r.read(buf),
        }
    }
}

/// Reads the first bytes of `source` and decides whether it is gzip.
pub fn open<R: Read>(mut source: R) -> std::io::Result<Input<R>> {
    let mut head = Vec::with_capacity(MAGIC.len());
    while head.len() < MAGIC.len() {
        let mut byte = [0u8; 1];
        match source.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let gzip = head == MAGIC;
    let rewound = Cursor::new(head).chain(source);
    if !gzip {
        return Ok(Input::Plain(rewound));
    }
    let counted = BufReader::with_capacity(
        READ_SIZE,
        Counted {
            inner: rewound,
            read: 0,
        },
    );
    Ok(Input::Gzip(Box::new(Gunzip {
        decoder: flate2::bufread::MultiGzDecoder::new(counted),
        lines: 0,
    })))
}

/// A source that counts the bytes read from it.
pub struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The decompressed text of every member, with the place of a failure.
pub struct Gunzip<R: Read> {
    decoder: flate2::bufread::MultiGzDecoder<BufReader<Counted<Rewound<R>>>>,
    /// Line breaks decompressed so far.
    lines: u64,
}

impl<R: Read> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.decoder.read(buf) {
            Ok(n) => {
                let out = buf.get(..n).unwrap_or_default();
                self.lines += memchr::memchr_iter(b'\n', out).count() as u64;
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(std::io::Error::other(self.failure(&e))),
        }
    }
}

impl<R: Read> Gunzip<R> {
    fn failure(&self, e: &std::io::Error) -> GzipError {
        let reader = self.decoder.get_ref();
        // The compressed bytes consumed: read from the source less what waits in the buffer.
        let offset = reader.get_ref().read - reader.buffer().len() as u64;
        // Counted from 1: the line being decompressed when it failed.
        let line = self.lines + 1;
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            GzipError::Truncated { offset, line }
        } else {
            GzipError::Corrupt {
                offset,
                line,
                message: e.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn read_all(input: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        open(input)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn plain_input_comes_back_byte_for_byte_even_when_it_is_one_byte_long() {
        for input in [&b""[..], b"{", b"\x1f", b"{\"id\": \"a\"}\n"] {
            assert_eq!(read_all(input).unwrap(), input);
        }
    }

    #[test]
    fn every_member_of_a_multi_member_stream_is_read_in_order() {
        let mut input = gzip(b"{\"id\": \"a\"}\n");
        input.extend(gzip(b"{\"id\": \"b\"}\n"));
        assert_eq!(
            read_all(&input).unwrap(),
            b"{\"id\": \"a\"}\n{\"id\": \"b\"}\n"
        );
    }

    #[test]
    fn a_truncated_member_is_named_with_its_offset_and_line() {
        let text: String = (0..2000)
            .map(|i| format!("{{\"id\": \"f{i}\", \"n\": {}}}\n", i * 7919 % 1000))
            .collect();
        let mut input = gzip(b"{\"id\": \"first\"}\n");
        let first = input.len();
        let second = gzip(text.as_bytes());
        input.extend_from_slice(&second[..second.len() / 2]);
        let mut out = Vec::new();
        let err = open(&input[..]).unwrap().read_to_end(&mut out).unwrap_err();
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<GzipError>());
        match inner {
            Some(GzipError::Truncated { offset, line }) => {
                assert!(*offset > first as u64, "{offset}");
                assert!(*line > 1, "{line}");
            }
            other => panic!("{other:?}: {err}"),
        }
        assert!(out.starts_with(b"{\"id\": \"first\"}\n"));
    }

    #[test]
    fn bytes_after_a_member_that_are_not_gzip_are_an_error() {
        let mut input = gzip(b"{\"id\": \"a\"}\n");
        input.extend_from_slice(b"{\"id\": \"b\"}\n");
        let err = read_all(&input).unwrap_err();
        assert!(err.to_string().contains("gzip data"), "{err}");
    }
}
