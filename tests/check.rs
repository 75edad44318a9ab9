//! `guardduty-forwarder check` against the local AWS emulator, the GuardDuty stand-in and a
//! local TLS collector: all green, then each dependency broken in turn.

mod support;

use serde_json::Value;
use support::collector::{Action, Ca, Collector};
use support::guardduty::GuardDuty;
use support::moto;
use support::process::command;

struct World {
    gd: GuardDuty,
    collector: Collector,
    queue_url: String,
    dir: tempfile::TempDir,
    ca: Ca,
}

async fn world(collector_script: Vec<Action>) -> World {
    let gd = GuardDuty::start().await;
    gd.detector("us-east-1", "det1");
    let ca = Ca::new("check ca");
    let collector = Collector::start(&ca, collector_script).await;
    let queue_url = moto::create_queue("check", &[]).await;
    World {
        gd,
        collector,
        queue_url,
        dir: tempfile::tempdir().unwrap(),
        ca,
    }
}

impl World {
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = moto::aws_env();
        env.push(("AWS_ENDPOINT_URL_GUARDDUTY", self.gd.endpoint()));
        env.push(("SQS_QUEUE_URL", self.queue_url.clone()));
        env.push(("COLLECTOR_URL", self.collector.url()));
        env.push((
            "COLLECTOR_CA_FILE",
            self.ca.write_pem(self.dir.path()).display().to_string(),
        ));
        env.push(("COLLECTOR_AUTH_VALUE", "Bearer check-secret-123".into()));
        env.push((
            "CHECKPOINT_PARAMETER",
            format!("/{}", moto::unique("check-cp")),
        ));
        env
    }
}

