//! Account context through the binary: the account's name, OU path and tags from AWS
//! Organizations (the emulator, moto) or from a mapping document, in the native record and in
//! OCSF; once per container per time-to-live; and delivery that never waits on it or fails
//! for it (an access denial, an endpoint that is down or hangs), counted by
//! `EnrichmentFailed`.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::organizations::{self, Answer, Recorder};
use support::process::command;
use support::{lambda, moto};

/// A finding of `account` with id `id`.
fn finding(id: &str, account: &str) -> Value {
    json!({"id": id, "accountId": account, "region": "eu-west-1", "partition": "aws",
           "severity": 5, "type": "Recon:EC2/Portscan", "updatedAt": "2026-11-22T00:00:00Z"})
}

/// `forward FILE` of `findings` with `env`.
fn forward(env: &[(&str, String)], findings: &[Value]) -> Output {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    for f in findings {
        std::io::Write::write_all(&mut file, format!("{f}\n").as_bytes()).expect("write");
    }
    let path = file.path().to_str().expect("utf-8 path").to_string();
    command(env)
        .args(["forward", &path])
        .output()
        .expect("run forward")
}

fn records(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "forward failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect()
}

/// An account of our own in the emulator's organization, at `Root/<Security-…>/Prod`,
/// tagged; its id, OU path and name.
async fn account_in_an_ou() -> (String, String, String) {
    let root = organizations::root().await;
    let security = moto::unique("Security");
    let top = organizations::create_ou(&root, &security).await;
    let prod = organizations::create_ou(&top, "Prod").await;
    let name = moto::unique("prod-payments");
    let id = organizations::create_account(
        &name,
        &prod,
        &[("owner", "payments"), ("cost-center", "42")],
    )
    .await;
    (id, format!("Root/{security}/Prod"), name)
}

/// The value of `metric` in the EMF documents printed so far, summed.
fn metric(proc_: &support::process::Running, metric: &str) -> u64 {
    proc_.emf().iter().filter_map(|d| d[metric].as_u64()).sum()
}

#[tokio::test]
async fn organizations_gives_each_record_its_accounts_name_ou_path_and_tags() {
    let (account, ou_path, name) = account_in_an_ou().await;
    let mut env = moto::aws_env();
    env.push(("ACCOUNT_CONTEXT", "organizations".into()));
    // An account the organization does not hold is no failure: it goes without a name.
    let findings = [finding("f-1", &account), finding("f-2", "000011112222")];
    let native = records(&forward(&env, &findings));
    assert_eq!(native[0]["account_name"], name.as_str());
    assert_eq!(native[0]["account_ou_path"], ou_path.as_str());
    assert_eq!(
        native[0]["account_tags"],
        json!({"cost-center": "42", "owner": "payments"})
    );
    assert_eq!(
        native[0]["console_url"],
        "https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=f-1"
    );
    for key in ["account_name", "account_ou_path", "account_tags"] {
        assert!(native[1].get(key).is_none(), "{key} in {}", native[1]);
    }

    env.push(("OUTPUT_SCHEMA", "ocsf".into()));
    let ocsf = records(&forward(&env, &findings[..1]));
    let cloud = &ocsf[0]["cloud"];
    assert_eq!(cloud["account"]["name"], name.as_str());
    assert!(
        cloud["org"]["uid"]
            .as_str()
            .is_some_and(|o| o.starts_with("o-")),
        "{cloud}"
    );
    assert_eq!(cloud["org"]["ou_name"], ou_path.as_str());
    assert!(
        cloud["org"]["ou_uid"]
            .as_str()
            .is_some_and(|o| o.starts_with("ou-")),
        "{cloud}"
    );
    assert_eq!(ocsf[0]["unmapped"]["account_tags"]["owner"], "payments");
    assert_eq!(ocsf[0]["finding_info"]["src_url"], native[0]["console_url"]);
}

