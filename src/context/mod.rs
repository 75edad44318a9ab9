//! Account context: what is known of each finding's account — its name, OU path and tags —
//! looked up once per batch before the findings are normalized, so analysts need not look
//! account ids up by hand (docs/account-context.md).
//!
//! Where it comes from (`ACCOUNT_CONTEXT`):
//! - `organizations`: AWS Organizations ([`organizations`]), which the function's role may
//!   read in the management account or a delegated administrator; an account Organizations
//!   does not answer for is looked up in the mapping document, when one is given.
//! - `mapping`: only the mapping document ([`crate::config::account_mapping`]):
//!   `ACCOUNT_NAMES` (inline JSON) or `ACCOUNT_NAMES_PARAMETER` (an SSM parameter holding
//!   it, read when first needed).
//! - `off`: none. Unset (or `auto`): `mapping` when a mapping is given, else `off`.
//!
//! Invariants (unit-tested below and in tests/account_context.rs through the binary):
//! - A lookup never fails delivery: whatever AWS answers (or does not), every finding is
//!   normalized and delivered, without the context that could not be had, and
//!   [`Accounts::failed`] says which accounts went without it for a failure (the
//!   `EnrichmentFailed` metric counts their records).
//! - Per container, an account is asked for at most once per time-to-live
//!   (`ACCOUNT_CONTEXT_TTL_SECONDS`); a failure is asked again after at most
//!   [`RETRY_AFTER_FAILURE`]; an access denial stops every Organizations call for the
//!   time-to-live, with one warning.
//!
//! The settings are read with the rest of the configuration
//! ([`crate::config::account_context`]).
//! - A lookup takes at most [`LOOKUP_BUDGET`], and never more than a quarter of what is
//!   left of the invocation.

pub mod organizations;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tracing::warn;

pub use organizations::{OrgError, Organizations};

use crate::config::account_context::{MappingSource, Settings, Source};
use crate::config::account_mapping::{Mapping, MappingError, is_account_id};

use crate::aws::Aws;
use crate::normalize::AccountContext;
use crate::retry::Deadline;

/// How soon an account whose lookup failed is asked for again (at most the time-to-live).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// The longest one batch's lookup may take.
pub const LOOKUP_BUDGET: Duration = Duration::from_secs(5);
/// Accounts asked for at once.
const CONCURRENCY: usize = 4;

/// A finding's account id (`accountId`, or the CLI's `AccountId`), when it is one.
pub fn account_of(finding: &serde_json::Value) -> Option<String> {
    let value = finding
        .get("accountId")
        .or_else(|| finding.get("AccountId"))?;
    let id = match value {
        serde_json::Value::String(s) => s.trim().to_string(),
        // A number has lost its leading zeros.
        serde_json::Value::Number(n) => format!("{:012}", n.as_u64()?),
        _ => return None,
    };
    is_account_id(&id).then_some(id)
}

/// What one batch's lookup found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Accounts {
    found: HashMap<String, Arc<AccountContext>>,
    failed: HashSet<String>,
}

impl Accounts {
    /// The context of `account`, when known.
    pub fn get(&self, account: Option<&str>) -> Option<&AccountContext> {
        self.found.get(account?).map(|a| &**a)
    }

    /// Whether `account` goes without context because a lookup failed (not merely because
    /// nothing is known of it).
    pub fn failed(&self, account: Option<&str>) -> bool {
        account.is_some_and(|a| self.failed.contains(a))
    }

    fn note(&mut self, account: &str, cached: &Cached) {
        if let Some(c) = &cached.context {
            self.found.insert(account.to_string(), c.clone());
        }
        if cached.failed {
            self.failed.insert(account.to_string());
        }
    }
}

/// One account's cached answer.
#[derive(Debug, Clone)]
struct Cached {
    context: Option<Arc<AccountContext>>,
    failed: bool,
    until: Instant,
}

/// What the container remembers between invocations.
#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, Cached>,
    /// No Organizations call before this instant (after a denial or a failure).
    org_paused_until: Option<Instant>,
    /// The mapping parameter as last read, and when to read it again.
    parameter: Option<Arc<Mapping>>,
    parameter_failed: bool,
    parameter_until: Option<Instant>,
}

/// Looks account context up, and remembers it for the container's life.
pub struct Enricher {
    settings: Settings,
    aws: Arc<Aws>,
    org: tokio::sync::OnceCell<Result<Organizations, OrgError>>,
    ous: organizations::OuCache,
    state: tokio::sync::Mutex<State>,
}

