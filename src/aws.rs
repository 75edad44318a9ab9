//! AWS SDK configuration: one rustls (ring) HTTPS client for every SDK client, and the
//! shared `SdkConfig` per region, loaded on first use so a cold start does no AWS work
//! before its first event. Honours the SDK's standard variables, `AWS_ENDPOINT_URL*` included.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::sync::OnceCell;

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
    default: OnceCell<SdkConfig>,
}

impl Default for Aws {
    fn default() -> Self {
        Self::new()
    }
}

impl Aws {
    pub fn new() -> Self {
        Aws {
            http: http_client(),
            default: OnceCell::new(),
        }
    }

    pub fn http(&self) -> SharedHttpClient {
        self.http.clone()
    }

    pub async fn config(&self) -> &SdkConfig {
        self.default
            .get_or_init(|| load(self.http.clone(), None))
            .await
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
