//! The scheduled backfill keeping its state in DynamoDB (`STATE_TABLE`), through the built
//! binary in Lambda mode against the GuardDuty stand-in and the local AWS emulator: an SSM
//! checkpoint of an earlier version migrates on the first run, a detector whose lease another
//! run holds is left to it, and Lambda's retry of a scheduled event that already ran is
//! skipped (strikes count scheduled runs, not retries).

mod support;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use support::guardduty::{GuardDuty, finding, iso, now_ms};
use support::moto;
use support::process::Running;
use support::runtime_api::{Reply, RuntimeApi};

async fn start(gd: &GuardDuty, extra: &[(&str, String)]) -> (RuntimeApi, Running) {
    let mut env = moto::aws_env();
    env.push(("AWS_ENDPOINT_URL_GUARDDUTY", gd.endpoint()));
    env.push(("LOG_RECORDS", "true".into()));
    env.push(("BACKFILL_SETTLE_SECONDS", "0".into()));
    env.push(("DETECTOR_IDS", "det1".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    support::lambda::start(&env).await
}

/// A scheduled event as EventBridge sends it for the tick at `time_ms`.
fn tick(id: &str, time_ms: i64) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": moto::ACCOUNT, "time": iso(time_ms).replace(".000Z", "Z"),
        "region": "us-east-1", "resources": [], "detail": {}
    })
}

async fn invoke(api: &RuntimeApi, event: Value) -> Value {
    match api.invoke(event).await {
        Reply::Response(r) => r,
        Reply::Error(e) => panic!("backfill failed: {e}"),
    }
}

fn delivered(proc_: &Running) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in proc_.records() {
        *out.entry(r["id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    out
}

async fn item(client: &aws_sdk_dynamodb::Client, table: &str, key: &str) -> Option<Value> {
    let out = client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(key.to_string()))
        .send()
        .await
        .expect("get item");
    let item = out.item()?;
    let mut v = json!({});
    for (k, a) in item {
        v[k] = match a {
            AttributeValue::S(s) if k == "body" => serde_json::from_str(s).unwrap_or(json!(s)),
            AttributeValue::S(s) => json!(s),
            AttributeValue::N(n) => json!(n.parse::<i64>().unwrap_or_default()),
            _ => Value::Null,
        };
    }
    Some(v)
}

#[tokio::test]
async fn an_ssm_checkpoint_migrates_to_the_state_table_on_the_first_run_and_loses_no_position() {
    let gd = GuardDuty::start().await;
    let cp = now_ms() - 10 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        vec![
            finding("us-east-1", "det1", "old", cp - 60_000, false, 5.0),
            finding("us-east-1", "det1", "at-mark", cp, false, 5.0),
            finding("us-east-1", "det1", "new", cp + 60_000, false, 5.0),
        ],
    );
    let prefix = format!("/{}", moto::unique("gdf-migrate"));
    let ssm = aws_sdk_ssm::Client::new(&moto::sdk_config("us-east-1"));
    ssm.put_parameter()
        .name(format!("{prefix}/us-east-1/det1"))
        .value(format!(
            "{{\"updated_at\":\"{}\",\"ids\":[\"at-mark\"]}}",
            iso(cp)
        ))
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put checkpoint");
    let (client, table) = moto::state_table().await;
    let (api, proc_) = start(
        &gd,
        &[
            ("CHECKPOINT_PARAMETER", prefix.clone()),
            ("STATE_TABLE", table.clone()),
        ],
    )
    .await;
    let r = invoke(&api, tick("tick-1", now_ms())).await;
    assert_eq!(
        r["received"], 1,
        "only what follows the SSM checkpoint: {r}"
    );
    let got = proc_.records();
    assert!(got.iter().any(|x| x["id"] == "new"), "{got:?}");
    let state = item(&client, &table, "us-east-1/det1")
        .await
        .expect("the state is in the table now");
    assert!(
        state["body"]["updated_at"].as_str() > Some(iso(cp).as_str()),
        "{state}"
    );
    assert_eq!(
        state["body"]["tick"]
            .as_str()
            .map(|t| t.starts_with("tick-1@")),
        Some(true)
    );
    assert!(
        state.get("lease_owner").is_none_or(Value::is_null),
        "released: {state}"
    );
    let d = delivered(&proc_);
    assert!(
        !d.contains_key("old") && !d.contains_key("at-mark"),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_retried_scheduled_event_is_skipped_and_a_held_detector_is_left_to_its_run() {
    let gd = GuardDuty::start().await;
    let base = now_ms() - 5 * 60_000;
    gd.add(
        "us-east-1",
        "det1",
        vec![finding("us-east-1", "det1", "one", base, false, 5.0)],
    );
    let (client, table) = moto::state_table().await;
    let (api, proc_) = start(&gd, &[("STATE_TABLE", table.clone())]).await;
    let event = tick("tick-a", now_ms());
    let first = invoke(&api, event.clone()).await;
    assert_eq!(first["received"], 1, "{first}");
    // A finding arrives, then Lambda retries the very same event (same id and time).
    gd.add(
        "us-east-1",
        "det1",
        vec![finding(
            "us-east-1",
            "det1",
            "two",
            now_ms() - 1_000,
            false,
            5.0,
        )],
    );
    let retry = invoke(&api, event).await;
    assert_eq!(
        retry["received"], 0,
        "a retry of a tick that ran is skipped: {retry}"
    );
    // Another run holds the detector's lease (an overlapping invocation).
    client
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("us-east-1/det1".into()))
        .update_expression("SET lease_owner = :o, lease_until = :u")
        .expression_attribute_values(":o", AttributeValue::S("someone-else".into()))
        .expression_attribute_values(":u", AttributeValue::N((now_ms() + 600_000).to_string()))
        .send()
        .await
        .expect("hold the lease");
    let held = invoke(&api, tick("tick-b", now_ms())).await;
    assert_eq!(
        held["received"], 0,
        "the holder's run does the work: {held}"
    );
    let stderr = proc_.stderr().join("\n");
    assert!(stderr.contains("already ran"), "{stderr}");
    assert!(
        stderr.contains("Another run holds this detector"),
        "{stderr}"
    );
    // The lease expires: the next tick delivers what arrived.
    client
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("us-east-1/det1".into()))
        .update_expression("SET lease_until = :u")
        .expression_attribute_values(":u", AttributeValue::N((now_ms() - 1).to_string()))
        .send()
        .await
        .expect("expire the lease");
    let next = invoke(&api, tick("tick-c", now_ms())).await;
    assert_eq!(next["received"], 1, "{next}");
    let d = delivered(&proc_);
    assert_eq!(d.get("two"), Some(&1), "{d:?}");
    assert_eq!(d.get("one"), Some(&1), "{d:?}");
}
