//! The one loader of the finding fixtures: each file read as the CLI reads it (the crate's
//! own document framing), so a test sees exactly the findings `guardduty-forwarder forward`
//! would forward from the same files. What it does not return it names on stderr (a file
//! holding no finding, an item the CLI would refuse), so nothing is dropped silently.

use std::path::Path;

use guardduty_forwarder::input::parse_documents;
use guardduty_forwarder::intake::Item;
use serde_json::Value;

/// A finding of the fixtures, with the file it came from.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub file: String,
    pub finding: Value,
}

/// Every finding in `tests/fixtures/<dir>`, files in name order, as the CLI reads them.
pub fn findings_in(dir: &str) -> Vec<Fixture> {
    let mut paths: Vec<_> = std::fs::read_dir(super::fixtures().join(dir))
        .unwrap_or_else(|e| panic!("tests/fixtures/{dir}: {e}"))
        .map(|e| e.expect("fixture entry").path())
        .collect();
    paths.sort();
    paths.iter().flat_map(|p| findings_of(p)).collect()
}

/// The shared corpus (`tests/fixtures/corpus`), as the CLI reads it.
pub fn findings() -> Vec<Fixture> {
    findings_in("corpus")
}

/// Just the finding documents of the shared corpus.
pub fn finding_values() -> Vec<Value> {
    findings().into_iter().map(|f| f.finding).collect()
}

/// The findings of one file, naming on stderr each item that is not one.
pub fn findings_of(path: &Path) -> Vec<Fixture> {
    let name = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut items = Vec::new();
    parse_documents(&bytes, &mut items);
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Finding(f) => out.push(Fixture {
                file: name.clone(),
                finding: f
                    .finding
                    .full()
                    .expect("a read finding parses")
                    .into_owned(),
            }),
            Item::Ignored {
                source,
                detail_type,
            } => eprintln!("corpus: {name}: skipped, not a finding ({source} / {detail_type})"),
            Item::Invalid(e) => eprintln!("corpus: {name}: skipped, the CLI refuses it: {e}"),
        }
    }
    if out.is_empty() {
        eprintln!("corpus: {name}: holds no finding");
    }
    out
}
