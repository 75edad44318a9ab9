//! AWS Organizations, read for account context: `DescribeAccount` (name, organization id),
//! `ListTagsForResource` (tags), `ListParents` and `DescribeOrganizationalUnit` walked up to
//! the root (the OU path). A JSON 1.1 API (`X-Amz-Target: AWSOrganizationsV20161128.<op>`)
//! with one endpoint per partition, called as `check --function` calls Lambda: signed with
//! SigV4 by `aws-sigv4` ([`crate::aws::signed_request`]) over the collector's HTTP client,
//! rather than through `aws-sdk-organizations`, a whole SDK crate for four read-only calls.
//!
//! Endpoint: `AWS_ENDPOINT_URL_ORGANIZATIONS`, the profile's `organizations` `endpoint_url`,
//! `AWS_ENDPOINT_URL`, else the partition's (`organizations.us-east-1.amazonaws.com`,
//! `organizations.us-gov-west-1.amazonaws.com`, `organizations.cn-northwest-1.amazonaws.com.cn`),
//! the partition being the function's region's.
//!
//! Invariants (unit-tested below): an answer of any shape gives a value or an
//! [`OrgError`], never a panic; an answer that cannot be read is named by its position, not
//! its text; no call outlives the instant the caller gives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::normalize::AccountContext;
use crate::sink::transport::{HttpClient, ResponseBody, read_bounded};

/// The longest one attempt may take, and how many attempts a call gets.
const ATTEMPT: Duration = Duration::from_secs(2);
const ATTEMPTS: u32 = 2;
/// No answer is read past this.
const MAX_ANSWER: usize = 256 * 1024;
/// OUs nest at most five deep under the root; a walk longer than this is not believed.
const MAX_DEPTH: usize = 8;
/// Tag pages read per account (ListTagsForResource gives up to 50 tags a page).
const MAX_TAG_PAGES: usize = 5;

/// Why AWS Organizations could not say what it knows of an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    #[error(
        "organizations:{operation}: access denied ({message}); the function's role may read \
         AWS Organizations only in the management account or a delegated administrator, with \
         organizations:DescribeAccount, ListParents, DescribeOrganizationalUnit and \
         ListTagsForResource"
    )]
    Denied {
        operation: &'static str,
        message: String,
    },
    #[error("organizations:{operation}: this account is not in an organization ({message})")]
    NotInUse {
        operation: &'static str,
        message: String,
    },
    #[error("organizations:{operation}: not in the organization ({message})")]
    NotFound {
        operation: &'static str,
        message: String,
    },
    #[error("organizations: no AWS credentials ({why})")]
    Credentials { why: String },
    #[error("organizations:{operation}: cannot reach {endpoint} ({why})")]
    Unreachable {
        operation: &'static str,
        endpoint: String,
        why: String,
    },
    #[error("organizations:{operation} failed: {code}: {message}")]
    Service {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("organizations:{operation}: the answer could not be read ({why})")]
    Unreadable {
        operation: &'static str,
        why: String,
    },
    #[error("organizations: no time left for the lookup")]
    OutOfTime,
}

impl OrgError {
    /// Whether asking again within the cache's time-to-live cannot help: the role may not
    /// read Organizations, or there is no organization.
    pub fn is_lasting(&self) -> bool {
        matches!(self, OrgError::Denied { .. } | OrgError::NotInUse { .. })
    }
}

/// A parent in the organization's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Parent {
    Root,
    Unit(String),
}

/// OU names and parents, kept as long as account context is.
#[derive(Debug, Default)]
pub struct OuCache {
    names: Mutex<HashMap<String, (String, Instant)>>,
    parents: Mutex<HashMap<String, (Parent, Instant)>>,
}

impl OuCache {
    fn name(&self, ou: &str) -> Option<String> {
        let now = Instant::now();
        let names = self.names.lock().ok()?;
        names
            .get(ou)
            .filter(|(_, until)| *until > now)
            .map(|(n, _)| n.clone())
    }

    fn parent(&self, ou: &str) -> Option<Parent> {
        let now = Instant::now();
        let parents = self.parents.lock().ok()?;
        parents
            .get(ou)
            .filter(|(_, until)| *until > now)
            .map(|(p, _)| p.clone())
    }

    fn keep_name(&self, ou: &str, name: &str, until: Instant) {
        if let Ok(mut names) = self.names.lock() {
            names.insert(ou.to_string(), (name.to_string(), until));
        }
    }

