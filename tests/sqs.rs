//! The SQS destination against the local AWS emulator, through the built binary.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use support::moto;
use support::process::{Running, command};
use support::runtime_api::{Reply, RuntimeApi};

async fn queue(client: &Client, fifo: bool, max_size: Option<u32>) -> String {
    let mut name = moto::unique("findings");
    let mut req = client.create_queue();
    if fifo {
        name.push_str(".fifo");
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
    }
    if let Some(m) = max_size {
        req = req.attributes(QueueAttributeName::MaximumMessageSize, m.to_string());
    }
    req.queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("url")
        .to_string()
}

/// Every message now in the queue: (body, attributes).
async fn drain(_client: &Client, url: &str) -> Vec<(Value, HashMap<String, String>)> {
    moto::drain(url)
        .await
        .iter()
        .map(|m| {
            let body: Value =
                serde_json::from_str(m.body().unwrap_or_default()).expect("body is JSON");
            let attrs = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            (body, attrs)
        })
        .collect()
}

async fn start_lambda(queue_url: &str) -> (RuntimeApi, Running) {
    let mut env = moto::aws_env();
    env.push(("SQS_QUEUE_URL", queue_url.to_string()));
    support::lambda::start(&env).await
}

fn fixture_findings() -> Vec<Value> {
    support::corpus::finding_values()
}

fn event_of(finding: &Value, n: usize) -> Value {
    json!({"version": "0", "id": format!("event-{n}"), "detail-type": "GuardDuty Finding",
           "source": "aws.guardduty", "account": "123456789012", "time": "2026-11-22T00:00:00Z",
           "region": "us-east-1", "resources": [], "detail": finding})
}

#[tokio::test]
async fn every_fixture_finding_arrives_in_a_standard_queue_with_its_attributes() {
    let client = Client::new(&moto::sdk_config("us-east-1"));
    let url = queue(&client, false, None).await;
    let (api, proc_) = start_lambda(&url).await;
    let findings = fixture_findings();
    for (n, f) in findings.iter().enumerate() {
        let reply = api.invoke(event_of(f, n)).await;
        assert!(
            matches!(&reply, Reply::Response(r) if r["forwarded"] == 1),
            "{reply:?}\n{}",
            proc_.all_output()
        );
    }
    let got = drain(&client, &url).await;
    assert_eq!(got.len(), findings.len());
    for f in &findings {
        let (body, attrs) = got
            .iter()
            .find(|(b, _)| &b["raw_event"] == f)
            .unwrap_or_else(|| {
                panic!(
                    "finding not delivered: {}",
                    f.get("id").or(f.get("Id")).unwrap()
                )
            });
        assert_eq!(body["ingest"]["via"], "eventbridge");
        assert_eq!(
            attrs.get("severity").map(String::as_str),
            body["severity"].as_str()
        );
        assert_eq!(
            attrs.get("finding_type").map(String::as_str),
            body["type"].as_str()
        );
        assert_eq!(
            attrs.get("account_id").map(String::as_str),
            body["account_id"].as_str()
        );
    }
}

#[tokio::test]
async fn a_fifo_queue_gets_one_message_for_a_finding_delivered_twice() {
    let client = Client::new(&moto::sdk_config("us-east-1"));
    let url = queue(&client, true, None).await;
    let (api, _proc) = start_lambda(&url).await;
    let event = support::read_json(support::events_dir().join("guardduty-finding.json"));
    for _ in 0..2 {
        let reply = api.invoke(event.clone()).await;
        assert!(
            matches!(&reply, Reply::Response(r) if r["forwarded"] == 1),
            "{reply:?}"
        );
    }
    let got = drain(&client, &url).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0["raw_event"], event["detail"]);
}

#[tokio::test]
async fn an_oversize_record_fails_clearly_while_its_neighbours_arrive() {
    let client = Client::new(&moto::sdk_config("us-east-1"));
    let url = queue(&client, false, Some(4096)).await;
    let small = |id: &str| json!({"id": id, "severity": 5, "type": "Recon:EC2/Portscan", "accountId": "123456789012"});
    let mut big = small("big-one");
    big["description"] = json!("x".repeat(8000));
    let input: String = [small("small-1"), big, small("small-2")]
        .iter()
        .map(|v| format!("{v}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("findings.ndjson");
    std::fs::write(&file, input).unwrap();
    let mut env = moto::aws_env();
    env.push(("SQS_QUEUE_URL", url.clone()));
    let out = command(&env).arg("forward").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("big-one") && stderr.contains("over the destination's limit of 4096 bytes"),
        "{stderr}"
    );
    let ids: Vec<Value> = drain(&client, &url)
        .await
        .into_iter()
        .map(|(b, _)| b["id"].clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&json!("small-1")) && ids.contains(&json!("small-2")));

    // In Lambda mode the invocation fails, so Lambda's retries and DLQ keep the event.
    let (api, _proc) = start_lambda(&url).await;
    let mut big = small("big-two");
    big["description"] = json!("y".repeat(8000));
    match api.invoke(event_of(&big, 1)).await {
        Reply::Error(e) => {
            assert_eq!(e["errorType"], "DeliveryFailed");
            let msg = e["errorMessage"].as_str().unwrap();
            assert!(msg.contains("big-two") && msg.contains("bytes"), "{msg}");
        }
        other => panic!("expected a failed invocation, got {other:?}"),
    }
}

