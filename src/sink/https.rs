//! The HTTPS collector transport: records POSTed in batches (optionally gzip), bounded in
//! bytes and records by the configuration and the product's own limits, with an auth header
//! whose value comes from Secrets Manager (cached, fetched again once after a 401/403) or
//! from the configuration. TLS is always verified: the platform's roots plus
//! `COLLECTOR_CA_FILE`. What is sent and how an answer reads per record belongs to the
//! [`protocol::Protocol`] of `COLLECTOR_FORMAT` (generic NDJSON/JSON or a product preset
//! in the modules below); attempts and waits belong to `crate::retry::drive`. This file is
//! the transport (client, TLS, credential, one request/answer); `deliver` plans and reads
//! answers per record, `probe` runs `check`'s probes.
//!
//! The URL itself may come from Secrets Manager (`COLLECTOR_URL_SECRET_ARN`), cached like the
//! credential; a 401/403 (or a 404 when the URL is a secret) fetches both again once. The
//! connector (`super::transport`) is https-only unless `COLLECTOR_ALLOW_HTTP`, follows no
//! redirect and reads no answer past 64 KiB; a TLS failure is told permanent by its type.
//! The URL is only ever shown as `super::redact::RedactedUrl` (scheme, host, port).

pub mod datadog;
mod deliver;
pub mod elastic_bulk;
pub mod entra;
mod probe;
pub mod protocol;
pub mod secops;
pub mod sentinel;
pub mod splunk_hec;
pub mod sumo;

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

use self::protocol::{AuthScheme, Limits, Protocol};
use super::DeliveryError;
use super::redact::RedactedUrl;
use super::secret::CachedSecret;
use super::transport::{self, HttpClient, ResponseBody};
use crate::aws::Aws;
use crate::config::{AuthSource, CollectorConfig, CollectorFormat, UrlSource, check_collector_url};
use crate::normalize::FORWARDER;
use crate::retry::{Backoff, Deadline, Verdict, parse_retry_after};

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

/// The credential headers of one request, values marked sensitive (never shown).
pub(crate) type AuthHeaders = Vec<(HeaderName, HeaderValue)>;

enum Auth {
    None,
    Static(AuthHeaders),
    Secret(CachedSecret),
    /// An Entra ID token for the client secret (`sentinel`).
    Entra(Box<entra::EntraToken>),
}

/// Where requests go, from the collector URL.
#[derive(Clone)]
struct Endpoints {
    /// Where records are posted: the base URL with the protocol's path and query.
    endpoint: hyper::Uri,
    /// The collector's base URL, without the protocol's path (probes, acknowledgements).
    base: String,
    /// The URL is the endpoint itself ([`protocol::Protocol::url_as_given`]): `base` is
    /// not the product's, so the probes and polls relative to it are not made.
    as_given: bool,
}

/// The collector URL: known at start-up, or read from Secrets Manager on first use.
enum Target {
    Fixed(Endpoints),
    Secret(CachedSecret),
}

pub struct HttpsSink {
    target: Target,
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
    auth: &'a [(HeaderName, HeaderValue)],
    /// The most of the answer read (`Protocol::max_answer`).
    answer_limit: usize,
}

/// One answer, read.
struct Exchange {
    status: u16,
    retry_after: Option<Duration>,
    /// At most the request's answer bound (see `Req::answer_limit`).
    body: ResponseBody,
}

