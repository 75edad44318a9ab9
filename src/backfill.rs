//! Scheduled backfill from the GuardDuty API.

use crate::app::App;
use crate::pipeline::Outcome;
use crate::retry::Deadline;

/// Runs one scheduled backfill.
pub async fn run_scheduled(_app: &App, _deadline: Deadline) -> Result<Outcome, String> {
    tracing::warn!(message = "Scheduled event received; backfill is not available in this build.");
    Ok(Outcome::default())
}