#[tokio::test]
async fn a_queue_that_does_not_exist_fails_the_delivery_with_one_clear_line() {
    let url = format!("{}/{}/no-such-queue", moto::endpoint(), moto::ACCOUNT);
    let (api, _proc) = start_lambda(&url).await;
    let event = support::read_json(support::events_dir().join("guardduty-finding.json"));
    let reply = tokio::time::timeout(Duration::from_secs(60), api.invoke(event))
        .await
        .unwrap();
    match reply {
        Reply::Error(e) => {
            let msg = e["errorMessage"].as_str().unwrap();
            assert!(
                msg.contains("no-such-queue") && msg.contains("GetQueueAttributes"),
                "{msg}"
            );
            assert!(!msg.contains('\n'), "{msg}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bad_queue_url_fails_start_up_naming_the_variable() {
    let (api, mut proc_) = start_lambda("not-a-url").await;
    let err = api
        .init_error(Duration::from_secs(20))
        .await
        .expect("init error");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("SQS_QUEUE_URL:"),
        "{err}"
    );
    proc_.assert_failed_naming("SQS_QUEUE_URL");
}

#[tokio::test]
async fn a_hung_sqs_endpoint_fails_the_invocation_before_its_deadline() {
    let hung = support::hung_endpoint().await;
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_SQS", format!("http://{hung}")));
    env.push(("SQS_QUEUE_URL", format!("http://{hung}/123456789012/hung")));
    let (api, _proc) = support::lambda::start(&env).await;
    let finding = json!({"id": "hung-1", "severity": 5, "type": "Recon:EC2/Portscan", "accountId": "123456789012"});
    let started = std::time::Instant::now();
    let reply = api
        .invoke_with_timeout(event_of(&finding, 1), Duration::from_secs(6))
        .await;
    let took = started.elapsed();
    match reply {
        Reply::Error(e) => {
            let msg = e["errorMessage"].as_str().unwrap_or_default();
            assert!(msg.contains("no answer from AWS in time"), "{msg}");
        }
        other => panic!("expected a failed invocation, got {other:?}"),
    }
    assert!(
        took < Duration::from_secs(6),
        "answered after the deadline: {took:?}"
    );
}

#[tokio::test]
async fn a_finding_for_two_destinations_where_the_collector_fails_still_reaches_the_queue_and_the_retry_reaches_both()
 {
    use support::collector::{Action, Ca, Collector};
    let url = moto::create_queue("two-dest", &[]).await;
    let ca = Ca::new("two ca");
    let dir = tempfile::tempdir().unwrap();
    // The collector refuses the first request; Lambda's retry finds it working.
    let collector = Collector::start(
        &ca,
        vec![Action::StatusWithBody(400, "{\"text\":\"no\"}".into())],
    )
    .await;
    let (api, proc_) = support::lambda::start(&[
        ("AWS_ENDPOINT_URL", moto::endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("SQS_QUEUE_URL", url.clone()),
        ("COLLECTOR_URL", collector.url()),
        (
            "COLLECTOR_CA_FILE",
            ca.write_pem(dir.path()).display().to_string(),
        ),
    ])
    .await;
    let event = support::finding_event();
    let id = event["detail"]["id"].as_str().unwrap().to_string();
    match api.invoke(event.clone()).await {
        Reply::Error(e) => {
            assert_eq!(e["errorType"], "DeliveryFailed");
            let msg = e["errorMessage"].as_str().unwrap_or_default();
            assert!(msg.contains(&id) && msg.contains("HTTP 400"), "{msg}");
        }
        other => panic!("one failed destination fails the invocation: {other:?}"),
    }
    let first = moto::drain_bodies(&url).await;
    assert_eq!(first.len(), 1, "the queue got it all the same");
    assert_eq!(first[0]["id"], id.as_str());
    assert!(collector.delivered_records().is_empty());
    let stderr = proc_.stderr().join("\n");
    assert!(
        stderr.contains("Delivery failed") && stderr.contains("https"),
        "the log names the failed destination: {stderr}"
    );

    // Lambda retries the event: both get it; the queue's second copy has the same dedup_key.
    let reply = api.invoke(event).await;
    assert!(
        matches!(&reply, Reply::Response(r) if r["forwarded"] == 1),
        "{reply:?}"
    );
    let second = moto::drain_bodies(&url).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["dedup_key"], first[0]["dedup_key"]);
    let at_collector = collector.delivered_records();
    assert_eq!(at_collector.len(), 1);
    assert_eq!(at_collector[0]["dedup_key"], first[0]["dedup_key"]);
}
