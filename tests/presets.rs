//! The collector presets against stand-ins that answer like each product (see
//! `support::products`), over real TLS on loopback: every finding ends where the product
//! keeps it, exactly once where the product says it took it, with the product's headers and
//! paths; partial failures are retried alone or reported; `check` probes as documented; no
//! credential shows up in the forwarder's output.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use guardduty_forwarder::aws::Aws;
use guardduty_forwarder::config::Config;
use guardduty_forwarder::normalize::{Ingest, OutputSchema, Via};
use guardduty_forwarder::record::{EncodedRecord, encode};
use guardduty_forwarder::retry::{Backoff, Deadline};
use guardduty_forwarder::sink::https::HttpsSink;
use guardduty_forwarder::sink::{DeliveryError, Sink};
use serde_json::Value;
use support::collector::{Ca, Collector};
use support::products;

struct Stand {
    collector: Collector,
    _dir: tempfile::TempDir,
    ca_file: String,
}

async fn stand(responder: support::collector::Responder) -> Stand {
    let ca = Ca::new("preset ca");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path()).display().to_string();
    let collector = Collector::start_with(&ca, vec![], Some(responder)).await;
    Stand {
        collector,
        _dir: dir,
        ca_file,
    }
}

fn fast() -> Backoff {
    Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(10),
        max_attempts: 5,
    }
}

fn sink(s: &Stand, url: String, vars: &[(&str, &str)]) -> HttpsSink {
    let mut env: Vec<(String, String)> = vec![
        ("COLLECTOR_URL".into(), url),
        ("COLLECTOR_CA_FILE".into(), s.ca_file.clone()),
        ("COLLECTOR_TIMEOUT_SECONDS".into(), "2".into()),
    ];
    env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_lookup(|k| {
        env.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    })
    .expect("config");
    HttpsSink::new(
        config.collector().cloned().expect("collector"),
        Arc::new(Aws::new()),
    )
    .expect("sink")
    .with_backoff(fast())
}

/// Findings of the shared corpus as the CLI reads them, one record per distinct
/// `dedup_key`. A finding the CLI reads but cannot encode fails the test.
fn corpus_records() -> Vec<EncodedRecord> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for fixture in support::corpus::findings() {
        let ingest = Ingest::new(Via::Cli, None, "2026-12-01T00:00:00Z");
        let r = encode(&fixture.finding.into(), &ingest, OutputSchema::Native)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.file));
        if seen.insert(r.dedup_key.clone()) {
            out.push(r);
        }
    }
    assert!(out.len() >= 10, "corpus too small: {}", out.len());
    out
}

fn ids(records: &[EncodedRecord]) -> BTreeSet<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

fn failed_ids(records: &[EncodedRecord], failed: &[(usize, DeliveryError)]) -> BTreeSet<String> {
    failed.iter().map(|(i, _)| records[*i].id.clone()).collect()
}

#[tokio::test]
async fn splunk_hec_indexes_every_event_once_through_a_busy_server_and_fails_only_the_bad_one() {
    let hec = products::Hec::new("hec-token-1234", false);
    let recs = corpus_records();
    let bad = recs[3].id.clone();
    {
        let mut s = hec.state.lock().unwrap();
        s.busy = 1;
        s.invalid.push(bad.clone());
    }
    let s = stand(hec.responder()).await;
    let sink = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "splunk-hec"),
            ("COLLECTOR_AUTH_VALUE", "hec-token-1234"),
            ("COLLECTOR_HEC_INDEX", "security"),
        ],
    );
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert_eq!(
        failed_ids(&recs, &delivery.failed),
        BTreeSet::from([bad.clone()])
    );
    assert!(
        matches!(&delivery.failed[0].1, DeliveryError::Rejected(m) if m.contains("HEC code 6")),
        "{:?}",
        delivery.failed
    );
    let indexed = hec.indexed_ids();
    let mut want = ids(&recs);
    want.remove(&bad);
    assert_eq!(indexed.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(indexed.len(), want.len(), "an event was indexed twice");
    for r in s.collector.received() {
        assert_eq!(r.path, "/services/collector/event");
        assert_eq!(r.header("authorization"), Some("Splunk hec-token-1234"));
        assert!(r.header("x-splunk-request-channel").is_some());
    }
    let state = hec.state.lock().unwrap();
    let first = &state.indexed[0];
    assert_eq!(first["sourcetype"], "aws:guardduty");
    assert_eq!(first["index"], "security");
    let indexed = &state.indexed;
    // HEC's `time` is the finding's `updatedAt`; a finding without a readable one (the
    // corpus has `"UpdatedAt": "foo"`) leaves it to HEC.
    for e in indexed {
        let readable = e["event"]["updated_at"]
            .as_str()
            .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_digit()));
        assert_eq!(
            e["time"].as_f64().is_some(),
            readable,
            "the event's time is its finding's updatedAt: {e}"
        );
    }
    assert!(indexed.iter().filter(|e| e["time"].is_f64()).count() >= 10);
}

