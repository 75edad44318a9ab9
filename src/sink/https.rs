//! The HTTPS collector transport: records POSTed in batches (optionally gzip), bounded in
//! bytes and records by the configuration and the product's own limits, with an auth header
//! whose value comes from Secrets Manager (cached, fetched again once after a 401/403) or
//! from the configuration. TLS is always verified: the platform's roots plus
//! `COLLECTOR_CA_FILE`. What is sent and how an answer reads per record belongs to the
//! [`protocol::Protocol`] of `COLLECTOR_FORMAT` (generic NDJSON/JSON or a product preset
//! in the modules below); attempts and waits belong to `crate::retry::drive`. This file is
//! the transport (client, TLS, credential, one request/answer); `deliver` plans and reads
//! answers per record, `probe` runs `check`'s probes.

pub mod datadog;
mod deliver;
pub mod elastic_bulk;
mod probe;
pub mod protocol;
pub mod splunk_hec;
pub mod sumo;

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
use tracing::debug;

use self::protocol::{AuthScheme, Limits, Protocol};
use super::DeliveryError;
use crate::aws::Aws;
use crate::config::{AuthSource, CollectorConfig, CollectorFormat, redact_url};
use crate::normalize::FORWARDER;
use crate::retry::{Backoff, Deadline, Verdict, parse_retry_after};

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
