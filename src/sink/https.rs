//! The HTTPS collector transport: records POSTed in batches (optionally gzip), bounded in
//! bytes and records by the configuration and the product's own limits, with an auth header
//! whose value comes from Secrets Manager (cached, fetched again once after a 401/403) or
//! from the configuration. TLS is always verified: the platform's roots plus
//! `COLLECTOR_CA_FILE`. What is sent and how an answer reads per record belongs to the
//! [`protocol::Protocol`] of `COLLECTOR_FORMAT` (generic NDJSON/JSON or a product preset
//! in the modules below); attempts and waits belong to `crate::retry::drive`. A 413 halves
//! the request size for the next attempt.

pub mod datadog;
pub mod elastic_bulk;
pub mod protocol;
pub mod splunk_hec;
pub mod sumo;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::sync::{Mutex, OnceCell};
use tracing::{debug, warn};

use self::protocol::{Answer, AuthScheme, Limits, Probe, ProbeTarget, Protocol};
use super::{BoxFuture, Delivery, DeliveryError, Sink, plan_subset};
use crate::aws::Aws;
use crate::config::{AuthSource, CollectorConfig, CollectorFormat, redact_url};
use crate::normalize::FORWARDER;
use crate::record::EncodedRecord;
use crate::retry::{Backoff, Deadline, Report, Verdict, drive, parse_retry_after};

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why the collector could not be set up. Names the variable; never shows a secret.
#[derive(Debug, thiserror::Error)]
pub enum CollectorSetupError {
    #[error("COLLECTOR_CA_FILE: {0}")]
    CaFile(String),
    #[error("COLLECTOR_URL: {0}")]
    Url(String),
    #[error("{var}: {reason}")]
    Setting {
        var: &'static str,
        reason: &'static str,
    },
    #[error("TLS set-up failed: {0}")]
    Tls(String),
}

enum Auth {
    None,
    Static(HeaderValue),
    Secret {
        arn: String,
        aws: Arc<Aws>,
        cached: Mutex<Option<HeaderValue>>,
    },
}

pub struct HttpsSink {
    /// Where records are posted: the base URL with the protocol's path and query.
    endpoint: hyper::Uri,
    /// The collector's base URL, without the protocol's path (probes, acknowledgements).
    base: String,
    shown_url: String,
    cfg: CollectorConfig,
    protocol: Box<dyn Protocol>,
    /// The configured bounds and the product's, whichever is tighter.
    limits: Limits,
    header: HeaderName,
    /// Written before a bare token (`Splunk `, `ApiKey `), or empty.
    scheme: &'static str,
    auth: Auth,
    extra_roots: Vec<CertificateDer<'static>>,
    client: OnceCell<HttpClient>,
    backoff: Backoff,
}

/// One probe's result, for `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub label: &'static str,
    pub result: Result<String, String>,
}

/// One request to send.
struct Req<'a> {
    post: bool,
    uri: hyper::Uri,
    body: Bytes,
    gzip: bool,
    auth: Option<&'a HeaderValue>,
}

/// One answer, read.
struct Exchange {
    status: u16,
    retry_after: Option<Duration>,
    body: Bytes,
}

