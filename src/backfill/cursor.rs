//! The cursor: which part of GuardDuty's listing to ask for next, which fetched findings to
//! deliver, and where the next run may start. Pure: no I/O, no clock; `mod.rs` feeds it what
//! ListFindings and GetFindings answered and what the destinations did.
//!
//! # The property
//!
//! **A finding whose `updatedAt` is at or after the window start when a run lists it is
//! delivered by that run or a later one** — whatever GuardDuty updates in between, wherever
//! the run stops (cap, hard limit, deadline, API error, failed delivery), with any number of
//! findings on one millisecond. Duplicates are allowed (consumers dedupe on `dedup_key`);
//! losses are not.
//!
//! # Why it holds
//!
//! 1. *A fixed upper bound.* A run lists `updatedAt` in `[start, upper)` where
//!    `upper = now − BACKFILL_SETTLE_SECONDS`, fixed when the run starts. GuardDuty's listing
//!    is eventually consistent; the settle margin is the time we grant it to show an update.
//!    GuardDuty's user guide ("EventBridge notification frequency",
//!    <https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings_eventbridge.html>)
//!    says a new finding is published within 5 minutes and carries the occurrences of its
//!    first 5 minutes, hence the default of 300 s.
//!    Any update made while the run is going gets an `updatedAt` ≥ the run's start > `upper`,
//!    so it falls in a later run's window, never behind this one's checkpoint.
//! 2. *The checkpoint follows listing positions, not GetFindings' timestamps.* ListFindings
//!    returns ids sorted by `updatedAt`; GetFindings comes later and may return a *newer*
//!    `updatedAt` (the finding was updated in between). A fetched timestamp below `upper`
//!    is the finding's listing position (an update in between would be ≥ `upper`); one at or
//!    above `upper` says nothing about where the finding stood, so it is ignored for the
//!    checkpoint (the finding is still delivered, and its new version is listed again later).
//! 3. *Only a contiguous prefix moves it.* The next start is the listing timestamp of the last
//!    position before the first one not delivered (failed, missing from GetFindings, not
//!    reached) — never past a position that could still hold an undelivered finding, since
//!    the listing is sorted and an `updatedAt` only grows. Ids delivered at exactly that
//!    millisecond are remembered and skipped next time (only while their `updatedAt` is
//!    unchanged, i.e. that very version was delivered). When the listing is exhausted with
//!    every position delivered, the next start is `upper` itself.
//! 4. *Keyset pages.* Each page asks again from the newest listing timestamp reached instead
//!    of following an offset-based `nextToken`, so a finding that leaves the window between
//!    two pages (updated) cannot shift another one past the page boundary unseen. `nextToken`
//!    is followed only when a whole page holds ids already handled (more than a page of
//!    findings on one millisecond).
//!
//! # What it costs
//!
//! In a steady state (runs that finish their window) nothing is delivered twice: the next
//! window starts at `upper`, exclusive of this one. A run stopped early re-fetches the
//! findings on its last millisecond but skips those it remembers (up to
//! [`MAX_REMEMBERED_IDS`]); a failure re-sends what followed the failed finding in that run.
//! A finding updated while a run is fetching it is delivered twice: its new version now, and
//! again when a later run lists it. Findings on the start millisecond do not count toward the
//! cap, so a burst on one millisecond cannot stall the window.

use std::collections::{HashMap, HashSet};

/// Ids remembered at the checkpoint's millisecond (keeps the SSM parameter small).
pub const MAX_REMEMBERED_IDS: usize = 60;
/// Pages in a row with nothing new (followed by `nextToken`) before a run gives up.
const MAX_IDLE_PAGES: usize = 200;

/// The listing window of one run: `updatedAt` in `[start, upper)`, epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub upper: i64,
}

/// Why a run stopped before the end of its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `BACKFILL_MAX_FINDINGS` reached.
    Cap,
    /// The hard limit of findings per run reached.
    HardLimit,
    /// Not enough invocation time left.
    Deadline,
    /// An AWS call failed.
    Error,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::Cap => "cap",
            Stop::HardLimit => "hard-limit",
            Stop::Deadline => "deadline",
            Stop::Error => "error",
        }
    }
}

/// What to list next: `updatedAt` in `[from, upper)`, following `token` when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub from: i64,
    pub upper: i64,
    pub token: Option<String>,
}

