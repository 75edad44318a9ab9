//! The secret-leak test: one test runs every scenario the suite knows — Lambda mode through
//! the Runtime API and the CLI, every destination, the failure paths (refused, echoed, TLS,
//! exhausted retries, unusable secrets, bad configuration) and `check` — with a unique
//! secret planted in every secret-bearing input, and fails if any of them appears in
//! stdout, stderr, a payload sent to the Runtime API (responses, errors, the init error) or
//! a record a destination received.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::collector::{Action, Ca, Collector};
use support::guardduty::GuardDuty;
use support::moto;
use support::process::{Running, command};
use support::runtime_api::Reply;

/// A value no other test or input uses, easy to search for.
fn plant(label: &str) -> String {
    format!("LEAK{label}{:016x}", fastrand::u64(..))
}

/// Every planted secret, and everything the process let out, by scenario.
#[derive(Default)]
struct Transcript {
    secrets: Vec<(&'static str, String)>,
    outputs: Vec<(String, String)>,
}

impl Transcript {
    fn secret(&mut self, what: &'static str) -> String {
        let s = plant(what.split_whitespace().next().unwrap_or("x"));
        self.secrets.push((what, s.clone()));
        s
    }

    fn add(&mut self, scenario: &str, text: impl Into<String>) {
        self.outputs.push((scenario.to_string(), text.into()));
    }

    fn reply(&mut self, scenario: &str, reply: &Reply) {
        let text = match reply {
            Reply::Response(v) | Reply::Error(v) => v.to_string(),
        };
        self.add(scenario, text);
    }

    fn process(&mut self, scenario: &str, p: &Running) {
        self.add(scenario, p.all_output());
    }

    fn collector(&mut self, scenario: &str, c: &Collector) {
        for r in c.received() {
            self.add(scenario, String::from_utf8_lossy(&r.body).to_string());
        }
    }

    fn assert_no_leak(&self) {
        let mut leaks = Vec::new();
        for (what, secret) in &self.secrets {
            for (scenario, text) in &self.outputs {
                if text.contains(secret.as_str()) {
                    leaks.push(format!("{what} leaked in scenario {scenario}:\n{text}\n"));
                }
            }
        }
        assert!(leaks.is_empty(), "{}", leaks.join("\n"));
        // The scenarios went where they were meant to: each of these shows somewhere.
        let all: String = self.outputs.iter().map(|(_, o)| o.as_str()).collect();
        for expected in [
            "Retrying delivery",
            "HTTP 400",
            "HTTP 401",
            "HTTP 403",
            "TLS verification failed",
            "fetching the secrets again",
            "looks like a whole header",
            "looks like a secret itself",
            "plain http is refused",
            "https://127.0.0.1:",
            "COLLECTOR_AUTH_SECRET_ARN: secretsmanager:GetSecretValue",
            "not a usable collector URL",
            "\"source\":\"aws_guardduty\"",
            "EventBridge delivery failure | eb0000000000000000000000000000a1",
            "\"detail-type\":\"GuardDuty Finding\"",
        ] {
            assert!(all.contains(expected), "no scenario showed {expected:?}");
        }
    }
}

use support::finding_event;

fn malformed_event() -> Value {
    support::read_json(support::events_dir().join("malformed-finding.json"))
}

fn scheduled_event() -> Value {
    support::read_json(support::events_dir().join("scheduled.json"))
}

/// The planted inputs of one run.
struct Planted {
    auth_value: String,
    url_token: String,
    url_query: String,
    external_id: String,
}

impl Planted {
    fn new(t: &mut Transcript) -> Self {
        Planted {
            auth_value: t.secret("COLLECTOR_AUTH_VALUE token"),
            url_token: t.secret("collector URL path token"),
            url_query: t.secret("collector URL query token"),
            external_id: t.secret("ASSUME_ROLE_EXTERNAL_ID"),
        }
    }

    fn url(&self, c: &Collector) -> String {
        format!(
            "https://127.0.0.1:{}/receiver/v1/http/{}?key={}",
            c.addr.port(),
            self.url_token,
            self.url_query
        )
    }

    fn env(&self, c: &Collector, ca_file: &str) -> Vec<(&'static str, String)> {
        vec![
            ("COLLECTOR_URL", self.url(c)),
            ("COLLECTOR_CA_FILE", ca_file.to_string()),
            (
                "COLLECTOR_AUTH_VALUE",
                format!("Bearer {}", self.auth_value),
            ),
            ("COLLECTOR_TIMEOUT_SECONDS", "1".into()),
            (
                "ASSUME_ROLE_ARN",
                "arn:aws:iam::123456789012:role/reader".into(),
            ),
            ("ASSUME_ROLE_EXTERNAL_ID", self.external_id.clone()),
            ("LOG_RECORDS", "true".into()),
            ("LOG_LEVEL", "trace".into()),
        ]
    }
}

struct World {
    ca: Ca,
    ca_file: String,
    gd: GuardDuty,
    queue_url: String,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::new("leak ca");
        let ca_file = ca.write_pem(dir.path()).display().to_string();
        let gd = GuardDuty::start().await;
        gd.detector("us-east-1", "det1");
        World {
            ca,
            ca_file,
            gd,
            queue_url: moto::create_queue("leak", &[]).await,
            _dir: dir,
        }
    }