#[tokio::test]
async fn splunk_hec_with_acks_counts_events_only_once_the_indexers_confirm_them() {
    let hec = products::Hec::new("hec-token-1234", true);
    hec.state.lock().unwrap().ack_delay = 2;
    let s = stand(hec.responder()).await;
    let sink = sink(
        &s,
        format!("{}/services/collector/event", s.collector.base_url()),
        &[
            ("COLLECTOR_FORMAT", "splunk-hec"),
            ("COLLECTOR_AUTH_VALUE", "Splunk hec-token-1234"),
            ("COLLECTOR_HEC_ACK", "true"),
        ],
    );
    let recs = corpus_records();
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(hec.indexed_ids().len(), recs.len());
    assert!(hec.state.lock().unwrap().ack_polls >= 3);
    let acks: Vec<_> = s
        .collector
        .received()
        .into_iter()
        .filter(|r| r.path.starts_with("/services/collector/ack?channel="))
        .collect();
    assert!(!acks.is_empty());
}

#[tokio::test]
async fn elastic_bulk_retries_throttled_items_alone_counts_409_as_there_and_fails_only_refused_ones()
 {
    let es = products::Elastic::new("es-key-5678");
    let recs = corpus_records();
    let (throttled, unavailable, refused, known) = (
        recs[0].id.clone(),
        recs[1].id.clone(),
        recs[2].id.clone(),
        recs[4].clone(),
    );
    {
        let mut st = es.state.lock().unwrap();
        st.script.insert(throttled.clone(), [429].into());
        st.script.insert(unavailable.clone(), [503, 503].into());
        st.refused.push(refused.clone());
        st.docs.insert(
            ("logs-aws.guardduty-default".into(), known.dedup_key.clone()),
            serde_json::json!({"id": known.id}),
        );
    }
    let s = stand(es.responder()).await;
    let sink = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "elastic-bulk"),
            ("COLLECTOR_AUTH_VALUE", "es-key-5678"),
        ],
    );
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert_eq!(
        failed_ids(&recs, &delivery.failed),
        BTreeSet::from([refused.clone()])
    );
    assert!(
        matches!(&delivery.failed[0].1, DeliveryError::Rejected(m) if m.contains("mapper_parsing_exception"))
    );
    let stored: BTreeSet<String> = es
        .stored_ids("logs-aws.guardduty-default")
        .into_iter()
        .collect();
    let mut want = ids(&recs);
    want.remove(&refused);
    assert_eq!(stored, want);
    let st = es.state.lock().unwrap();
    for r in &recs {
        let sends = st.sends.get(&r.dedup_key).copied().unwrap_or(0);
        let expected = if r.id == throttled {
            2
        } else if r.id == unavailable {
            3
        } else {
            1
        };
        assert_eq!(sends, expected, "{} sent {sends} times", r.id);
    }
    for r in s.collector.received() {
        assert!(r.path.starts_with("/_bulk?filter_path="), "{}", r.path);
        assert_eq!(r.header("authorization"), Some("ApiKey es-key-5678"));
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    }
}

#[tokio::test]
async fn elastic_bulk_writes_into_the_namespace_the_configuration_names() {
    let es = products::Elastic::new("k");
    let s = stand(es.responder()).await;
    let sink = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "elastic-bulk"),
            ("COLLECTOR_AUTH_VALUE", "k"),
            ("COLLECTOR_ELASTIC_NAMESPACE", "prod"),
        ],
    );
    let recs = corpus_records();
    assert!(
        sink.deliver(&recs, Deadline::none())
            .await
            .failed
            .is_empty()
    );
    assert_eq!(es.stored_ids("logs-aws.guardduty-prod").len(), recs.len());
}

#[tokio::test]
async fn datadog_splits_a_batch_the_intake_calls_too_large_and_loses_nothing() {
    let dd = products::Datadog::new("dd-key-9012", 20_000);
    let s = stand(dd.responder()).await;
    let sink = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "datadog-logs"),
            ("COLLECTOR_AUTH_VALUE", "dd-key-9012"),
            ("COLLECTOR_DATADOG_SERVICE", "security"),
            ("COLLECTOR_DATADOG_TAGS", "env:test"),
        ],
    );
    let recs = corpus_records();
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert!(
        dd.state.lock().unwrap().too_large >= 1,
        "the stand-in never said 413"
    );
    let got = dd.ids();
    assert_eq!(got.len(), recs.len(), "a log was stored twice or lost");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), ids(&recs));
    let log = dd.state.lock().unwrap().logs[0].clone();
    assert_eq!(log["ddsource"], "guardduty");
    assert_eq!(log["service"], "security");
    assert_eq!(log["ddtags"], "env:test");
    for r in s.collector.received() {
        assert_eq!(r.path, "/api/v2/logs");
        assert_eq!(r.header("dd-api-key"), Some("dd-key-9012"));
        assert_eq!(r.header("authorization"), None);
    }
}

