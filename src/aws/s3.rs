//! The S3 calls made without `aws-sdk-s3`: ListObjectsV2 and GetObject (S3 replay) and
//! PutObject (the S3 destination), signed with SigV4 (`aws-sigv4`, already under the SDK)
//! and sent over the HTTPS client the collector uses. `aws-sdk-s3` would bring checksums,
//! express sessions, SigV4a and S3's large endpoint rules into the Lambda zip for three
//! calls (BENCHMARKS.md, issue 24).
//!
//! Endpoints: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (path-style, how tests reach a
//! local emulator), else `https://<bucket>.s3.<region>.amazonaws.com` (path-style for bucket
//! names with dots). Credentials and region are the SDK's (`SdkConfig`), asked per request so
//! that expiring credentials are refreshed by their provider. Objects encrypted with SSE-KMS
//! are decrypted by S3 for a caller allowed `kms:Decrypt`: nothing to do here.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SigningSettings, UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;

use crate::sink::transport::{HttpClient, ResponseBody, build_client, read_bounded};

/// A ListObjectsV2 answer (1,000 keys of at most 1 KB) is read up to this size.
const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;
/// An error answer is read up to this size.
const MAX_ERROR_BYTES: usize = 16 * 1024;
/// Waiting for an answer's headers, or for a listing's body.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts at a request that failed on the way or with a 5xx.
const ATTEMPTS: u32 = 4;

/// Why S3 could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{0:?} is not an S3 URL: expected s3://bucket/prefix")]
    BadUrl(String),
    #[error("no AWS region: set AWS_REGION (the bucket's region, or any: S3 names the bucket's)")]
    NoRegion,
    #[error("no usable AWS credentials: {0}")]
    Credentials(String),
    #[error("cannot sign the request: {0}")]
    Signing(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("S3 answered {status} {code}: {message}")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the bucket is in {region}")]
    WrongRegion { region: String },
    #[error("unreadable ListObjectsV2 answer: {0}")]
    Answer(String),
    #[error("the object's body broke off: {0}")]
    Body(String),
}

/// One page of a listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub keys: Vec<String>,
    /// With a delimiter: the "folders" one level down.
    pub prefixes: Vec<String>,
    /// The continuation token, when the listing goes on.
    pub next: Option<String>,
}

/// What to list.
#[derive(Debug, Default, Clone, Copy)]
pub struct List<'a> {
    pub prefix: &'a str,
    pub start_after: Option<&'a str>,
    pub token: Option<&'a str>,
    /// Group keys by the next `/` (folders).
    pub delimited: bool,
    pub max_keys: Option<u32>,
}

/// Signed S3 requests for one bucket.
#[derive(Clone)]
pub struct S3Client {
    http: HttpClient,
    /// A custom endpoint (no trailing `/`), addressed path-style; `None` is AWS.
    endpoint: Option<String>,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    bucket: String,
}

