//! One region × detector's run, whatever world it runs in: open the window (stored state or
//! lookback), rescan the stretch behind the checkpoint for findings listed late, page through
//! the window with the cursor, deliver page by page, strike and set aside what keeps failing,
//! store the state. Every effect goes through a [`Port`]: `detector.rs` is AWS, the
//! simulation in `sim/` is a seeded model of GuardDuty and the destinations.
//!
//! # Strikes, judged per finding
//!
//! A finding is struck once per run in which its delivery failed, whatever the class, while
//! the destination that failed it delivered other findings in that run; a request refused as
//! a whole is bisected until each refused finding stands alone, so batch-mates are never
//! struck. A finding GetFindings keeps leaving out (a "ghost") is struck the same way. After
//! `BACKFILL_QUARANTINE_AFTER` struck runs a failing finding is set aside in the dead-letter
//! queue and a ghost is skipped (`FindingsUnfetchable`); either stops holding the checkpoint.
//! A destination that delivered nothing all run strikes no one (it is down, not the finding),
//! and keeps the strikes already counted.
//!
//! # State
//!
//! The stored state is the cursor's mark, the strikes, the versions delivered recently (for
//! the rescan) and the scheduled tick that last ran. With a lease (DynamoDB) one run works a
//! detector at a time and a run that lost its lease cannot write; a tick already run (Lambda's
//! async retry of a scheduled event) is skipped, so strikes count scheduled runs.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;
use tracing::{info, warn};

use super::BackfillError;
use super::checkpoint::Checkpoint;
use super::cursor::{Admit, Cursor, State, Stop, Window};
use super::guardduty::finding_id;
use super::quarantine::{self, Strike, Verdict};
use crate::clock::{epoch_ms, format_ms};
use crate::pipeline::{DestinationName, Failure, Outcome};

/// Whatever the cap, one detector's run never takes more than this many times it.
pub const HARD_LIMIT_FACTOR: usize = 20;
/// Versions remembered for the rescan (the oldest are forgotten first: sent again, never lost).
pub const MAX_RECENT: usize = 3000;
/// Unfetchable ids remembered (the oldest skipped are forgotten first: struck again).
pub const MAX_UNFETCHABLE: usize = 200;
/// The pseudo-destination a ghost finding is struck at.
pub const GUARDDUTY: &str = "guardduty";

/// A finding set aside: what the dead-letter message says about it.
#[derive(Debug)]
pub struct SetAside<'a> {
    pub destination: &'a str,
    pub error: &'a str,
    pub strike: &'a Strike,
    pub now: &'a str,
}

/// What the stored state said when the run opened it.
#[derive(Debug)]
pub enum Loaded {
    /// No state yet (first run), or the run has none (fixed window).
    Empty,
    State(Checkpoint),
    /// Another run holds this detector now.
    Held {
        owner: String,
        until_ms: i64,
    },
}

/// The outside world of one detector's run.
#[allow(async_fn_in_trait)]
pub trait Port {
    fn now_ms(&self) -> i64;
    /// Whether the run must stop listing now to leave time to wrap up.
    fn out_of_time(&self) -> bool;
    /// Opens (and leases) the stored state.
    async fn load(&self) -> Result<Loaded, BackfillError>;
    /// Stores the state (and releases the lease); refused when the lease was lost.
    async fn save(&self, state: &Checkpoint) -> Result<(), BackfillError>;
    /// Releases the lease without writing.
    async fn release(&self);
    /// One ListFindings page.
    async fn list(
        &self,
        query: &super::cursor::Query,
    ) -> Result<(Vec<String>, Option<String>), BackfillError>;
    /// GetFindings (asking again for ids left out): the findings, then the ids still missing.
    async fn get(&self, ids: &[String]) -> Result<(Vec<Value>, Vec<String>), BackfillError>;
    /// Delivers findings to every destination.
    async fn deliver(&self, findings: &[Value]) -> Outcome;
    /// Sets a finding aside in the dead-letter queue; `Ok(false)` when there is no queue.
    async fn quarantine(&self, finding: &Value, why: &SetAside<'_>) -> Result<bool, BackfillError>;
}

/// The settings of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cap: usize,
    pub quarantine_after: u32,
    pub settle_ms: i64,
    pub lookback_ms: i64,
    /// How far behind the stored mark each run re-reads (0: no rescan).
    pub rescan_ms: i64,
    /// A fixed window `[start, end)`: no state read or written.
    pub fixed: Option<(i64, i64)>,
    /// Read the state, never write it.
    pub keep_state: bool,
    /// The scheduled event's id: a tick already run is skipped.
    pub tick: Option<String>,
    pub progress: bool,
}

