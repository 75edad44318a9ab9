//! Stand-ins for the collectors the presets speak to, answering the way each product
//! documents, edges included: Splunk HEC (codes, `invalid-event-number`, channels and
//! indexer acknowledgement; a token with acknowledgement off answers `Success` without an
//! `ackId` and code 14 on `/services/collector/ack`), Elasticsearch `_bulk` (per-item
//! statuses into a data stream, 409 on a known `_id` with ES's own long `reason`, the answer
//! trimmed by `filter_path` as ES does), Datadog logs intake v2 (`DD-API-KEY`, 413 over the
//! size limit, an entry over 1 MB truncated while the intake still answers 202, `validate`)
//! and a Sumo Logic HTTP source (the URL is the credential; a line over 64 KB split into
//! several messages). Each keeps what it would have stored, so tests can check every finding
//! ended where the product keeps it, whole.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::collector::{Received, Reply, Responder};

fn header<'a>(r: &'a Received, name: &str) -> Option<&'a str> {
    r.header(name)
}

fn finding_id(event: &Value) -> String {
    event["id"].as_str().unwrap_or_default().to_string()
}

// ---------------------------------------------------------------- Splunk HEC

#[derive(Default)]
pub struct HecState {
    /// Events indexed (the `event` of each envelope), with their envelopes.
    pub indexed: Vec<Value>,
    /// Answer the next N event posts with 503 code 9 (server busy).
    pub busy: usize,
    /// Finding ids refused as invalid events (code 6 at their position).
    pub invalid: Vec<String>,
    /// Acks answered `false` this many times before `true`.
    pub ack_delay: usize,
    /// Received but not yet indexed, by ack id (acks on).
    pending: BTreeMap<u64, Vec<Value>>,
    next_ack: u64,
    pub ack_polls: usize,
}

#[derive(Clone)]
pub struct Hec {
    pub token: String,
    pub acks: bool,
    pub state: Arc<Mutex<HecState>>,
}

impl Hec {
    pub fn new(token: &str, acks: bool) -> Hec {
        Hec {
            token: token.into(),
            acks,
            state: Default::default(),
        }
    }

    pub fn indexed_ids(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.indexed.iter().map(|e| finding_id(&e["event"])).collect()
    }

    /// Finding ids received and waiting for the indexers' acknowledgement (acks on).
    pub fn pending_ids(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.pending
            .values()
            .flatten()
            .map(|e| finding_id(&e["event"]))
            .collect()
    }

    pub fn responder(&self) -> Responder {
        let hec = self.clone();
        Arc::new(move |r| hec.answer(r))
    }

    fn answer(&self, r: &Received) -> Reply {
        let hec_reply = |status: u16, code: u32, text: &str| {
            Reply::new(status, json!({"text": text, "code": code}).to_string())
        };
        if r.path.starts_with("/services/collector/health") {
            return hec_reply(200, 17, "HEC is healthy");
        }
        match header(r, "authorization") {
            None => return hec_reply(401, 2, "Token is required"),
            Some(v) if v != format!("Splunk {}", self.token) => {
                return hec_reply(403, 4, "Invalid token");
            }
            _ => {}
        }
        let channel = header(r, "x-splunk-request-channel");
        if self.acks && channel.is_none() {
            return hec_reply(400, 10, "Data channel is missing");
        }
        if r.path.starts_with("/services/collector/ack") {
            if !self.acks {
                return hec_reply(400, 14, "ACK is disabled");
            }
            return self.ack(r);
        }
        if !r.path.starts_with("/services/collector/event") {
            return hec_reply(404, 404, "Not found");
        }
        let mut s = self.state.lock().unwrap();
        if s.busy > 0 {
            s.busy -= 1;
            return hec_reply(503, 9, "Server is busy");
        }
        let events: Vec<Value> = serde_json::Deserializer::from_slice(&r.body)
            .into_iter::<Value>()
            .map_while(Result::ok)
            .collect();
        if events.is_empty() {
            return hec_reply(400, 5, "No data");
        }
        let mut taken = Vec::new();
        for (n, e) in events.into_iter().enumerate() {
            if e.get("event").is_none() {
                s.indexed.extend(taken);
                return Reply::new(
                    400,
                    json!({"text":"Event field is required","code":12,"invalid-event-number":n})
                        .to_string(),
                );
            }
            if s.invalid.contains(&finding_id(&e["event"])) {
                s.indexed.extend(taken);
                return Reply::new(
                    400,
                    json!({"text":"Invalid data format","code":6,"invalid-event-number":n})
                        .to_string(),
                );
            }
            taken.push(e);
        }
        if self.acks {
            let id = s.next_ack;
            s.next_ack += 1;
            s.pending.insert(id, taken);
            Reply::new(
                200,
                json!({"text":"Success","code":0,"ackId":id}).to_string(),
            )
        } else {
            s.indexed.extend(taken);
            hec_reply(200, 0, "Success")
        }
    }

