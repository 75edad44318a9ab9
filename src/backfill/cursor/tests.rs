//! The cursor against a model of GuardDuty: findings updated between ListFindings and
//! GetFindings and between runs, several on one millisecond, ids GetFindings leaves out,
//! failed deliveries, runs stopped anywhere (cap, hard limit, deadline, API error).

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;

use super::*;

/// GuardDuty as the cursor sees it: `updatedAt` by id; offset-based `nextToken`.
#[derive(Debug, Clone)]
struct Model {
    findings: BTreeMap<String, i64>,
    page: usize,
}

impl Model {
    fn list(&self, q: &Query) -> (Vec<String>, Option<String>) {
        let mut matching: Vec<(&i64, &String)> = self
            .findings
            .iter()
            .filter(|(_, t)| (q.from..q.upper).contains(*t))
            .map(|(id, t)| (t, id))
            .collect();
        matching.sort();
        let offset: usize = q.token.as_deref().and_then(|t| t.parse().ok()).unwrap_or(0);
        let ids: Vec<String> = matching
            .iter()
            .skip(offset)
            .take(self.page)
            .map(|(_, id)| (*id).clone())
            .collect();
        let more = offset + self.page < matching.len();
        (ids, more.then(|| (offset + self.page).to_string()))
    }
}

/// What may go wrong in one run, drawn by proptest.
#[derive(Debug, Clone)]
struct Chaos {
    /// Stop (deadline or API error) before this page, if any.
    stop_at_page: Option<usize>,
    /// Per fetched finding, in order: update it first / leave it out / fail its delivery.
    update: Vec<bool>,
    missing: Vec<bool>,
    fail: Vec<bool>,
    /// Findings updated or created between this run and the previous one.
    between: Vec<(u8, u8)>,
}

fn chaos() -> impl Strategy<Value = Chaos> {
    (
        proptest::option::of(0usize..6),
        proptest::collection::vec(proptest::bool::weighted(0.15), 40),
        proptest::collection::vec(proptest::bool::weighted(0.1), 40),
        proptest::collection::vec(proptest::bool::weighted(0.15), 40),
        proptest::collection::vec((any::<u8>(), 0u8..20), 0..6),
    )
        .prop_map(|(stop_at_page, update, missing, fail, between)| Chaos {
            stop_at_page,
            update,
            missing,
            fail,
            between,
        })
}

struct Sim {
    gd: Model,
    now: i64,
    mark: Option<Mark>,
    delivered: HashSet<(String, i64)>,
    deliveries: usize,
    cap: usize,
}

fn at(v: Option<&Vec<bool>>, k: usize) -> bool {
    v.and_then(|v| v.get(k % v.len().max(1)))
        .copied()
        .unwrap_or(false)
}

impl Sim {
    /// One run; `chaos` = None for a clean one.
    fn run(&mut self, chaos: Option<&Chaos>) {
        self.now += 25;
        let start = self.mark.as_ref().map_or(0, |m| m.ms);
        let ids = self
            .mark
            .as_ref()
            .map(|m| m.ids.clone())
            .unwrap_or_default();
        let window = Window {
            start,
            upper: self.now,
        };
        let mut cursor = Cursor::new(window, &ids, self.cap, self.cap * 20);
        let mut k = 0usize;
        let mut pages = 0usize;
        while let Some(q) = cursor.query() {
            if chaos.and_then(|c| c.stop_at_page) == Some(pages) {
                cursor.stop(if pages.is_multiple_of(2) {
                    Stop::Deadline
                } else {
                    Stop::Error
                });
                break;
            }
            pages += 1;
            assert!(pages < 10_000, "the run never ends: {q:?}");
            let (listed, token) = self.gd.list(&q);
            let take = cursor.listed(&listed, token.as_deref());
            let mut fetched = Vec::new();
            for id in &take {
                k += 1;
                // GuardDuty updates the finding after listing it, before GetFindings.
                if at(chaos.map(|c| &c.update), k) {
                    self.now += 1;
                    self.gd.findings.insert(id.clone(), self.now);
                }
                if at(chaos.map(|c| &c.missing), k) {
                    cursor.settle(id, State::Missing);
                } else if let Some(t) = self.gd.findings.get(id) {
                    fetched.push((id.clone(), *t, at(chaos.map(|c| &c.fail), k)));
                }
            }
            for (id, t, fail) in fetched {
                if cursor.fetched(&id, Some(t)) != Admit::Deliver {
                    continue;
                }
                if fail {
                    cursor.settle(&id, State::Failed);
                } else {
                    self.deliveries += 1;
                    self.delivered.insert((id.clone(), t));
                    cursor.settle(&id, State::Delivered);
                }
            }
        }
        let mark = cursor.mark();
        assert!(
            mark.ms >= start && mark.ms <= window.upper,
            "{mark:?} {window:?}"
        );
        self.mark = Some(mark);
    }

