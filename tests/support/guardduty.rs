//! A local GuardDuty that follows the service model (restJson1): `GET /detector`,
//! `POST /detector/{id}/findings` (ListFindings), `POST /detector/{id}/findings/get`
//! (GetFindings); camelCase JSON; `updatedAt`, `service.archived` and `severity` criteria
//! with the service model's operators (an unknown one, `matches` outside filters or an
//! argument of the wrong type: 400 `BadRequestException`, as GuardDuty answers); sort;
//! `maxResults` 1-50 and at most 50 ids (400 `BadRequestException` otherwise); `nextToken`;
//! injectable throttling (429 `TooManyRequestsException`) and a repeating `nextToken`.
//! The region comes from the request's SigV4 credential scope, like the real endpoint's.
//!
//! Findings are stored as EventBridge carries them (`detail`); GetFindings answers in the
//! API's wire shape, converted by walking the member paths the service model marks as
//! timestamps (epoch seconds) or `{value, type}` JSON text (`tests/fixtures/guardduty-wire`).
//! Like GuardDuty itself, it can update findings between ListFindings and GetFindings,
//! leave ids out of GetFindings, and fail a GetFindings call.
//! The organization model: `GET /detector/{id}/administrator` (GetAdministratorAccount) and
//! `GET /detector/{id}/member` (ListMembers) answer what [`GuardDuty::administrator`] and
//! [`GuardDuty::members`] set per region.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub region: String,
    pub access_key: String,
    pub path: String,
    pub body: Value,
    pub status: u16,
}

#[derive(Default)]
struct State {
    /// region → detector id → findings
    data: HashMap<String, BTreeMap<String, Vec<Value>>>,
    throttle_next: u32,
    repeat_tokens: bool,
    seen: Vec<Seen>,
    /// Ids updated (to now) right after a ListFindings answer that lists them, once each.
    update_after_list: HashSet<String>,
    /// Ids GetFindings never returns.
    omit_from_get: HashSet<String>,
    /// GetFindings calls still to fail with a 400.
    fail_gets: u32,
    /// How long every answer takes.
    delay: std::time::Duration,
    /// region → the administrator account of this account's detector
    administrator: HashMap<String, String>,
    /// region → member accounts of this (administrator) account's detector
    members: HashMap<String, Vec<String>>,
}

#[derive(Clone)]
pub struct GuardDuty {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

pub fn iso(ms: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("time");
    t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .expect("format")
}

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A realistic finding (the shape of AWS's sample EC2 finding) with the given identity.
pub fn finding(
    region: &str,
    detector: &str,
    id: &str,
    updated_ms: i64,
    archived: bool,
    severity: f64,
) -> Value {
    json!({
        "accountId": "123456789012",
        "arn": format!("arn:aws:guardduty:{region}:123456789012:detector/{detector}/finding/{id}"),
        "createdAt": iso(updated_ms - 60_000),
        "description": "EC2 instance i-99999999 is communicating with a remote host on a known Tor exit node.",
        "id": id,
        "partition": "aws",
        "region": region,
        "resource": {
            "instanceDetails": {"instanceId": "i-99999999", "instanceType": "m3.xlarge",
                "networkInterfaces": [{"privateIpAddress": "10.0.0.1", "publicIp": "198.51.100.0"}],
                "tags": [{"key": "Name", "value": "web"}]},
            "resourceType": "Instance"
        },
        "schemaVersion": "2.0",
        "service": {
            "action": {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                "blocked": false, "connectionDirection": "OUTBOUND", "protocol": "TCP",
                "remoteIpDetails": {"ipAddressV4": "198.51.100.7", "country": {"countryName": "Ütopia"}}}},
            "archived": archived,
            "count": 3,
            "detectorId": detector,
            "eventFirstSeen": iso(updated_ms - 3_600_000),
            "eventLastSeen": iso(updated_ms),
            "resourceRole": "TARGET",
            "serviceName": "guardduty",
            "additionalInfo": {"threatListName": "ProofPoint", "sample": false}
        },
        "severity": severity,
        "title": "Tor exit node traffic",
        "type": "UnauthorizedAccess:EC2/TorClient",
        "updatedAt": iso(updated_ms)
    })
}

/// The member paths whose wire JSON differs from EventBridge's (see the fixture's README).
fn wire_members() -> Vec<(String, Vec<String>)> {
    let path = super::fixtures().join("guardduty-wire/wire-members.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(' '))
        .map(|(kind, p)| (kind.to_string(), p.split('.').map(str::to_string).collect()))
        .collect()
}

fn convert(v: &mut Value, path: &[String], kind: &str) {
    let Some((head, rest)) = path.split_first() else {
        match kind {
            "timestamp" => {
                if let Some(t) = v.as_str().and_then(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .ok()
                }) {
                    let secs = t.unix_timestamp_nanos() as f64 / 1e9;
                    *v = json!((secs * 1000.0).round() / 1000.0);
                }
            }
            "json-text" if v.is_object() => {
                *v = json!({"value": v.to_string(), "type": "default"});
            }
            _ => {}
        }
        return;
    };
    let (key, each) = match head.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (head.as_str(), false),
    };
    let Some(child) = v.get_mut(key) else { return };
    match (each, child) {
        (true, Value::Array(items)) => items.iter_mut().for_each(|i| convert(i, rest, kind)),
        (false, c) => convert(c, rest, kind),
        _ => {}
    }
}