/// What a run carries from page to page besides the cursor.
struct Progress {
    run: DetectorRun,
    strikes: BTreeMap<String, Strike>,
    /// Strikes given this run (one per finding per run).
    struck: HashSet<String>,
    /// Findings this run met and settled (delivered, failed, missing), in either listing.
    met: HashSet<String>,
    /// A listing (the window or the rescan) stopped before its end.
    cut_short: bool,
    /// Failed findings to judge at the end of the run.
    suspects: Vec<Suspect>,
    /// A finding this run met that an earlier run delivered: sent again (once) to tell a
    /// destination that is down from one that refuses only the findings that failed.
    probe: Option<Value>,
    /// Ids skipped as unfetchable, in the order skipped.
    unfetchable: Vec<String>,
    recent: BTreeMap<String, i64>,
    /// Destinations that delivered something this run (so they work).
    working: HashSet<DestinationName>,
    /// Where the next rescan resumes (`None`: the last one finished).
    rescan_at: Option<i64>,
}

fn updated_ms(finding: &Value) -> Option<i64> {
    finding
        .get("updatedAt")
        .and_then(Value::as_str)
        .and_then(epoch_ms)
}

/// Result of one region × detector.
#[derive(Debug)]
pub struct DetectorRun {
    pub scope: String,
    pub outcome: Outcome,
    /// Where the next run starts (for the lag metric): the oldest position not delivered.
    pub reached_ms: Option<i64>,
    /// The run ended where it began while a finding held the checkpoint.
    pub stalled: bool,
    pub errors: Vec<BackfillError>,
}

impl DetectorRun {
    pub fn new(region: &str, detector: &str) -> Self {
        DetectorRun {
            scope: format!("{region}/{detector}"),
            outcome: Outcome::default(),
            reached_ms: None,
            stalled: false,
            errors: Vec::new(),
        }
    }
}

/// Runs one detector through `port`.
pub async fn run<P: Port>(port: &P, plan: &Plan, mut run: DetectorRun) -> DetectorRun {
    let now = port.now_ms();
    let loaded = if plan.fixed.is_some() {
        Loaded::Empty
    } else {
        match port.load().await {
            Ok(l) => l,
            Err(e) => {
                run.errors.push(e);
                return run;
            }
        }
    };
    let previous = match loaded {
        Loaded::Held { owner, until_ms } => {
            info!(message = "Another run holds this detector; skipped.", scope = %run.scope,
                  owner = %owner, until = %format_ms(until_ms));
            return run;
        }
        Loaded::State(cp) => Some(cp),
        Loaded::Empty => None,
    };
    if let (Some(tick), Some(cp)) = (&plan.tick, &previous)
        && cp.tick.as_deref() == Some(tick.as_str())
    {
        info!(message = "This scheduled event already ran (a retry); skipped: the next one does its work.",
              scope = %run.scope);
        port.release().await;
        return run;
    }
    let window = match (&previous, plan.fixed) {
        (_, Some((start, end))) => Window {
            start,
            upper: end.min(now),
        },
        (Some(cp), None) => Window {
            start: cp.start_ms().unwrap_or(0),
            upper: now - plan.settle_ms,
        },
        (None, None) => Window {
            start: now - plan.lookback_ms,
            upper: now - plan.settle_ms,
        },
    };
    let mut p = Progress {
        run,
        strikes: previous
            .as_ref()
            .map(|c| c.strikes.clone())
            .unwrap_or_default(),
        struck: HashSet::new(),
        met: HashSet::new(),
        cut_short: false,
        suspects: Vec::new(),
        probe: None,
        unfetchable: previous
            .as_ref()
            .map(|c| c.unfetchable.iter().cloned().collect())
            .unwrap_or_default(),
        recent: previous.as_ref().map(remembered_recent).unwrap_or_default(),
        working: HashSet::new(),
        rescan_at: previous
            .as_ref()
            .and_then(|c| c.rescan_at.as_deref())
            .and_then(epoch_ms),
    };
    let remembered = previous.as_ref().map(|c| c.ids.clone()).unwrap_or_default();
    let mut cursor = Cursor::new(
        window,
        &remembered,
        plan.cap,
        plan.cap.saturating_mul(HARD_LIMIT_FACTOR),
    );
    pages(port, plan, &mut cursor, &mut p, false).await;
    // After the window, so the destinations' verdicts on it tell an outage from a poison
    // finding met in the rescan.
    if plan.rescan_ms > 0
        && let Some(cp) = &previous
    {
        rescan(port, plan, cp, window.start, &mut p).await;
    }
    judge(port, plan, &mut cursor, &mut p).await;
    close(port, plan, &cursor, previous, p).await
}

