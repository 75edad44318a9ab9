//! The built binary under a local Lambda Runtime API: good, ignored and malformed events,
//! start-up failures, and that one bad event does not stop the function.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::finding_event;
use support::process::{Running, command, lambda_env};
use support::runtime_api::{Reply, RuntimeApi};

async fn start(extra: &[(&str, &str)]) -> (RuntimeApi, Running) {
    let extra: Vec<(&str, String)> = extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
    support::lambda::start(&extra).await
}

#[tokio::test]
async fn a_finding_event_is_forwarded_and_the_result_counts_it() {
    let (api, proc_) = start(&[("LOG_RECORDS", "true")]).await;
    let event = finding_event();
    let reply = api.invoke(event.clone()).await;
    assert_eq!(
        reply,
        Reply::Response(
            json!({"via": "eventbridge", "received": 1, "forwarded": 1, "skipped": 0, "failed": 0})
        )
    );
    // Written before the reply: all in the output file now.
    let records = proc_.records();
    assert_eq!(records.len(), 1, "{}", proc_.all_output());
    assert_eq!(records[0]["raw_event"], event["detail"]);
    assert_eq!(records[0]["ingest"]["via"], "eventbridge");
    assert_eq!(records[0]["ingest"]["event_id"], event["id"]);
}

#[tokio::test]
async fn events_that_are_not_findings_are_ignored_with_a_successful_result() {
    let (api, proc_) = start(&[("LOG_RECORDS", "true")]).await;
    let scan_result = support::read_json(
        support::fixtures()
            .join("corpus/malware-s3-scanresult__ScanResult-THREAT_FOUND__definitelytyped.json"),
    );
    for event in [
        scan_result,
        json!({"source": "aws.guardduty", "detail-type": "GuardDuty Runtime Protection Unhealthy", "detail": {}}),
        json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
    ] {
        let reply = api.invoke(event).await;
        assert_eq!(
            reply,
            Reply::Response(
                json!({"via": "eventbridge", "received": 0, "forwarded": 0, "skipped": 0, "failed": 0})
            )
        );
    }
    assert!(proc_.records().is_empty());
}

