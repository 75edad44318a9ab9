//! CloudWatch metrics as Embedded Metric Format lines in the function's log stream: no API
//! calls, no extra latency.
//!
//! CloudWatch bills every metric (name × dimension values) that receives data, by the hour,
//! so what is published is sized for an organization (docs/cost.md):
//! - [`Detail::Default`]: one document per invocation, dimension `FunctionName` only, holding
//!   at most the counters of [`DEFAULT_METRICS`], each only when it is not zero. An idle
//!   stack publishes nothing, so it pays for no custom metric: the alarms that page watch
//!   AWS's own metrics (the function's `Errors` — a backfill run that is behind or left
//!   findings unfetched fails its invocation —, the backfill alias's `Invocations`, the
//!   dead-letter queue's depth), which cost nothing to publish.
//! - [`Detail::Detailed`] (`METRICS_DETAIL=detailed`): the default document, plus
//!   `BackfillLagSeconds` by `FunctionName` on every backfill run that completed, plus every
//!   counter by `FunctionName` and `Trigger` (zeros included), plus `FindingsForwarded` and
//!   `FindingsFailed` by `FunctionName`, `Trigger` and `Destination`.
//!
//! Invariants (checked by the unit and property tests below, and by tests/metrics.rs through
//! the binary):
//! - Every document carries the dimension `FunctionName` (the Lambda function's name from
//!   `AWS_LAMBDA_FUNCTION_NAME`, `cli` outside Lambda) first in each dimension set, so
//!   several stacks in one account and region never mix their metrics or page each other.
//! - Every metric declared under `_aws.CloudWatchMetrics` is present with a value, and every
//!   declared dimension is present as a string; no document declares no metric.
//! - In the default mode, whatever the outcome, the documents' metric × dimension
//!   combinations are among those of [`DEFAULT_METRICS`] by `FunctionName`, and an outcome
//!   whose counters are all zero publishes no document.
//! - The lines carry no `level`: they are written to stdout whatever `LOG_LEVEL` says (see
//!   `crate::logging`), so a quieter log level never costs a metric.

use serde_json::{Map, Value, json};

use crate::normalize::Via;
use crate::pipeline::Outcome;

/// The `FunctionName` dimension's value outside Lambda.
pub const CLI_FUNCTION_NAME: &str = "cli";

/// The metrics the default mode may publish, all by `FunctionName` alone.
pub const DEFAULT_METRICS: [&str; 8] = [
    "FindingsForwarded",
    "FindingsFailed",
    "FindingsUnfetchable",
    "QuarantineFailed",
    "BackfillLateFindings",
    "FindingsParked",
    "FindingsRedriven",
    "EnrichmentFailed",
];

/// How much is published (`METRICS_DETAIL`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// The small set of [`DEFAULT_METRICS`], by `FunctionName`.
    #[default]
    Default,
    /// Also every counter by `Trigger`, and delivery counts by `Destination`.
    Detailed,
}

impl Detail {
    /// `default` or `detailed` (any case); `None` for anything else.
    pub fn parse(value: &str) -> Option<Detail> {
        match value.to_ascii_lowercase().as_str() {
            "default" => Some(Detail::Default),
            "detailed" => Some(Detail::Detailed),
            _ => None,
        }
    }
}

/// The `FunctionName` dimension: `AWS_LAMBDA_FUNCTION_NAME`, else `cli`. Read once.
pub fn function_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| CLI_FUNCTION_NAME.to_string())
    })
}

fn document(namespace: &str, dimensions: &[(&str, &str)], metrics: &[(&str, &str, u64)]) -> Value {
    document_for(function_name(), namespace, dimensions, metrics)
}

/// One EMF document: `FunctionName` = `function`, then `dimensions`, then the metrics.
fn document_for(
    function: &str,
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, &str, u64)],
) -> Value {
    let mut doc = Map::new();
    let dimensions: Vec<(&str, &str)> = std::iter::once(("FunctionName", function))
        .chain(dimensions.iter().copied())
        .collect();
    let names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": crate::clock::now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [names],
                "Metrics": metrics.iter().map(|(n, unit, _)| json!({"Name": n, "Unit": unit})).collect::<Vec<_>>(),
            }]
        }),
    );
    for (k, v) in &dimensions {
        doc.insert((*k).into(), json!(v));
    }
    for (n, _, v) in metrics {
        doc.insert((*n).into(), json!(v));
    }
    Value::Object(doc)
}