impl S3Client {
    pub fn new(config: &SdkConfig, bucket: &str) -> Result<S3Client, S3Error> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .or_else(|| config.endpoint_url().map(str::to_string))
            .map(|e| e.trim().trim_end_matches('/').to_string());
        let allow_http = endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        let http = build_client(&[], allow_http).map_err(|e| S3Error::Request(e.to_string()))?;
        let region = config.region().ok_or(S3Error::NoRegion)?.to_string();
        Ok(S3Client {
            http,
            endpoint,
            region,
            credentials: config.credentials_provider(),
            bucket: bucket.to_string(),
        })
    }

    /// The same client for a bucket that lives in `region`.
    pub fn in_region(&self, region: &str) -> S3Client {
        S3Client {
            region: region.to_string(),
            ..self.clone()
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The URL of `key` (empty: the bucket) with `query` (already encoded).
    fn url(&self, key: &str, query: &str) -> String {
        let key = encode(key, true);
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let bucket = &self.bucket;
        match &self.endpoint {
            Some(base) => format!("{base}/{bucket}/{key}{query}"),
            None => {
                let domain = if self.region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                let region = &self.region;
                if bucket.contains('.') {
                    format!("https://s3.{region}.{domain}/{bucket}/{key}{query}")
                } else {
                    format!("https://{bucket}.s3.{region}.{domain}/{key}{query}")
                }
            }
        }
    }

    /// One page of ListObjectsV2, keys in UTF-8 binary order.
    pub async fn list(&self, list: List<'_>) -> Result<Page, S3Error> {
        let mut query = vec![("list-type", "2".to_string())];
        if let Some(token) = list.token {
            query.push(("continuation-token", encode(token, false)));
        }
        if list.delimited {
            query.push(("delimiter", "%2F".to_string()));
        }
        if let Some(max) = list.max_keys {
            query.push(("max-keys", max.to_string()));
        }
        query.push(("prefix", encode(list.prefix, false)));
        if let Some(after) = list.start_after {
            query.push(("start-after", encode(after, false)));
        }
        // Sorted by name, as the canonical request has them.
        query.sort();
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let response = self.send(self.url("", &query.join("&"))).await?;
        match read_bounded(response.into_body(), MAX_LIST_BYTES, TIMEOUT).await {
            ResponseBody::Complete(body) => parse_page(&body),
            ResponseBody::TooLarge => Err(S3Error::Answer("larger than 4 MB".into())),
            ResponseBody::Unreadable => {
                Err(S3Error::Request("the listing could not be read".into()))
            }
        }
    }

    /// GetObject: the body, streamed.
    pub async fn get(&self, key: &str) -> Result<Incoming, S3Error> {
        Ok(self.send(self.url(key, "")).await?.into_body())
    }

    /// Signs and sends a GET, retrying failures on the way and 5xx answers.
    async fn send(&self, url: String) -> Result<hyper::Response<Incoming>, S3Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = self.signed("GET", &url, &[], Bytes::new()).await?;
            let failure = match tokio::time::timeout(TIMEOUT, self.http.request(request)).await {
                Ok(Ok(response)) if response.status().is_success() => return Ok(response),
                Ok(Ok(response)) => self.failure(response).await,
                Ok(Err(e)) => S3Error::Request(chain(&e)),
                Err(_) => S3Error::Request(format!("no answer within {}s", TIMEOUT.as_secs())),
            };
            let retry = match &failure {
                S3Error::Request(_) => true,
                S3Error::Service { status, .. } => *status >= 500,
                _ => false,
            };
            if !retry || attempt >= ATTEMPTS {
                return Err(failure);
            }
            let backoff = 200u64 << attempt;
            tokio::time::sleep(Duration::from_millis(backoff + fastrand::u64(..backoff))).await;
        }
    }

    async fn signed(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<hyper::Request<Full<Bytes>>, S3Error> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| S3Error::Credentials("no credentials provider configured".into()))?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            S3Error::Credentials(
                crate::aws_error::credentials_line(&e).unwrap_or_else(|| chain(&e)),
            )
        })?;
        let identity: Identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let signer = crate::aws::Signer {
            service: "s3",
            region: &self.region,
            identity: &identity,
            settings,
        };
        crate::aws::signed_request(method, url, headers, body, signer)
            .map_err(|e| S3Error::Signing(e.0))
    }

    /// One PutObject of `body` at `key` with these (signed) headers, no retry: the caller
    /// decides what a failure means. `Ok` only on a 2xx.
    pub async fn put(
        &self,
        key: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<(), S3Error> {
        let request = self
            .signed("PUT", &self.url(key, ""), headers, body)
            .await?;
        match tokio::time::timeout(timeout, self.http.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(self.failure(response).await),
            Ok(Err(e)) => Err(S3Error::Request(chain(&e))),
            Err(_) => Err(S3Error::Request(format!(
                "no answer within {}s",
                timeout.as_secs()
            ))),
        }
    }

    /// The error an answer that is not 2xx stands for.
    async fn failure(&self, response: hyper::Response<Incoming>) -> S3Error {
        let status = response.status().as_u16();
        let region = response
            .headers()
            .get("x-amz-bucket-region")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(region) = region.filter(|r| *r != self.region) {
            return S3Error::WrongRegion { region };
        }
        let body = read_bounded(response.into_body(), MAX_ERROR_BYTES, TIMEOUT).await;
        let text = String::from_utf8_lossy(body.bytes());
        S3Error::Service {
            status,
            code: tag_text(&text, "Code").unwrap_or_default(),
            message: tag_text(&text, "Message").unwrap_or_default(),
        }
    }
}

