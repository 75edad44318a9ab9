//! Microsoft Entra ID client-credentials tokens for the Logs Ingestion API (`sentinel`): a
//! POST of the app's client id and secret to `AZURE_AUTHORITY_HOST/<tenant>/oauth2/v2.0/token`
//! with the scope `https://monitor.azure.com//.default`.
//!
//! Invariants:
//! - A token is reused until shortly before it expires ([`refresh_after`]: five minutes
//!   before, or halfway for a token that lives less than ten), then asked for again; a caller
//!   that saw it refused (401/403) asks with `refresh`, which fetches the client secret and a
//!   token anew.
//! - Neither the client secret nor a token appears in an error or a log line: what Entra ID
//!   says is quoted with the secret masked, and tokens travel only as sensitive header values.
//! - A refusal of the app's credentials (Entra ID's 400/401, `invalid_client` and the like)
//!   is permanent; throttling, server errors and timeouts are not.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{Sensitive, SentinelOptions};
use crate::retry::Deadline;
use crate::sink::DeliveryError;
use crate::sink::secret::CachedSecret;
use crate::sink::transport::{self, HttpClient, ResponseBody};

/// The Logs Ingestion API's scope (the double slash is Azure Monitor's own).
pub const SCOPE: &str = "https://monitor.azure.com//.default";
/// The longest one token request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a token answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// Where the app's client secret comes from.
pub enum ClientSecret {
    /// `COLLECTOR_AUTH_VALUE` (development).
    Plain(Sensitive),
    /// `COLLECTOR_AUTH_SECRET_ARN`.
    Stored(CachedSecret),
}

struct Token {
    /// `Bearer <token>`, marked sensitive.
    header: HeaderValue,
    refresh_at: Instant,
}

pub struct EntraToken {
    token_url: String,
    client_id: String,
    secret: ClientSecret,
    cached: Mutex<Option<Token>>,
}

#[derive(Deserialize)]
struct Granted {
    access_token: String,
    /// Seconds; Entra ID writes a number, some clouds a string.
    expires_in: serde_json::Value,
}

#[derive(Deserialize, Default)]
struct Refused {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// When a token that lives `lifetime` should be asked for again.
pub fn refresh_after(lifetime: Duration) -> Duration {
    let margin = Duration::from_secs(300).min(lifetime / 2);
    lifetime.saturating_sub(margin)
}

impl EntraToken {
    pub fn new(options: &SentinelOptions, secret: ClientSecret) -> Self {
        EntraToken {
            token_url: options.token_url(),
            client_id: options.client_id.clone(),
            secret,
            cached: Mutex::new(None),
        }
    }

    /// `Bearer <token>`: the cached one while it is fresh and `refresh` is not asked, else a
    /// new one.
    pub async fn bearer(
        &self,
        client: &HttpClient,
        refresh: bool,
        deadline: Deadline,
    ) -> Result<HeaderValue, DeliveryError> {
        let mut cached = self.cached.lock().await;
        if !refresh
            && let Some(t) = cached.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.header.clone());
        }
        let secret = match &self.secret {
            ClientSecret::Plain(s) => s.clone(),
            ClientSecret::Stored(s) => s
                .get(refresh, deadline)
                .await
                .map_err(|e| DeliveryError::Unavailable(e.to_string()))?,
        };
        let token = self.request(client, &secret, deadline).await?;
        let header = token.header.clone();
        *cached = Some(token);
        Ok(header)
    }

    async fn request(
        &self,
        client: &HttpClient,
        secret: &Sensitive,
        deadline: Deadline,
    ) -> Result<Token, DeliveryError> {
        let form = format!(
            "client_id={}&client_secret={}&grant_type=client_credentials&scope={}",
            form_encode(&self.client_id),
            form_encode(secret.expose()),
            form_encode(SCOPE)
        );
        let request = hyper::Request::post(&self.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(hyper::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| {
                DeliveryError::Unavailable("the token request could not be built".into())
            })?;
        let unavailable = |why: String| {
            DeliveryError::Unavailable(format!("Entra ID token request ({}): {why}", self.shown()))
        };
        let timeout = deadline.clamp(TIMEOUT);
        let response = match tokio::time::timeout(timeout, client.request(request)).await {
            Err(_) => {
                return Err(unavailable(format!(
                    "no answer within {} ms",
                    timeout.as_millis()
                )));
            }
            Ok(Err(e)) => return Err(unavailable(mask(&e.to_string(), secret))),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let started = Instant::now();
        let body = transport::read_bounded(response.into_body(), MAX_ANSWER, timeout).await;
        let ResponseBody::Complete(body) = body else {
            return Err(unavailable(format!(
                "HTTP {status}: the answer could not be read"
            )));
        };
        if status == 200 {
            let granted: Granted = serde_json::from_slice(&body)
                .map_err(|_| unavailable("HTTP 200 without an access_token".into()))?;
            let seconds = match &granted.expires_in {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .unwrap_or(0);
            let mut header = HeaderValue::from_str(&format!("Bearer {}", granted.access_token))
                .map_err(|_| unavailable("HTTP 200 with a token that is no header value".into()))?;
            header.set_sensitive(true);
            return Ok(Token {
                header,
                refresh_at: started + refresh_after(Duration::from_secs(seconds)),
            });
        }
        let refused: Refused = serde_json::from_slice(&body).unwrap_or_default();
        let said: String = mask(
            &format!("{}: {}", refused.error, refused.error_description),
            secret,
        )
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
        let why = format!(
            "Entra ID refused the token request ({}): HTTP {status} {said}",
            self.shown()
        );
        if matches!(status, 400 | 401 | 403) {
            Err(DeliveryError::Rejected(why))
        } else {
            Err(DeliveryError::Unavailable(why))
        }
    }

    /// The token endpoint's host, for messages.
    fn shown(&self) -> String {
        crate::sink::redact::RedactedUrl::new(&self.token_url).to_string()
    }
}

/// `text` with the client secret masked.
fn mask(text: &str, secret: &Sensitive) -> String {
    if secret.expose().is_empty() {
        text.to_string()
    } else {
        text.replace(secret.expose(), "***")
    }
}

/// `application/x-www-form-urlencoded`: all but the unreserved characters percent-encoded.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_asked_for_again_shortly_before_it_expires() {
        let s = Duration::from_secs;
        assert_eq!(refresh_after(s(3599)), s(3299));
        assert_eq!(refresh_after(s(600)), s(300));
        assert_eq!(refresh_after(s(60)), s(30));
        assert_eq!(refresh_after(s(0)), s(0));
    }

    #[test]
    fn the_form_encodes_the_scope_and_a_secret_with_reserved_characters() {
        assert_eq!(
            form_encode(SCOPE),
            "https%3A%2F%2Fmonitor.azure.com%2F%2F.default"
        );
        assert_eq!(form_encode("a+b/c=d&e f~"), "a%2Bb%2Fc%3Dd%26e%20f~");
    }
}