#[tokio::test]
async fn sumo_receives_every_record_on_the_source_url_with_its_category() {
    let sumo = products::Sumo::new("ZaVnC4dhaV0secret");
    let s = stand(sumo.responder()).await;
    let url = format!("{}{}", s.collector.base_url(), sumo.path());
    let sink = sink(
        &s,
        url,
        &[
            ("COLLECTOR_FORMAT", "sumo-http"),
            ("COLLECTOR_SUMO_CATEGORY", "aws/guardduty"),
            ("COLLECTOR_SUMO_NAME", "guardduty-forwarder"),
        ],
    );
    let recs = corpus_records();
    assert!(
        sink.deliver(&recs, Deadline::none())
            .await
            .failed
            .is_empty()
    );
    assert_eq!(sumo.ids().into_iter().collect::<BTreeSet<_>>(), ids(&recs));
    for r in s.collector.received() {
        assert_eq!(r.header("x-sumo-category"), Some("aws/guardduty"));
        assert_eq!(r.header("x-sumo-name"), Some("guardduty-forwarder"));
    }
}

#[tokio::test]
async fn check_probes_each_product_the_way_it_documents() {
    let hec = products::Hec::new("t", false);
    let s = stand(hec.responder()).await;
    let probes = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "splunk-hec"),
            ("COLLECTOR_AUTH_VALUE", "t"),
        ],
    )
    .probe()
    .await;
    assert_eq!(
        probes.iter().map(|p| p.label).collect::<Vec<_>>(),
        ["health", "token"]
    );
    assert!(probes.iter().all(|p| p.result.is_ok()), "{probes:?}");
    let paths: Vec<String> = s
        .collector
        .received()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths,
        ["/services/collector/health", "/services/collector/event"]
    );

    let wrong = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "splunk-hec"),
            ("COLLECTOR_AUTH_VALUE", "nope"),
        ],
    )
    .probe()
    .await;
    assert!(wrong.last().unwrap().result.is_err(), "{wrong:?}");

    let es = products::Elastic::new("k");
    let s = stand(es.responder()).await;
    let probes = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "elastic-bulk"),
            ("COLLECTOR_AUTH_VALUE", "k"),
        ],
    )
    .probe()
    .await;
    assert!(probes.iter().all(|p| p.result.is_ok()), "{probes:?}");
    assert_eq!(probes.len(), 2);

    let dd = products::Datadog::new("k", 5_000_000);
    let s = stand(dd.responder()).await;
    let probes = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "datadog-logs"),
            ("COLLECTOR_AUTH_VALUE", "k"),
        ],
    )
    .probe()
    .await;
    assert!(probes.iter().all(|p| p.result.is_ok()), "{probes:?}");
    assert_eq!(s.collector.received()[0].path, "/api/v1/validate");

    let sumo = products::Sumo::new("abc");
    let s = stand(sumo.responder()).await;
    let probes = sink(
        &s,
        format!("{}{}", s.collector.base_url(), sumo.path()),
        &[("COLLECTOR_FORMAT", "sumo-http")],
    )
    .probe()
    .await;
    assert!(probes.iter().all(|p| p.result.is_ok()), "{probes:?}");
}

/// Runs `forward` over the corpus with debug logging; returns stdout + stderr and success.
fn forward_corpus(env: &[(&str, String)]) -> (String, bool) {
    let mut env = env.to_vec();
    env.push(("LOG_LEVEL", "debug".into()));
    let mut cmd = support::process::command(&env);
    cmd.arg("forward");
    // The files the shared loader reads a finding from (the corpus's edge cases, which hold
    // none, fail the run on purpose and are named by the loader).
    let files: BTreeSet<String> = support::corpus::findings()
        .into_iter()
        .map(|f| f.file)
        .collect();
    for name in files {
        cmd.arg(support::fixtures().join("corpus").join(name));
    }
    let out = cmd.output().expect("run forward");
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        out.status.success(),
    )
}

#[tokio::test]
async fn no_credential_appears_in_the_output_whether_the_collector_takes_it_or_refuses_it() {
    let token = "s3cr3t-hec-token-0001";
    for (accepted, format) in [
        (true, "splunk-hec"),
        (false, "splunk-hec"),
        (true, "elastic-bulk"),
        (false, "datadog-logs"),
    ] {
        let responder = match format {
            "splunk-hec" => {
                products::Hec::new(if accepted { token } else { "other" }, false).responder()
            }
            "elastic-bulk" => products::Elastic::new(token).responder(),
            _ => products::Datadog::new("other", 5_000_000).responder(),
        };
        let s = stand(responder).await;
        let env = vec![
            ("COLLECTOR_URL", s.collector.base_url()),
            ("COLLECTOR_CA_FILE", s.ca_file.clone()),
            ("COLLECTOR_FORMAT", format.to_string()),
            ("COLLECTOR_AUTH_VALUE", token.to_string()),
            ("COLLECTOR_TIMEOUT_SECONDS", "2".to_string()),
        ];
        let output = tokio::task::spawn_blocking(move || forward_corpus(&env))
            .await
            .unwrap();
        assert_eq!(output.1, accepted, "{format}: {}", output.0);
        assert!(
            !output.0.contains(token),
            "{format} leaked the credential: {}",
            output.0
        );
        assert!(!s.collector.received().is_empty());
    }
}