/// An error with its causes, on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}

/// The text of the first `<tag>…</tag>` of an error answer.
fn tag_text(xml: &str, tag: &str) -> Option<String> {
    let mut doc = aws_smithy_xml::decode::Document::new(xml);
    let mut root = doc.root_element().ok()?;
    while let Some(mut el) = root.next_tag() {
        if el.start_el().matches(tag) {
            return aws_smithy_xml::decode::try_data(&mut el)
                .ok()
                .map(|t| t.into_owned());
        }
    }
    None
}

/// Reads a ListObjectsV2 answer.
fn parse_page(body: &[u8]) -> Result<Page, S3Error> {
    use aws_smithy_xml::decode::{Document, try_data};
    let text = std::str::from_utf8(body).map_err(|e| S3Error::Answer(e.to_string()))?;
    let bad = |e: aws_smithy_xml::decode::XmlDecodeError| S3Error::Answer(e.to_string());
    let mut doc = Document::new(text);
    let mut root = doc.root_element().map_err(bad)?;
    let mut page = Page::default();
    let mut truncated = false;
    while let Some(mut el) = root.next_tag() {
        let name = el.start_el().local().to_string();
        match name.as_str() {
            "Contents" | "CommonPrefixes" => {
                while let Some(mut inner) = el.next_tag() {
                    let wanted = if name == "Contents" { "Key" } else { "Prefix" };
                    if inner.start_el().matches(wanted) {
                        let value = try_data(&mut inner).map_err(bad)?.into_owned();
                        match name.as_str() {
                            "Contents" => page.keys.push(value),
                            _ => page.prefixes.push(value),
                        }
                    }
                }
            }
            "IsTruncated" => truncated = try_data(&mut el).map_err(bad)? == "true",
            "NextContinuationToken" => page.next = Some(try_data(&mut el).map_err(bad)?.into()),
            _ => {}
        }
    }
    if !truncated {
        page.next = None;
    } else if page.next.is_none() {
        return Err(S3Error::Answer(
            "truncated without a continuation token".into(),
        ));
    }
    Ok(page)
}

/// Percent-encodes all but RFC 3986's unreserved characters (and `/` in a path), as SigV4
/// canonicalizes them.
fn encode(text: &str, path: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (path && b == b'/')
        {
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
    fn a_listing_page_gives_its_keys_folders_and_token() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>p/a &amp; b.jsonl.gz</Key><Size>10</Size></Contents>
<Contents><Key>p/c.jsonl.gz</Key><Size>3</Size></Contents>
<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>
<NextContinuationToken>tok/en=</NextContinuationToken></ListBucketResult>"#;
        assert_eq!(
            parse_page(xml).unwrap(),
            Page {
                keys: vec!["p/a & b.jsonl.gz".into(), "p/c.jsonl.gz".into()],
                prefixes: vec!["p/d/".into()],
                next: Some("tok/en=".into()),
            }
        );
        let last = br#"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"#;
        assert_eq!(parse_page(last).unwrap(), Page::default());
    }

    #[test]
    fn keys_are_encoded_as_sigv4_canonicalizes_them() {
        assert_eq!(encode("a b/ü+~.gz", true), "a%20b/%C3%BC%2B~.gz");
        assert_eq!(encode("a/b", false), "a%2Fb");
    }

    #[test]
    fn an_error_answer_gives_its_code_and_message() {
        let xml = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        assert_eq!(tag_text(xml, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(tag_text(xml, "Message").as_deref(), Some("Access Denied"));
    }
}
