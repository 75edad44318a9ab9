//! `redrive`: sends the findings of each dead-letter message on, to its own destination (or
//! every destination when the message names none), and deletes the messages whose findings
//! all arrived. The scheduled run's automatic redrive is the same, bounded, over the
//! messages that may succeed unchanged.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::message::Unwrapped;
use super::queue::{Queue, QueueError, Received};
use super::{Entry, HIDE_SECONDS, read, release_all};
use crate::pipeline::{Forwarder, Outcome};
use crate::retry::Deadline;

/// What `redrive` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Stop after this many messages.
    pub max: Option<usize>,
    /// Read and report, send and delete nothing.
    pub dry_run: bool,
    /// Draw a progress line on stderr (only when it is a terminal).
    pub progress: bool,
    /// Delete a message whose findings `MIN_SEVERITY` skipped (else it stays).
    pub drop_skipped: bool,
    /// The scheduled run's automatic redrive: only messages that may succeed unchanged
    /// ([`Unwrapped::retryable`]); the others are left alone, not reported as kept.
    pub retryable_only: bool,
    /// The invocation's deadline (the scheduled run); `None`: the CLI's, no deadline.
    pub deadline: Option<Deadline>,
}

/// A message that stays in the queue, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    pub entry: Entry,
    pub reason: String,
}

/// What a redrive did.
#[derive(Debug, Default)]
pub struct Report {
    pub messages: u64,
    pub deleted: u64,
    /// Dry run: messages whose findings would be sent.
    pub would_send: u64,
    pub kept: Vec<Kept>,
    pub outcome: Outcome,
    pub dry_run: bool,
    pub drop_skipped: bool,
    /// Messages left alone because they are not [`Unwrapped::retryable`] (automatic redrive).
    pub passed_over: u64,
    /// Destinations that failed a finding in this run: their other messages wait for the
    /// next run instead of meeting the same outage.
    pub failing: HashSet<String>,
}

impl Report {
    /// Whether nothing stays that a redrive should have removed.
    pub fn ok(&self) -> bool {
        self.kept.is_empty()
    }

    /// The one summary line.
    pub fn summary(&self) -> String {
        let o = &self.outcome;
        if self.dry_run {
            return format!(
                "redrive dry run {}: {} message(s) read, {} would be sent, {} hold no finding; nothing sent or deleted",
                if self.ok() { "ok" } else { "FAILED" },
                self.messages,
                self.would_send,
                self.kept.len()
            );
        }
        format!(
            "{}: {} message(s) read, {} deleted, {} kept; findings: {} received, {} forwarded, {} skipped, {} failed",
            if self.ok() {
                "redrive ok"
            } else {
                "redrive FAILED"
            },
            self.messages,
            self.deleted,
            self.kept.len(),
            o.received,
            o.forwarded,
            o.skipped,
            o.failed
        )
    }
}

/// A progress line on stderr, drawn only on a terminal.
struct Progress {
    on: bool,
    total: Option<u64>,
}

