//! The scheduled backfill through the built binary in Lambda mode, against the GuardDuty
//! stand-in (findings API) and the local AWS emulator (SSM checkpoint, STS).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use support::guardduty::{GuardDuty, finding, now_ms};
use support::moto;
use support::process::{Running, command, lambda_env};
use support::runtime_api::{Reply, RuntimeApi};

async fn start(gd: &GuardDuty, extra: &[(&str, String)]) -> (RuntimeApi, Running) {
    let api = RuntimeApi::start().await;
    let mut env = lambda_env(api.addr);
    env.extend(moto::aws_env());
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.push(("LOG_RECORDS", "true".into()));
    // Findings in these tests are made a moment ago and final: no settle margin needed.
    env.push(("BACKFILL_SETTLE_SECONDS", "0".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    (api, Running::spawn(command(&env)))
}

fn scheduled() -> Value {
    support::read_json(support::events_dir().join("scheduled.json"))
}

async fn run(api: &RuntimeApi) -> Value {
    match api.invoke(scheduled()).await {
        Reply::Response(r) => r,
        Reply::Error(e) => panic!("backfill failed: {e}"),
    }
}

/// Record ids on stdout, with how often each arrived.
fn delivered(proc_: &Running) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in proc_.records() {
        assert_eq!(r["ingest"]["via"], "backfill");
        *out.entry(r["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

/// Lets the reader threads take in what the process printed before it answered.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// `n` findings updated in the last few minutes, ids `<prefix>-<i>`, one millisecond apart.
fn recent(region: &str, detector: &str, prefix: &str, n: usize, base_ms: i64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            finding(
                region,
                detector,
                &format!("{prefix}-{i:04}"),
                base_ms + i as i64,
                false,
                5.0,
            )
        })
        .collect()
}

#[tokio::test]
async fn two_detectors_with_archived_and_old_findings_deliver_exactly_the_recent_unarchived_ones_once()
 {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 5 * 60_000;
    for det in ["det1", "det2"] {
        let mut fs = recent("us-east-1", det, det, 120, base);
        fs.extend((0..10).map(|i| {
            finding(
                "us-east-1",
                det,
                &format!("{det}-archived-{i}"),
                base + i,
                true,
                5.0,
            )
        }));
        fs.extend((0..10).map(|i| {
            finding(
                "us-east-1",
                det,
                &format!("{det}-old-{i}"),
                base - 86_400_000 + i,
                false,
                5.0,
            )
        }));
        gd.add("us-east-1", det, fs);
    }
    let (api, proc_) = start(&gd, &[("BACKFILL_MAX_FINDINGS", "1000".into())]).await;
    let result = run(&api).await;
    assert_eq!(result["via"], "backfill");
    assert_eq!(result["received"], 240, "{result}");
    assert_eq!(result["forwarded"], 240);
    settle().await;
    let got = delivered(&proc_);
    assert_eq!(got.len(), 240);
    assert!(got.values().all(|&n| n == 1));
    assert!(
        got.keys()
            .all(|k| !k.contains("archived") && !k.contains("old"))
    );
    // raw_event is the API's JSON for the finding, unchanged.
    let record = proc_
        .records()
        .into_iter()
        .find(|r| r["id"] == "det1-0007")
        .unwrap();
    assert_eq!(
        record["raw_event"],
        finding("us-east-1", "det1", "det1-0007", base + 7, false, 5.0)
    );
    // Every GetFindings asked for at most 50 ids; every ListFindings for 50 a page, sorted.
    for s in gd.seen() {
        assert_eq!(s.status, 200, "{s:?}");
        if s.path.ends_with("/findings/get") {
            assert!(s.body["findingIds"].as_array().unwrap().len() <= 50);
        } else if s.path.ends_with("/findings") {
            assert_eq!(s.body["maxResults"], 50);
            assert_eq!(s.body["sortCriteria"]["orderBy"], "ASC");
            assert!(
                s.body["findingCriteria"]["criterion"]["updatedAt"]["greaterThanOrEqual"].is_i64()
            );
            assert_eq!(
                s.body["findingCriteria"]["criterion"]["service.archived"]["equals"][0],
                "false"
            );
        }
    }
}

#[tokio::test]
async fn the_cap_holds_and_the_next_runs_take_the_rest_from_the_checkpoint() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 5 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 120, base),
    );
    let prefix = format!("/{}", moto::unique("gdf-checkpoint"));
    let (api, proc_) = start(
        &gd,
        &[
            ("BACKFILL_MAX_FINDINGS", "50".into()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    // No checkpoint yet: the lookback window holds all 120.
    let first = run(&api).await;
    assert_eq!(first["received"], 50, "{first}");
    let second = run(&api).await;
    assert!(second["received"].as_u64().unwrap() >= 50, "{second}");
    let third = run(&api).await;
    let fourth = run(&api).await;
    settle().await;
    let got = delivered(&proc_);
    assert_eq!(got.len(), 120, "every finding arrived: {third} {fourth}");
    assert!(
        got.values().all(|&n| n <= 2),
        "no finding is sent over and over"
    );
    assert_eq!(fourth["received"], 0, "{fourth}");
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config("us-east-1"));
    let cp = ssm
        .get_parameter()
        .name(format!("{prefix}/us-east-1/det1"))
        .send()
        .await
        .unwrap();
    let value: Value = serde_json::from_str(cp.parameter().unwrap().value().unwrap()).unwrap();
    // The window was exhausted: the next run starts at the last run's upper bound.
    let next = value["updated_at"].as_str().unwrap();
    assert!(
        next > support::guardduty::iso(base + 119).as_str(),
        "{next}"
    );
    assert!(next <= support::guardduty::iso(now_ms()).as_str(), "{next}");
    assert_eq!(value["ids"], serde_json::json!([]));
}

#[tokio::test]
async fn after_a_three_hour_outage_the_runs_catch_up_without_losing_findings_on_one_millisecond() {
    let gd = GuardDuty::start().await;
    let now = now_ms();
    let outage_start = now - 3 * 3_600_000;
    // Before the outage: one finding, already delivered and checkpointed.
    gd.add(
        "us-east-1",
        "det1",
        vec![finding(
            "us-east-1",
            "det1",
            "before",
            outage_start,
            false,
            5.0,
        )],
    );
    let prefix = format!("/{}", moto::unique("gdf-outage"));
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config("us-east-1"));
    ssm.put_parameter()
        .name(format!("{prefix}/us-east-1/det1"))
        .value(format!(
            "{{\"updated_at\":\"{}\",\"ids\":[\"before\"]}}",
            support::guardduty::iso(outage_start)
        ))
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    // During the outage: 130 findings spread over three hours, and 7 sharing one millisecond
    // exactly where the first run's cap falls.
    let mut during: Vec<Value> = (0..130)
        .map(|i| {
            finding(
                "us-east-1",
                "det1",
                &format!("o-{i:03}"),
                outage_start + 60_000 + i * 80_000,
                false,
                7.5,
            )
        })
        .collect();
    let same_ms = outage_start + 60_000 + 38 * 80_000 + 1;
    during.extend((0..7).map(|i| {
        finding(
            "us-east-1",
            "det1",
            &format!("same-{i}"),
            same_ms,
            false,
            7.5,
        )
    }));
    gd.add("us-east-1", "det1", during);
    let (api, proc_) = start(
        &gd,
        &[
            ("BACKFILL_MAX_FINDINGS", "40".into()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let mut runs = 0;
    loop {
        runs += 1;
        let r = run(&api).await;
        if r["received"] == 0 || runs > 10 {
            break;
        }
    }
    settle().await;
    let got = delivered(&proc_);
    assert!(runs <= 6, "{runs} runs to catch up");
    for i in 0..130 {
        assert!(got.contains_key(&format!("o-{i:03}")), "o-{i:03} lost");
    }
    for i in 0..7 {
        assert!(got.contains_key(&format!("same-{i}")), "same-{i} lost");
    }
    assert!(
        !got.contains_key("before"),
        "the checkpointed finding is not sent again"
    );
}

#[tokio::test]
async fn pages_are_asked_for_from_the_newest_timestamp_reached_so_a_repeated_next_token_cannot_stall_them()
 {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 160, base),
    );
    // A broken nextToken changes nothing: each page asks again from where the last ended.
    gd.repeat_tokens(true);
    let (api, proc_) = start(&gd, &[("DETECTOR_IDS", "det1".into())]).await;
    let r = run(&api).await;
    assert_eq!(r["received"], 160, "{r}");
    settle().await;
    assert!(delivered(&proc_).values().all(|&n| n == 1));
    let lists: Vec<_> = gd
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/findings"))
        .collect();
    assert_eq!(lists.len(), 4, "{lists:?}");
    for l in &lists {
        assert!(
            l.body
                .get("nextToken")
                .is_none_or(|t| t.is_null() || t == "")
        );
        assert!(l.body["findingCriteria"]["criterion"]["updatedAt"]["lessThan"].is_i64());
    }
}

#[tokio::test]
async fn a_next_token_repeated_inside_one_millisecond_ends_the_run_as_truncated() {
    let gd = GuardDuty::start().await;
    let t = now_ms() - 60_000;
    // 160 findings on one millisecond: only nextToken can page through them.
    let same: Vec<Value> = (0..160)
        .map(|i| finding("us-east-1", "det1", &format!("s-{i:03}"), t, false, 5.0))
        .collect();
    gd.add("us-east-1", "det1", same);
    gd.repeat_tokens(true);
    let (api, proc_) = start(&gd, &[("DETECTOR_IDS", "det1".into())]).await;
    let r = run(&api).await;
    assert_eq!(
        r["received"], 100,
        "two pages, then the repeat stops it: {r}"
    );
    settle().await;
    let err = proc_.stderr().join("\n");
    assert!(err.contains("repeated a nextToken"), "{err}");
    assert!(
        err.contains("Backfill truncated") && err.contains("error"),
        "{err}"
    );
    assert!(delivered(&proc_).values().all(|&n| n == 1));
}

#[tokio::test]
async fn throttling_is_retried_until_everything_arrives() {
    let gd = GuardDuty::start().await;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 60, now_ms() - 60_000),
    );
    // Within the attempt budget (three attempts per call).
    gd.throttle_next(2);
    let (api, proc_) = start(&gd, &[]).await;
    let r = run(&api).await;
    assert_eq!(r["forwarded"], 60, "{r}");
    settle().await;
    assert_eq!(delivered(&proc_).len(), 60);
    assert_eq!(gd.seen().iter().filter(|s| s.status == 429).count(), 2);
}

