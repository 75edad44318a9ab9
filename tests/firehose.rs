//! The Amazon Data Firehose destination through the built binary, against a local Firehose
//! that holds the service's limits and answers 200 with per-record failures, in a world
//! that acts from a seed at every call (tests/support/firehose.rs).
//!
//! Invariant: whatever the seed, every finding reaches the stream at least once, every
//! request the forwarder makes is within PutRecordBatch's limits, each record's data is one
//! record and a newline, and `forward` exits 0 only when nothing was lost.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::{Value, json};
use support::firehose::{ALWAYS_FAILS, Firehose, MAX_RECORDS};
use support::process::command;

const STREAM: &str = "gd-findings";

/// `n` small findings, and `big` of about 600 KB (so a few fill a request's 4 MB).
fn findings(n: usize, big: usize) -> Vec<Value> {
    let detail =
        support::read_json(support::events_dir().join("guardduty-finding.json"))["detail"].clone();
    (0..n + big)
        .map(|i| {
            let mut f = detail.clone();
            f["id"] = json!(format!("fh-{i:05}"));
            if i >= n {
                f["description"] = json!("x".repeat(600_000));
            }
            f
        })
        .collect()
}

fn forward(firehose: &Firehose, input: &[Value]) -> Output {
    let env = vec![
        ("FIREHOSE_STREAM_NAME", STREAM.to_string()),
        ("AWS_ENDPOINT_URL_FIREHOSE", firehose.endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
    ];
    let mut cmd = command(&env);
    cmd.arg("forward")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    for f in input {
        writeln!(stdin, "{f}").expect("write");
    }
    drop(stdin);
    child.wait_with_output().expect("wait")
}

/// Record ids the stream received, with how often; every datum must be one record + `\n`.
fn received(firehose: &Firehose) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for data in firehose.delivered() {
        let text = String::from_utf8(data).expect("utf-8");
        let line = text
            .strip_suffix('\n')
            .expect("each record's data ends with a newline");
        assert!(!line.contains('\n'), "one record per Firehose record");
        let record: Value = serde_json::from_str(line).expect("a record");
        *out.entry(record["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_finding_reaches_the_stream_within_its_limits_whatever_the_world_does() {
    let seeds: u64 = std::env::var("GDF_FIREHOSE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let input = findings(1_010, 8);
    for seed in 0..seeds {
        let firehose = Firehose::start(STREAM, seed, 30, 15).await;
        let out = forward(&firehose, &input);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "seed {seed}: {stderr}");
        assert_eq!(firehose.violations(), Vec::<String>::new(), "seed {seed}");
        let got = received(&firehose);
        assert_eq!(got.len(), input.len(), "seed {seed}: every finding arrived");
        for f in &input {
            let id = f["id"].as_str().unwrap();
            assert!(got.contains_key(id), "seed {seed}: {id} lost");
        }
        let requests = firehose.requests();
        assert!(
            requests.iter().all(|&n| n <= MAX_RECORDS),
            "seed {seed}: {requests:?}"
        );
        // 1,018 records take at least three requests by count, and the big ones more by size.
        assert!(requests.len() >= 4, "seed {seed}: {requests:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_stream_keeps_failing_is_reported_and_the_others_still_arrive() {
    let firehose = Firehose::start(STREAM, 7, 0, 0).await;
    let mut input = findings(20, 0);
    input[3]["description"] = json!(ALWAYS_FAILS);
    let out = forward(&firehose, &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("fh-00003"),
        "the failed finding is named: {stderr}"
    );
    assert!(stderr.contains("ServiceUnavailableException"), "{stderr}");
    let got = received(&firehose);
    assert_eq!(got.len(), 19, "{got:?}");
    assert!(!got.contains_key("fh-00003"));
    assert!(
        got.values().all(|&n| n == 1),
        "nothing else was sent twice: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_does_not_exist_fails_the_run_naming_it() {
    let firehose = Firehose::start("another-stream", 1, 0, 0).await;
    let out = forward(&firehose, &findings(2, 0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
    assert!(stderr.contains(STREAM), "{stderr}");
    assert!(
        !stderr.contains("Retrying delivery"),
        "not retried: the code says it cannot help: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_describes_the_stream_and_names_one_that_does_not_exist() {
    for (stream, ok) in [(STREAM, true), ("gone", false)] {
        let firehose = Firehose::start(STREAM, 0, 0, 0).await;
        // Credentials through the local AWS emulator's STS; Firehose is the stand-in.
        let mut env = support::moto::aws_env();
        env.push(("FIREHOSE_STREAM_NAME", stream.to_string()));
        env.push(("AWS_ENDPOINT_URL_FIREHOSE", firehose.endpoint()));
        let out = command(&env).arg("check").output().expect("run check");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.contains(" firehose: "))
            .unwrap_or_else(|| panic!("no firehose line: {stdout}"));
        if ok {
            assert!(
                line.starts_with(&format!("✔ firehose: {STREAM}: active")),
                "{line}"
            );
        } else {
            assert!(line.starts_with("✘ firehose: "), "{line}");
            assert!(
                line.contains("ResourceNotFoundException") && line.contains("gone"),
                "{line}"
            );
        }
    }
}
