//! The mapping document: account context a user writes down, for accounts whose function may
//! not read AWS Organizations (or to name accounts it does not know). A JSON object keyed by
//! 12-digit account id, each value either the account's name or an object with any of
//! `name`, `ou_path` and `tags` (an object of strings):
//!
//! ```json
//! {"111122223333": "prod-payments",
//!  "444455556666": {"name": "sec-tooling", "ou_path": "Root/Security", "tags": {"owner": "secops"}}}
//! ```
//!
//! Invariants (unit-tested below): any text gives a mapping or a [`MappingError`], never a
//! panic; an error names the account and the field, and quotes none of the document's text
//! beyond a key cut to 20 characters (a mapping is not secret, but a pasted document may hold
//! anything).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::normalize::AccountContext;

/// The longest name, OU path, tag key or tag value kept.
const MAX_TEXT: usize = 1024;

/// Whether `s` is an AWS account id (12 digits).
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Account id → what the document says of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping(BTreeMap<String, Arc<AccountContext>>);

/// Why a mapping document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("not a JSON object keyed by account id ({why})")]
    NotAnObject { why: String },
    #[error("{key:?} is not an account id (12 digits)")]
    NotAnAccount { key: String },
    #[error("account {account}: {why}")]
    BadEntry { account: String, why: String },
}

impl Mapping {
    /// Reads a mapping document (see the module doc).
    pub fn parse(text: &str) -> Result<Mapping, MappingError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| MappingError::NotAnObject {
            why: format!(
                "{:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
        let Value::Object(doc) = doc else {
            return Err(MappingError::NotAnObject {
                why: format!("found {}", crate::normalize::kind_of(&doc)),
            });
        };
        let mut out = BTreeMap::new();
        for (key, value) in doc {
            if !is_account_id(&key) {
                return Err(MappingError::NotAnAccount {
                    key: key.chars().take(20).collect(),
                });
            }
            let context = entry(&value).map_err(|why| MappingError::BadEntry {
                account: key.clone(),
                why,
            })?;
            out.insert(key, Arc::new(context));
        }
        Ok(Mapping(out))
    }

    pub fn get(&self, account: &str) -> Option<&Arc<AccountContext>> {
        self.0.get(account)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One account's value: a name, or an object of `name`, `ou_path`, `tags`.
fn entry(value: &Value) -> Result<AccountContext, String> {
    match value {
        Value::String(name) => Ok(AccountContext {
            name: Some(text("the name", name)?),
            ..AccountContext::default()
        }),
        Value::Object(fields) => object_entry(fields),
        other => Err(format!(
            "expected a name or an object with name, ou_path, tags (found {})",
            crate::normalize::kind_of(other)
        )),
    }
}

fn object_entry(fields: &Map<String, Value>) -> Result<AccountContext, String> {
    let mut context = AccountContext::default();
    for (field, value) in fields {
        match (field.as_str(), value) {
            ("name", Value::String(s)) => context.name = Some(text("name", s)?),
            ("ou_path", Value::String(s)) => context.ou_path = Some(text("ou_path", s)?),
            ("tags", Value::Object(tags)) => {
                for (k, v) in tags {
                    let Value::String(v) = v else {
                        return Err(format!(
                            "tags: the value of {:?} is {}, not a string",
                            cut(k),
                            crate::normalize::kind_of(v)
                        ));
                    };
                    context
                        .tags
                        .insert(text("a tag key", k)?, text("a tag value", v)?);
                }
            }
            ("name" | "ou_path" | "tags", other) => {
                let expected = if field == "tags" {
                    "an object of strings"
                } else {
                    "a string"
                };
                return Err(format!(
                    "{field}: expected {expected} (found {})",
                    crate::normalize::kind_of(other)
                ));
            }
            (unknown, _) => {
                return Err(format!(
                    "unknown field {:?} (expected name, ou_path, tags)",
                    cut(unknown)
                ));
            }
        }
    }
    Ok(context)
}

/// A non-empty text of at most [`MAX_TEXT`] characters.
fn text(what: &str, s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.chars().count() > MAX_TEXT {
        return Err(format!("{what} is longer than {MAX_TEXT} characters"));
    }
    Ok(s.to_string())
}

fn cut(s: &str) -> String {
    s.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_alone_or_an_object_of_name_ou_path_and_tags_is_read() {
        let m = Mapping::parse(
            r#"{"111122223333": "prod-payments",
                "444455556666": {"name": "sec", "ou_path": "Root/Security", "tags": {"owner": "secops"}},
                "777788889999": {"tags": {"env": "dev"}}}"#,
        )
        .unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m.get("111122223333").unwrap().name.as_deref(),
            Some("prod-payments")
        );
        let sec = m.get("444455556666").unwrap();
        assert_eq!(sec.ou_path.as_deref(), Some("Root/Security"));
        assert_eq!(sec.tags.get("owner").map(String::as_str), Some("secops"));
        assert_eq!(m.get("777788889999").unwrap().name, None);
        assert!(m.get("000000000000").is_none());
        assert!(Mapping::parse("{}").unwrap().is_empty());
    }

    #[test]
    fn a_bad_document_is_refused_naming_the_account_and_the_field() {
        let cases = [
            (
                "[1]",
                "not a JSON object keyed by account id (found an array)",
            ),
            (
                "{\"1111\": \"x\"}",
                "\"1111\" is not an account id (12 digits)",
            ),
            (
                r#"{"111122223333": 5}"#,
                "account 111122223333: expected a name or an object with name, ou_path, tags (found a number)",
            ),
            (
                r#"{"111122223333": {"nmae": "x"}}"#,
                "account 111122223333: unknown field \"nmae\" (expected name, ou_path, tags)",
            ),
            (
                r#"{"111122223333": {"tags": {"a": 1}}}"#,
                "account 111122223333: tags: the value of \"a\" is a number, not a string",
            ),
            (
                r#"{"111122223333": {"tags": ["a"]}}"#,
                "account 111122223333: tags: expected an object of strings (found an array)",
            ),
            (
                r#"{"111122223333": " "}"#,
                "account 111122223333: the name is empty",
            ),
        ];
        for (doc, expected) in cases {
            assert_eq!(
                Mapping::parse(doc).unwrap_err().to_string(),
                expected,
                "{doc}"
            );
        }
    }

    #[test]
    fn a_document_that_is_not_json_is_named_by_position_not_by_its_text() {
        let e = Mapping::parse("{\"111122223333\": \"SEKRET").unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("line 1"), "{shown}");
        assert!(!shown.contains("SEKRET"), "{shown}");
    }

    proptest::proptest! {
        #[test]
        fn any_text_gives_a_mapping_or_an_error(text in ".{0,200}") {
            let _ = Mapping::parse(&text);
        }

        #[test]
        fn any_json_gives_a_mapping_or_an_error(
            entries in proptest::collection::vec(("[0-9]{10,13}", "[a-z ]{0,8}"), 0..5)
        ) {
            let doc: serde_json::Map<String, Value> = entries
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            let _ = Mapping::parse(&Value::Object(doc).to_string());
        }
    }
}