/// The EMF lines for one invocation's outcome; `backfill_ok` is `Some` for a backfill run
/// (whether it succeeded).
pub fn lines(
    namespace: &str,
    detail: Detail,
    via: Via,
    outcome: &Outcome,
    backfill_ok: Option<bool>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut summary = default_metrics(outcome);
    if detail == Detail::Detailed
        && let Some(lag) = outcome.backfill_lag_seconds
    {
        summary.push(("BackfillLagSeconds", "Seconds", lag));
    }
    if !summary.is_empty() {
        out.push(document(namespace, &[], &summary).to_string());
    }
    if detail == Detail::Detailed {
        out.extend(detailed_lines(namespace, via, outcome, backfill_ok));
    }
    out
}

/// The default document's metrics: the counters that are not zero.
fn default_metrics(o: &Outcome) -> Vec<(&'static str, &'static str, u64)> {
    let counters = [
        ("FindingsForwarded", o.forwarded),
        ("FindingsFailed", o.failed),
        ("FindingsUnfetchable", o.unfetchable),
        ("QuarantineFailed", o.quarantine_failed),
        ("BackfillLateFindings", o.late),
        ("FindingsParked", o.parked),
        ("FindingsRedriven", o.redriven),
        // Records delivered without their account's context (the lookup failed).
        ("EnrichmentFailed", o.enrichment_failed),
    ];
    counters
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .map(|(n, v)| (n, "Count", v))
        .collect()
}

/// `METRICS_DETAIL=detailed`: every counter by trigger, deliveries by destination.
fn detailed_lines(
    namespace: &str,
    via: Via,
    outcome: &Outcome,
    backfill_ok: Option<bool>,
) -> Vec<String> {
    let trigger = via.as_str();
    let mut metrics = vec![
        ("FindingsReceived", "Count", outcome.received),
        ("FindingsForwarded", "Count", outcome.forwarded),
        ("FindingsSkipped", "Count", outcome.skipped),
        ("FindingsFailed", "Count", outcome.failed),
        ("DeliveryRetries", "Count", outcome.retries),
        ("OversizeRecords", "Count", outcome.oversize),
        ("FindingsParked", "Count", outcome.parked),
        ("FindingsRedriven", "Count", outcome.redriven),
        ("EnrichmentFailed", "Count", outcome.enrichment_failed),
    ];
    if let Some(lag) = outcome.backfill_lag_seconds {
        metrics.push(("BackfillLagSeconds", "Seconds", lag));
    }
    if let Some(ok) = backfill_ok {
        metrics.extend([
            ("BackfillRunsSucceeded", "Count", u64::from(ok)),
            ("FindingsQuarantined", "Count", outcome.quarantined),
            ("BackfillTruncated", "Count", outcome.truncated),
            ("BackfillLateFindings", "Count", outcome.late),
            ("FindingsUnfetchable", "Count", outcome.unfetchable),
            ("QuarantineFailed", "Count", outcome.quarantine_failed),
        ]);
    }
    let mut out = vec![document(namespace, &[("Trigger", trigger)], &metrics).to_string()];
    for (dest, (ok, failed)) in &outcome.per_sink {
        out.push(
            document(
                namespace,
                &[("Trigger", trigger), ("Destination", dest)],
                &[
                    ("FindingsForwarded", "Count", *ok),
                    ("FindingsFailed", "Count", *failed),
                    (
                        "OversizeRecords",
                        "Count",
                        outcome.oversize_by_sink.get(dest).copied().unwrap_or(0),
                    ),
                ],
            )
            .to_string(),
        );
    }
    out
}