    fn ack(&self, r: &Received) -> Reply {
        let asked: Vec<u64> = serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| v["acks"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        let mut s = self.state.lock().unwrap();
        s.ack_polls += 1;
        let mut acks = serde_json::Map::new();
        for id in asked {
            let done = if s.ack_delay > 0 {
                s.ack_delay -= 1;
                false
            } else if let Some(events) = s.pending.remove(&id) {
                s.indexed.extend(events);
                true
            } else {
                false
            };
            acks.insert(id.to_string(), Value::Bool(done));
        }
        Reply::new(200, json!({ "acks": acks }).to_string())
    }
}

// ---------------------------------------------------------------- Elasticsearch

#[derive(Default)]
pub struct ElasticState {
    /// Documents by data stream and `_id`.
    pub docs: BTreeMap<(String, String), Value>,
    /// Statuses to answer for a finding id, one per try, before it is accepted.
    pub script: HashMap<String, VecDeque<u16>>,
    /// Finding ids refused for good (400 mapper_parsing_exception).
    pub refused: Vec<String>,
    /// How many times each `_id` was sent.
    pub sends: HashMap<String, usize>,
    /// The longest `_bulk` answer given, in bytes.
    pub largest_answer: usize,
}

#[derive(Clone)]
pub struct Elastic {
    pub api_key: String,
    pub state: Arc<Mutex<ElasticState>>,
}

impl Elastic {
    pub fn new(api_key: &str) -> Elastic {
        Elastic {
            api_key: api_key.into(),
            state: Default::default(),
        }
    }

    pub fn responder(&self) -> Responder {
        let es = self.clone();
        Arc::new(move |r| es.answer(r))
    }

    fn answer(&self, r: &Received) -> Reply {
        if header(r, "authorization") != Some(&format!("ApiKey {}", self.api_key)) {
            return Reply::new(401, json!({"error":{"type":"security_exception","reason":"unable to authenticate"},"status":401}).to_string());
        }
        let path = r.path.split('?').next().unwrap_or_default();
        match (r.method.as_str(), path) {
            ("GET", "/") => Reply::new(
                200,
                json!({"version":{"number":"8.15.0"},"tagline":"You Know, for Search"}).to_string(),
            ),
            ("POST", "/_security/user/_has_privileges") => {
                Reply::new(200, json!({"has_all_requested": true}).to_string())
            }
            ("POST", "/_bulk") => self.bulk(r),
            _ => Reply::new(404, "{}"),
        }
    }

