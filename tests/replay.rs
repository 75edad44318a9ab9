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

/// Peak RSS of `replay` over `days` of `detectors` detectors with `per_day` findings of ~2 KB
/// each, measured by `/usr/bin/time -v`; the number of records it printed.
async fn replay_peak_rss_kib(days: i64, detectors: usize, per_day: i64) -> (u64, usize) {
    let now = now_ms();
    let gd = GuardDuty::start().await;
    let step = 86_400_000 / per_day;
    for d in 0..detectors {
        let det = format!("det{d}");
        let fs: Vec<Value> = (0..days * per_day)
            .map(|i| {
                let mut f = finding(
                    "us-east-1",
                    &det,
                    &format!("{det}-{i:06}"),
                    now - days * 86_400_000 + i * step,
                    false,
                    5.0,
                );
                f["description"] = "x".repeat(1_500).into();
                f
            })
            .collect();
        gd.add("us-east-1", &det, fs);
    }
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    let mut args = vec![
        "replay".to_string(),
        "--since".into(),
        iso(now - days * 86_400_000 - 60_000),
        "--region".into(),
        "us-east-1".into(),
    ];
    for d in 0..detectors {
        args.push("--detector".into());
        args.push(format!("det{d}"));
    }
    let out = tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new("/usr/bin/time");
        c.arg("-v")
            .arg(env!("CARGO_BIN_EXE_guardduty-forwarder"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env);
        c.output().expect("run /usr/bin/time")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let peak = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .expect("time -v reports the peak");
    let records = out.stdout.iter().filter(|&&b| b == b'\n').count();
    (peak, records)
}

/// BENCHMARKS.md's flat-memory figure: `replay` over 90 days × 10 detectors against one day ×
/// 10 detectors. Run with `scripts/test --test replay -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about a minute), not a check"]
async fn peak_memory_of_a_replay_over_90_days_of_10_detectors_is_that_of_one_day() {
    let (day, day_records) = replay_peak_rss_kib(1, 10, 24).await;
    let (quarter, quarter_records) = replay_peak_rss_kib(90, 10, 24).await;
    assert_eq!(day_records, 240);
    assert_eq!(quarter_records, 21_600);
    println!(
        "peak RSS of replay, 10 detectors x 24 findings/day of ~2 KB: 1 day ({day_records} records) {day} KiB; 90 days ({quarter_records} records) {quarter} KiB"
    );
    assert!(
        quarter < day + 8 * 1024,
        "90 days {quarter} KiB against one day {day} KiB"
    );
}
