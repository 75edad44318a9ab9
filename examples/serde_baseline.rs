//! The yardstick for `forward`'s throughput: parse NDJSON from stdin into `serde_json::Value`
//! and write each value back to stdout, nothing else. See BENCHMARKS.md.

use std::io::{BufWriter, Read, Write};

fn main() -> std::io::Result<()> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    for value in serde_json::Deserializer::from_slice(&input).into_iter::<serde_json::Value>() {
        let value = value.map_err(std::io::Error::other)?;
        serde_json::to_writer(&mut out, &value)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