impl HttpsSink {
    /// Validates the settings (URL, CA file) now; the TLS client and the secret are
    /// built and fetched on first use.
    pub fn new(cfg: CollectorConfig, aws: Arc<Aws>) -> Result<Self, CollectorSetupError> {
        let protocol = protocol_for(&cfg.format);
        let endpoint: hyper::Uri = protocol::endpoint(&cfg.url, protocol.path(), protocol.query())
            .parse()
            .map_err(|e| CollectorSetupError::Url(format!("{e}")))?;
        let no_query = cfg.url.split('?').next().unwrap_or_default();
        let trimmed = no_query.trim_end_matches('/');
        let base = protocol
            .path()
            .and_then(|p| trimmed.strip_suffix(p))
            .unwrap_or(trimmed)
            .to_string();
        let own = protocol.limits();
        let limits = Limits {
            max_body: cfg.max_batch_bytes.min(own.max_body),
            max_items: cfg.max_batch_records.min(own.max_items),
            max_item: own.max_item,
        };
        let extra_roots = match &cfg.ca_file {
            None => Vec::new(),
            Some(path) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| CollectorSetupError::CaFile(format!("{path}: {e}")))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| CollectorSetupError::CaFile(format!("{path}: {e}")))?;
                if certs.is_empty() {
                    return Err(CollectorSetupError::CaFile(format!(
                        "{path}: no PEM certificate in it"
                    )));
                }
                certs
            }
        };
        let (header_name, scheme) = match protocol.auth() {
            AuthScheme::Configured => (cfg.auth_header.as_str(), ""),
            AuthScheme::Header { name, prefix } => (name, prefix),
        };
        let header = HeaderName::from_bytes(header_name.as_bytes()).map_err(|_| {
            CollectorSetupError::Setting {
                var: "COLLECTOR_AUTH_HEADER",
                reason: "not a valid HTTP header name",
            }
        })?;
        let auth = match &cfg.auth {
            AuthSource::None => Auth::None,
            AuthSource::Value(v) => {
                Auth::Static(sensitive(&with_scheme(scheme, v)).map_err(|_| {
                    CollectorSetupError::Setting {
                        var: "COLLECTOR_AUTH_VALUE",
                        reason: "not a valid HTTP header value (value not shown)",
                    }
                })?)
            }
            AuthSource::Secret(arn) => Auth::Secret {
                arn: arn.clone(),
                aws,
                cached: Mutex::new(None),
            },
        };
        Ok(HttpsSink {
            shown_url: redact_url(&cfg.url),
            endpoint,
            base,
            protocol,
            limits,
            header,
            scheme,
            auth,
            extra_roots,
            client: OnceCell::new(),
            backoff: Backoff::default(),
            cfg,
        })
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    fn build_client(&self) -> Result<HttpClient, CollectorSetupError> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            debug!(message = "Some platform certificates could not be read.", error = %e);
        }
        let (_, _ignored) = roots.add_parsable_certificates(native.certs);
        for c in &self.extra_roots {
            roots
                .add(c.clone())
                .map_err(|e| CollectorSetupError::CaFile(e.to_string()))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| CollectorSetupError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(50))
            .build(connector))
    }

    async fn client(&self) -> Result<&HttpClient, DeliveryError> {
        self.client
            .get_or_try_init(|| async { self.build_client() })
            .await
            .map_err(|e| DeliveryError::Unavailable(e.to_string()))
    }

    /// Runs the protocol's `check` probes in order, stopping at the first that fails.
    pub async fn probe(&self) -> Vec<ProbeOutcome> {
        let mut out = Vec::new();
        for p in self.protocol.probes() {
            let result = self.run_probe(&p).await;
            let failed = result.is_err();
            out.push(ProbeOutcome {
                label: p.label,
                result,
            });
            if failed {
                break;
            }
        }
        out
    }

    async fn run_probe(&self, p: &Probe) -> Result<String, String> {
        let uri = match p.target {
            ProbeTarget::Endpoint => Ok(self.endpoint.clone()),
            ProbeTarget::Base(path) => format!("{}{path}", self.base).parse::<hyper::Uri>(),
            ProbeTarget::ApiHost(path) => {
                let host = datadog::api_host(self.endpoint.host().unwrap_or_default());
                let port = self
                    .endpoint
                    .port()
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                let scheme = self.endpoint.scheme_str().unwrap_or("https");
                format!("{scheme}://{host}{port}{path}").parse::<hyper::Uri>()
            }
        }
        .map_err(|e| format!("probe URL: {e}"))?;
        let auth = if p.authenticated {
            self.auth_value(false).await.map_err(|e| e.to_string())?
        } else {
            None
        };
        let req = Req {
            post: p.post,
            uri,
            body: Bytes::from(p.body.clone()),
            gzip: false,
            auth: auth.as_ref(),
        };
        match self.exchange(req, Deadline::none()).await {
            Ok(ex) => (p.judge)(ex.status, &ex.body)
                .map_err(|why| format!("{why} ({})", self.excerpt(&ex.body, auth.as_ref()))),
            Err(Verdict::Retry(why) | Verdict::Failed(why)) => Err(why),
            Err(Verdict::Delivered) => Ok(String::new()),
        }
    }

    /// The credential header value; with `refresh`, fetched again from Secrets Manager.
    async fn auth_value(&self, refresh: bool) -> Result<Option<HeaderValue>, DeliveryError> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::Static(v) => Ok(Some(v.clone())),
            Auth::Secret { arn, aws, cached } => {
                let mut cached = cached.lock().await;
                if let (false, Some(v)) = (refresh, cached.as_ref()) {
                    return Ok(Some(v.clone()));
                }
                let client = aws_sdk_secretsmanager::Client::new(aws.config().await);
                let out = client
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        DeliveryError::Unavailable(format!(
                            "COLLECTOR_AUTH_SECRET_ARN: GetSecretValue failed for {arn}: {}",
                            DisplayErrorContext(&e)
                        ))
                    })?;
                let value = out.secret_string().ok_or_else(|| {
                    DeliveryError::Unavailable(format!(
                        "COLLECTOR_AUTH_SECRET_ARN: {arn} has no SecretString"
                    ))
                })?;
                let value = with_scheme(self.scheme, value.trim_end_matches(['\r', '\n']));
                let header = sensitive(&value).map_err(|_| {
                    DeliveryError::Unavailable(format!(
                        "COLLECTOR_AUTH_SECRET_ARN: the value of {arn} is not a valid HTTP header value (not shown)"
                    ))
                })?;
                *cached = Some(header.clone());
                Ok(Some(header))
            }
        }
    }

    /// The body of one request: the records' encoded pieces in the protocol's frame.
    fn body(&self, pieces: &[Vec<u8>], request: &[usize]) -> std::io::Result<Bytes> {
        let frame = self.protocol.frame();
        let mut raw = Vec::with_capacity(
            request
                .iter()
                .filter_map(|&i| pieces.get(i))
                .map(|p| p.len() + frame.separator.len())
                .sum::<usize>()
                + frame.open.len()
                + frame.close.len(),
        );
        raw.extend_from_slice(frame.open);
        for (n, piece) in request.iter().filter_map(|&i| pieces.get(i)).enumerate() {
            if n > 0 {
                raw.extend_from_slice(frame.separator);
            }
            raw.extend_from_slice(piece);
        }
        raw.extend_from_slice(frame.close);
        if !self.cfg.gzip {
            return Ok(Bytes::from(raw));
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4),
            flate2::Compression::fast(),
        );
        gz.write_all(&raw)?;
        Ok(Bytes::from(gz.finish()?))
    }

    /// One request and its answer; a transport failure comes back as its verdict.
    async fn exchange(&self, r: Req<'_>, deadline: Deadline) -> Result<Exchange, Verdict> {
        let client = self
            .client()
            .await
            .map_err(|e| Verdict::Failed(e.to_string()))?;
        let mut req = hyper::Request::builder()
            .method(if r.post {
                hyper::Method::POST
            } else {
                hyper::Method::GET
            })
            .uri(r.uri)
            .header(USER_AGENT, FORWARDER);
        if r.post {
            req = req.header(CONTENT_TYPE, self.protocol.content_type());
        }
        if r.gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        for (name, value) in self.protocol.headers() {
            req = req.header(name, value);
        }
        if let Some(v) = r.auth {
            req = req.header(self.header.clone(), v.clone());
        }
        let req = req
            .body(Full::new(r.body))
            .map_err(|e| Verdict::Failed(format!("request could not be built: {e}")))?;
        let timeout = deadline.clamp(self.cfg.timeout);
        let response = match tokio::time::timeout(timeout, client.request(req)).await {
            Err(_) => {
                return Err(Verdict::Retry(format!(
                    "no response within {} ms",
                    timeout.as_millis()
                )));
            }
            Ok(Err(e)) => {
                let why = error_chain(&e);
                // A certificate the roots do not vouch for will not become valid on retry.
                if why.contains("certificate") || why.contains("InvalidCertificate") {
                    return Err(Verdict::Failed(format!("TLS verification failed: {why}")));
                }
                return Err(Verdict::Retry(why));
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match tokio::time::timeout(
            deadline.clamp(self.cfg.timeout),
            response.into_body().collect(),
        )
        .await
        {
            Ok(Ok(b)) => b.to_bytes(),
            _ => Bytes::new(),
        };
        Ok(Exchange {
            status,
            retry_after,
            body,
        })
    }

    /// One attempt of the retry driver: the pending records planned into requests within
    /// the current size budget, each sent and its answer read per record.
    async fn attempt(&self, run: &Run<'_>, pending: Vec<usize>) -> Report {
        let budget = run.budget.load(Ordering::Relaxed);
        let (mut requests, alone) = plan_subset(
            &pending,
            &run.costs,
            run.overhead,
            budget,
            self.limits.max_items,
        );
        // Records over a budget shrunk by a 413 go on their own.
        requests.extend(alone.into_iter().map(|i| vec![i]));
        let mut report = Report::default();
        for request in requests {
            let (verdicts, retry_after) = self.send_request(run, &request).await;
            report.verdicts.extend(verdicts);
            report.retry_after = report.retry_after.max(retry_after);
        }
        report
    }

    async fn send_request(
        &self,
        run: &Run<'_>,
        request: &[usize],
    ) -> (Vec<(usize, Verdict)>, Option<Duration>) {
        let all = |v: Verdict| Report::all(request, &v).verdicts;
        if run.deadline.expired() {
            return (
                all(Verdict::Retry("no time left in this invocation".into())),
                None,
            );
        }
        let body = match self.body(run.pieces, request) {
            Ok(b) => b,
            Err(e) => return (all(Verdict::Failed(format!("gzip: {e}"))), None),
        };
        let refresh = run.refresh.swap(false, Ordering::Relaxed);
        let auth = match self.auth_value(refresh).await {
            Ok(a) => a,
            Err(e) => return (all(Verdict::Retry(e.to_string())), None),
        };
        let sent_bytes = body.len();
        let req = Req {
            post: true,
            uri: self.endpoint.clone(),
            body,
            gzip: self.cfg.gzip,
            auth: auth.as_ref(),
        };
        let ex = match self.exchange(req, run.deadline).await {
            Ok(ex) => ex,
            Err(v) => return (all(v), None),
        };
        let why = format!(
            "HTTP {}: {}",
            ex.status,
            self.excerpt(&ex.body, auth.as_ref())
        );
        match ex.status {
            401 | 403
                if matches!(self.auth, Auth::Secret { .. })
                    && !run.refreshed.swap(true, Ordering::Relaxed) =>
            {
                // The secret may have been rotated: fetch it once more and retry now.
                warn!(message = "Collector refused the credential; fetching the secret again.", url = %self.shown_url);
                run.refresh.store(true, Ordering::Relaxed);
                return (all(Verdict::Retry(why)), Some(Duration::ZERO));
            }
            401 | 403 => return (all(Verdict::Failed(why)), None),
            413 if request.len() > 1 => {
                // Too large for this collector: the next attempt sends smaller requests.
                let half = (sent_bytes.max(run.overhead + 2) / 2).max(1024);
                run.budget.fetch_min(half, Ordering::Relaxed);
                return (all(Verdict::Retry(why)), ex.retry_after);
            }
            _ => {}
        }
        let verdicts = match self.protocol.read(ex.status, &ex.body, request.len(), &why) {
            Answer::All(v) => all(v),
            Answer::Each(vs) => request.iter().copied().zip(vs).collect(),
            Answer::Pending { ack_id } => {
                all(self.await_ack(ack_id, auth.as_ref(), run.deadline).await)
            }
        };
        (verdicts, ex.retry_after)
    }

    /// Polls the acknowledgement endpoint until `ack_id` is confirmed, for at most six
    /// request timeouts and never past the deadline. Unconfirmed means sent again.
    async fn await_ack(
        &self,
        ack_id: u64,
        auth: Option<&HeaderValue>,
        deadline: Deadline,
    ) -> Verdict {
        let Some((path, body)) = self.protocol.ack_poll(ack_id) else {
            return Verdict::Delivered;
        };
        let Ok(uri) = format!("{}{path}", self.base).parse::<hyper::Uri>() else {
            return Verdict::Failed("acknowledgement URL could not be built".into());
        };
        let budget = deadline.clamp(self.cfg.timeout.saturating_mul(6));
        let until = Instant::now() + budget;
        let mut wait = Duration::from_millis(100);
        loop {
            let req = Req {
                post: true,
                uri: uri.clone(),
                body: Bytes::from(body.clone()),
                gzip: false,
                auth,
            };
            if let Ok(ex) = self.exchange(req, deadline).await {
                if (200..300).contains(&ex.status) && self.protocol.acked(&ex.body, ack_id) {
                    return Verdict::Delivered;
                }
                debug!(
                    message = "Acknowledgement pending.",
                    ack_id,
                    status = ex.status
                );
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Verdict::Retry(format!(
                    "the collector did not confirm ackId {ack_id} within {} ms",
                    budget.as_millis()
                ));
            }
            tokio::time::sleep(wait.min(left)).await;
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }

    /// A short, single-line excerpt of a response body, with the credential masked.
    fn excerpt(&self, body: &[u8], auth: Option<&HeaderValue>) -> String {
        let mut text: String = String::from_utf8_lossy(body)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect();
        if let Some(secret) = auth.and_then(|v| v.to_str().ok()).filter(|s| !s.is_empty()) {
            text = text.replace(secret, "***");
            // A token echoed without its scheme word ("Bearer ") is masked too.
            if let Some((_, token)) = secret.split_once(' ').filter(|(_, t)| t.len() >= 4) {
                text = text.replace(token, "***");
            }
        }
        if text.trim().is_empty() {
            "(empty body)".into()
        } else {
            text.trim().to_string()
        }
    }
}

fn sensitive(v: &str) -> Result<HeaderValue, hyper::header::InvalidHeaderValue> {
    let mut h = HeaderValue::from_str(v)?;
    h.set_sensitive(true);
    Ok(h)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// What one `deliver` call shares between its attempts.
struct Run<'a> {
    pieces: &'a [Vec<u8>],
    costs: Vec<usize>,
    overhead: usize,
    deadline: Deadline,
    /// The body size the next requests are planned within; halved after a 413.
    budget: AtomicUsize,
    /// Fetch the secret again before the next request.
    refresh: AtomicBool,
    /// The secret was fetched again once already.
    refreshed: AtomicBool,
}

impl Sink for HttpsSink {
    fn name(&self) -> &'static str {
        "https"
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        deadline: Deadline,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let pieces: Vec<Vec<u8>> = records.iter().map(|r| self.protocol.encode(r)).collect();
            let frame = self.protocol.frame();
            let overhead = frame.open.len() + frame.close.len();
            let mut delivery = Delivery::default();
            let mut pending = Vec::with_capacity(records.len());
            for (i, piece) in pieces.iter().enumerate() {
                let limit = self
                    .limits
                    .max_item
                    .min(self.limits.max_body.saturating_sub(overhead));
                if piece.len() > limit {
                    delivery.failed.push((
                        i,
                        DeliveryError::Oversize {
                            size: piece.len(),
                            limit,
                        },
                    ));
                } else {
                    pending.push(i);
                }
            }
            let run = Run {
                costs: pieces
                    .iter()
                    .map(|p| p.len() + frame.separator.len())
                    .collect(),
                pieces: &pieces,
                overhead,
                deadline,
                budget: AtomicUsize::new(self.limits.max_body),
                refresh: AtomicBool::new(false),
                refreshed: AtomicBool::new(false),
            };
            let driven = drive(&self.backoff, deadline, "https", pending, |p| {
                self.attempt(&run, p)
            })
            .await;
            delivery.absorb(driven);
            delivery
        })
    }
}

