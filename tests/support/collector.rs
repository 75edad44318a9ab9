//! A real HTTPS collector on 127.0.0.1 with a certificate from a CA generated per test, and a
//! script of faults to play: statuses, `Retry-After`, dropped connections, stalls. Past the
//! script, a [`Responder`] (a product stand-in from `products`) may answer instead of 200.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

/// What the collector does with the next request.
#[derive(Debug, Clone)]
pub enum Action {
    Status(u16),
    StatusWithRetryAfter(u16, u64),
    StatusWithBody(u16, String),
    /// Close the connection without answering.
    Drop,
    /// Answer 200, but only after this long.
    Stall(Duration),
    /// Answer with this status and a body repeating the request's target and headers, as a
    /// careless collector's error page might.
    Echo(u16),
}

/// One request as received, body decompressed when gzip.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub raw_len: usize,
    pub body: Vec<u8>,
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The records in the body (NDJSON or a JSON array).
    pub fn records(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8_lossy(&self.body);
        if self.header("content-type") == Some("application/json") {
            serde_json::from_str::<Vec<serde_json::Value>>(&text).expect("JSON array body")
        } else {
            text.lines()
                .map(|l| serde_json::from_str(l).expect("NDJSON line"))
                .collect()
        }
    }
}

/// A certificate authority made for one test.
pub struct Ca {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("ca cert");
        Ca { key, cert }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA certificate to a PEM file in `dir`.
    pub fn write_pem(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("collector-ca.pem");
        std::fs::write(&path, self.pem()).expect("write ca");
        path
    }

    fn server_cert(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::V4(
                std::net::Ipv4Addr::LOCALHOST,
            )));
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign");
        let key_der = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        (vec![cert.der().clone()], key_der)
    }
}

/// An answer from a product stand-in.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }
}

/// Answers requests past the script, the way a product would.
pub type Responder = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

#[derive(Clone)]
pub struct Collector {
    pub addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Action>>>,
    received: Arc<Mutex<Vec<Received>>>,
    responder: Option<Responder>,
}

impl Collector {
    /// Starts a collector whose certificate `ca` signed. Requests past the script get 200.
    pub async fn start(ca: &Ca, script: Vec<Action>) -> Collector {
        Self::start_with(ca, script, None).await
    }

    /// Starts a collector whose answers past `script` come from `responder`.
    pub async fn start_with(
        ca: &Ca,
        script: Vec<Action>,
        responder: Option<Responder>,
    ) -> Collector {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (certs, key) = ca.server_cert();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let collector = Collector {
            addr: listener.local_addr().expect("addr"),
            script: Arc::new(Mutex::new(script.into())),
            received: Default::default(),
            responder,
        };
        let server = collector.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let server = server.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { server.handle(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        collector
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/ingest", self.addr.port())
    }

    /// The collector's address without a path, the way a product's base URL is given.
    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Records of the requests that were answered 2xx.
    pub fn delivered_records(&self) -> Vec<serde_json::Value> {
        self.received()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(Received::records)
            .collect()
    }

    async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let target = req.uri().to_string();
        let method = req.method().to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).to_string(),
                )
            })
            .collect();
        let gzip = headers
            .iter()
            .any(|(k, v)| k == "content-encoding" && v == "gzip");
        let raw = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .expect("gzip body");
            out
        } else {
            raw.to_vec()
        };
        let scripted = self.script.lock().unwrap().pop_front();
        let mut received = Received {
            method,
            path,
            headers,
            raw_len: raw.len(),
            body,
            status: 0,
        };
        let action = match (scripted, &self.responder) {
            (Some(a), _) => a,
            (None, Some(responder)) => {
                let reply = responder(&received);
                received.status = reply.status;
                self.received.lock().unwrap().push(received);
                let mut r = Response::new(Full::new(Bytes::from(reply.body)));
                *r.status_mut() = hyper::StatusCode::from_u16(reply.status).expect("status");
                for (k, v) in reply.headers {
                    r.headers_mut().insert(k, v.parse().expect("header"));
                }
                return Ok(r);
            }
            (None, None) => Action::Status(200),
        };
        let status = match &action {
            Action::Status(s)
            | Action::StatusWithRetryAfter(s, _)
            | Action::StatusWithBody(s, _)
            | Action::Echo(s) => *s,
            // Neither counts as delivered: the connection is gone, or the client gave up waiting.
            Action::Drop | Action::Stall(_) => 0,
        };
        let echo = format!("{target} {:?}", received.headers);
        received.status = status;
        self.received.lock().unwrap().push(received);
        let reply = |status: u16, body: String| {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
            r
        };
        match action {
            Action::Status(s) => Ok(reply(s, "{}".into())),
            Action::StatusWithBody(s, b) => Ok(reply(s, b)),
            Action::Echo(s) => Ok(reply(s, echo)),
            Action::StatusWithRetryAfter(s, secs) => {
                let mut r = reply(s, "slow down".into());
                r.headers_mut()
                    .insert("retry-after", secs.to_string().parse().expect("header"));
                Ok(r)
            }
            Action::Drop => Err(std::io::Error::other("dropped by the test collector")),
            Action::Stall(d) => {
                tokio::time::sleep(d).await;
                Ok(reply(200, "{}".into()))
            }
        }
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Collector({})", self.addr)
    }
}
