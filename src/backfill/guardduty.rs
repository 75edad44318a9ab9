//! Reading GuardDuty: the backfill's AWS clients (GuardDuty per region, with the assumed
//! role's credentials; SSM for checkpoints; DynamoDB for the state table; SQS for the
//! dead-letter queue), built once per
//! process; ListFindings pages and GetFindings batches, each within a [`Budget`]. The raw
//! JSON of each finding is read from the GetFindings response body itself (the SDK's typed
//! model would lose fields it does not know), so `raw_event` is the API's own JSON; the body
//! lives no longer than its page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_guardduty::types::{Condition, FindingCriteria, OrderBy, SortCriteria};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::BackfillError;
use super::budget::{Budget, MAX_ATTEMPTS};
use super::cursor::Query;
use crate::aws::Aws;
use crate::config::BackfillConfig;

/// GuardDuty's page and batch limit.
pub const PAGE: usize = 50;

/// The backfill's AWS clients, kept for the life of the process so the assumed role's
/// credentials and the connections serve every scheduled run.
pub struct Reader {
    aws: Arc<Aws>,
    role_arn: Option<String>,
    external_id: Option<String>,
    role: OnceCell<Option<SharedCredentialsProvider>>,
    clients: tokio::sync::Mutex<HashMap<String, aws_sdk_guardduty::Client>>,
    ssm: OnceCell<aws_sdk_ssm::Client>,
    dynamodb: OnceCell<aws_sdk_dynamodb::Client>,
    sqs: OnceCell<aws_sdk_sqs::Client>,
}

impl Reader {
    pub fn new(aws: Arc<Aws>, config: &BackfillConfig) -> Reader {
        Reader {
            aws,
            role_arn: config.assume_role_arn.clone(),
            external_id: config.assume_role_external_id.clone(),
            role: OnceCell::new(),
            clients: Default::default(),
            ssm: OnceCell::new(),
            dynamodb: OnceCell::new(),
            sqs: OnceCell::new(),
        }
    }

    /// The function's own region, if the SDK knows one.
    pub async fn default_region(&self) -> Option<String> {
        self.aws.config().await.region().map(|r| r.to_string())
    }

    async fn credentials(&self) -> Option<SharedCredentialsProvider> {
        self.role
            .get_or_init(|| async {
                let arn = self.role_arn.as_ref()?;
                let base = self.aws.config().await;
                let mut b = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
                    .session_name("guardduty-forwarder")
                    .configure(base);
                if let Some(id) = &self.external_id {
                    b = b.external_id(id.clone());
                }
                // The provider caches the credentials and refreshes them before they expire.
                Some(SharedCredentialsProvider::new(b.build().await))
            })
            .await
            .clone()
    }

    /// The SSM client of the function's own region (checkpoints).
    pub async fn ssm(&self) -> &aws_sdk_ssm::Client {
        self.ssm
            .get_or_init(|| async { aws_sdk_ssm::Client::new(self.aws.config().await) })
            .await
    }

    /// The DynamoDB client of the function's own region (the state table, `STATE_TABLE`).
    pub async fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb
            .get_or_init(|| async { aws_sdk_dynamodb::Client::new(self.aws.config().await) })
            .await
    }

    /// The SQS client of the function's own region (the dead-letter queue).
    pub async fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| async { aws_sdk_sqs::Client::new(self.aws.config().await) })
            .await
    }

    /// A GuardDuty client for `region`, built once per region.
    /// An SQS client in the queue's own region (from its URL), else the default one.
    pub async fn sqs_for(&self, queue_url: &str) -> aws_sdk_sqs::Client {
        match crate::aws::region_of_queue_url(queue_url) {
            Some(region) => aws_sdk_sqs::Client::new(&self.aws.config_for(region).await),
            None => self.sqs().await.clone(),
        }
    }

    pub async fn client(&self, region: &str) -> aws_sdk_guardduty::Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(region) {
            return c.clone();
        }
        let config = self.aws.config_for(region).await;
        let mut b = aws_sdk_guardduty::config::Builder::from(&config).retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200)),
        );
        if let Some(creds) = self.credentials().await {
            b = b.credentials_provider(creds);
        }
        let client = aws_sdk_guardduty::Client::from_conf(b.build());
        clients.insert(region.to_string(), client.clone());
        client
    }
}

/// Lists the detectors of one region.
pub async fn detectors(
    client: &aws_sdk_guardduty::Client,
    region: &str,
    budget: &Budget,
) -> Result<Vec<String>, BackfillError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_detectors()
            .set_next_token(token.take())
            .customize()
            .config_override(budget.guardduty())
            .send()
            .await
            .map_err(|e| BackfillError::ListDetectors {
                region: region.to_string(),
                detail: crate::aws_error::explain("guardduty:ListDetectors", Some(region), &e),
            })?;
        out.extend(page.detector_ids().iter().cloned());
        match page.next_token().filter(|t| !t.is_empty()) {
            Some(t) if Some(t) != token.as_deref() && out.len() < 10_000 => {
                token = Some(t.to_string())
            }
            _ => return Ok(out),
        }
    }
}

