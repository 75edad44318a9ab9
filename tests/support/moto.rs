//! The local AWS emulator (moto's server), started by `scripts/test` and found through
//! `MOTO_ENDPOINT`; the binary reaches it through the SDK's standard `AWS_ENDPOINT_URL`.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

pub fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT is not set: run the tests with scripts/test, which starts moto")
}

pub const ACCOUNT: &str = "123456789012";

/// What the forwarder needs in its environment to use the emulator as AWS.
pub fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// SDK configuration for the tests' own calls to the emulator.
pub fn sdk_config(region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            Credentials::for_tests(),
        ))
        .http_client(guardduty_forwarder::aws::http_client())
        .build()
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:x}", fastrand::u64(..))
}

/// Creates a standard queue named `<prefix>-<random>` with these attributes; its URL.
pub async fn create_queue(
    prefix: &str,
    attributes: &[(aws_sdk_sqs::types::QueueAttributeName, &str)],
) -> String {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config("us-east-1"));
    let mut req = sqs.create_queue().queue_name(unique(prefix));
    for (k, v) in attributes {
        req = req.attributes(k.clone(), *v);
    }
    req.send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_string()
}

/// A new on-demand table shaped as the backfill's state store expects (partition key `pk`,
/// a string), as the template creates it, and a client for it.
pub async fn state_table() -> (aws_sdk_dynamodb::Client, String) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let client = aws_sdk_dynamodb::Client::new(&sdk_config("us-east-1"));
    let name = unique("gdf-state");
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create table");
    (client, name)
}