impl Enricher {
    pub fn new(settings: Settings, aws: Arc<Aws>) -> Enricher {
        Enricher {
            settings,
            aws,
            org: tokio::sync::OnceCell::new(),
            ous: organizations::OuCache::default(),
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// Whether lookups are made at all.
    pub fn is_on(&self) -> bool {
        self.settings.source != Source::Off
    }

    /// The context of each of `accounts` (ids that are not account ids are ignored).
    pub async fn lookup(
        &self,
        accounts: impl IntoIterator<Item = String>,
        deadline: Deadline,
    ) -> Accounts {
        let mut out = Accounts::default();
        if !self.is_on() {
            return out;
        }
        let ids: BTreeSet<String> = accounts.into_iter().filter(|a| is_account_id(a)).collect();
        if ids.is_empty() {
            return out;
        }
        let now = Instant::now();
        let budget = deadline
            .remaining()
            .map_or(LOOKUP_BUDGET, |r| (r / 4).min(LOOKUP_BUDGET));
        let stop = now + budget;
        let mut state = self.state.lock().await;
        let mut wanted = Vec::new();
        for id in ids {
            match state.accounts.get(&id).filter(|c| c.until > now) {
                Some(c) => out.note(&id, c),
                None => wanted.push(id),
            }
        }
        if wanted.is_empty() {
            return out;
        }
        let (mapping, mapping_failed) = self.mapping(&mut state, stop).await;
        let from_org = match self.settings.source {
            Source::Organizations => self.ask_organizations(&mut state, &wanted, stop).await,
            _ => HashMap::new(),
        };
        let short = self.settings.ttl.min(RETRY_AFTER_FAILURE);
        for id in wanted {
            let org = from_org.get(&id);
            let org_failed = matches!(org, Some(Err(())));
            let context = match org {
                Some(Ok(Some(c))) => Some(c.clone()),
                _ => mapping.as_ref().and_then(|m| m.get(&id).cloned()),
            };
            let failed = context.is_none() && (org_failed || mapping_failed);
            let keep = if org_failed || mapping_failed {
                short
            } else {
                self.settings.ttl
            };
            let cached = Cached {
                context,
                failed,
                until: now + keep,
            };
            out.note(&id, &cached);
            state.accounts.insert(id, cached);
        }
        out
    }

    /// The mapping document, and whether reading it failed.
    async fn mapping(&self, state: &mut State, stop: Instant) -> (Option<Arc<Mapping>>, bool) {
        let name = match &self.settings.mapping {
            None => return (None, false),
            Some(MappingSource::Inline(m)) => return (Some(m.clone()), false),
            Some(MappingSource::Parameter(name)) => name,
        };
        let now = Instant::now();
        if state.parameter_until.is_some_and(|u| u > now) {
            return (state.parameter.clone(), state.parameter_failed);
        }
        match self.read_parameter(name, stop).await {
            Ok(m) => {
                state.parameter = Some(Arc::new(m));
                state.parameter_failed = false;
                state.parameter_until = Some(now + self.settings.ttl);
            }
            Err(e) => {
                let retry = self.settings.ttl.min(RETRY_AFTER_FAILURE);
                warn!(message = "The account mapping parameter could not be read; records go without what it holds until it can be.",
                      parameter = %name, error = %e, retry_in_seconds = retry.as_secs(),
                      kept_previous = state.parameter.is_some());
                // A mapping read before is kept: stale names beat none.
                state.parameter_failed = state.parameter.is_none();
                state.parameter_until = Some(now + retry);
            }
        }
        (state.parameter.clone(), state.parameter_failed)
    }

    async fn read_parameter(&self, name: &str, stop: Instant) -> Result<Mapping, ParameterError> {
        let deadline = Deadline::at(stop);
        let budget =
            crate::budget::budget(deadline).map_err(|e| ParameterError::Read(e.to_string()))?;
        let config = self.aws.config_in(crate::aws::region_of_arn(name)).await;
        let ssm = aws_sdk_ssm::Client::new(&config);
        let answer = ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .customize()
            .config_override(budget.ssm())
            .send()
            .await
            .map_err(|e| {
                ParameterError::Read(crate::aws_error::explain(
                    "ssm:GetParameter",
                    Some(name),
                    &e,
                ))
            })?;
        let value = answer
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default();
        Mapping::parse(value).map_err(ParameterError::Mapping)
    }

    /// Asks Organizations for each account: `Ok(Some)` what it knows, `Ok(None)` an account it
    /// does not know, `Err` a failure (or a pause after one).
    async fn ask_organizations(
        &self,
        state: &mut State,
        wanted: &[String],
        stop: Instant,
    ) -> HashMap<String, Result<Option<Arc<AccountContext>>, ()>> {
        let now = Instant::now();
        let failed_all = || wanted.iter().map(|id| (id.clone(), Err(()))).collect();
        if state.org_paused_until.is_some_and(|u| u > now) {
            return failed_all();
        }
        let client = self
            .org
            .get_or_init(|| async { Organizations::new(self.aws.config().await) })
            .await;
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                self.pause(state, e);
                return failed_all();
            }
        };
        let keep_until = now + self.settings.ttl;
        let answers: Vec<(String, Result<AccountContext, OrgError>)> =
            futures_util::stream::iter(wanted.iter().cloned())
                .map(|id| async move {
                    let answer = client.account(&id, &self.ous, keep_until, stop).await;
                    (id, answer)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let mut first_failure: Option<OrgError> = None;
        let mut out = HashMap::new();
        for (id, answer) in answers {
            let result = match answer {
                Ok(c) => Ok(Some(Arc::new(c))),
                Err(OrgError::NotFound { .. }) => Ok(None),
                // The batch's time ran out: no fault of Organizations, so no pause.
                Err(OrgError::OutOfTime) => Err(()),
                Err(e) => {
                    first_failure.get_or_insert(e);
                    Err(())
                }
            };
            out.insert(id, result);
        }
        if let Some(e) = first_failure {
            self.pause(state, &e);
        }
        out
    }

    /// Stops Organizations calls for a while after `e`, with one warning: for the
    /// time-to-live after a denial, for [`RETRY_AFTER_FAILURE`] after anything else.
    fn pause(&self, state: &mut State, e: &OrgError) {
        let pause = if e.is_lasting() {
            self.settings.ttl
        } else {
            self.settings.ttl.min(RETRY_AFTER_FAILURE)
        };
        state.org_paused_until = Some(Instant::now() + pause);
        warn!(message = "Account context from AWS Organizations failed; records go without it (or with the mapping's) until Organizations is asked again.",
              error = %e, retry_in_seconds = pause.as_secs());
    }
}

/// Why the mapping parameter could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ParameterError {
    #[error("{0}")]
    Read(String),
    #[error("the mapping in it is refused: {0}")]
    Mapping(MappingError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_of_a_finding_is_read_from_either_casing_and_only_if_it_is_an_id() {
        use serde_json::json;
        assert_eq!(
            account_of(&json!({"accountId": "111122223333"})).as_deref(),
            Some("111122223333")
        );
        assert_eq!(
            account_of(&json!({"AccountId": "111122223333"})).as_deref(),
            Some("111122223333")
        );
        assert_eq!(
            account_of(&json!({"accountId": 11122223333u64})).as_deref(),
            Some("011122223333")
        );
        for bad in [
            json!({"accountId": "abc"}),
            json!({}),
            json!({"accountId": null}),
            json!(5),
        ] {
            assert_eq!(account_of(&bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_mapping_names_its_accounts_and_an_unknown_account_is_no_failure() {
        let mapping =
            Mapping::parse(r#"{"111122223333": {"name": "prod", "ou_path": "Root/Prod"}}"#)
                .unwrap();
        let settings = Settings {
            source: Source::Mapping,
            mapping: Some(MappingSource::Inline(Arc::new(mapping))),
            ..Settings::default()
        };
        let enricher = Enricher::new(settings, Arc::new(Aws::new()));
        let found = enricher
            .lookup(
                ["111122223333".to_string(), "444455556666".to_string()],
                Deadline::none(),
            )
            .await;
        let prod = found.get(Some("111122223333")).unwrap();
        assert_eq!(prod.name.as_deref(), Some("prod"));
        assert_eq!(found.get(Some("444455556666")), None);
        assert!(!found.failed(Some("444455556666")));
    }

    #[tokio::test]
    async fn off_looks_nothing_up() {
        let enricher = Enricher::new(Settings::default(), Arc::new(Aws::new()));
        let found = enricher
            .lookup(["111122223333".to_string()], Deadline::none())
            .await;
        assert_eq!(found, Accounts::default());
    }
}
