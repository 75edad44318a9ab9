//! Normalization and encoding over the fixture corpus (criterion).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use guardduty_forwarder::input::{Parse, parse_documents, parse_documents_as};
use guardduty_forwarder::intake::{FindingJson, Item};
use guardduty_forwarder::normalize::{Ingest, OcsfVersion, OutputSchema, Via};
use guardduty_forwarder::record::encode;

fn fixture_findings() -> Vec<FindingJson> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut items = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fixtures") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        parse_documents(&bytes, &mut items);
    }
    items
        .into_iter()
        .filter_map(|i| match i {
            Item::Finding(f) => Some(f.finding),
            _ => None,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let findings = fixture_findings();
    let ingest = Ingest::new(Via::Cli, None, "2026-11-22T00:00:00.000Z");
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(findings.len() as u64));
    for (name, schema) in [
        ("native", OutputSchema::Native),
        ("ocsf", OutputSchema::Ocsf(OcsfVersion::V1_1_0)),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for f in &findings {
                    std::hint::black_box(encode(f, &ingest, schema).expect("encode"));
                }
            })
        });
    }
    group.finish();
    let ndjson: Vec<u8> = findings
        .iter()
        .flat_map(|f| {
            let mut line = serde_json::to_vec(f.view()).expect("json");
            line.push(b'\n');
            line
        })
        .collect();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(ndjson.len() as u64));
    for (name, parse) in [
        ("intake_ndjson", Parse::Whole),
        ("intake_ndjson_as_text", Parse::Text),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut items = Vec::new();
                parse_documents_as(&ndjson, parse, &mut items);
                std::hint::black_box(items)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
