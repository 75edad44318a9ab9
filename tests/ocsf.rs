//! `OUTPUT_SCHEMA=ocsf` against the official OCSF Detection Finding schema (1.1.0 and 1.8.0,
//! copied into `tests/fixtures/ocsf/` with their source and licence): every fixture finding,
//! thousands of mutated ones (property test), and a snapshot of one record per resource type.
//!
//! The schema is checked as the OCSF server checks it: attributes of profiles the record does
//! not list in `metadata.profiles` are unknown; `type_uid` = `class_uid` * 100 + `activity_id`.
//! A value not matching a type's regex is a warning there, so it is not counted here either.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use guardduty_forwarder::normalize::{AccountContext, Ingest, OcsfVersion, OutputSchema, Via};
use guardduty_forwarder::record::encode;
use jsonschema::error::ValidationErrorKind;
use proptest::prelude::*;
use serde_json::{Value, json};

const VERSIONS: [OcsfVersion; 2] = [OcsfVersion::V1_1_0, OcsfVersion::V1_8_0];
const RECEIVED_AT: &str = "2026-11-22T00:00:00.000Z";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every finding of the fixture corpus and of the OCSF fixtures, with its file name.
fn fixture_findings() -> Vec<(String, Value)> {
    ["corpus", "ocsf/findings"]
        .iter()
        .flat_map(|dir| support::corpus::findings_in(dir))
        .map(|f| (f.file, f.finding))
        .collect()
}

/// Drops the attributes of profiles other than `profiles`, as the OCSF server does.
fn prune(schema: &mut Value, profiles: &[&str]) {
    let defs: Vec<String> = schema["$defs"]
        .as_object()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    // "" is the class itself, then every object definition.
    for name in std::iter::once(String::new()).chain(defs) {
        let node = if name.is_empty() {
            &mut *schema
        } else {
            &mut schema["$defs"][&name]
        };
        let Some(props) = node.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        props.retain(
            |_, p| match p.get("x-ocsf-profiles").and_then(Value::as_array) {
                Some(ps) if !ps.is_empty() => ps
                    .iter()
                    .any(|x| profiles.contains(&x.as_str().unwrap_or(""))),
                _ => true,
            },
        );
        let kept: Vec<String> = props.keys().cloned().collect();
        let empty = kept.is_empty();
        if let Some(req) = node.get_mut("required").and_then(Value::as_array_mut) {
            req.retain(|r| kept.iter().any(|k| Some(k.as_str()) == r.as_str()));
        }
        node["additionalProperties"] = Value::Bool(empty);
    }
}

fn validator(version: OcsfVersion) -> &'static jsonschema::Validator {
    static V1_1: OnceLock<jsonschema::Validator> = OnceLock::new();
    static V1_8: OnceLock<jsonschema::Validator> = OnceLock::new();
    let (cell, file) = match version {
        OcsfVersion::V1_1_0 => (&V1_1, "detection_finding-1.1.0.schema.json"),
        OcsfVersion::V1_8_0 => (&V1_8, "detection_finding-1.8.0.schema.json"),
    };
    cell.get_or_init(|| {
        let text = std::fs::read(fixtures().join("ocsf").join(file)).expect("schema");
        let mut schema: Value = serde_json::from_slice(&text).expect("schema json");
        // The profiles every record declares.
        prune(&mut schema, &["cloud"]);
        jsonschema::draft202012::new(&schema).expect("schema compiles")
    })
}

fn version_str(v: OcsfVersion) -> &'static str {
    match v {
        OcsfVersion::V1_1_0 => "1.1.0",
        OcsfVersion::V1_8_0 => "1.8.0",
    }
}

/// Where an OCSF attribute is `null` (the OCSF server drops them; we never write them).
fn nulls(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(format!("{at}: null")),
        Value::Array(items) => items.iter().for_each(|i| nulls(i, &format!("{at}[]"), out)),
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !(at.is_empty() && k.as_str() == "unmapped"))
            .for_each(|(k, x)| nulls(x, &format!("{at}.{k}"), out)),
        _ => {}
    }
}

