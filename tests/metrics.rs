//! Operability through the built binary: every output line is JSON, EMF metrics carry the
//! right values for a known mix, and a configured secret never appears.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::collector::{Action, Ca, Collector};
use support::guardduty::{GuardDuty, finding, now_ms};
use support::moto;
use support::process::Running;
use support::runtime_api::{Reply, RuntimeApi};

fn event(detail: Value, n: usize) -> Value {
    json!({"version": "0", "id": format!("ev-{n}"), "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
           "account": "123456789012", "time": "2026-11-22T00:00:00Z", "region": "us-east-1", "resources": [], "detail": detail})
}

/// EMF documents printed so far.
fn emf(proc_: &Running) -> Vec<Value> {
    proc_.emf()
}

#[tokio::test]
async fn emf_metrics_count_a_known_mix_and_no_line_is_anything_but_json_or_leaks_the_secret() {
    let url = moto::create_queue(
        "metrics",
        &[(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "4096",
        )],
    )
    .await;
    let gd = GuardDuty::start().await;
    gd.add(
        "us-east-1",
        "det1",
        vec![finding(
            "us-east-1",
            "det1",
            "bf-1",
            now_ms() - 90_000,
            false,
            8.0,
        )],
    );
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.push(("SQS_QUEUE_URL", url));
    env.push(("MIN_SEVERITY", "medium".into()));
    env.push(("METRICS_NAMESPACE", "TestNS".into()));
    env.push(("METRICS_DETAIL", "detailed".into()));
    // The backfilled finding is 90 s old: inside a window that ends 60 s ago.
    env.push(("BACKFILL_SETTLE_SECONDS", "60".into()));
    env.push(("AWS_LAMBDA_LOG_LEVEL", "DEBUG".into()));
    let (api, proc_) = support::lambda::start(&env).await;

    let medium = json!({"id": "m-1", "severity": 5, "type": "Recon:EC2/Portscan", "accountId": "123456789012"});
    let low = json!({"id": "l-1", "severity": 2, "type": "Recon:EC2/Portscan", "accountId": "123456789012"});
    let big = json!({"id": "big-1", "severity": 8, "type": "Recon:EC2/Portscan", "description": "x".repeat(8000)});
    for (n, f) in [medium, low, big].into_iter().enumerate() {
        api.invoke(event(f, n)).await;
    }
    api.invoke(support::read_json(
        support::events_dir().join("scheduled.json"),
    ))
    .await;
    // Four invocations: one trigger-level EMF line each, plus the default and the
    // per-destination ones.
    proc_.wait_for_stdout(Duration::from_secs(5), |lines| {
        lines
            .iter()
            .filter(|l| l.contains("\"Trigger\"") && !l.contains("\"Destination\""))
            .count()
            >= 4
    });

    let docs = emf(&proc_);
    let by_trigger: Vec<&Value> = docs
        .iter()
        .filter(|d| d.get("Trigger").is_some() && d.get("Destination").is_none())
        .collect();
    assert_eq!(by_trigger.len(), 4, "{docs:?}");
    let sum = |name: &str, trigger: &str| -> u64 {
        by_trigger
            .iter()
            .filter(|d| d["Trigger"] == trigger)
            .map(|d| d[name].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("FindingsReceived", "eventbridge"), 3);
    assert_eq!(sum("FindingsForwarded", "eventbridge"), 1);
    assert_eq!(sum("FindingsSkipped", "eventbridge"), 1);
    assert_eq!(sum("FindingsFailed", "eventbridge"), 1);
    assert_eq!(sum("OversizeRecords", "eventbridge"), 1);
    assert_eq!(sum("FindingsForwarded", "backfill"), 1);
    assert_eq!(sum("BackfillRunsSucceeded", "backfill"), 1);
    let lag = by_trigger
        .iter()
        .find(|d| d["Trigger"] == "backfill")
        .unwrap()["BackfillLagSeconds"]
        .as_u64()
        .unwrap();
    // The run covered its whole window: the oldest position not delivered is the window's
    // end, the settle margin (60 s) behind now.
    assert!((55..200).contains(&lag), "lag {lag}");
    for d in &docs {
        assert_eq!(d["_aws"]["CloudWatchMetrics"][0]["Namespace"], "TestNS");
        assert_eq!(d["FunctionName"], "guardduty-forwarder", "{d}");
    }
    let per_dest: Vec<&Value> = docs.iter().filter(|d| d["Destination"] == "sqs").collect();
    let failed: u64 = per_dest
        .iter()
        .map(|d| d["FindingsFailed"].as_u64().unwrap())
        .sum();
    assert_eq!(failed, 1);
    let oversize: u64 = per_dest
        .iter()
        .map(|d| d["OversizeRecords"].as_u64().unwrap())
        .sum();
    assert_eq!(oversize, 1, "OversizeRecords by Destination");

    for line in proc_.stdout().iter().chain(proc_.stderr().iter()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        assert!(
            v.get("raw_event").is_none(),
            "a whole finding was logged: {line}"
        );
    }
}

#[tokio::test]
async fn the_collector_secret_never_appears_even_at_trace_level() {
    // A real collector on loopback: the request, its headers and the answer all go through
    // the traced HTTP stack.
    let ca = Ca::new("test ca");
    let collector = Collector::start(&ca, vec![Action::Status(503)]).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("trace-secret-{:x}", fastrand::u64(..));
    let (api, proc_) = support::lambda::start(&[
        ("COLLECTOR_URL", collector.url()),
        (
            "COLLECTOR_CA_FILE",
            ca.write_pem(dir.path()).display().to_string(),
        ),
        ("COLLECTOR_AUTH_VALUE", format!("Bearer {secret}")),
        ("COLLECTOR_TIMEOUT_SECONDS", "1".into()),
        ("LOG_LEVEL", "trace".into()),
    ])
    .await;
    let reply = api
        .invoke_with_timeout(support::finding_event(), Duration::from_secs(20))
        .await;
    assert!(
        matches!(&reply, Reply::Response(r) if r["forwarded"] == 1),
        "{reply:?}\n{}",
        proc_.all_output()
    );
    let sent = collector.received();
    assert_eq!(sent.len(), 2, "a 503, then the retry delivered");
    for r in &sent {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {secret}").as_str())
        );
    }
    let out = proc_.all_output();
    // The HTTP stack traced its way to this collector: the lines a leak would be in exist.
    let connecting = format!("connecting to 127.0.0.1:{}", collector.addr.port());
    assert!(out.contains(&connecting), "no trace of the request:\n{out}");
    assert!(!out.contains(&secret), "secret leaked:\n{out}");
}

