//! The checkpoint store: one SSM parameter per region × detector (`<CHECKPOINT_PARAMETER>/
//! <region>/<detector>`), holding where the next run starts, the ids already delivered at
//! that millisecond, and the consecutive permanent failures of findings not yet set aside.
//! Kept under SSM's 4 KB limit for standard parameters by remembering fewer ids when needed
//! (forgotten ids are only sent again, never lost).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::BackfillError;
use super::budget::Budget;
use super::quarantine::Strike;
use crate::clock::epoch_ms;

/// SSM's limit for a standard parameter's value.
pub const MAX_VALUE_BYTES: usize = 4096;

/// The stored state of one region × detector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// RFC 3339, millisecond precision: the next run lists `updatedAt >=` this.
    pub updated_at: String,
    /// Ids delivered whose `updatedAt` is exactly `updated_at`.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Findings that failed permanently in the last consecutive runs, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub strikes: BTreeMap<String, Strike>,
    /// Versions delivered recently (id → `updatedAt` in epoch ms), for the rescan.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recent: BTreeMap<String, i64>,
    /// RFC 3339: `recent` holds every version delivered from here on (absent in state
    /// written before the rescan existed: no rescan below the mark then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_floor: Option<String>,
    /// RFC 3339: where the next rescan resumes, when the last one stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescan_at: Option<String>,
    /// Ids GetFindings never returned, skipped for good (kept while they may be listed again).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unfetchable: BTreeSet<String>,
    /// The id of the scheduled event that last ran (a retry of it is skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick: Option<String>,
}

impl Checkpoint {
    /// The start, in epoch milliseconds.
    pub fn start_ms(&self) -> Option<i64> {
        epoch_ms(&self.updated_at)
    }

    /// Where `recent` is complete from, in epoch milliseconds.
    pub fn recent_floor_ms(&self) -> Option<i64> {
        self.recent_floor.as_deref().and_then(epoch_ms)
    }

    /// The JSON stored, shortened to fit [`MAX_VALUE_BYTES`] (SSM, when there is no state
    /// table): the recent versions first, then ids, then strikes.
    pub fn to_value(&self) -> Result<String, serde_json::Error> {
        let mut cp = self.clone();
        loop {
            let value = serde_json::to_string(&cp)?;
            if value.len() <= MAX_VALUE_BYTES {
                return Ok(value);
            }
            // The record of recent versions goes first and whole (one pass, not one
            // serialization per entry): the next rescan then starts at the mark.
            if !cp.recent.is_empty() {
                cp.recent.clear();
                cp.recent_floor = Some(cp.updated_at.clone());
                continue;
            }
            // Then half the remembered ids at a time (sent again, never lost).
            if cp.ids.len() > 1 {
                cp.ids.truncate(cp.ids.len() / 2);
                continue;
            }
            if cp.ids.pop().is_none() && cp.strikes.pop_last().is_none() {
                return Ok(value);
            }
        }
    }
}

/// The parameter name for one region × detector.
pub fn parameter_name(prefix: &str, region: &str, detector: &str) -> String {
    format!("{}/{region}/{detector}", prefix.trim_end_matches('/'))
}

/// Reads a checkpoint; `None` when the parameter does not exist yet.
pub async fn read(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    budget: &Budget,
) -> Result<Option<Checkpoint>, BackfillError> {
    let answer = ssm
        .get_parameter()
        .name(name)
        .customize()
        .config_override(budget.ssm())
        .send()
        .await;
    match answer {
        Ok(out) => {
            let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
            let cp: Checkpoint =
                serde_json::from_str(value).map_err(|e| BackfillError::CheckpointInvalid {
                    name: name.to_string(),
                    problem: e.to_string(),
                })?;
            if cp.start_ms().is_none() {
                return Err(BackfillError::CheckpointInvalid {
                    name: name.to_string(),
                    problem: format!("updated_at {:?} is not an RFC 3339 time", cp.updated_at),
                });
            }
            Ok(Some(cp))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(BackfillError::CheckpointRead {
            name: name.to_string(),
            detail: super::describe(&e),
        }),
    }
}

/// Writes a checkpoint.
pub async fn write(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    cp: &Checkpoint,
    budget: &Budget,
) -> Result<(), BackfillError> {
    let value = cp.to_value().map_err(|e| BackfillError::CheckpointWrite {
        name: name.to_string(),
        detail: e.to_string(),
    })?;
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .customize()
        .config_override(budget.ssm())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| BackfillError::CheckpointWrite {
            name: name.to_string(),
            detail: super::describe(&e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_with_too_many_ids_still_fits_in_a_standard_parameter() {
        let cp = Checkpoint {
            updated_at: "2026-11-22T10:00:00.123Z".into(),
            ids: (0..400).map(|i| format!("{i:064}")).collect(),
            ..Default::default()
        };
        let value = cp.to_value().unwrap();
        assert!(value.len() <= MAX_VALUE_BYTES, "{}", value.len());
        let back: Checkpoint = serde_json::from_str(&value).unwrap();
        assert_eq!(back.updated_at, cp.updated_at);
        assert!(!back.ids.is_empty() && back.ids.iter().all(|i| cp.ids.contains(i)));
    }

    #[test]
    fn a_large_record_of_recent_versions_gives_way_whole_and_the_rescan_starts_at_the_mark() {
        let cp = Checkpoint {
            updated_at: "2026-11-22T10:00:00.123Z".into(),
            ids: vec!["a".into()],
            recent: (0..3000)
                .map(|i| (format!("{i:064}"), i64::from(i)))
                .collect(),
            ..Default::default()
        };
        let back: Checkpoint = serde_json::from_str(&cp.to_value().unwrap()).unwrap();
        assert!(back.recent.is_empty());
        assert_eq!(back.recent_floor.as_deref(), Some(cp.updated_at.as_str()));
        assert_eq!(back.ids, ["a"], "the ids fit once the record is gone");
    }

    #[test]
    fn a_checkpoint_written_before_strikes_existed_is_still_read() {
        let cp: Checkpoint =
            serde_json::from_str(r#"{"updated_at":"2026-11-22T10:00:00.123Z","ids":["a"]}"#)
                .unwrap();
        assert_eq!(cp.ids, ["a"]);
        assert!(cp.strikes.is_empty());
        assert_eq!(
            parameter_name("/gdf/", "us-east-1", "det"),
            "/gdf/us-east-1/det"
        );
    }
}