/// Re-reads `[mark − rescan, mark)` and delivers the versions never delivered (listed late).
/// A rescan stopped early (cap, deadline, error) resumes where it got to in the next run, so
/// the stretch sliding forward never skips what it had not read yet.
async fn rescan<P: Port>(port: &P, plan: &Plan, cp: &Checkpoint, mark: i64, p: &mut Progress) {
    let want = mark.saturating_sub(plan.rescan_ms);
    let start = p.rescan_at.filter(|r| *r < want).unwrap_or(want);
    let start = start.max(cp.recent_floor_ms().unwrap_or(mark));
    if start >= mark {
        p.rescan_at = None;
        return;
    }
    let window = Window { start, upper: mark };
    let mut cursor = Cursor::new(
        window,
        &[],
        plan.cap,
        plan.cap.saturating_mul(HARD_LIMIT_FACTOR),
    );
    pages(port, plan, &mut cursor, p, true).await;
    if cursor.complete() {
        p.rescan_at = None;
    } else {
        p.cut_short = true;
        p.rescan_at = Some(cursor.mark().ms);
        info!(message = "Rescan stopped early; the next run resumes it.", scope = %p.run.scope,
              reason = cursor.stopped().map_or("undelivered", Stop::as_str));
    }
}

/// Lists, fetches and delivers page by page until the cursor is done or stopped.
async fn pages<P: Port>(port: &P, plan: &Plan, cursor: &mut Cursor, p: &mut Progress, late: bool) {
    while let Some(query) = cursor.query() {
        if port.out_of_time() {
            cursor.stop(Stop::Deadline);
            break;
        }
        let (ids, token) = match port.list(&query).await {
            Ok(page) => page,
            Err(e) => {
                listing_failed(p, e, late);
                cursor.stop(Stop::Error);
                break;
            }
        };
        let take = cursor.listed(&ids, token.as_deref());
        if take.is_empty() {
            continue;
        }
        if port.out_of_time() {
            cursor.stop(Stop::Deadline);
            break;
        }
        match port.get(&take).await {
            Ok((found, missing)) => {
                for id in &missing {
                    let state = ghost(port, plan, id, p).await;
                    p.met.insert(id.clone());
                    cursor.settle(id, state);
                }
                deliver_page(port, plan, cursor, found, p, late).await;
            }
            Err(e) => {
                listing_failed(p, e, late);
                cursor.stop(Stop::Error);
                break;
            }
        }
        if plan.progress && !late {
            eprintln!(
                "backfill: {}: {} finding(s) fetched",
                p.run.scope,
                cursor.taken()
            );
        }
    }
    if cursor.token_repeated() {
        warn!(message = "GuardDuty repeated a nextToken, or its listing of one millisecond kept changing; ending this listing here.",
              scope = %p.run.scope);
    }
}

/// A GuardDuty call failed: an error of the run in its window; in the rescan, which the next
/// run resumes, a warning (nothing behind the checkpoint is lost by it).
fn listing_failed(p: &mut Progress, e: BackfillError, late: bool) {
    if late {
        warn!(message = "Rescan stopped by a GuardDuty error; the next run resumes it.",
              scope = %p.run.scope, error = %e);
    } else {
        p.run.errors.push(e);
    }
}