#[tokio::test]
async fn the_lambda_reports_a_finding_elasticsearch_refused_and_retries_one_it_throttled() {
    use support::runtime_api::Reply;

    let event = support::finding_event();
    let id = event["detail"]["id"].as_str().unwrap().to_string();
    let es = products::Elastic::new("es-key-lambda");
    es.state.lock().unwrap().refused.push(id.clone());
    let s = stand(es.responder()).await;
    let (api, proc_) = support::lambda::start(&[
        ("COLLECTOR_URL", s.collector.base_url()),
        ("COLLECTOR_CA_FILE", s.ca_file.clone()),
        ("COLLECTOR_FORMAT", "elastic-bulk".into()),
        ("COLLECTOR_AUTH_VALUE", "es-key-lambda".into()),
        ("COLLECTOR_TIMEOUT_SECONDS", "2".into()),
    ])
    .await;

    match api.invoke(event.clone()).await {
        Reply::Error(e) => {
            let msg = e["errorMessage"].as_str().unwrap_or_default();
            assert_eq!(e["errorType"], "DeliveryFailed");
            assert!(
                msg.contains(&id) && msg.contains("mapper_parsing_exception"),
                "{msg}"
            );
        }
        other => panic!("expected a failure, got {other:?}: {}", proc_.all_output()),
    }

    {
        let mut st = es.state.lock().unwrap();
        st.refused.clear();
        st.script.insert(id.clone(), [429].into());
    }
    let before = s.collector.received().len();
    let reply = api.invoke(event).await;
    assert_eq!(
        reply,
        Reply::Response(
            serde_json::json!({"via": "eventbridge", "received": 1, "forwarded": 1, "skipped": 0, "failed": 0})
        ),
        "{}",
        proc_.all_output()
    );
    assert_eq!(
        es.stored_ids("logs-aws.guardduty-default"),
        std::slice::from_ref(&id)
    );
    // The throttled item was sent again, alone: two `_bulk` requests, each carrying it.
    let sends: Vec<_> = s.collector.received()[before..]
        .iter()
        .filter(|r| r.path.contains("_bulk"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(
        sends.len(),
        2,
        "the throttled send, then its retry: {sends:?}"
    );
    assert!(sends.iter().all(|b| b.contains(&id)), "{sends:?}");
    assert!(!proc_.all_output().contains("es-key-lambda"));
}

#[tokio::test]
async fn splunk_hec_events_the_indexers_never_confirm_are_not_counted_as_delivered() {
    let hec = products::Hec::new("t", true);
    hec.state.lock().unwrap().ack_delay = usize::MAX;
    let s = stand(hec.responder()).await;
    let sink = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "splunk-hec"),
            ("COLLECTOR_AUTH_VALUE", "t"),
            ("COLLECTOR_HEC_ACK", "true"),
            ("COLLECTOR_TIMEOUT_SECONDS", "1"),
        ],
    )
    .with_backoff(Backoff {
        max_attempts: 1,
        ..fast()
    });
    let recs = corpus_records();
    let delivery = sink.deliver(&recs[..2], Deadline::none()).await;
    assert_eq!(delivery.failed.len(), 2, "{:?}", delivery.failed);
    // HEC took both (they wait for the indexers), so the failure is the missing
    // acknowledgement, not a refused request.
    assert_eq!(
        hec.pending_ids().into_iter().collect::<BTreeSet<_>>(),
        ids(&recs[..2])
    );
    assert!(
        matches!(&delivery.failed[0].1, DeliveryError::Exhausted { last, .. } if last.contains("did not confirm")),
        "{:?}",
        delivery.failed
    );
    assert!(hec.indexed_ids().is_empty());
}

/// A realistic finding made `extra` bytes larger (a long `additionalInfo` value, as
/// runtime-monitoring findings carry), encoded as the native record.
fn big_record(id: &str, extra: usize) -> EncodedRecord {
    let mut f = support::guardduty::finding(
        "us-east-1",
        "det1",
        id,
        support::guardduty::now_ms(),
        false,
        8.0,
    );
    f["service"]["additionalInfo"]["processLineage"] = Value::from("p".repeat(extra));
    let ingest = Ingest::new(Via::Cli, None, "2026-12-06T00:00:00Z");
    encode(&f.into(), &ingest, OutputSchema::Native).expect("record")
}

/// The stored record for `id` shows the marker in place of its raw finding.
fn assert_marked(record: &Value, id: &str) {
    assert_eq!(record["id"], id);
    assert!(record["dedup_key"].as_str().unwrap().starts_with(id));
    let raw = &record["raw_event"];
    assert_eq!(raw["id"], id, "{raw}");
    assert!(
        raw[guardduty_forwarder::sink::oversize::MARKER]["note"].is_string(),
        "{raw}"
    );
}

