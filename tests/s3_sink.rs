//! The Amazon S3 destination through the built binary, against moto's S3 (and KMS): objects
//! under `PREFIX/account=…/region=…/dt=…/`, gzip NDJSON holding exactly the records, never
//! overwritten, SSE-KMS when a key is set, and a bucket that refuses the records named.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Output, Stdio};

use serde_json::{Value, json};
use support::moto;
use support::process::command;

/// A finding of `account` in `region`, last updated on `day`.
fn finding(id: &str, account: &str, region: &str, day: &str) -> Value {
    let mut f =
        support::read_json(support::events_dir().join("guardduty-finding.json"))["detail"].clone();
    f["id"] = json!(id);
    f["accountId"] = json!(account);
    f["region"] = json!(region);
    f["updatedAt"] = json!(format!("{day}T12:34:56.789Z"));
    f
}

/// Nine findings over three partitions.
fn findings() -> Vec<Value> {
    let places = [
        ("111122223333", "us-east-1", "2026-11-30"),
        ("111122223333", "us-east-1", "2026-12-01"),
        ("444455556666", "eu-west-1", "2026-12-01"),
    ];
    (0..9)
        .map(|i| {
            let (a, r, d) = places[i % 3];
            finding(&format!("s3-{i}"), a, r, d)
        })
        .collect()
}

