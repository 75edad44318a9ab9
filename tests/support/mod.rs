//! Test support: local stand-ins for what the forwarder talks to, and the built binary.
#![allow(dead_code)]

pub mod collector;
pub mod guardduty;
pub mod moto;
pub mod process;
pub mod runtime_api;

use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events")
}

pub fn read_json(path: impl AsRef<std::path::Path>) -> serde_json::Value {
    let p = path.as_ref();
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