/// The protocol for a configured format.
fn protocol_for(format: &CollectorFormat) -> Box<dyn Protocol> {
    match format {
        CollectorFormat::Ndjson => Box::new(protocol::Generic::new(false)),
        CollectorFormat::Json => Box::new(protocol::Generic::new(true)),
        CollectorFormat::SplunkHec(o) => Box::new(splunk_hec::SplunkHec::new(o.clone())),
        CollectorFormat::ElasticBulk(o) => Box::new(elastic_bulk::ElasticBulk::new(o)),
        CollectorFormat::DatadogLogs(o) => Box::new(datadog::Datadog::new(o.clone())),
        CollectorFormat::SumoHttp(o) => Box::new(sumo::Sumo::new(o.clone())),
    }
}

/// Writes `prefix` before a bare token, unless the value already carries it.
fn with_scheme(prefix: &str, value: &str) -> String {
    let has = value
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix));
    if prefix.is_empty() || has {
        value.to_string()
    } else {
        format!("{prefix}{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_writes_its_scheme_before_a_bare_token_only() {
        assert_eq!(with_scheme("Splunk ", "abc"), "Splunk abc");
        assert_eq!(with_scheme("Splunk ", "splunk abc"), "splunk abc");
        assert_eq!(with_scheme("ApiKey ", "abc"), "ApiKey abc");
        assert_eq!(with_scheme("", "abc"), "abc");
    }
}
