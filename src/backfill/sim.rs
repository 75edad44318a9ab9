//! A deterministic, seeded simulation of GuardDuty, the destinations, the state store and the
//! dead-letter queue, driving the real detector run ([`super::run::run`]) with the real
//! cursor. The world may act before *every* call the run makes: update, archive or unarchive a
//! finding, create one or a crowd of them on one millisecond, show a change in the listing late
//! (even later than the settle margin), throttle, leave ids out of GetFindings, refuse a
//! payload (transiently or for good, per finding or the whole request), lose the state write
//! (a crash), run out of time, and start a second run while one is going.
//!
//! The listing follows the service: sorted by `updatedAt`, an arbitrary but stable order at
//! equal milliseconds, 50 ids a page, `nextToken` an offset recomputed at every request.
//! A change (update, archive, unarchive, a new finding) shows after a lag, mostly short,
//! sometimes far past the settle margin (a member's finding reaching the administrator
//! late); GetFindings answers from the same store as the listing, so it returns the version
//! shown, which may change between the two calls.
//!
//! **The property**: once GuardDuty goes quiet, within [`QUIET_RUNS`] runs every finding's
//! latest version standing in the listing is delivered or, failing in enough runs while
//! others reach its destination, set aside in the dead-letter queue (a poison finding must
//! be); a ghost id stops holding the checkpoint; and no version is delivered more than
//! [`MAX_COPIES`] times. Assumptions modelled: a change shows in the listing within
//! [`MAX_LAG_MS`], less than the rescan stretch; a version older than the first stored
//! window (the lookback of a new deployment) is out of reach; once quiet, other findings keep
//! reaching the destination (without them a poison finding is held, not judged).
//!
//! `GDF_SIM_SEEDS=N` runs N seeds (default [`DEFAULT_SEEDS`]); `GDF_SIM_SEED=S` runs seed S
//! alone, with its log. A failing seed is kept as a test below.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};

use super::BackfillError;
use super::checkpoint::Checkpoint;
use super::cursor::Query;
use super::run::DetectorRun;
use super::run::{self, Loaded, Plan, Port, SetAside};
use crate::clock::format_ms;
use crate::pipeline::{Failure, Outcome};
use crate::sink::DeliveryError;

const DEFAULT_SEEDS: u64 = 1000;
const PAGE: usize = 50;
const SCHEDULE_MS: i64 = 300_000;
const SETTLE_MS: i64 = 300_000;
const RESCAN_MS: i64 = 3_600_000;
/// The longest a change takes to show in the listing (beyond the settle margin, within the
/// rescan stretch less a schedule period).
const MAX_LAG_MS: i64 = 2_400_000;
const CHAOS_RUNS: usize = 24;
pub const QUIET_RUNS: usize = 40;
/// Runs the quiet phase grants a finding made during it (cap 5 runs meet a backlog).
const CATCH_UP_RUNS: u64 = 10;
/// The bound on copies of one version (see the cursor's "What it costs").
pub const MAX_COPIES: u32 = 12;
const LEASE_MS: i64 = 120_000;

#[derive(Debug, Clone)]
struct Finding {
    updated: i64,
    archived: bool,
    /// What the listing shows: position and archived flag (`None`: not shown yet).
    shown: Option<(i64, bool)>,
    /// When the listing catches up with the current version.
    visible_at: i64,
}

#[derive(Debug, Default)]
struct Faults {
    act: f64,
    throttle: f64,
    transient: f64,
    crash: f64,
    deadline: f64,
    quarantine_fails: f64,
    late: f64,
}