    /// Updates made after the last run's upper bound (the clock only moves forward; the
    /// settle margin is what makes a listing show every update older than it).
    fn between(&mut self, changes: &[(u8, u8)]) {
        self.now += 2;
        for (pick, dt) in changes {
            self.now += 1;
            let id = format!("f{:03}", pick % 60);
            // Several findings may share one millisecond.
            let t = self.now - i64::from(*dt % 3);
            self.gd.findings.insert(id, t);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn every_finding_listed_in_the_window_is_delivered_by_that_run_or_a_later_one(
        initial in proptest::collection::vec(0i64..12, 1..45),
        runs in proptest::collection::vec(chaos(), 1..6),
        cap in 1usize..30,
        page in 1usize..6,
    ) {
        // Findings on few distinct milliseconds: many share one.
        let findings: BTreeMap<String, i64> = initial
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("f{i:03}"), 100 + t))
            .collect();
        let mut sim = Sim {
            gd: Model { findings, page },
            now: 200,
            mark: None,
            delivered: HashSet::new(),
            deliveries: 0,
            cap,
        };
        for chaos in &runs {
            sim.between(&chaos.between);
            sim.run(Some(chaos));
        }
        // Quiet runs after the storm: enough to get through everything at the cap.
        for _ in 0..(sim.gd.findings.len() / cap + 3) {
            sim.run(None);
        }
        for (id, t) in &sim.gd.findings {
            prop_assert!(
                sim.delivered.contains(&(id.clone(), *t)),
                "{} at {} never delivered; mark {:?}", id, t, sim.mark
            );
        }
        // Steady state: a quiet run past the end re-delivers nothing.
        let before = sim.deliveries;
        sim.run(None);
        prop_assert_eq!(sim.deliveries, before);
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i}")).collect()
}

#[test]
fn the_checkpoint_comes_from_listing_positions_not_from_a_newer_get_findings_timestamp() {
    let w = Window {
        start: 0,
        upper: 100,
    };
    let mut c = Cursor::new(w, &[], 2, 40);
    let take = c.listed(&ids(4), Some("t"));
    assert_eq!(take, ["f0", "f1"], "the cap of two holds");
    // f1 was updated between ListFindings and GetFindings: it comes back newer than upper.
    assert_eq!(c.fetched("f0", Some(10)), Admit::Deliver);
    assert_eq!(c.fetched("f1", Some(150)), Admit::Deliver);
    c.settle("f0", State::Delivered);
    c.settle("f1", State::Delivered);
    assert_eq!(c.query(), None);
    assert_eq!(c.stopped(), Some(Stop::Cap));
    assert_eq!(
        c.mark(),
        Mark {
            ms: 10,
            ids: vec!["f0".into()]
        }
    );
}

#[test]
fn a_failed_or_missing_finding_holds_the_checkpoint_before_it() {
    let w = Window {
        start: 5,
        upper: 100,
    };
    for blocked in [State::Failed, State::Missing] {
        let mut c = Cursor::new(w, &[], 50, 1000);
        c.listed(&ids(3), None);
        for (id, t) in [("f0", 10), ("f1", 20), ("f2", 30)] {
            c.fetched(id, Some(t));
        }
        c.settle("f0", State::Delivered);
        c.settle("f1", blocked);
        c.settle("f2", State::Delivered);
        assert_eq!(
            c.mark(),
            Mark {
                ms: 10,
                ids: vec!["f0".into()]
            },
            "{blocked:?}"
        );
    }
}

#[test]
fn an_exhausted_listing_with_everything_delivered_moves_the_checkpoint_to_the_upper_bound() {
    let mut c = Cursor::new(
        Window {
            start: 5,
            upper: 100,
        },
        &[],
        50,
        1000,
    );
    c.listed(&ids(2), None);
    for id in ["f0", "f1"] {
        c.fetched(id, Some(7));
        c.settle(id, State::Delivered);
    }
    assert_eq!(c.query(), None);
    assert!(c.complete());
    assert_eq!(
        c.mark(),
        Mark {
            ms: 100,
            ids: vec![]
        }
    );
}

#[test]
fn findings_remembered_at_the_start_are_skipped_and_do_not_count_toward_the_cap() {
    let remembered = vec!["f0".to_string(), "f1".to_string()];
    let mut c = Cursor::new(
        Window {
            start: 5,
            upper: 100,
        },
        &remembered,
        1,
        1000,
    );
    assert_eq!(
        c.listed(&ids(3), Some("t")),
        ["f0"],
        "one at a time: the cap is one"
    );
    assert_eq!(c.fetched("f0", Some(5)), Admit::Skip);
    let q = c
        .query()
        .expect("a skipped finding does not use up the cap");
    assert_eq!((q.from, q.token), (5, None));
    assert_eq!(c.listed(&ids(3), Some("t")), ["f1"]);
    assert_eq!(
        c.fetched("f1", Some(6)),
        Admit::Deliver,
        "updated since: sent again"
    );
    c.settle("f1", State::Delivered);
    assert_eq!(c.query(), None, "f1 reached the cap of one");
    assert_eq!(
        c.mark(),
        Mark {
            ms: 6,
            ids: vec!["f1".into()]
        }
    );
}

