//! A Secrets Manager secret the collector needs (the auth header value, or the collector URL
//! itself), fetched on first use and cached for the life of the process; fetched again only
//! when the caller says the cached value was refused (the secret may have been rotated).
//!
//! Invariant: neither the secret's value nor its ARN appears in an error; errors name the
//! variable that holds the ARN. The ARN is scrubbed from AWS error texts, which may quote it.

use std::sync::Arc;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::Mutex;

use crate::aws::Aws;
use crate::config::Sensitive;

/// Why a secret could not be read. Names the variable, never the ARN or the value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("{var}: GetSecretValue failed: {detail}")]
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
        self.cached.lock().await.clone()
    }

    /// The secret's value (trailing line breaks removed); with `refresh`, fetched again.
    pub async fn get(&self, refresh: bool) -> Result<Sensitive, SecretError> {
        let mut cached = self.cached.lock().await;
        if let (false, Some(v)) = (refresh, cached.as_ref()) {
            return Ok(v.clone());
        }
        // A secret shared from another region is read there (its ARN names the region).
        let config = self
            .aws
            .config_in(crate::aws::region_of_arn(self.arn.expose()))
            .await;
        let client = aws_sdk_secretsmanager::Client::new(&config);
        let out = client
            .get_secret_value()
            .secret_id(self.arn.expose())
            .send()
            .await
            .map_err(|e| SecretError::Fetch {
                var: self.var,
                detail: scrub(&DisplayErrorContext(&e).to_string(), self.arn.expose()),
            })?;
        let value = out
            .secret_string()
            .ok_or(SecretError::NotAString { var: self.var })?;
        let value = Sensitive::new(value.trim_end_matches(['\r', '\n']));
        *cached = Some(value.clone());
        Ok(value)
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