/// The schema errors of one record, as `path: problem` lines (empty when valid).
fn schema_errors(version: OcsfVersion, record: &Value) -> Vec<String> {
    let mut out: Vec<String> = validator(version)
        .iter_errors(record)
        .filter(|e| !matches!(e.kind(), ValidationErrorKind::Pattern { .. }))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .map(|s| s.chars().take(300).collect())
        .collect();
    if record["metadata"]["profiles"] != json!(["cloud"]) {
        out.push("metadata.profiles: expected [\"cloud\"]".into());
    }
    if record["metadata"]["version"] != version_str(version) {
        out.push("metadata.version: not the version asked for".into());
    }
    let (c, a, t) = (
        &record["class_uid"],
        &record["activity_id"],
        &record["type_uid"],
    );
    if let (Some(c), Some(a), Some(t)) = (c.as_i64(), a.as_i64(), t.as_i64())
        && t != c * 100 + a
    {
        out.push(format!("type_uid: {t} != class_uid*100+activity_id"));
    }
    nulls(record, "", &mut out);
    out
}

fn ocsf(finding: &Value, version: OcsfVersion) -> Value {
    let ingest = Ingest::new(Via::Cli, None, RECEIVED_AT);
    let encoded = encode(
        &finding.clone().into(),
        &ingest,
        OutputSchema::Ocsf(version),
    )
    .expect("encodes");
    serde_json::from_str(&encoded.json).expect("record is JSON")
}

#[test]
fn every_fixture_finding_gives_a_record_the_official_schema_accepts() {
    let findings = fixture_findings();
    assert!(
        findings.len() >= 25,
        "only {} fixture findings",
        findings.len()
    );
    for version in VERSIONS {
        let mut invalid = BTreeMap::new();
        for (name, f) in &findings {
            let errors = schema_errors(version, &ocsf(f, version));
            if !errors.is_empty() {
                invalid.insert(name.clone(), errors);
            }
        }
        assert!(invalid.is_empty(), "OCSF {version:?}: {invalid:#?}");
    }
}

/// What AWS Organizations tells of an account, and what a mapping document may.
fn account_contexts() -> [AccountContext; 2] {
    let tags = BTreeMap::from([
        ("owner".to_string(), "payments".to_string()),
        ("cost-center".to_string(), "42".to_string()),
    ]);
    [
        AccountContext {
            name: Some("prod-payments".into()),
            ou_path: Some("Root/Security/Prod".into()),
            ou_id: Some("ou-ab12-cd34ef56".into()),
            org_id: Some("o-exampleorgid".into()),
            tags: tags.clone(),
        },
        AccountContext {
            name: Some("prod-payments".into()),
            ou_path: Some("Root/Prod".into()),
            tags,
            ..AccountContext::default()
        },
    ]
}

#[test]
fn account_context_maps_to_the_cloud_account_and_org_and_keeps_every_record_valid() {
    let findings = fixture_findings();
    for version in VERSIONS {
        for context in &account_contexts() {
            let mut invalid = BTreeMap::new();
            for (name, f) in &findings {
                let ingest = Ingest::new(Via::Cli, None, RECEIVED_AT).with_account(Some(context));
                let encoded = encode(&f.clone().into(), &ingest, OutputSchema::Ocsf(version))
                    .expect("encodes");
                let record: Value = serde_json::from_str(&encoded.json).expect("JSON");
                let errors = schema_errors(version, &record);
                if !errors.is_empty() {
                    invalid.insert(name.clone(), errors);
                }
                if record["cloud"].get("account").is_none() {
                    continue;
                }
                let cloud = &record["cloud"];
                assert_eq!(cloud["account"]["name"], "prod-payments", "{name}");
                let tags = match version {
                    OcsfVersion::V1_1_0 => &record["unmapped"]["account_tags"],
                    OcsfVersion::V1_8_0 => &cloud["account"]["tags"],
                };
                assert!(!tags.is_null(), "{name}: no tags in {version:?}");
                match &context.org_id {
                    Some(org) => {
                        assert_eq!(cloud["org"]["uid"], org.as_str());
                        assert_eq!(cloud["org"]["ou_name"], "Root/Security/Prod");
                    }
                    None => {
                        assert!(cloud.get("org").is_none(), "{name}");
                        assert_eq!(record["unmapped"]["account_ou_path"], "Root/Prod");
                    }
                }
            }
            assert!(invalid.is_empty(), "OCSF {version:?}: {invalid:#?}");
        }
    }
}