#[tokio::test]
async fn a_malformed_finding_event_fails_the_invocation_and_the_next_one_still_works() {
    let (api, proc_) = start(&[("LOG_RECORDS", "true")]).await;
    let malformed = support::read_json(support::events_dir().join("malformed-finding.json"));
    let cases = [
        (malformed, "has no id"),
        (
            json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "id": "e1"}),
            "`detail` is missing",
        ),
        (
            json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "id": "e2", "detail": "x"}),
            "`detail` is a string",
        ),
    ];
    for (event, problem) in cases {
        match api.invoke(event).await {
            Reply::Error(e) => {
                assert_eq!(e["errorType"], "MalformedEvent");
                let msg = e["errorMessage"].as_str().unwrap_or_default();
                assert!(msg.contains(problem), "{msg}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
    let reply = api.invoke(finding_event()).await;
    assert!(
        matches!(reply, Reply::Response(ref r) if r["forwarded"] == 1),
        "{reply:?}"
    );
    let records = proc_.records();
    assert_eq!(records.len(), 1, "{}", proc_.all_output());
    assert_eq!(records[0]["raw_event"], finding_event()["detail"]);
}

#[tokio::test]
async fn a_payload_that_is_not_an_eventbridge_event_fails_naming_what_is_missing() {
    let (api, proc_) = start(&[("LOG_RECORDS", "true")]).await;
    for (payload, missing) in [
        (json!({"hello": "world"}), "missing field `detail-type`"),
        (
            json!({"detail-type": "GuardDuty Finding", "detail": {}}),
            "missing field `source`",
        ),
        (
            json!({"source": "aws.guardduty", "detail": {"id": "x"}}),
            "detail-type",
        ),
        (json!([1, 2]), "invalid type"),
    ] {
        match api.invoke(payload).await {
            Reply::Error(e) => {
                let msg = e["errorMessage"].as_str().unwrap_or_default();
                assert!(msg.contains(missing), "{msg}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
    let reply = api.invoke(finding_event()).await;
    assert!(
        matches!(reply, Reply::Response(ref r) if r["forwarded"] == 1),
        "{reply:?}"
    );
    drop(proc_);
}

#[tokio::test]
async fn below_min_severity_findings_are_counted_as_skipped() {
    let (api, proc_) = start(&[("LOG_RECORDS", "true"), ("MIN_SEVERITY", "high")]).await;
    let reply = api.invoke(finding_event()).await;
    assert_eq!(
        reply,
        Reply::Response(
            json!({"via": "eventbridge", "received": 1, "forwarded": 0, "skipped": 1, "failed": 0})
        )
    );
    assert!(proc_.records().is_empty());
}

#[tokio::test]
async fn without_a_destination_start_up_fails_with_one_clear_line() {
    let (api, mut proc_) = start(&[]).await;
    let err = api
        .init_error(Duration::from_secs(20))
        .await
        .expect("an /init/error report");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no destination configured"),
        "{err}"
    );
    proc_.assert_failed_naming("no destination configured");
}

#[tokio::test]
async fn the_start_up_error_reaches_an_emulator_whose_endpoint_is_a_url() {
    // cargo-lambda's emulator sets AWS_LAMBDA_RUNTIME_API with a scheme, not host:port.
    let api = RuntimeApi::start().await;
    let mut env = lambda_env(api.addr);
    env.push(("AWS_LAMBDA_RUNTIME_API", format!("http://{}/", api.addr)));
    let mut proc_ = Running::spawn(command(&env));
    let err = api
        .init_error(Duration::from_secs(20))
        .await
        .expect("an /init/error report");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no destination configured"),
        "{err}"
    );
    proc_.assert_failed_naming("no destination configured");
    assert!(
        !proc_.all_output().contains("could not report"),
        "{}",
        proc_.all_output()
    );
}

#[tokio::test]
async fn a_bad_setting_fails_start_up_naming_the_variable() {
    let (api, mut proc_) = start(&[("LOG_RECORDS", "true"), ("MIN_SEVERITY", "severe")]).await;
    let err = api
        .init_error(Duration::from_secs(20))
        .await
        .expect("an /init/error report");
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("MIN_SEVERITY:"),
        "{err}"
    );
    proc_.assert_failed_naming("MIN_SEVERITY");
}

#[tokio::test]
async fn a_collector_setting_without_a_collector_fails_start_up_naming_it() {
    // Records would otherwise go to the log stream only, the collector format ignored.
    let (api, mut proc_) = start(&[("LOG_RECORDS", "true"), ("COLLECTOR_FORMAT", "bogus")]).await;
    let err = api
        .init_error(Duration::from_secs(20))
        .await
        .expect("an /init/error report");
    let message = err["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("COLLECTOR_FORMAT: is set but neither COLLECTOR_URL"),
        "{err}"
    );
    assert_eq!(proc_.exit_code(Duration::from_secs(10)), 2);
    proc_.assert_failed_naming("COLLECTOR_FORMAT");
}

#[tokio::test]
async fn every_log_line_is_json_and_no_record_is_logged_at_info() {
    let (api, proc_) = start(&[("LOG_RECORDS", "true")]).await;
    let event = finding_event();
    let reply = api.invoke(event.clone()).await;
    assert!(
        matches!(reply, Reply::Response(ref r) if r["forwarded"] == 1),
        "{reply:?}"
    );
    api.invoke(json!({"source": "aws.s3", "detail-type": "x"}))
        .await;
    // Both invocations answered: every line they wrote is in the output now.
    let stderr = proc_.stderr();
    assert!(!stderr.is_empty());
    // Any part of the record gives it away, not only a whole `raw_event`: the finding's id,
    // its ARN, its title, its type.
    let detail = &event["detail"];
    let parts: Vec<&str> = ["id", "arn", "title", "type"]
        .iter()
        .map(|k| detail[*k].as_str().expect("the sample finding has it"))
        .collect();
    for line in &stderr {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        assert!(
            v.get("raw_event").is_none(),
            "a finding leaked into a log line: {line}"
        );
        for part in &parts {
            assert!(
                !line.contains(part),
                "{part} leaked into a log line: {line}"
            );
        }
    }
    // The record itself did come out, on stdout.
    let records = proc_.records();
    assert_eq!(records.len(), 1);
    assert!(records[0].to_string().contains(parts[0]));
}
