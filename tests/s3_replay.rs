//! `forward s3://…` and `replay --from s3://…` against moto's S3, with objects laid out as
//! GuardDuty's export writes them: gzip JSON Lines of bare findings, SSE-KMS with a moto KMS
//! key, under `AWSLogs/<account>/GuardDuty/<region>/<yyyy>/<mm>/<dd>/<uuid>.jsonl.gz`.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::{Value, json};
use support::process::command;

const ACCOUNT: &str = "111122223333";

use support::moto::request as moto;

/// A new bucket and a KMS key for it.
async fn bucket_and_key() -> (String, String) {
    support::moto::bucket_and_key("gdf-export").await
}

/// Puts `body` at `key`, encrypted with the KMS key, and checks S3 says so.
async fn put(bucket: &str, kms_key: &str, key: &str, body: Vec<u8>) {
    let path = format!("/{bucket}/{key}");
    let sse = [
        ("x-amz-server-side-encryption", "aws:kms"),
        ("x-amz-server-side-encryption-aws-kms-key-id", kms_key),
    ];
    let (status, _, answer) = moto("PUT", &path, "s3", &sse, body).await;
    assert_eq!(
        status,
        200,
        "put {key}: {}",
        String::from_utf8_lossy(&answer)
    );
    let (_, headers, _) = moto("HEAD", &path, "s3", &[], Vec::new()).await;
    assert_eq!(
        headers
            .get("x-amz-server-side-encryption")
            .and_then(|v| v.to_str().ok()),
        Some("aws:kms"),
        "{key} is SSE-KMS"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Real findings from the corpus, to copy with new ids.
fn corpus_findings() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let found = match &doc {
            Value::Object(o) if o.get("detail-type") == Some(&json!("GuardDuty Finding")) => {
                vec![o["detail"].clone()]
            }
            Value::Object(o) if o.contains_key("schemaVersion") => vec![doc.clone()],
            _ => vec![],
        };
        out.extend(found.into_iter().filter(|f| f.get("id").is_some()));
    }
    assert!(out.len() >= 3, "the corpus has findings");
    out
}