    fn keep_parent(&self, ou: &str, parent: &Parent, until: Instant) {
        if let Ok(mut parents) = self.parents.lock() {
            parents.insert(ou.to_string(), (parent.clone(), until));
        }
    }
}

/// A client for the four calls.
pub struct Organizations {
    client: HttpClient,
    endpoint: String,
    region: String,
    credentials: SharedCredentialsProvider,
}

impl Organizations {
    /// A client in the partition of `config`'s region, at the configured endpoint if any.
    pub fn new(config: &aws_config::SdkConfig) -> Result<Organizations, OrgError> {
        let region = config.region().map_or("us-east-1", |r| r.as_ref());
        let (home, suffix) = if region.starts_with("cn-") {
            ("cn-northwest-1", "amazonaws.com.cn")
        } else if region.starts_with("us-gov-") {
            ("us-gov-west-1", "amazonaws.com")
        } else {
            ("us-east-1", "amazonaws.com")
        };
        let endpoint = crate::aws::configured_endpoint(config, "Organizations")
            .unwrap_or_else(|| format!("https://organizations.{home}.{suffix}"));
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| OrgError::Credentials {
                why: crate::aws_error::credential_chain(),
            })?;
        let client =
            crate::sink::transport::build_client(&[], true).map_err(|e| OrgError::Unreachable {
                operation: "DescribeAccount",
                endpoint: endpoint.clone(),
                why: e.to_string(),
            })?;
        Ok(Organizations {
            client,
            endpoint: format!("{}/", endpoint.trim_end_matches('/')),
            region: home.to_string(),
            credentials,
        })
    }

    /// What the organization knows of `account`: its name, organization id, tags and OU
    /// path. OU names and parents are kept in `ous` until `keep_until`.
    pub async fn account(
        &self,
        account: &str,
        ous: &OuCache,
        keep_until: Instant,
        stop: Instant,
    ) -> Result<AccountContext, OrgError> {
        let described: DescribeAccount = self
            .call(
                "DescribeAccount",
                serde_json::json!({"AccountId": account}),
                stop,
            )
            .await?;
        let tags = self.tags(account, stop).await?;
        let (ou_id, ou_path) = self.ou_path(account, ous, keep_until, stop).await?;
        let org_id = described
            .account
            .arn
            .as_deref()
            .and_then(organization_of_arn)
            .map(str::to_string);
        Ok(AccountContext {
            name: described.account.name.filter(|n| !n.is_empty()),
            ou_path: Some(ou_path),
            ou_id,
            org_id,
            tags,
        })
    }

    async fn tags(
        &self,
        account: &str,
        stop: Instant,
    ) -> Result<BTreeMap<String, String>, OrgError> {
        let mut tags = BTreeMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_TAG_PAGES {
            let mut body = serde_json::json!({"ResourceId": account});
            if let Some(t) = &token {
                body["NextToken"] = serde_json::Value::String(t.clone());
            }
            let page: ListTags = self.call("ListTagsForResource", body, stop).await?;
            tags.extend(page.tags.into_iter().map(|t| (t.key, t.value)));
            token = page.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        Ok(tags)
    }

    /// The id of the OU the account sits in (`None` under the root) and the path of OU
    /// names from the root down, `Root/…`.
    async fn ou_path(
        &self,
        account: &str,
        ous: &OuCache,
        keep_until: Instant,
        stop: Instant,
    ) -> Result<(Option<String>, String), OrgError> {
        let mut names: Vec<String> = Vec::new();
        let mut first: Option<String> = None;
        let mut parent = self.parent(account, stop).await?;
        for _ in 0..MAX_DEPTH {
            let ou = match parent {
                Parent::Root => {
                    names.push("Root".to_string());
                    names.reverse();
                    return Ok((first, names.join("/")));
                }
                Parent::Unit(ou) => ou,
            };
            first.get_or_insert_with(|| ou.clone());
            let name = match ous.name(&ou) {
                Some(n) => n,
                None => {
                    let d: DescribeOu = self
                        .call(
                            "DescribeOrganizationalUnit",
                            serde_json::json!({"OrganizationalUnitId": ou}),
                            stop,
                        )
                        .await?;
                    let name = d.organizational_unit.name.unwrap_or_else(|| ou.clone());
                    ous.keep_name(&ou, &name, keep_until);
                    name
                }
            };
            names.push(name);
            parent = match ous.parent(&ou) {
                Some(p) => p,
                None => {
                    let p = self.parent(&ou, stop).await?;
                    ous.keep_parent(&ou, &p, keep_until);
                    p
                }
            };
        }
        Err(OrgError::Unreadable {
            operation: "ListParents",
            why: format!("no root within {MAX_DEPTH} levels above {account}"),
        })
    }

    async fn parent(&self, child: &str, stop: Instant) -> Result<Parent, OrgError> {
        let answer: ListParents = self
            .call("ListParents", serde_json::json!({"ChildId": child}), stop)
            .await?;
        let Some(first) = answer.parents.into_iter().next() else {
            return Err(OrgError::Unreadable {
                operation: "ListParents",
                why: format!("no parent listed for {child}"),
            });
        };
        match first.kind.as_deref() {
            Some("ROOT") => Ok(Parent::Root),
            Some("ORGANIZATIONAL_UNIT") => Ok(Parent::Unit(first.id)),
            other => Err(OrgError::Unreadable {
                operation: "ListParents",
                why: format!("a parent of type {:?}", other.unwrap_or("(none)")),
            }),
        }
    }

    /// One call: up to [`ATTEMPTS`] attempts, again only after a connection failure,
    /// throttling or a server error, none past `stop`.
    async fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        body: serde_json::Value,
        stop: Instant,
    ) -> Result<T, OrgError> {
        let body = bytes::Bytes::from(body.to_string());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = stop.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(50) {
                return Err(OrgError::OutOfTime);
            }
            let outcome = self
                .attempt(operation, body.clone(), left.min(ATTEMPT))
                .await;
            let retry = match &outcome {
                Ok((status, answer)) => {
                    *status == 429
                        || *status >= 500
                        || error_code(answer).is_some_and(|c| c == "TooManyRequestsException")
                }
                Err(OrgError::Unreachable { .. }) => true,
                Err(_) => false,
            };
            if retry && attempt < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                continue;
            }
            let (status, answer) = outcome?;
            if status != 200 {
                return Err(refusal(operation, status, &answer));
            }
            return serde_json::from_slice(&answer).map_err(|e| OrgError::Unreadable {
                operation,
                why: format!(
                    "{:?} at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            });
        }
    }

    async fn attempt(
        &self,
        operation: &'static str,
        body: bytes::Bytes,
        timeout: Duration,
    ) -> Result<(u16, bytes::Bytes), OrgError> {
        let unreachable = |why: String| OrgError::Unreachable {
            operation,
            endpoint: crate::sink::redact::RedactedUrl::new(&self.endpoint).to_string(),
            why,
        };
        let credentials = tokio::time::timeout(timeout, self.credentials.provide_credentials())
            .await
            .map_err(|_| OrgError::Credentials {
                why: format!("none within {} ms", timeout.as_millis()),
            })?
            .map_err(|e| OrgError::Credentials {
                why: crate::aws_error::credentials_line(&e).unwrap_or_else(|| e.to_string()),
            })?;
        let identity = credentials.into();
        let target = format!("AWSOrganizationsV20161128.{operation}");
        let signer = crate::aws::Signer {
            service: "organizations",
            region: &self.region,
            identity: &identity,
            settings: aws_sigv4::http_request::SigningSettings::default(),
        };
        let request = crate::aws::signed_request(
            "POST",
            &self.endpoint,
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", &target),
                ("accept", "application/json"),
            ],
            body,
            signer,
        )
        .map_err(|e| unreachable(e.to_string()))?;
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Ok(Ok(response)) => {
                let (parts, body) = response.into_parts();
                match read_bounded(body, MAX_ANSWER, timeout).await {
                    ResponseBody::Complete(b) => Ok((parts.status.as_u16(), b)),
                    ResponseBody::TooLarge => Err(OrgError::Unreadable {
                        operation,
                        why: format!("longer than {MAX_ANSWER} bytes"),
                    }),
                    ResponseBody::Unreadable => Err(unreachable(
                        "the answer could not be read whole in time".into(),
                    )),
                }
            }
            Ok(Err(e)) => Err(unreachable(crate::aws_error::root_cause(&e))),
            Err(_) => Err(unreachable(format!(
                "no answer in {} ms",
                timeout.as_millis()
            ))),
        }
    }
}

