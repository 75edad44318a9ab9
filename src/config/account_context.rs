//! The account-context settings (`ACCOUNT_CONTEXT`, `ACCOUNT_NAMES`,
//! `ACCOUNT_NAMES_PARAMETER`, `ACCOUNT_CONTEXT_TTL_SECONDS`): where each record's account
//! name, OU path and tags come from. `crate::context` looks them up; docs/account-context.md
//! says what a user sets.
//!
//! Invariant (unit-tested below): a rejection names the variable, and never quotes the
//! mapping document (a [`ConfigError::Rejected`]).

use std::sync::Arc;
use std::time::Duration;

use super::ConfigError;
use super::account_mapping::Mapping;

/// The default time-to-live of what is looked up.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Where account context comes from (`ACCOUNT_CONTEXT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Off,
    Mapping,
    Organizations,
}

/// Where the mapping document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingSource {
    /// `ACCOUNT_NAMES`, read at start-up.
    Inline(Arc<Mapping>),
    /// `ACCOUNT_NAMES_PARAMETER`: an SSM parameter's name or ARN, read when first needed and
    /// again after each time-to-live.
    Parameter(String),
}

/// The account-context settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub source: Source,
    pub mapping: Option<MappingSource>,
    pub ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            source: Source::Off,
            mapping: None,
            ttl: DEFAULT_TTL,
        }
    }
}

impl Settings {
    /// Reads `ACCOUNT_CONTEXT`, `ACCOUNT_NAMES`, `ACCOUNT_NAMES_PARAMETER` and
    /// `ACCOUNT_CONTEXT_TTL_SECONDS` through `get`; an empty value counts as unset.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mapping = match (get("ACCOUNT_NAMES"), get("ACCOUNT_NAMES_PARAMETER")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Rejected {
                    var: "ACCOUNT_NAMES_PARAMETER",
                    reason: "is set and so is ACCOUNT_NAMES: give the mapping one way".into(),
                });
            }
            (Some(text), None) => {
                let m = Mapping::parse(&text).map_err(|e| ConfigError::Rejected {
                    var: "ACCOUNT_NAMES",
                    reason: e.to_string(),
                })?;
                Some(MappingSource::Inline(Arc::new(m)))
            }
            (None, Some(name)) => {
                let name = name.trim().to_string();
                if name.len() > 2048 || name.chars().any(char::is_whitespace) {
                    return Err(ConfigError::Invalid {
                        var: "ACCOUNT_NAMES_PARAMETER",
                        value: name,
                        reason: "not an SSM parameter name or ARN".into(),
                    });
                }
                Some(MappingSource::Parameter(name))
            }
            (None, None) => None,
        };
        // `auto` (the template's default) is unset.
        let source = match get("ACCOUNT_CONTEXT")
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| v != "auto")
        {
            None if mapping.is_some() => Source::Mapping,
            None => Source::Off,
            Some(v) => match v.as_str() {
                "off" => Source::Off,
                "organizations" => Source::Organizations,
                "mapping" if mapping.is_some() => Source::Mapping,
                "mapping" => {
                    return Err(ConfigError::Invalid {
                        var: "ACCOUNT_CONTEXT",
                        value: v,
                        reason: "needs ACCOUNT_NAMES or ACCOUNT_NAMES_PARAMETER".into(),
                    });
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "ACCOUNT_CONTEXT",
                        value: v,
                        reason: "expected organizations, mapping, off or auto".into(),
                    });
                }
            },
        };
        let ttl = match get("ACCOUNT_CONTEXT_TTL_SECONDS") {
            None => DEFAULT_TTL,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => Duration::from_secs(n),
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "ACCOUNT_CONTEXT_TTL_SECONDS",
                        value: v,
                        reason: "expected a whole number of seconds from 1 to 86400".into(),
                    });
                }
            },
        };
        Ok(Settings {
            source,
            mapping,
            ttl,
        })
    }
}

/// Whether `s` is an AWS account id (12 digits).
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(&move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_source_is_the_mapping_when_one_is_given_else_off_unless_chosen() {
        assert_eq!(settings(&[]).unwrap(), Settings::default());
        let m = settings(&[("ACCOUNT_NAMES", r#"{"111122223333": "prod"}"#)]).unwrap();
        assert_eq!(m.source, Source::Mapping);
        let p = settings(&[("ACCOUNT_NAMES_PARAMETER", "/gdf/accounts")]).unwrap();
        assert_eq!(
            (p.source, p.mapping),
            (
                Source::Mapping,
                Some(MappingSource::Parameter("/gdf/accounts".into()))
            )
        );
        assert_eq!(
            settings(&[("ACCOUNT_CONTEXT", "auto")]).unwrap(),
            Settings::default()
        );
        let o = settings(&[("ACCOUNT_CONTEXT", "Organizations")]).unwrap();
        assert_eq!((o.source, o.mapping), (Source::Organizations, None));
        let off = settings(&[
            ("ACCOUNT_CONTEXT", "off"),
            ("ACCOUNT_NAMES", r#"{"111122223333": "prod"}"#),
        ])
        .unwrap();
        assert_eq!(off.source, Source::Off);
        let ttl = settings(&[("ACCOUNT_CONTEXT_TTL_SECONDS", "60")]).unwrap();
        assert_eq!(ttl.ttl, Duration::from_secs(60));
        assert_eq!(
            settings(&[("ACCOUNT_NAMES", " ")]).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn a_bad_setting_is_refused_naming_the_variable() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("ACCOUNT_CONTEXT", "ldap")], "ACCOUNT_CONTEXT"),
            (&[("ACCOUNT_CONTEXT", "mapping")], "ACCOUNT_CONTEXT"),
            (
                &[("ACCOUNT_CONTEXT_TTL_SECONDS", "0")],
                "ACCOUNT_CONTEXT_TTL_SECONDS",
            ),
            (&[("ACCOUNT_NAMES", "{\"x\": 1}")], "ACCOUNT_NAMES"),
            (
                &[("ACCOUNT_NAMES_PARAMETER", "a b")],
                "ACCOUNT_NAMES_PARAMETER",
            ),
            (
                &[
                    ("ACCOUNT_NAMES", "{}"),
                    ("ACCOUNT_NAMES_PARAMETER", "/gdf/accounts"),
                ],
                "ACCOUNT_NAMES_PARAMETER",
            ),
        ];
        for (vars, var) in cases {
            let e = settings(vars).unwrap_err();
            assert!(e.to_string().starts_with(var), "{e}");
        }
        let e =
            settings(&[("ACCOUNT_NAMES", r#"{"111122223333": {"tags": "SEKRET"}}"#)]).unwrap_err();
        assert!(matches!(e, ConfigError::Rejected { .. }), "{e}");
        assert!(!e.to_string().contains("SEKRET"), "{e}");
    }
}