    fn bulk(&self, r: &Received) -> Reply {
        let text = String::from_utf8_lossy(&r.body).to_string();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut s = self.state.lock().unwrap();
        let mut items = Vec::new();
        let mut errors = false;
        for pair in lines.chunks(2) {
            let action: Value = serde_json::from_str(pair[0]).unwrap_or(Value::Null);
            let doc: Value = pair
                .get(1)
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            let Some(meta) = action.get("create") else {
                errors = true;
                items.push(json!({"index":{"status":400,"error":{"type":"illegal_argument_exception","reason":"only create is allowed on a data stream"}}}));
                continue;
            };
            let index = meta["_index"].as_str().unwrap_or_default().to_string();
            let id = meta["_id"].as_str().unwrap_or_default().to_string();
            *s.sends.entry(id.clone()).or_default() += 1;
            let fid = finding_id(&doc);
            let scripted = s.script.get_mut(&fid).and_then(VecDeque::pop_front);
            let (status, error) = if let Some(code) = scripted {
                (code, Some(("es_rejected_execution_exception", "scripted")))
            } else if s.refused.contains(&fid) {
                (
                    400,
                    Some(("mapper_parsing_exception", "failed to parse field")),
                )
            } else if doc.get("@timestamp").is_none() {
                (
                    400,
                    Some((
                        "illegal_argument_exception",
                        "data stream timestamp field [@timestamp] is missing",
                    )),
                )
            } else {
                match s.docs.entry((index.clone(), id.clone())) {
                    std::collections::btree_map::Entry::Occupied(_) => (
                        409,
                        Some((
                            "version_conflict_engine_exception",
                            "document already exists",
                        )),
                    ),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(doc);
                        (201, None)
                    }
                }
            };
            // Each item as ES writes it: the backing index, and a reason quoting the `_id`.
            let backing = format!(".ds-{index}-2026.12.06-000001");
            let mut item = json!({"_index": backing, "_id": id, "_version": 1, "result": "created",
                "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0,
                "_primary_term": 1, "status": status});
            if let Some((kind, reason)) = error {
                errors = true;
                let reason = if status == 409 {
                    format!(
                        "[{id}]: version conflict, document already exists (current version [1])"
                    )
                } else {
                    reason.to_string()
                };
                item["error"] = json!({"type": kind, "reason": reason,
                    "index_uuid": "mQ3ZkpLcTq2OW1pX0n9r1w", "shard": "0", "index": backing});
                for k in ["_version", "result", "_shards", "_seq_no", "_primary_term"] {
                    item.as_object_mut().unwrap().remove(k);
                }
            }
            items.push(json!({ "create": filtered(item, &r.path) }));
        }
        let answer = if r.path.contains("filter_path=") {
            json!({"errors": errors, "items": items}).to_string()
        } else {
            json!({"took": 3, "errors": errors, "items": items}).to_string()
        };
        s.largest_answer = s.largest_answer.max(answer.len());
        Reply::new(200, answer)
    }

    /// The finding ids stored in `data_stream`.
    pub fn stored_ids(&self, data_stream: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.docs
            .iter()
            .filter(|((ds, _), _)| ds == data_stream)
            .map(|(_, d)| finding_id(d))
            .collect()
    }
}

/// An item trimmed the way ES applies `filter_path=...items.*.status,items.*.error.type,
/// items.*.error.reason` (only when the request asks for it).
fn filtered(item: Value, path: &str) -> Value {
    if !path.contains("filter_path=") {
        return item;
    }
    let mut out = json!({"status": item["status"]});
    if let Some(e) = item.get("error") {
        out["error"] = json!({"type": e["type"], "reason": e["reason"]});
    }
    out
}

// ---------------------------------------------------------------- Datadog

/// The intake's limit per log entry: longer entries are truncated, and still answered 202.
pub const DATADOG_MAX_ENTRY: usize = 1_000_000;

#[derive(Default)]
pub struct DatadogState {
    pub logs: Vec<Value>,
    pub too_large: usize,
    /// Entries kept truncated (their text cut at [`DATADOG_MAX_ENTRY`]).
    pub truncated: usize,
}

#[derive(Clone)]
pub struct Datadog {
    pub api_key: String,
    /// Bodies over this many bytes get 413 (the real intake: 5 MB).
    pub max_body: usize,
    pub state: Arc<Mutex<DatadogState>>,
}

impl Datadog {
    pub fn new(api_key: &str, max_body: usize) -> Datadog {
        Datadog {
            api_key: api_key.into(),
            max_body,
            state: Default::default(),
        }
    }

    pub fn responder(&self) -> Responder {
        let dd = self.clone();
        Arc::new(move |r| dd.answer(r))
    }