#[tokio::test]
async fn at_log_level_warn_metrics_and_log_records_still_come_out_and_info_lines_do_not() {
    let env = vec![
        ("LOG_RECORDS", "true".to_string()),
        ("LOG_LEVEL", "WARN".into()),
        ("AWS_LAMBDA_FUNCTION_NAME", "gdf-stack-a".into()),
    ];
    let (api, proc_) = support::lambda::start(&env).await;
    for n in 0..3 {
        let f = json!({"id": format!("w-{n}"), "severity": 5, "type": "Recon:EC2/Portscan",
                       "accountId": "123456789012", "updatedAt": "2026-11-22T00:00:00.000Z"});
        api.invoke(event(f, n)).await;
    }
    proc_.wait_for_stdout(Duration::from_secs(5), |lines| {
        lines.iter().filter(|l| l.contains("\"_aws\"")).count() >= 3
    });

    let records = proc_.records();
    assert_eq!(records.len(), 3, "{:?}", proc_.stdout());
    let docs = emf(&proc_);
    let forwarded: u64 = docs
        .iter()
        .map(|d| d["FindingsForwarded"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(forwarded, 3, "{docs:?}");
    assert!(docs.iter().all(|d| d["FunctionName"] == "gdf-stack-a"));
    // The record and metric lines carry no `level`, so Lambda's own filter (left unset by the
    // template) has nothing to drop; the function's own diagnostics obey LOG_LEVEL.
    for line in proc_.stdout() {
        let v: Value = serde_json::from_str(&line).expect("stdout line is JSON");
        assert!(v.get("level").is_none(), "{line}");
    }
    for line in proc_.stderr() {
        let v: Value = serde_json::from_str(&line).expect("stderr line is JSON");
        let level = v["level"].as_str().unwrap_or_default();
        assert!(matches!(level, "WARN" | "ERROR"), "{line}");
    }
}

/// A scheduled event with its own id (a retried delivery of one event carries the same id).
fn scheduled(n: usize) -> Value {
    let mut ev = support::read_json(support::events_dir().join("scheduled.json"));
    ev["id"] = json!(format!("schedule-{n}"));
    ev
}

/// Bytes the function has written to its log stream so far (stdout and stderr, a newline each).
fn log_bytes(proc_: &Running) -> usize {
    proc_
        .stdout()
        .iter()
        .chain(proc_.stderr().iter())
        .map(|l| l.len() + 1)
        .sum()
}

/// Log bytes one invocation adds, and the EMF documents it wrote, once its output is read.
async fn bytes_of(proc_: &Running, api: &RuntimeApi, payload: Value) -> (usize, Vec<Value>) {
    let (before, docs_before) = (log_bytes(proc_), emf(proc_).len());
    let _ = api.invoke(payload).await;
    // All it wrote is in the output file once it answered.
    (log_bytes(proc_) - before, emf(proc_).split_off(docs_before))
}

/// The figures docs/cost.md prices: the distinct metrics (name × dimension values) a stack
/// publishes by default, and the log bytes of a push invocation and of an idle backfill run
/// at the default log level (Lambda's own START/END/REPORT lines come on top).
#[tokio::test]
async fn by_default_push_and_backfill_publish_at_most_five_metrics_none_when_idle_and_log_under_a_kilobyte_each()
 {
    let url = moto::create_queue(
        "cost",
        &[(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "4096",
        )],
    )
    .await;
    let gd = GuardDuty::start().await;
    gd.add(
        "us-east-1",
        "det1",
        vec![finding(
            "us-east-1",
            "det1",
            "bf-c1",
            now_ms() - 90_000,
            false,
            5.0,
        )],
    );
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.push(("SQS_QUEUE_URL", url));
    env.push(("BACKFILL_SETTLE_SECONDS", "60".into()));
    env.push(("AWS_LAMBDA_FUNCTION_NAME", "gdf-cost".into()));
    // The second run starts where the first stopped: nothing new, an idle run.
    env.push((
        "CHECKPOINT_PARAMETER",
        format!("/{}", moto::unique("gdf-cost")),
    ));
    let (api, proc_) = support::lambda::start(&env).await;

    let ok = json!({"id": "c-1", "severity": 5, "type": "Recon:EC2/Portscan", "accountId": "123456789012"});
    let big = json!({"id": "c-big", "severity": 8, "type": "Recon:EC2/Portscan", "description": "x".repeat(8000)});
    let (push, _) = bytes_of(&proc_, &api, event(ok, 0)).await;
    let _ = bytes_of(&proc_, &api, event(big, 1)).await;
    let (first_run, first_docs) = bytes_of(&proc_, &api, scheduled(0)).await;
    let (idle_run, idle_docs) = bytes_of(&proc_, &api, scheduled(1)).await;

    let docs = emf(&proc_);
    let mut combinations = std::collections::BTreeSet::new();
    for d in &docs {
        let spec = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Dimensions"], json!([["FunctionName"]]), "{d}");
        assert_eq!(d["FunctionName"], "gdf-cost");
        for m in spec["Metrics"].as_array().unwrap() {
            combinations.insert(m["Name"].as_str().unwrap().to_string());
        }
    }
    assert!(
        combinations.len() <= 5,
        "{} metrics: {combinations:?}",
        combinations.len()
    );
    for name in ["FindingsForwarded", "FindingsFailed"] {
        assert!(
            combinations.contains(name),
            "{name} missing: {combinations:?}"
        );
    }
    // The lag is a detailed-mode metric: the alarms watch AWS's own metrics instead.
    assert!(
        !combinations.contains("BackfillLagSeconds"),
        "{combinations:?}"
    );
    // An idle run publishes nothing: an idle stack pays for no custom metric.
    assert!(idle_docs.is_empty(), "{idle_docs:?}");
    assert!(
        first_docs.len() == 1,
        "the delivering run counted it: {first_docs:?}"
    );

    eprintln!(
        "metrics: {} ({combinations:?}); log bytes: push {push}, first backfill run {first_run}, idle backfill run {idle_run}",
        combinations.len()
    );
    assert!(push < 1024, "a push invocation logged {push} bytes");
    assert!(
        idle_run < 1024,
        "an idle backfill run logged {idle_run} bytes"
    );
}

#[tokio::test]
async fn at_error_at_off_and_through_aws_lambda_log_level_metrics_and_records_still_come_out() {
    for (var, level, allowed) in [
        ("LOG_LEVEL", "ERROR", &["ERROR"][..]),
        ("LOG_LEVEL", "off", &[][..]),
        // Lambda's own setting, read when LOG_LEVEL is unset.
        ("AWS_LAMBDA_LOG_LEVEL", "ERROR", &["ERROR"][..]),
        ("AWS_LAMBDA_LOG_LEVEL", "FATAL", &["ERROR"][..]),
    ] {
        let (api, proc_) =
            support::lambda::start(&[("LOG_RECORDS", "true".into()), (var, level.into())]).await;
        let f = json!({"id": "lvl-1", "severity": 5, "type": "Recon:EC2/Portscan",
                       "accountId": "123456789012", "updatedAt": "2026-11-22T00:00:00.000Z"});
        let reply = api.invoke(event(f, 0)).await;
        assert!(
            matches!(&reply, Reply::Response(r) if r["forwarded"] == 1),
            "{var}={level}: {reply:?}"
        );
        // Not a finding: a WARN line the level must hold back.
        api.invoke(json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}))
            .await;
        let what = format!("{var}={level}");
        assert_eq!(proc_.records().len(), 1, "{what}: {}", proc_.all_output());
        let forwarded: u64 = emf(&proc_)
            .iter()
            .map(|d| d["FindingsForwarded"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(forwarded, 1, "{what}: {}", proc_.all_output());
        for line in proc_.stderr() {
            let v: Value = serde_json::from_str(&line).expect("stderr line is JSON");
            let level = v["level"].as_str().unwrap_or_default();
            assert!(allowed.contains(&level), "{what}: {line}");
        }
    }
}
