//! A local Amazon Data Firehose that follows the service model for what the forwarder calls
//! (awsJson1_1, `X-Amz-Target: Firehose_20150804.<Operation>`): `PutRecordBatch` with its
//! documented limits (500 records, 1,000 KiB of data per record before base64, 4 MB per
//! request) refused as `InvalidArgumentException` like the service refuses them, an unknown
//! stream as `ResourceNotFoundException`, and `DescribeDeliveryStream`.
//!
//! The world acts at every call, from a seed: a whole request may be throttled
//! (`ServiceUnavailableException`, 400 — the service's "back off and retry"), and each record
//! of an accepted request may fail on its own in the 200 answer (`FailedPutCount`, an entry
//! with `ErrorCode`), which is what a producer must read. Each choice is a function of the
//! seed, the request's or the record's content and how often it was seen before, so a seed
//! replays the same world whatever order concurrent requests arrive in; a record fails at
//! most [`MAX_FAILURES`] times (fewer than the forwarder's attempts), or always when it
//! carries [`ALWAYS_FAILS`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const MAX_RECORDS: usize = 500;
pub const MAX_RECORD_BYTES: usize = 1_000 * 1024;
pub const MAX_REQUEST_BYTES: usize = 4_000_000;
/// The most times one record (or one request) is refused before it is taken.
pub const MAX_FAILURES: u32 = 2;
/// A record whose data contains this fails in every answer.
pub const ALWAYS_FAILS: &str = "firehose-always-fails";

fn draw(seed: u64, content: &[u8], seen: u32) -> u8 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (seed, content, seen).hash(&mut h);
    (h.finish() % 100) as u8
}

#[derive(Default)]
struct State {
    seed: u64,
    /// How often each record's data was refused (alone, or in a throttled request).
    seen: std::collections::HashMap<Vec<u8>, u32>,
    /// Chance (0..=100) a request is throttled, and a record of an accepted one fails.
    throttle_percent: u8,
    record_fail_percent: u8,
    /// Every record data accepted, decoded, in order.
    delivered: Vec<Vec<u8>>,
    /// Records per PutRecordBatch request received, accepted or not.
    requests: Vec<usize>,
    /// What a request broke (limits), as the service would have refused it.
    violations: Vec<String>,
}

#[derive(Clone)]
pub struct Firehose {
    pub addr: SocketAddr,
    stream: String,
    state: Arc<Mutex<State>>,
}

impl Firehose {
    /// A stream named `stream` whose world acts from `seed`.
    pub async fn start(
        stream: &str,
        seed: u64,
        throttle_percent: u8,
        record_fail_percent: u8,
    ) -> Firehose {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let f = Firehose {
            addr: listener.local_addr().expect("addr"),
            stream: stream.to_string(),
            state: Arc::new(Mutex::new(State {
                seed,
                throttle_percent,
                record_fail_percent,
                ..State::default()
            })),
        };
        let server = f.clone();
        super::serve_http(listener, move |req| {
            let server = server.clone();
            async move { server.handle(req).await }
        });
        f
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every accepted record's data, decoded.
    pub fn delivered(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().delivered.clone()
    }

    pub fn requests(&self) -> Vec<usize> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let Ok(input) = serde_json::from_slice::<Value>(&body) else {
            return error("SerializationException", "body is not JSON");
        };
        if input["DeliveryStreamName"].as_str() != Some(self.stream.as_str()) {
            return error("ResourceNotFoundException", "Firehose stream not found");
        }
        match target.as_str() {
            "Firehose_20150804.PutRecordBatch" => self.put_record_batch(&input, &body),
            "Firehose_20150804.DescribeDeliveryStream" => ok(json!({"DeliveryStreamDescription": {
                "DeliveryStreamName": self.stream, "DeliveryStreamStatus": "ACTIVE",
                "DeliveryStreamARN": format!("arn:aws:firehose:us-east-1:123456789012:deliverystream/{}", self.stream),
                "DeliveryStreamType": "DirectPut", "VersionId": "1", "Destinations": [], "HasMoreDestinations": false}})),
            other => error(
                "UnknownOperationException",
                &format!("unknown operation {other}"),
            ),
        }
    }

    fn put_record_batch(&self, input: &Value, body: &[u8]) -> Response<Full<Bytes>> {
        let request_bytes = body.len();
        let records = input["Records"].as_array().cloned().unwrap_or_default();
        let mut state = self.state.lock().unwrap();
        state.requests.push(records.len());
        let mut decoded = Vec::with_capacity(records.len());
        for r in &records {
            match r["Data"].as_str().map(aws_smithy_types::base64::decode) {
                Some(Ok(d)) => decoded.push(d),
                _ => return error("SerializationException", "a record's Data is not base64"),
            }
        }
        let broke = if records.is_empty() || records.len() > MAX_RECORDS {
            Some(format!("{} records", records.len()))
        } else if request_bytes > MAX_REQUEST_BYTES {
            Some(format!("a request of {request_bytes} bytes"))
        } else {
            decoded
                .iter()
                .find(|d| d.len() > MAX_RECORD_BYTES)
                .map(|d| format!("a record of {} bytes", d.len()))
        };
        if let Some(what) = broke {
            state.violations.push(what.clone());
            return error("InvalidArgumentException", &what);
        }
        let (seed, throttle, fail) = (
            state.seed,
            state.throttle_percent,
            state.record_fail_percent,
        );
        // A throttle counts as a failure of every record in the request: no record is
        // refused more than MAX_FAILURES times in all, whatever requests it travels in.
        let failures = |state: &State, d: &[u8]| state.seen.get(d).copied().unwrap_or(0);
        let most = decoded
            .iter()
            .map(|d| failures(&state, d))
            .max()
            .unwrap_or(0);
        if most < MAX_FAILURES && draw(seed, body, most) < throttle {
            for d in &decoded {
                *state.seen.entry(d.clone()).or_default() += 1;
            }
            return error("ServiceUnavailableException", "Slow down.");
        }
        let mut entries = Vec::with_capacity(decoded.len());
        let mut failed = 0;
        let mut accepted = Vec::new();
        for (n, d) in decoded.into_iter().enumerate() {
            let times = failures(&state, &d);
            let always = String::from_utf8_lossy(&d).contains(ALWAYS_FAILS);
            if always || (times < MAX_FAILURES && draw(seed, &d, times) < fail) {
                failed += 1;
                *state.seen.entry(d).or_default() += 1;
                entries.push(json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}));
            } else {
                entries.push(json!({"RecordId": format!("r-{}-{n}", state.delivered.len())}));
                accepted.push(d);
            }
        }
        state.delivered.extend(accepted);
        ok(json!({"FailedPutCount": failed, "Encrypted": false, "RequestResponses": entries}))
    }
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    r.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.1".parse().expect("header"),
    );
    r
}

fn error(kind: &str, message: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        json!({"__type": kind, "message": message}).to_string(),
    )));
    *r.status_mut() = hyper::StatusCode::BAD_REQUEST;
    r.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.1".parse().expect("header"),
    );
    r
}
