//! CloudWatch metrics as Embedded Metric Format lines in the function's log stream: no API
//! calls, no extra latency. One line per invocation for the trigger, one per destination.

use serde_json::{Map, Value, json};

use crate::normalize::Via;
use crate::pipeline::Outcome;

fn document(namespace: &str, dimensions: &[(&str, &str)], metrics: &[(&str, &str, u64)]) -> Value {
    let mut doc = Map::new();
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
    for (k, v) in dimensions {
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
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Trigger"
        );
        assert_eq!(v["Trigger"], "eventbridge");
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
    }
}
