//! Runs the built binary with a chosen environment and captures what it prints.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_guardduty-forwarder");

/// A running forwarder; killed when dropped.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// A command for the binary with a clean environment: no AWS settings leak in from the
/// machine; only what the test gives, plus PATH and HOME.
///
/// Runs in Lambda mode (the environment names `AWS_LAMBDA_RUNTIME_API`) use the packaged
/// `bootstrap` when `GDF_LAMBDA_BOOTSTRAP` points at one, so the artifact users deploy is
/// what is tested; an arm64 `bootstrap` on another machine runs under `qemu-aarch64` with
/// the Debian cross libc (`qemu-user`, `libc6-arm64-cross`).
pub fn command(env: &[(&str, String)]) -> Command {
    let lambda = env.iter().any(|(k, _)| *k == "AWS_LAMBDA_RUNTIME_API");
    let mut cmd = match std::env::var("GDF_LAMBDA_BOOTSTRAP") {
        Ok(bootstrap) if lambda && !bootstrap.is_empty() => packaged(&bootstrap),
        _ => Command::new(BIN),
    };
    cmd.env_clear();
    for var in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The packaged bootstrap, under qemu when it is an arm64 binary and this machine is not.
fn packaged(bootstrap: &str) -> Command {
    let mut header = [0u8; 20];
    std::fs::File::open(bootstrap)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .unwrap_or_else(|e| panic!("GDF_LAMBDA_BOOTSTRAP={bootstrap}: {e}"));
    // ELF e_machine, little-endian, at offset 18: 0xB7 is AArch64.
    let arm64 = header.get(18..20) == Some(&[0xB7, 0x00][..]);
    if arm64 && std::env::consts::ARCH != "aarch64" {
        let mut cmd = Command::new("qemu-aarch64");
        cmd.args(["-L", "/usr/aarch64-linux-gnu", bootstrap]);
        cmd
    } else {
        Command::new(bootstrap)
    }
}

/// The environment Lambda gives a function, pointing at `api`.
pub fn lambda_env(api: std::net::SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "guardduty-forwarder".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/guardduty-forwarder".into(),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/22/[$LATEST]abc".into(),
        ),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ]
}

fn collect(reader: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            match line {
                Ok(l) => into.lock().unwrap().push(l),
                Err(_) => return,
            }
        }
    });
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn the forwarder");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), stdout.clone());
        collect(child.stderr.take().expect("stderr"), stderr.clone());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// The process id (to read `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything printed so far, both streams.
    pub fn all_output(&self) -> String {
        let mut s = self.stdout().join("\n");
        s.push('\n');
        s.push_str(&self.stderr().join("\n"));
        s
    }

    /// Waits for the process to exit; its exit code, or `None` if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let end = std::time::Instant::now() + within;
        while std::time::Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads drain.
                std::thread::sleep(Duration::from_millis(50));
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Waits until `ready` holds for the stdout lines collected so far (or `within` passes).
    pub fn wait_for_stdout(&self, within: Duration, ready: impl Fn(&[String]) -> bool) {
        let end = std::time::Instant::now() + within;
        while std::time::Instant::now() < end && !ready(&self.stdout()) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (up to 10 s) until at least `n` records were written; returns them all.
    pub async fn wait_for_records(&self, n: usize) -> Vec<serde_json::Value> {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.records();
            if got.len() >= n || std::time::Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (up to 10 s) until a stderr line contains `needle`.
    pub async fn wait_for_stderr(&self, needle: &str) -> bool {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if self.stderr().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if std::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Records the forwarder wrote on stdout (lines with `"source":"aws_guardduty"`).
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["source"] == "aws_guardduty")
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
