//! Routing: which destinations a finding goes to. Each destination has a [`Filter`]; a record
//! goes to every destination whose filter admits it, and [`Filter::admits`] says why one does
//! not (what `forward --explain` prints). Pure: no I/O, no configuration reading.
//!
//! Invariants (checked by the property tests below):
//! - The empty filter admits every record.
//! - A filter admits a record exactly when every one of its conditions does: conditions
//!   combine with AND, the values listed within one condition with OR.
//! - A record without a readable severity passes `min_severity` (nothing is dropped on a
//!   guess); a record without a `count` passes `updates: new_only`.
//! - Glob patterns match the whole finding type, ASCII case-insensitively; `*` matches any run
//!   of characters (also `/` and `:`), `?` exactly one.

use crate::normalize::Severity;

/// Which versions of a finding a destination wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Updates {
    /// Every version GuardDuty publishes (a finding is updated each time its activity recurs).
    #[default]
    All,
    /// Only a finding's first occurrence: `service.count` of 1 (or absent).
    NewOnly,
}

/// One destination's conditions. Empty lists mean "any".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub min_severity: Option<Severity>,
    pub types: Vec<String>,
    pub exclude_types: Vec<String>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub resource_types: Vec<String>,
    pub include_samples: bool,
    pub updates: Updates,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            min_severity: None,
            types: Vec::new(),
            exclude_types: Vec::new(),
            accounts: Vec::new(),
            regions: Vec::new(),
            resource_types: Vec::new(),
            include_samples: true,
            updates: Updates::All,
        }
    }
}

/// What a filter looks at in a record.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    pub severity: Option<Severity>,
    pub finding_type: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub region: Option<&'a str>,
    pub resource_type: Option<&'a str>,
    pub sample: bool,
    pub count: Option<u64>,
}

/// Why a filter did not admit a record: the first condition that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Miss {
    #[error("severity {got} is below min_severity {min}")]
    Severity {
        got: &'static str,
        min: &'static str,
    },
    #[error("type {got:?} matches none of types")]
    Type { got: String },
    #[error("type {got:?} matches exclude_types pattern {pattern:?}")]
    Excluded { got: String, pattern: String },
    #[error("account {got:?} is not in accounts")]
    Account { got: String },
    #[error("region {got:?} is not in regions")]
    Region { got: String },
    #[error("resource type {got:?} is not in resource_types")]
    ResourceType { got: String },
    #[error("a sample finding, and include_samples is false")]
    Sample,
    #[error("an update (count {count}), and updates is new_only")]
    Update { count: u64 },
}

impl Filter {
    /// Whether nothing is filtered out: every record is admitted.
    pub fn is_open(&self) -> bool {
        *self == Filter::default()
    }

    /// Admits `keys`, or names the first condition it fails.
    pub fn admits(&self, keys: &Keys<'_>) -> Result<(), Miss> {
        if let (Some(min), Some(got)) = (self.min_severity, keys.severity)
            && got < min
        {
            return Err(Miss::Severity {
                got: got.as_str(),
                min: min.as_str(),
            });
        }
        let ty = keys.finding_type.unwrap_or_default();
        if !self.types.is_empty() && !self.types.iter().any(|p| glob(p, ty)) {
            return Err(Miss::Type { got: ty.into() });
        }
        if let Some(p) = self.exclude_types.iter().find(|p| glob(p, ty)) {
            return Err(Miss::Excluded {
                got: ty.into(),
                pattern: p.clone(),
            });
        }
        one_of(&self.accounts, keys.account_id, |got| Miss::Account { got })?;
        one_of(&self.regions, keys.region, |got| Miss::Region { got })?;
        one_of(&self.resource_types, keys.resource_type, |got| {
            Miss::ResourceType { got }
        })?;
        if keys.sample && !self.include_samples {
            return Err(Miss::Sample);
        }
        match (self.updates, keys.count) {
            (Updates::NewOnly, Some(count)) if count > 1 => Err(Miss::Update { count }),
            _ => Ok(()),
        }
    }