/// An id ListFindings returns and GetFindings does not: struck like a poison finding, and
/// skipped once it has been struck in enough runs.
async fn ghost<P: Port>(port: &P, plan: &Plan, id: &str, p: &mut Progress) -> State {
    if p.unfetchable.iter().any(|u| u == id) {
        return State::Delivered;
    }
    let now = format_ms(port.now_ms());
    if !p.struck.insert(id.to_string()) {
        return State::Missing;
    }
    match quarantine::strike(&mut p.strikes, id, &now, plan.quarantine_after) {
        Verdict::Hold(s) => {
            warn!(message = "GetFindings did not return a listed finding; the checkpoint stops before it.",
                  scope = %p.run.scope, finding_id = %id, failed_runs = s.runs,
                  skip_after = plan.quarantine_after);
            State::Missing
        }
        Verdict::SetAside(s) => {
            warn!(message = "GetFindings never returned this listed finding; skipped (FindingsUnfetchable).",
                  scope = %p.run.scope, finding_id = %id, failed_runs = s.runs);
            p.strikes.remove(id);
            p.run.outcome.unfetchable += 1;
            p.unfetchable.push(id.to_string());
            State::Delivered
        }
    }
}

/// Delivers one fetched page and settles each of its positions.
async fn deliver_page<P: Port>(
    port: &P,
    plan: &Plan,
    cursor: &mut Cursor,
    found: Vec<Value>,
    p: &mut Progress,
    late: bool,
) {
    let mut page: Vec<Value> = Vec::with_capacity(found.len());
    for f in found {
        let Some(id) = finding_id(&f).map(str::to_owned) else {
            continue;
        };
        let ms = updated_ms(&f);
        let admit = cursor.fetched(&id, ms);
        let seen = ms.is_some_and(|t| p.recent.get(&id) == Some(&t));
        match admit {
            // That very version was delivered already (before a finding that still holds the
            // checkpoint, or by the window before the rescan): not sent again.
            Admit::Deliver if seen => {
                cursor.seen(&id);
                if p.probe.is_none() {
                    p.probe = Some(f);
                }
            }
            Admit::Deliver => page.push(f),
            Admit::Skip => {
                if p.probe.is_none() {
                    p.probe = Some(f);
                }
            }
            Admit::Unknown => {
                warn!(message = "GetFindings returned a finding not asked for; ignored.",
                                    scope = %p.run.scope)
            }
        }
    }
    if page.is_empty() {
        return;
    }
    let mut outcome = isolate(port, page.clone(), p).await;
    if late {
        outcome.late += outcome.forwarded;
    }
    let mut failures: HashMap<String, Vec<Failure>> = HashMap::new();
    for f in &outcome.failures {
        failures
            .entry(f.finding_id.clone())
            .or_default()
            .push(f.clone());
    }
    for finding in &page {
        let Some(id) = finding_id(finding) else {
            continue;
        };
        let state = match failures.get(id) {
            None => {
                p.strikes.remove(id);
                if let Some(t) = updated_ms(finding) {
                    p.recent.insert(id.to_string(), t);
                }
                State::Delivered
            }
            Some(fs) => {
                suspect(plan, finding, id, fs, p, late);
                State::Failed
            }
        };
        p.met.insert(id.to_string());
        cursor.settle(id, state);
    }
    p.run.outcome.add(outcome);
}

/// Notes the destinations that took something in `outcome`: they work, this run.
fn note_working(p: &mut Progress, outcome: &Outcome) {
    for (sink, (ok, _)) in &outcome.per_sink {
        if *ok > 0 {
            p.working.insert(sink.clone());
        }
    }
}

/// Delivers `findings`; a request that failed for several of them is split in halves until
/// each failing finding stands alone. A destination that has delivered nothing this run is
/// probed down one spine of halves only (about log2 of the page in requests), so an outage
/// does not multiply requests; once any half gets through, the rest is bisected fully.
async fn isolate<P: Port>(port: &P, findings: Vec<Value>, p: &mut Progress) -> Outcome {
    let mut total = Outcome::default();
    let mut queue = vec![(findings, true)];
    while let Some((batch, may_probe)) = queue.pop() {
        let outcome = port.deliver(&batch).await;
        note_working(p, &outcome);
        let failed: HashSet<&str> = outcome
            .failures
            .iter()
            .map(|f| f.finding_id.as_str())
            .collect();
        let works = outcome.failures.iter().any(|f| p.working.contains(&f.sink));
        if failed.len() < 2 || !(works || may_probe) {
            total.add(outcome);
            continue;
        }
        let again: Vec<Value> = batch
            .into_iter()
            .filter(|f| finding_id(f).is_some_and(|id| failed.contains(id)))
            .collect();
        let mut kept = outcome;
        kept.failures.clear();
        kept.failed = 0;
        kept.received = kept.received.saturating_sub(again.len() as u64);
        for (_, bad) in kept.per_sink.values_mut() {
            *bad = 0;
        }
        total.add(kept);
        let mut left = again;
        let right = left.split_off(left.len() / 2);
        queue.push((right, false));
        queue.push((left, may_probe));
    }
    total
}