/// A finding as GetFindings puts it on the wire, from its EventBridge `detail`.
pub fn wire(detail: &Value) -> Value {
    let mut v = detail.clone();
    for (kind, path) in wire_members() {
        convert(&mut v, &path, &kind);
    }
    v
}

fn error(status: u16, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        json!({"message": message, "__type": kind}).to_string(),
    )));
    *r.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
    r.headers_mut()
        .insert("x-amzn-errortype", kind.parse().expect("header"));
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    r
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("header"));
    r
}

/// A finding's `updatedAt` in epoch ms; `None` when it has none (it then meets no time
/// condition, rather than comparing as the epoch).
fn updated_ms(f: &Value) -> Option<i64> {
    let s = f["updatedAt"].as_str()?;
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The service model's `Condition` members: list-of-string operators, then integer ones
/// (`gt`..`lte` are the deprecated 32-bit forms).
const LIST_OPERATORS: [&str; 4] = ["eq", "neq", "equals", "notEquals"];
const NUMBER_OPERATORS: [&str; 8] = [
    "gt",
    "gte",
    "lt",
    "lte",
    "greaterThan",
    "greaterThanOrEqual",
    "lessThan",
    "lessThanOrEqual",
];

/// The request's `findingCriteria.criterion` (none: every finding); a `findingCriteria` or
/// `criterion` that is not an object is a malformed request, refused as GuardDuty does.
fn criterion_of(body: &Value) -> Result<serde_json::Map<String, Value>, &'static str> {
    match &body["findingCriteria"] {
        Value::Null => Ok(Default::default()),
        Value::Object(criteria) => match criteria.get("criterion") {
            None | Some(Value::Null) => Ok(Default::default()),
            Some(Value::Object(c)) => Ok(c.clone()),
            Some(_) => Err("findingCriteria.criterion must map field names to conditions"),
        },
        _ => Err("findingCriteria must be an object"),
    }
}

/// What GuardDuty refuses in a ListFindings criterion, as its 400 message.
fn refused(criterion: &serde_json::Map<String, Value>) -> Option<String> {
    for (field, cond) in criterion {
        let Some(cond) = cond.as_object() else {
            return Some(format!("criterion {field} is not a condition"));
        };
        for (op, arg) in cond {
            let ok = if LIST_OPERATORS.contains(&op.as_str()) {
                arg.as_array()
                    .is_some_and(|a| a.len() <= 50 && a.iter().all(Value::is_string))
            } else if NUMBER_OPERATORS.contains(&op.as_str()) {
                arg.is_i64()
            } else if op == "matches" || op == "notMatches" {
                return Some(format!(
                    "{op} is available only for create-filter and update-filter"
                ));
            } else {
                return Some(format!("unknown condition operator {op} on {field}"));
            };
            if !ok {
                return Some(format!("invalid argument for {op} on {field}"));
            }
        }
    }
    None
}

