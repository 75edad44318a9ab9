//! The cursor's property, end to end: the library's backfill against the GuardDuty stand-in
//! and moto's SSM, over runs that proptest fills with GuardDuty's updates (between
//! ListFindings and GetFindings, and between runs), failed deliveries, a failed GetFindings,
//! ids GetFindings leaves out, several findings per millisecond and small caps. After quiet
//! runs, every finding's latest version has been delivered.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use guardduty_forwarder::backfill::{Backfill, Reader};
use guardduty_forwarder::config::Config;
use guardduty_forwarder::normalize::{OutputSchema, Severity};
use guardduty_forwarder::pipeline::Forwarder;
use guardduty_forwarder::record::EncodedRecord;
use guardduty_forwarder::retry::Deadline;
use guardduty_forwarder::sink::{BoxFuture, Delivery, DeliveryError, Sink};
use proptest::prelude::*;
use support::guardduty::{GuardDuty, finding, iso, now_ms};
use support::moto;

/// A destination that remembers what it got and fails the ids it is told to, transiently.
#[derive(Clone, Default)]
struct Recorder {
    delivered: Arc<Mutex<HashSet<String>>>,
    fail: Arc<Mutex<HashSet<String>>>,
}

impl Sink for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }

    fn deliver<'a>(
        &'a self,
        records: &'a [EncodedRecord],
        _deadline: Deadline,
    ) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let fail = self.fail.lock().unwrap().clone();
            let mut delivery = Delivery::default();
            for (i, r) in records.iter().enumerate() {
                if fail.contains(&r.id) {
                    delivery
                        .failed
                        .push((i, DeliveryError::Unavailable("told to fail".into())));
                } else {
                    self.delivered.lock().unwrap().insert(r.dedup_key.clone());
                }
            }
            delivery
        })
    }
}

#[derive(Debug, Clone)]
struct Storm {
    /// Findings updated right after the listing that shows them.
    update_after_list: Vec<u8>,
    /// Findings updated between runs.
    update_between: Vec<u8>,
    /// Findings whose delivery fails this run.
    fail: Vec<u8>,
    /// Findings GetFindings leaves out this run.
    omit: Vec<u8>,
    fail_get: bool,
}

fn storm() -> impl Strategy<Value = Storm> {
    let ids = || proptest::collection::vec(0u8..40, 0..4);
    (ids(), ids(), ids(), ids(), proptest::bool::weighted(0.2)).prop_map(
        |(update_after_list, update_between, fail, omit, fail_get)| Storm {
            update_after_list,
            update_between,
            fail,
            omit,
            fail_get,
        },
    )
}

fn id(n: u8) -> String {
    format!("p-{:02}", n % 40)
}

/// Sets the process environment the SDK reads (this test binary holds one test).
fn point_sdk_at(gd: &GuardDuty) {
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.push(("AWS_EC2_METADATA_DISABLED", "true".into()));
    for (k, v) in env {
        // SAFETY: this binary runs one test, which sets the variables before any thread
        // that reads them exists (the runtime below is built afterwards).
        unsafe { std::env::set_var(k, v) };
    }
}