    fn answer(&self, r: &Received) -> Reply {
        if header(r, "dd-api-key") != Some(self.api_key.as_str()) {
            return Reply::new(403, json!({"errors":["Forbidden"]}).to_string());
        }
        if r.path.starts_with("/api/v1/validate") {
            return Reply::new(200, json!({"valid": true}).to_string());
        }
        if !r.path.starts_with("/api/v2/logs") {
            return Reply::new(404, "{}");
        }
        let mut s = self.state.lock().unwrap();
        if r.body.len() > self.max_body {
            s.too_large += 1;
            return Reply::new(
                413,
                json!({"errors":[{"status":"413","title":"Payload Too Large"}]}).to_string(),
            );
        }
        match serde_json::from_slice::<Vec<Value>>(&r.body) {
            Ok(entries) if entries.len() <= 1000 => {
                for entry in entries {
                    let text = entry.to_string();
                    if text.len() > DATADOG_MAX_ENTRY {
                        // What Datadog keeps of it: the first megabyte, as text.
                        s.truncated += 1;
                        let cut: String = text.chars().take(DATADOG_MAX_ENTRY).collect();
                        s.logs.push(json!({"message": cut, "truncated": true}));
                    } else {
                        s.logs.push(entry);
                    }
                }
                Reply::new(202, "{}")
            }
            _ => Reply::new(
                400,
                json!({"errors":[{"status":"400","title":"Bad Request"}]}).to_string(),
            ),
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .logs
            .iter()
            .map(finding_id)
            .collect()
    }
}

// ---------------------------------------------------------------- Sumo Logic

/// Messages a Sumo source kept (raw text), with the category each came under.
type SumoLines = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// Sumo's limit per message: a longer line is split into messages of at most this.
pub const SUMO_MAX_MESSAGE: usize = 65_536;

#[derive(Clone)]
pub struct Sumo {
    /// The secret part of the source URL.
    pub token: String,
    pub lines: SumoLines,
}

impl Sumo {
    pub fn new(token: &str) -> Sumo {
        Sumo {
            token: token.into(),
            lines: Default::default(),
        }
    }

    pub fn path(&self) -> String {
        format!("/receiver/v1/http/{}", self.token)
    }

    pub fn responder(&self) -> Responder {
        let sumo = self.clone();
        Arc::new(move |r| {
            if r.path != sumo.path() {
                return Reply::new(401, "");
            }
            let category = r.header("x-sumo-category").map(str::to_string);
            let mut lines = sumo.lines.lock().unwrap();
            for l in r.body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                for piece in l.chunks(SUMO_MAX_MESSAGE) {
                    lines.push((category.clone(), String::from_utf8_lossy(piece).to_string()));
                }
            }
            Reply::new(200, "")
        })
    }

    /// The ids of the messages that are whole records.
    pub fn ids(&self) -> Vec<String> {
        self.messages()
            .iter()
            .filter_map(|m| serde_json::from_str::<Value>(m).ok())
            .map(|v| finding_id(&v))
            .collect()
    }

    /// Every message as Sumo stored it.
    pub fn messages(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }
}

// ---------------------------------------------------------------- Google SecOps webhook

#[derive(Default)]
pub struct SecopsState {
    /// Each line of every accepted body, parsed: the raw findings the feed ingested.
    pub logs: Vec<Value>,
    /// Answer the next N posts with 429 (quota), `Retry-After: 1`.
    pub throttle: usize,
    pub too_large: usize,
    pub throttled: usize,
}

/// A webhook feed: `X-goog-api-key` (401 `UNAUTHENTICATED` when wrong, as Google APIs answer
/// an invalid key), `X-Webhook-Access-Key` (403 `PERMISSION_DENIED`), 413 over `max_body`
/// (the real feed: 4 MB), 429 `RESOURCE_EXHAUSTED`, 400 for an empty body; newline-separated
/// JSON logs, each kept whole.
#[derive(Clone)]
pub struct Secops {
    pub api_key: String,
    pub secret: String,
    pub max_body: usize,
    pub state: Arc<Mutex<SecopsState>>,
}

/// The path of a feed's endpoint, as the feed's page shows it.
pub const SECOPS_PATH: &str =
    "/v1alpha/projects/p1/locations/us/instances/i1/feeds/f1:importPushLogs";

fn google_error(code: u16, status: &str, message: &str) -> Reply {
    Reply::new(
        code,
        json!({"error": {"code": code, "message": message, "status": status}}).to_string(),
    )
}

impl Secops {
    pub fn new(api_key: &str, secret: &str, max_body: usize) -> Secops {
        Secops {
            api_key: api_key.into(),
            secret: secret.into(),
            max_body,
            state: Default::default(),
        }
    }

    pub fn responder(&self) -> Responder {
        let feed = self.clone();
        Arc::new(move |r| feed.answer(r))
    }