/// Whether a finding meets one criterion condition (already checked by [`refused`]).
fn meets(finding: &Value, field: &str, cond: &Value) -> bool {
    let value = match field {
        "updatedAt" => updated_ms(finding).map_or(Value::Null, |ms| json!(ms)),
        "service.archived" => json!(
            finding["service"]["archived"]
                .as_bool()
                .unwrap_or(false)
                .to_string()
        ),
        "severity" => finding["severity"].clone(),
        other => finding
            .pointer(&format!("/{}", other.replace('.', "/")))
            .cloned()
            .unwrap_or(Value::Null),
    };
    let num = value.as_f64();
    let Some(c) = cond.as_object() else {
        return true;
    };
    // A list operator's values are strings; a number (severity) matches its decimal text.
    let is = |x: &Value| {
        x == &value
            || x.as_str() == value.as_str()
            || num.is_some() && x.as_str().and_then(|s| s.parse::<f64>().ok()) == num
    };
    // A field without a number meets no numeric condition.
    let cmp = |arg: &Value| num?.partial_cmp(&arg.as_f64()?);
    use std::cmp::Ordering::{Equal, Greater, Less};
    c.iter().all(|(op, arg)| match op.as_str() {
        "equals" | "eq" => arg.as_array().is_some_and(|a| a.iter().any(is)),
        "notEquals" | "neq" => arg.as_array().is_some_and(|a| !a.iter().any(is)),
        // The deprecated 32-bit forms and their 64-bit successors.
        "greaterThanOrEqual" | "gte" => matches!(cmp(arg), Some(Greater | Equal)),
        "greaterThan" | "gt" => cmp(arg) == Some(Greater),
        "lessThanOrEqual" | "lte" => matches!(cmp(arg), Some(Less | Equal)),
        "lessThan" | "lt" => cmp(arg) == Some(Less),
        _ => false,
    })
}

impl GuardDuty {
    pub async fn start() -> GuardDuty {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let gd = GuardDuty {
            addr: listener.local_addr().expect("addr"),
            state: Default::default(),
        };
        let server = gd.clone();
        super::serve_http(listener, move |req| {
            let server = server.clone();
            async move { server.handle(req).await }
        });
        gd
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, region: &str, detector: &str, findings: Vec<Value>) {
        let mut st = self.state.lock().unwrap();
        st.data
            .entry(region.into())
            .or_default()
            .entry(detector.into())
            .or_default()
            .extend(findings);
    }

    /// Adds an (empty) detector.
    pub fn detector(&self, region: &str, detector: &str) {
        self.add(region, detector, Vec::new());
    }

    /// Makes this account a member of `account`'s GuardDuty organization in `region`.
    pub fn administrator(&self, region: &str, account: &str) {
        let mut st = self.state.lock().unwrap();
        st.administrator.insert(region.into(), account.into());
    }

    /// Makes this account the GuardDuty administrator of `accounts` in `region`.
    pub fn members(&self, region: &str, accounts: &[&str]) {
        let mut st = self.state.lock().unwrap();
        let list = accounts.iter().map(|a| (*a).to_string()).collect();
        st.members.insert(region.into(), list);
    }

    pub fn throttle_next(&self, n: u32) {
        self.state.lock().unwrap().throttle_next = n;
    }

    pub fn repeat_tokens(&self, on: bool) {
        self.state.lock().unwrap().repeat_tokens = on;
    }

    /// Updates these findings (their `updatedAt` to now) right after the next ListFindings
    /// answer that lists each, as GuardDuty does when a finding's `count` goes up.
    pub fn update_after_list(&self, ids: &[&str]) {
        let mut st = self.state.lock().unwrap();
        st.update_after_list
            .extend(ids.iter().map(|s| s.to_string()));
    }

    /// GetFindings leaves these ids out of its answers (an empty list: none).
    pub fn omit_from_get(&self, ids: &[&str]) {
        let mut st = self.state.lock().unwrap();
        st.omit_from_get = ids.iter().map(|s| s.to_string()).collect();
    }

