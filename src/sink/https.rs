//! The HTTPS collector destination: records POSTed in batches (NDJSON or a JSON array,
//! optionally gzip), bounded in bytes and records, with an auth header whose value comes
//! from Secrets Manager (cached, fetched again once after a 401/403) or from the
//! configuration. The URL itself may come from Secrets Manager (`COLLECTOR_URL_SECRET_ARN`),
//! cached the same way; a 401/403 (or a 404 when the URL is a secret) fetches both secrets
//! again once. TLS is always verified: the platform's roots plus `COLLECTOR_CA_FILE`; the
//! transport (see `transport`) is https-only unless `COLLECTOR_ALLOW_HTTP`, follows no
//! redirect and reads no answer past 64 KiB. The URL is only ever shown redacted
//! (`redact::RedactedUrl`). Retries follow `crate::retry` and never run past the deadline.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::sync::OnceCell;
use tracing::warn;

use super::redact::RedactedUrl;
use super::secret::CachedSecret;
use super::transport::{self, HttpClient, ResponseBody};
use super::{BoxFuture, Delivery, DeliveryError, Sink, plan_batches};
use crate::aws::Aws;
use crate::config::{AuthSource, CollectorConfig, CollectorFormat, UrlSource, check_collector_url};
use crate::normalize::FORWARDER;
use crate::record::EncodedRecord;
use crate::retry::{Backoff, Deadline, is_retryable_status, parse_retry_after};

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
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
}

enum Auth {
    None,
    Static(HeaderValue),
    Secret(CachedSecret),
}

/// Where requests go: a URL known at start-up, or one read from Secrets Manager.
enum Target {
    Fixed(hyper::Uri),
    Secret(CachedSecret),
}

pub struct HttpsSink {
    target: Target,
    cfg: CollectorConfig,
    header: HeaderName,
    auth: Auth,
    extra_roots: Vec<CertificateDer<'static>>,
    client: OnceCell<HttpClient>,
    backoff: Backoff,
}

/// The outcome of one request.
enum Attempt {
    Delivered,
    Retry {
        why: String,
        retry_after: Option<Duration>,
    },
    Unauthorized {
        why: String,
    },
    Permanent(String),
}

