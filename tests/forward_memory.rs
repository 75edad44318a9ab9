//! `forward` keeps memory flat whatever the input's size and form: a generated ~200 MB
//! directory of NDJSON events, a pretty-printed array of bare findings and a GetFindings
//! page, and a pretty-printed array on stdin. Peak RSS is the child's `VmHWM` from `/proc`.
//!
//! A debug build's binary alone maps ~13 MB of its own pages, so what is checked in every
//! build is the memory the forwarder allocates: the high-water mark minus the binary's
//! file-backed pages. An optimized build (`cargo test --release --test forward_memory`) is
//! also held to the whole bound users read: 16 MB of peak RSS.

mod support;

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::process::command;

/// The bound users read in the README: 16 MB of peak RSS whatever the input size.
const PEAK_RSS_BOUND_KB: u64 = 16 * 1024;
/// What the forwarder itself may allocate, in any build.
const ALLOCATED_BOUND_KB: u64 = 10 * 1024;

/// Findings from the corpus, plus one grown to ~140 KB like a Runtime Protection finding
/// with a long process lineage.
fn findings() -> Vec<Value> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(support::fixtures().join("corpus")).unwrap() {
        let path = entry.unwrap().path();
        let doc = support::read_json(&path);
        match doc.get("detail") {
            Some(d) if d.get("id").is_some() => found.push(d.clone()),
            _ => {}
        }
    }
    let mut big = found[0].clone();
    let lineage: Vec<Value> = (0..700)
        .map(|i| {
            json!({"pid": i, "name": "bash", "executablePath": "/usr/bin/bash",
                       "userId": 0, "startTime": "2026-11-30T10:00:00Z",
                       "uuid": format!("{i:032x}"), "euid": 0})
        })
        .collect();
    big["service"]["runtimeDetails"] = json!({"process": {"lineage": lineage}});
    found.push(big);
    found
}

/// Writes `total` bytes or a little more of findings to `path` in one of three forms.
fn write_file(path: &Path, form: &str, total: u64, findings: &[Value]) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0u64;
    let mut n = 0u64;
    match form {
        "array" => out.write_all(b"[\n").unwrap(),
        "page" => out.write_all(b"{\"findings\": [").unwrap(),
        _ => {}
    }
    while written < total {
        let mut f = findings[(n as usize) % findings.len()].clone();
        f["id"] = json!(format!("{form}-{n:028}"));
        let text = match form {
            "events" => {
                let event = json!({"version": "0", "id": format!("ev-{n}"),
                    "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
                    "account": "123456789012", "region": "us-east-1", "detail": f});
                format!("{event}\n")
            }
            "array" => {
                let sep = if n == 0 { "" } else { ",\n" };
                format!("{sep}{}", serde_json::to_string_pretty(&f).unwrap())
            }
            _ => format!("{}{f}", if n == 0 { "" } else { ", " }),
        };
        out.write_all(text.as_bytes()).unwrap();
        written += text.len() as u64;
        n += 1;
    }
    match form {
        "array" => out.write_all(b"\n]\n").unwrap(),
        "page" => out.write_all(b"], \"nextToken\": \"\"}\n").unwrap(),
        _ => {}
    }
    out.flush().unwrap();
    n
}

/// `VmHWM` and `RssFile` of a running process, in KB.
fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmHWM:")?, field("RssFile:")?))
}

/// Peak RSS and the largest file-backed part seen, in KB, and what the child printed on
/// stderr. The high-water mark is read until the child exits (it only grows).
struct Peak {
    hwm: u64,
    file: u64,
    stderr: String,
}

fn watch(mut child: Child) -> Peak {
    let (mut hwm, mut file) = (0, 0);
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    loop {
        if let Some((h, f)) = memory_kb(child.id()) {
            hwm = hwm.max(h);
            file = file.max(f);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Peak {
        hwm,
        file,
        stderr: reader.join().unwrap(),
    }
}

fn assert_flat(peak: &Peak, what: &str) {
    let allocated = peak.hwm.saturating_sub(peak.file);
    eprintln!(
        "{what}: peak RSS {} KB, of which the binary's own pages {} KB",
        peak.hwm, peak.file
    );
    assert!(
        allocated < ALLOCATED_BOUND_KB,
        "{what}: {allocated} KB allocated at the peak, over {ALLOCATED_BOUND_KB} KB"
    );
    if !cfg!(debug_assertions) {
        assert!(
            peak.hwm < PEAK_RSS_BOUND_KB,
            "{what}: peak RSS {} KB over {PEAK_RSS_BOUND_KB} KB",
            peak.hwm
        );
    }
}

#[test]
fn peak_memory_stays_under_16_mb_for_a_200_mb_directory_and_for_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let findings = findings();
    let mut count = 0;
    for (name, form, size) in [
        ("1-events.ndjson", "events", 100_000_000),
        ("2-array.json", "array", 50_000_000),
        ("3-page.json", "page", 50_000_000),
    ] {
        count += write_file(&inputs.join(name), form, size, &findings);
    }

    let child = command(&[])
        .arg("forward")
        .arg(&inputs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let peak = watch(child);
    let summary = peak.stderr.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with(&format!("forward ok: {count} received, {count} forwarded")),
        "{summary}"
    );
    assert_flat(&peak, &format!("directory of {count} findings"));

    let array = std::fs::File::open(inputs.join("2-array.json")).unwrap();
    let child = command(&[])
        .args(["forward", "-"])
        .stdin(array)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let peak = watch(child);
    assert!(peak.stderr.contains("forward ok"), "{}", peak.stderr);
    assert_flat(&peak, "stdin");
}
