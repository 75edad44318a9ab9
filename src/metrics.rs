//! CloudWatch metrics as Embedded Metric Format lines in the function's log stream: no API
//! calls, no extra latency. One line per invocation for the trigger, one per destination.
//!
//! Invariants:
//! - Every document carries the dimension `FunctionName` (the Lambda function's name from
//!   `AWS_LAMBDA_FUNCTION_NAME`, `cli` outside Lambda) first in each dimension set, so
//!   several stacks in one account and region never mix their metrics or page each other.
//! - Every metric declared under `_aws.CloudWatchMetrics` is present with a value, and every
//!   declared dimension is present as a string.
//! - The lines carry no `level`: they are written to stdout whatever `LOG_LEVEL` says (see
//!   `crate::logging`), so a quieter log level never costs a metric.

use serde_json::{Map, Value, json};

use crate::normalize::Via;
use crate::pipeline::Outcome;

/// The `FunctionName` dimension's value outside Lambda.
pub const CLI_FUNCTION_NAME: &str = "cli";

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

/// The EMF lines for one invocation's outcome.
pub fn lines(
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
    ];
    if let Some(lag) = outcome.backfill_lag_seconds {
        metrics.push(("BackfillLagSeconds", "Seconds", lag));
    }
    if let Some(ok) = backfill_ok {
        metrics.push(("BackfillRunsSucceeded", "Count", u64::from(ok)));
        metrics.push(("FindingsQuarantined", "Count", outcome.quarantined));
        metrics.push(("BackfillTruncated", "Count", outcome.truncated));
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
pub fn emit(namespace: &str, via: Via, outcome: &Outcome, backfill_ok: Option<bool>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines(namespace, via, outcome, backfill_ok) {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_carry_the_metrics_and_their_declarations() {
        let mut o = Outcome {
            received: 3,
            forwarded: 1,
            skipped: 1,
            failed: 1,
            retries: 2,
            ..Default::default()
        };
        o.per_sink.insert("sqs", (1, 1));
        let lines = lines("NS", Via::Eventbridge, &o, None);
        assert_eq!(lines.len(), 2);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["FunctionName", "Trigger"])
        );
        assert_eq!(v["Trigger"], "eventbridge");
        assert_eq!(v["FunctionName"], CLI_FUNCTION_NAME);
        assert_eq!(
            (v["FindingsReceived"].as_u64(), v["FindingsFailed"].as_u64()),
            (Some(3), Some(1))
        );
        let declared: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in declared {
            assert!(v.get(name).is_some(), "{name} declared but absent");
        }
        let d: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(
            (d["Destination"].as_str(), d["FindingsFailed"].as_u64()),
            (Some("sqs"), Some(1))
        );
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["FunctionName", "Trigger", "Destination"])
        );
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
    }
}