#[tokio::test]
async fn a_second_invocation_in_the_same_container_asks_organizations_nothing_again() {
    let (account, ou_path, name) = account_in_an_ou().await;
    let recorder = Recorder::start(Answer::Emulator).await;
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_ORGANIZATIONS", recorder.endpoint()));
    env.push(("ACCOUNT_CONTEXT", "organizations".into()));
    env.push(("LOG_RECORDS", "true".into()));
    let (api, proc_) = lambda::start(&env).await;

    let first = lambda::invoke_ok(
        &api,
        &proc_,
        support::event_of(&finding("f-1", &account), 1),
    )
    .await;
    assert_eq!(first["forwarded"], 1, "{first}");
    let asked = recorder.calls();
    assert!(
        asked.len() >= 5 && asked.iter().all(|c| !c.contains("unsigned")),
        "{asked:?}"
    );
    let second = lambda::invoke_ok(
        &api,
        &proc_,
        support::event_of(&finding("f-2", &account), 2),
    )
    .await;
    assert_eq!(second["forwarded"], 1, "{second}");
    assert_eq!(
        recorder.calls(),
        asked,
        "asked again within the time-to-live"
    );

    let records = proc_.records();
    assert_eq!(records.len(), 2, "{}", proc_.all_output());
    for r in &records {
        assert_eq!(r["account_name"], name.as_str());
        assert_eq!(r["account_ou_path"], ou_path.as_str());
    }
    assert_eq!(metric(&proc_, "EnrichmentFailed"), 0);
}

