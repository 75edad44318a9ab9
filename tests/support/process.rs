//! Runs the built binary with a chosen environment and captures what it prints.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_guardduty-forwarder");

/// A running forwarder; killed when dropped.
pub struct Running {
    child: Child,
    stdout: Mutex<Capture>,
    stderr: Mutex<Capture>,
    _files: [tempfile::NamedTempFile; 2],
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

/// One output stream of the child, written to a file and read back as it grows.
///
/// A file, not a pipe: the forwarder writes its records, metrics and diagnostics with
/// plain `write` calls before it answers an invocation or exits, so once the answer (or the
/// exit) is seen here, everything written before it is already in the file. Reading it is
/// then complete, with no reader thread to race.
struct Capture {
    file: std::fs::File,
    partial: Vec<u8>,
    lines: Vec<String>,
}

impl Capture {
    fn new(file: &tempfile::NamedTempFile) -> Capture {
        Capture {
            file: file.reopen().expect("reopen the output file"),
            partial: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Every complete line written so far.
    fn read(&mut self) -> Vec<String> {
        let mut more = Vec::new();
        std::io::Read::read_to_end(&mut self.file, &mut more).expect("read the output file");
        self.partial.extend_from_slice(&more);
        if let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') {
            let done: Vec<u8> = self.partial.drain(..=end).collect();
            for line in done[..done.len() - 1].split(|b| *b == b'\n') {
                self.lines.push(String::from_utf8_lossy(line).into_owned());
            }
        }
        self.lines.clone()
    }
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        let out = tempfile::NamedTempFile::new().expect("stdout file");
        let err = tempfile::NamedTempFile::new().expect("stderr file");
        cmd.stdout(Stdio::from(out.reopen().expect("stdout")))
            .stderr(Stdio::from(err.reopen().expect("stderr")))
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("spawn the forwarder");
        Running {
            child,
            stdout: Mutex::new(Capture::new(&out)),
            stderr: Mutex::new(Capture::new(&err)),
            _files: [out, err],
        }
    }

    /// The process id (to read `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line written on stdout so far (complete once an invocation was answered).
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().read()
    }

    /// Every line written on stderr so far (complete once an invocation was answered).
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().read()
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
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            if std::time::Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit code of a process that must stop by itself within `within`; fails the test,
    /// with what it printed, when it is still running or was killed by a signal.
    pub fn exit_code(&mut self, within: Duration) -> i32 {
        match self.wait_exit(within) {
            Some(-1) => panic!("killed by a signal:\n{}", self.all_output()),
            Some(code) => code,
            None => panic!("still running after {within:?}:\n{}", self.all_output()),
        }
    }

    /// Asserts the process stopped by itself with a failure code and said why on stderr,
    /// naming `why` (the variable at fault, say).
    pub fn assert_failed_naming(&mut self, why: &str) {
        let code = self.exit_code(Duration::from_secs(10));
        assert_ne!(code, 0, "exited 0:\n{}", self.all_output());
        assert!(
            self.stderr().iter().any(|l| l.contains(why)),
            "stderr does not name {why}:\n{}",
            self.all_output()
        );
    }

    /// Waits until `ready` holds for the stdout lines written so far; fails the test with
    /// what was written when it does not within `within`.
    pub fn wait_for_stdout(&self, within: Duration, ready: impl Fn(&[String]) -> bool) {
        let lines = super::wait_until(within, || {
            let lines = self.stdout();
            ready(&lines).then_some(lines)
        });
        assert!(
            lines.is_some(),
            "stdout never got there:\n{}",
            self.all_output()
        );
    }

    /// Records the forwarder wrote on stdout (lines with `"source":"aws_guardduty"`).
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["source"] == "aws_guardduty")
            .collect()
    }

    /// The EMF metric documents written on stdout.
    pub fn emf(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