#[test]
fn odd_timestamps_give_the_strict_times_and_attack_sequences_their_tactics() {
    let findings = fixture_findings();
    let (_, seq) = findings
        .iter()
        .find(|(n, _)| n.starts_with("attackseq__AttackSequence-S3"))
        .expect("attack sequence fixture");
    let o = ocsf(seq, OcsfVersion::V1_1_0);
    // "2025-02-25 20:40:06.765" read as UTC.
    assert_eq!(o["time"], 1_740_516_006_765_i64);
    assert_eq!(o["metadata"]["original_time"], "2025-02-25 20:40:06.765");
    let attacks = o["finding_info"]["attacks"].as_array().expect("attacks");
    let mut tactics: Vec<&str> = attacks
        .iter()
        .filter_map(|a| a["tactic"]["uid"].as_str())
        .collect();
    tactics.dedup();
    assert_eq!(tactics, ["TA0010", "TA0040", "TA0003", "TA0005", "TA0007"]);
    // Each technique sits with the observed tactic ATT&CK lists it under.
    let pair = |a: &Value| {
        format!(
            "{}/{}",
            a["tactic"]["uid"].as_str().unwrap_or("-"),
            a["technique"]["uid"].as_str().unwrap_or("-")
        )
    };
    let pairs: Vec<String> = attacks.iter().map(pair).collect();
    assert!(pairs.contains(&"TA0040/T1485".to_owned()), "{pairs:?}");
    assert!(pairs.contains(&"TA0007/T1526".to_owned()), "{pairs:?}");
    assert_eq!(o["metadata"]["labels"], json!(["sample"]));
    assert!(o["resources"][0]["name"] == "AttackSequence");

    let (_, sumo) = findings
        .iter()
        .find(|(n, _)| n.contains("sumologic-docs"))
        .expect("+0000 fixture");
    let o = ocsf(sumo, OcsfVersion::V1_1_0);
    let updated = sumo["updatedAt"].as_str().expect("updatedAt");
    assert!(updated.ends_with("+0000"), "{updated}");
    assert!(o["time"].as_i64().is_some() && o["unmapped"].get("time_source").is_none());
}

/// The records the binary writes for `file` with `OUTPUT_SCHEMA=ocsf`.
fn cli_records(file: &str, version: OcsfVersion) -> Vec<Value> {
    let path = [
        fixtures().join("corpus").join(file),
        fixtures().join("ocsf/findings").join(file),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("fixture {file}"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guardduty-forwarder"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OUTPUT_SCHEMA", "ocsf")
        .env("OCSF_VERSION", version_str(version))
        .arg("forward")
        .arg(&path)
        .output()
        .expect("run the binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record is JSON"))
        .collect();
    for r in &records {
        let errors = schema_errors(version, r);
        assert!(errors.is_empty(), "{file} {version:?}: {errors:#?}");
    }
    records
}

/// The tactic names of a record's attacks, in order.
fn tactics(record: &Value) -> Vec<String> {
    let attacks = record["finding_info"]["attacks"].as_array();
    attacks
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|a| a["tactic"]["name"].as_str().unwrap_or("-").to_owned())
        .collect()
}

