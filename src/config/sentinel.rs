//! The `sentinel` preset's settings (Azure Monitor Logs Ingestion API): the data collection
//! rule's immutable id and stream, and the Entra ID app that gets the token (tenant, client
//! id, the authority host for sovereign clouds and tests). The client secret is the
//! collector credential (`COLLECTOR_AUTH_SECRET_ARN`). Every rejection names its variable.

use super::{ConfigError, Env};

/// Azure's public cloud.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelOptions {
    /// `SENTINEL_DCR_ID`: the rule's immutable id, `dcr-` and 32 hex digits.
    pub dcr_id: String,
    /// `SENTINEL_STREAM`: the rule's input stream, e.g. `Custom-GuardDutyFindings`.
    pub stream: String,
    /// `AZURE_TENANT_ID`: a GUID or a verified domain.
    pub tenant_id: String,
    /// `AZURE_CLIENT_ID`: the app's (client) id, a GUID.
    pub client_id: String,
    /// `AZURE_AUTHORITY_HOST` without a trailing `/`.
    pub authority_host: String,
}

impl SentinelOptions {
    /// Where the client-credentials token is asked for.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_host, self.tenant_id
        )
    }
}

/// Reads the preset's settings; `allow_http` (`COLLECTOR_ALLOW_HTTP`) lets the authority be
/// plain http, for local testing only.
pub(super) fn parse(env: &Env<'_>, allow_http: bool) -> Result<SentinelOptions, ConfigError> {
    let dcr_id = required(
        env,
        "SENTINEL_DCR_ID",
        is_dcr_id,
        "the data collection rule's immutable id: dcr- and 32 hex digits (the rule's JSON view, immutableId)",
    )?;
    let stream = required(
        env,
        "SENTINEL_STREAM",
        is_stream,
        "a stream the rule declares, such as Custom-GuardDutyFindings (letters, digits, - and _)",
    )?;
    let tenant_id = required(
        env,
        "AZURE_TENANT_ID",
        is_tenant,
        "the directory (tenant) id: a GUID or a domain such as contoso.onmicrosoft.com",
    )?;
    let client_id = required(
        env,
        "AZURE_CLIENT_ID",
        is_guid,
        "the app's application (client) id: a GUID",
    )?;
    let authority_host = env
        .string("AZURE_AUTHORITY_HOST")
        .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.into())
        .trim_end_matches('/')
        .to_string();
    let scheme_ok = authority_host.starts_with("https://")
        || (allow_http && authority_host.starts_with("http://"));
    let host_ok = authority_host
        .parse::<hyper::Uri>()
        .ok()
        .is_some_and(|u| u.host().is_some_and(|h| !h.is_empty()) && u.path().len() <= 1);
    if !scheme_ok || !host_ok {
        return Err(ConfigError::Invalid {
            var: "AZURE_AUTHORITY_HOST",
            value: authority_host,
            reason: "expected an https:// host without a path, such as \
                     https://login.microsoftonline.com or https://login.microsoftonline.us"
                .into(),
        });
    }
    Ok(SentinelOptions {
        dcr_id,
        stream,
        tenant_id,
        client_id,
        authority_host,
    })
}

fn required(
    env: &Env<'_>,
    var: &'static str,
    ok: fn(&str) -> bool,
    rule: &str,
) -> Result<String, ConfigError> {
    match env.string(var) {
        None => Err(ConfigError::Rejected {
            var,
            reason: format!("is required with COLLECTOR_FORMAT=sentinel: {rule}"),
        }),
        Some(v) if !ok(&v) => Err(ConfigError::Invalid {
            var,
            value: v,
            reason: rule.into(),
        }),
        Some(v) => Ok(v),
    }
}

fn is_guid(v: &str) -> bool {
    let groups: Vec<&str> = v.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_tenant(v: &str) -> bool {
    is_guid(v)
        || (v.len() <= 253
            && v.contains('.')
            && v.split('.').all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
}

fn is_dcr_id(v: &str) -> bool {
    v.strip_prefix("dcr-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_stream(v: &str) -> bool {
    (1..=255).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[(&str, &str)] = &[
        ("SENTINEL_DCR_ID", "dcr-0123456789abcdef0123456789abcdef"),
        ("SENTINEL_STREAM", "Custom-GuardDutyFindings"),
        ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("AZURE_CLIENT_ID", "00000000-1111-2222-3333-444444444444"),
    ];

    fn read(vars: &[(&str, &str)], allow_http: bool) -> Result<SentinelOptions, ConfigError> {
        let get = |k: &str| {
            vars.iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        parse(&Env(&get), allow_http)
    }

    #[test]
    fn the_token_is_asked_of_the_public_cloud_unless_another_authority_is_named() {
        let o = read(GOOD, false).unwrap();
        assert_eq!(
            o.token_url(),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
        );
        let mut vars = GOOD.to_vec();
        vars.push(("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"));
        vars.push(("AZURE_TENANT_ID", "contoso.onmicrosoft.com"));
        let o = read(&vars, false).unwrap();
        assert_eq!(
            o.token_url(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
    }

    #[test]
    fn each_missing_or_bad_setting_is_rejected_naming_its_variable() {
        for var in [
            "SENTINEL_DCR_ID",
            "SENTINEL_STREAM",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
        ] {
            let vars: Vec<(&str, &str)> = GOOD.iter().copied().filter(|(k, _)| *k != var).collect();
            assert!(
                matches!(read(&vars, false), Err(ConfigError::Rejected { var: v, .. }) if v == var),
                "{var}"
            );
        }
        let bad = [
            ("SENTINEL_DCR_ID", "0123456789abcdef0123456789abcdef"),
            ("SENTINEL_STREAM", "Custom GuardDuty"),
            ("AZURE_TENANT_ID", "not a tenant"),
            ("AZURE_CLIENT_ID", "my-app"),
            ("AZURE_AUTHORITY_HOST", "http://login.example"),
            ("AZURE_AUTHORITY_HOST", "https://login.example/tenant"),
        ];
        for (var, value) in bad {
            let mut vars = GOOD.to_vec();
            vars.push((var, value));
            assert!(
                matches!(read(&vars, false), Err(ConfigError::Invalid { var: v, .. }) if v == var),
                "{var}={value}"
            );
        }
        let mut vars = GOOD.to_vec();
        vars.push(("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8443"));
        assert!(
            read(&vars, true).is_ok(),
            "plain http only for local testing"
        );
    }
}
