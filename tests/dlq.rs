//! `dlq list` and `redrive` through the built binary, against moto's SQS, with the three
//! message shapes (`tests/fixtures/dlq`), a message that holds no finding, and a real HTTPS
//! collector that is down, then up.

mod support;

use std::process::Output;

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use serde_json::{Value, json};
use support::collector::{Ca, Collector};
use support::moto;
use support::process::command;

const EVENTBRIDGE_ID: &str = "eb0000000000000000000000000000a1";
const LAMBDA_ID: &str = "1a0000000000000000000000000000b2";
const QUARANTINED_ID: &str = "9a0000000000000000000000000000c3";
const FOREIGN: &str = r#"{"Type": "Notification", "Message": "hello"}"#;

fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto::sdk_config("us-east-1"))
}

/// Sends a fixture (`{"body": .., "attributes": {..}}`) to the queue as its sender would.
async fn send_fixture(url: &str, name: &str) {
    let fixture = support::read_json(support::fixtures().join("dlq").join(name));
    let mut req = sqs()
        .send_message()
        .queue_url(url)
        .message_body(fixture["body"].to_string());
    for (k, v) in fixture["attributes"].as_object().expect("attributes") {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v.as_str().expect("string attribute"))
            .build()
            .expect("attribute");
        req = req.message_attributes(k, value);
    }
    req.send().await.expect("send fixture");
}

/// A DLQ as Lambda, EventBridge and the backfill fill it, plus one foreign message.
async fn filled_dlq() -> String {
    let url = moto::create_queue("dlq", &[]).await;
    for name in [
        "eventbridge-delivery-failure.json",
        "lambda-on-failure.json",
        "quarantined-finding.json",
    ] {
        send_fixture(&url, name).await;
    }
    sqs()
        .send_message()
        .queue_url(&url)
        .message_body(FOREIGN)
        .send()
        .await
        .expect("send foreign");
    url
}

/// Messages in the queue, visible or not.
async fn depth(url: &str) -> u64 {
    let out = sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let attrs = out.attributes().expect("attributes");
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|k| {
        attrs
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    command(env).args(args).output().expect("run the binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn stdout_json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn list_json(url: &str) -> Vec<Value> {
    let out = run(&["dlq", "list", "--queue", url, "--json"], &moto::aws_env());
    serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)))
}

