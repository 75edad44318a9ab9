//! The cursor: which part of GuardDuty's listing to ask for next, which fetched findings to
//! deliver, and where the next run may start. Pure: no I/O, no clock; the detector run feeds
//! it what ListFindings and GetFindings answered and what the destinations did.
//!
//! # The property
//!
//! **Every finding version that stands in the listing inside a run's window is delivered by
//! that run or a later one; the checkpoint never passes a position that could still hold an
//! undelivered one.** Whatever GuardDuty updates, archives or unarchives between any two
//! calls, wherever the run stops (cap, hard limit, deadline, API error, failed delivery,
//! crash before the checkpoint write), with any number of findings on one millisecond.
//! Duplicates are allowed (consumers dedupe on `dedup_key`) and bounded (see "What it
//! costs"); losses are not.
//!
//! # The model it is proved against
//!
//! ListFindings answers ids sorted by `updatedAt` (an arbitrary but stable order at equal
//! milliseconds); its `nextToken` is an *offset* into the listing as it stands when the next
//! request arrives, so a finding leaving the listing between two token pages shifts every
//! later one back by a position and one can be skipped. GetFindings returns the finding as it
//! is *now* (possibly a newer version than the one listed), and may leave ids out. Updates
//! give a finding `updatedAt` = the time of the update. `src/backfill/sim/` is that model, run
//! against the real detector run at every step with seeded faults; `cursor/tests.rs` checks
//! the cursor alone with proptest.
//!
//! # Why it holds
//!
//! 1. *A fixed upper bound.* A run lists `updatedAt` in `[start, upper)` with
//!    `upper = now − BACKFILL_SETTLE_SECONDS`, fixed when the run starts: an update made
//!    while the run goes gets an `updatedAt` ≥ `upper` and falls in a later window.
//! 2. *The checkpoint follows listing positions, not GetFindings' timestamps.* A fetched
//!    `updatedAt` below `upper` is the finding's listing position (an update in between would
//!    be ≥ `upper`); one at or above `upper` says nothing about where it stood.
//! 3. *Only a contiguous prefix moves it.* The next start is the listing timestamp of the last
//!    position before the first one not delivered (failed, missing, not reached). Ids
//!    delivered at exactly that millisecond are remembered and skipped next time while their
//!    `updatedAt` is unchanged.
//! 4. *Only a consistent answer proves a stretch complete.* A page asked for without a token
//!    is one consistent answer: every id from its `from` up to its newest millisecond is in it,
//!    so the next page asks again from that millisecond (keyset paging) and **a page without
//!    `nextToken` ends the listing only when it was asked for without a token.** When one
//!    millisecond holds more than a page, the cursor walks that millisecond alone
//!    (`[t, t+1)`) by token, and takes it as complete only after two consecutive whole walks
//!    listed the same ids in the same order with nothing new: a finding that left between two
//!    token pages changes the next walk, so a skipped id is either found or the walks go on
//!    (up to [`MAX_WALKS`], then the run stops there and the checkpoint waits).
//!
//! # What remains an assumption
//!
//! - GuardDuty shows a version in the listing within `BACKFILL_SETTLE_SECONDS` of its
//!   `updatedAt`. A version shown later than that, behind a checkpoint that has passed, is
//!   found by the *rescan* of the stretch behind the checkpoint (`BACKFILL_RESCAN_MINUTES`,
//!   the detector run), not by the cursor; later than the rescan, nothing reads there again.
//! - Two walks of a crowded millisecond that agree could still hide an id if, between them,
//!   one finding joined that millisecond (shown late) and, during the second walk, another left
//!   it: a late listing, which the rescan finds.
//!
//! # What it costs
//!
//! In a steady state nothing is delivered twice: the next window starts at `upper`. A run
//! stopped early re-fetches its last millisecond but skips what it remembers (up to
//! [`MAX_REMEMBERED_IDS`]); a failure re-sends what followed it in that run (at most the cap);
//! a finding updated while being fetched is delivered at its new version now and again when
//! listed there. Findings on the start millisecond do not count toward the cap, so a burst on
//! one millisecond cannot stall the window. A crowded millisecond of `n` ids costs about
//! `3n/50` pages. Memory: positions settled below the keyset start are folded into the mark,
//! so a run holds the ids of its current millisecond and what follows its first undelivered
//! position, not the whole window.

use std::collections::{HashMap, HashSet, VecDeque};