#[test]
fn each_finding_type_takes_the_tactic_of_its_class_in_aws_security_hub_table() {
    let cases = [
        (
            "ec2__UnauthorizedAccess-RDPBruteForce__stixshifter-translation.json",
            vec!["Initial Access"],
        ),
        (
            "iam__UnauthorizedAccess-TorIPCaller__c7n-cwe.json",
            vec!["Command and Control"],
        ),
        (
            "ec2__Backdoor-C-CActivity.B-DNS__cisco-tr05.json",
            vec!["Command and Control"],
        ),
        (
            "ec2__Recon-PortProbeUnprotectedPort__sumologic-docs.json",
            vec!["Discovery"],
        ),
        (
            "s3__PenTest-ParrotLinux__aws-gd-automated-response.json",
            vec![],
        ),
        (
            "iam__Recon-MaliciousIPCaller.Custom__aws-gd-automated-response.json",
            vec!["Discovery"],
        ),
    ];
    for version in VERSIONS {
        for (file, want) in &cases {
            let r = &cli_records(file, version)[0];
            assert_eq!(tactics(r), *want, "{file}");
            let types = r["finding_info"]["types"].as_array().expect("types");
            assert!(
                types.len() == 2 && types[1].as_str().is_some(),
                "{file}: {types:?}"
            );
        }
    }
    let r = &cli_records(
        "ec2__Recon-PortProbeUnprotectedPort__sumologic-docs.json",
        OcsfVersion::V1_1_0,
    )[0];
    assert_eq!(r["finding_info"]["attacks"][0]["technique"]["uid"], "T1046");
}

#[test]
fn every_finding_type_of_the_corpus_has_a_row_in_aws_classification() {
    let list = std::fs::read_to_string(fixtures().join("ocsf/finding-types.txt")).expect("list");
    let mut missing = Vec::new();
    let mut count = 0;
    for line in list
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (t, mark) = line.split_once('\t').unwrap_or((line, ""));
        count += 1;
        let f = json!({"id": "t", "type": t});
        let o = ocsf(&f, OcsfVersion::V1_1_0);
        // The second type is the ASFF type of AWS's row for it.
        let listed = o["finding_info"]["types"]
            .as_array()
            .is_some_and(|a| a.len() == 2);
        if listed == (mark == "unlisted") {
            missing.push(t.to_owned());
        }
    }
    assert!(count >= 100, "only {count} types");
    assert!(missing.is_empty(), "not as the list says: {missing:?}");
    // Every fixture finding's type is in the list.
    for (name, f) in fixture_findings() {
        if let Some(t) = f["type"].as_str().filter(|t| *t != "foo") {
            assert!(
                list.lines().any(|l| l.split('\t').next() == Some(t)),
                "{name}: {t}"
            );
        }
    }
}

#[test]
fn the_country_is_the_iso_code_and_the_network_owner_is_kept() {
    let file = "ec2__Recon-PortProbeUnprotectedPort__sumologic-docs.json";
    let r11 = &cli_records(file, OcsfVersion::V1_1_0)[0];
    let src = &r11["evidences"][0]["src_endpoint"];
    assert_eq!(src["location"]["country"], "KR");
    assert_eq!(src["location"]["desc"], "South Korea");
    assert_eq!(src["location"]["isp"], "SK Broadband");
    let org = &r11["enrichments"][0];
    assert_eq!(
        (org["type"].as_str(), org["value"].as_str()),
        (Some("Network Organization"), Some("180.70.170.34"))
    );
    assert_eq!(org["data"]["asn"], 9318);
    let r18 = &cli_records(file, OcsfVersion::V1_8_0)[0];
    let src = &r18["evidences"][0]["src_endpoint"];
    assert_eq!(src["location"]["country"], "KR");
    assert_eq!(
        src["autonomous_system"],
        json!({"number": 9318, "name": "SK Broadband Co Ltd"})
    );
    assert_eq!(
        (src["isp"].as_str(), src["isp_org"].as_str()),
        (Some("SK Broadband"), Some("SK Broadband"))
    );
    // Instance tags: labels in 1.1.0, tags in 1.8.0; the instance details in data.
    assert!(
        r11["resources"][0]["labels"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == "Name=nodes.k8s.travellogic.info"))
    );
    assert!(r18["resources"][0]["tags"].as_array().is_some_and(|t| {
        t.contains(&json!({"name": "Name", "value": "nodes.k8s.travellogic.info"}))
    }));
    assert_eq!(r11["resources"][0]["data"]["instanceType"], "m4.xlarge");
    assert_eq!(r11["finding_info"]["product_uid"], "aws/guardduty");
}