fn finding_ids(entries: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = entries
        .iter()
        .flat_map(|e| e["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| f["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn dlq_list_shows_every_shape_and_leaves_every_message_in_the_queue() {
    let url = filled_dlq().await;
    let out = run(&["dlq", "list", "--queue", &url], &moto::aws_env());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "non-empty queue: {text}");
    assert_eq!(text.lines().count(), 4, "{text}");
    for expected in [
        &format!("EventBridge delivery failure | {EVENTBRIDGE_ID} Canary:EC2/Stateless.IntegTest"),
        "SDK_CLIENT_ERROR: Unable to invoke Lambda function: Rate Exceeded",
        &format!("Lambda on-failure record | {LAMBDA_ID}"),
        "first failed 2026-11-01T11:07:12.568Z",
        "DeliveryFailed: 1 of 1 finding(s) could not be delivered",
        &format!("quarantined finding | {QUARANTINED_ID}"),
        "rejected: HTTP 400 from the collector",
        "unknown message | NO FINDING: not an EventBridge event",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        stderr(&out).contains("4 message(s)"),
        "summary: {}",
        stderr(&out)
    );

    // Listed messages are visible again at once: a second listing sees them all.
    let entries = list_json(&url);
    assert_eq!(entries.len(), 4);
    assert_eq!(
        finding_ids(&entries),
        [LAMBDA_ID, QUARANTINED_ID, EVENTBRIDGE_ID]
    );
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in [
        "eventbridge-delivery-failure",
        "lambda-on-failure",
        "quarantined-finding",
        "unknown",
    ] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let quarantined = entries
        .iter()
        .find(|e| e["kind"] == "quarantined-finding")
        .unwrap();
    assert_eq!(quarantined["findings"][0]["severity"], "medium");
    assert_eq!(quarantined["findings"][0]["account_id"], "123456789012");
    assert_eq!(depth(&url).await, 4);
}

#[tokio::test]
async fn an_empty_queue_lists_nothing_and_exits_zero() {
    let url = moto::create_queue("dlq-empty", &[]).await;
    let out = run(&["dlq", "list", "--queue", &url], &moto::aws_env());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn without_a_queue_the_commands_say_how_to_name_one() {
    for args in [&["dlq", "list"][..], &["redrive"][..]] {
        let out = run(args, &moto::aws_env());
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("pass --queue URL or set DLQ_URL"),
            "{}",
            stderr(&out)
        );
    }
}

// The collector is served by this test's runtime while the binary runs: two threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_keeps_everything_while_the_collector_is_down_and_sends_every_finding_once_it_is_up()
 {
    let url = filled_dlq().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("dlq ca");
    let ca_file = ca.write_pem(dir.path());
    let collector_env = |collector_url: String| {
        let mut env = moto::aws_env();
        env.push(("DLQ_URL", url.clone()));
        env.push(("COLLECTOR_URL", collector_url));
        env.push(("COLLECTOR_CA_FILE", ca_file.display().to_string()));
        env.push(("COLLECTOR_TIMEOUT_SECONDS", "1".into()));
        env
    };

    // Down: nothing listens on the collector's port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!(
        "https://127.0.0.1:{}/ingest",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let out = run(&["redrive"], &collector_env(down_url));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("failed again"), "{err}");
    assert!(
        err.contains("redrive FAILED: 4 message(s) read, 0 deleted, 4 kept"),
        "{err}"
    );
    assert_eq!(depth(&url).await, 4, "nothing is deleted while it is down");

    // Up: every finding is delivered, marked as redriven, and only the foreign message stays.
    let collector = Collector::start(&ca, vec![]).await;
    let out = run(&["redrive"], &collector_env(collector.url()));
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the foreign message stays: {err}"
    );
    assert!(
        err.contains("redrive FAILED: 4 message(s) read, 3 deleted, 1 kept"),
        "{err}"
    );
    assert!(
        err.contains("holds no finding: not an EventBridge event"),
        "{err}"
    );
    let records = collector.delivered_records();
    let mut ids: Vec<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    ids.sort();
    assert_eq!(ids, [LAMBDA_ID, QUARANTINED_ID, EVENTBRIDGE_ID]);
    for r in &records {
        assert_eq!(r["ingest"]["via"], "redrive", "{r}");
        assert_eq!(
            r["dedup_key"],
            format!(
                "{}:{}",
                r["id"].as_str().unwrap(),
                r["updated_at"].as_str().unwrap()
            )
        );
    }
    let from_event = records.iter().find(|r| r["id"] == EVENTBRIDGE_ID).unwrap();
    assert_eq!(
        from_event["ingest"]["event_id"],
        "7bf73129-1428-4cd3-a780-95db273d1602"
    );
    assert_eq!(
        from_event["dedup_key"],
        format!("{EVENTBRIDGE_ID}:2026-11-01T10:00:00.000Z")
    );
    let left = list_json(&url);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["kind"], "unknown");

    // Again: nothing more is sent, the foreign message is still reported.
    let out = run(&["redrive"], &collector_env(collector.url()));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(collector.delivered_records().len(), 3);
    assert_eq!(depth(&url).await, 1);
}

#[tokio::test]
async fn a_message_whose_finding_fails_again_stays_with_the_new_error_and_the_others_go() {
    let dlq = moto::create_queue("dlq-partial", &[]).await;
    send_fixture(&dlq, "lambda-on-failure.json").await;
    let big = json!({"kind": "guardduty-forwarder.quarantined-finding", "version": 1,
        "finding": {"id": "big-1", "type": "Recon:EC2/Portscan", "severity": 8, "accountId": "123456789012",
                    "updatedAt": "2026-11-01T00:00:00Z", "description": "x".repeat(6000)},
        "error": "first error", "failed_runs": 3, "first_failed_at": "2026-11-01T00:00:00Z"});
    sqs()
        .send_message()
        .queue_url(&dlq)
        .message_body(big.to_string())
        .send()
        .await
        .unwrap();
    // The destination queue takes messages up to 5000 bytes: the big record fails, the other fits.
    let dest =
        moto::create_queue("dest", &[(QueueAttributeName::MaximumMessageSize, "5000")]).await;
    let mut env = moto::aws_env();
    env.push(("SQS_QUEUE_URL", dest.clone()));
    let out = run(&["redrive", "--queue", &dlq], &env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("failed again: big-1 to sqs: record is"),
        "the new error is reported: {err}"
    );
    assert!(
        err.contains("2 message(s) read, 1 deleted, 1 kept"),
        "{err}"
    );
    let left = list_json(&dlq);
    assert_eq!(finding_ids(&left), ["big-1"]);
    let got = sqs()
        .receive_message()
        .queue_url(&dest)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Value> = got
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["id"], LAMBDA_ID);
    assert_eq!(bodies[0]["ingest"]["via"], "redrive");
}

