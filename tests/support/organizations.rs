//! AWS Organizations for the account-context tests: an organization in the emulator (moto)
//! with OUs, accounts and tags made through its JSON API, and a stand-in endpoint that
//! counts the calls it receives and either passes them to the emulator or refuses them all
//! with a chosen error (moto answers everything, so it can neither deny nor say how often it
//! was asked).

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// One Organizations call to the emulator; its answer (an error answer too).
pub async fn call(operation: &str, body: Value) -> Value {
    let (_, answer) = send(&super::moto::endpoint(), operation, body.to_string()).await;
    serde_json::from_slice(&answer).unwrap_or(Value::Null)
}

/// POSTs a JSON 1.1 call to `endpoint`; status and body.
async fn send(endpoint: &str, operation: &str, body: String) -> (u16, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let request = hyper::Request::post(format!("{}/", endpoint.trim_end_matches('/')))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            format!("AWSOrganizationsV20161128.{operation}"),
        )
        // moto picks the service from the credential scope.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/organizations/aws4_request, \
             SignedHeaders=host, Signature=00",
        )
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = client.request(request).await.expect("the emulator answers");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

/// The emulator's organization (made once per test binary; moto holds one): its root's id.
pub async fn root() -> String {
    static ROOT: OnceCell<String> = OnceCell::const_new();
    ROOT.get_or_init(|| async {
        // Made by another test binary already: AlreadyInOrganizationException, and the root
        // is there.
        call("CreateOrganization", json!({"FeatureSet": "ALL"})).await;
        let roots = call("ListRoots", json!({})).await;
        roots["Roots"][0]["Id"]
            .as_str()
            .expect("the organization has a root")
            .to_string()
    })
    .await
    .clone()
}

/// A new OU under `parent`; its id.
pub async fn create_ou(parent: &str, name: &str) -> String {
    let made = call(
        "CreateOrganizationalUnit",
        json!({"ParentId": parent, "Name": name}),
    )
    .await;
    made["OrganizationalUnit"]["Id"]
        .as_str()
        .unwrap_or_else(|| panic!("no OU made: {made}"))
        .to_string()
}

/// A new account named `name` with `tags`, moved from the root into `ou`; its id.
pub async fn create_account(name: &str, ou: &str, tags: &[(&str, &str)]) -> String {
    let tags: Vec<Value> = tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    let made = call(
        "CreateAccount",
        json!({"AccountName": name, "Email": format!("{name}@example.com"), "Tags": tags}),
    )
    .await;
    let id = made["CreateAccountStatus"]["AccountId"]
        .as_str()
        .unwrap_or_else(|| panic!("no account made: {made}"))
        .to_string();
    call(
        "MoveAccount",
        json!({"AccountId": id, "SourceParentId": root().await, "DestinationParentId": ou}),
    )
    .await;
    id
}

/// What the stand-in does with a call.
#[derive(Clone)]
pub enum Answer {
    /// Passes it to the emulator.
    Emulator,
    /// Refuses it: this status and JSON 1.1 error code.
    Refuse(u16, &'static str),
}

/// An Organizations endpoint that counts the calls it gets, by operation.
pub struct Recorder {
    addr: std::net::SocketAddr,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub async fn start(answer: Answer) -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        super::serve_http(
            listener,
            move |req: hyper::Request<hyper::body::Incoming>| {
                let (seen, answer) = (seen.clone(), answer.clone());
                async move {
                    let target = req
                        .headers()
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let signed = req.headers().contains_key("authorization");
                    let body = req.into_body().collect().await.map(|b| b.to_bytes());
                    let operation = target.rsplit('.').next().unwrap_or_default().to_string();
                    seen.lock().unwrap().push(if signed {
                        operation.clone()
                    } else {
                        format!("{operation} (unsigned)")
                    });
                    let (status, answer) = match answer {
                    Answer::Emulator => {
                        let body = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
                        send(&super::moto::endpoint(), &operation, body).await
                    }
                    Answer::Refuse(status, code) => (
                        status,
                        Bytes::from(
                            json!({"__type": code, "Message": "You don't have permissions to access this resource."})
                                .to_string(),
                        ),
                    ),
                };
                    hyper::Response::builder()
                        .status(status)
                        .header("content-type", "application/x-amz-json-1.1")
                        .body(Full::new(answer))
                        .expect("response")
                }
            },
        );
        Recorder { addr, calls }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The operations called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}