async fn case(ms: Vec<u8>, storms: Vec<Storm>, cap: usize) -> Result<(), TestCaseError> {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 60_000;
    // 40 findings on a few milliseconds: several share one.
    let findings = (0..40u8)
        .map(|n| {
            let t = base + i64::from(ms.get(usize::from(n)).copied().unwrap_or(0) % 8);
            finding("us-east-1", "det1", &id(n), t, false, 5.0)
        })
        .collect();
    gd.add("us-east-1", "det1", findings);
    point_sdk_at(&gd);
    let prefix = format!("/{}", moto::unique("gdf-prop"));
    let env = [
        ("DETECTOR_IDS", "det1".to_string()),
        ("GUARDDUTY_REGIONS", "us-east-1".into()),
        ("CHECKPOINT_PARAMETER", prefix),
        ("BACKFILL_MAX_FINDINGS", cap.to_string()),
        ("BACKFILL_SETTLE_SECONDS", "0".into()),
        ("LOG_RECORDS", "true".into()),
    ];
    let config = Config::from_lookup(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.clone())
    })
    .expect("config");
    let recorder = Recorder::default();
    let forwarder = Forwarder::unfiltered(
        vec![Box::new(recorder.clone())],
        Severity::Info,
        OutputSchema::Native,
    );
    let aws = Arc::new(guardduty_forwarder::aws::Aws::new());
    let reader = Reader::new(aws, &config.backfill);
    let backfill = Backfill {
        reader: &reader,
        forwarder: &forwarder,
        config: &config.backfill,
    };
    let bump = |n: u8| {
        if let Some(mut f) = gd.get("us-east-1", "det1", &id(n)) {
            f["updatedAt"] = iso(now_ms()).into();
            gd.put("us-east-1", "det1", f);
        }
    };
    for s in &storms {
        s.update_between.iter().for_each(|n| bump(*n));
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let after: Vec<String> = s.update_after_list.iter().map(|n| id(*n)).collect();
        gd.update_after_list(&after.iter().map(String::as_str).collect::<Vec<_>>());
        let omit: Vec<String> = s.omit.iter().map(|n| id(*n)).collect();
        gd.omit_from_get(&omit.iter().map(String::as_str).collect::<Vec<_>>());
        *recorder.fail.lock().unwrap() = s.fail.iter().map(|n| id(*n)).collect();
        gd.fail_gets(u32::from(s.fail_get));
        // A stormy run may fail, but only for what the storm planted.
        let told: HashSet<String> = s.fail.iter().map(|n| id(*n)).collect();
        match backfill.run_scheduled(Deadline::none(), None).await {
            Ok(o) => {
                // A failed GetFindings counts as one failure of the run.
                let summary = o.failure_summary();
                prop_assert!(
                    o.failed as usize <= told.len() + usize::from(s.fail_get),
                    "{} failed, {} told to: {}",
                    o.failed,
                    told.len(),
                    summary
                );
                prop_assert!(
                    s.fail_get || !summary.contains("GetFindings"),
                    "GetFindings failed unplanted: {}",
                    summary
                );
            }
            Err(e) => prop_assert!(
                s.fail_get && e.to_string().contains("GetFindings"),
                "a run failed with no GetFindings failure planted: {}",
                e
            ),
        }
    }
    // Quiet runs: nothing fails, nothing changes.
    gd.omit_from_get(&[]);
    gd.fail_gets(0);
    gd.update_after_list(&[]);
    recorder.fail.lock().unwrap().clear();
    for _ in 0..(40 / cap + 3) {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let o = backfill
            .run_scheduled(Deadline::none(), None)
            .await
            .expect("a quiet run");
        prop_assert_eq!(o.failed, 0, "{}", o.failure_summary());
    }
    let delivered = recorder.delivered.lock().unwrap().clone();
    for n in 0..40u8 {
        let f = gd.get("us-east-1", "det1", &id(n)).unwrap();
        let key = format!("{}:{}", id(n), f["updatedAt"].as_str().unwrap());
        prop_assert!(delivered.contains(&key), "{} never delivered", key);
    }
    Ok(())
}

/// Cases per run: `BACKFILL_PROPTEST_CASES`, else 40 (about as many seconds in CI); a
/// periodic job can raise it.
fn cases() -> u32 {
    std::env::var("BACKFILL_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn every_finding_listed_in_the_window_arrives_in_its_latest_version_whatever_guardduty_does_between_calls(
        ms in proptest::collection::vec(any::<u8>(), 40),
        storms in proptest::collection::vec(storm(), 1..5),
        cap in 3usize..25,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(case(ms, storms, cap))?;
    }
}
