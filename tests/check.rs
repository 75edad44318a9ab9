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
    check_with(env, &[], json).await
}

/// `check` with these arguments (and `--json`); exit code, stdout, stderr.
async fn check_with(
    env: Vec<(&'static str, String)>,
    args: &[&str],
    json: bool,
) -> (Option<i32>, String, String) {
    let mut cmd = command(&env);
    cmd.arg("check").args(args);
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
    // Each probe says whose credentials (and network) it ran with.
    for (name, mark) in [
        ("credentials", "[operator credentials]"),
        ("sqs", "[operator credentials]"),
        ("collector", "[operator credentials and network]"),
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("✔ {name}:")))
            .unwrap_or_else(|| panic!("{name} missing:\n{stdout}"));
        assert!(line.ends_with(mark), "{line}");
    }
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
    let runs_with: Vec<&str> = checks
        .iter()
        .map(|c| c["runs_with"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(runs_with[0], "settings", "{stdout}");
    assert!(runs_with.contains(&"operator credentials"), "{stdout}");
    assert!(
        runs_with.contains(&"operator credentials and network"),
        "{stdout}"
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
            .any(|l| l == format!("✔ state: table {table} readable [operator credentials]")),
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

// ---- check --function ----

/// `check --function NAME` with the operator's environment `env`.
async fn check_function(
    env: Vec<(&'static str, String)>,
    function: &str,
    json: bool,
) -> (Option<i32>, String, String) {
    check_with(env, &["--function", function], json).await
}

/// The operator's shell: AWS access to the emulator and the GuardDuty stand-in, plus
/// forwarder settings of its own that `check --function` must not read (one refused, one a
/// queue that does not exist).
fn operator_env(w: &World) -> Vec<(&'static str, String)> {
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", w.gd.endpoint()));
    env.push((
        "SQS_QUEUE_URL",
        format!("{}/{}/local-shell-queue", moto::endpoint(), moto::ACCOUNT),
    ));
    env.push(("MIN_SEVERITY", "loud".into()));
    env
}

/// The settings deployed with the function: the world's, without the AWS access variables,
/// and a token in the collector URL's query (as webhook receivers take one).
fn function_env(w: &World) -> Vec<(&'static str, String)> {
    let mut env: Vec<_> = w
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_"))
        .collect();
    replace(
        &mut env,
        "COLLECTOR_URL",
        format!("{}?token=url-token-456", w.collector.url()),
    );
    env
}

#[tokio::test]
async fn check_function_checks_the_deployed_settings_and_not_the_shells() {
    let w = world(vec![]).await;
    let name = moto::unique("gdf");
    let (arn, role) = moto::create_function(&name, &function_env(&w)).await;
    let (code, stdout, stderr) = check_function(operator_env(&w), &name, false).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("✔ {name}:")))
            .unwrap_or_else(|| panic!("no ✔ {name} line:\n{stdout}\n{stderr}"))
            .to_string()
    };
    let function = line("function");
    assert!(
        function.contains(&arn) && function.contains(&role) && function.contains("provided.al2023"),
        "{function}"
    );
    assert!(function.ends_with("[operator credentials]"), "{function}");
    let configuration = line("configuration");
    assert!(
        configuration.contains(&format!("the settings of {arn}")),
        "{configuration}"
    );
    // The function's queue is probed; the shell's is never read.
    assert!(line("sqs").contains(&w.queue_url), "{stdout}");
    assert!(
        !stdout.contains("local-shell-queue") && !stdout.contains("loud"),
        "{stdout}"
    );
    assert!(line("credentials").ends_with("[operator credentials]"));
    assert!(line("collector").ends_with("[operator credentials and network]"));
    line("checkpoint");
    // Whose credentials ran the checks, and how to exercise the role itself.
    assert!(
        stderr.contains(&format!("not with the function's role {role}"))
            && stderr.contains(&format!("aws lambda invoke --function-name {name}")),
        "{stderr}"
    );
    // The credential deployed with the function is sent to the collector, never printed.
    assert_eq!(
        w.collector.received()[0].header("authorization"),
        Some("Bearer check-secret-123")
    );
    for secret in ["check-secret-123", "url-token-456"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret}"
        );
    }

    let (code, json, _) = check_function(operator_env(&w), &arn, true).await;
    assert_eq!(code, Some(0), "{json}");
    let checks: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(checks[0]["check"], "function");
    assert_eq!(checks[0]["runs_with"], "operator credentials");
    assert!(!json.contains("check-secret-123") && !json.contains("url-token-456"));
}