impl HttpsSink {
    /// Validates the settings (URL, CA file) now; the TLS client and the secret are
    /// built and fetched on first use.
    pub fn new(cfg: CollectorConfig, aws: Arc<Aws>) -> Result<Self, CollectorSetupError> {
        let protocol = protocol_for(&cfg.format);
        let target = match &cfg.url {
            UrlSource::Plain(url) => Target::Fixed(
                endpoints_of(url.expose(), protocol.as_ref())
                    .map_err(|why| CollectorSetupError::Url(why.into()))?,
            ),
            UrlSource::Secret(arn) => Target::Secret(CachedSecret::new(
                "COLLECTOR_URL_SECRET_ARN",
                arn.clone(),
                aws.clone(),
            )),
        };
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
            // The secret names each header's value.
            AuthScheme::JsonMembers(_) => ("authorization", ""),
            AuthScheme::EntraToken => ("authorization", "Bearer "),
        };
        let header = HeaderName::from_bytes(header_name.as_bytes()).map_err(|_| {
            CollectorSetupError::Setting {
                var: "COLLECTOR_AUTH_HEADER",
                reason: "not a valid HTTP header name",
            }
        })?;
        let auth = auth_of(&cfg, protocol.auth(), &header, scheme, aws)?;
        Ok(HttpsSink {
            target,
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

    /// The credential headers; with `refresh`, the secret is fetched again.
    async fn auth_headers(
        &self,
        refresh: bool,
        deadline: Deadline,
    ) -> Result<AuthHeaders, DeliveryError> {
        match &self.auth {
            Auth::None => Ok(Vec::new()),
            Auth::Static(v) => Ok(v.clone()),
            Auth::Secret(secret) => {
                let value = secret
                    .get(refresh, deadline)
                    .await
                    .map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
                auth_headers(
                    self.protocol.auth(),
                    &self.header,
                    self.scheme,
                    value.expose(),
                )
                .map_err(|why| {
                    DeliveryError::Unavailable(format!(
                        "{}: the secret's value is {why}",
                        secret.var()
                    ))
                })
            }
            Auth::Entra(token) => {
                let client = self.client().await?;
                let bearer = token.bearer(client, refresh, deadline).await?;
                Ok(vec![(hyper::header::AUTHORIZATION, bearer)])
            }
        }
    }

    /// Where to send; with `refresh`, a URL from Secrets Manager is fetched again.
    async fn endpoints(
        &self,
        refresh: bool,
        deadline: Deadline,
    ) -> Result<Endpoints, DeliveryError> {
        match &self.target {
            Target::Fixed(e) => Ok(e.clone()),
            Target::Secret(secret) => {
                let value = secret
                    .get(refresh, deadline)
                    .await
                    .map_err(|e| DeliveryError::Unavailable(e.to_string()))?;
                check_collector_url(value.expose(), self.cfg.allow_http)
                    .and_then(|()| endpoints_of(value.expose(), self.protocol.as_ref()))
                    .map_err(|why| {
                        DeliveryError::Unavailable(format!(
                            "{}: the secret's value is not a usable collector URL: {why}",
                            secret.var()
                        ))
                    })
            }
        }
    }

    /// The collector URL as it may be shown: scheme, host and port.
    pub async fn shown_url(&self) -> RedactedUrl {
        match &self.target {
            Target::Fixed(e) => RedactedUrl::from_uri(&e.endpoint),
            Target::Secret(secret) => match secret.peek().await {
                Some(url) => RedactedUrl::new(url.expose()),
                None => RedactedUrl::unresolved(secret.var()),
            },
        }
    }

    /// Whether a refused request is worth fetching the secrets again for.
    fn has_secret(&self) -> bool {
        match &self.auth {
            Auth::Secret(_) => true,
            // A refused token may have been revoked: a new one is worth asking for.
            Auth::Entra(_) => true,
            Auth::None | Auth::Static(_) => self.url_is_secret(),
        }
    }

    fn url_is_secret(&self) -> bool {
        matches!(self.target, Target::Secret(_))
    }

    /// One request and its answer; a transport failure comes back as its verdict.
    async fn exchange(&self, r: Req<'_>, deadline: Deadline) -> Result<Exchange, Verdict> {
        let client = self
            .client()
            .await
            .map_err(|e| Verdict::Failed(e.to_string()))?;
        if r.uri.scheme_str() != Some("https") && !self.cfg.allow_http {
            // The configuration refuses this too; the request is where it must hold.
            return Err(Verdict::Failed(
                "plain http is refused; use https (or COLLECTOR_ALLOW_HTTP=true)".into(),
            ));
        }
        let uri = r.uri.clone();
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
        for (name, value) in r.auth {
            req = req.header(name.clone(), value.clone());
        }
        let req = req
            .body(Full::new(r.body))
            .map_err(|_| Verdict::Failed("request could not be built".into()))?;
        let timeout = deadline.clamp(self.cfg.timeout);
        let response = match tokio::time::timeout(timeout, client.request(req)).await {
            Err(_) => {
                return Err(Verdict::Retry(format!(
                    "no response within {} ms",
                    timeout.as_millis()
                )));
            }
            Ok(Err(e)) => return Err(request_failure(&e, &uri)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = transport::read_bounded(
            response.into_body(),
            r.answer_limit,
            deadline.clamp(self.cfg.timeout),
        )
        .await;
        Ok(Exchange {
            status,
            retry_after,
            body,
        })
    }

    /// A short, single-line excerpt of a response body, with the credential and the URL
    /// masked before it is cut (so no part of a secret survives at the cut).
    fn excerpt(
        &self,
        body: &ResponseBody,
        auth: &[(HeaderName, HeaderValue)],
        uri: &hyper::Uri,
    ) -> String {
        if *body == ResponseBody::TooLarge {
            return "(body over its bound, not read)".into();
        }
        let text: String = String::from_utf8_lossy(body.bytes())
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let text: String = scrub(&text, auth, uri).chars().take(200).collect();
        if text.trim().is_empty() {
            "(empty body)".into()
        } else {
            text.trim().to_string()
        }
    }
}

/// Where the credential comes from, for this configuration: none, a value, a secret, or an
/// Entra ID token for the app's client secret (`sentinel`).
fn auth_of(
    cfg: &CollectorConfig,
    scheme_of_protocol: AuthScheme,
    header: &HeaderName,
    scheme: &'static str,
    aws: Arc<Aws>,
) -> Result<Auth, CollectorSetupError> {
    let auth = match (&cfg.format, &cfg.auth) {
        (CollectorFormat::Sentinel(options), source) => {
            let secret = match source {
                AuthSource::Secret(arn) => entra::ClientSecret::Stored(CachedSecret::new(
                    "COLLECTOR_AUTH_SECRET_ARN",
                    arn.clone(),
                    aws,
                )),
                AuthSource::Value(v) => entra::ClientSecret::Plain(v.clone()),
                AuthSource::None => {
                    return Err(CollectorSetupError::Setting {
                        var: "COLLECTOR_AUTH_SECRET_ARN",
                        reason: "sentinel needs the Entra ID app's client secret",
                    });
                }
            };
            Auth::Entra(Box::new(entra::EntraToken::new(options, secret)))
        }
        (_, AuthSource::None) => Auth::None,
        (_, AuthSource::Value(v)) => Auth::Static(
            auth_headers(scheme_of_protocol, header, scheme, v.expose()).map_err(|reason| {
                CollectorSetupError::Setting {
                    var: "COLLECTOR_AUTH_VALUE",
                    reason,
                }
            })?,
        ),
        (_, AuthSource::Secret(arn)) => Auth::Secret(CachedSecret::new(
            "COLLECTOR_AUTH_SECRET_ARN",
            arn.clone(),
            aws,
        )),
    };
    Ok(auth)
}

/// The endpoints for a collector URL, or what is wrong with it (without quoting it).
fn endpoints_of(url: &str, protocol: &dyn Protocol) -> Result<Endpoints, &'static str> {
    let no_query = url.split('?').next().unwrap_or_default();
    let trimmed = no_query.trim_end_matches('/');
    let url_path = trimmed
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or_default();
    if protocol.url_as_given(url_path) {
        let given_query = url.find('?').map(|i| &url[i..]).unwrap_or_default();
        let endpoint: hyper::Uri =
            protocol::endpoint(&format!("{trimmed}{given_query}"), None, protocol.query())
                .parse()
                .map_err(|_| "not a valid URL (value not shown)")?;
        let base = trimmed[..trimmed.len() - url_path.len()].to_string();
        return Ok(Endpoints {
            endpoint,
            base,
            as_given: true,
        });
    }
    let endpoint: hyper::Uri = protocol::endpoint(url, protocol.path(), protocol.query())
        .parse()
        .map_err(|_| "not a valid URL (value not shown)")?;
    let base = protocol
        .path()
        .and_then(|p| trimmed.strip_suffix(p))
        .unwrap_or(trimmed)
        .to_string();
    Ok(Endpoints {
        endpoint,
        base,
        as_given: false,
    })
}

/// A request that got no answer: a TLS failure that will recur (told by the error's type) is
/// permanent; anything else (refused, reset, DNS) is worth another attempt.
fn request_failure(e: &(dyn std::error::Error + 'static), uri: &hyper::Uri) -> Verdict {
    let why = mask_url(&error_chain(e), uri);
    match transport::tls_error(e) {
        Some(tls) if transport::is_permanent_tls_failure(tls) => {
            Verdict::Failed(format!("TLS verification failed: {why}"))
        }
        _ => Verdict::Retry(why),
    }
}

/// `text` with the credential (with or without its scheme word) and the URL masked: for
/// anything a collector said that reaches an error, a log line or `check`.
pub(crate) fn scrub(text: &str, auth: &[(HeaderName, HeaderValue)], uri: &hyper::Uri) -> String {
    let mut text = text.to_string();
    let secrets = auth
        .iter()
        .filter_map(|(_, v)| v.to_str().ok())
        .filter(|s| !s.is_empty());
    for secret in secrets {
        text = text.replace(secret, "***");
        // A token echoed without its scheme word ("Bearer ") is masked too.
        if let Some((_, token)) = secret.split_once(' ').filter(|(_, t)| t.len() >= 4) {
            text = text.replace(token, "***");
        }
    }
    mask_url(&text, uri)
}

/// `text` with the URL's path, query and user-info (and each longer path segment) masked:
/// a collector may echo its URL, token included.
fn mask_url(text: &str, uri: &hyper::Uri) -> String {
    let mut out = text.to_string();
    out = out.replace(&uri.to_string(), RedactedUrl::from_uri(uri).as_str());
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
        CollectorFormat::SecopsWebhook => Box::new(secops::SecopsWebhook),
        CollectorFormat::Sentinel(o) => Box::new(sentinel::Sentinel::new(o)),
    }
}

/// The headers a credential `value` (a secret's, or `COLLECTOR_AUTH_VALUE`) becomes under
/// `scheme`: one header (`header`, `prefix` before a bare token), or one per member of a
/// JSON object. What is wrong is said without the value.
fn auth_headers(
    scheme: AuthScheme,
    header: &HeaderName,
    prefix: &str,
    value: &str,
) -> Result<AuthHeaders, &'static str> {
    const NOT_A_HEADER: &str = "not a valid HTTP header value (value not shown)";
    let members = match scheme {
        AuthScheme::Configured | AuthScheme::Header { .. } | AuthScheme::EntraToken => {
            let v = sensitive(&with_scheme(prefix, value)).map_err(|_| NOT_A_HEADER)?;
            return Ok(vec![(header.clone(), v)]);
        }
        AuthScheme::JsonMembers(members) => members,
    };
    const NOT_JSON: &str = "not the JSON object this format takes, such as \
         {\"api_key\": \"…\", \"secret\": \"…\"} for secops-webhook (value not shown)";
    let doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(value).map_err(|_| NOT_JSON)?;
    let mut out = Vec::with_capacity(members.len());
    for (member, name) in members {
        let text = doc
            .get(*member)
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or(NOT_JSON)?;
        let v = sensitive(text.trim()).map_err(|_| NOT_A_HEADER)?;
        out.push((HeaderName::from_static(name), v));
    }
    Ok(out)
}

/// Writes `prefix` before a bare token, unless the value already carries it.
fn with_scheme(prefix: &str, value: &str) -> String {
    // A value with a space already names its scheme (a token never holds one): `Splunk abc`,
    // or `Bearer abc` for an HEC-compatible product that wants that scheme (LogScale).
    let has = value.trim().contains(' ')
        || value
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
    fn what_a_collector_says_is_scrubbed_of_the_credential_and_the_url() {
        let uri: hyper::Uri = "https://c.example.com:8088/receiver/v1/http/TOKENINPATH123"
            .parse()
            .unwrap();
        let auth = [(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Splunk 0f3c-secret-token"),
        )];
        let said =
            "HEC code 4: Invalid token 0f3c-secret-token for /receiver/v1/http/TOKENINPATH123";
        let clean = scrub(said, &auth, &uri);
        assert!(!clean.contains("0f3c-secret-token"), "{clean}");
        assert!(!clean.contains("TOKENINPATH123"), "{clean}");
        assert!(clean.starts_with("HEC code 4: Invalid token"), "{clean}");
    }

    #[test]
    fn an_hec_url_with_a_path_of_its_own_is_posted_to_as_given_and_splunks_forms_are_completed() {
        let hec = splunk_hec::SplunkHec::new(crate::config::HecOptions {
            index: None,
            source: None,
            ack: false,
        });
        let ends = |url: &str| {
            let e = endpoints_of(url, &hec).unwrap();
            (e.endpoint.to_string(), e.base, e.as_given)
        };
        // CrowdStrike Falcon LogScale's HEC endpoint, with or without a trailing slash.
        for url in [
            "https://cloud.us.humio.com/api/v1/ingest/hec",
            "https://cloud.us.humio.com/api/v1/ingest/hec/",
        ] {
            assert_eq!(
                ends(url),
                (
                    "https://cloud.us.humio.com/api/v1/ingest/hec".into(),
                    "https://cloud.us.humio.com".into(),
                    true
                ),
                "{url}"
            );
        }
        // Splunk's own forms, a bare base URL and a proxy prefix before Splunk's path.
        for (url, endpoint) in [
            ("https://h:8088", "https://h:8088/services/collector/event"),
            ("https://h:8088/", "https://h:8088/services/collector/event"),
            (
                "https://h:8088/services/collector",
                "https://h:8088/services/collector/event",
            ),
            (
                "https://p/splunk/services/collector/event",
                "https://p/splunk/services/collector/event",
            ),
        ] {
            let (got, _, as_given) = ends(url);
            assert_eq!((got.as_str(), as_given), (endpoint, false), "{url}");
        }
        // The query is kept on a URL used as given.
        assert_eq!(
            ends("https://l.example/api/v1/ingest/hec?x=1").0,
            "https://l.example/api/v1/ingest/hec?x=1"
        );
    }

    #[test]
    fn a_json_credential_becomes_one_sensitive_header_per_member_or_an_error_without_it() {
        let scheme = AuthScheme::JsonMembers(secops::CREDENTIAL);
        let unused = HeaderName::from_static("authorization");
        let headers = auth_headers(
            scheme,
            &unused,
            "",
            r#"{"api_key":"k1","secret":" s2 ","x":1}"#,
        )
        .unwrap();
        let shown: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            shown,
            [("x-goog-api-key", "k1"), ("x-webhook-access-key", "s2")]
        );
        assert!(headers.iter().all(|(_, v)| v.is_sensitive()));
        for bad in [
            "plain-token-value",
            r#"{"api_key":"k1"}"#,
            r#"{"api_key":"k1","secret":7}"#,
            r#"{"api_key":"","secret":"s"}"#,
            r#"["k1","s2"]"#,
        ] {
            let why = auth_headers(scheme, &unused, "", bad).unwrap_err();
            assert!(why.contains("value not shown"), "{bad}: {why}");
            assert!(!why.contains("k1") && !why.contains("plain-token"), "{why}");
        }
        let line = auth_headers(scheme, &unused, "", r#"{"api_key":"a\nb","secret":"s"}"#);
        assert!(line.is_err(), "a line break is no header value");
    }

    #[test]
    fn a_tls_failure_that_will_recur_fails_for_good_and_any_other_request_failure_is_retried() {
        let uri: hyper::Uri = "https://c.example.com/in".parse().unwrap();
        let wrapped = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let unknown_issuer = wrapped(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert!(
            matches!(request_failure(&unknown_issuer, &uri),
                     Verdict::Failed(w) if w.starts_with("TLS verification failed")),
            "a certificate the collector will show again"
        );
        let transient = wrapped(rustls::Error::AlertReceived(
            rustls::AlertDescription::InternalError,
        ));
        assert!(
            matches!(request_failure(&transient, &uri), Verdict::Retry(_)),
            "a TLS alert that may not recur"
        );
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert!(matches!(request_failure(&refused, &uri), Verdict::Retry(_)));
    }

    #[test]
    fn a_preset_writes_its_scheme_before_a_bare_token_only() {
        assert_eq!(with_scheme("Splunk ", "abc"), "Splunk abc");
        assert_eq!(with_scheme("Splunk ", "splunk abc"), "splunk abc");
        assert_eq!(with_scheme("ApiKey ", "abc"), "ApiKey abc");
        assert_eq!(with_scheme("Splunk ", "Bearer abc"), "Bearer abc");
        assert_eq!(with_scheme("", "abc"), "abc");
    }
}
