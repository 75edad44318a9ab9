//! Invoke latency: a Lambda Runtime API stand-in written in Rust runs the built binary in
//! Lambda mode and measures our own time per invocation, from the event handed out on
//! `/invocation/next` to the response posted, p50 / p99, with the process's peak RSS.
//!
//! Usage: runtime_api_bench [log|https] [INVOKES] [BINARY]
//!   log:   records to the log stream (`LOG_RECORDS=true`)
//!   https: records to a kept-alive local TLS collector (certificate from a CA made here)
//! Prints one line a script can compare across commits:
//!   invoke sink=log n=300 p50_us=… p99_us=… max_us=… peak_rss_kb=…
//! `scripts/bench-invoke` builds and runs both. Figures: BENCHMARKS.md.

/// The tests' TLS collector: a CA made for the run, a server on 127.0.0.1 answering 200.
#[path = "../tests/support/collector.rs"]
#[allow(dead_code)]
mod collector;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};

/// Invocations run before measuring: connections opened, clients built, caches warm.
const WARMUP: usize = 20;

#[derive(Default)]
struct State {
    next: usize,
    handed_at: Option<Instant>,
    samples: Vec<Duration>,
    failures: usize,
}

#[derive(Clone)]
struct Api {
    event: Bytes,
    total: usize,
    state: Arc<Mutex<State>>,
    done: Arc<tokio::sync::Notify>,
}

impl Api {
    async fn route(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let _ = req.into_body().collect().await;
        if path.ends_with("/invocation/next") {
            return self.next().await;
        }
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(handed) = state.handed_at.take() {
            if path.ends_with("/error") {
                state.failures += 1;
            }
            if state.next > WARMUP {
                state.samples.push(now - handed);
            }
        }
        if state.next >= self.total {
            self.done.notify_one();
        }
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = hyper::StatusCode::ACCEPTED;
        r
    }

    async fn next(&self) -> Response<Full<Bytes>> {
        let n = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.next += 1;
            state.next
        };
        if n > self.total {
            // Hold the last poll until the benchmark ends and kills the process.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + 30_000;
        let response = Response::builder()
            .header("lambda-runtime-aws-request-id", format!("req-{n}"))
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:guardduty-forwarder",
            )
            .body(Full::new(self.event.clone()))
            .unwrap_or_default();
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .handed_at = Some(Instant::now());
        response
    }
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0, Duration::as_micros)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let sink = args.get(1).map_or("log", String::as_str);
    let invokes: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(300);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            root.join(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
                .join(std::env::var("BENCH_PROFILE").unwrap_or_else(|_| "release".into()))
                .join("guardduty-forwarder")
        });
    let event = std::fs::read(root.join("events/guardduty-finding.json"))?;
    let api = Api {
        event: Bytes::from(event),
        total: invokes + WARMUP,
        state: Default::default(),
        done: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = api.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let api = server.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, std::convert::Infallible>(api.route(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });

    let dir = tempfile::tempdir()?;
    let mut env: Vec<(&str, String)> = vec![
        ("AWS_LAMBDA_RUNTIME_API", addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "guardduty-forwarder".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ];
    let _collector = match sink {
        "log" => {
            env.push(("LOG_RECORDS", "true".into()));
            None
        }
        "https" => {
            let ca = collector::Ca::new("bench");
            let collector = collector::Collector::start(&ca, vec![]).await;
            env.push(("COLLECTOR_URL", collector.url()));
            env.push((
                "COLLECTOR_CA_FILE",
                ca.write_pem(dir.path()).display().to_string(),
            ));
            Some(collector)
        }
        other => return Err(format!("sink must be log or https, not {other}").into()),
    };
    let mut cmd = tokio::process::Command::new(&binary);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    tokio::select! {
        _ = api.done.notified() => {}
        _ = tokio::time::sleep(Duration::from_secs(120)) => return Err("timed out".into()),
        status = child.wait() => return Err(format!("the binary exited early: {status:?}").into()),
    }
    let peak = vm_hwm_kb(pid);
    let _ = child.kill().await;
    let state = api.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.failures > 0 {
        return Err(format!("{} invocation(s) failed", state.failures).into());
    }
    let mut samples = state.samples.clone();
    samples.sort();
    println!(
        "invoke sink={sink} n={} p50_us={} p99_us={} max_us={} peak_rss_kb={peak}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples.last().map_or(0, Duration::as_micros),
    );
    Ok(())
}
