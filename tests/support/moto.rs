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

/// Every message the queue holds now, each deleted once read (two empty answers in a row
/// end the read).
pub async fn drain(queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config("us-east-1"));
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        let msgs = got.messages().to_vec();
        if msgs.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        for m in &msgs {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
        out.extend(msgs);
    }
    out
}

/// The bodies of every message the queue holds now, as JSON (each deleted once read).
pub async fn drain_bodies(queue_url: &str) -> Vec<serde_json::Value> {
    drain(queue_url)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or_default()).expect("a JSON body"))
        .collect()
}

/// A proxy in front of the emulator that refuses the operation named `refuse` (its
/// `X-Amz-Target`, e.g. `AmazonSSM.PutParameter`) with a 500 `InternalFailure`, as AWS does on
/// a bad day, and passes every other request through: for a test that needs one call to fail
/// while the rest of the service works. Its endpoint URL.
pub async fn refusing_proxy(refuse: &'static str) -> String {
    use http_body_util::{BodyExt, Full};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let addr = listener.local_addr().expect("addr");
    let upstream = endpoint();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    super::serve_http(
        listener,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let (client, upstream) = (client.clone(), upstream.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let target = parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok());
                if target == Some(refuse) {
                    let mut r = hyper::Response::new(Full::new(bytes::Bytes::from(
                        r#"{"__type":"InternalFailure","message":"injected failure"}"#,
                    )));
                    *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                    r.headers_mut().insert(
                        "x-amzn-errortype",
                        "InternalFailure".parse().expect("header"),
                    );
                    return r;
                }
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut out = hyper::Request::builder()
                    .method(parts.method)
                    .uri(format!("{upstream}{path}"));
                for (k, v) in &parts.headers {
                    out = out.header(k, v);
                }
                let answer = client
                    .request(out.body(Full::new(body)).expect("request"))
                    .await
                    .expect("the emulator answers");
                let (parts, body) = answer.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                hyper::Response::from_parts(parts, Full::new(body))
            }
        },
    );
    format!("http://{addr}")
}

/// A request to the emulator signed only in form: moto reads the service and region from the
/// `Authorization` header's scope and checks no signature.
async fn call(
    method: &str,
    path: &str,
    service: &str,
    content_type: &str,
    body: String,
) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", endpoint()))
        .header("content-type", content_type)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/{service}/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("request");
    let response = client.request(request).await.expect("the emulator answers");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).to_string())
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates a Lambda function `name` (an IAM role for it first) with these environment
/// variables (none when empty); its ARN and its role's. Nothing is ever invoked, so the code
/// is an empty zip.
pub async fn create_function(name: &str, variables: &[(&str, String)]) -> (String, String) {
    let role = format!("{name}-role");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let form = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={}&AssumeRolePolicyDocument={}",
        form_encode(&role),
        form_encode(trust)
    );
    let (status, body) = call(
        "POST",
        "/",
        "iam",
        "application/x-www-form-urlencoded",
        form,
    )
    .await;
    assert_eq!(status, 200, "CreateRole: {body}");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
    let mut function = serde_json::json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Role": role_arn,
        "Handler": "bootstrap",
        "Architectures": ["arm64"],
        "MemorySize": 128,
        "Timeout": 60,
        // The 22 bytes of an empty zip archive.
        "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
    });
    if !variables.is_empty() {
        let vars: serde_json::Map<String, serde_json::Value> = variables
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
            .collect();
        function["Environment"] = serde_json::json!({ "Variables": vars });
    }
    let (status, body) = call(
        "POST",
        "/2015-03-31/functions",
        "lambda",
        "application/json",
        function.to_string(),
    )
    .await;
    assert_eq!(status, 201, "CreateFunction: {body}");
    let arn = serde_json::from_str::<serde_json::Value>(&body).expect("json")["FunctionArn"]
        .as_str()
        .expect("FunctionArn")
        .to_string();
    (arn, role_arn)
}

/// A request to moto, routed to `service` by the (unchecked) signature's scope.
pub async fn request(
    method: &str,
    path: &str,
    service: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", endpoint()))
        .header("authorization", auth);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(
            req.body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .unwrap(),
        )
        .await
        .expect("moto answers");
    let (parts, body) = resp.into_parts();
    let body = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (parts.status.as_u16(), parts.headers, body)
}

/// A new bucket named `<prefix>-<random>` and a moto KMS key.
pub async fn bucket_and_key(prefix: &str) -> (String, String) {
    let bucket = unique(prefix);
    let (status, _, _) = request("PUT", &format!("/{bucket}"), "s3", &[], Vec::new()).await;
    assert_eq!(status, 200, "create bucket");
    let (status, _, body) = request(
        "POST",
        "/",
        "kms",
        &[
            ("x-amz-target", "TrentService.CreateKey"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        status,
        200,
        "create key: {}",
        String::from_utf8_lossy(&body)
    );
    let key: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_string();
    (bucket, key_id)
}