    /// Every answer takes this long (a slow API).
    pub fn delay(&self, d: std::time::Duration) {
        self.state.lock().unwrap().delay = d;
    }

    /// The next `n` GetFindings calls fail with 400 `BadRequestException`.
    pub fn fail_gets(&self, n: u32) {
        self.state.lock().unwrap().fail_gets = n;
    }

    /// Replaces a stored finding (same id) or adds it.
    pub fn put(&self, region: &str, detector: &str, finding: Value) {
        let mut st = self.state.lock().unwrap();
        let list = st
            .data
            .entry(region.into())
            .or_default()
            .entry(detector.into())
            .or_default();
        list.retain(|f| f["id"] != finding["id"]);
        list.push(finding);
    }

    /// The stored (EventBridge-shaped) finding with this id.
    pub fn get(&self, region: &str, detector: &str, id: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.data
            .get(region)?
            .get(detector)?
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
    }

    /// Sends one raw ListFindings-style request (any JSON body, signed for `region` in the
    /// credential scope only) and returns the status, the `x-amzn-errortype` header and the
    /// JSON body: for requests the SDK cannot even build.
    pub async fn post_raw(&self, region: &str, path: &str, body: &str) -> (u16, String, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect to the stand-in");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/{region}/guardduty/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        tcp.write_all(request.as_bytes()).await.expect("send");
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.expect("read");
        let text = String::from_utf8_lossy(&answer).into_owned();
        let (head, payload) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let kind = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("x-amzn-errortype")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default();
        (
            status,
            kind,
            serde_json::from_str(payload).unwrap_or(Value::Null),
        )
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        // "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/guardduty/aws4_request, ..."
        let scope: Vec<&str> = auth
            .split("Credential=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .map(|s| s.split('/').collect())
            .unwrap_or_default();
        let (access_key, region) = (
            scope.first().copied().unwrap_or_default(),
            scope.get(2).copied().unwrap_or_default(),
        );
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let raw = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        let delay = self.state.lock().unwrap().delay;
        tokio::time::sleep(delay).await;
        let response = self.route(method.as_str(), &path, &query, region, &body);
        self.state.lock().unwrap().seen.push(Seen {
            region: region.into(),
            access_key: access_key.into(),
            path,
            body,
            status: response.status().as_u16(),
        });
        response
    }

    fn route(
        &self,
        method: &str,
        path: &str,
        query: &str,
        region: &str,
        body: &Value,
    ) -> Response<Full<Bytes>> {
        let mut st = self.state.lock().unwrap();
        if region.is_empty() {
            return error(
                403,
                "AccessDeniedException",
                "missing SigV4 credential scope",
            );
        }
        if st.throttle_next > 0 {
            st.throttle_next -= 1;
            return error(429, "TooManyRequestsException", "Rate exceeded");
        }
        let repeat = st.repeat_tokens;
        let fail_get = path.ends_with("/findings/get") && st.fail_gets > 0;
        if fail_get {
            st.fail_gets -= 1;
        }
        let omit = st.omit_from_get.clone();
        let st = &mut *st;
        let detectors = st.data.entry(region.to_string()).or_default();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["detector"]) => {
                let params: HashMap<&str, &str> = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .collect();
                let max: usize = params
                    .get("maxResults")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(50);
                if !(1..=50).contains(&max) {
                    return error(400, "BadRequestException", "maxResults must be 1-50");
                }
                let offset: usize = params
                    .get("nextToken")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let ids: Vec<&String> = detectors.keys().collect();
                let page: Vec<&String> = ids.iter().skip(offset).take(max).copied().collect();
                let next = (offset + max < ids.len()).then(|| (offset + max).to_string());
                ok(json!({"detectorIds": page, "nextToken": next.unwrap_or_default()}))
            }
            ("POST", ["detector", detector_id, "findings"]) => {
                let Some(findings) = detectors.get(*detector_id) else {
                    return error(
                        400,
                        "BadRequestException",
                        "The request is rejected because the input detectorId is not owned by the current account.",
                    );
                };
                let max = body["maxResults"].as_u64().unwrap_or(50) as usize;
                if !(1..=50).contains(&max) {
                    return error(400, "BadRequestException", "maxResults must be 1-50");
                }
                let criterion = match criterion_of(body) {
                    Ok(c) => c,
                    Err(why) => return error(400, "BadRequestException", why),
                };
                if let Some(why) = refused(&criterion) {
                    return error(400, "BadRequestException", &why);
                }
                let mut matching: Vec<&Value> = findings
                    .iter()
                    .filter(|f| criterion.iter().all(|(field, c)| meets(f, field, c)))
                    .collect();
                if body["sortCriteria"]["attributeName"] == "updatedAt" {
                    matching.sort_by_key(|f| updated_ms(f));
                    if body["sortCriteria"]["orderBy"] == "DESC" {
                        matching.reverse();
                    }
                }
                let offset: usize = body["nextToken"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("page-"))
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let page: Vec<&Value> = matching.iter().skip(offset).take(max).copied().collect();
                let next = if offset + max < matching.len() {
                    // A broken service would hand out the same token again.
                    if repeat && offset > 0 {
                        format!("page-{offset}")
                    } else {
                        format!("page-{}", offset + max)
                    }
                } else {
                    String::new()
                };
                let ids: Vec<Value> = page.iter().map(|f| f["id"].clone()).collect();
                let bump: Vec<String> = ids
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|id| st.update_after_list.contains(*id))
                    .map(str::to_string)
                    .collect();
                for id in &bump {
                    st.update_after_list.remove(id);
                    let later = now_ms();
                    if let Some(f) = st
                        .data
                        .get_mut(region)
                        .and_then(|d| d.get_mut(*detector_id))
                        .and_then(|fs| fs.iter_mut().find(|f| f["id"] == id.as_str()))
                    {
                        f["updatedAt"] = json!(iso(later));
                        f["service"]["count"] =
                            json!(f["service"]["count"].as_u64().unwrap_or(1) + 1);
                    }
                }
                ok(json!({"findingIds": ids, "nextToken": next}))
            }
            ("POST", ["detector", id, "findings", "get"]) => {
                if fail_get {
                    return error(400, "BadRequestException", "injected GetFindings failure");
                }
                let Some(findings) = detectors.get(*id) else {
                    return error(400, "BadRequestException", "unknown detector");
                };
                let ids: Vec<&str> = body["findingIds"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if ids.is_empty() || ids.len() > 50 {
                    return error(
                        400,
                        "BadRequestException",
                        "findingIds must have 1-50 items",
                    );
                }
                // The real API does not promise the request's order: answer in reverse.
                let found: Vec<Value> = ids
                    .iter()
                    .rev()
                    .filter(|id| !omit.contains(**id))
                    .filter_map(|id| findings.iter().find(|f| f["id"] == *id))
                    .map(wire)
                    .collect();
                ok(json!({"findings": found}))
            }
            ("GET", ["detector", id, "administrator"]) => {
                if !detectors.contains_key(*id) {
                    return error(400, "BadRequestException", "unknown detector");
                }
                match st.administrator.get(region) {
                    Some(admin) => ok(json!({"administrator": {
                        "accountId": admin, "invitationId": "inv-1",
                        "relationshipStatus": "Enabled", "invitedAt": "2026-01-01T00:00:00.000Z"}})),
                    None => ok(json!({})),
                }
            }
            ("GET", ["detector", id, "member"]) => {
                if !detectors.contains_key(*id) {
                    return error(400, "BadRequestException", "unknown detector");
                }
                let members: Vec<Value> = st
                    .members
                    .get(region)
                    .into_iter()
                    .flatten()
                    .map(|a| json!({"accountId": a, "detectorId": format!("det-{a}"), "masterId": "self",
                                   "administratorId": "self", "email": format!("{a}@example.com"),
                                   "relationshipStatus": "Enabled", "updatedAt": "2026-01-01T00:00:00.000Z"}))
                    .collect();
                ok(json!({"members": members}))
            }
            _ => error(404, "NotFoundException", "no such route"),
        }
    }
}