/// The organization id in an account ARN
/// (`arn:aws:organizations::<management>:account/o-<id>/<account>`).
fn organization_of_arn(arn: &str) -> Option<&str> {
    let resource = arn.split(':').nth(5)?;
    let org = resource.strip_prefix("account/")?.split('/').next()?;
    org.starts_with("o-").then_some(org)
}

/// The error code of a JSON 1.1 error answer (`__type`, without its namespace).
fn error_code(answer: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(answer).ok()?;
    let code = json.get("__type").or_else(|| json.get("code"))?.as_str()?;
    Some(code.rsplit('#').next().unwrap_or(code).to_string())
}

/// A refusal, in the words of [`OrgError`].
fn refusal(operation: &'static str, status: u16, answer: &[u8]) -> OrgError {
    let json: serde_json::Value = serde_json::from_slice(answer).unwrap_or_default();
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| json.get(*k).and_then(|v| v.as_str()))
        .unwrap_or("no message in the answer");
    let message: String = message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect();
    let code = error_code(answer).unwrap_or_else(|| format!("HTTP {status}"));
    match code.as_str() {
        "AccessDeniedException" | "AccessDenied" => OrgError::Denied { operation, message },
        "AWSOrganizationsNotInUseException" => OrgError::NotInUse { operation, message },
        "AccountNotFoundException"
        | "ChildNotFoundException"
        | "TargetNotFoundException"
        | "OrganizationalUnitNotFoundException" => OrgError::NotFound { operation, message },
        _ if status == 403 => OrgError::Denied { operation, message },
        _ => OrgError::Service {
            operation,
            code,
            message,
        },
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeAccount {
    account: Account,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Account {
    name: Option<String>,
    arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTags {
    #[serde(default)]
    tags: Vec<Tag>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListParents {
    #[serde(default)]
    parents: Vec<ParentEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ParentEntry {
    id: String,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeOu {
    organizational_unit: Ou,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ou {
    name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organization_id_comes_from_the_account_arn() {
        assert_eq!(
            organization_of_arn(
                "arn:aws:organizations::111111111111:account/o-exampleorgid/222222222222"
            ),
            Some("o-exampleorgid")
        );
        for bad in [
            "",
            "arn:aws:iam::1:role/x",
            "arn:aws:organizations::1:account/x/2",
        ] {
            assert_eq!(organization_of_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn refusals_read_as_denied_not_in_use_not_found_or_the_services_own_words() {
        let denied = refusal(
            "DescribeAccount",
            400,
            br#"{"__type":"AccessDeniedException","Message":"You don't have permissions"}"#,
        );
        assert!(denied.is_lasting(), "{denied}");
        assert!(denied.to_string().contains("delegated administrator"));
        let not_in_use = refusal(
            "ListParents",
            400,
            br#"{"__type":"com.amazonaws#AWSOrganizationsNotInUseException","message":"no org"}"#,
        );
        assert!(
            matches!(not_in_use, OrgError::NotInUse { .. }),
            "{not_in_use}"
        );
        let missing = refusal(
            "DescribeAccount",
            400,
            br#"{"__type":"AccountNotFoundException"}"#,
        );
        assert!(matches!(missing, OrgError::NotFound { .. }), "{missing}");
        assert!(!missing.is_lasting());
        let other = refusal("DescribeAccount", 502, b"<html>");
        assert_eq!(
            other.to_string(),
            "organizations:DescribeAccount failed: HTTP 502: no message in the answer"
        );
        assert!(matches!(refusal("X", 403, b""), OrgError::Denied { .. }));
    }

    #[test]
    fn answers_of_an_unexpected_shape_are_refused_not_panicked_on() {
        for body in [
            &b"{}"[..],
            b"[]",
            b"null",
            br#"{"Account": 5}"#,
            br#"{"Parents": [{"Type": "ROOT"}]}"#,
            br#"{"Tags": [{"Value": "x"}]}"#,
        ] {
            let _ = serde_json::from_slice::<DescribeAccount>(body);
            let _ = serde_json::from_slice::<ListParents>(body);
            let _ = serde_json::from_slice::<ListTags>(body);
            let _ = serde_json::from_slice::<DescribeOu>(body);
        }
        let empty: ListParents = serde_json::from_slice(b"{}").unwrap();
        assert!(empty.parents.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_refusal_gives_an_error_naming_the_operation(
            status in 400u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..64)
        ) {
            let e = refusal("ListParents", status, &body);
            proptest::prop_assert!(e.to_string().starts_with("organizations:ListParents"));
        }
    }
}