struct World {
    rng: fastrand::Rng,
    now: i64,
    findings: BTreeMap<String, Finding>,
    /// Every id, to pick one in constant time.
    ids: Vec<String>,
    /// The listing as shown: (`updatedAt`, stable order, id) of unarchived findings.
    listing: BTreeSet<(i64, u64, String)>,
    /// Changes not shown yet, by when they show.
    pending: BTreeMap<i64, Vec<String>>,
    ghosts: BTreeSet<String>,
    poison: BTreeSet<String>,
    /// Poison fails as a 5xx (transient class) rather than a 4xx.
    poison_transient: bool,
    /// A request holding a poison finding is refused as a whole.
    whole_refusal: bool,
    delivered: HashMap<(String, i64), u32>,
    quarantined: BTreeSet<String>,
    /// Where the first stored state began (the first window's start: the lookback of a new
    /// deployment). A version older than that, shown only after it, is out of reach.
    horizon: i64,
    /// Versions set aside in the dead-letter queue (not lost: redrive sends them).
    set_aside: BTreeSet<(String, i64)>,
    /// Findings made during the quiet runs (other traffic), with the tick that made them.
    heartbeats: BTreeMap<String, u64>,
    unfetchable: u64,
    state: Option<Checkpoint>,
    lease: Option<(String, i64)>,
    faults: Faults,
    quiet: bool,
    next_id: u64,
    log: Vec<String>,
    verbose: bool,
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = fastrand::Rng::with_seed(seed);
        let faults = Faults {
            act: rng.f64() * 0.3,
            throttle: rng.f64() * 0.08,
            transient: rng.f64() * 0.05,
            crash: rng.f64() * 0.15,
            deadline: rng.f64() * 0.02,
            quarantine_fails: rng.f64() * 0.3,
            late: rng.f64() * 0.3,
        };
        let poison_transient = rng.bool();
        let whole_refusal = rng.bool();
        World {
            rng,
            now: 1_800_000_000_000,
            findings: BTreeMap::new(),
            ids: Vec::new(),
            listing: BTreeSet::new(),
            pending: BTreeMap::new(),
            ghosts: BTreeSet::new(),
            poison: BTreeSet::new(),
            poison_transient,
            whole_refusal,
            delivered: HashMap::new(),
            quarantined: BTreeSet::new(),
            set_aside: BTreeSet::new(),
            horizon: i64::MIN,
            heartbeats: BTreeMap::new(),
            unfetchable: 0,
            state: None,
            lease: None,
            faults,
            quiet: false,
            next_id: 0,
            log: Vec::new(),
            verbose: false,
        }
    }

    fn note(&mut self, what: impl FnOnce() -> String) {
        if self.verbose {
            let line = format!("{} {}", self.now, what());
            self.log.push(line);
        }
    }

    fn lag(&mut self) -> i64 {
        if self.rng.f64() < self.faults.late {
            self.rng.i64(0..MAX_LAG_MS)
        } else {
            self.rng.i64(0..SETTLE_MS / 10)
        }
    }

    fn create(&mut self, at: i64) -> String {
        let id = format!("f{:05}", self.next_id);
        self.next_id += 1;
        let lag = self.lag();
        self.findings.insert(
            id.clone(),
            Finding {
                updated: at,
                archived: false,
                shown: None,
                visible_at: at + lag,
            },
        );
        self.ids.push(id.clone());
        self.pending.entry(at + lag).or_default().push(id.clone());
        match self.rng.u32(0..100) {
            0 => {
                self.ghosts.insert(id.clone());
            }
            1 => {
                self.poison.insert(id.clone());
            }
            _ => {}
        }
        id
    }

    fn pick(&mut self) -> Option<String> {
        if self.ids.is_empty() {
            return None;
        }
        let i = self.rng.usize(0..self.ids.len());
        self.ids.get(i).cloned()
    }

    /// Updates a finding now (archived flipped when `archive`); shown after a lag.
    fn change(&mut self, id: &str, archive: bool) {
        let lag = self.lag();
        let now = self.now;
        if let Some(f) = self.findings.get_mut(id) {
            f.archived ^= archive;
            f.updated = now;
            f.visible_at = now + lag;
            self.pending
                .entry(now + lag)
                .or_default()
                .push(id.to_string());
        }
    }

    /// Shows a finding's current version in the listing, if its time has come.
    fn reveal(&mut self, id: &str) {
        let now = self.now;
        let Some(f) = self.findings.get_mut(id) else {
            return;
        };
        let current = (f.updated, f.archived);
        if f.visible_at > now || f.shown == Some(current) {
            return;
        }
        let order = World::order(id);
        if let Some((t, false)) = f.shown {
            self.listing.remove(&(t, order, id.to_string()));
        }
        f.shown = Some(current);
        if !current.1 {
            self.listing.insert((current.0, order, id.to_string()));
        }
    }

    /// One step of the world: time passes, and GuardDuty may act.
    fn step(&mut self) {
        self.now += self.rng.i64(1..200);
        if !self.quiet && self.rng.f64() < self.faults.act {
            self.act();
        }
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.now {
                break;
            }
            for id in entry.remove() {
                self.reveal(&id);
            }
        }
    }

    fn act(&mut self) {
        let now = self.now;
        match self.rng.u32(0..20) {
            0..=5 => {
                self.create(now);
            }
            6 if self.findings.len() < 2_000 => {
                let n = self.rng.usize(40..140);
                for _ in 0..n {
                    self.create(now);
                }
                self.note(|| format!("crowd of {n}"));
            }
            7..=14 => {
                if let Some(id) = self.pick() {
                    self.change(&id, false);
                }
            }
            15..=17 => {
                if let Some(id) = self.pick() {
                    self.change(&id, true);
                }
            }
            _ => {
                // Several updates on one millisecond.
                for _ in 0..self.rng.usize(2..60) {
                    if let Some(id) = self.pick() {
                        self.change(&id, false);
                    }
                }
            }
        }
    }

    fn fault(&mut self, p: f64) -> bool {
        !self.quiet && self.rng.f64() < p
    }

    fn order(id: &str) -> u64 {
        id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }

    fn list(&self, q: &Query) -> (Vec<String>, Option<String>) {
        let offset: usize = q.token.as_deref().and_then(|t| t.parse().ok()).unwrap_or(0);
        if q.from >= q.upper {
            return (Vec::new(), None);
        }
        let mut rows = self
            .listing
            .range((q.from, 0, String::new())..(q.upper, 0, String::new()))
            .skip(offset);
        let ids: Vec<String> = rows.by_ref().take(PAGE).map(|r| r.2.clone()).collect();
        let more = rows.next().is_some();
        (ids, more.then(|| (offset + PAGE).to_string()))
    }
}