/// A finding whose delivery failed this run, judged once the run knows which destinations
/// worked (a later page may be the first to get through).
#[derive(Debug)]
struct Suspect {
    id: String,
    /// The destination that failed it, and what it said.
    sink: DestinationName,
    error: String,
    /// The finding cannot be normalized, or is too large: its own fault, whatever the
    /// destination does.
    own_fault: bool,
    /// Kept only when one more strike sets it aside (so few are held).
    finding: Option<Value>,
    /// Met in the window (not in the rescan): its position there settles with the verdict.
    in_window: bool,
    updated_ms: Option<i64>,
}

/// Notes a failed finding for [`judge`].
fn suspect(
    plan: &Plan,
    finding: &Value,
    id: &str,
    failures: &[Failure],
    p: &mut Progress,
    late: bool,
) {
    let Some(first) = failures.first() else {
        return;
    };
    let own = failures
        .iter()
        .find(|f| f.cause.is_none() || is_oversize(f));
    let f = own.unwrap_or(first);
    let runs = p.strikes.get(id).map_or(0, |s| s.runs);
    p.suspects.push(Suspect {
        id: id.to_string(),
        sink: f.sink.clone(),
        error: f.error.clone(),
        own_fault: own.is_some(),
        finding: (runs.saturating_add(1) >= plan.quarantine_after).then(|| finding.clone()),
        in_window: !late,
        updated_ms: updated_ms(finding),
    });
}

/// Strikes each failed finding whose destination took others this run (or that is at fault
/// itself), once per run, and sets aside those struck in enough runs.
async fn judge<P: Port>(port: &P, plan: &Plan, cursor: &mut Cursor, p: &mut Progress) {
    let unknown = p
        .suspects
        .iter()
        .any(|s| !s.own_fault && !p.working.contains(&s.sink));
    if unknown && let Some(probe) = p.probe.take() {
        let outcome = port.deliver(std::slice::from_ref(&probe)).await;
        note_working(p, &outcome);
        p.run.outcome.retries += 1;
    }
    let now = format_ms(port.now_ms());
    for s in std::mem::take(&mut p.suspects) {
        if !(s.own_fault || p.working.contains(&s.sink)) || !p.struck.insert(s.id.clone()) {
            continue;
        }
        let strike = match quarantine::strike(&mut p.strikes, &s.id, &now, plan.quarantine_after) {
            Verdict::Hold(st) => {
                warn!(message = "Finding failed while its destination took others; it is held and tried again next run.",
                      scope = %p.run.scope, finding_id = %s.id, destination = %s.sink,
                      failed_runs = st.runs, quarantine_after = plan.quarantine_after);
                continue;
            }
            Verdict::SetAside(st) => st,
        };
        let Some(finding) = &s.finding else { continue };
        let why = SetAside {
            destination: &s.sink,
            error: &s.error,
            strike: &strike,
            now: &now,
        };
        match port.quarantine(finding, &why).await {
            Ok(true) => {}
            Ok(false) => {
                warn!(message = "Poison finding held: DLQ_URL is not set, so it cannot be set aside and keeps holding the checkpoint.",
                      scope = %p.run.scope, finding_id = %s.id, failed_runs = strike.runs);
                continue;
            }
            Err(e) => {
                p.run.outcome.quarantine_failed += 1;
                p.run.errors.push(e);
                continue;
            }
        }
        warn!(message = "Poison finding set aside in the dead-letter queue.", scope = %p.run.scope,
              finding_id = %s.id, destination = %s.sink, failed_runs = strike.runs, error = %s.error);
        p.strikes.remove(&s.id);
        if let Some(t) = s.updated_ms {
            p.recent.insert(s.id.clone(), t);
        }
        let o = &mut p.run.outcome;
        let before = o.failures.len();
        o.failures.retain(|f| f.finding_id != s.id);
        if o.failures.len() < before {
            o.failed = o.failed.saturating_sub(1);
        }
        o.quarantined += 1;
        if s.in_window {
            cursor.settle(&s.id, State::Delivered);
        }
    }
}

