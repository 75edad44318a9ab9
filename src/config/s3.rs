//! The Amazon S3 destination's settings: the bucket, the key prefix and an optional SSE-KMS
//! key, read through whichever names the caller gives ([`S3Keys`]): the environment's
//! `S3_BUCKET`, `S3_PREFIX`, `S3_KMS_KEY_ID`, or a `DESTINATIONS` entry's `bucket`, `prefix`,
//! `kms_key_id`. Every rejection names the key. Empty values count as unset.

use super::{ConfigError, Env};

/// Where the S3 destination writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Destination {
    pub bucket: String,
    /// The key prefix without `/` at either end; empty: the bucket's top.
    pub prefix: String,
    /// SSE-KMS with this key (id, ARN or alias); `None`: the bucket's default encryption.
    pub kms_key_id: Option<String>,
}

impl S3Destination {
    /// `prefix/` (empty when there is no prefix): what every key starts with.
    pub fn key_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }
}

/// The names the S3 settings are read under.
#[derive(Debug, Clone, Copy)]
pub struct S3Keys {
    pub bucket: &'static str,
    pub prefix: &'static str,
    pub kms_key_id: &'static str,
}

/// The environment's names.
pub const S3_VARIABLES: S3Keys = S3Keys {
    bucket: "S3_BUCKET",
    prefix: "S3_PREFIX",
    kms_key_id: "S3_KMS_KEY_ID",
};

/// A `DESTINATIONS` entry's names.
pub const S3_ENTRY_KEYS: S3Keys = S3Keys {
    bucket: "bucket",
    prefix: "prefix",
    kms_key_id: "kms_key_id",
};

/// Reads the S3 destination; `None` when no bucket is named (and nothing else is set).
pub fn parse(env: &Env<'_>, keys: &S3Keys) -> Result<Option<S3Destination>, ConfigError> {
    let Some(bucket) = env.string(keys.bucket) else {
        for var in [keys.prefix, keys.kms_key_id] {
            if env.string(var).is_some() {
                return Err(ConfigError::Rejected {
                    var,
                    reason: format!(
                        "is set but {} is not: without a bucket it would be ignored",
                        keys.bucket
                    ),
                });
            }
        }
        return Ok(None);
    };
    if let Err(reason) = check_bucket(&bucket) {
        return Err(ConfigError::Invalid {
            var: keys.bucket,
            value: bucket,
            reason: reason.into(),
        });
    }
    let prefix = env
        .string(keys.prefix)
        .map(|p| p.trim_matches('/').to_string())
        .unwrap_or_default();
    if let Err(reason) = check_prefix(&prefix) {
        return Err(ConfigError::Invalid {
            var: keys.prefix,
            value: prefix,
            reason: reason.into(),
        });
    }
    let kms_key_id = env.string(keys.kms_key_id);
    if let Some(key) = &kms_key_id
        && (key.len() > 2048 || !key.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(ConfigError::Invalid {
            var: keys.kms_key_id,
            value: key.clone(),
            reason: "expected a KMS key id, key ARN or alias (alias/NAME)".into(),
        });
    }
    Ok(Some(S3Destination {
        bucket,
        prefix,
        kms_key_id,
    }))
}

/// S3's bucket naming rules (general purpose buckets), and the usual mistakes named.
fn check_bucket(name: &str) -> Result<(), &'static str> {
    if name.starts_with("s3://") || name.starts_with("arn:") {
        return Err("expected the bucket's name alone (no s3:// and no ARN)");
    }
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err("not a bucket name (3-63 lowercase letters, digits, . and -)")
    }
}

/// A key prefix: printable, no empty or `.`/`..` segments, short enough to leave room for
/// the partitions and the object's name within S3's 1,024 bytes.
fn check_prefix(prefix: &str) -> Result<(), &'static str> {
    if prefix.is_empty() {
        return Ok(());
    }
    let printable = !prefix.chars().any(char::is_control);
    let segments_ok = prefix
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != "..");
    if prefix.len() > 512 || !printable || !segments_ok {
        return Err(
            "expected a key prefix of at most 512 printable bytes, without empty, . or .. segments (e.g. guardduty/findings)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Option<S3Destination>, ConfigError> {
        let get = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        parse(&Env(&get), &S3_VARIABLES)
    }

    fn rejected(vars: &[(&str, &str)]) -> &'static str {
        match read(vars) {
            Err(ConfigError::Invalid { var, .. } | ConfigError::Rejected { var, .. }) => var,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn a_bucket_with_a_prefix_and_a_key_is_read_with_the_prefix_trimmed_of_slashes() {
        let d = read(&[
            ("S3_BUCKET", "gd-archive.example"),
            ("S3_PREFIX", "/guardduty/findings/"),
            ("S3_KMS_KEY_ID", "alias/gd"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(d.bucket, "gd-archive.example");
        assert_eq!(d.prefix, "guardduty/findings");
        assert_eq!(d.key_prefix(), "guardduty/findings/");
        assert_eq!(d.kms_key_id.as_deref(), Some("alias/gd"));
        let bare = read(&[("S3_BUCKET", "gd-archive"), ("S3_PREFIX", "")])
            .unwrap()
            .unwrap();
        assert_eq!(bare.key_prefix(), "");
        assert_eq!(read(&[]).unwrap(), None);
    }

    #[test]
    fn each_bad_setting_is_rejected_naming_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("S3_BUCKET", "s3://gd-archive")], "S3_BUCKET"),
            (&[("S3_BUCKET", "arn:aws:s3:::gd-archive")], "S3_BUCKET"),
            (&[("S3_BUCKET", "GD_Archive")], "S3_BUCKET"),
            (&[("S3_BUCKET", "ab")], "S3_BUCKET"),
            (&[("S3_BUCKET", "b1"), ("S3_PREFIX", "a//b")], "S3_BUCKET"),
            (
                &[("S3_BUCKET", "bucket"), ("S3_PREFIX", "a//b")],
                "S3_PREFIX",
            ),
            (
                &[("S3_BUCKET", "bucket"), ("S3_PREFIX", "a/../b")],
                "S3_PREFIX",
            ),
            (
                &[("S3_BUCKET", "bucket"), ("S3_KMS_KEY_ID", "a b")],
                "S3_KMS_KEY_ID",
            ),
            (&[("S3_PREFIX", "findings")], "S3_PREFIX"),
            (&[("S3_KMS_KEY_ID", "alias/gd")], "S3_KMS_KEY_ID"),
        ];
        for (vars, var) in cases {
            assert_eq!(rejected(vars), *var, "for {vars:?}");
        }
    }

    #[test]
    fn a_destinations_entry_is_read_under_its_own_names() {
        let get = |k: &str| match k {
            "bucket" => Some("gd-archive".to_string()),
            "prefix" => Some("gd".to_string()),
            _ => None,
        };
        let d = parse(&Env(&get), &S3_ENTRY_KEYS).unwrap().unwrap();
        assert_eq!((d.bucket.as_str(), d.prefix.as_str()), ("gd-archive", "gd"));
        let bad = |k: &str| (k == "bucket").then(|| "Bad".to_string());
        assert!(matches!(
            parse(&Env(&bad), &S3_ENTRY_KEYS),
            Err(ConfigError::Invalid { var: "bucket", .. })
        ));
    }
}