#[test]
fn the_acting_process_is_the_actor_and_the_process_it_acted_on_is_the_evidence() {
    let file = "eks__DefenseEvasion-Runtime.ProcessInjection.Ptrace__authored.json";
    for version in VERSIONS {
        let r = &cli_records(file, version)[0];
        let e = &r["evidences"][0];
        assert_eq!(e["actor"]["process"]["name"], "gdb", "{version:?}");
        assert_eq!(e["process"]["name"], "sshd", "{version:?}");
        assert!(
            e["actor"]["process"]["cmd_line"]
                .as_str()
                .is_some_and(|c| c.starts_with("gdb -p 812"))
        );
        assert_eq!(e["data"]["targetProcess"]["pid"], 812);
        // Archived: closed, with each version's status.
        assert_eq!(
            (r["activity_id"].as_u64(), r["type_uid"].as_u64()),
            (Some(3), Some(200_403))
        );
        let status = match version {
            OcsfVersion::V1_1_0 => (3, "Suppressed"),
            OcsfVersion::V1_8_0 => (5, "Archived"),
        };
        assert_eq!(
            (r["status_id"].as_u64(), r["status"].as_str()),
            (Some(status.0), Some(status.1))
        );
        assert_eq!(r["confidence_score"], 7);
        // The cluster by ARN with its name beside it, and the workload with its namespace.
        assert_eq!(
            r["resources"][0]["uid"],
            "arn:aws:eks:eu-west-1:111122223333:cluster/prod"
        );
        assert_eq!(r["resources"][0]["name"], "prod");
        let workload = r["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|x| x["namespace"] == "payments");
        assert!(
            workload.is_some_and(
                |w| w["data"]["containers"][0]["securityContext"]["privileged"] == true
            )
        );
        let ti = &r["enrichments"][0];
        assert_eq!(
            (ti["type"].as_str(), ti["provider"].as_str()),
            (Some("Threat Intelligence"), Some("ProofPoint"))
        );
        assert_eq!(ti["data"]["threatNames"], json!(["Injector"]));
        assert_eq!(tactics(r), ["Defense Evasion"]);
        assert_eq!(
            r["finding_info"]["attacks"][0]["sub_technique"]["uid"],
            "T1055.008"
        );
    }
    let r = &cli_records(file, OcsfVersion::V1_1_0)[0];
    assert_eq!(
        r["evidences"][0]["actor"]["process"]["lineage"],
        json!(["/bin/bash", "/usr/bin/containerd-shim"])
    );
    let r = &cli_records(file, OcsfVersion::V1_8_0)[0];
    assert_eq!(
        r["evidences"][0]["actor"]["process"]["ancestry"][0]["path"],
        "/bin/bash"
    );
    assert_eq!(r["evidences"][0]["container"]["runtime"], "containerd");
    assert_eq!(r["enrichments"][0]["reputation"]["score_id"], 10);
}

#[test]
fn the_callers_user_agent_and_what_guardduty_blocked_are_kept() {
    let file = "synthetic__foo__fixinventory.json";
    let r11 = cli_records(file, OcsfVersion::V1_1_0);
    let r18 = cli_records(file, OcsfVersion::V1_8_0);
    let api = |r: &Value| -> Value {
        r["evidences"]
            .as_array()
            .expect("evidences")
            .iter()
            .find(|e| e["api"]["operation"].is_string())
            .cloned()
            .expect("api evidence")
    };
    assert_eq!(api(&r11[0])["data"]["userAgent"], "foo");
    assert_eq!(api(&r11[0])["data"]["callerType"], "foo");
    assert_eq!(api(&r18[0])["http_request"]["user_agent"], "foo");
    let blocked = r11[0]["evidences"]
        .as_array()
        .expect("evidences")
        .iter()
        .any(|e| e["data"]["blocked"] == true);
    assert!(blocked);
    // 1.8.0's own observable types: the account, the user agent.
    let observed = |r: &Value, type_id: u64| {
        r["observables"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["type_id"] == type_id))
    };
    assert!(observed(&r18[0], 35) && observed(&r18[0], 16));
    assert!(!observed(&r11[0], 35) && observed(&r11[0], 10));
}