/// Where one position of the listing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Listed, asked for, not settled yet.
    Pending,
    /// Delivered (or deliberately skipped by `MIN_SEVERITY`, or set aside as poison).
    Delivered,
    /// That very version was delivered by an earlier run.
    AlreadyDelivered,
    /// Could not be delivered this run.
    Failed,
    /// GetFindings did not return it, even when asked again.
    Missing,
}

#[derive(Debug, Clone)]
struct Position {
    id: String,
    /// The listing timestamp when known (see the module doc, point 2).
    listed_ms: Option<i64>,
    state: State,
}

/// Whether a fetched finding is to be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Deliver,
    /// Already delivered at this version; not sent again.
    Skip,
    /// Not a position of this run (GetFindings answered an id not asked for).
    Unknown,
}

/// Where the next run starts, with the ids already delivered at exactly that millisecond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub ms: i64,
    pub ids: Vec<String>,
}

/// One run's progress through its window.
#[derive(Debug)]
pub struct Cursor {
    window: Window,
    remembered: HashSet<String>,
    cap: usize,
    hard_limit: usize,
    positions: Vec<Position>,
    index: HashMap<String, usize>,
    counted: usize,
    /// Positions skipped because an earlier run delivered them (remembered ids): they do
    /// not count toward the hard limit, or a start millisecond holding more findings than
    /// the hard limit would be taken again, and stopped on, by every run.
    remembered_skips: usize,
    next: Option<Query>,
    exhausted: bool,
    stop: Option<Stop>,
    idle_pages: usize,
}

impl Cursor {
    /// A run over `window`, skipping `remembered` ids at `window.start`, taking at most `cap`
    /// findings past the start millisecond and `hard_limit` in all.
    pub fn new(window: Window, remembered: &[String], cap: usize, hard_limit: usize) -> Cursor {
        let exhausted = window.start >= window.upper;
        Cursor {
            window,
            remembered: remembered.iter().cloned().collect(),
            cap,
            hard_limit: hard_limit.max(1),
            positions: Vec::new(),
            index: HashMap::new(),
            counted: 0,
            remembered_skips: 0,
            next: (!exhausted).then_some(Query {
                from: window.start,
                upper: window.upper,
                token: None,
            }),
            exhausted,
            stop: None,
            idle_pages: 0,
        }
    }

    pub fn window(&self) -> Window {
        self.window
    }

    /// The next listing request; `None` once the window is exhausted or the run stopped
    /// (reaching the cap or the hard limit stops it here).
    pub fn query(&mut self) -> Option<Query> {
        if self.stop.is_none() && self.next.is_some() {
            if self.taken_new() >= self.hard_limit {
                self.stop(Stop::HardLimit);
            } else if self.counted >= self.cap {
                self.stop(Stop::Cap);
            }
        }
        if self.stop.is_some() {
            return None;
        }
        self.next.clone()
    }

    pub fn stopped(&self) -> Option<Stop> {
        self.stop
    }

    /// Ends the run early; the first reason given is kept.
    pub fn stop(&mut self, why: Stop) {
        self.stop.get_or_insert(why);
    }

    /// Findings taken so far (delivered, failed, pending), for progress lines.
    pub fn taken(&self) -> usize {
        self.positions.len()
    }

    /// Whether this run settled `id` (delivered, failed or missing), and whether it settled
    /// anything at all: a poison finding's strikes are kept only while runs keep meeting it.
    pub fn settled(&self, id: &str) -> bool {
        self.index
            .get(id)
            .and_then(|&i| self.positions.get(i))
            .is_some_and(|p| p.state != State::Pending)
    }

    pub fn settled_any(&self) -> bool {
        self.positions.iter().any(|p| p.state != State::Pending)
    }

    /// Findings taken so far that an earlier run had not already delivered.
    fn taken_new(&self) -> usize {
        self.positions.len().saturating_sub(self.remembered_skips)
    }

