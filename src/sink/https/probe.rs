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
        if matches!(self.auth, super::Auth::Entra(_)) {
            let result = self
                .auth_headers(false, Deadline::none())
                .await
                .map(|_| "Entra ID issued a token for the Logs Ingestion API".to_string())
                .map_err(|e| e.to_string());
            let failed = result.is_err();
            out.push(ProbeOutcome {
                label: "token",
                result,
            });
            if failed {
                return out;
            }
        }
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
        let ends = self
            .endpoints(false, Deadline::none())
            .await
            .map_err(|e| e.to_string())?;
        let mut body = Bytes::from(p.body.clone());
        if ends.as_given && matches!(p.target, ProbeTarget::Base(_) | ProbeTarget::AckPoll) {
            return Ok(
                "not asked: the URL is the endpoint itself, not the product's base URL".into(),
            );
        }
        let uri = match p.target {
            ProbeTarget::Endpoint => Ok(ends.endpoint.clone()),
            ProbeTarget::AckPoll => match self.protocol.ack_poll(0) {
                Some((path, poll)) => {
                    body = Bytes::from(poll);
                    format!("{}{path}", ends.base).parse::<hyper::Uri>()
                }
                None => return Ok("no acknowledgement to ask".into()),
            },
            ProbeTarget::Base(path) => format!("{}{path}", ends.base).parse::<hyper::Uri>(),
            ProbeTarget::ApiHost(path) => {
                let host = datadog::api_host(ends.endpoint.host().unwrap_or_default());
                let port = ends
                    .endpoint
                    .port()
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                let scheme = ends.endpoint.scheme_str().unwrap_or("https");
                format!("{scheme}://{host}{port}{path}").parse::<hyper::Uri>()
            }
        }
        .map_err(|_| "probe URL could not be built".to_string())?;
        let auth = if p.authenticated {
            self.auth_headers(false, Deadline::none())
                .await
                .map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        let req = Req {
            post: p.post,
            uri,
            body,
            gzip: false,
            auth: &auth,
            answer_limit: crate::sink::transport::MAX_RESPONSE_BYTES,
        };
        match self.exchange(req, Deadline::none()).await {
            Ok(ex) => (p.judge)(ex.status, ex.body.bytes()).map_err(|why| {
                format!(
                    "{} ({})",
                    super::scrub(&why, &auth, &ends.endpoint),
                    self.excerpt(&ex.body, &auth, &ends.endpoint)
                )
            }),
            Err(Verdict::Retry(why) | Verdict::Failed(why)) => Err(why),
            Err(Verdict::Delivered) => Ok(String::new()),
        }
    }
}