/// One fixture per resource type; the expected record of each is committed, so a change to
/// the mapping shows as a diff. `UPDATE_SNAPSHOTS=1 cargo test --test ocsf` rewrites them.
const SNAPSHOTS: &[(&str, &str)] = &[
    (
        "AccessKey",
        "iam__Recon-MaliciousIPCaller.Custom__aws-gd-automated-response.json",
    ),
    (
        "AttackSequence",
        "attackseq__AttackSequence-IAM-CompromisedCredentials__panther-critical.json",
    ),
    (
        "ECSCluster",
        "ecs__Execution-Runtime.NewBinaryExecuted__authored.json",
    ),
    (
        "EKSCluster",
        "eks__Execution-Kubernetes.ExecInKubeSystemPod__authored.json",
    ),
    (
        "Instance",
        "ec2__Recon-PortProbeUnprotectedPort__sumologic-docs.json",
    ),
    (
        "Instance-MalwareScan",
        "ebs__Execution-EC2.MaliciousFile__authored.json",
    ),
    (
        "Lambda",
        "lambda__Backdoor-Lambda.C-CActivity.B__authored.json",
    ),
    (
        "RDSDBInstance",
        "rds__CredentialAccess-MaliciousIPCaller.FailedLogin__stixshifter-translation.json",
    ),
    (
        "S3Bucket",
        "s3__UnauthorizedAccess-TorIPCaller__stixshifter-translation.json",
    ),
];

#[test]
fn each_resource_type_maps_to_its_committed_snapshot() {
    let findings = fixture_findings();
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut changed = Vec::new();
    for (resource_type, file) in SNAPSHOTS {
        let (_, f) = findings
            .iter()
            .find(|(n, _)| n == file)
            .unwrap_or_else(|| panic!("fixture {file}"));
        let mut record = ocsf(f, OcsfVersion::V1_1_0);
        // The raw finding is the fixture itself: the snapshot shows the mapping.
        record["unmapped"]["raw_event"] = json!("(the fixture finding)");
        let text = serde_json::to_string_pretty(&record).expect("json") + "\n";
        let path = fixtures().join(format!("ocsf/expected/{resource_type}.json"));
        if update {
            std::fs::write(&path, &text).expect("write snapshot");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            changed.push(format!("{resource_type} ({})", path.display()));
        }
    }
    assert!(
        changed.is_empty(),
        "mapping changed for {changed:?}; review and rerun with UPDATE_SNAPSHOTS=1"
    );
}

// ----------------------------------------------------------------------------- property test

/// Values a mistyped field may hold: every JSON type, huge strings, time-like strings.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-3.0e12f64..3.0e12).prop_map(Value::from),
        Just(json!(1.5)),
        "\\PC{0,24}".prop_map(Value::from),
        (0usize..3).prop_map(|i| Value::from(format!("{}é", ["x", "ü", "🚨"][i].repeat(100_000)))),
        Just(json!("2025-02-25 20:40:06.721")),
        Just(json!("2017-11-27T19:09:06.000+0000")),
        Just(json!("999.999.999.999")),
        Just(json!([1, "a", {"b": null}])),
        Just(json!([])),
        Just(json!({"a": {"b": [1, 2]}})),
        Just(json!({})),
    ]
}

/// Every JSON pointer inside a value.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            out.push(p.clone());
            pointers(x, p, out);
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
            let p = format!("{at}/{i}");
            out.push(p.clone());
            pointers(x, p, out);
        }),
        _ => {}
    }
}