    /// The filter in words, for `check` and `forward --explain`: `everything` when open.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(min) = self.min_severity {
            parts.push(format!("min_severity {}", min.as_str()));
        }
        for (name, list) in [
            ("types", &self.types),
            ("exclude_types", &self.exclude_types),
            ("accounts", &self.accounts),
            ("regions", &self.regions),
            ("resource_types", &self.resource_types),
        ] {
            if !list.is_empty() {
                parts.push(format!("{name} {}", list.join("|")));
            }
        }
        if !self.include_samples {
            parts.push("no samples".into());
        }
        if self.updates == Updates::NewOnly {
            parts.push("new findings only".into());
        }
        if parts.is_empty() {
            "everything".into()
        } else {
            parts.join(", ")
        }
    }
}

/// `Ok` when `list` is empty or holds `got` (ASCII case-insensitively).
fn one_of(list: &[String], got: Option<&str>, miss: impl Fn(String) -> Miss) -> Result<(), Miss> {
    let got = got.unwrap_or_default();
    if list.is_empty() || list.iter().any(|v| v.eq_ignore_ascii_case(got)) {
        Ok(())
    } else {
        Err(miss(got.into()))
    }
}

/// Whether `pattern` (`*` any run, `?` one character) matches all of `text`, ASCII
/// case-insensitively. Iterative with one backtrack point: linear in practice, never
/// exponential.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c.eq_ignore_ascii_case(&t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(ty: &str) -> Keys<'_> {
        Keys {
            finding_type: Some(ty),
            ..Keys::default()
        }
    }

    #[test]
    fn a_glob_matches_the_whole_type_with_stars_across_slashes_and_colons() {
        assert!(glob(
            "UnauthorizedAccess:*",
            "UnauthorizedAccess:IAMUser/TorIPCaller"
        ));
        assert!(glob("*:EC2/*", "Recon:EC2/PortProbeUnprotectedPort"));
        assert!(glob(
            "recon:ec2/?ortProbe*",
            "Recon:EC2/PortProbeUnprotectedPort"
        ));
        assert!(!glob("Recon:EC2", "Recon:EC2/PortProbeUnprotectedPort"));
        assert!(!glob("*Tor", "UnauthorizedAccess:IAMUser/TorIPCaller"));
        assert!(glob("*", ""));
        assert!(!glob("?", ""));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn each_condition_names_itself_when_it_refuses() {
        let f = Filter {
            min_severity: Some(Severity::High),
            ..Filter::default()
        };
        let k = Keys {
            severity: Some(Severity::Medium),
            ..Keys::default()
        };
        assert_eq!(
            f.admits(&k).unwrap_err().to_string(),
            "severity medium is below min_severity high"
        );
        let f = Filter {
            exclude_types: vec!["*:EC2/*".into()],
            ..Filter::default()
        };
        assert!(matches!(
            f.admits(&keys("Recon:EC2/Portscan")),
            Err(Miss::Excluded { .. })
        ));
        let f = Filter {
            updates: Updates::NewOnly,
            include_samples: false,
            ..Filter::default()
        };
        let updated = Keys {
            count: Some(3),
            ..Keys::default()
        };
        assert_eq!(f.admits(&updated), Err(Miss::Update { count: 3 }));
        let sample = Keys {
            sample: true,
            count: Some(1),
            ..Keys::default()
        };
        assert_eq!(f.admits(&sample), Err(Miss::Sample));
        assert_eq!(f.admits(&Keys::default()), Ok(()));
    }

    #[test]
    fn a_record_without_severity_or_count_is_never_dropped_on_a_guess() {
        let f = Filter {
            min_severity: Some(Severity::Critical),
            updates: Updates::NewOnly,
            ..Filter::default()
        };
        assert_eq!(f.admits(&Keys::default()), Ok(()));
    }

    #[test]
    fn a_filter_describes_itself_in_words() {
        assert_eq!(Filter::default().describe(), "everything");
        let f = Filter {
            min_severity: Some(Severity::High),
            accounts: vec!["111122223333".into(), "444455556666".into()],
            include_samples: false,
            ..Filter::default()
        };
        assert_eq!(
            f.describe(),
            "min_severity high, accounts 111122223333|444455556666, no samples"
        );
    }

    fn severity() -> impl Strategy<Value = Option<Severity>> {
        prop::option::of(prop::sample::select(vec![
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]))
    }

    const TYPES: &[&str] = &[
        "Recon:EC2/PortProbeUnprotectedPort",
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "Policy:S3/BucketBlockPublicAccessDisabled",
    ];
    const PATTERNS: &[&str] = &["*", "Recon:*", "*:EC2/*", "*Tor*", "policy:s3/*", "Nope"];
    const VALUES: &[&str] = &["111122223333", "444455556666", "us-east-1", "eu-west-1"];

    prop_compose! {
        fn any_keys()(severity in severity(), ty in prop::sample::select(TYPES),
                      account in prop::sample::select(VALUES), region in prop::sample::select(VALUES),
                      resource in prop::sample::select(vec!["Instance", "AccessKey", "S3Bucket"]),
                      sample in any::<bool>(), count in prop::option::of(1u64..5))
                     -> (Option<Severity>, &'static str, &'static str, &'static str, &'static str, bool, Option<u64>) {
            (severity, ty, account, region, resource, sample, count)
        }
    }

    fn list(from: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(prop::sample::select(from).prop_map(String::from), 0..3)
    }

    prop_compose! {
        fn any_filter()(min_severity in severity(), types in list(PATTERNS),
                        exclude_types in list(PATTERNS), accounts in list(VALUES),
                        regions in list(VALUES),
                        resource_types in list(&["Instance", "instance", "AccessKey"]),
                        include_samples in any::<bool>(), new_only in any::<bool>()) -> Filter {
            Filter { min_severity, types, exclude_types, accounts, regions, resource_types,
                     include_samples, updates: if new_only { Updates::NewOnly } else { Updates::All } }
        }
    }

    proptest! {
        /// The documented meaning, condition by condition, written independently of `admits`.
        #[test]
        fn a_filter_admits_exactly_what_its_documented_conditions_admit(
            f in any_filter(), (severity, ty, account, region, resource, sample, count) in any_keys()
        ) {
            let k = Keys { severity, finding_type: Some(ty), account_id: Some(account),
                           region: Some(region), resource_type: Some(resource), sample, count };
            let lower = |s: &str| s.to_ascii_lowercase();
            let in_list = |l: &[String], v: &str| l.is_empty() || l.iter().any(|x| lower(x) == lower(v));
            let expected = f.min_severity.is_none_or(|m| severity.is_none_or(|s| s >= m))
                && (f.types.is_empty() || f.types.iter().any(|p| glob(p, ty)))
                && !f.exclude_types.iter().any(|p| glob(p, ty))
                && in_list(&f.accounts, account)
                && in_list(&f.regions, region)
                && in_list(&f.resource_types, resource)
                && (f.include_samples || !sample)
                && (f.updates == Updates::All || count.is_none_or(|c| c <= 1));
            prop_assert_eq!(f.admits(&k).is_ok(), expected);
            prop_assert!(Filter::default().admits(&k).is_ok());
        }

        /// `*` against a regular-expression-free model: a pattern split at its stars matches
        /// when its pieces appear in order, the first at the start and the last at the end.
        #[test]
        fn a_star_glob_matches_as_its_pieces_in_order(
            pieces in prop::collection::vec("[a-c:/]{0,3}", 1..4), text in "[a-c:/]{0,10}"
        ) {
            let pattern = pieces.join("*");
            let mut rest = text.as_str();
            let mut ok = rest.starts_with(pieces[0].as_str());
            if ok { rest = &rest[pieces[0].len()..]; }
            for (i, piece) in pieces.iter().enumerate().skip(1) {
                if !ok { break; }
                if i == pieces.len() - 1 {
                    ok = rest.len() >= piece.len() && rest.ends_with(piece.as_str());
                } else if let Some(at) = rest.find(piece.as_str()) {
                    rest = &rest[at + piece.len()..];
                } else {
                    ok = false;
                }
            }
            if pieces.len() == 1 { ok = text == pieces[0]; }
            prop_assert_eq!(glob(&pattern, &text), ok, "pattern {:?}", pattern);
        }
    }
}