struct SimPort<'w> {
    world: &'w RefCell<World>,
    owner: String,
    crashed: RefCell<bool>,
    calls: RefCell<u32>,
}

impl SimPort<'_> {
    async fn step(&self) {
        tokio::task::yield_now().await;
        self.world.borrow_mut().step();
        *self.calls.borrow_mut() += 1;
    }
}

fn gd_error(what: &str) -> BackfillError {
    BackfillError::ListFindings {
        detector: "sim".into(),
        detail: format!("TooManyRequestsException: {what}"),
    }
}

impl Port for SimPort<'_> {
    fn now_ms(&self) -> i64 {
        self.world.borrow().now
    }

    fn out_of_time(&self) -> bool {
        let mut w = self.world.borrow_mut();
        let p = w.faults.deadline;
        w.fault(p)
    }

    async fn load(&self) -> Result<Loaded, BackfillError> {
        self.step().await;
        let mut w = self.world.borrow_mut();
        let now = w.now;
        if let Some((owner, until)) = w.lease.clone()
            && owner != self.owner
            && until > now
        {
            return Ok(Loaded::Held {
                owner,
                until_ms: until,
            });
        }
        w.lease = Some((self.owner.clone(), now + LEASE_MS));
        Ok(match w.state.clone() {
            Some(s) => Loaded::State(s),
            None => Loaded::Empty,
        })
    }

    async fn save(&self, state: &Checkpoint) -> Result<(), BackfillError> {
        self.step().await;
        let mut w = self.world.borrow_mut();
        let p = w.faults.crash;
        if w.fault(p) {
            *self.crashed.borrow_mut() = true;
            w.note(|| "crash before the state write".into());
            return Ok(());
        }
        match &w.lease {
            Some((owner, _)) if *owner == self.owner => {
                if w.state.is_none() {
                    w.horizon = state.recent_floor_ms().unwrap_or(i64::MIN);
                }
                w.state = Some(state.clone());
                w.lease = None;
                Ok(())
            }
            _ => Err(BackfillError::CheckpointWrite {
                name: "sim".into(),
                detail: "lease lost".into(),
            }),
        }
    }

    async fn release(&self) {
        let mut w = self.world.borrow_mut();
        if w.lease.as_ref().is_some_and(|(o, _)| *o == self.owner) {
            w.lease = None;
        }
    }

    async fn list(&self, query: &Query) -> Result<(Vec<String>, Option<String>), BackfillError> {
        self.step().await;
        let mut w = self.world.borrow_mut();
        let p = w.faults.throttle;
        if w.fault(p) {
            return Err(gd_error("ListFindings"));
        }
        let page = w.list(query);
        if let Ok(t) = std::env::var("GDF_SIM_TRACE") {
            let shown = w.findings.get(&t).map(|f| (f.updated, f.shown));
            if page.0.contains(&t) || w.verbose {
                w.note(|| {
                    format!(
                        "{} list {query:?} -> {} ids, has {t}: {} ({shown:?})",
                        self.owner,
                        page.0.len(),
                        page.0.contains(&t)
                    )
                });
            }
        }
        Ok(page)
    }

    async fn get(&self, ids: &[String]) -> Result<(Vec<Value>, Vec<String>), BackfillError> {
        assert!(ids.len() <= PAGE, "GetFindings takes at most 50 ids");
        self.step().await;
        let mut w = self.world.borrow_mut();
        let p = w.faults.throttle;
        if w.fault(p) {
            return Err(gd_error("GetFindings"));
        }
        if let Ok(t) = std::env::var("GDF_SIM_TRACE")
            && ids.contains(&t)
        {
            w.note(|| format!("{} get {} ids incl {t}", self.owner, ids.len()));
        }
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            // GetFindings reads the same store as the listing: the version shown.
            match w.findings.get(id).and_then(|f| f.shown) {
                Some((t, archived)) if !w.ghosts.contains(id) => found.push(json!({
                    "id": id,
                    "updatedAt": format_ms(t),
                    "service": {"archived": archived},
                })),
                _ => missing.push(id.clone()),
            }
        }
        Ok((found, missing))
    }

    async fn deliver(&self, findings: &[Value]) -> Outcome {
        self.step().await;
        let mut w = self.world.borrow_mut();
        let ids: Vec<(String, i64)> = findings
            .iter()
            .map(|f| {
                let id = f["id"].as_str().unwrap_or_default().to_string();
                let t = f["updatedAt"]
                    .as_str()
                    .and_then(crate::clock::epoch_ms)
                    .unwrap_or_default();
                (id, t)
            })
            .collect();
        if let Ok(t) = std::env::var("GDF_SIM_TRACE")
            && ids.iter().any(|(id, _)| *id == t)
        {
            w.note(|| format!("{} deliver {} incl {t}", self.owner, ids.len()));
        }
        let poisoned = ids.iter().any(|(id, _)| w.poison.contains(id));
        let refuse_all = poisoned && w.whole_refusal;
        let mut o = Outcome {
            received: ids.len() as u64,
            ..Outcome::default()
        };
        for (id, t) in ids {
            let transient = w.faults.transient;
            let fails = refuse_all || w.poison.contains(&id) || w.fault(transient);
            if std::env::var("GDF_SIM_TRACE").is_ok_and(|t| t == id) {
                w.note(|| format!("{} delivery of {id}@{t}: failed {fails}", self.owner));
            }
            if !fails {
                *w.delivered.entry((id, t)).or_default() += 1;
                o.forwarded += 1;
                continue;
            }
            let cause = if w.poison_transient || !poisoned {
                DeliveryError::Exhausted {
                    attempts: 3,
                    last: "503".into(),
                }
            } else {
                DeliveryError::Rejected("400".into())
            };
            o.failed += 1;
            o.failures.push(Failure {
                finding_id: id,
                sink: "sim".into(),
                error: cause.to_string(),
                cause: Some(cause),
                index: 0,
                delivered_elsewhere: false,
            });
        }
        o.per_sink.insert("sim".into(), (o.forwarded, o.failed));
        o
    }

    async fn quarantine(
        &self,
        finding: &Value,
        _why: &SetAside<'_>,
    ) -> Result<bool, BackfillError> {
        self.step().await;
        let mut w = self.world.borrow_mut();
        let id = finding["id"].as_str().unwrap_or_default().to_string();
        let p = w.faults.quarantine_fails;
        if w.fault(p) {
            return Err(BackfillError::Quarantine {
                finding_id: id,
                detail: "refused".into(),
            });
        }
        let t = finding["updatedAt"]
            .as_str()
            .and_then(crate::clock::epoch_ms)
            .unwrap_or_default();
        w.set_aside.insert((id.clone(), t));
        w.quarantined.insert(id);
        Ok(true)
    }
}