    fn base_env(&self) -> Vec<(&'static str, String)> {
        let mut env = moto::aws_env();
        env.push(("AWS_ENDPOINT_URL_GUARDDUTY", self.gd.endpoint()));
        env.push(("SQS_QUEUE_URL", self.queue_url.clone()));
        env
    }

    /// Runs the binary in Lambda mode with `env` and invokes it with each event.
    async fn lambda(
        &self,
        t: &mut Transcript,
        scenario: &str,
        env: Vec<(&'static str, String)>,
        events: &[(Value, Duration)],
    ) -> Vec<Reply> {
        let mut full = self.base_env();
        full.extend(env);
        let (api, mut p) = support::lambda::start(&full).await;
        let mut replies = Vec::new();
        for (event, timeout) in events {
            let reply = api.invoke_with_timeout(event.clone(), *timeout).await;
            t.reply(scenario, &reply);
            replies.push(reply);
        }
        if events.is_empty() {
            if let Some(e) = api.init_error(Duration::from_secs(10)).await {
                t.add(scenario, e.to_string());
            }
            // A start-up failure ends the process: all it wrote is read after that.
            let code = p.exit_code(Duration::from_secs(10));
            assert_ne!(code, 0, "{scenario}: {}", p.all_output());
        }
        // Every invocation answered (or the process ended): its output is complete.
        t.process(scenario, &p);
        replies
    }

    /// Runs the CLI with `env` and `args`, feeding `stdin`.
    async fn cli(
        &self,
        t: &mut Transcript,
        scenario: &str,
        env: Vec<(&'static str, String)>,
        args: &[&str],
        input: Option<&std::path::Path>,
    ) -> Option<i32> {
        let mut full = self.base_env();
        full.extend(env);
        let mut cmd = command(&full);
        cmd.args(args);
        if let Some(path) = input {
            cmd.arg(path);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("run the CLI");
        t.add(scenario, String::from_utf8_lossy(&out.stdout).to_string());
        t.add(scenario, String::from_utf8_lossy(&out.stderr).to_string());
        out.status.code()
    }
}

async fn lambda_scenarios(w: &World, t: &mut Transcript, p: &Planted) {
    let quick = Duration::from_secs(60);
    // Delivered after 503, a dropped connection and a 429: retry WARN lines name the URL.
    let c = Collector::start(
        &w.ca,
        vec![
            Action::Status(503),
            Action::Drop,
            Action::StatusWithRetryAfter(429, 1),
        ],
    )
    .await;
    let r = w
        .lambda(
            t,
            "lambda: retries then delivered",
            p.env(&c, &w.ca_file),
            &[
                (finding_event(), quick),
                (malformed_event(), quick),
                (scheduled_event(), quick),
            ],
        )
        .await;
    assert!(
        matches!(r.first(), Some(Reply::Response(v)) if v["forwarded"] == 1),
        "{r:?}"
    );
    t.collector("lambda: retries then delivered", &c);

    // The collector echoes the credential and URL in a 400, then in 401s.
    let c = Collector::start(
        &w.ca,
        vec![Action::Echo(400), Action::Echo(401), Action::Echo(302)],
    )
    .await;
    let r = w
        .lambda(
            t,
            "lambda: echoing collector",
            p.env(&c, &w.ca_file),
            &[
                (finding_event(), quick),
                (finding_event(), quick),
                (finding_event(), quick),
            ],
        )
        .await;
    assert!(r.iter().all(|r| matches!(r, Reply::Error(_))), "{r:?}");

    // Retries run out before the deadline.
    let c = Collector::start(&w.ca, vec![Action::Status(503); 20]).await;
    w.lambda(
        t,
        "lambda: deadline",
        p.env(&c, &w.ca_file),
        &[(finding_event(), Duration::from_secs(4))],
    )
    .await;

    // A certificate no root vouches for; a closed port.
    let c = Collector::start(&Ca::new("other ca"), vec![]).await;
    w.lambda(
        t,
        "lambda: untrusted TLS",
        p.env(&c, &w.ca_file),
        &[(finding_event(), quick)],
    )
    .await;
    let mut env = p.env(&c, &w.ca_file);
    env.push((
        "COLLECTOR_URL",
        p.url(&c).replace(&c.addr.port().to_string(), "1"),
    ));
    w.lambda(
        t,
        "lambda: connection refused",
        env,
        &[(finding_event(), Duration::from_secs(4))],
    )
    .await;
}

async fn secrets_manager_scenarios(w: &World, t: &mut Transcript) {
    use aws_sdk_secretsmanager::Client;
    let sm = Client::new(&moto::sdk_config("us-east-1"));
    let auth = t.secret("auth secret value");
    let url_token = t.secret("URL secret token");
    let name = t.secret("secret name");
    let c = Collector::start(&w.ca, vec![Action::Echo(401), Action::Echo(404)]).await;
    let url = format!(
        "https://127.0.0.1:{}/receiver/v1/http/{url_token}",
        c.addr.port()
    );
    let mut arns = Vec::new();
    for (suffix, value) in [("auth", format!("Splunk {auth}")), ("url", url.clone())] {
        let out = sm
            .create_secret()
            .name(format!("{name}-{suffix}"))
            .secret_string(value)
            .send()
            .await
            .expect("create secret");
        arns.push(out.arn().expect("arn").to_string());
    }
    let env = |auth_arn: &str, url_arn: &str| {
        vec![
            ("COLLECTOR_URL_SECRET_ARN", url_arn.to_string()),
            ("COLLECTOR_AUTH_SECRET_ARN", auth_arn.to_string()),
            ("COLLECTOR_CA_FILE", w.ca_file.clone()),
            ("COLLECTOR_TIMEOUT_SECONDS", "1".into()),
            // The most verbose level: the SDK's and HTTP stack's own debug lines included.
            ("LOG_LEVEL", "trace".into()),
        ]
    };
    let (auth_arn, url_arn) = (arns[0].clone(), arns[1].clone());
    let r = w
        .lambda(
            t,
            "lambda: both secrets, refused then refetched",
            env(&auth_arn, &url_arn),
            &[
                (finding_event(), Duration::from_secs(60)),
                (finding_event(), Duration::from_secs(60)),
            ],
        )
        .await;
    t.collector("lambda: both secrets", &c);
    assert!(
        c.received().iter().any(|r| r.status == 200),
        "the URL from Secrets Manager was used: {r:?}"
    );
    let missing = auth_arn.replace(&name, &format!("{name}-gone"));
    w.lambda(
        t,
        "lambda: missing secret",
        env(&missing, &url_arn),
        &[(finding_event(), Duration::from_secs(60))],
    )
    .await;
    sm.put_secret_value()
        .secret_id(&url_arn)
        .secret_string(format!("http://127.0.0.1:1/{url_token}"))
        .send()
        .await
        .expect("rotate");
    w.lambda(
        t,
        "lambda: unusable URL secret",
        env(&auth_arn, &url_arn),
        &[(finding_event(), Duration::from_secs(60))],
    )
    .await;
    w.cli(
        t,
        "check: secrets",
        env(&auth_arn, &url_arn),
        &["check"],
        None,
    )
    .await;
}

async fn config_mistake_scenarios(w: &World, t: &mut Transcript) {
    let token = t.secret("mistaken header token");
    let pasted = t.secret("secret pasted as ARN");
    let url_token = t.secret("http URL token");
    let userinfo = t.secret("URL password");
    let ext = t.secret("invalid external id");
    let base = "https://127.0.0.1:1/x";
    let mistakes: Vec<(&str, Vec<(&'static str, String)>)> = vec![
        (
            "whole header",
            vec![
                ("COLLECTOR_URL", base.into()),
                (
                    "COLLECTOR_AUTH_HEADER",
                    format!("Authorization: Bearer {token}"),
                ),
            ],
        ),
        (
            "value as header",
            vec![
                ("COLLECTOR_URL", base.into()),
                ("COLLECTOR_AUTH_HEADER", format!("Bearer {token}")),
            ],
        ),
        (
            "secret as ARN",
            vec![
                ("COLLECTOR_URL", base.into()),
                ("COLLECTOR_AUTH_SECRET_ARN", format!("Bearer {pasted}")),
            ],
        ),
        (
            "URL as URL secret ARN",
            vec![(
                "COLLECTOR_URL_SECRET_ARN",
                format!("https://c.example/{pasted}"),
            )],
        ),
        (
            "http URL with token",
            vec![(
                "COLLECTOR_URL",
                format!("http://u:{userinfo}@c.example/receiver/{url_token}?k={url_token}"),
            )],
        ),
        (
            "bad URL with token",
            vec![(
                "COLLECTOR_URL",
                format!("https://u:{userinfo}@/{url_token} x"),
            )],
        ),
        (
            "bad auth value",
            vec![
                ("COLLECTOR_URL", base.into()),
                ("COLLECTOR_AUTH_VALUE", format!("Bearer {token}\u{7}")),
            ],
        ),
        (
            "external id without role",
            vec![
                ("LOG_RECORDS", "true".into()),
                ("ASSUME_ROLE_EXTERNAL_ID", ext.clone()),
            ],
        ),
        (
            "external id malformed",
            vec![
                ("LOG_RECORDS", "true".into()),
                ("ASSUME_ROLE_ARN", "arn:aws:iam::123456789012:role/r".into()),
                ("ASSUME_ROLE_EXTERNAL_ID", format!("{ext} {ext}")),
            ],
        ),
    ];
    for (name, env) in mistakes {
        w.lambda(t, &format!("lambda init: {name}"), env.clone(), &[])
            .await;
        let code = w
            .cli(
                t,
                &format!("cli forward: {name}"),
                env.clone(),
                &["forward", "-"],
                None,
            )
            .await;
        assert_ne!(code, Some(0), "{name}");
        w.cli(
            t,
            &format!("cli check: {name}"),
            env.clone(),
            &["check"],
            None,
        )
        .await;
        w.cli(
            t,
            &format!("cli check --json: {name}"),
            env,
            &["check", "--json"],
            None,
        )
        .await;
    }
}

async fn cli_scenarios(w: &World, t: &mut Transcript, p: &Planted) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("findings.json");
    let events = Value::Array(vec![finding_event(), malformed_event()]);
    std::fs::write(&input, events.to_string()).expect("write input");
    let c = Collector::start(&w.ca, vec![Action::Status(503)]).await;
    w.cli(
        t,
        "cli forward: delivered",
        p.env(&c, &w.ca_file),
        &["forward"],
        Some(&input),
    )
    .await;
    t.collector("cli forward: delivered", &c);
    let c = Collector::start(&w.ca, vec![Action::Echo(403); 4]).await;
    w.cli(
        t,
        "cli forward: refused",
        p.env(&c, &w.ca_file),
        &["forward"],
        Some(&input),
    )
    .await;
    w.cli(
        t,
        "cli check: refused",
        p.env(&c, &w.ca_file),
        &["check"],
        None,
    )
    .await;
    w.cli(
        t,
        "cli check --json: refused",
        p.env(&c, &w.ca_file),
        &["check", "--json"],
        None,
    )
    .await;
    let c = Collector::start(&w.ca, vec![]).await;
    w.cli(t, "cli check: ok", p.env(&c, &w.ca_file), &["check"], None)
        .await;
    w.cli(
        t,
        "cli backfill",
        p.env(&c, &w.ca_file),
        &["backfill", "--since", "5m"],
        None,
    )
    .await;
    let untrusted = Collector::start(&Ca::new("other"), vec![]).await;
    w.cli(
        t,
        "cli check: untrusted",
        p.env(&untrusted, &w.ca_file),
        &["check"],
        None,
    )
    .await;
}

/// The dead-letter queue listed and redriven with every planted input, through a collector
/// that echoes the request, then every message left in it and in the destination queue.
async fn dlq_scenarios(w: &World, t: &mut Transcript, p: &Planted) {
    let dlq = moto::create_queue("leak-dlq", &[]).await;
    let fixture =
        support::read_json(support::fixtures().join("dlq/eventbridge-delivery-failure.json"));
    aws_sdk_sqs::Client::new(&moto::sdk_config("us-east-1"))
        .send_message()
        .queue_url(&dlq)
        .message_body(fixture["body"].to_string())
        .send()
        .await
        .expect("send to the DLQ");
    let c = Collector::start(&w.ca, vec![Action::Echo(400); 4]).await;
    let mut env = p.env(&c, &w.ca_file);
    env.push(("DLQ_URL", dlq.clone()));
    w.cli(t, "dlq list", env.clone(), &["dlq", "list"], None)
        .await;
    w.cli(
        t,
        "dlq list --json",
        env.clone(),
        &["dlq", "list", "--json"],
        None,
    )
    .await;
    let code = w.cli(t, "redrive: refused", env, &["redrive"], None).await;
    assert_ne!(code, Some(0), "the collector refused the redrive");
    t.collector("redrive: refused", &c);
    for (scenario, queue) in [("DLQ messages", &dlq), ("destination queue", &w.queue_url)] {
        let bodies = moto::drain_bodies(queue).await;
        assert!(!bodies.is_empty(), "{scenario}: nothing to read");
        for b in bodies {
            t.add(scenario, b.to_string());
        }
    }
}

#[tokio::test]
async fn no_planted_secret_appears_in_any_output_of_any_scenario() {
    let w = World::new().await;
    let mut t = Transcript::default();
    let p = Planted::new(&mut t);
    lambda_scenarios(&w, &mut t, &p).await;
    secrets_manager_scenarios(&w, &mut t).await;
    config_mistake_scenarios(&w, &mut t).await;
    cli_scenarios(&w, &mut t, &p).await;
    dlq_scenarios(&w, &mut t, &p).await;
    t.assert_no_leak();
}