async fn check(env: Vec<(&'static str, String)>, json: bool) -> (Option<i32>, String, String) {
    let mut cmd = command(&env);
    cmd.arg("check");
    if json {
        cmd.arg("--json");
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Changes the environment so that one dependency breaks.
type Breaker = dyn Fn(&mut Vec<(&'static str, String)>);

fn replace(env: &mut Vec<(&'static str, String)>, key: &'static str, value: String) {
    env.retain(|(k, _)| *k != key);
    env.push((key, value));
}

#[tokio::test]
async fn every_check_passes_on_a_working_deployment() {
    let w = world(vec![]).await;
    let (code, stdout, stderr) = check(w.env(), false).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    for name in [
        "configuration",
        "credentials",
        "guardduty us-east-1",
        "sqs",
        "collector",
        "checkpoint",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("✔ {name}:"))),
            "{name} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("1 detector(s)"));
    // The configuration line says where records go and whose credentials the checks use.
    let configuration = lines
        .iter()
        .find(|l| l.starts_with("✔ configuration:"))
        .expect("configuration line");
    assert!(configuration.contains("https (ndjson)"), "{configuration}");
    assert!(
        configuration.contains("this machine's AWS credentials, not the function's role"),
        "{configuration}"
    );
    let probe = &w.collector.received()[0];
    assert_eq!(
        probe.header("authorization"),
        Some("Bearer check-secret-123")
    );
    assert!(!stdout.contains("check-secret-123") && !stderr.contains("check-secret-123"));
}

#[tokio::test]
async fn each_broken_dependency_gives_its_own_failed_line_and_a_failing_exit_code() {
    let w = world(vec![Action::StatusWithBody(401, "invalid token".into())]).await;
    let cases: Vec<(&str, Box<Breaker>)> = vec![
        ("✘ collector:", Box::new(|_env| {})),
        (
            "✘ guardduty eu-west-2: GuardDuty is not enabled in eu-west-2",
            Box::new(|env| replace(env, "GUARDDUTY_REGIONS", "us-east-1,eu-west-2".into())),
        ),
        (
            "✘ sqs:",
            Box::new(|env| {
                replace(
                    env,
                    "SQS_QUEUE_URL",
                    format!("{}/{}/missing-queue", moto::endpoint(), moto::ACCOUNT),
                )
            }),
        ),
        (
            "✘ checkpoint:",
            Box::new(|env| replace(env, "AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:1".into())),
        ),
        (
            "✘ credentials:",
            Box::new(|env| replace(env, "AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1".into())),
        ),
        (
            "✘ configuration: MIN_SEVERITY",
            Box::new(|env| replace(env, "MIN_SEVERITY", "loud".into())),
        ),
        (
            "✘ configuration: COLLECTOR_FORMAT: is set but neither COLLECTOR_URL",
            Box::new(|env| {
                env.retain(|(k, _)| !k.starts_with("COLLECTOR_"));
                replace(env, "COLLECTOR_FORMAT", "bogus".into())
            }),
        ),
    ];
    for (expected, breaks) in cases {
        let mut env = w.env();
        breaks(&mut env);
        let (code, stdout, stderr) = check(env, false).await;
        // A rejected configuration is exit code 2, as for every command; a failed check 1.
        let want = if expected.contains("configuration") {
            2
        } else {
            1
        };
        assert_eq!(code, Some(want), "{expected}\n{stdout}\n{stderr}");
        assert!(
            stdout.lines().any(|l| l.starts_with(expected)),
            "expected {expected:?} in:\n{stdout}"
        );
        assert!(!stdout.contains("check-secret-123") && !stderr.contains("check-secret-123"));
    }
}

#[tokio::test]
async fn json_output_lists_every_check_for_machines() {
    let w = world(vec![]).await;
    let (code, stdout, _) = check(w.env(), true).await;
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let checks = v.as_array().unwrap();
    // configuration, credentials, guardduty us-east-1 (and its topology), sqs, collector,
    // checkpoint.
    assert_eq!(checks.len(), 7);
    assert!(
        checks
            .iter()
            .all(|c| c["ok"] == true && c["check"].is_string() && c["detail"].is_string())
    );
}

#[tokio::test]
async fn a_collector_refusing_an_empty_batch_with_400_still_passes_the_probe() {
    // Splunk HEC answers an empty body with 400 "No data": TLS and the token were fine.
    let w = world(vec![Action::StatusWithBody(
        400,
        "{\"text\":\"No data\",\"code\":5}".into(),
    )])
    .await;
    let (code, stdout, stderr) = check(w.env(), false).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("✔ collector:") && stdout.contains("credential accepted (HTTP 400"),
        "{stdout}"
    );
}

/// The topology line of `check`'s output.
fn topology(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with("✔ guardduty us-east-1 topology:"))
        .unwrap_or_else(|| panic!("no topology line in:\n{stdout}"))
        .to_string()
}

#[tokio::test]
async fn check_names_the_guardduty_organization_model_it_sees() {
    let w = world(vec![]).await;
    let (code, stdout, _) = check(w.env(), false).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(topology(&stdout).contains("standalone"), "{stdout}");

    w.gd.administrator("us-east-1", "111111111111");
    let (_, stdout, _) = check(w.env(), false).await;
    let line = topology(&stdout);
    assert!(
        line.contains("member of the GuardDuty administrator 111111111111"),
        "{line}"
    );

    w.gd.members("us-east-1", &["222222222222", "333333333333"]);
    let (code, stdout, _) = check(w.env(), false).await;
    assert_eq!(code, Some(0), "{stdout}");
    let line = topology(&stdout);
    assert!(
        line.contains("administrator of 2 member account(s)"),
        "{line}"
    );
    assert!(!line.contains("warning"), "{line}");
}

#[tokio::test]
async fn check_warns_of_settings_that_would_forward_a_finding_twice() {
    let w = world(vec![]).await;
    w.gd.members("us-east-1", &["222222222222"]);
    let mut env = w.env();
    replace(&mut env, "GUARDDUTY_REGIONS", "us-east-1".into());
    let (code, stdout, _) = check(env, false).await;
    assert_eq!(code, Some(0), "a warning, not a failure: {stdout}");
    let line = topology(&stdout);
    assert!(
        line.contains("warning: GUARDDUTY_REGIONS is the same for every stack"),
        "{line}"
    );
}

#[tokio::test]
async fn check_reads_the_state_table_and_names_it_when_it_cannot() {
    let w = world(vec![]).await;
    let (_client, table) = moto::state_table().await;
    let mut env = w.env();
    replace(&mut env, "STATE_TABLE", table.clone());
    let (code, stdout, stderr) = check(env.clone(), false).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("✔ state: table {table} readable")),
        "{stdout}"
    );
    // With the state table, the SSM checkpoint is only read once to migrate: not probed.
    assert!(!stdout.contains("checkpoint:"), "{stdout}");
    replace(&mut env, "STATE_TABLE", "gdf-no-such-table".into());
    let (code, stdout, _) = check(env, false).await;
    assert_ne!(code, Some(0), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("✘ state:"))
        .unwrap_or_else(|| panic!("no state line:\n{stdout}"));
    assert!(line.contains("gdf-no-such-table"), "{line}");
}
