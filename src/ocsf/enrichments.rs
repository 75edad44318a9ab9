//! `enrichments[]`: what GuardDuty adds to an indicator from its own sources.
//!
//! - Threat intelligence (`service.evidence.threatIntelligenceDetails[]`, or the older
//!   `service.additionalInfo.threatListName`): one enrichment per threat list, of the
//!   finding's indicator (the DNS query, else the remote IP address or domain), `type`
//!   "Threat Intelligence", `provider` the list's name, `data` GuardDuty's entry as is. In
//!   1.8.0, which gives an enrichment a `reputation`, a threat-list match is OCSF's Malicious
//!   (10): GuardDuty states no score of its own, so `base_score` repeats that 10.
//! - In 1.1.0 only, each remote address's network owner (`remoteIpDetails.organization`: ASN,
//!   AS organization, organization, ISP), `type` "Network Organization", since 1.1.0's
//!   endpoint has no `autonomous_system` (1.8.0 writes them on the endpoint itself).

use std::borrow::Cow;

use serde_json::{Value, json};

use super::model::{Endpoint, Enrichment, Evidence, Reputation, Str};
use super::values::{data, ip, string};
use crate::normalize::{OcsfVersion, get, path};

/// At most this many enrichments are listed.
const MAX_ENRICHMENTS: usize = 16;

/// The provider of what GuardDuty itself looked up.
const GUARDDUTY: &str = "Amazon GuardDuty";

pub fn enrichments<'a>(
    finding: &'a Value,
    evidences: &[Evidence<'a>],
    version: OcsfVersion,
) -> Vec<Enrichment<'a>> {
    let mut out = threat_intelligence(finding, evidences, version);
    if version == OcsfVersion::V1_1_0 {
        out.extend(organizations(finding));
    }
    out.truncate(MAX_ENRICHMENTS);
    out
}

/// The indicator a finding is about: `(attribute, value)`.
fn indicator<'a>(evidences: &[Evidence<'a>]) -> Option<(&'static str, Cow<'a, str>)> {
    let remote = |e: &Endpoint<'a>| e.instance_uid.is_none();
    let mut ips = None;
    for e in evidences {
        if let Some(q) = &e.query {
            return Some(("hostname", q.hostname.clone()));
        }
        for ep in [&e.src_endpoint, &e.dst_endpoint].into_iter().flatten() {
            if let Some(d) = ep.domain.clone() {
                return Some(("domain", d));
            }
            if ips.is_none() && remote(ep) {
                ips = ep.ip.clone().map(|ip| ("ip", ip));
            }
        }
    }
    ips
}

fn threat_intelligence<'a>(
    finding: &'a Value,
    evidences: &[Evidence<'a>],
    version: OcsfVersion,
) -> Vec<Enrichment<'a>> {
    let details = path(
        finding,
        &["service", "evidence", "threatIntelligenceDetails"],
    );
    let mut lists: Vec<(Str<'a>, Value)> = details
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| d.is_object())
        .filter_map(|d| Some((string(get(d, "threatListName")), data(d)?)))
        .collect();
    let legacy = path(finding, &["service", "additionalInfo", "threatListName"]);
    if let Some(name) = string(legacy)
        && !lists.iter().any(|(n, _)| n.as_deref() == Some(&*name))
    {
        lists.push((Some(name.clone()), json!({ "threatListName": name })));
    }
    let indicator = indicator(evidences);
    lists
        .into_iter()
        .filter_map(|(list, data)| {
            let (name, value) = match &indicator {
                Some((n, v)) => (*n, v.clone()),
                None => ("threat_list", list.clone()?),
            };
            Some(Enrichment {
                name: Cow::Borrowed(name),
                value,
                r#type: "Threat Intelligence",
                provider: list.clone(),
                data,
                reputation: (version == OcsfVersion::V1_8_0).then(|| Reputation {
                    base_score: 10.0,
                    score_id: 10,
                    score: "Malicious",
                    provider: list,
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
        .collect()
}

/// Every `remoteIpDetails` with an `organization`, once per address.
fn organizations(finding: &Value) -> Vec<Enrichment<'_>> {
    let Some(action) = path(finding, &["service", "action"]) else {
        return Vec::new();
    };
    let mut remotes: Vec<&Value> = [
        "awsApiCallAction",
        "networkConnectionAction",
        "kubernetesApiCallAction",
        "rdsLoginAttemptAction",
    ]
    .into_iter()
    .filter_map(|k| get(action, k).and_then(|a| get(a, "remoteIpDetails")))
    .collect();
    let probes = path(action, &["portProbeAction", "portProbeDetails"]);
    remotes.extend(
        probes
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| get(p, "remoteIpDetails")),
    );
    let mut out: Vec<Enrichment<'_>> = Vec::new();
    for d in remotes {
        let addr = ip(get(d, "ipAddressV4")).or_else(|| ip(get(d, "ipAddressV6")));
        let org = get(d, "organization").filter(|o| o.as_object().is_some_and(|m| !m.is_empty()));
        let (Some(addr), Some(data)) = (addr, org.and_then(data)) else {
            continue;
        };
        if out.iter().any(|e| e.value == addr) {
            continue;
        }
        out.push(Enrichment {
            name: Cow::Borrowed("ip"),
            value: addr,
            r#type: "Network Organization",
            provider: Some(Cow::Borrowed(GUARDDUTY)),
            data,
            ..Default::default()
        });
    }
    out
}