fn plan(cap: usize, tick: u64) -> Plan {
    Plan {
        cap,
        quarantine_after: 3,
        settle_ms: SETTLE_MS,
        lookback_ms: 900_000,
        rescan_ms: RESCAN_MS,
        fixed: None,
        keep_state: false,
        tick: Some(format!("tick-{tick}")),
        progress: false,
    }
}

/// One scheduled tick: a run, sometimes two at once (a retry or an overlapping schedule).
async fn tick(world: &RefCell<World>, n: u64, cap: usize) {
    let overlap = {
        let mut w = world.borrow_mut();
        !w.quiet && w.rng.u32(0..10) == 0
    };
    let port = |owner: &str| SimPort {
        world,
        owner: owner.to_string(),
        crashed: RefCell::new(false),
        calls: RefCell::new(0),
    };
    let a = port("a");
    let plan_a = plan(cap, n);
    let run_a = run::run(&a, &plan_a, DetectorRun::new("sim", "d"));
    let outcome = if overlap {
        let b = port("b");
        let plan_b = plan(cap, n + 1_000_000);
        let run_b = run::run(&b, &plan_b, DetectorRun::new("sim", "d"));
        let (ra, rb) = tokio::join!(run_a, run_b);
        let mut o = ra.outcome;
        o.add(rb.outcome);
        o
    } else {
        run_a.await.outcome
    };
    let mut w = world.borrow_mut();
    w.unfetchable += outcome.unfetchable;
    // A crashed run's lease stays until it expires.
    let behind = w.state.as_ref().and_then(Checkpoint::start_ms).unwrap_or(0);
    let now = w.now;
    let st = w.state.as_ref().map(|c| {
        (
            c.updated_at.clone(),
            c.rescan_at.clone(),
            c.recent_floor.clone(),
            c.recent.len(),
        )
    });
    w.note(|| {
        format!(
            "run {n} cap {cap}: recv {} fwd {} failed {} late {} trunc {} behind {} state {st:?}",
            outcome.received,
            outcome.forwarded,
            outcome.failed,
            outcome.late,
            outcome.truncated,
            now - behind
        )
    });
}