#[tokio::test]
async fn sumo_gets_a_record_over_64_kb_shrunk_to_one_whole_line_never_split() {
    let sumo = products::Sumo::new("ZaVnC4dhaV0secret");
    let s = stand(sumo.responder()).await;
    let url = format!("{}{}", s.collector.base_url(), sumo.path());
    let sink = sink(&s, url, &[("COLLECTOR_FORMAT", "sumo-http")]);
    let mut recs = corpus_records();
    let big = big_record("b1g0000000000000000000000000000a", 89_000);
    assert!(big.json.len() > products::SUMO_MAX_MESSAGE);
    recs.push(big.clone());
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(delivery.shrunk, 1);
    // Every message Sumo kept is a whole record: nothing was split.
    let messages = sumo.messages();
    assert_eq!(messages.len(), recs.len(), "a line was split or lost");
    let stored: Vec<Value> = messages
        .iter()
        .map(|m| serde_json::from_str(m).unwrap_or_else(|e| panic!("broken JSON {e}")))
        .collect();
    let kept = stored.iter().find(|v| v["id"] == big.id.as_str()).unwrap();
    assert_marked(kept, &big.id);
    assert_eq!(sumo.ids().into_iter().collect::<BTreeSet<_>>(), ids(&recs));
}

#[tokio::test]
async fn datadog_gets_an_entry_over_1_mb_shrunk_rather_than_truncated_by_the_intake() {
    let dd = products::Datadog::new("dd-key-9012", 5_000_000);
    let s = stand(dd.responder()).await;
    let sink = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "datadog-logs"),
            ("COLLECTOR_AUTH_VALUE", "dd-key-9012"),
            ("COLLECTOR_MAX_BATCH_BYTES", "5000000"),
        ],
    );
    let mut recs = corpus_records();
    let big = big_record("b1g0000000000000000000000000000d", 1_200_000);
    recs.push(big.clone());
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(delivery.shrunk, 1);
    assert_eq!(
        dd.state.lock().unwrap().truncated,
        0,
        "the intake cut an entry"
    );
    let logs = dd.state.lock().unwrap().logs.clone();
    let kept = logs.iter().find(|v| v["id"] == big.id.as_str()).unwrap();
    assert_marked(kept, &big.id);
    assert_eq!(kept["ddsource"], "guardduty");
    assert_eq!(dd.ids().into_iter().collect::<BTreeSet<_>>(), ids(&recs));
}

#[tokio::test]
async fn a_record_too_large_even_without_its_raw_finding_is_refused_never_cut() {
    let sumo = products::Sumo::new("ZaVnC4dhaV0secret");
    let s = stand(sumo.responder()).await;
    let url = format!("{}{}", s.collector.base_url(), sumo.path());
    let sink = sink(&s, url, &[("COLLECTOR_FORMAT", "sumo-http")]);
    let mut f = support::guardduty::finding(
        "us-east-1",
        "det1",
        "hug0000000000000000000000000000e",
        support::guardduty::now_ms(),
        false,
        8.0,
    );
    f["description"] = Value::from("d".repeat(70_000));
    let ingest = Ingest::new(Via::Cli, None, "2026-12-06T00:00:00Z");
    let huge = encode(&f.into(), &ingest, OutputSchema::Native).unwrap();
    let recs = vec![huge, corpus_records().remove(0)];
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert_eq!(delivery.failed.len(), 1, "{:?}", delivery.failed);
    let (i, err) = &delivery.failed[0];
    assert_eq!(*i, 0);
    assert!(
        matches!(err, DeliveryError::Oversize { limit: 65_536, .. }) && err.is_permanent(),
        "{err:?}"
    );
    assert_eq!(sumo.messages().len(), 1, "only the neighbour was sent");
}

#[tokio::test]
async fn splunk_hec_with_acknowledgement_off_on_the_token_indexes_each_event_once_and_check_names_it()
 {
    // The forwarder asks for acknowledgement; the token has it off (Splunk Cloud offers it
    // only to Firehose): HEC answers `Success` without an `ackId`.
    let hec = products::Hec::new("hec-token-1234", false);
    let s = stand(hec.responder()).await;
    let vars = [
        ("COLLECTOR_FORMAT", "splunk-hec"),
        ("COLLECTOR_AUTH_VALUE", "hec-token-1234"),
        ("COLLECTOR_HEC_ACK", "true"),
    ];
    let sink = sink(&s, s.collector.base_url(), &vars);
    let recs: Vec<EncodedRecord> = corpus_records().into_iter().take(10).collect();
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(delivery.retries, 0, "the batch was posted again");
    let indexed = hec.indexed_ids();
    assert_eq!(
        indexed.len(),
        10,
        "{} copies indexed for 10 findings",
        indexed.len()
    );
    assert_eq!(indexed.into_iter().collect::<BTreeSet<_>>(), ids(&recs));

    let probes = sink.probe().await;
    assert_eq!(
        probes.iter().map(|p| p.label).collect::<Vec<_>>(),
        ["health", "token", "acknowledgement"]
    );
    let why = probes[2].result.as_ref().unwrap_err();
    assert!(
        why.contains("indexer acknowledgement is off") && why.contains("COLLECTOR_HEC_ACK"),
        "{why}"
    );
    let polled = s
        .collector
        .received()
        .into_iter()
        .any(|r| r.path.starts_with("/services/collector/ack?channel="));
    assert!(polled, "check asked /services/collector/ack");
}