/// Writes the lines to stdout (the log stream).
pub fn emit(
    namespace: &str,
    detail: Detail,
    via: Via,
    outcome: &Outcome,
    backfill_ok: Option<bool>,
) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines(namespace, detail, via, outcome, backfill_ok) {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[String]) -> Vec<Value> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// (metric, dimension names) of every metric the documents publish.
    fn combinations(docs: &[Value]) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for d in docs {
            let spec = &d["_aws"]["CloudWatchMetrics"][0];
            for dims in spec["Dimensions"].as_array().unwrap() {
                let dims: Vec<String> = dims
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| format!("{}={}", n.as_str().unwrap(), d[n.as_str().unwrap()]))
                    .collect();
                for m in spec["Metrics"].as_array().unwrap() {
                    out.push((m["Name"].as_str().unwrap().to_string(), dims.clone()));
                }
            }
        }
        out
    }

    fn busy() -> Outcome {
        let mut o = Outcome {
            received: 3,
            forwarded: 1,
            skipped: 1,
            failed: 1,
            retries: 2,
            quarantined: 1,
            truncated: 1,
            late: 2,
            unfetchable: 1,
            quarantine_failed: 1,
            backfill_lag_seconds: Some(90),
            enrichment_failed: 1,
            ..Default::default()
        };
        o.per_sink.insert("sqs".into(), (1, 1));
        o.per_sink.insert("https".into(), (1, 0));
        o
    }

    #[test]
    fn the_default_mode_publishes_one_document_by_function_name_with_only_what_is_not_zero() {
        let o = Outcome {
            received: 2,
            forwarded: 2,
            skipped: 0,
            ..Default::default()
        };
        let docs = parse(&lines("NS", Detail::Default, Via::Eventbridge, &o, None));
        assert_eq!(docs.len(), 1);
        let spec = &docs[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], "NS");
        assert_eq!(spec["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(
            spec["Metrics"],
            json!([{"Name": "FindingsForwarded", "Unit": "Count"}])
        );
        assert_eq!(docs[0]["FindingsForwarded"], 2);
        assert!(docs[0].get("Trigger").is_none());
    }

    #[test]
    fn an_idle_backfill_run_publishes_nothing_by_default_and_its_lag_when_detailed() {
        let idle = Outcome {
            backfill_lag_seconds: Some(300),
            ..Default::default()
        };
        for ok in [Some(true), Some(false)] {
            let docs = lines("NS", Detail::Default, Via::Backfill, &idle, ok);
            assert!(docs.is_empty(), "{docs:?}");
        }
        let docs = parse(&lines(
            "NS",
            Detail::Detailed,
            Via::Backfill,
            &idle,
            Some(true),
        ));
        assert_eq!(
            combinations(&docs[..1]),
            [(
                "BackfillLagSeconds".to_string(),
                vec!["FunctionName=\"cli\"".to_string()]
            )]
        );
        assert_eq!(
            docs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Seconds"
        );
    }

    #[test]
    fn a_busy_backfill_run_in_the_default_mode_stays_within_the_six_default_metrics() {
        let docs = parse(&lines(
            "NS",
            Detail::Default,
            Via::Backfill,
            &busy(),
            Some(false),
        ));
        let names: Vec<String> = combinations(&docs).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 6, "{names:?}");
        for n in &names {
            assert!(DEFAULT_METRICS.contains(&n.as_str()), "{n}");
        }
    }

    #[test]
    fn the_detailed_mode_adds_every_counter_by_trigger_and_deliveries_by_destination() {
        let docs = parse(&lines(
            "NS",
            Detail::Detailed,
            Via::Eventbridge,
            &busy(),
            None,
        ));
        assert_eq!(docs.len(), 4, "default, trigger, two destinations");
        let trigger = &docs[1];
        assert_eq!(
            trigger["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["FunctionName", "Trigger"])
        );
        assert_eq!(trigger["Trigger"], "eventbridge");
        assert_eq!(trigger["FunctionName"], CLI_FUNCTION_NAME);
        assert_eq!(
            (
                trigger["FindingsReceived"].as_u64(),
                trigger["FindingsFailed"].as_u64()
            ),
            (Some(3), Some(1))
        );
        assert!(
            trigger.get("BackfillRunsSucceeded").is_none(),
            "push is no backfill run"
        );
        let sqs = docs.iter().find(|d| d["Destination"] == "sqs").unwrap();
        assert_eq!(sqs["FindingsFailed"], 1);
        assert_eq!(
            sqs["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["FunctionName", "Trigger", "Destination"])
        );
        let run = parse(&lines(
            "NS",
            Detail::Detailed,
            Via::Backfill,
            &Outcome::default(),
            Some(true),
        ));
        let by_trigger = run.iter().find(|d| d["Trigger"] == "backfill").unwrap();
        assert_eq!(
            (
                by_trigger["BackfillRunsSucceeded"].as_u64(),
                by_trigger["FindingsFailed"].as_u64()
            ),
            (Some(1), Some(0))
        );
    }

    #[test]
    fn metrics_detail_reads_default_and_detailed_only() {
        assert_eq!(Detail::parse("Detailed"), Some(Detail::Detailed));
        assert_eq!(Detail::parse("default"), Some(Detail::Default));
        assert_eq!(Detail::parse("verbose"), None);
    }

    fn outcome_strategy() -> impl proptest::strategy::Strategy<Value = (Outcome, Option<bool>)> {
        use proptest::prelude::*;
        (
            proptest::collection::vec(0u64..3, 10),
            proptest::option::of(0u64..100_000),
            proptest::option::of(any::<bool>()),
            proptest::collection::btree_map(
                prop_oneof![Just("sqs"), Just("https"), Just("log")],
                (0u64..3, 0u64..3),
                0..3,
            ),
        )
            .prop_map(|(v, lag, ok, per_sink)| {
                let o = Outcome {
                    received: v[0],
                    forwarded: v[1],
                    skipped: v[2],
                    failed: v[3],
                    retries: v[4],
                    oversize: v[5],
                    quarantined: v[6],
                    truncated: v[7],
                    late: v[8],
                    unfetchable: v[9],
                    quarantine_failed: v[9] % 2,
                    enrichment_failed: v[0] % 2,
                    backfill_lag_seconds: lag,
                    per_sink: per_sink.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                    ..Default::default()
                };
                (o, ok)
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn every_document_declares_function_name_first_and_carries_each_declared_name(
            function in "[A-Za-z0-9_-]{1,64}",
            dest in "[a-z]{1,8}",
            values in proptest::collection::vec(0u64..1_000_000, 2),
        ) {
            let doc = document_for(
                &function,
                "NS",
                &[("Trigger", "eventbridge"), ("Destination", &dest)],
                &[("A", "Count", values[0]), ("B", "Count", values[1])],
            );
            let spec = &doc["_aws"]["CloudWatchMetrics"][0];
            let dims = spec["Dimensions"][0].as_array().cloned().unwrap_or_default();
            proptest::prop_assert_eq!(dims.first(), Some(&json!("FunctionName")));
            proptest::prop_assert_eq!(doc["FunctionName"].as_str(), Some(function.as_str()));
            for d in &dims {
                let name = d.as_str().unwrap_or_default();
                proptest::prop_assert!(doc[name].is_string(), "dimension {} absent", name);
            }
            for m in spec["Metrics"].as_array().cloned().unwrap_or_default() {
                let name = m["Name"].as_str().unwrap_or_default();
                proptest::prop_assert!(doc[name].is_u64(), "metric {} absent", name);
            }
        }

        #[test]
        fn the_default_mode_publishes_only_default_metrics_by_function_name_and_no_zero_counter(
            (outcome, ok) in outcome_strategy(),
            backfill in proptest::bool::ANY,
        ) {
            let via = if backfill { Via::Backfill } else { Via::Eventbridge };
            let docs = parse(&lines("NS", Detail::Default, via, &outcome, ok));
            proptest::prop_assert!(docs.len() <= 1);
            for doc in &docs {
                let spec = &doc["_aws"]["CloudWatchMetrics"][0];
                proptest::prop_assert_eq!(&spec["Dimensions"], &json!([["FunctionName"]]));
                let metrics = spec["Metrics"].as_array().cloned().unwrap_or_default();
                proptest::prop_assert!(!metrics.is_empty());
                for m in metrics {
                    let name = m["Name"].as_str().unwrap_or_default();
                    proptest::prop_assert!(DEFAULT_METRICS.contains(&name), "{}", name);
                    proptest::prop_assert!(doc[name].as_u64().unwrap_or(0) > 0, "zero {}", name);
                }
            }
        }
    }
}