/// The export's JSON Lines of `ids` (bare findings, one per line), and the ids.
fn export_lines(ids: &[String]) -> Vec<u8> {
    let corpus = corpus_findings();
    let mut text = String::new();
    for (i, id) in ids.iter().enumerate() {
        let mut finding = corpus[i % corpus.len()].clone();
        finding["id"] = json!(id);
        text.push_str(&serde_json::to_string(&finding).unwrap());
        text.push('\n');
    }
    text.into_bytes()
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn run(args: &[&str]) -> Output {
    let mut env = support::moto::aws_env();
    env.push(("LOG_LEVEL", "debug".into()));
    let mut cmd = command(&env);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.output().expect("run")
}

fn record_ids(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).expect("record");
            r["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn export_key(account: &str, region: &str, day: &str, name: &str) -> String {
    format!("AWSLogs/{account}/GuardDuty/{region}/{day}/{name}.jsonl.gz")
}

#[tokio::test]
async fn the_export_is_read_from_s3_in_key_order_through_sse_kms() {
    let (bucket, kms) = bucket_and_key().await;
    let days = ["2026/03/02", "2026/03/01", "2026/02/28"];
    let mut expected = Vec::new();
    for day in days.iter().rev() {
        let members = ids(&format!("f-{}", day.replace('/', "")), 3);
        // Two gzip members in one object, as `cat a.gz b.gz` makes them.
        let mut body = gzip(&export_lines(&members[..1]));
        body.extend(gzip(&export_lines(&members[1..])));
        let key = export_key(ACCOUNT, "us-east-1", day, "5f1a-uuid");
        expected.extend(members);
        put(&bucket, &kms, &key, body).await;
    }
    // Put in another order than the keys sort: the records follow the keys.
    let out = run(&["forward", &format!("s3://{bucket}/AWSLogs/")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(record_ids(&out), expected);
    assert!(
        stderr.contains("forward ok: 9 received, 9 forwarded"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_truncated_member_and_a_broken_object_are_named_and_the_rest_of_the_prefix_is_read() {
    let (bucket, kms) = bucket_and_key().await;
    let day = |d: &str| export_key(ACCOUNT, "eu-west-1", d, "obj");
    let whole = gzip(&export_lines(&ids("truncated", 200)));
    let objects: Vec<(String, Vec<u8>)> = vec![
        (day("2026/05/01"), gzip(&export_lines(&ids("a", 2)))),
        (day("2026/05/02"), whole[..whole.len() / 2].to_vec()),
        (day("2026/05/03"), b"this is not gzip, nor JSON\n".to_vec()),
        // Not gzip, but findings all the same: read as plain JSON Lines.
        (day("2026/05/04"), export_lines(&ids("plain", 2))),
        (day("2026/05/05"), gzip(&export_lines(&ids("b", 2)))),
    ];
    for (key, body) in &objects {
        put(&bucket, &kms, key, body.clone()).await;
    }
    let out = run(&["forward", &format!("s3://{bucket}/AWSLogs/{ACCOUNT}/")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let got = record_ids(&out);
    let kept: Vec<&String> = got
        .iter()
        .filter(|id| !id.starts_with("truncated"))
        .collect();
    assert_eq!(kept, ["a-0", "a-1", "plain-0", "plain-1", "b-0", "b-1"]);
    // What came before the cut is delivered, in order, and nothing after it.
    let truncated: Vec<String> = got
        .into_iter()
        .filter(|id| id.starts_with("truncated"))
        .collect();
    assert!(
        !truncated.is_empty() && truncated.len() < 200,
        "{}",
        truncated.len()
    );
    assert_eq!(truncated, ids("truncated", truncated.len()));
    let cut = stderr
        .lines()
        .find(|l| {
            l.contains("Cannot read input.")
                && l.contains(&format!("s3://{bucket}/{}", day("2026/05/02")))
        })
        .unwrap_or_else(|| panic!("the truncated object is named: {stderr}"));
    assert!(
        cut.contains("truncated") && cut.contains("compressed byte"),
        "{cut}"
    );
    assert!(
        stderr.contains(&format!("s3://{bucket}/{}", day("2026/05/03"))),
        "the broken object is named: {stderr}"
    );
    assert!(stderr.contains("forward FAILED"), "{stderr}");
}

#[tokio::test]
async fn replay_from_s3_reads_only_the_partitions_of_its_window() {
    let (bucket, kms) = bucket_and_key().await;
    let prefix = "exports/gd";
    let mut inside = Vec::new();
    for (account, region) in [
        (ACCOUNT, "us-east-1"),
        (ACCOUNT, "eu-west-1"),
        ("444455556666", "us-east-1"),
    ] {
        for d in [
            "2026/02/27",
            "2026/02/28",
            "2026/03/01",
            "2026/03/02",
            "2026/03/03",
            "2026/04/01",
        ] {
            let key = format!("{prefix}/{}", export_key(account, region, d, "x"));
            let in_window = d == "2026/03/01" || d == "2026/03/02";
            // Outside the window, objects that fail if read at all.
            let body = if in_window {
                let id = format!("{account}-{region}-{}", d.replace('/', ""));
                let body = gzip(&export_lines(std::slice::from_ref(&id)));
                inside.push((key.clone(), id));
                body
            } else {
                b"outside the window: never read".to_vec()
            };
            put(&bucket, &kms, &key, body).await;
        }
    }
    // Another service's logs beside GuardDuty's, never walked into.
    let other = format!("{prefix}/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/03/01/x.json.gz");
    put(&bucket, &kms, &other, b"not read".to_vec()).await;
    inside.sort();
    let out = run(&[
        "replay",
        "--from",
        &format!("s3://{bucket}/{prefix}"),
        "--since",
        "2026-03-01T05:00:00Z",
        "--until",
        "2026-03-03T00:00:00Z",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let expected: Vec<String> = inside.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(record_ids(&out), expected);
    let read: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Reading S3 object."))
        .collect();
    assert_eq!(read.len(), inside.len(), "{stderr}");
    for (key, _) in &inside {
        assert!(
            read.iter().any(|l| l.contains(key.as_str())),
            "{key}: {stderr}"
        );
    }
    assert!(stderr.contains("replay ok: 6 received"), "{stderr}");
}

#[test]
fn replay_from_refuses_what_is_not_an_s3_url_and_gzip_files_are_read_from_disk() {
    let out = run(&["replay", "--from", "/tmp/export", "--since", "7d"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an S3 URL"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export-without-a-gz-name");
    std::fs::write(&path, gzip(&export_lines(&ids("disk", 3)))).unwrap();
    let out = run(&["forward", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(record_ids(&out), ids("disk", 3));
}
