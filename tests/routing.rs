//! Several destinations, each with its own filter and fate (`DESTINATIONS`), through the
//! built binary: the CLI's routing and `--explain` over the corpus, and in Lambda mode a
//! destination that is down while another works — the working one gets each finding once,
//! the other's share waits in the dead-letter queue naming it, and the scheduled run's
//! automatic redrive delivers it there alone once it is back.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::collector::{Ca, Collector, Reply as CollectorReply};
use support::guardduty::GuardDuty;
use support::moto;
use support::process::{Running, command};
use support::runtime_api::Reply;

/// Two collectors' entries of a destinations document, each with `filter`.
fn https_entry(name: &str, collector: &Collector, ca_file: &str, filter: Value) -> Value {
    json!({"name": name, "type": "https", "url": collector.url(), "ca_file": ca_file,
           "timeout_seconds": 1, "filter": filter})
}

/// A member by its path, in the API's camelCase or the AWS CLI's PascalCase (the corpus has
/// both).
fn member<'a>(f: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(f, |v, k| {
        let pascal = format!("{}{}", k[..1].to_uppercase(), &k[1..]);
        match v.get(*k) {
            Some(x) => x,
            None => v.get(&pascal).unwrap_or(&Value::Null),
        }
    })
}

/// The finding's numeric severity (GuardDuty's JSON has it as a number; some sources as text).
fn severity_of(f: &Value) -> f64 {
    match member(f, &["severity"]) {
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        v => v.as_f64().unwrap_or(0.0),
    }
}

