//! The operator's CLI at its edges, through the built binary: a backfill that only reaches
//! the terminal moves no state, and AWS failures read as one line a person can act on (no
//! credentials, AccessDenied from moto's IAM enforcement, an unreachable or hung endpoint),
//! with the SDK's whole error chain only at `LOG_LEVEL=debug`.

mod support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::guardduty::{GuardDuty, finding, now_ms};
use support::moto;
use support::process::command;

async fn output(cmd: Command) -> Output {
    let mut cmd = cmd;
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

#[tokio::test]
async fn a_backfill_without_a_destination_prints_the_findings_and_leaves_the_checkpoint_alone() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 5 * 60_000;
    let findings = (0..6)
        .map(|i| {
            finding(
                "us-east-1",
                "det1",
                &format!("cp-{i}"),
                base + i,
                false,
                5.0,
            )
        })
        .collect();
    gd.add("us-east-1", "det1", findings);
    let prefix = format!("/{}", moto::unique("cli-cp"));
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.push(("CHECKPOINT_PARAMETER", prefix.clone()));
    env.push(("BACKFILL_SETTLE_SECONDS", "0".into()));
    let mut cmd = command(&env);
    cmd.args(["backfill", "--region", "us-east-1"]);
    let out = output(cmd).await;
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(text(&out.stdout).lines().count(), 6, "{err}");
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("checkpoint is read, not moved"))
        .collect();
    assert_eq!(said.len(), 1, "one line says so: {err}");
    // Nothing was written under the prefix: the function's own backfill still owns the window.
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config("us-east-1"));
    let stored = ssm
        .get_parameters_by_path()
        .path(&prefix)
        .recursive(true)
        .send()
        .await
        .expect("read parameters");
    assert!(
        stored.parameters().is_empty(),
        "checkpoint written: {:?}",
        stored.parameters()
    );
}

/// An environment with nothing to find credentials in: no AWS variables, an empty HOME,
/// no instance metadata.
fn no_credentials(home: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("HOME", home.display().to_string()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        (
            "DLQ_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/dlq".into(),
        ),
    ]
}

#[tokio::test]
async fn without_credentials_check_says_where_it_looked_in_one_line_and_no_sdk_dump() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = command(&no_credentials(home.path()));
    cmd.arg("check");
    let out = output(cmd).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("✘ credentials:"))
        .unwrap_or_else(|| panic!("no credentials line: {stdout}"));
    assert!(line.contains("no AWS credentials found"), "{line}");
    for place in [
        "AWS_ACCESS_KEY_ID",
        "~/.aws/credentials",
        "instance metadata",
    ] {
        assert!(line.contains(place), "{place} in {line}");
    }
    assert!(line.contains("aws configure"), "what to do: {line}");
    // No SDK warning and no HTTP structure dump reaches the person.
    for noise in ["WARN", "HttpResponse", "dispatch failure", "SdkBody"] {
        assert!(
            !stdout.contains(noise) && !stderr.contains(noise),
            "{noise}: {stdout}{stderr}"
        );
    }
    assert_eq!(
        stderr.lines().count(),
        1,
        "only the summary on stderr: {stderr}"
    );

    // The other commands say the same in one line.
    let mut cmd = command(&no_credentials(home.path()));
    cmd.args(["dlq", "list"]);
    let out = output(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("dlq list FAILED: sqs:ReceiveMessage on https://sqs.us-east-1")
            && stderr.contains("no AWS credentials found"),
        "{stderr}"
    );

    for run in [
        &["backfill", "--since", "1h"][..],
        &["replay", "--since", "1h"],
    ] {
        let mut cmd = command(&no_credentials(home.path()));
        cmd.args(run);
        let out = output(cmd).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{run:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("{} FAILED: no AWS credentials found", run[0])),
            "{stderr}"
        );
    }

    // At LOG_LEVEL=debug the whole chain is there for whoever digs.
    let mut env = no_credentials(home.path());
    env.push(("LOG_LEVEL", "debug".into()));
    let mut cmd = command(&env);
    cmd.args(["dlq", "list"]);
    let out = output(cmd).await;
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("AWS call failed.") && stderr.contains("CredentialsNotLoaded"),
        "{stderr}"
    );
}