#[test]
fn the_next_page_starts_from_the_newest_listing_timestamp_reached() {
    let mut c = Cursor::new(
        Window {
            start: 0,
            upper: 100,
        },
        &[],
        500,
        10_000,
    );
    c.listed(&ids(2), Some("offset-2"));
    c.fetched("f0", Some(3));
    c.fetched("f1", Some(9));
    let q = c.query().unwrap();
    assert_eq!((q.from, q.token), (9, None));
    // A whole page on that millisecond is walked alone, from its first page, by token; a
    // repeated token stops the run.
    c.listed(&["f1".to_string()], Some("x"));
    assert_eq!(
        c.query(),
        Some(Query {
            from: 9,
            upper: 10,
            token: None
        })
    );
    c.listed(&["f1".to_string()], Some("x"));
    assert_eq!(c.query().unwrap().token.as_deref(), Some("x"));
    c.listed(&["f1".to_string()], Some("x"));
    assert_eq!(c.query(), None);
    assert!(c.token_repeated());
    assert_eq!(c.stopped(), Some(Stop::Unsettled));
}

#[test]
fn the_hard_limit_stops_a_run_whose_findings_all_sit_on_the_start_millisecond() {
    let mut c = Cursor::new(
        Window {
            start: 5,
            upper: 100,
        },
        &[],
        1,
        3,
    );
    // On the start millisecond nothing counts toward the cap, so only the hard limit stops.
    let mut taken = 0;
    while let Some(q) = c.query() {
        assert_eq!(q.from, 5);
        let got = c.listed(&ids(10), None);
        for id in &got {
            assert_eq!(c.fetched(id, Some(5)), Admit::Deliver);
            c.settle(id, State::Delivered);
        }
        taken += got.len();
        if got.is_empty() {
            break;
        }
    }
    assert_eq!(taken, 3);
    assert_eq!(c.stopped(), Some(Stop::HardLimit));
    let mark = c.mark();
    assert_eq!(
        (mark.ms, mark.ids.len()),
        (5, 3),
        "the next run skips those three"
    );
}

#[test]
fn findings_an_earlier_run_delivered_do_not_count_toward_the_hard_limit() {
    let window = Window {
        start: 5,
        upper: 100,
    };
    let mut remembered: Vec<String> = Vec::new();
    let mut delivered = Vec::new();
    // Ten findings on the start millisecond, a hard limit of three: each run moves on by
    // three instead of taking (and stopping on) the same three again.
    for _run in 0..4 {
        let mut c = Cursor::new(window, &remembered, 1, 3);
        while let Some(_q) = c.query() {
            let got = c.listed(&ids(10), None);
            if got.is_empty() {
                break;
            }
            for id in &got {
                if c.fetched(id, Some(5)) == Admit::Deliver {
                    c.settle(id, State::Delivered);
                    delivered.push(id.clone());
                }
            }
        }
        remembered = c.mark().ids;
    }
    delivered.sort();
    delivered.dedup();
    assert_eq!(delivered.len(), 10, "every finding arrives: {delivered:?}");
}

#[test]
fn endless_pages_of_nothing_new_end_the_run_instead_of_spinning() {
    let mut c = Cursor::new(
        Window {
            start: 0,
            upper: 100,
        },
        &[],
        500,
        10_000,
    );
    c.listed(&ids(1), Some("t0"));
    c.fetched("f0", Some(0));
    c.settle("f0", State::Delivered);
    let mut pages = 0;
    while c.query().is_some() {
        pages += 1;
        c.listed(&ids(1), Some(&format!("t{pages}")));
        assert!(pages < 1000, "the run never ends");
    }
    assert_eq!(c.stopped(), Some(Stop::Unsettled));
}

#[test]
fn a_run_that_reaches_its_cap_just_as_the_listing_ends_is_complete() {
    let mut c = Cursor::new(
        Window {
            start: 0,
            upper: 100,
        },
        &[],
        2,
        40,
    );
    assert!(!c.settled_any());
    assert!(c.query().is_some());
    assert_eq!(c.listed(&ids(2), None), ["f0", "f1"]);
    assert!(c.settled_any());
    assert_eq!(c.taken(), 2);
    for (id, t) in [("f0", 10), ("f1", 20)] {
        assert_eq!(c.fetched(id, Some(t)), Admit::Deliver);
        c.settle(id, State::Delivered);
    }
    assert_eq!(c.query(), None, "the listing ended");
    assert_eq!(c.stopped(), None, "the cap, reached, stopped nothing left");
    assert!(!c.token_repeated());
    assert!(c.complete());
    assert_eq!(
        c.mark(),
        Mark {
            ms: 100,
            ids: vec![]
        }
    );
}