impl HttpsSink {
    /// Validates the settings (URL, CA file) now; the TLS client and the secret are
    /// built and fetched on first use.
    pub fn new(cfg: CollectorConfig, aws: Arc<Aws>) -> Result<Self, CollectorSetupError> {
        let target = match &cfg.url {
            UrlSource::Plain(url) => Target::Fixed(url.expose().parse().map_err(|_| {
                CollectorSetupError::Url("not a valid URL (value not shown)".into())
            })?),
            UrlSource::Secret(arn) => Target::Secret(CachedSecret::new(
                "COLLECTOR_URL_SECRET_ARN",
                arn.clone(),
                aws.clone(),
            )),
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
        let header = HeaderName::from_bytes(cfg.auth_header.as_bytes()).map_err(|_| {
            CollectorSetupError::Setting {
                var: "COLLECTOR_AUTH_HEADER",
                reason: "not a valid HTTP header name",
            }
        })?;
        let auth =
            match &cfg.auth {
                AuthSource::None => Auth::None,
                AuthSource::Value(v) => Auth::Static(sensitive(v.expose()).map_err(|_| {
                    CollectorSetupError::Setting {
                        var: "COLLECTOR_AUTH_VALUE",
                        reason: "not a valid HTTP header value (value not shown)",
                    }
                })?),
                AuthSource::Secret(arn) => Auth::Secret(CachedSecret::new(
                    "COLLECTOR_AUTH_SECRET_ARN",
                    arn.clone(),
                    aws,
                )),
            };
        Ok(HttpsSink {
            target,
            header,
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
        Ok(transport::build_client(
            &self.extra_roots,
            self.cfg.allow_http,
        )?)
    }

    async fn client(&self) -> Result<&HttpClient, DeliveryError> {
        self.client
            .get_or_try_init(|| async { self.build_client() })
            .await
            .map_err(|e| DeliveryError::Unavailable(e.to_string()))
    }

    /// The auth header value; with `refresh`, fetched again from Secrets Manager.
    async fn auth_value(&self, refresh: bool) -> Result<Option<HeaderValue>, DeliveryError> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::Static(v) => Ok(Some(v.clone())),
            Auth::Secret(secret) => {
                let value = secret
                    .get(refresh)
                    .await
                    .map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
                let header = sensitive(value.expose()).map_err(|_| {
                    DeliveryError::Unavailable(format!(
                        "{}: the secret's value is not a valid HTTP header value (not shown)",
                        secret.var()
                    ))
                })?;
                Ok(Some(header))
            }
        }
    }

    /// Where to send; with `refresh`, a URL from Secrets Manager is fetched again.
    async fn target_uri(&self, refresh: bool) -> Result<hyper::Uri, DeliveryError> {
        match &self.target {
            Target::Fixed(uri) => Ok(uri.clone()),
            Target::Secret(secret) => {
                let value = secret
                    .get(refresh)
                    .await
                    .map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
                let unusable = |why: &str| {
                    DeliveryError::Unavailable(format!(
                        "{}: the secret's value is not a usable collector URL: {why}",
                        secret.var()
                    ))
                };
                check_collector_url(value.expose(), self.cfg.allow_http).map_err(unusable)?;
                value
                    .expose()
                    .parse()
                    .map_err(|_| unusable("not a valid URL (value not shown)"))
            }
        }
    }

    /// The collector URL as it may be shown: scheme, host and port.
    pub async fn shown_url(&self) -> RedactedUrl {
        match &self.target {
            Target::Fixed(uri) => RedactedUrl::from_uri(uri),
            Target::Secret(secret) => match secret.peek().await {
                Some(url) => RedactedUrl::new(url.expose()),
                None => RedactedUrl::unresolved(secret.var()),
            },
        }
    }

    /// Whether a refused request is worth fetching the secrets again for.
    fn has_secret(&self) -> bool {
        matches!(self.auth, Auth::Secret(_)) || matches!(self.target, Target::Secret(_))
    }

    /// Checks TLS, reach and auth with an empty batch (for `check`); the status on success.
    /// Some collectors (Splunk HEC among them) answer an empty batch with 400 "no data":
    /// the connection, TLS and credential were fine, so such an answer passes too.
    pub async fn probe(&self) -> Result<u16, DeliveryError> {
        let body = self
            .encode_body(&[])
            .map_err(|e| DeliveryError::Io(format!("gzip: {e}")))?;
        match self.send_once(&body, Deadline::none()).await? {
            (Attempt::Delivered, status) => Ok(status),
            (Attempt::Permanent(_), status @ (400 | 411 | 413 | 415 | 422)) => Ok(status),
            (
                Attempt::Retry { why, .. }
                | Attempt::Unauthorized { why }
                | Attempt::Permanent(why),
                _,
            ) => Err(DeliveryError::Rejected(why)),
        }
    }

    fn encode_body(&self, records: &[&EncodedRecord]) -> std::io::Result<Bytes> {
        let mut raw =
            Vec::with_capacity(records.iter().map(|r| r.json.len() + 1).sum::<usize>() + 2);
        match self.cfg.format {
            CollectorFormat::Ndjson => {
                for r in records {
                    raw.extend_from_slice(r.json.as_bytes());
                    raw.push(b'\n');
                }
            }
            CollectorFormat::Json => {
                raw.push(b'[');
                for (i, r) in records.iter().enumerate() {
                    if i > 0 {
                        raw.push(b',');
                    }
                    raw.extend_from_slice(r.json.as_bytes());
                }
                raw.push(b']');
            }
        }
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

    /// Size one record adds to an uncompressed body.
    fn record_cost(&self, r: &EncodedRecord) -> usize {
        r.json.len() + 1
    }

    fn body_overhead(&self) -> usize {
        match self.cfg.format {
            CollectorFormat::Ndjson => 0,
            CollectorFormat::Json => 2,
        }
    }

    /// Splits records into batches within both bounds; records too large alone are set apart.
    pub fn plan(&self, records: &[EncodedRecord]) -> (Vec<Vec<usize>>, Vec<usize>) {
        let costs: Vec<usize> = records.iter().map(|r| self.record_cost(r)).collect();
        plan_batches(
            &costs,
            self.body_overhead(),
            self.cfg.max_batch_bytes,
            self.cfg.max_batch_records,
        )
    }

    async fn send_once(
        &self,
        body: &Bytes,
        deadline: Deadline,
    ) -> Result<(Attempt, u16), DeliveryError> {
        self.send_with_auth(body, deadline, false).await
    }

    async fn send_with_auth(
        &self,
        body: &Bytes,
        deadline: Deadline,
        refresh: bool,
    ) -> Result<(Attempt, u16), DeliveryError> {
        let client = self.client().await?;
        let uri = self.target_uri(refresh).await?;
        if uri.scheme_str() != Some("https") && !self.cfg.allow_http {
            // The configuration refuses this too; the request is where it must hold.
            return Ok((
                Attempt::Permanent(
                    "plain http is refused; use https (or COLLECTOR_ALLOW_HTTP=true)".into(),
                ),
                0,
            ));
        }
        let auth = self.auth_value(refresh).await?;
        let mut req = hyper::Request::post(uri.clone())
            .header(
                CONTENT_TYPE,
                match self.cfg.format {
                    CollectorFormat::Ndjson => "application/x-ndjson",
                    CollectorFormat::Json => "application/json",
                },
            )
            .header(USER_AGENT, FORWARDER);
        if self.cfg.gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        if let Some(v) = &auth {
            req = req.header(self.header.clone(), v.clone());
        }
        let req = req
            .body(Full::new(body.clone()))
            .map_err(|_| DeliveryError::Rejected("request could not be built".into()))?;
        let timeout = deadline.clamp(self.cfg.timeout);
        let response = match tokio::time::timeout(timeout, client.request(req)).await {
            Err(_) => {
                let why = format!("no response within {} ms", timeout.as_millis());
                return Ok((Attempt::retry(why), 0));
            }
            Ok(Err(e)) => return Ok((request_failure(&e, &uri), 0)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body =
            transport::read_bounded(response.into_body(), deadline.clamp(self.cfg.timeout)).await;
        if (200..300).contains(&status) {
            return Ok((Attempt::Delivered, status));
        }
        let why = format!("HTTP {status}: {}", excerpt(&body, auth.as_ref(), &uri));
        let stale_secret = status == 401
            || status == 403
            || (status == 404 && matches!(self.target, Target::Secret(_)));
        let attempt = if stale_secret {
            Attempt::Unauthorized { why }
        } else if is_retryable_status(status) {
            Attempt::Retry { why, retry_after }
        } else {
            Attempt::Permanent(why)
        };
        Ok((attempt, status))
    }

    async fn send_batch(
        &self,
        body: Bytes,
        deadline: Deadline,
    ) -> Result<u64, (DeliveryError, u64)> {
        let mut attempt = 0u32;
        let mut retries = 0u64;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let (outcome, _) = self
                .send_with_auth(&body, deadline, false)
                .await
                .map_err(|e| (e, retries))?;
            let (why, retry_after) = match outcome {
                Attempt::Delivered => return Ok(retries),
                Attempt::Permanent(why) => return Err((DeliveryError::Rejected(why), retries)),
                Attempt::Unauthorized { why } => {
                    if refreshed || !self.has_secret() {
                        return Err((DeliveryError::Rejected(why), retries));
                    }
                    // The secret may have been rotated: fetch it once more and retry now.
                    refreshed = true;
                    let url = self.shown_url().await;
                    warn!(message = "Collector refused the request; fetching the secrets again.", %url);
                    let (outcome, _) = self
                        .send_with_auth(&body, deadline, true)
                        .await
                        .map_err(|e| (e, retries))?;
                    retries += 1;
                    match outcome {
                        Attempt::Delivered => return Ok(retries),
                        Attempt::Permanent(why) | Attempt::Unauthorized { why } => {
                            return Err((DeliveryError::Rejected(why), retries));
                        }
                        Attempt::Retry { why, retry_after } => (why, retry_after),
                    }
                }
                Attempt::Retry { why, retry_after } => (why, retry_after),
            };
            let wait = self.backoff.wait(attempt, retry_after);
            if attempt >= self.backoff.max_attempts {
                return Err((
                    DeliveryError::Exhausted {
                        attempts: attempt,
                        last: why,
                    },
                    retries,
                ));
            }
            if !deadline.allows(wait, Duration::from_millis(500)) {
                return Err((
                    DeliveryError::DeadlineReached {
                        attempts: attempt,
                        last: why,
                    },
                    retries,
                ));
            }
            let url = self.shown_url().await;
            warn!(message = "Retrying collector request.", %url, attempt, wait_ms = wait.as_millis() as u64, error = %why);
            retries += 1;
            tokio::time::sleep(wait).await;
        }
    }
}

fn sensitive(v: &str) -> Result<HeaderValue, hyper::header::InvalidHeaderValue> {
    let mut h = HeaderValue::from_str(v)?;
    h.set_sensitive(true);
    Ok(h)
}

impl Attempt {
    fn retry(why: String) -> Self {
        Attempt::Retry {
            why,
            retry_after: None,
        }
    }
}

/// A request that got no answer: a TLS failure that will recur (told by the error's type) is
/// permanent; anything else (refused, reset, DNS) is worth another attempt.
fn request_failure(e: &(dyn std::error::Error + 'static), uri: &hyper::Uri) -> Attempt {
    let why = mask_url(&error_chain(e), uri);
    match transport::tls_error(e) {
        Some(tls) if transport::is_permanent_tls_failure(tls) => {
            Attempt::Permanent(format!("TLS verification failed: {why}"))
        }
        _ => Attempt::retry(why),
    }
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

/// `text` with the URL's path, query and user-info (and each longer path segment) masked:
/// a collector may echo its URL, token included.
fn mask_url(text: &str, uri: &hyper::Uri) -> String {
    let mut out = text.to_string();
    let whole = uri.to_string();
    out = out.replace(&whole, RedactedUrl::from_uri(uri).as_str());
    if let Some(pq) = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|p| p.len() > 1)
    {
        out = out.replace(pq, "/…");
    }
    let pieces = uri
        .path()
        .split('/')
        .chain(uri.query().unwrap_or_default().split(['&', '=']))
        .chain(
            uri.authority()
                .and_then(|a| a.as_str().rsplit_once('@'))
                .map(|(u, _)| u),
        );
    for piece in pieces.filter(|p| p.len() >= 8) {
        out = out.replace(piece, "***");
    }
    out
}

/// A short, single-line excerpt of a response body, with the credential and URL masked
/// before it is cut (so no part of a secret survives at the cut).
fn excerpt(body: &ResponseBody, auth: Option<&HeaderValue>, uri: &hyper::Uri) -> String {
    if *body == ResponseBody::TooLarge {
        return format!(
            "(body over {} bytes, not read)",
            transport::MAX_RESPONSE_BYTES
        );
    }
    let mut text: String = String::from_utf8_lossy(body.bytes())
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if let Some(secret) = auth.and_then(|v| v.to_str().ok()).filter(|s| !s.is_empty()) {
        text = text.replace(secret, "***");
        // A token echoed without its scheme word ("Bearer ") is masked too.
        if let Some((_, token)) = secret.split_once(' ').filter(|(_, t)| t.len() >= 4) {
            text = text.replace(token, "***");
        }
    }
    let text: String = mask_url(&text, uri).chars().take(200).collect();
    if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        text.trim().to_string()
    }
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
            let (batches, oversize) = self.plan(records);
            let mut delivery = Delivery::default();
            for i in oversize {
                let size = records.get(i).map_or(0, |r| r.json.len());
                delivery.failed.push((
                    i,
                    DeliveryError::Oversize {
                        size,
                        limit: self.cfg.max_batch_bytes,
                    },
                ));
            }
            for batch in batches {
                if deadline.expired() {
                    let e = DeliveryError::DeadlineReached {
                        attempts: 0,
                        last: "no time left in this invocation".into(),
                    };
                    delivery
                        .failed
                        .extend(batch.iter().map(|&i| (i, e.clone())));
                    continue;
                }
                let refs: Vec<&EncodedRecord> =
                    batch.iter().filter_map(|&i| records.get(i)).collect();
                let body = match self.encode_body(&refs) {
                    Ok(b) => b,
                    Err(e) => {
                        let e = DeliveryError::Io(format!("gzip: {e}"));
                        delivery
                            .failed
                            .extend(batch.iter().map(|&i| (i, e.clone())));
                        continue;
                    }
                };
                match self.send_batch(body, deadline).await {
                    Ok(retries) => delivery.retries += retries,
                    Err((e, retries)) => {
                        delivery.retries += retries;
                        for &i in &batch {
                            delivery.failed.push((i, e.clone()));
                        }
                    }
                }
            }
            delivery
        })
    }
}
