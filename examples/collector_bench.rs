//! Delivery to a local HTTPS collector: a TLS server on loopback (certificate from a CA made
//! here), the release binary's `forward` of N findings to it, findings/s and requests per
//! finding. Usage: cargo run --release --example collector_bench -- [N] [--gzip]
//! (after `cargo build --release`; scripts/bench-forward runs both). Figures: BENCHMARKS.md.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::PrivateKeyDer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let gzip = args.iter().any(|a| a == "--gzip");
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der())?,
        )?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let requests = Arc::new(AtomicU64::new(0));
    let bytes_in = Arc::new(AtomicU64::new(0));
    let (r, b) = (requests.clone(), bytes_in.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, r, b) = (acceptor.clone(), r.clone(), b.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (r, b) = (r.clone(), b.clone());
                        async move {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            r.fetch_add(1, Ordering::Relaxed);
                            b.fetch_add(body.len() as u64, Ordering::Relaxed);
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"{}"),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });

    let dir = tempfile::tempdir()?;
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem())?;
    let input = dir.path().join("findings.ndjson");
    let template = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "tests/fixtures/corpus/ec2__Canary-Stateless.IntegTest__aws-gd-automated-response.json",
    ))?;
    let mut finding: serde_json::Value = serde_json::from_str(&template)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&input)?);
    for i in 0..n {
        finding["id"] = format!("{i:032x}").into();
        writeln!(out, "{finding}")?;
    }
    out.flush()?;
    drop(out);

    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join(std::env::var("BENCH_PROFILE").unwrap_or_else(|_| "release".into()))
        .join("guardduty-forwarder");
    let started = Instant::now();
    let status = tokio::process::Command::new(&bin)
        .arg("forward")
        .arg(&input)
        .env(
            "COLLECTOR_URL",
            format!("https://127.0.0.1:{}/ingest", addr.port()),
        )
        .env("COLLECTOR_CA_FILE", &ca_file)
        .env("COLLECTOR_GZIP", if gzip { "true" } else { "false" })
        .stdout(std::process::Stdio::null())
        .status()
        .await?;
    let took = started.elapsed();
    let reqs = requests.load(Ordering::Relaxed);
    println!(
        "collector{}: {n} findings in {:.0} ms = {:.0} findings/s, {reqs} requests ({:.4} per finding), {:.1} MB on the wire, exit {status}",
        if gzip { " (gzip)" } else { "" },
        took.as_secs_f64() * 1000.0,
        n as f64 / took.as_secs_f64(),
        reqs as f64 / n as f64,
        bytes_in.load(Ordering::Relaxed) as f64 / 1e6,
    );
    Ok(())
}
