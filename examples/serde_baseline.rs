//! The yardstick for `forward`'s throughput: parse a stream of JSON values (NDJSON,
//! pretty-printed, concatenated; gzip told by its magic bytes and decompressed first, as
//! `forward` does) into `serde_json::Value` and write each value back to stdout, one line
//! each, nothing else. Reads the files given as arguments, in order, else stdin.
//! See BENCHMARKS.md.

use std::io::{BufWriter, Read, Write};

fn main() -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        let mut raw = Vec::new();
        std::io::stdin().read_to_end(&mut raw)?;
        write_values(raw, &mut out)?;
    }
    for path in paths {
        write_values(std::fs::read(path)?, &mut out)?;
    }
    out.flush()
}

fn write_values(raw: Vec<u8>, out: &mut impl Write) -> std::io::Result<()> {
    let input = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut plain)?;
        plain
    } else {
        raw
    };
    for value in serde_json::Deserializer::from_slice(&input).into_iter::<serde_json::Value>() {
        let value = value.map_err(std::io::Error::other)?;
        serde_json::to_writer(&mut *out, &value)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