    fn answer(&self, r: &Received) -> Reply {
        if header(r, "x-goog-api-key") != Some(self.api_key.as_str()) {
            return google_error(
                401,
                "UNAUTHENTICATED",
                "API key not valid. Please pass a valid API key.",
            );
        }
        if header(r, "x-webhook-access-key") != Some(self.secret.as_str()) {
            return google_error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            );
        }
        if r.path != SECOPS_PATH {
            return google_error(404, "NOT_FOUND", "Feed not found");
        }
        let mut s = self.state.lock().unwrap();
        if r.body.len() > self.max_body {
            s.too_large += 1;
            return google_error(
                413,
                "INVALID_ARGUMENT",
                "Request payload size exceeds the limit",
            );
        }
        if s.throttle > 0 {
            s.throttle -= 1;
            s.throttled += 1;
            let mut reply = google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded");
            reply.headers.push(("retry-after", "1".into()));
            return reply;
        }
        let lines: Vec<&[u8]> = r
            .body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            return google_error(400, "INVALID_ARGUMENT", "Empty request body");
        }
        for l in lines {
            let v = serde_json::from_slice(l).unwrap_or_else(|_| json!({"unparsed": true}));
            s.logs.push(v);
        }
        Reply::new(200, "{}")
    }

    pub fn ids(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .logs
            .iter()
            .map(finding_id)
            .collect()
    }
}

// ---------------------------------------------------------------- Microsoft Entra ID

#[derive(Default)]
pub struct EntraState {
    /// Tokens issued, in order; the ingestion stand-in accepts only these.
    pub issued: Vec<String>,
}

/// The Entra ID token endpoint (`/{tenant}/oauth2/v2.0/token`): client credentials checked
/// as Entra ID does (`invalid_client` with an `AADSTS` description when the secret is
/// wrong, `invalid_scope` for another scope), tokens that live `lifetime` seconds.
#[derive(Clone)]
pub struct Entra {
    pub tenant: String,
    pub client_id: String,
    pub secret: String,
    pub lifetime: u64,
    pub state: Arc<Mutex<EntraState>>,
}

fn form(body: &[u8]) -> HashMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).to_string()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

impl Entra {
    pub fn new(tenant: &str, client_id: &str, secret: &str, lifetime: u64) -> Entra {
        Entra {
            tenant: tenant.into(),
            client_id: client_id.into(),
            secret: secret.into(),
            lifetime,
            state: Default::default(),
        }
    }

    pub fn responder(&self) -> Responder {
        let entra = self.clone();
        Arc::new(move |r| entra.answer(r))
    }

    pub fn tokens_issued(&self) -> usize {
        self.state.lock().unwrap().issued.len()
    }

    fn answer(&self, r: &Received) -> Reply {
        let refuse = |status: u16, error: &str, description: &str| {
            Reply::new(
                status,
                json!({"error": error, "error_description": description,
                       "error_codes": [7000215], "trace_id": "0b5c-trace"})
                .to_string(),
            )
        };
        if r.method != "POST" || r.path != format!("/{}/oauth2/v2.0/token", self.tenant) {
            return refuse(404, "not_found", "AADSTS90002: Tenant not found.");
        }
        if header(r, "content-type") != Some("application/x-www-form-urlencoded") {
            return refuse(
                400,
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
            );
        }
        let f = form(&r.body);
        if f.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return refuse(
                400,
                "unsupported_grant_type",
                "AADSTS70003: unsupported grant type",
            );
        }
        if f.get("client_id") != Some(&self.client_id) {
            return refuse(
                400,
                "unauthorized_client",
                "AADSTS700016: Application not found in the directory.",
            );
        }
        if f.get("client_secret") != Some(&self.secret) {
            return refuse(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            );
        }
        if f.get("scope").map(String::as_str) != Some("https://monitor.azure.com//.default") {
            return refuse(
                400,
                "invalid_scope",
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
            );
        }
        let mut s = self.state.lock().unwrap();
        let token = format!("eyJ0eXAi.token-{}.{:x}", s.issued.len(), fastrand::u64(..));
        s.issued.push(token.clone());
        Reply::new(
            200,
            json!({"token_type": "Bearer", "expires_in": self.lifetime,
                   "ext_expires_in": self.lifetime, "access_token": token})
            .to_string(),
        )
    }
}

