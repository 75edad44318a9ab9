//! The scheduled backfill through the built binary in Lambda mode, against the GuardDuty
//! stand-in (findings API) and the local AWS emulator (SSM checkpoint, STS).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use support::guardduty::{GuardDuty, finding, iso, now_ms, wire};
use support::moto;
use support::process::{Running, command};
use support::runtime_api::{Reply, RuntimeApi};

async fn start(gd: &GuardDuty, extra: &[(&str, String)]) -> (RuntimeApi, Running) {
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.push(("LOG_RECORDS", "true".into()));
    // Findings in these tests are made a moment ago and final: no settle margin needed.
    env.push(("BACKFILL_SETTLE_SECONDS", "0".into()));
    // Some tests read BackfillTruncated and FindingsQuarantined, published by trigger only.
    env.push(("METRICS_DETAIL", "detailed".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    support::lambda::start(&env).await
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

/// `<prefix>-0000` … for `range`, each delivered once: what `delivered` must equal.
fn once(prefix: &str, range: std::ops::Range<usize>) -> HashMap<String, usize> {
    range.map(|i| (format!("{prefix}-{i:04}"), 1)).collect()
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
    let mut expected = once("det1", 0..120);
    expected.extend(once("det2", 0..120));
    assert_eq!(
        delivered(&proc_),
        expected,
        "exactly the recent unarchived ones, once each"
    );
    // raw_event is the API's JSON for the finding, unchanged.
    let record = proc_
        .records()
        .into_iter()
        .find(|r| r["id"] == "det1-0007")
        .unwrap();
    assert_eq!(
        record["raw_event"],
        wire(&finding(
            "us-east-1",
            "det1",
            "det1-0007",
            base + 7,
            false,
            5.0
        ))
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
            assert!(
                s.body["findingCriteria"]["criterion"]
                    .get("severity")
                    .is_none(),
                "no severity floor unless RULE_MIN_SEVERITY is set"
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
    assert_eq!(
        second["received"], 50,
        "the cap holds on the next run too: {second}"
    );
    let third = run(&api).await;
    let fourth = run(&api).await;
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
    // A run that ends more than the lag limit (settle + three intervals) behind still does
    // its work and saves its state, then fails its invocation so the Errors alarm pages.
    let (mut runs, mut behind) = (0, 0);
    loop {
        runs += 1;
        match api.invoke(scheduled()).await {
            Reply::Response(r) if r["received"] == 0 => break,
            Reply::Response(_) => {}
            Reply::Error(e) => {
                assert_eq!(e["errorType"], "BackfillBehind", "{e}");
                behind += 1;
            }
        }
        assert!(runs <= 10, "{runs} runs and still not caught up");
    }
    let got = delivered(&proc_);
    assert!(runs <= 6, "{runs} runs to catch up");
    assert!(behind >= 1, "three hours behind pages at least once");
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
    assert_eq!(delivered(&proc_), once("f", 0..160));
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
    let err = proc_.stderr().join("\n");
    assert!(err.contains("repeated a nextToken"), "{err}");
    assert!(
        err.contains("Backfill truncated") && err.contains("unsettled-listing"),
        "{err}"
    );
    let pages: HashMap<String, usize> = (0..100).map(|i| (format!("s-{i:03}"), 1)).collect();
    assert_eq!(
        delivered(&proc_),
        pages,
        "the two pages read, each finding once"
    );
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
    assert_eq!(delivered(&proc_), once("f", 0..60));
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
    let regions: Vec<String> = proc_
        .records()
        .iter()
        .map(|r| r["region"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(regions.iter().filter(|r| *r == "us-east-1").count(), 3);
    assert_eq!(regions.iter().filter(|r| *r == "eu-west-1").count(), 4);
}

/// The detectors each region's requests went to (ListDetectors as `*`).
fn detectors_asked(gd: &GuardDuty) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = gd
        .seen()
        .iter()
        .map(|s| {
            let detector = s.path.trim_matches('/').split('/').nth(1).unwrap_or("*");
            (s.region.clone(), detector.to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn a_region_detector_pair_is_read_only_in_its_region_and_bare_ids_in_every_region() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 60_000;
    gd.add(
        "us-east-1",
        "shared",
        recent("us-east-1", "shared", "s", 2, base),
    );
    gd.add(
        "us-east-1",
        "east",
        recent("us-east-1", "east", "e", 3, base),
    );
    gd.add(
        "eu-west-1",
        "shared",
        recent("eu-west-1", "shared", "sw", 1, base),
    );
    gd.add(
        "eu-west-1",
        "west",
        recent("eu-west-1", "west", "w", 4, base),
    );
    let (api, proc_) = start(
        &gd,
        &[
            ("GUARDDUTY_REGIONS", "us-east-1,eu-west-1".into()),
            (
                "DETECTOR_IDS",
                "shared, us-east-1:east, eu-west-1:west".into(),
            ),
        ],
    )
    .await;
    let r = run(&api).await;
    assert_eq!(r["forwarded"], 10, "{r}");
    assert_eq!(
        r["failed"], 0,
        "no region was asked for another's detector: {r}"
    );
    assert_eq!(delivered(&proc_).len(), 10);
    assert_eq!(
        detectors_asked(&gd),
        [
            ("eu-west-1".to_string(), "shared".to_string()),
            ("eu-west-1".into(), "west".into()),
            ("us-east-1".into(), "east".into()),
            ("us-east-1".into(), "shared".into()),
        ]
    );
}

#[tokio::test]
async fn the_cli_makes_no_call_in_its_region_for_a_detector_paired_with_another_region() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 30 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 5, base),
    );
    gd.add(
        "eu-west-1",
        "west",
        recent("eu-west-1", "west", "w", 4, base),
    );
    let (ok, records, stderr) = cli_backfill_with(
        &gd,
        &[("DETECTOR_IDS", "det1,eu-west-1:west".into())],
        &["--since", "1h", "--region", "us-east-1"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(records, 5, "{stderr}");
    assert!(!stderr.contains("west"), "{stderr}");
    assert_eq!(
        detectors_asked(&gd),
        [("us-east-1".to_string(), "det1".to_string())]
    );
    // With only a pair for another region, this region's detectors come from ListDetectors.
    let (ok, records, stderr) = cli_backfill_with(
        &gd,
        &[("DETECTOR_IDS", "eu-west-1:west".into())],
        &["--since", "1h", "--region", "us-east-1"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(records, 5, "{stderr}");
    assert!(
        gd.seen()
            .iter()
            .all(|s| s.region == "us-east-1" && !s.path.contains("west")),
        "{:?}",
        gd.seen()
    );
    assert!(gd.seen().iter().any(|s| s.path == "/detector"));
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
    cli_backfill_with(gd, &[], args).await
}

async fn cli_backfill_with(
    gd: &GuardDuty,
    extra: &[(&str, String)],
    args: &[&str],
) -> (bool, usize, String) {
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
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

async fn run_reply(api: &RuntimeApi) -> Result<Value, String> {
    match api.invoke(scheduled()).await {
        Reply::Response(r) => Ok(r),
        Reply::Error(e) => Err(e.to_string()),
    }
}

/// `dedup_key`s delivered (id:updatedAt), with how often each arrived.
fn versions(proc_: &Running) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in proc_.records() {
        *out.entry(r["dedup_key"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

async fn checkpoint_of(prefix: &str, detector: &str) -> Option<Value> {
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config("us-east-1"));
    let out = ssm
        .get_parameter()
        .name(format!("{prefix}/us-east-1/{detector}"))
        .send()
        .await
        .ok()?;
    serde_json::from_str(out.parameter()?.value()?).ok()
}

fn emf(proc_: &Running) -> Vec<Value> {
    proc_.emf()
}

#[tokio::test]
async fn findings_updated_between_list_and_get_findings_under_a_cap_all_arrive_in_their_latest_version()
 {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    for det in ["det1", "det2"] {
        gd.add("us-east-1", det, recent("us-east-1", det, det, 60, base));
    }
    let prefix = format!("/{}", moto::unique("gdf-updates"));
    let (api, proc_) = start(
        &gd,
        &[
            ("BACKFILL_MAX_FINDINGS", "20".into()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1,det2".into()),
        ],
    )
    .await;
    let mut runs = 0;
    loop {
        runs += 1;
        // GuardDuty updates a few findings between our ListFindings and GetFindings, as it
        // does when a finding's count goes up, and a few more between runs; then goes quiet
        // (the rescan behind the checkpoint lists every finding again, so an update per run
        // would never let a run come back empty).
        if runs <= 4 {
            let k = runs * 7;
            let a = format!("det1-{:04}", k % 60);
            let b = format!("det2-{:04}", (k + 3) % 60);
            gd.update_after_list(&[&a, &b]);
        }
        if runs == 2 {
            for id in ["det1-0001", "det2-0002"] {
                let det = &id[..4];
                let mut f = gd.get("us-east-1", det, id).unwrap();
                f["updatedAt"] = iso(now_ms() - 1).into();
                gd.put("us-east-1", det, f);
            }
        }
        let r = run(&api).await;
        if (r["received"] == 0 && runs > 2) || runs > 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = versions(&proc_);
    for det in ["det1", "det2"] {
        for i in 0..60 {
            let id = format!("{det}-{i:04}");
            let latest = gd.get("us-east-1", det, &id).unwrap();
            let key = format!("{id}:{}", latest["updatedAt"].as_str().unwrap());
            assert!(got.contains_key(&key), "{key} never arrived in {runs} runs");
        }
    }
    assert!(runs <= 10, "{runs} runs");
}

#[tokio::test]
async fn a_finding_missing_from_get_findings_holds_the_checkpoint_before_it() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 10, base),
    );
    gd.omit_from_get(&["f-0004"]);
    let prefix = format!("/{}", moto::unique("gdf-missing"));
    let (api, proc_) = start(
        &gd,
        &[
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let r = run(&api).await;
    assert_eq!(r["received"], 9, "{r}");
    let cp = checkpoint_of(&prefix, "det1").await.unwrap();
    assert_eq!(cp["updated_at"], iso(base + 3), "stops before f-0004");
    // GetFindings was asked again for the missing id, once.
    let gets: Vec<_> = gd
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/findings/get"))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[1].body["findingIds"], serde_json::json!(["f-0004"]));
    assert!(
        proc_
            .stderr()
            .iter()
            .any(|l| l.contains("did not return a listed finding") && l.contains("f-0004"))
    );
    // Once GetFindings returns it, the next run delivers it and moves on.
    gd.omit_from_get(&[]);
    let r = run(&api).await;
    assert!(delivered(&proc_).contains_key("f-0004"), "{r}");
    let cp = checkpoint_of(&prefix, "det1").await.unwrap();
    assert!(cp["updated_at"].as_str().unwrap() > iso(base + 9).as_str());
}

#[tokio::test]
async fn a_run_that_skips_a_finding_get_findings_never_returns_fails_so_the_errors_alarm_pages() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "g", 5, base),
    );
    gd.omit_from_get(&["g-0002"]);
    let prefix = format!("/{}", moto::unique("gdf-ghost"));
    let (api, proc_) = start(
        &gd,
        &[
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
            ("BACKFILL_QUARANTINE_AFTER", "1".into()),
        ],
    )
    .await;
    match api.invoke(scheduled()).await {
        Reply::Error(e) => {
            assert_eq!(e["errorType"], "BackfillNeedsAttention", "{e}");
            let message = e["errorMessage"].as_str().unwrap();
            assert!(
                message.contains("1 finding(s) GuardDuty listed"),
                "{message}"
            );
        }
        Reply::Response(r) => panic!("the run hid an unfetchable finding: {r}"),
    }
    // The run's work is kept: the other four arrived and the checkpoint moved past the ghost.
    let got = delivered(&proc_);
    let mut ids: Vec<&str> = got.keys().map(String::as_str).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["g-0000", "g-0001", "g-0003", "g-0004"]);
    let cp = checkpoint_of(&prefix, "det1").await.unwrap();
    assert!(
        cp["updated_at"].as_str().unwrap() > iso(base + 4).as_str(),
        "{cp}"
    );
    // Remembered as skipped: the next run neither fails for it again nor re-sends anything.
    let r = run(&api).await;
    assert_eq!(r["received"], 0, "{r}");
}

#[tokio::test]
async fn a_failed_get_findings_is_reported_as_a_truncated_run_and_the_next_run_delivers_the_rest() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 120, base),
    );
    let prefix = format!("/{}", moto::unique("gdf-getfail"));
    let (api, proc_) = start(
        &gd,
        &[
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let first = run(&api).await;
    assert_eq!(first["received"], 120);
    // New findings (updated after the first run's upper bound); the second page's
    // GetFindings fails.
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "g", 120, now_ms()),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    gd.fail_gets(0);
    let seen_before = gd.seen().len();
    let fail_second = {
        let gd = gd.clone();
        tokio::spawn(async move {
            // Let the first GetFindings of the run through, then fail the next.
            for _ in 0..20_000 {
                let gets = gd.seen()[seen_before..]
                    .iter()
                    .filter(|s| s.path.ends_with("/findings/get"))
                    .count();
                if gets >= 1 {
                    gd.fail_gets(1);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            panic!("the second run never called GetFindings");
        })
    };
    gd.delay(Duration::from_millis(30));
    let second = run_reply(&api).await;
    fail_second.await.unwrap();
    gd.delay(Duration::ZERO);
    let err = second.expect_err("a failed GetFindings fails the invocation");
    assert!(err.contains("GetFindings"), "{err}");
    let third = run(&api).await;
    let got = delivered(&proc_);
    for i in 0..120 {
        assert!(got.contains_key(&format!("g-{i:04}")), "g-{i:04} lost");
    }
    assert!(third["received"].as_u64().unwrap() >= 50, "{third}");
    let out = proc_.stderr().join("\n");
    assert!(
        out.contains("Backfill truncated") && out.contains("reason=\"error\"")
            || out.contains("\"reason\":\"error\""),
        "{out}"
    );
    assert!(
        emf(&proc_)
            .iter()
            .any(|d| d["BackfillTruncated"].as_u64() == Some(1))
    );
}

#[tokio::test]
async fn hitting_the_cap_reports_a_truncated_run_with_how_far_behind_the_detector_is() {
    let gd = GuardDuty::start().await;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 30, now_ms() - 10 * 60_000),
    );
    let (api, proc_) = start(
        &gd,
        &[
            ("BACKFILL_MAX_FINDINGS", "10".into()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let r = run(&api).await;
    assert_eq!(r["received"], 10, "{r}");
    let line = proc_
        .stderr()
        .into_iter()
        .find(|l| l.contains("Backfill truncated"))
        .expect("a truncation line");
    assert!(
        line.contains("cap") && line.contains("det1") && line.contains("behind_seconds"),
        "{line}"
    );
    let doc = emf(&proc_)
        .into_iter()
        .find(|d| d.get("BackfillTruncated").is_some())
        .unwrap();
    assert_eq!(doc["BackfillTruncated"], 1);
    assert_eq!(doc["FindingsQuarantined"], 0);
}

#[tokio::test]
async fn a_slow_api_near_the_deadline_ends_in_a_clean_checkpointed_stop_not_a_timeout() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 400, base),
    );
    gd.delay(Duration::from_millis(400));
    let prefix = format!("/{}", moto::unique("gdf-deadline"));
    let (api, proc_) = start(
        &gd,
        &[
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let reply = api
        .invoke_with_timeout(scheduled(), Duration::from_secs(8))
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "answered before the deadline: {took:?}"
    );
    let r = match reply {
        Reply::Response(r) => r,
        Reply::Error(e) => panic!("{e}"),
    };
    let n = r["received"].as_u64().unwrap();
    assert!(n > 0 && n < 400, "{r}");
    let out = proc_.stderr().join("\n");
    assert!(
        out.contains("Backfill truncated") && out.contains("deadline"),
        "{out}"
    );
    // The checkpoint holds what was delivered: the next run goes on from there.
    let cp = checkpoint_of(&prefix, "det1")
        .await
        .expect("checkpoint written");
    assert_eq!(cp["updated_at"], iso(base + n as i64 - 1), "{cp}");
}

/// The findings of the corpus as the CLI reads them, and the sample event's.
fn corpus_findings() -> Vec<Value> {
    let mut out = support::corpus::finding_values();
    out.push(support::finding_event()["detail"].clone());
    out
}

fn without_ingest_and_raw(mut record: Value) -> Value {
    let obj = record.as_object_mut().unwrap();
    obj.remove("ingest");
    obj.remove("raw_event");
    record
}

#[tokio::test]
async fn every_fixture_finding_gives_the_same_record_pushed_and_backfilled() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    let mut findings = corpus_findings();
    assert!(findings.len() >= 10, "{}", findings.len());
    for (i, f) in findings.iter_mut().enumerate() {
        f["id"] = format!("fx-{i:02}").into();
        f["updatedAt"] = iso(base + i as i64).into();
    }
    let shapes_differ = findings.iter().filter(|f| wire(f) != **f).count();
    assert!(
        shapes_differ >= 10,
        "the wire shape differs for {shapes_differ}"
    );
    gd.add("us-east-1", "det1", findings.clone());
    let (api, proc_) = start(
        &gd,
        &[
            ("DETECTOR_IDS", "det1".into()),
            ("BACKFILL_INCLUDE_ARCHIVED", "true".into()),
        ],
    )
    .await;
    for (i, f) in findings.iter().enumerate() {
        let event = serde_json::json!({
            "version": "0", "id": format!("ev-{i}"), "detail-type": "GuardDuty Finding",
            "source": "aws.guardduty", "account": "123456789012", "time": "2026-11-22T10:00:00Z",
            "region": "us-east-1", "resources": [], "detail": f,
        });
        match api.invoke(event).await {
            Reply::Response(r) => assert_eq!(r["forwarded"], 1, "{r}"),
            Reply::Error(e) => panic!("push of fx-{i:02} failed: {e}"),
        }
    }
    let r = run(&api).await;
    assert_eq!(r["forwarded"], findings.len() as u64, "{r}");
    let records = proc_.records();
    let mut samples = 0;
    for f in &findings {
        let id = f["id"].as_str().unwrap();
        let of = |via: &str| {
            records
                .iter()
                .find(|r| r["id"] == id && r["ingest"]["via"] == via)
                .unwrap_or_else(|| panic!("{id} via {via} missing"))
                .clone()
        };
        let (pushed, backfilled) = (of("eventbridge"), of("backfill"));
        assert_eq!(pushed["raw_event"], *f, "{id}: raw_event is the detail");
        assert_eq!(
            backfilled["raw_event"],
            wire(f),
            "{id}: raw_event is the API's JSON"
        );
        samples += usize::from(pushed["sample"] == true);
        assert_eq!(
            without_ingest_and_raw(pushed),
            without_ingest_and_raw(backfilled),
            "{id}: the two paths disagree"
        );
    }
    assert!(samples >= 3, "sample findings in the corpus: {samples}");
}

async fn drain(queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    moto::drain(queue).await
}

/// Ten findings, the fourth too large for a 4 KB queue.
fn with_a_poison_finding(base: i64) -> Vec<Value> {
    let mut fs = recent("us-east-1", "det1", "f", 10, base);
    fs[3]["description"] = "x".repeat(5000).into();
    fs
}

#[tokio::test]
async fn a_poison_finding_goes_to_the_dead_letter_queue_after_n_runs_and_the_cursor_moves_on() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add("us-east-1", "det1", with_a_poison_finding(base));
    let queue = moto::create_queue(
        "gdf-poison",
        &[(QueueAttributeName::MaximumMessageSize, "4096")],
    )
    .await;
    let dlq = moto::create_queue("gdf-poison-dlq", &[]).await;
    let prefix = format!("/{}", moto::unique("gdf-poison"));
    let (api, proc_) = start(
        &gd,
        &[
            // The queue alone: a finding no destination takes is the poison this is about
            // (one that another destination took is parked for the queue at once, below).
            ("LOG_RECORDS", "false".into()),
            ("SQS_QUEUE_URL", queue.clone()),
            ("DLQ_URL", dlq.clone()),
            ("BACKFILL_QUARANTINE_AFTER", "2".into()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let first = run_reply(&api)
        .await
        .expect_err("the poison finding fails the run");
    assert!(first.contains("f-0003"), "{first}");
    let cp = checkpoint_of(&prefix, "det1").await.unwrap();
    assert_eq!(
        cp["updated_at"],
        iso(base + 2),
        "held before the poison finding"
    );
    assert_eq!(cp["strikes"]["f-0003"]["runs"], 1, "{cp}");
    assert!(drain(&dlq).await.is_empty(), "not after one run");

    let second = run(&api).await;
    assert_eq!(second["failed"], 0, "set aside, not failed: {second}");
    let cp = checkpoint_of(&prefix, "det1").await.unwrap();
    assert!(
        cp["updated_at"].as_str().unwrap() > iso(base + 9).as_str(),
        "{cp}"
    );
    assert!(cp.get("strikes").is_none(), "{cp}");
    let set_aside = drain(&dlq).await;
    assert_eq!(set_aside.len(), 1);
    let m = &set_aside[0];
    assert_eq!(
        m.message_attributes().unwrap()["kind"].string_value(),
        Some("guardduty-forwarder.quarantined-finding")
    );
    let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
    assert_eq!(body["kind"], "guardduty-forwarder.quarantined-finding");
    assert_eq!(body["version"], 1);
    assert_eq!(
        body["finding"],
        wire(&gd.get("us-east-1", "det1", "f-0003").unwrap())
    );
    assert_eq!(
        (body["region"].as_str(), body["detector_id"].as_str()),
        (Some("us-east-1"), Some("det1"))
    );
    assert_eq!(body["destination"], "sqs");
    assert!(body["error"].as_str().unwrap().contains("4096"), "{body}");
    assert_eq!(body["failed_runs"], 2);
    for k in ["first_failed_at", "quarantined_at"] {
        assert!(
            guardduty_forwarder::clock::epoch_ms(body[k].as_str().unwrap()).is_some(),
            "{k}"
        );
    }
    assert!(
        emf(&proc_)
            .iter()
            .any(|d| d["FindingsQuarantined"].as_u64() == Some(1))
    );
    let third = run(&api).await;
    assert_eq!(third["received"], 0, "{third}");
    // Every other finding reached the queue.
    let ids: std::collections::HashSet<String> = drain(&queue)
        .await
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 9, "{ids:?}");
}

#[tokio::test]
async fn a_finding_one_destination_refuses_while_another_takes_it_is_parked_for_that_one_and_the_run_moves_on()
 {
    use aws_sdk_sqs::types::QueueAttributeName;
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add("us-east-1", "det1", with_a_poison_finding(base));
    let queue = moto::create_queue(
        "gdf-parked",
        &[(QueueAttributeName::MaximumMessageSize, "4096")],
    )
    .await;
    let dlq = moto::create_queue("gdf-parked-dlq", &[]).await;
    let prefix = format!("/{}", moto::unique("gdf-parked"));
    let (api, proc_) = start(
        &gd,
        &[
            ("SQS_QUEUE_URL", queue.clone()),
            ("DLQ_URL", dlq.clone()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let first = run(&api).await;
    assert_eq!(first["failed"], 0, "parked, not failed: {first}");
    assert_eq!(delivered(&proc_).len(), 10, "the log stream took all ten");
    let cp = checkpoint_of(&prefix, "det1").await.unwrap();
    assert!(
        cp["updated_at"].as_str().unwrap() > iso(base + 3).as_str()
            && cp["recent"].get("f-0003").is_some(),
        "the run moved on past the parked finding: {cp}"
    );
    let parked = drain(&dlq).await;
    assert_eq!(parked.len(), 1);
    let body: Value = serde_json::from_str(parked[0].body().unwrap()).unwrap();
    assert_eq!(body["kind"], "guardduty-forwarder.undelivered");
    assert_eq!(body["destination"], "sqs");
    assert_eq!(
        body["permanent"], true,
        "too large for the queue: a person's call"
    );
    assert_eq!(body["finding"]["id"], "f-0003");
    let attrs = parked[0].message_attributes().unwrap();
    assert_eq!(attrs["destination"].string_value(), Some("sqs"));
}

#[tokio::test]
async fn without_a_dead_letter_queue_a_poison_finding_is_held_and_a_log_line_says_so() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add("us-east-1", "det1", with_a_poison_finding(base));
    let queue = moto::create_queue(
        "gdf-held",
        &[(QueueAttributeName::MaximumMessageSize, "4096")],
    )
    .await;
    let prefix = format!("/{}", moto::unique("gdf-held"));
    let (api, proc_) = start(
        &gd,
        &[
            ("SQS_QUEUE_URL", queue),
            ("BACKFILL_QUARANTINE_AFTER", "1".into()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    for _ in 0..2 {
        run_reply(&api).await.expect_err("held, so the run fails");
    }
    let cp = checkpoint_of(&prefix, "det1").await.unwrap();
    assert_eq!(cp["updated_at"], iso(base + 2), "{cp}");
    let held = proc_
        .stderr()
        .into_iter()
        .filter(|l| l.contains("DLQ_URL is not set") && l.contains("f-0003"))
        .count();
    assert_eq!(held, 2);
}

/// Peak resident memory of a process (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// BENCHMARKS.md's memory figure: one scheduled run over 4 regions × 4 detectors × 500
/// findings of ~10 KB. Run with `scripts/test --test backfill -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement (about a minute), not a check"]
async fn peak_memory_of_one_scheduled_run_over_16_detectors_of_500_large_findings() {
    let gd = GuardDuty::start().await;
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
    let base = now_ms() - 60 * 60_000;
    for region in regions {
        for d in 0..4 {
            let det = format!("det{d}");
            let fs: Vec<Value> = (0..500)
                .map(|i| {
                    let mut f =
                        finding(region, &det, &format!("{det}-{i:04}"), base + i, false, 5.0);
                    f["description"] = "x".repeat(10_000).into();
                    f
                })
                .collect();
            gd.add(region, &det, fs);
        }
    }
    let (api, proc_) = start(
        &gd,
        &[
            ("GUARDDUTY_REGIONS", regions.join(",")),
            ("BACKFILL_MAX_FINDINGS", "500".into()),
            ("BACKFILL_LOOKBACK_MINUTES", "120".into()),
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let r = run(&api).await;
    let took = started.elapsed();
    assert_eq!(r["forwarded"], 8000, "{r}");
    let peak = peak_rss_kib(proc_.pid());
    println!(
        "peak RSS of one scheduled run, 4 regions x 4 detectors x 500 findings of ~10 KB: {} MiB ({peak} KiB) in {took:?}",
        peak / 1024
    );
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}

#[tokio::test]
async fn a_collector_refusing_a_whole_request_for_one_bad_finding_gets_the_others_and_the_bad_one_is_set_aside()
 {
    use support::collector::{Ca, Collector, Reply as Answer, Responder};
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 10, base),
    );
    // Like many collectors, one record it cannot take fails the whole request with a 400.
    let responder: Responder = std::sync::Arc::new(|r: &support::collector::Received| {
        if String::from_utf8_lossy(&r.body).contains("f-0003") {
            Answer::new(400, "bad event in request")
        } else {
            Answer::new(200, "")
        }
    });
    let ca = Ca::new("backfill ca");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path()).display().to_string();
    let collector = Collector::start_with(&ca, vec![], Some(responder)).await;
    let dlq = moto::create_queue("gdf-whole-dlq", &[]).await;
    let prefix = format!("/{}", moto::unique("gdf-whole"));
    let (api, _proc) = start(
        &gd,
        &[
            ("LOG_RECORDS", "false".into()),
            ("COLLECTOR_URL", collector.url()),
            ("COLLECTOR_CA_FILE", ca_file),
            ("DLQ_URL", dlq.clone()),
            ("BACKFILL_QUARANTINE_AFTER", "2".into()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let first = run_reply(&api)
        .await
        .expect_err("the bad finding fails the run");
    assert!(first.contains("f-0003"), "{first}");
    let second = run(&api).await;
    assert_eq!(second["failed"], 0, "set aside, not failed: {second}");
    let delivered: std::collections::HashSet<String> = collector
        .delivered_records()
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        delivered.len(),
        9,
        "every other finding arrived: {delivered:?}"
    );
    assert!(!delivered.contains("f-0003"));
    let set_aside = drain(&dlq).await;
    assert_eq!(
        set_aside.len(),
        1,
        "the bad finding is in the dead-letter queue"
    );
    let cp = checkpoint_of(&prefix, "det1").await.unwrap();
    assert!(
        cp["updated_at"].as_str().unwrap() > iso(base + 9).as_str(),
        "the cursor moved on: {cp}"
    );
}

/// Whether the EventBridge rule with `RuleMinimumSeverity` = `floor` matches a finding: its
/// pattern's `{"numeric": [">=", floor]}` on `detail.severity` (the template's, checked here).
fn rule_matches(finding: &Value, floor: u8) -> bool {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    let lines: Vec<&str> = template.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| *l == "- numeric:")
        .expect("the rule's numeric filter");
    assert_eq!(
        lines[at - 1],
        "- severity:",
        "the filter is on detail.severity"
    );
    assert_eq!(lines[at + 1], r#"- ">=""#, "the filter is at-least");
    floor == 0 || finding["severity"].as_f64().unwrap() >= f64::from(floor)
}

#[tokio::test]
async fn with_a_rule_severity_floor_push_and_backfill_deliver_the_same_findings() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 5 * 60_000;
    let severities = [2.0, 5.5, 6.9, 7.0, 7.5, 8.9];
    let findings: Vec<Value> = severities
        .iter()
        .enumerate()
        .map(|(i, s)| {
            finding(
                "us-east-1",
                "det1",
                &format!("sev-{s}"),
                base + i as i64,
                false,
                *s,
            )
        })
        .collect();
    gd.add("us-east-1", "det1", findings.clone());
    let (api, proc_) = start(
        &gd,
        &[
            ("DETECTOR_IDS", "det1".into()),
            ("RULE_MIN_SEVERITY", "7".into()),
        ],
    )
    .await;
    // The push path: only what the rule matches reaches the function.
    for (i, f) in findings.iter().filter(|f| rule_matches(f, 7)).enumerate() {
        let event = serde_json::json!({
            "version": "0", "id": format!("ev-{i}"), "detail-type": "GuardDuty Finding",
            "source": "aws.guardduty", "account": "123456789012", "time": "2026-11-22T10:00:00Z",
            "region": "us-east-1", "resources": [], "detail": f,
        });
        match api.invoke(event).await {
            Reply::Response(r) => assert_eq!(r["forwarded"], 1, "{r}"),
            Reply::Error(e) => panic!("push failed: {e}"),
        }
    }
    let r = run(&api).await;
    assert_eq!(r["failed"], 0, "{r}");
    let ids = |via: &str| -> std::collections::BTreeSet<String> {
        proc_
            .records()
            .iter()
            .filter(|r| r["ingest"]["via"] == via)
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let pushed = ids("eventbridge");
    assert_eq!(
        pushed,
        ["sev-7", "sev-7.5", "sev-8.9"]
            .map(String::from)
            .into_iter()
            .collect(),
        "6.9 is below the floor, 7.0 is on it"
    );
    assert_eq!(ids("backfill"), pushed, "both paths deliver the same set");
    // Below the floor a finding is not even listed: GetFindings never asks for it.
    for s in gd.seen() {
        assert_eq!(s.status, 200, "{s:?}");
        if s.path.ends_with("/findings/get") {
            let asked = s.body["findingIds"].to_string();
            assert!(
                !asked.contains("sev-2") && !asked.contains("sev-6.9"),
                "{asked}"
            );
        } else if s.path.ends_with("/findings") {
            assert_eq!(
                s.body["findingCriteria"]["criterion"]["severity"],
                serde_json::json!({"greaterThanOrEqual": 7})
            );
        }
    }
}

#[tokio::test]
async fn the_guardduty_stand_in_refuses_a_severity_condition_as_guardduty_does() {
    use aws_sdk_guardduty::types::{Condition, FindingCriteria};
    let gd = GuardDuty::start().await;
    let base = now_ms() - 60_000;
    gd.add(
        "us-east-1",
        "det1",
        [1.0, 4.0, 7.0, 8.5]
            .iter()
            .enumerate()
            .map(|(i, s)| finding("us-east-1", "det1", &format!("s{i}"), base, false, *s))
            .collect(),
    );
    let config = moto::sdk_config("us-east-1")
        .to_builder()
        .endpoint_url(gd.endpoint())
        .build();
    let client = aws_sdk_guardduty::Client::new(&config);
    let list = |condition: Condition| {
        let client = client.clone();
        async move {
            let mut ids = client
                .list_findings()
                .detector_id("det1")
                .finding_criteria(
                    FindingCriteria::builder()
                        .criterion("severity", condition)
                        .build(),
                )
                .send()
                .await?
                .finding_ids()
                .to_vec();
            ids.sort();
            Ok::<_, aws_sdk_guardduty::error::SdkError<_, _>>(ids)
        }
    };
    let at_least_4 = list(Condition::builder().greater_than_or_equal(4).build())
        .await
        .unwrap();
    assert_eq!(at_least_4, ["s1", "s2", "s3"]);
    #[allow(deprecated)]
    let gte_4 = list(Condition::builder().gte(4).build()).await.unwrap();
    assert_eq!(gte_4, at_least_4, "the deprecated gte means the same");
    let exactly = list(Condition::builder().equals("8.5").build())
        .await
        .unwrap();
    assert_eq!(exactly, ["s3"]);
    let below = list(Condition::builder().less_than(4).build())
        .await
        .unwrap();
    assert_eq!(below, ["s0"]);
    // `matches` is for filters only: ListFindings refuses it with a 400.
    let err = list(Condition::builder().matches("8*").build())
        .await
        .unwrap_err();
    let service = err.into_service_error();
    assert!(service.is_bad_request_exception(), "{service:?}");
    assert_eq!(gd.seen().last().unwrap().status, 400);
}

#[tokio::test]
async fn the_guardduty_stand_in_refuses_an_unknown_operator_or_malformed_criteria_as_guardduty_does()
 {
    let gd = GuardDuty::start().await;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 3, now_ms() - 60_000),
    );
    let path = "/detector/det1/findings";
    for (criteria, names) in [
        (
            r#"{"criterion": {"severity": {"between": [1, 8]}}}"#,
            "between",
        ),
        (r#"{"criterion": {"severity": {"Gte": 4}}}"#, "Gte"),
        (
            r#"{"criterion": {"updatedAt": {"gte": "yesterday"}}}"#,
            "gte",
        ),
        (r#"{"criterion": {"severity": {"equals": [8]}}}"#, "equals"),
        (r#"{"criterion": {"severity": 8}}"#, "severity"),
        (r#"{"criterion": ["severity"]}"#, "criterion"),
        (r#""severity >= 4""#, "findingCriteria"),
    ] {
        let body = format!(r#"{{"maxResults": 50, "findingCriteria": {criteria}}}"#);
        let (status, kind, answer) = gd.post_raw("us-east-1", path, &body).await;
        assert_eq!(status, 400, "{criteria}: {answer}");
        assert_eq!(kind, "BadRequestException", "{criteria}");
        assert_eq!(answer["__type"], "BadRequestException", "{criteria}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{criteria}: {message}");
    }
    // A well-formed request is answered: the refusals above are about the criteria.
    let (status, _, answer) = gd
        .post_raw(
            "us-east-1",
            path,
            r#"{"maxResults": 50, "findingCriteria": {"criterion": {"severity": {"gte": 4}}}}"#,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["findingIds"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn the_guardduty_stand_in_matches_no_condition_on_a_field_a_finding_lacks() {
    let gd = GuardDuty::start().await;
    let t = now_ms() - 60_000;
    let mut bare = finding("us-east-1", "det1", "no-time", t, false, 5.0);
    bare.as_object_mut().unwrap().remove("updatedAt");
    bare.as_object_mut().unwrap().remove("severity");
    gd.add(
        "us-east-1",
        "det1",
        vec![bare, finding("us-east-1", "det1", "timed", t, false, 5.0)],
    );
    let listed = |criterion: &str| {
        let gd = gd.clone();
        let body =
            format!(r#"{{"maxResults": 50, "findingCriteria": {{"criterion": {criterion}}}}}"#);
        async move {
            let (status, _, answer) = gd
                .post_raw("us-east-1", "/detector/det1/findings", &body)
                .await;
            assert_eq!(status, 200, "{answer}");
            answer["findingIds"].clone()
        }
    };
    // A missing time is not the epoch, a missing severity not zero: neither side matches.
    for criterion in [
        r#"{"updatedAt": {"lessThan": 9999999999999}}"#.to_string(),
        format!(r#"{{"updatedAt": {{"greaterThanOrEqual": {}}}}}"#, t - 1),
        r#"{"updatedAt": {"gte": 0}}"#.to_string(),
        r#"{"severity": {"lessThan": 9}}"#.to_string(),
        r#"{"severity": {"gte": 0}}"#.to_string(),
    ] {
        assert_eq!(
            listed(&criterion).await,
            serde_json::json!(["timed"]),
            "{criterion}"
        );
    }
}

#[tokio::test]
async fn a_checkpoint_write_that_fails_after_delivery_fails_the_run_and_the_next_run_delivers_again()
 {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 5, base),
    );
    let prefix = format!("/{}", moto::unique("gdf-cpfail"));
    let env = |extra: Option<String>| {
        let mut env = vec![
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".to_string()),
        ];
        if let Some(ssm) = extra {
            env.push(("AWS_ENDPOINT_URL_SSM", ssm));
        }
        env
    };
    // SSM reads work, PutParameter fails: the findings go out, their checkpoint does not.
    let proxy = moto::refusing_proxy("AmazonSSM.PutParameter").await;
    let (api, proc_) = start(&gd, &env(Some(proxy))).await;
    let err = run_reply(&api)
        .await
        .expect_err("a checkpoint that could not be written fails the run");
    assert!(
        err.contains("writing checkpoint") && err.contains(&prefix),
        "{err}"
    );
    assert_eq!(
        delivered(&proc_),
        once("f", 0..5),
        "delivered before the write"
    );
    assert_eq!(
        checkpoint_of(&prefix, "det1").await,
        None,
        "nothing was written"
    );
    drop(proc_);
    // The next run (SSM back) starts from the same place: every finding again, nothing lost.
    let (api, proc_) = start(&gd, &env(None)).await;
    let r = run(&api).await;
    assert_eq!(r["forwarded"], 5, "{r}");
    assert_eq!(delivered(&proc_), once("f", 0..5));
    let cp = checkpoint_of(&prefix, "det1").await.expect("written now");
    assert!(
        cp["updated_at"].as_str().unwrap() > iso(base + 4).as_str(),
        "{cp}"
    );
}

#[tokio::test]
async fn findings_newer_than_the_settle_margin_wait_for_the_next_run() {
    let gd = GuardDuty::start().await;
    let now = now_ms();
    // Settled: older than the 3 s margin. Fresh: inside it.
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "settled", 3, now - 60_000),
    );
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "fresh", 3, now - 500),
    );
    let prefix = format!("/{}", moto::unique("gdf-settle"));
    let (api, proc_) = start(
        &gd,
        &[
            ("BACKFILL_SETTLE_SECONDS", "3".into()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".into()),
        ],
    )
    .await;
    let first = run(&api).await;
    assert_eq!(first["forwarded"], 3, "{first}");
    assert_eq!(
        delivered(&proc_),
        once("settled", 0..3),
        "the fresh ones wait"
    );
    let cp = checkpoint_of(&prefix, "det1").await.expect("checkpoint");
    assert!(
        cp["updated_at"].as_str().unwrap() <= iso(now - 500).as_str(),
        "the checkpoint stops at the margin, before the fresh ones: {cp}"
    );
    // Once the margin has passed over them, the next run takes them, and only them.
    let settled_at = now - 500 + 3 + 3_000;
    let wait = u64::try_from(settled_at + 100 - now_ms()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let second = run(&api).await;
    assert_eq!(second["forwarded"], 3, "{second}");
    let mut all = once("settled", 0..3);
    all.extend(once("fresh", 0..3));
    assert_eq!(delivered(&proc_), all);
}

#[tokio::test]
async fn a_quarantine_send_that_fails_keeps_the_poison_finding_and_the_checkpoint_before_it() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let gd = GuardDuty::start().await;
    let base = now_ms() - 10 * 60_000;
    gd.add("us-east-1", "det1", with_a_poison_finding(base));
    let queue = moto::create_queue(
        "gdf-qfail",
        &[(QueueAttributeName::MaximumMessageSize, "4096")],
    )
    .await;
    let prefix = format!("/{}", moto::unique("gdf-qfail"));
    let env = |dlq: String| {
        vec![
            ("SQS_QUEUE_URL", queue.clone()),
            ("DLQ_URL", dlq),
            ("BACKFILL_QUARANTINE_AFTER", "1".to_string()),
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("DETECTOR_IDS", "det1".to_string()),
        ]
    };
    // The dead-letter queue does not exist: setting the finding aside fails.
    let gone = format!("{}/{}/gdf-no-such-dlq", moto::endpoint(), moto::ACCOUNT);
    let (api, proc_) = start(&gd, &env(gone)).await;
    let err = run_reply(&api)
        .await
        .expect_err("a finding neither delivered nor set aside fails the run");
    assert!(err.contains("f-0003"), "{err}");
    let cp = checkpoint_of(&prefix, "det1").await.expect("checkpoint");
    assert_eq!(
        cp["updated_at"],
        iso(base + 2),
        "held before the poison finding: {cp}"
    );
    let stderr = proc_.stderr().join("\n");
    assert!(
        stderr.contains("setting finding f-0003 aside in the dead-letter queue failed")
            && stderr.contains("QueueDoesNotExist"),
        "the failed send is logged with the finding and why: {stderr}"
    );
    drop(proc_);
    // With a queue that works, the next run sets it aside and moves on.
    let dlq = moto::create_queue("gdf-qfail-dlq", &[]).await;
    let (api, _proc) = start(&gd, &env(dlq.clone())).await;
    let r = run(&api).await;
    assert_eq!(r["failed"], 0, "{r}");
    let set_aside = moto::drain_bodies(&dlq).await;
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(set_aside[0]["finding"]["id"], "f-0003");
    let cp = checkpoint_of(&prefix, "det1").await.expect("checkpoint");
    assert!(
        cp["updated_at"].as_str().unwrap() > iso(base + 9).as_str(),
        "{cp}"
    );
}

/// Puts a checkpoint for `us-east-1/det1` under `prefix` at `mark_ms`.
async fn put_checkpoint(prefix: &str, mark_ms: i64) {
    aws_sdk_ssm::Client::new(&moto::sdk_config("us-east-1"))
        .put_parameter()
        .name(format!("{prefix}/us-east-1/det1"))
        .value(format!(
            "{{\"updated_at\":\"{}\",\"ids\":[]}}",
            iso(mark_ms)
        ))
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put checkpoint");
}

#[tokio::test]
async fn the_cli_backfill_without_a_destination_starts_at_the_checkpoint_and_never_moves_it() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 30 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 10, base),
    );
    let prefix = format!("/{}", moto::unique("gdf-cli-cp"));
    put_checkpoint(&prefix, base + 5).await;
    let env = [
        ("CHECKPOINT_PARAMETER", prefix.clone()),
        ("DETECTOR_IDS", "det1".to_string()),
        ("BACKFILL_SETTLE_SECONDS", "0".to_string()),
    ];
    for _ in 0..2 {
        let (ok, records, stderr) = cli_backfill_with(&gd, &env, &["--region", "us-east-1"]).await;
        assert!(ok, "{stderr}");
        assert_eq!(
            records, 5,
            "f-0005.. after the checkpoint, every time: {stderr}"
        );
        assert!(
            stderr.contains("the checkpoint is read, not moved"),
            "{stderr}"
        );
    }
    let cp = checkpoint_of(&prefix, "det1").await.expect("checkpoint");
    assert_eq!(cp["updated_at"], iso(base + 5), "untouched: {cp}");
}

#[tokio::test]
async fn the_cli_backfill_to_a_queue_moves_the_checkpoint_and_with_since_leaves_it_alone() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 30 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        recent("us-east-1", "det1", "f", 10, base),
    );
    let prefix = format!("/{}", moto::unique("gdf-cli-move"));
    put_checkpoint(&prefix, base + 5).await;
    let queue = moto::create_queue("gdf-cli-move", &[]).await;
    let env = [
        ("CHECKPOINT_PARAMETER", prefix.clone()),
        ("DETECTOR_IDS", "det1".to_string()),
        ("BACKFILL_SETTLE_SECONDS", "0".to_string()),
        ("SQS_QUEUE_URL", queue.clone()),
    ];
    // A fixed window neither reads nor moves the checkpoint: all ten, the mark unchanged.
    let (ok, _, stderr) = cli_backfill_with(&gd, &env, &["--since", "1h"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(moto::drain_bodies(&queue).await.len(), 10, "{stderr}");
    let cp = checkpoint_of(&prefix, "det1").await.expect("checkpoint");
    assert_eq!(cp["updated_at"], iso(base + 5), "--since leaves it: {cp}");
    // Without --since, delivered to a queue: from the checkpoint, and moved past what it sent.
    let (ok, _, stderr) = cli_backfill_with(&gd, &env, &[]).await;
    assert!(ok, "{stderr}");
    let ids: Vec<String> = moto::drain_bodies(&queue)
        .await
        .iter()
        .map(|b| b["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids.iter().all(|id| id.as_str() >= "f-0005"), "{ids:?}");
    let cp = checkpoint_of(&prefix, "det1").await.expect("checkpoint");
    assert!(
        cp["updated_at"].as_str().unwrap() > iso(base + 9).as_str(),
        "moved: {cp}"
    );
    let (ok, _, stderr) = cli_backfill_with(&gd, &env, &[]).await;
    assert!(ok, "{stderr}");
    assert!(
        moto::drain_bodies(&queue).await.is_empty(),
        "nothing new: {stderr}"
    );
}
