//! The HTTPS collector destination: records POSTed in batches (NDJSON or a JSON array,
//! optionally gzip), bounded in bytes and records, with an auth header whose value comes
//! from Secrets Manager (cached, fetched again once after a 401/403) or from the
//! configuration. TLS is always verified: the platform's roots plus `COLLECTOR_CA_FILE`.
//! Retries follow `crate::retry` and never run past the invocation deadline.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

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

use super::{BoxFuture, Delivery, DeliveryError, Sink, plan_batches};
use crate::aws::Aws;
use crate::config::{AuthSource, CollectorConfig, CollectorFormat, redact_url};
use crate::normalize::FORWARDER;
use crate::record::EncodedRecord;
use crate::retry::{Backoff, Deadline, is_retryable_status, parse_retry_after};

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
    uri: hyper::Uri,
    shown_url: String,
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
        let uri: hyper::Uri = cfg
            .url
            .parse()
            .map_err(|e| CollectorSetupError::Url(format!("{e}")))?;
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
        let auth = match &cfg.auth {
            AuthSource::None => Auth::None,
            AuthSource::Value(v) => {
                Auth::Static(sensitive(v).map_err(|_| CollectorSetupError::Setting {
                    var: "COLLECTOR_AUTH_VALUE",
                    reason: "not a valid HTTP header value (value not shown)",
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
            uri,
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

    /// The auth header value; with `refresh`, fetched again from Secrets Manager.
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
                let header = sensitive(value.trim_end_matches(['\r', '\n'])).map_err(|_| {
                    DeliveryError::Unavailable(format!(
                        "COLLECTOR_AUTH_SECRET_ARN: the value of {arn} is not a valid HTTP header value (not shown)"
                    ))
                })?;
                *cached = Some(header.clone());
                Ok(Some(header))
            }
        }
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
        refresh_auth: bool,
    ) -> Result<(Attempt, u16), DeliveryError> {
        let client = self.client().await?;
        let auth = self.auth_value(refresh_auth).await?;
        let mut req = hyper::Request::post(self.uri.clone())
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
            .map_err(|e| DeliveryError::Rejected(format!("request could not be built: {e}")))?;
        let timeout = deadline.clamp(self.cfg.timeout);
        let response = match tokio::time::timeout(timeout, client.request(req)).await {
            Err(_) => {
                return Ok((
                    Attempt::Retry {
                        why: format!("no response within {} ms", timeout.as_millis()),
                        retry_after: None,
                    },
                    0,
                ));
            }
            Ok(Err(e)) => {
                let why = error_chain(&e);
                // A certificate the roots do not vouch for will not become valid on retry.
                if why.contains("certificate") || why.contains("InvalidCertificate") {
                    return Ok((
                        Attempt::Permanent(format!("TLS verification failed: {why}")),
                        0,
                    ));
                }
                return Ok((
                    Attempt::Retry {
                        why,
                        retry_after: None,
                    },
                    0,
                ));
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
        if (200..300).contains(&status) {
            return Ok((Attempt::Delivered, status));
        }
        let why = format!("HTTP {status}: {}", self.excerpt(&body, auth.as_ref()));
        let attempt = if status == 401 || status == 403 {
            Attempt::Unauthorized { why }
        } else if is_retryable_status(status) {
            Attempt::Retry { why, retry_after }
        } else {
            Attempt::Permanent(why)
        };
        Ok((attempt, status))
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
                    if refreshed || !matches!(self.auth, Auth::Secret { .. }) {
                        return Err((DeliveryError::Rejected(why), retries));
                    }
                    // The secret may have been rotated: fetch it once more and retry now.
                    refreshed = true;
                    warn!(message = "Collector refused the credential; fetching the secret again.", url = %self.shown_url);
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
            warn!(message = "Retrying collector request.", url = %self.shown_url, attempt, wait_ms = wait.as_millis() as u64, error = %why);
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