#[tokio::test]
async fn an_assumed_role_reads_guardduty_and_member_findings_keep_their_account() {
    let gd = GuardDuty::start().await;
    let mut member = finding(
        "us-east-1",
        "det1",
        "member-1",
        now_ms() - 60_000,
        false,
        8.0,
    );
    member["accountId"] = "210987654321".into();
    gd.add("us-east-1", "det1", vec![member]);
    let (api, proc_) = start(
        &gd,
        &[
            (
                "ASSUME_ROLE_ARN",
                "arn:aws:iam::210987654321:role/guardduty-reader".into(),
            ),
            ("ASSUME_ROLE_EXTERNAL_ID", "ext-123".into()),
        ],
    )
    .await;
    let r = run(&api).await;
    assert_eq!(r["forwarded"], 1, "{r}");
    settle().await;
    assert_eq!(proc_.records()[0]["account_id"], "210987654321");
    for s in gd.seen() {
        assert_ne!(
            s.access_key, "testing",
            "GuardDuty was read with the function's own credentials"
        );
        assert!(!s.access_key.is_empty());
    }
}

#[tokio::test]
async fn two_regions_are_read_each_with_its_own_detectors() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 60_000;
    gd.add(
        "us-east-1",
        "east",
        recent("us-east-1", "east", "e", 3, base),
    );
    gd.add(
        "eu-west-1",
        "west",
        recent("eu-west-1", "west", "w", 4, base),
    );
    let (api, proc_) = start(&gd, &[("GUARDDUTY_REGIONS", "us-east-1,eu-west-1".into())]).await;
    let r = run(&api).await;
    assert_eq!(r["forwarded"], 7, "{r}");
    settle().await;
    let regions: Vec<String> = proc_
        .records()
        .iter()
        .map(|r| r["region"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(regions.iter().filter(|r| *r == "us-east-1").count(), 3);
    assert_eq!(regions.iter().filter(|r| *r == "eu-west-1").count(), 4);
}

#[tokio::test]
async fn the_cli_backfill_prints_records_and_progress() {
    let gd = GuardDuty::start().await;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 5, now_ms() - 30 * 60_000),
    );
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    let mut cmd = command(&env);
    cmd.args(["backfill", "--since", "1h", "--region", "us-east-1"]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    assert!(
        stderr.contains("backfill: us-east-1/det1: 5 finding(s) fetched"),
        "{stderr}"
    );
    assert!(
        stderr.contains("backfill ok: 5 received, 5 forwarded"),
        "{stderr}"
    );
}

async fn cli_backfill(gd: &GuardDuty, args: &[&str]) -> (bool, usize, String) {
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    let mut cmd = command(&env);
    cmd.arg("backfill").args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let records = String::from_utf8_lossy(&out.stdout).lines().count();
    (
        out.status.success(),
        records,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn an_initial_import_from_the_cli_takes_the_whole_window_unless_capped() {
    let gd = GuardDuty::start().await;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 700, now_ms() - 2 * 3_600_000),
    );
    let (ok, records, stderr) = cli_backfill(&gd, &["--since", "3h"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(
        records, 700,
        "BACKFILL_MAX_FINDINGS is the scheduled run's cap, not the import's"
    );
    assert!(
        stderr.contains("backfill ok: 700 received, 700 forwarded"),
        "{stderr}"
    );
    let (ok, records, stderr) =
        cli_backfill(&gd, &["--since", "3h", "--max-findings", "120"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(records, 120);
}
