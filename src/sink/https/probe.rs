//! `check` for the collector: the protocol's probes run in order (health, credential,
//! permissions: whatever the product documents), stopping at the first that fails.

use bytes::Bytes;

use super::protocol::{Probe, ProbeTarget};
use super::{HttpsSink, ProbeOutcome, Req, datadog};
use crate::retry::{Deadline, Verdict};

impl HttpsSink {
    /// Runs the protocol's `check` probes in order, stopping at the first that fails.
    pub async fn probe(&self) -> Vec<ProbeOutcome> {
        let mut out = Vec::new();
        for p in self.protocol.probes() {
            let result = self.run_probe(&p).await;
            let failed = result.is_err();
            out.push(ProbeOutcome {
                label: p.label,
                result,
            });
            if failed {
                break;
            }
        }
        out
    }

    async fn run_probe(&self, p: &Probe) -> Result<String, String> {
        let uri = match p.target {
            ProbeTarget::Endpoint => Ok(self.endpoint.clone()),
            ProbeTarget::Base(path) => format!("{}{path}", self.base).parse::<hyper::Uri>(),
            ProbeTarget::ApiHost(path) => {
                let host = datadog::api_host(self.endpoint.host().unwrap_or_default());
                let port = self
                    .endpoint
                    .port()
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                let scheme = self.endpoint.scheme_str().unwrap_or("https");
                format!("{scheme}://{host}{port}{path}").parse::<hyper::Uri>()
            }
        }
        .map_err(|e| format!("probe URL: {e}"))?;
        let auth = if p.authenticated {
            self.auth_value(false).await.map_err(|e| e.to_string())?
        } else {
            None
        };
        let req = Req {
            post: p.post,
            uri,
            body: Bytes::from(p.body.clone()),
            gzip: false,
            auth: auth.as_ref(),
        };
        match self.exchange(req, Deadline::none()).await {
            Ok(ex) => (p.judge)(ex.status, &ex.body)
                .map_err(|why| format!("{why} ({})", self.excerpt(&ex.body, auth.as_ref()))),
            Err(Verdict::Retry(why) | Verdict::Failed(why)) => Err(why),
            Err(Verdict::Delivered) => Ok(String::new()),
        }
    }
}
