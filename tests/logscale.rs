//! CrowdStrike Falcon LogScale through the `splunk-hec` preset: LogScale's HEC endpoint is
//! `…/api/v1/ingest/hec`, a URL with a path of its own, which the preset posts to as given
//! (a real TLS server on loopback stands in for LogScale).

mod support;

use std::process::Output;

use support::collector::{Ca, Collector, Reply};
use support::process::command;

const TOKEN: &str = "ls-ingest-token-0123456789";

async fn logscale(ca: &Ca) -> Collector {
    // LogScale answers HEC as Splunk does.
    let responder: support::collector::Responder =
        std::sync::Arc::new(|_| Reply::new(200, r#"{"text":"Success","code":0}"#));
    Collector::start_with(ca, Vec::new(), Some(responder)).await
}

fn run(collector: &Collector, ca_file: &std::path::Path, auth: &str, args: &[&str]) -> Output {
    let env = vec![
        ("COLLECTOR_FORMAT", "splunk-hec".to_string()),
        (
            "COLLECTOR_URL",
            format!("{}/api/v1/ingest/hec/", collector.base_url()),
        ),
        ("COLLECTOR_CA_FILE", ca_file.display().to_string()),
        ("COLLECTOR_AUTH_VALUE", auth.to_string()),
    ];
    command(&env).args(args).output().expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_posted_to_logscales_hec_path_as_given_with_the_token() {
    let ca = Ca::new("logscale ca");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let collector = logscale(&ca).await;
    let event = support::events_dir().join("guardduty-finding.json");
    let out = run(
        &collector,
        &ca_file,
        TOKEN,
        &["forward", event.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let received = collector.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, "/api/v1/ingest/hec");
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Splunk {TOKEN}").as_str())
    );
    let envelope: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(envelope["sourcetype"], "aws:guardduty");
    assert!(envelope["event"]["id"].is_string(), "{envelope}");
    assert!(!stderr.contains(TOKEN), "the token never reaches the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_value_is_sent_as_given_and_check_asks_nothing_of_splunks_own_paths() {
    let ca = Ca::new("logscale ca");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let collector = logscale(&ca).await;
    let out = run(&collector, &ca_file, &format!("Bearer {TOKEN}"), &["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("collector"))
        .unwrap_or_else(|| panic!("no collector line: {stdout}"));
    assert!(line.starts_with('✔'), "{stdout}");
    assert!(!stdout.contains(TOKEN), "{stdout}");
    let received = collector.received();
    assert!(!received.is_empty());
    for r in &received {
        assert!(
            r.path.starts_with("/api/v1/ingest/hec"),
            "nothing asked of /services/collector/*: {}",
            r.path
        );
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}