#[tokio::test]
async fn a_dry_run_reads_every_message_and_sends_and_deletes_nothing() {
    let url = filled_dlq().await;
    let out = run(&["redrive", "--queue", &url, "--dry-run"], &moto::aws_env());
    let err = stderr(&out);
    assert!(out.stdout.is_empty(), "nothing sent to stdout");
    assert!(
        err.contains("4 message(s) read, 3 would be sent, 1 hold no finding"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1), "the foreign message: {err}");
    assert_eq!(depth(&url).await, 4);
}

#[tokio::test]
async fn redrive_to_stdout_stops_after_max_messages() {
    let url = moto::create_queue("dlq-max", &[]).await;
    send_fixture(&url, "quarantined-finding.json").await;
    send_fixture(&url, "eventbridge-delivery-failure.json").await;
    let out = run(
        &["redrive", "--queue", &url, "--max", "1", "--to-stdout"],
        &moto::aws_env(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = stdout_json_lines(&out);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["ingest"]["via"], "redrive");
    assert_eq!(depth(&url).await, 1);
    let out = run(
        &["redrive", "--queue", &url, "--to-stdout"],
        &moto::aws_env(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(depth(&url).await, 0);
}

#[tokio::test]
async fn redrive_without_a_destination_lists_and_deletes_nothing() {
    let url = filled_dlq().await;
    let out = run(&["redrive", "--queue", &url], &moto::aws_env());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    for id in [EVENTBRIDGE_ID, LAMBDA_ID, QUARANTINED_ID] {
        assert!(listed.contains(id), "{id} listed: {listed}");
    }
    assert!(
        !listed.contains("\"ingest\""),
        "no record printed as if delivered: {listed}"
    );
    assert!(
        err.contains("nothing sent or deleted") && err.contains("--to-stdout"),
        "{err}"
    );
    assert_eq!(depth(&url).await, 4);
}

#[tokio::test]
async fn a_message_whose_finding_min_severity_skips_stays_unless_told_to_drop_it() {
    let url = moto::create_queue("dlq-skip", &[]).await;
    send_fixture(&url, "quarantined-finding.json").await;
    let mut env = moto::aws_env();
    env.push(("MIN_SEVERITY", "critical".into()));
    let out = run(&["redrive", "--queue", &url, "--to-stdout"], &env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("below MIN_SEVERITY") && err.contains("--drop-skipped"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(depth(&url).await, 1);
    let out = run(
        &["redrive", "--queue", &url, "--to-stdout", "--drop-skipped"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(depth(&url).await, 0);
}

#[tokio::test]
async fn dlq_list_counts_messages_in_flight_and_never_calls_such_a_queue_empty() {
    let url = moto::create_queue("dlq-inflight", &[]).await;
    send_fixture(&url, "quarantined-finding.json").await;
    // Another reader holds the only message.
    let held = sqs()
        .receive_message()
        .queue_url(&url)
        .visibility_timeout(120)
        .send()
        .await
        .expect("receive");
    assert_eq!(held.messages().len(), 1);
    let out = run(&["dlq", "list", "--queue", &url], &moto::aws_env());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("is empty"), "{err}");
    assert!(err.contains("1 more in flight"), "{err}");
}

#[tokio::test]
async fn a_failed_delete_after_delivery_fails_the_redrive_naming_it_and_keeps_every_message() {
    let url = moto::create_queue("dlq-nodelete", &[]).await;
    for name in [
        "eventbridge-delivery-failure.json",
        "lambda-on-failure.json",
        "quarantined-finding.json",
    ] {
        send_fixture(&url, name).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("dlq ca");
    let ca_file = ca.write_pem(dir.path()).display().to_string();
    let collector = Collector::start(&ca, vec![]).await;
    // SQS works but for DeleteMessageBatch.
    let proxy = moto::refusing_proxy("AmazonSQS.DeleteMessageBatch").await;
    let mut env = moto::aws_env();
    env.push(("DLQ_URL", url.clone()));
    env.push(("COLLECTOR_URL", collector.url()));
    env.push(("COLLECTOR_CA_FILE", ca_file));
    env.push(("AWS_ENDPOINT_URL_SQS", proxy));
    let out = tokio::task::spawn_blocking(move || run(&["redrive"], &env))
        .await
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("DeleteMessageBatch"), "{err}");
    assert_eq!(
        collector.delivered_records().len(),
        3,
        "delivered before the delete"
    );
    // Every message stays (in flight, then visible): the next redrive sends it again.
    assert_eq!(depth(&url).await, 3, "no message is lost: {err}");
    let listed = run(&["dlq", "list", "--queue", &url], &moto::aws_env());
    assert_eq!(
        listed.status.code(),
        Some(1),
        "not empty: {}",
        stderr(&listed)
    );
}