/// Plays one seed; `Err` describes the violated property.
pub fn play(seed: u64, verbose: bool) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let world = RefCell::new(World::new(seed));
    world.borrow_mut().verbose = verbose;
    rt.block_on(async {
        for n in 0..(CHAOS_RUNS + QUIET_RUNS) as u64 {
            let cap = {
                let mut w = world.borrow_mut();
                if n as usize == CHAOS_RUNS {
                    w.quiet = true;
                }
                // Time passes between ticks, with the world acting now and then.
                for _ in 0..20 {
                    w.now += SCHEDULE_MS / 20 - 100;
                    w.step();
                }
                if n as usize == CHAOS_RUNS {
                    // Quiet: let every late listing show before the quiet runs count.
                    w.now += MAX_LAG_MS;
                    w.step();
                }
                if w.quiet {
                    // Other findings keep reaching the destination (so a poison finding
                    // can be told from an outage), shown at once, never updated.
                    let now = w.now;
                    let id = w.create(now);
                    w.heartbeats.insert(id.clone(), n);
                    w.ghosts.remove(&id);
                    w.poison.remove(&id);
                    if let Some(f) = w.findings.get_mut(&id) {
                        f.visible_at = now;
                    }
                    w.reveal(&id);
                }
                [5, 20, 50, 500][w.rng.usize(0..4)]
            };
            tick(&world, n, cap).await;
        }
    });
    let w = world.into_inner();
    check(&w).map_err(|e| {
        let log = if verbose {
            w.log.join("\n")
        } else {
            String::new()
        };
        format!("seed {seed}: {e}\n{log}")
    })
}

