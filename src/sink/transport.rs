//! The collector's HTTP transport, kept small and strict: a TLS-verifying connector that
//! refuses plain http unless `COLLECTOR_ALLOW_HTTP`, a response reader that never reads past
//! its bound ([`MAX_RESPONSE_BYTES`], or what the protocol says an answer about a request of
//! n records may legitimately take), and the classification of a TLS failure from the
//! error's type.
//!
//! Invariants: no response body is buffered past the bound it is read with; a request error is
//! a TLS failure exactly when a `rustls::Error` is found walking its `source()` chain
//! (through `std::io::Error`'s inner error, which `source()` skips).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use tracing::debug;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// No collector answer is read past this many bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why the TLS client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("COLLECTOR_CA_FILE: a certificate in it is not a usable root: {0}")]
    Root(#[source] rustls::Error),
    #[error("TLS set-up failed: {0}")]
    Tls(#[source] rustls::Error),
}

/// A client that verifies TLS against the platform's roots plus `extra_roots`, speaks
/// HTTP/1.1, does not follow redirects (hyper never does), and connects to `https://` only
/// unless `allow_http`.
pub fn build_client(
    extra_roots: &[CertificateDer<'static>],
    allow_http: bool,
) -> Result<HttpClient, TransportError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        debug!(message = "Some platform certificates could not be read.", error = %e);
    }
    let (_, _ignored) = roots.add_parsable_certificates(native.certs);
    for c in extra_roots {
        roots.add(c.clone()).map_err(TransportError::Root)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(TransportError::Tls)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let connector = if allow_http {
        builder.https_or_http().enable_http1().build()
    } else {
        builder.https_only().enable_http1().build()
    };
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(50))
        .build(connector))
}

/// A response body as read within the bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseBody {
    Complete(Bytes),
    /// Longer than [`MAX_RESPONSE_BYTES`]: not read further.
    TooLarge,
    /// The body could not be read in time or the connection failed while reading it.
    Unreadable,
}

impl ResponseBody {
    pub fn bytes(&self) -> &[u8] {
        match self {
            ResponseBody::Complete(b) => b,
            ResponseBody::TooLarge | ResponseBody::Unreadable => &[],
        }
    }
}

/// Reads at most `limit` bytes of a body through `http_body_util::Limited`, giving up after
/// `timeout`.
pub async fn read_bounded<B>(body: B, limit: usize, timeout: Duration) -> ResponseBody
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limited = Limited::new(body, limit);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Ok(Ok(collected)) => ResponseBody::Complete(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => ResponseBody::TooLarge,
        _ => ResponseBody::Unreadable,
    }
}

/// The `rustls::Error` behind a request error, if TLS is what failed.
pub fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    // hyper-rustls wraps tokio-rustls's io::Error in another io::Error.
    crate::aws_error::find_source::<rustls::Error>(e)
}

/// Whether a TLS failure will fail the same way on retry: the peer's certificate, name or
/// protocol support, or an alert saying so. Transient ones (I/O mid-handshake) are not.
pub fn is_permanent_tls_failure(e: &rustls::Error) -> bool {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType
        | rustls::Error::PeerIncompatible(_)
        | rustls::Error::InvalidCertRevocationList(_) => true,
        rustls::Error::AlertReceived(alert) => matches!(
            alert,
            A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::HandshakeFailure
                | A::ProtocolVersion
                | A::InsufficientSecurity
                | A::AccessDenied
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_certificate_error_wrapped_in_io_errors_is_found_by_type() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let io = std::io::Error::other(io);
        let outer = Outer(io);
        let found = tls_error(&outer).expect("the rustls error");
        assert!(is_permanent_tls_failure(found));
    }

    #[test]
    fn an_error_that_merely_mentions_a_certificate_is_not_a_tls_failure() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "certificate InvalidCertificate",
        );
        assert!(tls_error(&Outer(io)).is_none());
    }

    #[tokio::test]
    async fn the_connector_refuses_plain_http_before_connecting_unless_allowed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let client = build_client(&[], false).expect("client");
        let req = hyper::Request::post(url.as_str())
            .body(Full::new(Bytes::new()))
            .expect("request");
        let sent = client.request(req).await;
        assert!(sent.is_err());
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "no connection was opened");

        let client = build_client(&[], true).expect("client");
        let req = hyper::Request::post(url.as_str())
            .body(Full::new(Bytes::new()))
            .expect("request");
        let pending = tokio::spawn(async move { client.request(req).await });
        let accepted = tokio::time::timeout(Duration::from_secs(2), listener.accept()).await;
        assert!(
            matches!(accepted, Ok(Ok(_))),
            "COLLECTOR_ALLOW_HTTP connects"
        );
        pending.abort();
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_not_read() {
        let big = Full::new(Bytes::from(vec![b'x'; MAX_RESPONSE_BYTES + 1]));
        assert_eq!(
            read_bounded(big, MAX_RESPONSE_BYTES, Duration::from_secs(1)).await,
            ResponseBody::TooLarge
        );
        let small = Full::new(Bytes::from_static(b"ok"));
        assert_eq!(
            read_bounded(small, MAX_RESPONSE_BYTES, Duration::from_secs(1)).await,
            ResponseBody::Complete(Bytes::from_static(b"ok"))
        );
    }
}