#[tokio::test]
async fn elastic_bulk_reports_a_replay_of_500_already_indexed_documents_delivered() {
    let es = products::Elastic::new("es-key-5678");
    let s = stand(es.responder()).await;
    let sink = sink(
        &s,
        s.collector.base_url(),
        &[
            ("COLLECTOR_FORMAT", "elastic-bulk"),
            ("COLLECTOR_AUTH_VALUE", "es-key-5678"),
            ("COLLECTOR_MAX_BATCH_BYTES", "5000000"),
        ],
    );
    let base = support::guardduty::now_ms() - 60_000;
    let recs: Vec<EncodedRecord> = (0..500)
        .map(|i| {
            let f = support::guardduty::finding(
                "us-east-1",
                "det1",
                &format!("{i:032x}"),
                base + i,
                false,
                5.0,
            );
            let ingest = Ingest::new(Via::Cli, None, "2026-12-06T00:00:00Z");
            encode(&f.into(), &ingest, OutputSchema::Native).unwrap()
        })
        .collect();
    let first = sink.deliver(&recs, Deadline::none()).await;
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    // The replay: every document is there already, every item is a 409 with its reason.
    let replay = sink.deliver(&recs, Deadline::none()).await;
    assert!(replay.failed.is_empty(), "{:?}", replay.failed.first());
    assert_eq!(replay.retries, 0, "the replay was sent again");
    let largest = es.state.lock().unwrap().largest_answer;
    assert!(
        largest > 64 * 1024,
        "the answer ({largest} bytes) did not outgrow the base bound"
    );
    assert_eq!(
        es.stored_ids("logs-aws.guardduty-default").len(),
        500,
        "each document once"
    );
}

const SECOPS_KEY: &str = "AIzaSy-secops-key-4711";
const SECOPS_SECRET: &str = "feed-secret-0815";

fn secops_credential(key: &str, secret: &str) -> String {
    serde_json::json!({"api_key": key, "secret": secret}).to_string()
}

#[tokio::test]
async fn secops_webhook_ingests_each_raw_finding_once_through_throttling_and_a_413() {
    let feed = products::Secops::new(SECOPS_KEY, SECOPS_SECRET, 20_000);
    feed.state.lock().unwrap().throttle = 1;
    let s = stand(feed.responder()).await;
    let credential = secops_credential(SECOPS_KEY, SECOPS_SECRET);
    let sink = sink(
        &s,
        format!("{}{}", s.collector.base_url(), products::SECOPS_PATH),
        &[
            ("COLLECTOR_FORMAT", "secops-webhook"),
            ("COLLECTOR_AUTH_VALUE", &credential),
            ("COLLECTOR_MAX_BATCH_BYTES", "200000"),
        ],
    );
    let recs = corpus_records();
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    let state = feed.state.lock().unwrap();
    assert!(state.too_large >= 1, "the stand-in never said 413");
    assert_eq!(state.throttled, 1, "the stand-in never said 429");
    // Each line is the finding as AWS published it, not the record around it.
    let mut want: Vec<Value> = recs
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.json).unwrap()["raw_event"].clone())
        .collect();
    let mut got = state.logs.clone();
    want.sort_by_key(Value::to_string);
    got.sort_by_key(Value::to_string);
    assert_eq!(got, want, "every raw finding exactly once");
    for r in s.collector.received() {
        assert_eq!(r.path, products::SECOPS_PATH);
        assert_eq!(r.header("x-goog-api-key"), Some(SECOPS_KEY));
        assert_eq!(r.header("x-webhook-access-key"), Some(SECOPS_SECRET));
        assert_eq!(r.header("authorization"), None);
        assert!(r.body.len() <= 200_000);
    }
}