#[tokio::test]
async fn without_a_region_check_says_how_to_set_one() {
    let home = tempfile::tempdir().unwrap();
    let mut env = no_credentials(home.path());
    env.retain(|(k, _)| *k != "AWS_REGION");
    let mut cmd = command(&env);
    cmd.arg("check");
    let out = output(cmd).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✘ region: no AWS region: set AWS_REGION"),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_named_with_what_the_system_said() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut env = moto::aws_env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")));
    let mut cmd = command(&env);
    cmd.args([
        "dlq",
        "list",
        "--queue",
        &format!("http://127.0.0.1:{port}/123456789012/dlq"),
    ]);
    let out = output(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach the AWS endpoint") && stderr.contains("refused"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_hung_aws_endpoint_ends_the_call_within_its_budget_and_says_so() {
    let addr = support::hung_endpoint().await;
    let mut env = moto::aws_env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", format!("http://{addr}")));
    let mut cmd = command(&env);
    cmd.args([
        "dlq",
        "list",
        "--queue",
        &format!("http://{addr}/123456789012/dlq"),
    ]);
    let started = Instant::now();
    let out = output(cmd).await;
    let took = started.elapsed();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The budget's operation timeout (30 s, retries included), not the SDK's retries
    // multiplied by ours.
    assert!(took < Duration::from_secs(40), "took {took:?}: {stderr}");
    assert!(stderr.contains("no answer from AWS in time"), "{stderr}");
}

/// A second moto, with IAM enforcement on after `free` requests: the shared one serves
/// every other test without it.
struct EnforcingMoto {
    child: Child,
    port: u16,
}

impl Drop for EnforcingMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's server from the venv `scripts/test` uses (`GDF_VENV`, else `.venv`).
fn moto_server() -> std::path::PathBuf {
    let venv = std::env::var("GDF_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    venv.join("bin/moto_server")
}

async fn enforcing_moto(free: u32) -> EnforcingMoto {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = moto_server();
    let child = Command::new(&server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", free.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (set GDF_VENV to the moto venv)", server.display()));
    let moto = EnforcingMoto { child, port };
    let end = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < end, "moto did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    moto
}

/// An unsigned Query-protocol call (counted among moto's free ones); the answer's body.
async fn query(port: u16, service: &str, form: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    answer
}

fn tag<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("{name} in {xml}")) + open.len();
    let len = xml[start..].find(&format!("</{name}>")).unwrap();
    &xml[start..start + len]
}

#[tokio::test]
async fn access_denied_names_the_action_and_the_resource_in_one_line() {
    // Free: CreateUser, CreateAccessKey, CreateQueue; then IAM decides.
    let moto = enforcing_moto(3).await;
    query(
        moto.port,
        "iam",
        "Action=CreateUser&UserName=operator&Version=2010-05-08",
    )
    .await;
    let key = query(
        moto.port,
        "iam",
        "Action=CreateAccessKey&UserName=operator&Version=2010-05-08",
    )
    .await;
    let (id, secret) = (
        tag(&key, "AccessKeyId").to_string(),
        tag(&key, "SecretAccessKey").to_string(),
    );
    let created = query(
        moto.port,
        "sqs",
        "Action=CreateQueue&QueueName=dlq&Version=2012-11-05",
    )
    .await;
    assert!(created.contains("QueueUrl"), "{created}");
    let queue = format!("http://127.0.0.1:{}/123456789012/dlq", moto.port);
    let home = tempfile::tempdir().unwrap();
    let env = vec![
        ("HOME", home.path().display().to_string()),
        ("AWS_REGION", "us-east-1".into()),
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        ),
        ("AWS_ACCESS_KEY_ID", id),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("SQS_QUEUE_URL", queue.clone()),
    ];
    let mut cmd = command(&env);
    cmd.args(["dlq", "list", "--queue", &queue]);
    let out = output(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("sqs:ReceiveMessage on {queue}: access denied"))
            && stderr.contains("user/operator")
            && stderr.contains("allow sqs:ReceiveMessage"),
        "{stderr}"
    );

    let mut cmd = command(&env);
    cmd.arg("check");
    let out = output(cmd).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✔ credentials: arn:aws:iam::123456789012:user/operator"),
        "{stdout}"
    );
    let sqs = stdout
        .lines()
        .find(|l| l.starts_with("✘ sqs:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        sqs.contains("sqs:GetQueueAttributes") && sqs.contains("access denied"),
        "{sqs}"
    );
}

#[tokio::test]
async fn an_aws_endpoint_with_an_untrusted_certificate_is_named_as_a_tls_failure() {
    // A TLS server whose certificate no trusted root signed.
    let ca = support::collector::Ca::new("untrusted ca");
    let server = support::collector::Collector::start(&ca, vec![]).await;
    let mut env = moto::aws_env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", server.base_url()));
    let queue = format!("{}/123456789012/dlq", server.base_url());
    let mut cmd = command(&env);
    cmd.args(["dlq", "list", "--queue", &queue]);
    let out = output(cmd).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("TLS failure talking to AWS"), "{stderr}");
}