/// Every value of `key` anywhere in a record but `unmapped` (which keeps the input as is).
fn find_key<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "unmapped" && k.as_str() != "data")
            .for_each(|(k, x)| {
                if k == key {
                    out.push(x);
                }
                find_key(x, key, out);
            }),
        Value::Array(a) => a.iter().for_each(|x| find_key(x, key, out)),
        _ => {}
    }
}

/// The fields normalization maps most (time, severity, type, status, account, region):
/// an edit aims at one of these half the time, so they get odd values often, not only when a
/// random pointer happens to land on them.
const NAMED: [&str; 9] = [
    "/updatedAt",
    "/createdAt",
    "/severity",
    "/type",
    "/accountId",
    "/region",
    "/service/archived",
    "/service/count",
    "/service/eventLastSeen",
];

/// Applies each edit: `(at, named, value)` puts `value` at `NAMED[at]` (added when absent)
/// when `named`, else at the `at`-th pointer inside the finding.
fn mutate(mut f: Value, edits: &[(usize, bool, Value)]) -> Value {
    for (at, named, value) in edits {
        if *named {
            let path = NAMED[at % NAMED.len()];
            let (parent, key) = path.rsplit_once('/').expect("a pointer");
            if let Some(obj) = f.pointer_mut(parent).and_then(Value::as_object_mut) {
                obj.insert(key.to_string(), value.clone());
            }
            continue;
        }
        let mut ptrs = Vec::new();
        pointers(&f, String::new(), &mut ptrs);
        if ptrs.is_empty() {
            break;
        }
        let p = &ptrs[at % ptrs.len()];
        if let Some(slot) = f.pointer_mut(p) {
            *slot = value.clone();
        }
    }
    f
}

fn cases() -> u32 {
    std::env::var("OCSF_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200)
}

fn corpus() -> &'static Vec<Value> {
    static C: OnceLock<Vec<Value>> = OnceLock::new();
    // Every finding the CLI reads has an id (intake refuses one without): none filtered out.
    C.get_or_init(|| fixture_findings().into_iter().map(|(_, f)| f).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever a finding's fields hold, its OCSF record has no schema error.
    #[test]
    fn a_mutated_finding_still_gives_a_valid_record(
        which in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), any::<bool>(), odd_value()), 1..8),
        v18 in any::<bool>(),
    ) {
        let base = &corpus()[which % corpus().len()];
        let mut f = mutate(base.clone(), &edits);
        // Keep an id so the finding is accepted (a finding without one is rejected upstream).
        if let Some(obj) = f.as_object_mut() {
            obj.entry("id").or_insert(json!("mutated"));
            if obj["id"].as_str().is_none_or(|id| id.trim().is_empty()) {
                obj.insert("id".into(), json!("mutated"));
            }
        }
        let version = if v18 { OcsfVersion::V1_8_0 } else { OcsfVersion::V1_1_0 };
        let ingest = Ingest::new(Via::Cli, None, RECEIVED_AT);
        // A finding with an id is always encoded: a refusal fails the property.
        let encoded = encode(&f.clone().into(), &ingest, OutputSchema::Ocsf(version))
            .map_err(|e| TestCaseError::fail(format!("refused a finding with an id: {e}")))?;
        {
            let record: Value = serde_json::from_str(&encoded.json).expect("record is JSON");
            let errors = schema_errors(version, &record);
            prop_assert!(errors.is_empty(), "{errors:#?}");
            prop_assert_eq!(&record["unmapped"]["raw_event"], &f);
            if f.pointer("/service/archived") == Some(&json!(true)) {
                prop_assert_eq!(&record["activity_id"], &json!(3));
            }
            let mut countries = Vec::new();
            find_key(&record, "country", &mut countries);
            for c in countries {
                let code = c.as_str().filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
                prop_assert!(code.is_some(), "country {c}");
            }
        }
    }
}