/// Ids remembered at the checkpoint's millisecond (the store trims further if it must).
pub const MAX_REMEMBERED_IDS: usize = 1000;
/// Pages in a row with nothing new before a run gives up on this listing.
const MAX_IDLE_PAGES: usize = 200;
/// Walks of one crowded millisecond before a run gives up on it for now.
pub const MAX_WALKS: usize = 8;

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
    /// The listing repeated a token, held nothing new for too long, or a crowded millisecond
    /// never listed the same twice.
    Unsettled,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::Cap => "cap",
            Stop::HardLimit => "hard-limit",
            Stop::Deadline => "deadline",
            Stop::Error => "error",
            Stop::Unsettled => "unsettled-listing",
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
    /// Delivered (or deliberately skipped, or set aside as poison or unfetchable).
    Delivered,
    /// That very version was delivered by an earlier run.
    AlreadyDelivered,
    /// Could not be delivered this run.
    Failed,
    /// GetFindings did not return it, even when asked again.
    Missing,
}

impl State {
    fn done(self) -> bool {
        matches!(self, State::Delivered | State::AlreadyDelivered)
    }
}

#[derive(Debug, Clone)]
struct Position {
    id: String,
    /// The `from` of the page that listed it: its listing position is at least this.
    page_from: i64,
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

/// The page last listed, judged when the next query is asked for (after its fetch told
/// where its findings stand).
#[derive(Debug)]
struct Listed {
    query: Query,
    token: Option<String>,
    took_new: bool,
    left_out: bool,
    /// The newest known listing timestamp among this page's taken ids.
    newest_ms: Option<i64>,
    page_ids: Vec<String>,
}

/// A walk of one crowded millisecond by token.
#[derive(Debug, Default)]
struct Walk {
    ids: Vec<String>,
    took_new: bool,
    last: Option<Vec<String>>,
    count: usize,
}

/// One run's progress through its window.
#[derive(Debug)]
pub struct Cursor {
    window: Window,
    remembered: HashSet<String>,
    cap: usize,
    hard_limit: usize,
    /// Positions not yet folded into `floor`, in the order taken; `base` is the sequence
    /// number of the first.
    positions: VecDeque<Position>,
    base: usize,
    index: HashMap<String, usize>,
    /// The mark of the positions folded away: all delivered, all below `from`.
    floor: Mark,
    /// Every id listed below this millisecond was taken (see point 4).
    from: i64,
    /// A crowded millisecond being walked by token.
    crowd: Option<i64>,
    walk: Walk,
    last: Option<Listed>,
    next: Option<Query>,
    taken: usize,
    counted: usize,
    /// Positions skipped because an earlier run delivered them (remembered ids): they do
    /// not count toward the hard limit, or a start millisecond holding more findings than
    /// the hard limit would be taken again, and stopped on, by every run.
    remembered_skips: usize,
    exhausted: bool,
    stop: Option<Stop>,
    idle_pages: usize,
    token_repeated: bool,
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
            positions: VecDeque::new(),
            base: 0,
            index: HashMap::new(),
            floor: Mark {
                ms: window.start,
                ids: remembered.to_vec(),
            },
            from: window.start,
            crowd: None,
            walk: Walk::default(),
            last: None,
            next: (!exhausted).then_some(Query {
                from: window.start,
                upper: window.upper,
                token: None,
            }),
            taken: 0,
            counted: 0,
            remembered_skips: 0,
            exhausted,
            stop: None,
            idle_pages: 0,
            token_repeated: false,
        }
    }

    pub fn window(&self) -> Window {
        self.window
    }

    /// The next listing request; `None` once the window is exhausted or the run stopped
    /// (reaching the cap or the hard limit stops it here).
    pub fn query(&mut self) -> Option<Query> {
        if let Some(page) = self.last.take() {
            self.judge(page);
        }
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
        self.taken
    }

    pub fn settled_any(&self) -> bool {
        self.taken > 0
    }

    fn position(&self, id: &str) -> Option<&Position> {
        let seq = *self.index.get(id)?;
        self.positions.get(seq.checked_sub(self.base)?)
    }

    fn position_mut(&mut self, id: &str) -> Option<&mut Position> {
        let seq = *self.index.get(id)?;
        self.positions.get_mut(seq.checked_sub(self.base)?)
    }

    /// Findings taken so far that an earlier run had not already delivered.
    fn taken_new(&self) -> usize {
        self.taken.saturating_sub(self.remembered_skips)
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
            self.index
                .insert(id.clone(), self.base + self.positions.len());
            self.positions.push_back(Position {
                id: id.clone(),
                page_from: query.from,
                listed_ms: None,
                state: State::Pending,
            });
            take.push(id.clone());
        }
        self.taken += take.len();
        self.idle_pages = if take.is_empty() {
            self.idle_pages.saturating_add(1)
        } else {
            0
        };
        self.last = Some(Listed {
            query,
            token: token.filter(|t| !t.is_empty()).map(str::to_owned),
            took_new: !take.is_empty(),
            left_out,
            newest_ms: None,
            page_ids: if self.crowd.is_some() {
                ids.to_vec()
            } else {
                Vec::new()
            },
        });
        take
    }

    /// Whether the listing ended this run by repeating a token, holding nothing new for too
    /// long, or never listing a crowded millisecond the same way twice.
    pub fn token_repeated(&self) -> bool {
        self.token_repeated
    }

    /// Decides what to list after `page`, now that its findings were fetched.
    fn judge(&mut self, page: Listed) {
        if page.left_out {
            // The run is at its cap: what was taken of this page below its newest known
            // millisecond is complete; the query stops the run.
            self.raise_from(page.newest_ms.unwrap_or(self.from));
            self.next = Some(self.keyset());
            return;
        }
        if self.crowd.is_some() {
            return self.judge_walk(page);
        }
        match (&page.token, page.newest_ms) {
            // One consistent answer holding everything from `from`: the window is done.
            (None, _) => self.exhausted = true,
            // A consistent answer reaching past `from`: everything below its newest
            // millisecond was in it.
            (Some(_), Some(t)) if t > self.from => {
                self.raise_from(t);
                self.next = Some(self.keyset());
            }
            // A whole page on `from` itself: walk that millisecond alone, by token (the
            // page's own token belongs to the wider query, so the walk starts afresh).
            (Some(_), _) => {
                self.crowd = Some(self.from);
                self.walk = Walk::default();
                self.next = Some(self.crowd_query(None));
            }
        }
    }

    /// One more page of a crowded millisecond's walk.
    fn judge_walk(&mut self, page: Listed) {
        self.walk.ids.extend(page.page_ids.iter().cloned());
        self.walk.took_new |= page.took_new;
        if let Some(t) = page.token {
            return self.follow(&page.query, t);
        }
        let same = self.walk.last.as_ref() == Some(&self.walk.ids);
        if !self.walk.took_new && same {
            // Two whole walks agree: the millisecond is complete.
            let ms = self.crowd.take().unwrap_or(self.from);
            self.walk = Walk::default();
            self.raise_from(ms.saturating_add(1));
            self.next = (self.from < self.window.upper).then(|| self.keyset());
            if self.next.is_none() {
                self.exhausted = true;
            }
            return;
        }
        self.walk.count += 1;
        if self.walk.count >= MAX_WALKS {
            self.token_repeated = true;
            self.stop(Stop::Unsettled);
            return;
        }
        self.walk.last = Some(std::mem::take(&mut self.walk.ids));
        self.walk.took_new = false;
        self.next = Some(self.crowd_query(None));
    }

    /// Follows `token` unless the service handed the same one back or pages stay empty.
    fn follow(&mut self, query: &Query, token: String) {
        if query.token.as_deref() == Some(token.as_str()) || self.idle_pages >= MAX_IDLE_PAGES {
            self.token_repeated = true;
            self.stop(Stop::Unsettled);
            return;
        }
        self.next = Some(self.crowd_query(Some(token)));
    }

    fn crowd_query(&self, token: Option<String>) -> Query {
        let ms = self.crowd.unwrap_or(self.from);
        Query {
            from: ms,
            upper: ms.saturating_add(1).min(self.window.upper),
            token,
        }
    }

    fn keyset(&self) -> Query {
        Query {
            from: self.from,
            upper: self.window.upper,
            token: None,
        }
    }

    /// Everything listed below `ms` was taken: fold what is settled below it.
    fn raise_from(&mut self, ms: i64) {
        if ms <= self.from {
            return;
        }
        self.from = ms;
        self.compact();
    }

    /// GetFindings returned `id` with this `updatedAt`.
    pub fn fetched(&mut self, id: &str, updated_ms: Option<i64>) -> Admit {
        let Window { start, upper } = self.window;
        let listed_ms = updated_ms.filter(|t| (start..upper).contains(t));
        let remembered = self.remembered.contains(id);
        let Some(p) = self.position_mut(id) else {
            return Admit::Unknown;
        };
        p.listed_ms = listed_ms;
        if let (Some(page), Some(t)) = (self.last.as_mut(), listed_ms) {
            page.newest_ms = Some(page.newest_ms.map_or(t, |n| n.max(t)));
        }
        if listed_ms == Some(start) && remembered {
            p_state(self, id, State::AlreadyDelivered);
            self.remembered_skips = self.remembered_skips.saturating_add(1);
            return Admit::Skip;
        }
        if listed_ms != Some(start) {
            self.counted = self.counted.saturating_add(1);
        }
        Admit::Deliver
    }

    /// Settles a fetched position whose very version an earlier run delivered (the run
    /// knows it from its own record): not counted toward the cap, like a remembered id, so
    /// positions already delivered behind a held one cannot use up every run's cap; they
    /// still count toward the hard limit.
    pub fn seen(&mut self, id: &str) {
        if self
            .position(id)
            .is_some_and(|p| p.listed_ms != Some(self.window.start))
        {
            self.counted = self.counted.saturating_sub(1);
        }
        p_state(self, id, State::AlreadyDelivered);
        self.compact();
    }

    /// Settles one fetched position.
    pub fn settle(&mut self, id: &str, state: State) {
        p_state(self, id, state);
        self.compact();
    }

    /// Whether the run has covered its whole window with every position delivered.
    pub fn complete(&self) -> bool {
        self.exhausted && self.stop.is_none() && self.blocked_at().is_none()
    }

    fn blocked_at(&self) -> Option<usize> {
        self.positions.iter().position(|p| !p.state.done())
    }

    /// Folds the delivered positions below `from` into `floor`; past the first undelivered
    /// position, forgets delivered ones below `from` (they cannot be listed again in this
    /// window and the mark stops before them anyway). Undelivered ones are always kept.
    fn compact(&mut self) {
        while let Some(p) = self.positions.front() {
            if !p.state.done() || p.listed_ms.is_some_and(|t| t >= self.from) {
                break;
            }
            let Some(p) = self.positions.pop_front() else {
                break;
            };
            self.base += 1;
            self.index.remove(&p.id);
            fold(&mut self.floor, &p);
        }
        let Some(blocker) = self.blocked_at() else {
            return;
        };
        if self.positions.len() > blocker + 1 {
            let from = self.from;
            let index = &mut self.index;
            let mut i = 0;
            self.positions.retain(|p| {
                let keep = i <= blocker || !p.state.done() || p.listed_ms.is_none_or(|t| t >= from);
                i += 1;
                if !keep {
                    index.remove(&p.id);
                }
                keep
            });
            for (i, p) in self.positions.iter().enumerate() {
                self.index.insert(p.id.clone(), self.base + i);
            }
        }
    }

    /// Where the next run starts (see the module doc, point 3).
    pub fn mark(&self) -> Mark {
        if self.complete() {
            return Mark {
                ms: self.window.upper,
                ids: Vec::new(),
            };
        }
        let mut mark = self.floor.clone();
        let blocked = self.blocked_at();
        let prefix = blocked.unwrap_or(self.positions.len());
        for p in self.positions.iter().take(prefix) {
            fold(&mut mark, p);
        }
        // A version shown late (after the settle margin) sits in the listing below its
        // fetched `updatedAt`, which shows as a delivered position "after" the first
        // undelivered one: then never past where the page holding that one began.
        let out_of_order = |b: &Position| {
            b.listed_ms.is_some_and(|tb| {
                self.positions
                    .iter()
                    .take(prefix)
                    .any(|p| p.listed_ms.is_some_and(|t| t > tb))
            })
        };
        if let Some(b) = blocked.and_then(|b| self.positions.get(b))
            && mark.ms > b.page_from
            && (out_of_order(b) || self.floor.ms > b.listed_ms.unwrap_or(i64::MAX))
        {
            let ms = b.page_from.max(self.floor.ms.min(b.page_from));
            mark = Mark {
                ms,
                ids: if ms == self.floor.ms {
                    self.floor.ids.clone()
                } else {
                    Vec::new()
                },
            };
        }
        if blocked.is_none() && self.from > mark.ms {
            mark = Mark {
                ms: self.from,
                ids: Vec::new(),
            };
            for p in &self.positions {
                fold(&mut mark, p);
            }
        }
        mark.ids.sort();
        mark.ids.dedup();
        mark.ids.truncate(MAX_REMEMBERED_IDS);
        mark
    }
}

/// Adds a delivered position to a mark.
fn fold(mark: &mut Mark, p: &Position) {
    let Some(t) = p.listed_ms else { return };
    if t > mark.ms {
        mark.ms = t;
        mark.ids.clear();
    }
    if t == mark.ms && mark.ids.len() < MAX_REMEMBERED_IDS * 2 {
        mark.ids.push(p.id.clone());
    }
}

fn p_state(c: &mut Cursor, id: &str, state: State) {
    if let Some(p) = c.position_mut(id) {
        p.state = state;
    }
}

#[cfg(test)]
mod tests;