fn is_oversize(f: &Failure) -> bool {
    matches!(f.cause, Some(crate::sink::DeliveryError::Oversize { .. }))
}

/// The versions an earlier run delivered: its record, and the ids it remembered at its mark
/// (delivered at exactly that millisecond, also by a version that kept no record).
fn remembered_recent(cp: &Checkpoint) -> BTreeMap<String, i64> {
    let mut recent = cp.recent.clone();
    if let Some(ms) = cp.start_ms() {
        for id in &cp.ids {
            recent.entry(id.clone()).or_insert(ms);
        }
    }
    recent
}

/// Forgets the versions delivered before `floor`, and the oldest past [`MAX_RECENT`];
/// returns the millisecond from which what is kept is complete.
fn keep_recent(recent: &mut BTreeMap<String, i64>, floor: i64) -> i64 {
    recent.retain(|_, t| *t >= floor);
    if recent.len() <= MAX_RECENT {
        return floor;
    }
    let mut times: Vec<i64> = recent.values().copied().collect();
    times.sort_unstable();
    let cut = times[times.len() - MAX_RECENT].saturating_add(1);
    recent.retain(|_, t| *t >= cut);
    cut
}

/// Reports a stop, judges the run's health, and stores the state.
async fn close<P: Port>(
    port: &P,
    plan: &Plan,
    cursor: &Cursor,
    previous: Option<Checkpoint>,
    mut p: Progress,
) -> DetectorRun {
    let mark = cursor.mark();
    let now = port.now_ms();
    let window = cursor.window();
    p.run.reached_ms = Some(mark.ms);
    let behind = now.saturating_sub(mark.ms).max(0) / 1000;
    if let Some(stop) = cursor.stopped() {
        p.run.outcome.truncated += 1;
        warn!(message = "Backfill truncated: the run stopped before the end of its window.",
              reason = stop.as_str(), scope = %p.run.scope, reached = %format_ms(mark.ms),
              behind_seconds = behind);
    }
    if mark.ms <= window.start && !cursor.complete() && cursor.settled_any() {
        p.run.stalled = true;
        warn!(message = "Backfill made no progress: a finding holds the checkpoint.",
              scope = %p.run.scope, reached = %format_ms(mark.ms), behind_seconds = behind);
    }
    if plan.fixed.is_none() && !plan.keep_state {
        // Strikes of findings this run never met again (archived, updated into a deliverable
        // version) are stale: dropped, unless a listing was cut short before reaching them.
        if !p.cut_short && cursor.stopped().is_none() {
            p.strikes.retain(|id, _| p.met.contains(id));
        }
        quarantine::trim(&mut p.strikes);
        let want = mark.ms.saturating_sub(plan.rescan_ms);
        let floor = keep_recent(&mut p.recent, p.rescan_at.map_or(want, |r| r.min(want)));
        // Versions delivered before this state kept them (an upgrade) are not known: the
        // rescan starts where they are.
        let floor = previous
            .as_ref()
            .and_then(Checkpoint::recent_floor_ms)
            .map_or(window.start.max(floor), |f| f.max(floor));
        let next = Checkpoint {
            updated_at: format_ms(mark.ms),
            ids: mark.ids,
            strikes: std::mem::take(&mut p.strikes),
            recent: std::mem::take(&mut p.recent),
            unfetchable: {
                let skip = p.unfetchable.len().saturating_sub(MAX_UNFETCHABLE);
                p.unfetchable.drain(skip..).collect()
            },
            recent_floor: Some(format_ms(floor)),
            rescan_at: p.rescan_at.map(format_ms),
            tick: plan
                .tick
                .clone()
                .or(previous.as_ref().and_then(|c| c.tick.clone())),
        };
        if let Err(e) = port.save(&next).await {
            p.run.errors.push(e);
        }
    } else if plan.fixed.is_none() {
        port.release().await;
    }
    let o = &p.run.outcome;
    // An idle run (nothing listed, nothing wrong) says so at debug only: it runs every few
    // minutes in every region of every account, and its log bytes are billed.
    if o.received == 0 && cursor.stopped().is_none() && p.run.errors.is_empty() {
        tracing::debug!(message = "Backfill of detector done: nothing new.", scope = %p.run.scope,
                        next_start = %format_ms(mark.ms));
    } else {
        info!(message = "Backfill of detector done.", scope = %p.run.scope,
              window_start = %format_ms(window.start), window_end = %format_ms(window.upper),
              next_start = %format_ms(mark.ms), received = o.received, forwarded = o.forwarded,
              failed = o.failed, quarantined = o.quarantined, late = o.late);
    }
    p.run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::DeliveryError;

    fn plan(quarantine_after: u32) -> Plan {
        Plan {
            cap: 100,
            quarantine_after,
            settle_ms: 0,
            lookback_ms: 0,
            rescan_ms: 0,
            fixed: None,
            keep_state: false,
            tick: None,
            progress: false,
        }
    }

    fn progress() -> Progress {
        Progress {
            run: DetectorRun::new("us-east-1", "d"),
            strikes: BTreeMap::new(),
            struck: HashSet::new(),
            met: HashSet::new(),
            cut_short: false,
            suspects: Vec::new(),
            probe: None,
            unfetchable: Vec::new(),
            recent: BTreeMap::new(),
            working: HashSet::new(),
            rescan_at: None,
        }
    }

    fn failure(sink: &str, cause: Option<DeliveryError>) -> Failure {
        Failure {
            finding_id: "f".into(),
            sink: sink.into(),
            error: format!("{sink} failed"),
            cause,
            index: 0,
            delivered_elsewhere: false,
        }
    }

    /// The simulation never fails a finding for its own fault, nor late: these are the
    /// verdicts `judge` strikes and settles on.
    #[test]
    fn a_failure_is_the_findings_own_fault_only_when_it_could_not_be_encoded_or_is_too_large() {
        let finding = serde_json::json!({"id": "f", "updatedAt": "2026-01-01T00:00:00.000Z"});
        let unavailable = || failure("a", Some(DeliveryError::Unavailable("503".into())));
        let cases = [
            (vec![unavailable()], false, "a"),
            (
                vec![unavailable(), failure("normalize", None)],
                true,
                "normalize",
            ),
            (
                vec![
                    unavailable(),
                    failure("b", Some(DeliveryError::Oversize { size: 2, limit: 1 })),
                ],
                true,
                "b",
            ),
            (
                vec![failure("c", Some(DeliveryError::Rejected("no".into())))],
                false,
                "c",
            ),
        ];
        for (failures, own_fault, sink) in cases {
            let mut p = progress();
            suspect(&plan(3), &finding, "f", &failures, &mut p, false);
            let s = &p.suspects[0];
            assert_eq!((s.own_fault, &*s.sink), (own_fault, sink), "{failures:?}");
        }
    }

    #[test]
    fn a_suspect_is_in_the_window_unless_late_and_carries_the_finding_only_on_its_last_strike() {
        let finding = serde_json::json!({"id": "f", "updatedAt": "2026-01-01T00:00:00.000Z"});
        let failures = [failure("a", None)];
        let mut p = progress();
        suspect(&plan(2), &finding, "f", &failures, &mut p, true);
        suspect(&plan(2), &finding, "f", &failures, &mut p, false);
        assert_eq!(
            p.suspects.iter().map(|s| s.in_window).collect::<Vec<_>>(),
            [false, true]
        );
        assert!(
            p.suspects.iter().all(|s| s.finding.is_none()),
            "first strike"
        );
        assert_eq!(p.suspects[0].updated_ms, Some(1_767_225_600_000));
        p.strikes.insert(
            "f".into(),
            Strike {
                runs: 1,
                first_failed_at: "2026-01-01T00:00:00.000Z".into(),
            },
        );
        suspect(&plan(2), &finding, "f", &failures, &mut p, false);
        assert_eq!(p.suspects[2].finding.as_ref(), Some(&finding));
        suspect(&plan(2), &finding, "f", &[], &mut p, false);
        assert_eq!(p.suspects.len(), 3, "no failure, no suspect");
    }
}