fn run(args: &[&str], extra: &[(&'static str, String)], input: &[Value]) -> Output {
    let mut env = moto::aws_env();
    env.extend(extra.iter().cloned());
    let mut cmd = command(&env);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    for f in input {
        writeln!(stdin, "{f}").expect("write");
    }
    drop(stdin);
    child.wait_with_output().expect("wait")
}

fn forward(bucket: &str, extra: &[(&'static str, String)], input: &[Value]) -> Output {
    let mut env = vec![
        ("S3_BUCKET", bucket.to_string()),
        ("S3_PREFIX", "archive/guardduty/".to_string()),
    ];
    env.extend(extra.iter().cloned());
    run(&["forward"], &env, input)
}

async fn new_bucket() -> (String, String) {
    moto::bucket_and_key("gdf-archive").await
}

/// Every key in the bucket.
async fn keys(bucket: &str) -> Vec<String> {
    let (status, _, body) = moto::request(
        "GET",
        &format!("/{bucket}?list-type=2"),
        "s3",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8(body).unwrap();
    text.split("<Key>")
        .skip(1)
        .map(|s| s.split("</Key>").next().unwrap().to_string())
        .collect()
}

/// An object's records, gunzipped and parsed line by line, and its headers.
async fn object(bucket: &str, key: &str) -> (Vec<Value>, http::HeaderMap) {
    let (status, headers, body) =
        moto::request("GET", &format!("/{bucket}/{key}"), "s3", &[], Vec::new()).await;
    assert_eq!(status, 200, "{key}");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .expect("gzip");
    assert!(text.ends_with('\n'), "NDJSON ends with a newline");
    let records = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect();
    (records, headers)
}

/// Ids per partition folder (the key without its prefix and file name).
async fn ids_by_folder(bucket: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys(bucket).await {
        let (records, _) = object(bucket, &key).await;
        let rest = key
            .strip_prefix("archive/guardduty/")
            .expect("under the prefix");
        let (folder, name) = rest.rsplit_once('/').unwrap();
        assert!(name.ends_with(".ndjson.gz"), "{key}");
        for r in records {
            out.entry(folder.to_string())
                .or_default()
                .push(r["id"].as_str().unwrap().to_string());
        }
    }
    out
}

#[tokio::test]
async fn each_partition_gets_one_gzip_ndjson_object_holding_exactly_its_records() {
    let (bucket, _) = new_bucket().await;
    let out = forward(&bucket, &[], &findings());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(keys(&bucket).await.len(), 3, "one object per partition");
    let got = ids_by_folder(&bucket).await;
    let want: BTreeMap<String, Vec<String>> = [
        (
            "account=111122223333/region=us-east-1/dt=2026-11-30",
            ["s3-0", "s3-3", "s3-6"],
        ),
        (
            "account=111122223333/region=us-east-1/dt=2026-12-01",
            ["s3-1", "s3-4", "s3-7"],
        ),
        (
            "account=444455556666/region=eu-west-1/dt=2026-12-01",
            ["s3-2", "s3-5", "s3-8"],
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.map(str::to_string).to_vec()))
    .collect();
    assert_eq!(got, want);
    // The lines are the records themselves, finding included.
    let key = keys(&bucket).await.remove(0);
    let (records, _) = object(&bucket, &key).await;
    assert_eq!(records[0]["source"], "aws_guardduty");
    assert_eq!(records[0]["raw_event"]["id"], records[0]["id"]);
}

#[tokio::test]
async fn a_second_delivery_of_the_same_findings_writes_new_objects_and_overwrites_none() {
    let (bucket, _) = new_bucket().await;
    let input = findings();
    for _ in 0..2 {
        let out = forward(&bucket, &[], &input);
        assert_eq!(out.status.code(), Some(0));
    }
    let keys = keys(&bucket).await;
    assert_eq!(keys.len(), 6, "{keys:?}");
    let got = ids_by_folder(&bucket).await;
    assert!(
        got.values().all(|ids| ids.len() == 6),
        "every record twice, none lost: {got:?}"
    );
}

#[tokio::test]
async fn objects_are_encrypted_with_the_configured_kms_key() {
    let (bucket, key_id) = new_bucket().await;
    let out = forward(
        &bucket,
        &[("S3_KMS_KEY_ID", key_id.clone())],
        &findings()[..1],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = keys(&bucket).await.remove(0);
    let (_, headers) = object(&bucket, &key).await;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("x-amz-server-side-encryption"), Some("aws:kms"));
    assert!(
        header("x-amz-server-side-encryption-aws-kms-key-id").is_some_and(|k| k.contains(&key_id)),
        "{headers:?}"
    );
}

#[tokio::test]
async fn a_bucket_that_refuses_the_records_fails_them_naming_the_bucket_and_s3s_answer() {
    let bucket = moto::unique("gdf-missing");
    let out = forward(&bucket, &[], &findings()[..2]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");
    assert!(stderr.contains(&bucket), "{stderr}");
    assert!(
        stderr.contains("s3-0") && stderr.contains("s3-1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Retrying delivery"),
        "a missing bucket is not retried: {stderr}"
    );
}

/// `check`'s line about the S3 destination.
fn s3_line(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with("✔ s3:") || l.starts_with("✘ s3:"))
        .unwrap_or_else(|| panic!("an s3 line: {stdout}"))
        .to_string()
}

#[tokio::test]
async fn check_says_whether_the_bucket_takes_objects_and_writes_nothing_there() {
    let (bucket, _) = new_bucket().await;
    let out = run(&["check"], &[("S3_BUCKET", bucket.clone())], &[]);
    let line = s3_line(&out);
    assert!(
        line.starts_with("✔ s3:") && line.contains(&bucket),
        "{line}"
    );
    assert!(
        keys(&bucket)
            .await
            .iter()
            .all(|k| k.contains("/_guardduty-forwarder-check/")
                || k.starts_with("_guardduty-forwarder-check/")),
        "a probe, if written at all, is out of the tables' partitions"
    );
    let missing = moto::unique("gdf-missing");
    let out = run(&["check"], &[("S3_BUCKET", missing.clone())], &[]);
    let line = s3_line(&out);
    assert!(line.starts_with("✘ s3:"), "{line}");
    assert!(
        line.contains("NoSuchBucket") && line.contains(&missing),
        "{line}"
    );
    assert_ne!(out.status.code(), Some(0));
}