#[tokio::test]
async fn secops_webhook_with_a_refused_key_fails_every_record_and_never_shows_the_credential() {
    let feed = products::Secops::new("another-key", SECOPS_SECRET, 4_000_000);
    let s = stand(feed.responder()).await;
    let credential = secops_credential(SECOPS_KEY, SECOPS_SECRET);
    let sink = sink(
        &s,
        format!("{}{}", s.collector.base_url(), products::SECOPS_PATH),
        &[
            ("COLLECTOR_FORMAT", "secops-webhook"),
            ("COLLECTOR_AUTH_VALUE", &credential),
        ],
    );
    let recs = corpus_records();
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert_eq!(failed_ids(&recs, &delivery.failed), ids(&recs));
    let (_, error) = &delivery.failed[0];
    assert!(error.is_permanent(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("HTTP 401") && text.contains("API key not valid"),
        "{text}"
    );
    assert!(
        !text.contains(SECOPS_KEY) && !text.contains(SECOPS_SECRET),
        "{text}"
    );
    assert!(feed.ids().is_empty());

    let probes = sink.probe().await;
    let result = &probes[0].result;
    assert!(
        result.as_ref().is_err_and(|e| e.contains("refused")),
        "{probes:?}"
    );
    let good = self::sink(
        &s,
        format!("{}{}", s.collector.base_url(), products::SECOPS_PATH),
        &[
            ("COLLECTOR_FORMAT", "secops-webhook"),
            (
                "COLLECTOR_AUTH_VALUE",
                &secops_credential("another-key", SECOPS_SECRET),
            ),
        ],
    );
    let probes = good.probe().await;
    assert!(probes.iter().all(|p| p.result.is_ok()), "{probes:?}");
}

#[tokio::test]
async fn a_secops_credential_that_is_not_its_json_is_refused_naming_the_variable_not_the_value() {
    use aws_sdk_secretsmanager::Client;
    let sm = Client::new(&support::moto::sdk_config("us-east-1"));
    let plain = "plain-token-not-json-31337";
    let arn = sm
        .create_secret()
        .name(support::moto::unique("secops"))
        .secret_string(plain)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let feed = products::Secops::new(SECOPS_KEY, SECOPS_SECRET, 4_000_000);
    let s = stand(feed.responder()).await;
    let url = format!("{}{}", s.collector.base_url(), products::SECOPS_PATH);
    let mut env = support::moto::aws_env();
    env.extend([
        ("COLLECTOR_URL", url.clone()),
        ("COLLECTOR_CA_FILE", s.ca_file.clone()),
        ("COLLECTOR_FORMAT", "secops-webhook".to_string()),
        ("COLLECTOR_AUTH_SECRET_ARN", arn),
        ("COLLECTOR_TIMEOUT_SECONDS", "2".to_string()),
    ]);
    let (output, ok) = tokio::task::spawn_blocking(move || forward_corpus(&env))
        .await
        .unwrap();
    assert!(!ok, "{output}");
    assert!(
        output.contains("COLLECTOR_AUTH_SECRET_ARN: the secret's value is not the JSON object"),
        "{output}"
    );
    assert!(!output.contains(plain), "{output}");
    assert!(s.collector.received().is_empty(), "nothing was sent");

    // The same in plain (development) is refused at start-up, and so is no credential at all.
    for (extra, var) in [
        (
            vec![("COLLECTOR_AUTH_VALUE", plain.to_string())],
            "COLLECTOR_AUTH_VALUE",
        ),
        (vec![], "COLLECTOR_AUTH_SECRET_ARN"),
    ] {
        let mut env = vec![
            ("COLLECTOR_URL", url.clone()),
            ("COLLECTOR_FORMAT", "secops-webhook".to_string()),
        ];
        env.extend(extra);
        let out = support::process::command(&env)
            .arg("forward")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
        assert!(!stderr.contains(plain), "{stderr}");
    }
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "00000000-1111-2222-3333-444444444444";
const CLIENT_SECRET: &str = "Qx8Q~client-secret-value-0042";
const DCR: &str = "dcr-0123456789abcdef0123456789abcdef";
const STREAM: &str = "Custom-GuardDutyFindings";

/// Entra ID and a data collection endpoint, two TLS stand-ins under one CA.
struct Azure {
    entra: products::Entra,
    dce: products::LogsIngestion,
    login: Collector,
    endpoint: Stand,
}

/// `max_body`: what the endpoint answers 413 past (the service: 1 MB).
async fn azure(token_lifetime: u64, max_body: usize) -> Azure {
    let entra = products::Entra::new(TENANT, CLIENT, CLIENT_SECRET, token_lifetime);
    let mut dce = products::LogsIngestion::new(DCR, STREAM, &entra);
    dce.max_body = max_body;
    let ca = Ca::new("azure ca");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path()).display().to_string();
    let login = Collector::start_with(&ca, vec![], Some(entra.responder())).await;
    let collector = Collector::start_with(&ca, vec![], Some(dce.responder())).await;
    Azure {
        entra,
        dce,
        login,
        endpoint: Stand {
            collector,
            _dir: dir,
            ca_file,
        },
    }
}

impl Azure {
    fn sink(&self, client_secret: &str) -> HttpsSink {
        sink(
            &self.endpoint,
            self.endpoint.collector.base_url(),
            &[
                ("COLLECTOR_FORMAT", "sentinel"),
                ("COLLECTOR_AUTH_VALUE", client_secret),
                ("SENTINEL_DCR_ID", DCR),
                ("SENTINEL_STREAM", STREAM),
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_ID", CLIENT),
                ("AZURE_AUTHORITY_HOST", &self.login.base_url()),
            ],
        )
    }
}

#[tokio::test]
async fn sentinel_ingests_every_record_once_through_throttling_and_a_413_on_one_cached_token() {
    let az = azure(3599, 30_000).await;
    az.dce.state.lock().unwrap().throttle = 1;
    let sink = az.sink(CLIENT_SECRET);
    let recs = corpus_records();
    let (first, second) = recs.split_at(recs.len() / 2);
    for part in [first, second] {
        let delivery = sink.deliver(part, Deadline::none()).await;
        assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    }
    assert_eq!(az.entra.tokens_issued(), 1, "one token for both deliveries");
    let state = az.dce.state.lock().unwrap();
    assert_eq!(state.throttled, 1, "the stand-in never said 429");
    assert!(state.too_large >= 1, "the stand-in never said 413");
    assert_eq!(state.truncated, 0);
    assert!(state.rows.iter().all(|r| r["TimeGenerated"].is_string()));
    drop(state);
    let got = az.dce.ids();
    assert_eq!(got.len(), recs.len(), "a row was stored twice or lost");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), ids(&recs));
    for r in az.endpoint.collector.received() {
        assert_eq!(r.path, az.dce.path());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.body.len() <= 1_000_000);
    }
}