fn check(w: &World) -> Result<(), String> {
    let mut lost = Vec::new();
    for (id, f) in &w.findings {
        if f.archived || w.ghosts.contains(id) || f.shown.is_none() {
            continue;
        }
        if f.updated < w.horizon {
            continue;
        }
        if w.poison.contains(id) {
            if !w.quarantined.contains(id) {
                lost.push(format!("{id} (poison, not set aside)"));
            }
            continue;
        }
        if w.heartbeats
            .get(id)
            .is_some_and(|t| *t + CATCH_UP_RUNS >= (CHAOS_RUNS + QUIET_RUNS) as u64)
        {
            continue;
        }
        let version = (id.clone(), f.updated);
        if !w.delivered.contains_key(&version) && !w.set_aside.contains(&version) {
            lost.push(format!("{id}@{}", f.updated));
        }
    }
    if !lost.is_empty() {
        return Err(format!(
            "{} latest version(s) never delivered: {lost:?}",
            lost.len()
        ));
    }
    let most = w.delivered.values().copied().max().unwrap_or(0);
    if most > MAX_COPIES {
        return Err(format!("a version was delivered {most} times"));
    }
    Ok(())
}

/// Seeds that failed while the backfill was being built, with what each found (fixed since).
/// The world model has been refined after some of them, so each is kept as a regression seed
/// rather than an exact replay of the failure it once showed.
const FOUND: &[(u64, &str)] = &[
    (
        1,
        "a rescan's resume point passed a failed position (an out-of-order fetched version)",
    ),
    (
        2,
        "a poison finding met only by the rescan lost its strikes every run",
    ),
    (
        7,
        "a rescan cut short by its cap slid past what it had not read",
    ),
    (
        10,
        "re-fetched positions behind a held one used up every run's cap",
    ),
    (
        18,
        "the rescan ran before the window, so nothing told an outage from a poison finding",
    ),
    (
        27,
        "an id skipped as unfetchable was struck again, and skipped again, every run",
    ),
    (
        30,
        "a poison finding alone in a run was never judged (no probe)",
    ),
    (
        50,
        "compaction dropped a failed position that was not the first one undelivered",
    ),
    (
        85,
        "a finding failing three runs running while others got through was counted lost",
    ),
    (
        475,
        "a version shown only after the first stored window began, behind it",
    ),
];

#[test]
fn every_seed_that_once_failed_passes() {
    for (seed, found) in FOUND {
        if let Err(e) = play(*seed, false) {
            panic!("seed {seed} (found: {found}): {e}");
        }
    }
}

#[test]
fn every_latest_version_arrives_once_guardduty_goes_quiet_whatever_it_did_before() {
    if let Ok(seed) = std::env::var("GDF_SIM_SEED") {
        let seed: u64 = seed.parse().expect("GDF_SIM_SEED is a number");
        if let Err(e) = play(seed, true) {
            panic!("{e}");
        }
        return;
    }
    let seeds: u64 = std::env::var("GDF_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEEDS);
    let failed: Vec<String> = (0..seeds)
        .filter_map(|s| play(s, false).err())
        .take(5)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {seeds} seeds failed (rerun one with GDF_SIM_SEED=N):\n{}",
        failed.len(),
        failed.join("\n")
    );
}
