//! Pruned views of JSON: parse only the members a reader needs, skip the rest without
//! allocating for it.
//!
//! A [`Keep`] tree names what to keep. [`Pruned`] parses a value with it into an ordinary
//! `serde_json::Value` that holds the kept members and nothing else.
//!
//! Invariant (checked by the proptests below and, for the tree normalization uses, by
//! `tests/properties.rs`): for every JSON text, every path the tree names reads the same in the
//! pruned view as in the full parse — same value, same absence, and the same winner when a
//! key repeats — and every other member is absent. Keys match in the camelCase spelling the
//! tree gives and in its PascalCase twin (`accountId`, `AccountId`), the two shapes GuardDuty
//! findings come in. A tree applies to every element of an array it meets; a scalar where an
//! object was expected is kept as it is.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// What to keep of a value.
#[derive(Debug, Clone, Copy)]
pub enum Keep {
    /// The whole value.
    All,
    /// These members only (camelCase; the PascalCase twin matches too), each with what to
    /// keep of it.
    Members(&'static [(&'static str, Keep)]),
}

impl Keep {
    /// What to keep of the member `key`, or `None` when it is skipped.
    pub fn member(self, key: &str) -> Option<Keep> {
        match self {
            Keep::All => Some(Keep::All),
            Keep::Members(members) => members
                .iter()
                .find(|(name, _)| key_matches(name, key))
                .map(|(_, keep)| *keep),
        }
    }
}

/// `key` is `name` or `name` with its first letter in upper case.
fn key_matches(name: &str, key: &str) -> bool {
    let (n, k) = (name.as_bytes(), key.as_bytes());
    match (n.split_first(), k.split_first()) {
        (Some((n0, n_rest)), Some((k0, k_rest))) => {
            n_rest == k_rest && (k0 == n0 || *k0 == n0.to_ascii_uppercase())
        }
        _ => n.is_empty() && k.is_empty(),
    }
}

/// Parses one value keeping what `self.0` names.
#[derive(Debug, Clone, Copy)]
pub struct Pruned(pub Keep);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            Keep::All => serde::Deserialize::deserialize(deserializer),
            Keep::Members(_) => deserializer.deserialize_any(PrunedVisitor(self.0)),
        }
    }
}

/// Reads one member's key and says whether it is kept, allocating only for kept keys.
struct KeySeed(Keep);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<(String, Keep)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<(String, Keep)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.member(key).map(|keep| (key.to_owned(), keep)))
    }
}

/// Visits one value of a pruned parse.
struct PrunedVisitor(Keep);

impl PrunedVisitor {
    /// Adds the members of `map` to `out`, keeping what the tree names; a repeated key keeps
    /// its last value, as a full parse does.
    fn members<'de, A: MapAccess<'de>>(
        self,
        map: &mut A,
        out: &mut Map<String, Value>,
    ) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            match key {
                Some((key, keep)) => {
                    let value = map.next_value_seed(Pruned(keep))?;
                    out.insert(key, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for PrunedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        self.members(&mut map, &mut out)?;
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Pruned(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Parses `json` keeping what `keep` names.
pub fn parse(json: &str, keep: Keep) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(json);
    let value = Pruned(keep).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const TREE: Keep = Keep::Members(&[
        ("id", Keep::All),
        (
            "service",
            Keep::Members(&[
                ("count", Keep::All),
                ("action", Keep::Members(&[("actionType", Keep::All)])),
            ]),
        ),
        ("list", Keep::Members(&[("name", Keep::All)])),
    ]);

    /// What `TREE` keeps of a fully parsed value: the reference the parser is checked against.
    fn prune(v: &Value, keep: Keep) -> Value {
        match (v, keep) {
            (_, Keep::All) => v.clone(),
            (Value::Object(o), Keep::Members(_)) => Value::Object(
                o.iter()
                    .filter_map(|(k, v)| keep.member(k).map(|kk| (k.clone(), prune(v, kk))))
                    .collect(),
            ),
            (Value::Array(items), _) => {
                Value::Array(items.iter().map(|i| prune(i, keep)).collect())
            }
            (other, _) => other.clone(),
        }
    }

    #[test]
    fn only_the_named_members_are_kept_in_either_spelling() {
        let text = r#"{"Id": "a", "title": "t", "service": {"Count": 3, "archived": false,
            "Action": {"actionType": "X", "big": [1, 2, {"a": "b"}]}}, "list": [{"name": 1, "x": 2}, 5]}"#;
        assert_eq!(
            parse(text, TREE).unwrap(),
            json!({"Id": "a", "service": {"Count": 3, "Action": {"actionType": "X"}},
                   "list": [{"name": 1}, 5]})
        );
    }

    #[test]
    fn only_the_first_letter_may_change_case() {
        assert!(key_matches("accountId", "AccountId"));
        assert!(key_matches("accountId", "accountId"));
        assert!(!key_matches("accountId", "ACCOUNTID"));
        assert!(!key_matches("accountId", "accountid"));
        assert!(!key_matches("id", ""));
        assert!(key_matches("", ""));
    }

    #[test]
    fn broken_json_is_an_error_even_inside_skipped_members() {
        assert!(parse(r#"{"skipped": [1, 2}"#, TREE).is_err());
        assert!(parse(r#"{"id": "a"} trailing"#, TREE).is_err());
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("id".to_string()),
            Just("Id".to_string()),
            Just("service".to_string()),
            Just("Service".to_string()),
            Just("count".to_string()),
            Just("action".to_string()),
            Just("Action".to_string()),
            Just("actionType".to_string()),
            Just("list".to_string()),
            Just("name".to_string()),
            "[a-zA-Z]{0,6}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-z\"\\\\\u{e9} ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6).prop_map(|kv| {
                    // Serialized by hand below so that repeated keys reach the parser.
                    Value::Array(
                        kv.into_iter()
                            .map(|(k, v)| json!({"$key": k, "$value": v}))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// JSON text of a generated value; `{"$key", "$value"}` lists become objects whose keys
    /// may repeat.
    fn text(v: &Value, out: &mut String) {
        match v {
            Value::Array(items)
                if !items.is_empty()
                    && items
                        .iter()
                        .all(|i| i.get("$key").is_some_and(Value::is_string)) =>
            {
                out.push('{');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(&item["$key"].to_string());
                    out.push(':');
                    text(&item["$value"], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    text(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    proptest! {
        #[test]
        fn a_pruned_parse_equals_the_full_parse_pruned(v in value()) {
            let mut json = String::new();
            text(&v, &mut json);
            let full: Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(parse(&json, TREE).unwrap(), prune(&full, TREE));
        }
    }
}