#[tokio::test]
async fn sentinel_asks_for_a_new_token_once_the_cached_one_is_about_to_expire() {
    let az = azure(1, 1_000_000).await;
    let sink = az.sink(CLIENT_SECRET);
    let recs = corpus_records();
    for _ in 0..2 {
        let delivery = sink.deliver(&recs[..2], Deadline::none()).await;
        assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(az.entra.tokens_issued(), 2);
    let tokens = az.dce.state.lock().unwrap().tokens.clone();
    assert_ne!(
        tokens.first(),
        tokens.last(),
        "the second call used the new token"
    );
}

#[tokio::test]
async fn sentinel_with_a_wrong_client_secret_fails_every_record_naming_entra_ids_answer() {
    let az = azure(3599, 1_000_000).await;
    let wrong = "Qx8Q~wrong-secret-value-0099";
    let sink = az.sink(wrong);
    let recs = corpus_records();
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert_eq!(failed_ids(&recs, &delivery.failed), ids(&recs));
    let (_, error) = &delivery.failed[0];
    assert!(error.is_permanent(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("invalid_client") && text.contains("AADSTS7000215"),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
    assert!(
        az.endpoint.collector.received().is_empty(),
        "nothing reached the endpoint"
    );
    let probes = sink.probe().await;
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert_eq!(probes[0].label, "token");
    assert!(probes[0].result.is_err());

    let probes = az.sink(CLIENT_SECRET).probe().await;
    assert_eq!(
        probes.iter().map(|p| p.label).collect::<Vec<_>>(),
        ["token", "ingestion"]
    );
    assert!(probes.iter().all(|p| p.result.is_ok()), "{probes:?}");
}

#[tokio::test]
async fn sentinel_gets_a_record_over_64_kb_shrunk_rather_than_a_field_truncated() {
    let az = azure(3599, 1_000_000).await;
    let sink = az.sink(CLIENT_SECRET);
    let mut recs = corpus_records();
    let big = big_record("b1g0000000000000000000000000000c", 100_000);
    recs.push(big.clone());
    let delivery = sink.deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(delivery.shrunk, 1);
    let state = az.dce.state.lock().unwrap();
    assert_eq!(state.truncated, 0, "no field was cut by the service");
    let kept = state
        .rows
        .iter()
        .find(|r| r["id"] == big.id.as_str())
        .unwrap();
    assert_marked(kept, &big.id);
}

#[test]
fn the_shipped_sentinel_rule_declares_every_field_of_the_native_record_and_its_table_each_column() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/sentinel/guardduty-findings.json"
    );
    let arm: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let resource = |kind: &str| {
        arm["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .clone()
    };
    let names = |columns: &Value| -> Vec<String> {
        columns
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let dcr = resource("Microsoft.Insights/dataCollectionRules");
    let stream = names(&dcr["properties"]["streamDeclarations"][STREAM]["columns"]);
    let mut fields: BTreeSet<String> = BTreeSet::from(["TimeGenerated".to_string()]);
    for r in corpus_records() {
        let v: Value = serde_json::from_str(&r.json).unwrap();
        fields.extend(v.as_object().unwrap().keys().cloned());
    }
    // The account context's fields appear only with ACCOUNT_CONTEXT on (not in the corpus).
    let context: BTreeSet<String> = ["account_name", "account_ou_path", "account_tags"]
        .map(String::from)
        .into();
    assert_eq!(
        stream.iter().cloned().collect::<BTreeSet<_>>(),
        fields.union(&context).cloned().collect::<BTreeSet<_>>(),
        "the stream declares exactly the native record's fields"
    );
    // The table has the stream's columns, with the two the transformation renames.
    let table = resource("Microsoft.OperationalInsights/workspaces/tables");
    let renamed: Vec<String> = stream
        .iter()
        .map(|c| match c.as_str() {
            "type" => "FindingType".to_string(),
            "count" => "EventCount".to_string(),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(names(&table["properties"]["schema"]["columns"]), renamed);
    let kql = dcr["properties"]["dataFlows"][0]["transformKql"]
        .as_str()
        .unwrap();
    assert!(
        kql.contains("FindingType = ['type']") && kql.contains("EventCount = ['count']"),
        "{kql}"
    );
}
