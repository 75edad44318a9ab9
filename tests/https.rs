//! The HTTPS collector destination against a real TLS server on loopback, through the built
//! binary in Lambda mode (and the CLI for batching).

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::collector::{Action, Ca, Collector};
use support::finding_event;
use support::moto;
use support::process::{Running, command};
use support::runtime_api::{Reply, RuntimeApi};

struct Setup {
    api: RuntimeApi,
    proc_: Running,
    _dir: tempfile::TempDir,
}

async fn start(collector: &Collector, ca: &Ca, extra: &[(&str, String)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let mut env = moto_env_if_any();
    env.push(("COLLECTOR_URL", collector.url()));
    env.push(("COLLECTOR_CA_FILE", ca_file.display().to_string()));
    env.push(("COLLECTOR_TIMEOUT_SECONDS", "1".into()));
    env.push(("LOG_LEVEL", "debug".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let (api, proc_) = support::lambda::start(&env).await;
    Setup {
        api,
        proc_,
        _dir: dir,
    }
}

fn moto_env_if_any() -> Vec<(&'static str, String)> {
    if std::env::var("MOTO_ENDPOINT").is_ok() {
        moto::aws_env()
    } else {
        Vec::new()
    }
}

#[tokio::test]
async fn a_finding_gets_through_503s_a_429_with_retry_after_a_dropped_connection_and_a_stall() {
    let ca = Ca::new("test ca");
    let collector = Collector::start(
        &ca,
        vec![
            Action::Status(503),
            Action::StatusWithRetryAfter(429, 1),
            Action::Drop,
            Action::Stall(Duration::from_secs(3)),
            Action::Status(502),
        ],
    )
    .await;
    let s = start(&collector, &ca, &[]).await;
    let started = Instant::now();
    let reply = s.api.invoke(finding_event()).await;
    assert_eq!(
        reply,
        Reply::Response(
            json!({"via": "eventbridge", "received": 1, "forwarded": 1, "skipped": 0, "failed": 0})
        ),
        "{}",
        s.proc_.all_output()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let got = collector.received();
    assert_eq!(got.len(), 6, "five faults, then success");
    let delivered = collector.delivered_records();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["raw_event"], finding_event()["detail"]);
    assert_eq!(got[5].header("content-type"), Some("application/x-ndjson"));
}

#[tokio::test]
async fn a_400_is_not_retried_and_fails_with_the_status_and_an_excerpt() {
    let ca = Ca::new("test ca");
    let collector = Collector::start(
        &ca,
        vec![Action::StatusWithBody(
            400,
            "{\"text\":\"Invalid data format\"}".into(),
        )],
    )
    .await;
    let s = start(&collector, &ca, &[]).await;
    match s.api.invoke(finding_event()).await {
        Reply::Error(e) => {
            let msg = e["errorMessage"].as_str().unwrap();
            assert_eq!(e["errorType"], "DeliveryFailed");
            assert!(
                msg.contains("HTTP 400") && msg.contains("Invalid data format"),
                "{msg}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(collector.received().len(), 1);
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_fails_clearly() {
    let trusted = Ca::new("trusted ca");
    let other = Ca::new("other ca");
    let collector = Collector::start(&other, vec![]).await;
    let s = start(&collector, &trusted, &[]).await;
    match s.api.invoke(finding_event()).await {
        Reply::Error(e) => {
            let msg = e["errorMessage"].as_str().unwrap();
            assert!(
                msg.contains("TLS verification failed") && msg.contains("certificate"),
                "{msg}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(collector.received().is_empty());
}

#[tokio::test]
async fn the_auth_header_arrives_and_the_secret_never_appears_in_output() {
    let secret = format!("Splunk tok-{:x}", fastrand::u64(..));
    let ca = Ca::new("test ca");
    let collector = Collector::start(
        &ca,
        vec![
            Action::Status(503),
            Action::StatusWithBody(400, format!("echo: {secret}")),
        ],
    )
    .await;
    let s = start(
        &collector,
        &ca,
        &[
            ("COLLECTOR_AUTH_VALUE", secret.clone()),
            ("COLLECTOR_AUTH_HEADER", "X-Collector-Token".into()),
        ],
    )
    .await;
    let _ = s.api.invoke(finding_event()).await;
    let reply = s.api.invoke(finding_event()).await;
    assert!(matches!(reply, Reply::Response(_)), "{reply:?}");
    for r in collector.received() {
        assert_eq!(r.header("x-collector-token"), Some(secret.as_str()));
    }
    let output = s.proc_.all_output();
    let token = secret.split_once(' ').unwrap().1;
    assert!(
        !output.contains(token),
        "the credential leaked into the output:\n{output}"
    );
    assert!(output.contains("HTTP 400"), "{output}");
}

#[tokio::test]
async fn the_secret_comes_from_secrets_manager_and_is_fetched_again_after_a_401() {
    use aws_sdk_secretsmanager::Client;
    let sm = Client::new(&moto::sdk_config("us-east-1"));
    let old = format!("Bearer old-{:x}", fastrand::u64(..));
    let new = format!("Bearer new-{:x}", fastrand::u64(..));
    let arn = sm
        .create_secret()
        .name(moto::unique("collector-token"))
        .secret_string(&old)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let ca = Ca::new("test ca");
    let collector = Collector::start(&ca, vec![Action::Status(200), Action::Status(401)]).await;
    let s = start(
        &collector,
        &ca,
        &[("COLLECTOR_AUTH_SECRET_ARN", arn.clone())],
    )
    .await;
    assert!(matches!(
        s.api.invoke(finding_event()).await,
        Reply::Response(_)
    ));
    sm.put_secret_value()
        .secret_id(&arn)
        .secret_string(&new)
        .send()
        .await
        .unwrap();
    let reply = s.api.invoke(finding_event()).await;
    assert!(
        matches!(&reply, Reply::Response(r) if r["forwarded"] == 1),
        "{reply:?}"
    );
    let auth: Vec<String> = collector
        .received()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        auth,
        [old.clone(), old.clone(), new.clone()],
        "cached, then fetched again once after the 401"
    );
    let output = s.proc_.all_output();
    for v in [&old, &new] {
        assert!(
            !output.contains(v.split_once(' ').unwrap().1),
            "secret leaked:\n{output}"
        );
    }
}

#[tokio::test]
async fn plain_http_is_refused_at_start_up() {
    let env = [("COLLECTOR_URL", "http://127.0.0.1:9/ingest".to_string())];
    let (api, mut proc_) = support::lambda::start(&env).await;
    let err = api
        .init_error(Duration::from_secs(20))
        .await
        .expect("init error");
    let msg = err["errorMessage"].as_str().unwrap();
    assert!(
        msg.starts_with("COLLECTOR_URL:") && msg.contains("https"),
        "{msg}"
    );
    proc_.assert_failed_naming("COLLECTOR_URL");
}

#[tokio::test]
async fn gzip_bodies_decompress_to_the_same_records_in_either_format() {
    for format in ["ndjson", "json"] {
        let ca = Ca::new("test ca");
        let collector = Collector::start(&ca, vec![]).await;
        let s = start(
            &collector,
            &ca,
            &[
                ("COLLECTOR_GZIP", "true".into()),
                ("COLLECTOR_FORMAT", format.into()),
            ],
        )
        .await;
        let reply = s.api.invoke(finding_event()).await;
        assert!(
            matches!(&reply, Reply::Response(r) if r["forwarded"] == 1),
            "{reply:?}"
        );
        let got = collector.received();
        assert_eq!(got[0].header("content-encoding"), Some("gzip"));
        assert!(
            got[0].raw_len < got[0].body.len(),
            "the body was not compressed"
        );
        assert_eq!(
            collector.delivered_records()[0]["raw_event"],
            finding_event()["detail"]
        );
    }
}

#[tokio::test]
async fn batches_respect_both_the_record_and_the_byte_bound() {
    let ca = Ca::new("test ca");
    let collector = Collector::start(&ca, vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let input: String = (0..40)
        .map(|i| format!("{}\n", json!({"id": format!("f-{i:02}"), "severity": 5, "description": "d".repeat(300 + i * 20)})))
        .collect();
    let file = dir.path().join("in.ndjson");
    std::fs::write(&file, input).unwrap();
    let env = vec![
        ("COLLECTOR_URL", collector.url()),
        ("COLLECTOR_CA_FILE", ca_file.display().to_string()),
        ("COLLECTOR_MAX_BATCH_RECORDS", "7".into()),
        ("COLLECTOR_MAX_BATCH_BYTES", "8000".into()),
        ("COLLECTOR_FORMAT", "json".into()),
    ];
    let mut cmd = command(&env);
    cmd.arg("forward").arg(&file);
    // The collector runs on this test's runtime: wait for the process off it.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = collector.received();
    assert!(got.len() >= 6, "{} requests", got.len());
    for r in &got {
        assert!(r.records().len() <= 7);
        assert!(r.body.len() <= 8000, "{} bytes", r.body.len());
    }
    let ids: Vec<String> = collector
        .delivered_records()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("f-{i:02}")).collect();
    assert_eq!(ids, expected, "every record once, in order");
}

#[tokio::test]
async fn retries_stop_before_the_lambda_deadline_and_the_invocation_fails() {
    let ca = Ca::new("test ca");
    let collector = Collector::start(&ca, (0..100).map(|_| Action::Status(503)).collect()).await;
    let s = start(&collector, &ca, &[]).await;
    let started = Instant::now();
    let reply = s
        .api
        .invoke_with_timeout(finding_event(), Duration::from_secs(5))
        .await;
    let took = started.elapsed();
    match reply {
        Reply::Error(e) => {
            let msg = e["errorMessage"].as_str().unwrap();
            assert!(msg.contains("deadline") || msg.contains("gave up"), "{msg}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        took < Duration::from_secs(5),
        "answered after the deadline: {took:?}"
    );
}
