//! AWS SDK configuration: one rustls (ring) HTTPS client for every SDK client, and the
//! shared `SdkConfig` per region, loaded on first use so a cold start does no AWS work
//! before its first event. Honours the SDK's standard variables, `AWS_ENDPOINT_URL*` included.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::sync::OnceCell;

pub mod s3;

/// The HTTPS client the SDK clients share: rustls with ring, platform roots.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads the SDK configuration, in `region` when given.
pub async fn load(http: SharedHttpClient, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    loader.load().await
}

/// The default-region configuration, loaded once on first use.
pub struct Aws {
    http: SharedHttpClient,
    /// The default region when given (`check --function`: the function's), else the SDK's.
    region: Option<String>,
    default: OnceCell<SdkConfig>,
}

impl Default for Aws {
    fn default() -> Self {
        Self::new()
    }
}

impl Aws {
    pub fn new() -> Self {
        Self::in_region(None)
    }

    /// With `region` as the default region instead of the SDK's, when given.
    pub fn in_region(region: Option<String>) -> Self {
        Aws {
            http: http_client(),
            region,
            default: OnceCell::new(),
        }
    }

    pub fn http(&self) -> SharedHttpClient {
        self.http.clone()
    }

    pub async fn config(&self) -> &SdkConfig {
        self.default
            .get_or_init(|| load(self.http.clone(), self.region.as_deref()))
            .await
    }

    /// The configuration for `region` when a resource names one (a queue URL, an ARN), else
    /// the default: resources in another region than the function's are reached there.
    pub async fn config_in(&self, region: Option<&str>) -> SdkConfig {
        match region {
            Some(region) => self.config_for(region).await,
            None => self.config().await.clone(),
        }
    }

    /// The configuration for `region` (the default one when it is the same region).
    pub async fn config_for(&self, region: &str) -> SdkConfig {
        let default = self.config().await;
        if default.region().is_some_and(|r| r.as_ref() == region) {
            return default.clone();
        }
        default
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }
}

/// The region of an SQS queue URL (`https://sqs.<region>.amazonaws.com/...`), if it names one.
pub fn region_of_queue_url(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    let (first, region) = (parts.next()?, parts.next()?);
    let aws = parts.next().is_some_and(|d| d.starts_with("amazonaws"));
    (first == "sqs" && aws && !region.is_empty()).then_some(region)
}

/// The region of an ARN (`arn:<partition>:<service>:<region>:...`), if it names one.
pub fn region_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next()? == "arn").then_some(())?;
    let region = parts.nth(2)?;
    (!region.is_empty()).then_some(region)
}

#[cfg(test)]
mod region_tests {
    use super::*;

    #[test]
    fn the_region_comes_from_an_sqs_url_and_nothing_else() {
        let cases = [
            (
                "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
                Some("eu-west-1"),
            ),
            (
                "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/dlq",
                Some("cn-north-1"),
            ),
            ("http://127.0.0.1:5000/123456789012/dlq", None),
            ("https://queue.amazonaws.com/123456789012/dlq", None),
            ("not a url", None),
        ];
        for (url, region) in cases {
            assert_eq!(region_of_queue_url(url), region, "{url}");
        }
    }

    #[test]
    fn the_region_comes_from_an_arn_when_it_names_one() {
        let cases = [
            (
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
                Some("eu-west-1"),
            ),
            (
                "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x",
                Some("us-gov-west-1"),
            ),
            ("arn:aws:iam::123456789012:role/r", None),
            ("Bearer abc", None),
            ("", None),
        ];
        for (arn, region) in cases {
            assert_eq!(region_of_arn(arn), region, "{arn}");
        }
    }
}

/// How to sign one request: the service's name and rules, the region and the caller.
pub struct Signer<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub identity: &'a aws_smithy_runtime_api::client::identity::Identity,
    /// The service's signing rules (S3 signs the payload hash and encodes paths once).
    pub settings: aws_sigv4::http_request::SigningSettings,
}

/// A request to `url` with its SigV4 headers, for the few AWS calls made without an SDK
/// client (`check --function`'s Lambda call, S3 replay's GETs, the S3 destination's PUTs:
/// BENCHMARKS.md says why). `headers` are signed with the request (S3 requires every
/// `x-amz-*` header it reads to be signed); `body` is sent as it is.
pub fn signed_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: bytes::Bytes,
    signer: Signer<'_>,
) -> Result<http::Request<http_body_util::Full<bytes::Bytes>>, SignError> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, sign};
    let failed = |e: &dyn std::fmt::Display| SignError(e.to_string());
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(signer.identity)
        .region(signer.region)
        .name(signer.service)
        .time(std::time::SystemTime::now())
        .settings(signer.settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (*k, *v)),
        SignableBody::Bytes(&body),
    )
    .map_err(|e| failed(&e))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| failed(&e))?
        .into_parts();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(http_body_util::Full::new(body))
        .map_err(|e| failed(&e))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}

/// A GET to `url` with its SigV4 headers ([`signed_request`]); `headers` are sent unsigned.
pub fn signed_get(
    url: &str,
    service: &str,
    region: &str,
    identity: &aws_smithy_runtime_api::client::identity::Identity,
    settings: aws_sigv4::http_request::SigningSettings,
    headers: &[(&'static str, &str)],
) -> Result<http::Request<http_body_util::Full<bytes::Bytes>>, SignError> {
    let signer = Signer {
        service,
        region,
        identity,
        settings,
    };
    let mut request = signed_request("GET", url, &[], bytes::Bytes::new(), signer)?;
    for (name, value) in headers {
        let value = http::HeaderValue::from_str(value).map_err(|e| SignError(e.to_string()))?;
        request.headers_mut().insert(*name, value);
    }
    Ok(request)
}

/// The endpoint configured for a service (`service_id` as the SDK names it: `Lambda`,
/// `Organizations`): `AWS_ENDPOINT_URL_<SERVICE>`, then the profile's service
/// `endpoint_url`, then `AWS_ENDPOINT_URL`; `None` when nothing is configured.
pub fn configured_endpoint(config: &SdkConfig, service_id: &str) -> Option<String> {
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build();
    let configured = match key {
        Ok(key) => config.service_config().and_then(|c| c.load_config(key)),
        Err(_) => None,
    };
    configured.or_else(|| config.endpoint_url().map(str::to_string))
}

/// Why a request could not be signed (a URL or setting the signer refuses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(pub String);