impl Progress {
    fn draw(&self, report: &Report) {
        if !self.on {
            return;
        }
        let of = self.total.map(|t| format!("/~{t}")).unwrap_or_default();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kredrive: {}{of} message(s), {} deleted, {} kept",
            report.messages,
            report.deleted,
            report.kept.len()
        );
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.on {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// Sends the findings of every message on through `forwarder` (as `via = redrive`) and
/// deletes each message whose findings were all delivered.
pub async fn redrive(
    queue: &Queue,
    forwarder: &Forwarder,
    options: Options,
) -> Result<Report, QueueError> {
    let progress = Progress {
        on: options.progress && std::io::stderr().is_terminal(),
        total: if options.progress {
            queue.approximate_count().await
        } else {
            None
        },
    };
    let max = options.max.unwrap_or(usize::MAX);
    let mut report = Report {
        dry_run: options.dry_run,
        drop_skipped: options.drop_skipped,
        ..Report::default()
    };

    let mut seen: HashSet<String> = HashSet::new();
    let mut held: Vec<Received> = Vec::new();
    let result = async {
        // A run with a deadline stops while a delivery with its retries still fits.
        let time_left = || {
            options
                .deadline
                .and_then(|d| d.remaining())
                .is_none_or(|left| left > std::time::Duration::from_secs(20))
        };
        while (report.messages as usize) < max && time_left() {
            let batch = queue
                .receive(max - report.messages as usize, HIDE_SECONDS)
                .await?;
            if batch.is_empty() {
                break;
            }
            let fresh: Vec<Received> = batch
                .into_iter()
                .filter(|r| seen.insert(r.message_id.clone()))
                .collect();
            let to_release = redrive_batch(queue, forwarder, fresh, options, &mut report).await?;
            held.extend(to_release);
            progress.draw(&report);
        }
        Ok::<(), QueueError>(())
    }
    .await;
    progress.finish();
    release_all(queue, &held).await;
    result.map(|()| report)
}

/// Handles one received batch; the messages that stay (to be made visible at the end).
async fn redrive_batch(
    queue: &Queue,
    forwarder: &Forwarder,
    batch: Vec<Received>,
    options: Options,
    report: &mut Report,
) -> Result<Vec<Received>, QueueError> {
    report.messages += batch.len() as u64;
    let mut keep: Vec<Received> = Vec::new();
    let mut sendable: Vec<(Received, Unwrapped)> = Vec::new();
    for received in batch {
        let unwrapped = read(&received);
        match hold_back(&unwrapped, forwarder, options.retryable_only, report) {
            Some(Hold::Quietly) => {
                report.passed_over += 1;
                keep.push(received);
            }
            Some(Hold::Because(reason)) => {
                report.kept.push(Kept {
                    entry: Entry::new(&received, &unwrapped),
                    reason,
                });
                keep.push(received);
            }
            None if report.dry_run => {
                report.would_send += 1;
                keep.push(received);
            }
            None => sendable.push((received, unwrapped)),
        }
    }
    // One delivery per destination the messages are for (`None`: every destination).
    let mut groups: Vec<(Option<String>, Group)> = Vec::new();
    for item in sendable {
        match groups.iter_mut().find(|(d, _)| *d == item.1.destination) {
            Some((_, group)) => group.push(item),
            None => groups.push((item.1.destination.clone(), vec![item])),
        }
    }
    for (destination, group) in groups {
        let deadline = options.deadline.unwrap_or_else(Deadline::none);
        let to = Target {
            forwarder,
            destination: destination.as_deref(),
            deadline,
        };
        keep.extend(send_group(queue, &to, group, report).await?);
    }
    Ok(keep)
}

/// Messages sent together, with what they hold.
type Group = Vec<(Received, Unwrapped)>;

/// Why a message is not sent in this run.
enum Hold {
    /// Left alone without a report (the automatic redrive's business is elsewhere).
    Quietly,
    /// Kept, with the reason shown.
    Because(String),
}

fn hold_back(
    unwrapped: &Unwrapped,
    forwarder: &Forwarder,
    retryable_only: bool,
    report: &Report,
) -> Option<Hold> {
    if retryable_only && !unwrapped.retryable {
        return Some(Hold::Quietly);
    }
    if let Err(e) = &unwrapped.findings {
        return Some(Hold::Because(format!("holds no finding: {e}")));
    }
    let destination = unwrapped.destination.as_deref()?;
    let routes = forwarder.routes();
    if !routes.iter().any(|r| *r.name == *destination) {
        let names: Vec<String> = routes.iter().map(|r| format!("{:?}", r.name)).collect();
        return Some(Hold::Because(format!(
            "its destination {destination:?} is not configured here (DESTINATIONS names {})",
            names.join(", ")
        )));
    }
    report.failing.contains(destination).then(|| {
        if retryable_only {
            Hold::Quietly
        } else {
            Hold::Because(format!(
                "not sent: {destination} failed earlier in this run; redrive again once it works"
            ))
        }
    })
}

/// Sends the findings of `group` to `destination` (every destination when `None`), deletes
/// the messages whose findings all arrived, and returns those that stay.
/// Where a group of messages goes.
struct Target<'a> {
    forwarder: &'a Forwarder,
    /// The one destination (`None`: every destination).
    destination: Option<&'a str>,
    deadline: Deadline,
}

async fn send_group(
    queue: &Queue,
    to: &Target<'_>,
    group: Group,
    report: &mut Report,
) -> Result<Vec<Received>, QueueError> {
    let (forwarder, deadline) = (to.forwarder, to.deadline);
    let mut keep = Vec::new();
    let findings: Vec<crate::intake::Incoming> = group
        .iter()
        .flat_map(|(_, u)| u.findings.iter().flatten().cloned())
        .collect();
    let received_at = crate::clock::now_rfc3339();
    let via = crate::normalize::Via::Redrive;
    let outcome = match to.destination {
        Some(name) => {
            forwarder
                .forward_to(name, &findings, via, &received_at, deadline)
                .await
        }
        None => {
            forwarder
                .forward(&findings, via, &received_at, deadline)
                .await
        }
    };
    for f in &outcome.failures {
        report.failing.insert(f.sink.to_string());
    }
    let mut delivered: Vec<&Received> = Vec::new();
    for (received, unwrapped) in &group {
        match not_sent(unwrapped, &outcome, report.drop_skipped) {
            Some(reason) => {
                report.kept.push(Kept {
                    entry: Entry::new(received, unwrapped),
                    reason,
                });
                keep.push(received.clone());
            }
            None => delivered.push(received),
        }
    }
    let failures = queue.delete(&delivered).await?;
    report.deleted += (delivered.len() - failures.len().min(delivered.len())) as u64;
    for f in failures {
        if let Some((received, unwrapped)) =
            group.iter().find(|(r, _)| r.message_id == f.message_id)
        {
            report.kept.push(Kept {
                entry: Entry::new(received, unwrapped),
                reason: format!(
                    "delivered, but not deleted ({}): the next redrive sends it again",
                    f.reason
                ),
            });
            keep.push(received.clone());
        }
    }
    report.outcome.add(outcome);
    Ok(keep)
}

/// Why a message must stay after its findings were forwarded: one failed somewhere, or (unless
/// `drop_skipped`) one was skipped by `MIN_SEVERITY`. `None`: delete it.
fn not_sent(unwrapped: &Unwrapped, outcome: &Outcome, drop_skipped: bool) -> Option<String> {
    failure_of(unwrapped, outcome).or_else(|| {
        (!drop_skipped)
            .then(|| skipped_in(unwrapped, outcome))
            .flatten()
    })
}

/// Why a message stays though nothing failed: a finding in it was skipped by `MIN_SEVERITY`.
fn skipped_in(unwrapped: &Unwrapped, outcome: &Outcome) -> Option<String> {
    let skipped: Vec<String> = ids_in(unwrapped)
        .into_iter()
        .filter(|id| outcome.skipped_ids.contains(id))
        .collect();
    (!skipped.is_empty()).then(|| {
        format!(
            "not sent: {} below MIN_SEVERITY or outside its destinations' filters; change them, or pass --drop-skipped to delete such messages",
            skipped.join(", ")
        )
    })
}

fn ids_in(unwrapped: &Unwrapped) -> HashSet<String> {
    unwrapped
        .findings
        .iter()
        .flatten()
        .filter_map(|f| crate::normalize::finding_id(f.finding.view()).ok())
        .map(|id| id.into_owned())
        .collect()
}

/// Why a message's findings were not all delivered, if they were not: the new error.
fn failure_of(unwrapped: &Unwrapped, outcome: &Outcome) -> Option<String> {
    let ids = ids_in(unwrapped);
    let errors: Vec<String> = outcome
        .failures
        .iter()
        .filter(|f| ids.contains(&f.finding_id))
        .map(|f| format!("{} to {}: {}", f.finding_id, f.sink, f.error))
        .collect();
    (!errors.is_empty()).then(|| format!("failed again: {}", errors.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::message::Kind;
    use crate::intake::Incoming;
    use crate::pipeline::Failure;
    use serde_json::json;

    fn unwrapped(ids: &[&str]) -> Unwrapped {
        Unwrapped {
            kind: Kind::QuarantinedFinding,
            findings: Ok(ids
                .iter()
                .map(|id| Incoming {
                    event_id: None,
                    finding: json!({"id": id}).into(),
                })
                .collect()),
            error: None,
            first_failed_at: None,
            destination: None,
            retryable: false,
        }
    }

    #[test]
    fn a_message_fails_again_when_any_of_its_findings_failed_anywhere() {
        let outcome = Outcome {
            failures: vec![Failure {
                finding_id: "b".into(),
                sink: "https".into(),
                error: "HTTP 503".into(),
                cause: None,
                index: 0,
                delivered_elsewhere: false,
            }],
            ..Outcome::default()
        };
        assert_eq!(failure_of(&unwrapped(&["a"]), &outcome), None);
        assert_eq!(
            failure_of(&unwrapped(&["a", "b"]), &outcome).as_deref(),
            Some("failed again: b to https: HTTP 503")
        );
    }

    fn failed(id: &str) -> Outcome {
        Outcome {
            failures: vec![Failure {
                finding_id: id.into(),
                sink: "sqs".into(),
                error: "AccessDenied".into(),
                cause: None,
                index: 0,
                delivered_elsewhere: false,
            }],
            ..Outcome::default()
        }
    }

    fn skipped(id: &str) -> Outcome {
        Outcome {
            skipped_ids: [id.to_string()].into_iter().collect(),
            ..Outcome::default()
        }
    }

    #[test]
    fn a_message_is_deleted_only_when_none_of_its_findings_failed_or_was_skipped() {
        let message = unwrapped(&["a", "b"]);
        assert_eq!(not_sent(&message, &Outcome::default(), false), None);
        assert_eq!(not_sent(&message, &failed("c"), false), None);
        assert_eq!(not_sent(&message, &skipped("c"), false), None);
        assert_eq!(
            not_sent(&message, &failed("b"), false).as_deref(),
            Some("failed again: b to sqs: AccessDenied")
        );
        assert_eq!(
            not_sent(&message, &failed("b"), true).as_deref(),
            Some("failed again: b to sqs: AccessDenied"),
            "--drop-skipped never deletes a failed finding's message"
        );
        let kept = not_sent(&message, &skipped("a"), false).expect("kept");
        assert!(kept.starts_with("not sent: a below MIN_SEVERITY"), "{kept}");
        assert_eq!(
            not_sent(&message, &skipped("a"), true),
            None,
            "--drop-skipped deletes it"
        );
    }

    #[test]
    fn a_message_whose_findings_have_no_id_is_not_matched_to_another_failure() {
        let mut message = unwrapped(&[]);
        message.findings = Ok(vec![Incoming {
            event_id: None,
            finding: json!({"title": "no id"}).into(),
        }]);
        assert_eq!(not_sent(&message, &failed(""), false), None);
        assert!(ids_in(&message).is_empty());
        assert_eq!(
            ids_in(&unwrapped(&["a", "b", "a"])),
            ["a", "b"].into_iter().map(String::from).collect()
        );
    }

    #[test]
    fn the_summary_says_failed_while_anything_stays() {
        let mut report = Report {
            messages: 2,
            deleted: 2,
            ..Report::default()
        };
        assert!(
            report
                .summary()
                .starts_with("redrive ok: 2 message(s) read, 2 deleted, 0 kept")
        );
        report.kept.push(Kept {
            entry: Entry {
                message_id: "m".into(),
                kind: Kind::Unknown,
                findings: vec![],
                error: None,
                first_failed_at: None,
                receive_count: None,
                destination: None,
                problem: Some("not JSON".into()),
            },
            reason: "holds no finding".into(),
        });
        assert!(!report.ok());
        assert!(report.summary().starts_with("redrive FAILED"));
        assert!(
            report.kept[0]
                .entry
                .line()
                .contains("unknown message | NO FINDING: not JSON")
        );
    }
}