// ---------------------------------------------------------------- Azure Monitor Logs Ingestion

/// What the service does past this many bytes of one field: truncates it.
pub const SENTINEL_MAX_FIELD: usize = 64 * 1024;

#[derive(Default)]
pub struct IngestionState {
    /// Entries stored, as the table holds them (a field over 64 KB cut).
    pub rows: Vec<Value>,
    /// Answer the next N calls with 429 and `Retry-After: 1`.
    pub throttle: usize,
    pub throttled: usize,
    pub too_large: usize,
    /// Fields the service cut at 64 KB.
    pub truncated: usize,
    /// The bearer tokens seen.
    pub tokens: Vec<String>,
}

/// A data collection endpoint: `POST /dataCollectionRules/{dcr}/streams/{stream}
/// ?api-version=2023-01-01` with a bearer token Entra ID issued, a JSON array of at most
/// 1 MB (413 past it), 204 on success, 429 with `Retry-After` when throttled, 404 for
/// another rule or stream.
#[derive(Clone)]
pub struct LogsIngestion {
    pub dcr: String,
    pub stream: String,
    pub entra: Entra,
    pub max_body: usize,
    pub state: Arc<Mutex<IngestionState>>,
}

fn azure_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(
        status,
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
}

/// `value` as the table stores it: each string longer than 64 KB cut; the count of cuts.
fn cut_fields(value: &mut Value) -> usize {
    match value {
        Value::String(s) if s.len() > SENTINEL_MAX_FIELD => {
            let mut end = SENTINEL_MAX_FIELD;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            1
        }
        Value::Object(o) => o
            .values_mut()
            .map(|v| {
                // A dynamic column over 64 KB is cut as text.
                let text = v.to_string();
                if matches!(v, Value::Object(_) | Value::Array(_))
                    && text.len() > SENTINEL_MAX_FIELD
                {
                    *v = Value::String(text[..SENTINEL_MAX_FIELD].to_string());
                    1
                } else {
                    cut_fields(v)
                }
            })
            .sum(),
        _ => 0,
    }
}

impl LogsIngestion {
    pub fn new(dcr: &str, stream: &str, entra: &Entra) -> LogsIngestion {
        LogsIngestion {
            dcr: dcr.into(),
            stream: stream.into(),
            entra: entra.clone(),
            max_body: 1_000_000,
            state: Default::default(),
        }
    }

    pub fn path(&self) -> String {
        format!(
            "/dataCollectionRules/{}/streams/{}?api-version=2023-01-01",
            self.dcr, self.stream
        )
    }

    pub fn responder(&self) -> Responder {
        let dce = self.clone();
        Arc::new(move |r| dce.answer(r))
    }

    fn answer(&self, r: &Received) -> Reply {
        let token = header(r, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string();
        if !self.entra.state.lock().unwrap().issued.contains(&token) {
            return azure_error(401, "InvalidToken", "The provided token is not valid.");
        }
        if r.path != self.path() {
            return azure_error(404, "NotFound", "Data collection rule or stream not found.");
        }
        let mut s = self.state.lock().unwrap();
        s.tokens.push(token);
        if r.body.len() > self.max_body {
            s.too_large += 1;
            return azure_error(
                413,
                "ContentLengthLimitExceeded",
                "Maximum allowed content length: 1048576 bytes (1 MB).",
            );
        }
        if s.throttle > 0 {
            s.throttle -= 1;
            s.throttled += 1;
            let mut reply = azure_error(429, "TooManyRequests", "Rate limit exceeded.");
            reply.headers.push(("retry-after", "1".into()));
            return reply;
        }
        let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(&r.body) else {
            return azure_error(400, "InvalidPayload", "The payload is not a JSON array.");
        };
        for mut e in entries {
            if e.get("TimeGenerated").and_then(Value::as_str).is_none() {
                return azure_error(400, "InvalidPayload", "TimeGenerated is required.");
            }
            s.truncated += cut_fields(&mut e);
            s.rows.push(e);
        }
        Reply::new(204, "")
    }

    pub fn ids(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .rows
            .iter()
            .map(finding_id)
            .collect()
    }
}
