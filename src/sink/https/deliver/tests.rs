//! How the HTTPS destination reads a collector's answers about a request as a whole,
//! against a plain-HTTP collector on loopback that answers from a script and keeps every
//! request body (the TLS side is tested in `tests/https.rs` and `tests/presets.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::*;
use crate::aws::Aws;
use crate::config::Config;
use crate::retry::Backoff;
use crate::sink::DeliveryError;

/// A collector answering each request with the next (status, body) of its script (then
/// 200), keeping the request bodies.
struct Collector {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

async fn collector(script: &[(u16, &str)]) -> Collector {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/in", listener.local_addr().expect("addr"));
    let script: Arc<Mutex<VecDeque<(u16, String)>>> = Arc::new(Mutex::new(
        script.iter().map(|(s, b)| (*s, b.to_string())).collect(),
    ));
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = bodies.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let script = script.clone();
            let kept = kept.clone();
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let script = script.clone();
                let kept = kept.clone();
                async move {
                    let body = req.into_body().collect().await?.to_bytes();
                    kept.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    let (status, answer) = script
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((200, String::new()));
                    Ok::<_, hyper::Error>(
                        hyper::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from(answer)))
                            .expect("response"),
                    )
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(tcp), service));
        }
    });
    Collector { url, bodies }
}

impl Collector {
    /// The records (by id) each request carried, in order.
    fn requests(&self) -> Vec<Vec<String>> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                b.lines()
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_str(l).expect("a record");
                        v["id"].as_str().expect("an id").to_string()
                    })
                    .collect()
            })
            .collect()
    }
}

fn sink(url: &str) -> HttpsSink {
    sink_with(url, &[])
}

fn sink_with(url: &str, vars: &[(&str, &str)]) -> HttpsSink {
    let mut env = vec![
        ("COLLECTOR_URL", url.to_string()),
        ("COLLECTOR_ALLOW_HTTP", "true".into()),
        ("COLLECTOR_AUTH_VALUE", "Bearer t0ken".into()),
        ("COLLECTOR_TIMEOUT_SECONDS", "2".into()),
    ];
    env.extend(vars.iter().map(|(k, v)| (*k, v.to_string())));
    let config = Config::from_lookup(|k| {
        env.iter()
            .rev()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .expect("config");
    HttpsSink::new(
        config.collector().cloned().expect("collector"),
        Arc::new(Aws::new()),
    )
    .expect("sink")
    .with_backoff(Backoff {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_attempts: 4,
    })
}

/// `n` records of about `size` bytes each.
fn records(n: usize, size: usize) -> Vec<EncodedRecord> {
    (0..n)
        .map(|i| EncodedRecord {
            id: format!("f{i}"),
            dedup_key: format!("f{i}:t"),
            severity: None,
            finding_type: None,
            account_id: None,
            json: format!("{{\"id\":\"f{i}\",\"pad\":\"{}\"}}", "x".repeat(size)),
            ..EncodedRecord::default()
        })
        .collect()
}

#[tokio::test]
async fn every_record_goes_out_unchanged_in_one_request_and_a_2xx_delivers_them_all() {
    let c = collector(&[(200, "")]).await;
    let recs = records(3, 100);
    let delivery = sink(&c.url).deliver(&recs, Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!((delivery.retries, delivery.shrunk), (0, 0));
    let bodies = c.bodies.lock().unwrap().clone();
    let sent: String = recs.iter().map(|r| format!("{}\n", r.json)).collect();
    assert_eq!(bodies, [sent]);
}

#[tokio::test]
async fn a_refused_credential_fails_the_request_for_good_at_once() {
    for status in [401, 403] {
        let c = collector(&[(status, "bad token t0ken")]).await;
        let delivery = sink(&c.url)
            .deliver(&records(2, 10), Deadline::none())
            .await;
        assert_eq!(c.requests().len(), 1, "HTTP {status}: not sent again");
        assert_eq!(delivery.failed.len(), 2);
        for (_, e) in &delivery.failed {
            assert!(
                matches!(e, DeliveryError::Rejected(w) if w.starts_with(&format!("HTTP {status}")) && !w.contains("t0ken")),
                "HTTP {status}: {e:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_413_halves_the_requests_and_every_record_still_arrives_once() {
    // Five records of ~1.5 kB: the 413 halves the budget to two and a half of them.
    let c = collector(&[(413, "too large")]).await;
    let delivery = sink(&c.url)
        .deliver(&records(5, 1500), Deadline::none())
        .await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(
        c.requests(),
        [
            vec!["f0", "f1", "f2", "f3", "f4"],
            vec!["f0", "f1"],
            vec!["f2", "f3"],
            vec!["f4"]
        ]
    );
}

#[tokio::test]
async fn a_413_for_a_single_record_is_final_not_split_further() {
    let c = collector(&[(413, "too large"), (413, "too large")]).await;
    let delivery = sink(&c.url)
        .deliver(&records(1, 10), Deadline::none())
        .await;
    assert_eq!(c.requests().len(), 1);
    assert!(
        matches!(&delivery.failed[..], [(0, DeliveryError::Rejected(w))] if w.starts_with("HTTP 413")),
        "{:?}",
        delivery.failed
    );
}

#[tokio::test]
async fn a_busy_collector_is_asked_again_and_each_records_second_attempt_is_counted() {
    let c = collector(&[(503, "busy")]).await;
    let delivery = sink(&c.url)
        .deliver(&records(2, 10), Deadline::none())
        .await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(delivery.retries, 2);
    assert_eq!(c.requests(), [vec!["f0", "f1"], vec!["f0", "f1"]]);
}

#[tokio::test]
async fn an_https_url_is_never_refused_as_plain_http() {
    // Nothing answers TLS here: the request fails on the connection, not on its scheme.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("https://{}/in", listener.local_addr().expect("addr"));
    drop(listener);
    let delivery = sink_with(&url, &[("COLLECTOR_ALLOW_HTTP", "false")])
        .deliver(&records(1, 10), Deadline::none())
        .await;
    let [(0, e)] = &delivery.failed[..] else {
        panic!("{:?}", delivery.failed)
    };
    assert!(!e.to_string().contains("plain http"), "{e}");
}

#[tokio::test]
async fn with_acknowledgement_on_a_record_counts_only_once_the_poll_confirms_its_ack_id() {
    let c = collector(&[
        (200, r#"{"text":"Success","code":0,"ackId":7}"#),
        (200, r#"{"acks":{"7":false}}"#),
        (200, r#"{"acks":{"7":true}}"#),
    ])
    .await;
    let hec = sink_with(
        &c.url,
        &[
            ("COLLECTOR_FORMAT", "splunk-hec"),
            ("COLLECTOR_HEC_ACK", "true"),
        ],
    );
    let delivery = hec.deliver(&records(2, 10), Deadline::none()).await;
    assert!(delivery.failed.is_empty(), "{:?}", delivery.failed);
    assert_eq!(delivery.retries, 0, "not sent again");
    let bodies = c.bodies.lock().unwrap().clone();
    assert_eq!(
        bodies[1..],
        [r#"{"acks":[7]}"#, r#"{"acks":[7]}"#],
        "polled until confirmed"
    );
}