    /// One page of ListFindings for [`Cursor::query`]: `ids` in listing order, `token` the
    /// page's `nextToken`. Returns the ids to fetch, in order; the rest of the page (past
    /// the cap or the hard limit) is left for a later run.
    pub fn listed(&mut self, ids: &[String], token: Option<&str>) -> Vec<String> {
        let Some(query) = self.next.take() else {
            return Vec::new();
        };
        let allowance = self
            .cap
            .saturating_sub(self.counted)
            .min(self.hard_limit.saturating_sub(self.taken_new()));
        let mut take = Vec::new();
        let mut left_out = false;
        for id in ids {
            if self.index.contains_key(id) {
                continue;
            }
            if take.len() >= allowance {
                left_out = true;
                break;
            }
            self.index.insert(id.clone(), self.positions.len());
            self.positions.push(Position {
                id: id.clone(),
                listed_ms: None,
                state: State::Pending,
            });
            take.push(id.clone());
        }
        let token = token.filter(|t| !t.is_empty());
        self.idle_pages = if take.is_empty() {
            self.idle_pages.saturating_add(1)
        } else {
            0
        };
        self.next = match (take.is_empty(), token) {
            // The listing from `from` is complete: nothing past this page.
            (_, None) if !left_out => {
                self.exhausted = true;
                None
            }
            // A whole page of ids already handled: more than a page on one millisecond.
            (true, Some(t))
                if query.token.as_deref() != Some(t) && self.idle_pages < MAX_IDLE_PAGES =>
            {
                Some(Query {
                    token: Some(t.to_string()),
                    ..query
                })
            }
            // The service handed the same token back (or endless pages of nothing new):
            // no way forward this run.
            (true, _) => {
                self.stop(Stop::Error);
                None
            }
            (false, _) => Some(Query {
                from: query.from,
                upper: query.upper,
                token: None,
            }),
        };
        take
    }

    /// Whether the last page ended the listing by repeating its `nextToken`.
    pub fn token_repeated(&self) -> bool {
        self.stop == Some(Stop::Error) && self.next.is_none() && !self.exhausted
    }

    /// GetFindings returned `id` with this `updatedAt`.
    pub fn fetched(&mut self, id: &str, updated_ms: Option<i64>) -> Admit {
        let Some(&i) = self.index.get(id) else {
            return Admit::Unknown;
        };
        let Window { start, upper } = self.window;
        let listed_ms = updated_ms.filter(|t| (start..upper).contains(t));
        let Some(p) = self.positions.get_mut(i) else {
            return Admit::Unknown;
        };
        p.listed_ms = listed_ms;
        if listed_ms == Some(start) && self.remembered.contains(id) {
            p.state = State::AlreadyDelivered;
            self.remembered_skips = self.remembered_skips.saturating_add(1);
            return Admit::Skip;
        }
        if listed_ms != Some(start) {
            self.counted = self.counted.saturating_add(1);
        }
        if let (Some(t), Some(q)) = (listed_ms, self.next.as_mut())
            && t > q.from
            && q.token.is_none()
        {
            q.from = t;
        }
        Admit::Deliver
    }

    /// Settles one fetched position.
    pub fn settle(&mut self, id: &str, state: State) {
        if let Some(p) = self.index.get(id).and_then(|&i| self.positions.get_mut(i)) {
            p.state = state;
        }
    }

    /// Whether the run has covered its whole window with every position delivered.
    pub fn complete(&self) -> bool {
        self.exhausted && self.stop.is_none() && self.blocked_at().is_none()
    }

    fn blocked_at(&self) -> Option<usize> {
        self.positions
            .iter()
            .position(|p| !matches!(p.state, State::Delivered | State::AlreadyDelivered))
    }

    /// Where the next run starts (see the module doc, point 3).
    pub fn mark(&self) -> Mark {
        if self.complete() {
            return Mark {
                ms: self.window.upper,
                ids: Vec::new(),
            };
        }
        let mut ms = self.window.start;
        let mut ids: Vec<String> = self.remembered.iter().cloned().collect();
        let prefix = self.blocked_at().unwrap_or(self.positions.len());
        for p in self.positions.iter().take(prefix) {
            let Some(t) = p.listed_ms else { continue };
            if t > ms {
                ms = t;
                ids.clear();
            }
            if t == ms {
                ids.push(p.id.clone());
            }
        }
        ids.sort();
        ids.dedup();
        ids.truncate(MAX_REMEMBERED_IDS);
        Mark { ms, ids }
    }

    /// The newest listing timestamp up to which everything was delivered (the
    /// `BackfillLagSeconds` reference); `None` when no finding with a known one was.
    pub fn reached_ms(&self) -> Option<i64> {
        let prefix = self.blocked_at().unwrap_or(self.positions.len());
        self.positions
            .iter()
            .take(prefix)
            .filter_map(|p| p.listed_ms)
            .max()
    }
}

#[cfg(test)]
mod tests;
