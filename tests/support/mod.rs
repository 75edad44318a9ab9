//! Test support, shared by every integration test: local stand-ins for what the forwarder
//! talks to (`guardduty`, `collector`, `products`, `runtime_api`, the AWS emulator in
//! `moto`), the one fixture loader (`corpus`), the built binary (`process`) and its Lambda
//! start-up (`lambda`), and waits on a condition with a deadline (`wait_until`).
//!
//! Which binary runs: CLI tests run `env!("CARGO_BIN_EXE_guardduty-forwarder")`. Lambda-mode
//! tests (every environment naming `AWS_LAMBDA_RUNTIME_API`, see `process::command`) run
//! the packaged `bootstrap` when **`GDF_LAMBDA_BOOTSTRAP`** holds the path of the unzipped
//! `bootstrap` of the release zip (`.ci/run` builds the zip, unzips it and sets it; an arm64
//! bootstrap runs under `qemu-aarch64`), else that same debug binary.
//!
//! Output of the binary is read from files, not pipes (`process::Running`): what the
//! process wrote before it answered an invocation or exited is all there once the answer is
//! seen, so a check that something was *not* printed reads everything, with no sleep.
#![allow(dead_code)]

pub mod collector;
pub mod corpus;
pub mod firehose;
pub mod guardduty;
pub mod lambda;
pub mod moto;
pub mod organizations;
pub mod process;
pub mod products;
pub mod runtime_api;

use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("events")
}

pub fn read_json(path: impl AsRef<std::path::Path>) -> serde_json::Value {
    let p = path.as_ref();
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The sample finding event (`events/guardduty-finding.json`), as EventBridge delivers it.
pub fn finding_event() -> serde_json::Value {
    read_json(events_dir().join("guardduty-finding.json"))
}

/// An EventBridge "GuardDuty Finding" event carrying `detail`, with event id `ev-<n>`.
pub fn event_of(detail: &serde_json::Value, n: usize) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": format!("ev-{n}"), "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty", "account": "123456789012", "time": "2026-11-22T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": detail,
    })
}

/// Polls `check` until it gives a value or `within` passes (then `None`).
pub fn wait_until<T>(
    within: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let end = std::time::Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if std::time::Instant::now() >= end {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `wait_until` for async tests: polls without blocking the runtime the stand-ins run on.
pub async fn wait_for<T>(
    within: std::time::Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let end = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if tokio::time::Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// An endpoint that accepts connections and never answers (a hung AWS endpoint), for as
/// long as the test runs.
pub async fn hung_endpoint() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    addr
}

/// Serves HTTP/1.1 on `listener` until the test ends, answering each request with `handle`.
pub fn serve_http<F, Fut>(listener: tokio::net::TcpListener, handle: F)
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let fut = handle(req);
                    async move { Ok::<_, std::convert::Infallible>(fut.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
}
