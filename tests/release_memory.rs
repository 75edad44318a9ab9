//! The bound users read, on the binary that ships: `forward` peaks under 16 MB of RSS for a
//! ~100 MB directory of NDJSON events, a pretty-printed array of bare findings and a
//! GetFindings page, and for a pretty-printed array on stdin.
//!
//! The binary is `GDF_RELEASE_BIN` (`.ci/run` points it at the `bootstrap` of the x86_64 zip it
//! builds: the release profile, the bytes users deploy). Peak RSS is the kernel's count for the
//! child, as reported to its parent (`wait4`, what GNU time's `%M` shows), so nothing between
//! two polls is missed. When the variable is set, a measurement that cannot be made fails the
//! test; when it is unset (a plain `cargo test`, a debug build) there is nothing shipped to
//! measure and the test says so and passes. `tests/forward_memory.rs` holds every build to
//! the memory the forwarder allocates.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// The bound users read in the README: 16 MB of peak RSS whatever the input size.
const PEAK_RSS_BOUND_KB: u64 = 16 * 1024;
/// The measuring parent: runs the command given, then writes the children's peak RSS (KB on
/// Linux) to the report file and exits with the child's status.
const MEASURE: &str = "import resource, subprocess, sys\n\
r = subprocess.run(sys.argv[2:])\n\
open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n\
sys.exit(r.returncode)\n";

fn corpus_findings() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/fixtures/corpus") {
        let path = entry.expect("corpus entry").path();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).expect("read"))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match doc.get("detail") {
            Some(d) if d.get("id").is_some() => found.push(d.clone()),
            _ => {}
        }
    }
    assert!(!found.is_empty(), "no findings in {}", dir.display());
    // One grown to ~140 KB, like a Runtime Protection finding with a long process lineage.
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

/// Writes `total` bytes or a little more of findings to `path` in one of three forms and
/// returns how many findings it wrote.
fn write_file(path: &Path, form: &str, total: u64, findings: &[Value]) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create input"));
    let (open, close) = match form {
        "array" => ("[\n", "\n]\n"),
        "page" => ("{\"findings\": [", "], \"nextToken\": \"\"}\n"),
        _ => ("", ""),
    };
    out.write_all(open.as_bytes()).unwrap();
    let (mut written, mut n) = (0u64, 0u64);
    while written < total {
        let mut f = findings[(n as usize) % findings.len()].clone();
        f["id"] = json!(format!("{form}-{n:028}"));
        let sep = if n == 0 { "" } else { ",\n" };
        let text = match form {
            "events" => {
                let event = json!({"version": "0", "id": format!("ev-{n}"),
                    "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
                    "account": "123456789012", "region": "us-east-1", "detail": f});
                format!("{event}\n")
            }
            "array" => format!("{sep}{}", serde_json::to_string_pretty(&f).unwrap()),
            _ => format!("{sep}{f}"),
        };
        out.write_all(text.as_bytes()).unwrap();
        written += text.len() as u64;
        n += 1;
    }
    out.write_all(close.as_bytes()).unwrap();
    out.flush().unwrap();
    n
}

/// Runs `bin forward <args>` under a measuring parent (stdin from `stdin` when given,
/// records to nowhere) and returns its peak RSS in KB and its last line on stderr. The parent
/// is Python 3 (which `.ci/run` requires anyway): `getrusage(RUSAGE_CHILDREN)` after the
/// child is reaped is the kernel's `wait4` figure, as GNU time's `%M` is, without needing GNU
/// time installed. Panics naming what is missing when the peak cannot be measured.
fn forward_peak_kb(bin: &str, args: &[&Path], stdin: Option<&Path>, tmp: &Path) -> (u64, String) {
    let report = tmp.join("peak.out");
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(MEASURE)
        .arg(&report)
        .arg(bin)
        .arg("forward");
    cmd.args(args);
    if stdin.is_some() {
        cmd.arg("-");
    }
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.stdin(match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p).expect("open stdin input")),
        None => Stdio::null(),
    });
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("python3 (the measuring parent) for {bin}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{bin} forward failed: {stderr}");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| {
        panic!(
            "the measuring parent wrote no report to {}: {e}",
            report.display()
        )
    });
    let kb = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<u64>().ok())
        .filter(|&kb| kb > 0)
        .unwrap_or_else(|| panic!("the measuring parent reported no peak RSS: {text:?}"));
    let last = stderr.lines().last().unwrap_or_default().to_string();
    (kb, last)
}

#[test]
fn the_shipped_binary_peaks_under_16_mb_for_a_100_mb_directory_and_for_stdin() {
    let Some(bin) = std::env::var("GDF_RELEASE_BIN")
        .ok()
        .filter(|b| !b.is_empty())
    else {
        eprintln!("GDF_RELEASE_BIN is unset: no shipped binary to measure (.ci/run sets it)");
        return;
    };
    assert!(
        Path::new(&bin).is_file(),
        "GDF_RELEASE_BIN={bin} is not a file"
    );
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    std::fs::create_dir(&inputs).unwrap();
    let findings = corpus_findings();
    let mut count = 0;
    for (name, form, size) in [
        ("1-events.ndjson", "events", 50_000_000),
        ("2-array.json", "array", 25_000_000),
        ("3-page.json", "page", 25_000_000),
    ] {
        count += write_file(&inputs.join(name), form, size, &findings);
    }

    let (peak, summary) = forward_peak_kb(&bin, &[&inputs], None, dir.path());
    eprintln!("{bin} forward, directory of {count} findings: peak RSS {peak} KB");
    assert!(
        summary.starts_with(&format!("forward ok: {count} received, {count} forwarded")),
        "{summary}"
    );
    assert!(
        peak < PEAK_RSS_BOUND_KB,
        "directory of {count} findings: peak RSS {peak} KB over {PEAK_RSS_BOUND_KB} KB"
    );

    let array = inputs.join("2-array.json");
    let (peak, summary) = forward_peak_kb(&bin, &[], Some(&array), dir.path());
    eprintln!("{bin} forward -, a pretty-printed array on stdin: peak RSS {peak} KB");
    assert!(summary.starts_with("forward ok: "), "{summary}");
    assert!(
        peak < PEAK_RSS_BOUND_KB,
        "stdin: peak RSS {peak} KB over {PEAK_RSS_BOUND_KB} KB"
    );
}