/// The finding's id as the records carry it.
fn id_of(f: &Value) -> String {
    match member(f, &["id"]) {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_sample(f: &Value) -> bool {
    let info = member(f, &["service", "additionalInfo"]);
    member(info, &["sample"]) == &json!(true)
        || member(info, &["value"])
            .as_str()
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
            .is_some_and(|v| v["sample"] == json!(true))
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

async fn forward_corpus(doc: &Value, extra_args: &[&str]) -> (i32, Running) {
    let env = vec![("DESTINATIONS", doc.to_string())];
    let mut cmd = command(&env);
    cmd.arg("forward")
        .args(extra_args)
        .arg(support::fixtures().join("corpus"));
    let mut run = Running::spawn(cmd);
    tokio::task::spawn_blocking(move || {
        let code = run.exit_code(Duration::from_secs(120));
        (code, run)
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_collector_gets_exactly_the_corpus_findings_its_filter_admits() {
    let ca = Ca::new("routing ca");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path()).display().to_string();
    let (siem, ec2) = (
        Collector::start(&ca, vec![]).await,
        Collector::start(&ca, vec![]).await,
    );
    let doc = json!({"destinations": [
        https_entry("siem", &siem, &ca_file, json!({"min_severity": "high"})),
        https_entry("ec2-team", &ec2, &ca_file,
                    json!({"types": ["*:EC2/*"], "include_samples": false})),
    ]});
    let (code, run) = forward_corpus(&doc, &[]).await;
    // The corpus holds inputs the CLI refuses (exit 1 for them); no finding may fail.
    let summary = run.stderr().last().cloned().unwrap_or_default();
    assert!(
        code <= 1 && summary.contains(", 0 failed,"),
        "{}",
        run.all_output()
    );
    let corpus = support::corpus::finding_values();
    // The documented meaning, computed here from the findings themselves.
    let for_siem: Vec<&Value> = corpus.iter().filter(|f| severity_of(f) >= 7.0).collect();
    let for_ec2: Vec<&Value> = corpus
        .iter()
        .filter(|f| {
            member(f, &["type"])
                .as_str()
                .is_some_and(|t| t.contains(":EC2/") || t.contains(":ec2/"))
                && !is_sample(f)
        })
        .collect();
    let set = |fs: &[&Value]| fs.iter().map(|f| id_of(f)).collect::<BTreeSet<_>>();
    assert!(!for_siem.is_empty() && !for_ec2.is_empty());
    assert_ne!(set(&for_siem), set(&for_ec2));
    assert_eq!(ids(&siem.delivered_records()), set(&for_siem));
    assert_eq!(ids(&ec2.delivered_records()), set(&for_ec2));
    // Each record once (the corpus holds one finding in several versions).
    assert_eq!(siem.delivered_records().len(), for_siem.len());
    assert_eq!(ec2.delivered_records().len(), for_ec2.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_says_where_each_finding_would_go_and_why_not_elsewhere_and_sends_nothing() {
    let ca = Ca::new("explain ca");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path()).display().to_string();
    let (siem, archive) = (
        Collector::start(&ca, vec![]).await,
        Collector::start(&ca, vec![]).await,
    );
    let doc = json!({"destinations": [
        https_entry("siem", &siem, &ca_file, json!({"min_severity": "critical"})),
        https_entry("archive", &archive, &ca_file, json!({})),
    ]});
    let (code, run) = forward_corpus(&doc, &["--explain"]).await;
    let lines = run.stdout();
    let corpus = support::corpus::finding_values();
    let summary = run.stderr().last().cloned().unwrap_or_default();
    assert!(
        code <= 1 && summary.contains(&format!("{} finding(s) explained", corpus.len())),
        "{}",
        run.all_output()
    );
    assert_eq!(lines.len(), corpus.len(), "{lines:?}");
    for f in &corpus {
        let id = id_of(f);
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{id} [")))
            .unwrap_or_else(|| panic!("no line for {id}"));
        if severity_of(f) >= 9.0 {
            assert!(line.contains(": to siem, archive"), "{line}");
        } else {
            assert!(
                line.contains(": to archive; not to siem (severity "),
                "{line}"
            );
            assert!(line.contains("is below min_severity critical)"), "{line}");
        }
    }
    assert!(
        run.stderr()
            .iter()
            .any(|l| l.contains("explained") && l.contains("nothing sent")),
        "{}",
        run.all_output()
    );
    assert!(siem.received().is_empty() && archive.received().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_error_names_the_destination_and_the_field_and_never_the_credential() {
    let doc = json!({"destinations": [
        {"name": "archive", "type": "log"},
        {"name": "siem", "type": "https", "url": "http://siem.example/?token=PLANTED-7f3a",
         "auth_value": "Bearer PLANTED-7f3a"},
    ]});
    let (code, run) = forward_corpus(&doc, &[]).await;
    assert_eq!(code, 2, "{}", run.all_output());
    let out = run.all_output();
    assert!(
        out.contains("DESTINATIONS: destination \"siem\", url: plain http is refused"),
        "{out}"
    );
    assert!(!out.contains("PLANTED"), "{out}");
}

/// A collector that answers 503 while `down` is set, else 200.
async fn switchable(ca: &Ca, down: Arc<AtomicBool>) -> Collector {
    let responder: support::collector::Responder = Arc::new(move |_| {
        if down.load(Ordering::SeqCst) {
            CollectorReply::new(503, "down")
        } else {
            CollectorReply::new(200, "")
        }
    });
    Collector::start_with(ca, vec![], Some(responder)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_that_is_down_gets_its_share_from_the_dead_letter_queue_and_the_other_gets_each_finding_once()
 {
    let ca = Ca::new("fate ca");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path()).display().to_string();
    let healthy = Collector::start(&ca, vec![]).await;
    let down = Arc::new(AtomicBool::new(true));
    let flaky = switchable(&ca, down.clone()).await;
    let dlq = moto::create_queue("gdf-routing-dlq", &[]).await;
    let gd = GuardDuty::start().await;
    gd.add("us-east-1", "det1", vec![]);
    let doc = json!({"destinations": [
        https_entry("siem", &healthy, &ca_file, json!({})),
        https_entry("soar", &flaky, &ca_file, json!({})),
    ]});
    let mut env = moto::aws_env();
    env.extend([
        ("DESTINATIONS", doc.to_string()),
        ("DLQ_URL", dlq.clone()),
        ("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()),
        ("DETECTOR_IDS", "det1".into()),
        ("BACKFILL_SETTLE_SECONDS", "0".into()),
        ("METRICS_DETAIL", "detailed".into()),
    ]);
    let (api, proc_) = support::lambda::start(&env).await;
    let detail = support::finding_event()["detail"].clone();
    let mut sent = BTreeSet::new();
    for n in 0..3 {
        let mut finding = detail.clone();
        finding["id"] = json!(format!("routing-{n}"));
        sent.insert(format!("routing-{n}"));
        let reply = support::lambda::invoke_ok(&api, &proc_, support::event_of(&finding, n)).await;
        assert_eq!(reply["forwarded"], 1, "{reply}");
        assert_eq!(
            reply["failed"], 0,
            "the invocation succeeds: no Lambda retry"
        );
    }
    assert_eq!(ids(&healthy.delivered_records()), sent);
    assert_eq!(healthy.delivered_records().len(), 3, "each finding once");
    assert!(flaky.delivered_records().is_empty());
    // The DLQ names the destination; `dlq list` shows it (read without deleting).
    let mut list = command(&[moto::aws_env(), vec![("DLQ_URL", dlq.clone())]].concat());
    list.args(["dlq", "list"]);
    let listed = tokio::task::spawn_blocking(move || {
        let mut r = Running::spawn(list);
        r.exit_code(Duration::from_secs(60));
        r.stdout()
    })
    .await
    .unwrap();
    assert_eq!(
        listed.iter().filter(|l| l.contains("| for soar |")).count(),
        3,
        "{listed:?}"
    );
    // Back up: the scheduled run redrives the three to `soar` alone.
    down.store(false, Ordering::SeqCst);
    let scheduled = support::read_json(support::events_dir().join("scheduled.json"));
    match api.invoke(scheduled).await {
        Reply::Response(r) => assert_eq!(r["via"], "backfill", "{r}"),
        Reply::Error(e) => panic!("scheduled run failed: {e}\n{}", proc_.all_output()),
    }
    let redriven = flaky.delivered_records();
    assert_eq!(ids(&redriven), sent, "{}", proc_.all_output());
    assert!(redriven.iter().all(|r| r["ingest"]["via"] == "redrive"));
    assert_eq!(healthy.delivered_records().len(), 3, "never sent twice");
    assert!(moto::drain(&dlq).await.is_empty(), "the DLQ is empty again");
    let redriven_metric: u64 = proc_
        .emf()
        .iter()
        .filter_map(|d| d["FindingsRedriven"].as_u64())
        .sum();
    assert!(redriven_metric >= 3, "{:?}", proc_.emf());
}
