//! A Secrets Manager secret the collector needs (the auth header value, or the collector URL
//! itself), fetched on first use and cached for the life of the process; fetched again only
//! when the caller says the cached value was refused (the secret may have been rotated).
//! The fetch is bounded by the caller's deadline (`crate::budget`) and no lock is held
//! across it: a slow Secrets Manager never blocks a reader of the cached value, and two
//! fetches at once only both store the same value.
//!
//! Invariant: neither the secret's value nor its ARN appears in an error; errors name the
//! variable that holds the ARN. The ARN is scrubbed from AWS error texts, which may quote it.

use std::sync::Arc;

use std::sync::Mutex;

use crate::aws::Aws;
use crate::aws_error::explain;
use crate::budget::budget;
use crate::config::Sensitive;
use crate::retry::Deadline;

/// Why a secret could not be read. Names the variable, never the ARN or the value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("{var}: {detail}")]
    Fetch { var: &'static str, detail: String },
    #[error("{var}: the secret has no SecretString (a binary secret cannot be used)")]
    NotAString { var: &'static str },
}

pub struct CachedSecret {
    var: &'static str,
    arn: Sensitive,
    aws: Arc<Aws>,
    cached: Mutex<Option<Sensitive>>,
}

impl CachedSecret {
    /// `var` is the variable that named the secret, for errors.
    pub fn new(var: &'static str, arn: Sensitive, aws: Arc<Aws>) -> Self {
        CachedSecret {
            var,
            arn,
            aws,
            cached: Mutex::new(None),
        }
    }

    pub fn var(&self) -> &'static str {
        self.var
    }

    /// The value without fetching it: `None` before the first successful [`Self::get`].
    pub async fn peek(&self) -> Option<Sensitive> {
        self.cache().clone()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<Sensitive>> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The secret's value (trailing line breaks removed); with `refresh`, fetched again.
    /// The fetch takes at most what `deadline` leaves.
    pub async fn get(&self, refresh: bool, deadline: Deadline) -> Result<Sensitive, SecretError> {
        if !refresh && let Some(v) = self.cache().clone() {
            return Ok(v);
        }
        let value = self.fetch(deadline).await?;
        *self.cache() = Some(value.clone());
        Ok(value)
    }

    async fn fetch(&self, deadline: Deadline) -> Result<Sensitive, SecretError> {
        let budget = budget(deadline).map_err(|e| SecretError::Fetch {
            var: self.var,
            detail: e.to_string(),
        })?;
        // A secret shared from another region is read there (its ARN names the region).
        let config = self
            .aws
            .config_in(crate::aws::region_of_arn(self.arn.expose()))
            .await;
        let client = aws_sdk_secretsmanager::Client::new(&config);
        let out = client
            .get_secret_value()
            .secret_id(self.arn.expose())
            .customize()
            .config_override(budget.secretsmanager())
            .send()
            .await
            .map_err(|e| SecretError::Fetch {
                var: self.var,
                detail: scrub(
                    &explain("secretsmanager:GetSecretValue", Some("the secret"), &e),
                    self.arn.expose(),
                ),
            })?;
        let value = out
            .secret_string()
            .ok_or(SecretError::NotAString { var: self.var })?;
        Ok(Sensitive::new(value.trim_end_matches(['\r', '\n'])))
    }
}

/// `text` with every occurrence of `arn` (and of the secret's name in it) replaced.
fn scrub(text: &str, arn: &str) -> String {
    let mut out = text.replace(arn, "<secret ARN>");
    if let Some(name) = arn.rsplit(":secret:").next().filter(|n| n.len() >= 4) {
        out = out.replace(name, "<secret name>");
        // AWS also quotes the friendly name, without the six-character suffix it appends.
        if let Some((bare, _)) = name
            .rsplit_once('-')
            .filter(|(b, suffix)| suffix.len() == 6 && b.len() >= 4)
        {
            out = out.replace(bare, "<secret name>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_error_quoting_the_bare_secret_name_is_scrubbed() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:collector-token-AbCdEf";
        let out = scrub("ResourceNotFound: secret collector-token not found", arn);
        assert!(!out.contains("collector-token"), "{out}");
    }

    #[test]
    fn an_aws_error_quoting_the_arn_is_scrubbed() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:collector-token-AbCd";
        let text = format!("AccessDenied: not authorized on resource: {arn}");
        let out = scrub(&text, arn);
        assert!(!out.contains("collector-token"), "{out}");
        assert!(out.contains("<secret ARN>"));
    }
}