/// One ListFindings page for `query`, `updatedAt` ascending: ids and the `nextToken`. With a
/// `min_severity` above 0 (`RULE_MIN_SEVERITY`, the EventBridge rule's floor) only findings
/// of at least that severity are listed, as the rule only matches those.
pub async fn list_page(
    client: &aws_sdk_guardduty::Client,
    detector: &str,
    query: &Query,
    include_archived: bool,
    min_severity: u8,
    budget: &Budget,
) -> Result<(Vec<String>, Option<String>), BackfillError> {
    let mut criterion = HashMap::new();
    criterion.insert(
        "updatedAt".to_string(),
        Condition::builder()
            .greater_than_or_equal(query.from)
            .less_than(query.upper)
            .build(),
    );
    if !include_archived {
        criterion.insert(
            "service.archived".to_string(),
            Condition::builder().equals("false").build(),
        );
    }
    if min_severity > 0 {
        criterion.insert(
            "severity".to_string(),
            Condition::builder()
                .greater_than_or_equal(i64::from(min_severity))
                .build(),
        );
    }
    let page = client
        .list_findings()
        .detector_id(detector)
        .finding_criteria(
            FindingCriteria::builder()
                .set_criterion(Some(criterion))
                .build(),
        )
        .sort_criteria(
            SortCriteria::builder()
                .attribute_name("updatedAt")
                .order_by(OrderBy::Asc)
                .build(),
        )
        .max_results(PAGE as i32)
        .set_next_token(query.token.clone())
        .customize()
        .config_override(budget.guardduty())
        .send()
        .await
        .map_err(|e| BackfillError::ListFindings {
            detector: detector.to_string(),
            detail: crate::aws_error::explain("guardduty:ListFindings", Some(detector), &e),
        })?;
    let token = page
        .next_token()
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    Ok((page.finding_ids().to_vec(), token))
}

/// Captures the raw GetFindings response body.
#[derive(Debug, Clone, Default)]
struct RawBody(Arc<Mutex<Option<bytes::Bytes>>>);

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "RawGetFindingsBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        if response.status().is_success()
            && let Some(b) = response.body().bytes()
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(bytes::Bytes::copy_from_slice(b));
        }
        Ok(())
    }
}

/// GetFindings for `ids` (at most [`PAGE`]), as raw JSON values in the API's order.
pub async fn get_findings(
    client: &aws_sdk_guardduty::Client,
    detector: &str,
    ids: &[String],
    budget: &Budget,
) -> Result<Vec<Value>, BackfillError> {
    let raw = RawBody::default();
    let sent = client
        .get_findings()
        .detector_id(detector)
        .set_finding_ids(Some(ids.to_vec()))
        .customize()
        .interceptor(raw.clone())
        .config_override(budget.guardduty())
        .send()
        .await;
    let body = raw.0.lock().ok().and_then(|mut b| b.take());
    let problem = |problem: &'static str| BackfillError::GetFindingsBody {
        detector: detector.to_string(),
        problem,
    };
    // A 2xx body is all we need: the SDK's typed model failing on a member it does not
    // expect must not stop the findings (we forward the raw JSON anyway).
    let body = match (sent, body) {
        (_, Some(body)) => body,
        (Ok(_), None) => return Err(problem("no response body")),
        (Err(e), None) => {
            return Err(BackfillError::GetFindings {
                detector: detector.to_string(),
                detail: crate::aws_error::explain("guardduty:GetFindings", Some(detector), &e),
            });
        }
    };
    let mut doc: Value =
        serde_json::from_slice(&body).map_err(|_| problem("the body is not JSON"))?;
    drop(body);
    match doc.get_mut("findings").map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(problem("the body has no findings array")),
    }
}

/// The id of a fetched finding.
pub fn finding_id(finding: &Value) -> Option<&str> {
    finding.get("id").and_then(Value::as_str)
}

/// GetFindings for `ids`, checked against the ids asked for: the ones missing are asked for
/// once more; those still missing are returned apart.
pub async fn fetch_checked(
    client: &aws_sdk_guardduty::Client,
    detector: &str,
    ids: &[String],
    budget: &Budget,
) -> Result<(Vec<Value>, Vec<String>), BackfillError> {
    let mut found = get_findings(client, detector, ids, budget).await?;
    let missing = |found: &[Value]| -> Vec<String> {
        ids.iter()
            .filter(|id| !found.iter().any(|f| finding_id(f) == Some(id.as_str())))
            .cloned()
            .collect()
    };
    let first_missing = missing(&found);
    if first_missing.is_empty() {
        return Ok((found, Vec::new()));
    }
    tracing::warn!(
        message = "GetFindings did not return every id asked for; asking again.",
        detector,
        missing = first_missing.len()
    );
    found.extend(get_findings(client, detector, &first_missing, budget).await?);
    let still = missing(&found);
    Ok((found, still))
}
