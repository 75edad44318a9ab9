//! `guardduty-forwarder forward` over the real findings in `tests/fixtures/corpus`.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::Value;
use support::process::command;

fn forward(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, String)]) -> Output {
    let mut cmd = command(env);
    cmd.arg("forward").args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON: {l}: {e}"))
        })
        .collect()
}

/// The findings a corpus file holds, as the source has them.
fn findings_in(doc: &Value) -> Vec<Value> {
    match doc {
        Value::Array(items) => items.iter().flat_map(findings_in).collect(),
        Value::Object(o) if o.contains_key("detail") => vec![o["detail"].clone()],
        Value::Object(o) if o.contains_key("findings") => {
            o["findings"].as_array().cloned().unwrap_or_default()
        }
        Value::Object(o) if o.contains_key("Findings") => {
            o["Findings"].as_array().cloned().unwrap_or_default()
        }
        other => vec![other.clone()],
    }
}

fn is_not_a_finding(name: &str) -> bool {
    name.starts_with("edge__")
        || name.starts_with("malware-s3-scanresult")
        || name.starts_with("runtime__")
}

#[test]
fn every_real_finding_in_the_fixtures_becomes_one_record_with_its_source_verbatim() {
    let dir = support::fixtures().join("corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if is_not_a_finding(&name) || name.starts_with("asff") {
            continue;
        }
        let out = forward(&[path.to_str().unwrap()], None, &[]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = findings_in(&support::read_json(&path));
        let got = records(&out);
        assert_eq!(got.len(), expected.len(), "{name}");
        for (record, finding) in got.iter().zip(&expected) {
            assert_eq!(
                &record["raw_event"], finding,
                "{name}: raw_event differs from the source"
            );
            assert_eq!(record["schema_version"], "1");
            assert_eq!(record["source"], "aws_guardduty");
            assert_eq!(record["ingest"]["via"], "cli");
            let id = record["id"].as_str().unwrap();
            assert!(
                record["dedup_key"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{id}:")),
                "{name}"
            );
            assert!(
                ["info", "low", "medium", "high", "critical"]
                    .contains(&record["severity"].as_str().unwrap()),
                "{name}"
            );
            for key in [
                "arn",
                "account_id",
                "region",
                "partition",
                "type",
                "title",
                "description",
                "severity_score",
                "created_at",
                "updated_at",
                "first_seen",
                "last_seen",
                "count",
                "archived",
                "resource_type",
                "resource_id",
                "action_type",
                "remote_ip",
                "remote_country",
                "actor_principal",
                "sample",
            ] {
                assert!(record.get(key).is_some(), "{name}: {key} missing");
            }
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} findings checked");
}

#[test]
fn record_fields_are_derived_from_a_known_finding() {
    let path =
        support::fixtures().join("corpus/iam__Recon-UserPermissions__awscli-get-findings.json");
    let out = forward(&[path.to_str().unwrap()], None, &[]);
    let r = &records(&out)[0];
    assert_eq!(r["severity"], "medium");
    assert_eq!(r["type"], "Recon:IAMUser/UserPermissions");
    assert_eq!(r["resource_type"], "AccessKey");
    assert_eq!(r["resource_id"], "ASIASZ4SI7REEEXAMPLE");
    assert_eq!(r["actor_principal"], "testuser");
    assert_eq!(r["remote_ip"], "52.94.36.7");
    assert_eq!(r["remote_country"], "United Kingdom");
    assert_eq!(r["action_type"], "AWS_API_CALL");
    assert_eq!(r["count"], 5);
    assert_eq!(r["archived"], false);
}

#[test]
fn attack_sequences_are_critical_and_sample_findings_are_flagged() {
    let path = support::fixtures()
        .join("corpus/attackseq__AttackSequence-S3-CompromisedData__panther-critical.json");
    let out = forward(&[path.to_str().unwrap()], None, &[]);
    let r = &records(&out)[0];
    assert_eq!(r["severity"], "critical");
    assert_eq!(r["sample"], true);
    assert_eq!(
        r["created_at"], "2025-02-25 20:40:06.765",
        "timestamps are kept verbatim"
    );
}

#[test]
fn malformed_inputs_are_named_on_stderr_and_fail_the_run_while_good_ones_still_go_out() {
    let corpus = support::fixtures().join("corpus");
    let good = support::events_dir().join("guardduty-finding.json");
    let empty_detail = corpus.join("edge__EmptyDetail__streamalert.json");
    let fragment = corpus.join(
        "runtime__PrivilegeEscalation-CGroupsReleaseAgentModified__stixshifter-translation.json",
    );
    let out = forward(
        &[
            empty_detail.to_str().unwrap(),
            good.to_str().unwrap(),
            fragment.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert!(!out.status.success());
    assert_eq!(records(&out).len(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the finding in `detail` has no id"),
        "{stderr}"
    );
    assert!(stderr.contains("finding has no id"), "{stderr}");
    assert!(
        stderr.lines().last().unwrap().contains("1 forwarded"),
        "{stderr}"
    );
}

#[test]
fn non_finding_events_are_ignored_without_failing() {
    let corpus = support::fixtures().join("corpus");
    for name in [
        "malware-s3-scanresult__ScanResult-THREAT_FOUND__definitelytyped.json",
        "edge__NotAFinding-CloudTrailCreateSampleFindings__sumologic-aws-lambda.json",
    ] {
        let out = forward(&[corpus.join(name).to_str().unwrap()], None, &[]);
        assert!(out.status.success(), "{name}");
        assert!(records(&out).is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("1 ignored"));
    }
}

#[test]
fn ndjson_on_stdin_is_read_line_by_line_and_a_bad_line_is_reported_with_its_number() {
    let input = b"{\"id\":\"a\",\"severity\":2}\n{\"id\":\"b\",\n{\"id\":\"c\",\"severity\":9.5}\n";
    let out = forward(&["-"], Some(input), &[]);
    assert!(!out.status.success());
    let ids: Vec<Value> = records(&out).iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, ["a", "c"]);
    // The broken value is line 2; line 3 is read again, whole, as its own finding.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid JSON at line 2, column 1:"),
        "{stderr}"
    );
}

#[test]
fn a_broken_pretty_printed_value_is_reported_at_its_own_line_and_column_and_the_next_is_read() {
    // Pretty values are compacted before they are read; an error still names the place in
    // the input as it was, not in the compacted text.
    let input = b"{\n  \"id\": \"a\",\n  \"n\": trux\n}\n{\n  \"id\": \"b\"\n}\n";
    let out = forward(&["-"], Some(input), &[]);
    assert!(!out.status.success());
    let ids: Vec<Value> = records(&out).iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, ["b"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid JSON at line 3, column 11:"),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_fails_the_run_with_its_name() {
    let out = forward(&["/nonexistent/findings.json"], None, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/findings.json"));
}

#[test]
fn a_bad_setting_stops_the_cli_naming_the_variable() {
    let out = forward(&["-"], Some(b""), &[("OUTPUT_SCHEMA", "ecs".into())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OUTPUT_SCHEMA"));
}

#[test]
fn a_collector_setting_without_a_collector_url_stops_the_cli_instead_of_printing_to_stdout() {
    let good = support::events_dir().join("guardduty-finding.json");
    for (var, value) in [
        ("COLLECTOR_FORMAT", "bogus"),
        ("COLLECTOR_FORMAT", "splunk-hec"),
        ("COLLECTOR_HEC_INDEX", "security"),
        ("COLLECTOR_GZIP", "true"),
    ] {
        let out = forward(&[good.to_str().unwrap()], None, &[(var, value.into())]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(
            stderr.contains(&format!("{var}: is set but neither COLLECTOR_URL")),
            "{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{var}={value}: a record went to stdout"
        );
    }
}

#[test]
fn the_sample_events_directory_holds_event_files_only() {
    for entry in std::fs::read_dir(support::events_dir()).expect("events/") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            serde_json::from_str::<Value>(&text).is_ok(),
            "{} is not a JSON event: forward events/ would reject it",
            path.display()
        );
    }
}

#[test]
fn ocsf_output_is_a_detection_finding_with_the_raw_finding_kept() {
    let good = support::events_dir().join("guardduty-finding.json");
    let out = forward(
        &[good.to_str().unwrap()],
        None,
        &[("OUTPUT_SCHEMA", "ocsf".into())],
    );
    let r = &records(&out)[0];
    assert_eq!(r["class_uid"], 2004);
    assert_eq!(
        r["unmapped"]["raw_event"],
        support::read_json(&good)["detail"]
    );
}