#[tokio::test]
async fn an_access_denial_delivers_every_record_without_a_name_counts_it_and_stops_asking() {
    let recorder = Recorder::start(Answer::Refuse(400, "AccessDeniedException")).await;
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_ORGANIZATIONS", recorder.endpoint()));
    env.push(("ACCOUNT_CONTEXT", "organizations".into()));
    // The mapping still names the accounts it holds.
    env.push(("ACCOUNT_NAMES", r#"{"444455556666": "sec-tooling"}"#.into()));
    env.push(("LOG_RECORDS", "true".into()));
    let (api, proc_) = lambda::start(&env).await;

    let first = lambda::invoke_ok(
        &api,
        &proc_,
        support::event_of(&finding("f-1", "111122223333"), 1),
    )
    .await;
    assert_eq!(first["forwarded"], 1, "{first}");
    assert_eq!(
        metric(&proc_, "EnrichmentFailed"),
        1,
        "{}",
        proc_.all_output()
    );
    let second = lambda::invoke_ok(
        &api,
        &proc_,
        support::event_of(&finding("f-2", "444455556666"), 2),
    )
    .await;
    assert_eq!(second["forwarded"], 1, "{second}");
    let third = lambda::invoke_ok(
        &api,
        &proc_,
        support::event_of(&finding("f-3", "777788889999"), 3),
    )
    .await;
    assert_eq!(third["forwarded"], 1, "{third}");

    assert_eq!(
        recorder.calls(),
        ["DescribeAccount"],
        "asked again after a denial"
    );
    let records = proc_.records();
    assert_eq!(records.len(), 3, "{}", proc_.all_output());
    assert!(records[0].get("account_name").is_none(), "{}", records[0]);
    assert_eq!(records[1]["account_name"], "sec-tooling");
    assert!(records[2].get("account_name").is_none(), "{}", records[2]);
    assert_eq!(metric(&proc_, "EnrichmentFailed"), 2);
    let warnings: Vec<String> = proc_
        .stderr()
        .into_iter()
        .filter(|l| l.contains("AWS Organizations failed"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("access denied"), "{}", warnings[0]);
}

#[tokio::test]
async fn an_organizations_endpoint_that_is_down_or_hangs_never_fails_or_stalls_delivery() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let hung = support::hung_endpoint().await;
    for endpoint in [closed, hung] {
        let mut env = moto::aws_env();
        env.push((
            "AWS_ENDPOINT_URL_ORGANIZATIONS",
            format!("http://{endpoint}"),
        ));
        env.push(("ACCOUNT_CONTEXT", "organizations".into()));
        env.push(("LOG_RECORDS", "true".into()));
        let (api, proc_) = lambda::start(&env).await;
        let started = Instant::now();
        let r = lambda::invoke_ok(
            &api,
            &proc_,
            support::event_of(&finding("f-1", "111122223333"), 1),
        )
        .await;
        assert_eq!(r["forwarded"], 1, "{r}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the lookup held delivery {:?}",
            started.elapsed()
        );
        let records = proc_.records();
        assert_eq!(records.len(), 1, "{}", proc_.all_output());
        assert!(records[0].get("account_name").is_none());
        assert!(records[0]["console_url"].is_string());
        assert_eq!(
            metric(&proc_, "EnrichmentFailed"),
            1,
            "{}",
            proc_.all_output()
        );
    }
}

#[tokio::test]
async fn the_mapping_document_names_accounts_inline_or_from_an_ssm_parameter() {
    let document = r#"{"111122223333": "prod-payments",
        "444455556666": {"name": "sec-tooling", "ou_path": "Root/Security", "tags": {"owner": "secops"}}}"#;
    let findings = [
        finding("f-1", "111122223333"),
        finding("f-2", "444455556666"),
        finding("f-3", "777788889999"),
    ];
    let inline = records(&forward(&[("ACCOUNT_NAMES", document.into())], &findings));

    let parameter = moto::unique("/gdf/accounts");
    aws_sdk_ssm::Client::new(&moto::sdk_config("us-east-1"))
        .put_parameter()
        .name(&parameter)
        .value(document)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put the parameter");
    let mut env = moto::aws_env();
    env.push(("ACCOUNT_NAMES_PARAMETER", parameter));
    let from_ssm = records(&forward(&env, &findings));

    for got in [&inline, &from_ssm] {
        assert_eq!(got[0]["account_name"], "prod-payments");
        assert!(got[0].get("account_ou_path").is_none());
        assert_eq!(got[1]["account_name"], "sec-tooling");
        assert_eq!(got[1]["account_ou_path"], "Root/Security");
        assert_eq!(got[1]["account_tags"], json!({"owner": "secops"}));
        assert!(got[2].get("account_name").is_none());
    }

    // OCSF 1.8.0: the tags on the account; the OU path unmapped (no organization id).
    let ocsf = records(&forward(
        &[
            ("ACCOUNT_NAMES", document.into()),
            ("OUTPUT_SCHEMA", "ocsf".into()),
            ("OCSF_VERSION", "1.8.0".into()),
        ],
        &findings[1..2],
    ));
    assert_eq!(ocsf[0]["cloud"]["account"]["name"], "sec-tooling");
    assert_eq!(
        ocsf[0]["cloud"]["account"]["tags"],
        json!([{"name": "owner", "value": "secops"}])
    );
    assert!(ocsf[0]["cloud"].get("org").is_none());
    assert_eq!(ocsf[0]["unmapped"]["account_ou_path"], "Root/Security");
}

#[tokio::test]
async fn a_mapping_parameter_that_cannot_be_read_delivers_without_names() {
    let mut env = moto::aws_env();
    env.push(("ACCOUNT_NAMES_PARAMETER", moto::unique("/gdf/missing")));
    let out = forward(&env, &[finding("f-1", "111122223333")]);
    let got = records(&out);
    assert!(got[0].get("account_name").is_none());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mapping parameter could not be read"),
        "{stderr}"
    );
}

#[test]
fn a_bad_mapping_or_source_fails_start_up_naming_the_variable() {
    for (var, value) in [
        ("ACCOUNT_NAMES", r#"{"111122223333": {"nmae": "x"}}"#),
        ("ACCOUNT_CONTEXT", "ldap"),
        ("ACCOUNT_CONTEXT_TTL_SECONDS", "0"),
    ] {
        let out = forward(&[(var, value.into())], &[finding("f-1", "111122223333")]);
        assert!(!out.status.success(), "{var}={value} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{stderr}");
    }
}
