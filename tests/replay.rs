//! `guardduty-forwarder replay` through the built binary: a fixed range of `updatedAt` from
//! the GuardDuty stand-in, the checkpoint left exactly as it was.

mod support;

use serde_json::Value;
use support::guardduty::{GuardDuty, finding, iso, now_ms};
use support::moto;
use support::process::command;

fn run(env: Vec<(&'static str, String)>, args: Vec<String>) -> std::process::Output {
    command(&env).args(args).output().expect("run the binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_delivers_exactly_the_range_and_leaves_the_checkpoint_alone() {
    let now = now_ms();
    let since = now - 3 * 3_600_000;
    let until = now - 3_600_000;
    let gd = GuardDuty::start().await;
    gd.add(
        "us-east-1",
        "det1",
        vec![
            finding("us-east-1", "det1", "before", since - 1, false, 5.0),
            finding("us-east-1", "det1", "first", since, false, 5.0),
            finding("us-east-1", "det1", "middle", since + 3_600_000, false, 8.0),
            finding("us-east-1", "det1", "at-until", until, false, 5.0),
            finding("us-east-1", "det1", "after", until + 60_000, false, 5.0),
        ],
    );
    let prefix = format!("/{}", moto::unique("gdf-replay"));
    let parameter = format!("{prefix}/us-east-1/det1");
    let checkpoint = format!(
        "{{\"updated_at\":\"{}\",\"ids\":[\"after\"]}}",
        iso(now - 60_000)
    );
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config("us-east-1"));
    ssm.put_parameter()
        .name(&parameter)
        .value(&checkpoint)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();

    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.push(("CHECKPOINT_PARAMETER", prefix.clone()));
    let args = vec![
        "replay".to_string(),
        "--since".into(),
        iso(since),
        "--until".into(),
        iso(until),
        "--region".into(),
        "us-east-1".into(),
        "--detector".into(),
        "det1".into(),
    ];
    let out = tokio::task::spawn_blocking(move || run(env, args))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let mut ids: Vec<&str> = records.iter().filter_map(|r| r["id"].as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["first", "middle"], "[since, until) only");
    assert!(records.iter().all(|r| r["ingest"]["via"] == "backfill"));
    assert!(
        stderr.contains("replay ok: 2 received, 2 forwarded"),
        "{stderr}"
    );

    let after = ssm.get_parameter().name(&parameter).send().await.unwrap();
    assert_eq!(
        after.parameter().and_then(|p| p.value()),
        Some(checkpoint.as_str()),
        "the checkpoint is untouched"
    );
}

#[test]
fn replay_refuses_an_empty_range_and_an_unreadable_time() {
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "--since",
                "2026-11-02T00:00:00Z",
                "--until",
                "2026-11-01T00:00:00Z",
            ],
            "--until must be later than --since",
        ),
        (&["--since", "yesterday"], "neither an RFC 3339 time"),
        (&["--since", "2999-01-01T00:00:00Z"], "is in the future"),
    ];
    for (args, expected) in cases {
        let out = command(&moto_free_env())
            .arg("replay")
            .args(args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// Enough environment for the CLI to start; nothing is called.
fn moto_free_env() -> Vec<(&'static str, String)> {
    vec![("AWS_REGION", "us-east-1".into())]
}