#[tokio::test]
async fn check_function_refuses_the_functions_own_bad_settings_with_exit_2() {
    let w = world(vec![]).await;
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (
            vec![
                ("COLLECTOR_URL", w.collector.url()),
                ("MIN_SEVERITY", "deafening".into()),
                ("COLLECTOR_AUTH_VALUE", "Bearer check-secret-123".into()),
            ],
            "MIN_SEVERITY",
        ),
        (
            vec![("LOG_LEVEL", "info".into())],
            "no destination configured",
        ),
        (vec![], "has no environment variables"),
    ];
    for (variables, expected) in cases {
        let name = moto::unique("gdf-bad");
        let (_arn, _role) = moto::create_function(&name, &variables).await;
        // The shell's own settings would be fine: they are not what is checked.
        let mut env = moto::aws_env();
        env.push(("SQS_QUEUE_URL", w.queue_url.clone()));
        let (code, stdout, stderr) = check_function(env, &name, false).await;
        assert_eq!(code, Some(2), "{expected}\n{stdout}\n{stderr}");
        let failed = stdout
            .lines()
            .find(|l| l.starts_with("✘ "))
            .unwrap_or_else(|| panic!("no ✘ line:\n{stdout}"));
        assert!(
            failed.contains(expected) && failed.contains(&name),
            "{expected}: {failed}"
        );
        assert!(!stdout.contains("check-secret-123") && !stderr.contains("check-secret-123"));
    }
}

#[tokio::test]
async fn check_function_names_a_function_that_does_not_exist() {
    let name = moto::unique("gdf-missing");
    let (code, stdout, stderr) = check_function(moto::aws_env(), &name, false).await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let line = stdout.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(&format!(
            "✘ function: function {name} not found in us-east-1"
        )),
        "{stdout}"
    );
    assert!(line.ends_with("[operator credentials]"), "{line}");
    assert!(
        stderr.contains("lambda:GetFunctionConfiguration"),
        "{stderr}"
    );
}

#[tokio::test]
async fn check_function_says_which_permission_is_missing_and_signs_for_lambda() {
    // A Lambda endpoint of its own (AWS_ENDPOINT_URL_LAMBDA) that refuses, as IAM would.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = seen.clone();
    support::serve_http(listener, move |req| {
        let log = log.clone();
        async move {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            log.lock().unwrap().push((req.uri().to_string(), auth));
            hyper::Response::builder()
                .status(403)
                .header("x-amzn-errortype", "AccessDeniedException")
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(
                    r#"{"Message":"User: arn:aws:iam::123456789012:user/operator is not authorized to perform: lambda:GetFunctionConfiguration"}"#,
                )))
                .unwrap()
        }
    });
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_LAMBDA", format!("http://{addr}")));
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:gdf:live";
    let (code, stdout, stderr) = check_function(env, arn, false).await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "✘ function: lambda:GetFunctionConfiguration on {arn}: access denied (User: "
        )),
        "{stdout}"
    );
    let seen = seen.lock().unwrap().clone();
    let (path, auth) = &seen[0];
    assert_eq!(
        path,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Agdf%3Alive/configuration"
    );
    // Signed for Lambda in the ARN's region, with the operator's key.
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=testing/")
            && auth.contains("/eu-west-1/lambda/aws4_request"),
        "{auth}"
    );
    assert_eq!(seen.len(), 1, "a refusal is not retried");

    // An endpoint that does not answer: named, after the attempts.
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:1".into()));
    let (code, stdout, _) = check_function(env, "gdf", false).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.starts_with(
            "✘ function: lambda:GetFunctionConfiguration on gdf: cannot reach http://127.0.0.1:1/…"
        ),
        "{stdout}"
    );

    // Arguments that cannot name one function: exit 2 before any call.
    let (code, stdout, _) = check_function(moto::aws_env(), "gdf/../other", false).await;
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.starts_with("✘ function: --function \"gdf/../other\""),
        "{stdout}"
    );
}

#[tokio::test]
async fn check_lists_each_named_destination_with_its_filter_and_its_probe() {
    let w = world(vec![]).await;
    let ca_file = w.ca.write_pem(w.dir.path()).display().to_string();
    let doc = serde_json::json!({"destinations": [
        {"name": "archive", "type": "sqs", "queue_url": w.queue_url},
        {"name": "siem", "type": "https", "url": w.collector.url(), "ca_file": ca_file,
         "filter": {"min_severity": "high", "types": ["*:EC2/*"]}},
        {"name": "gone", "type": "sqs",
         "queue_url": format!("{}/123456789012/no-such-queue", moto::endpoint())},
    ]});
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", w.gd.endpoint()));
    env.push(("DESTINATIONS", doc.to_string()));
    let (code, stdout, stderr) = check(env, false).await;
    assert_eq!(code, Some(1), "the missing queue fails: {stdout}\n{stderr}");
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{stdout}"))
            .to_string()
    };
    assert!(line("✔ sqs archive:").contains("reachable"));
    let siem = line("✔ collector siem:");
    assert!(
        siem.contains("[receives: min_severity high, types *:EC2/*]"),
        "{siem}"
    );
    line("✘ sqs gone:");
    assert!(
        line("✔ configuration:").contains("archive = sqs, siem = https (ndjson), gone = sqs"),
        "{stdout}"
    );
}
