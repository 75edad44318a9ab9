//! The dead-letter queue for operators: `dlq list` shows what it holds, `redrive` sends the
//! findings in it on through the configured destinations. [`message`] reads the three
//! shapes (pure); [`queue`] talks to SQS.
//!
//! Invariants:
//! - A message is deleted only after every finding in it was delivered to every destination;
//!   a message that holds no finding, or whose findings fail again, stays and is reported
//!   with the reason. A finding `MIN_SEVERITY` skips keeps its message too, unless
//!   [`Options::drop_skipped`] says to delete it (the operator's filter may differ from the
//!   function's). The CLI redrives to stdout only when told (`--to-stdout`).
//! - Records re-sent say `ingest.via = "redrive"` and keep their `dedup_key`.
//! - Messages are hidden while a run looks at them and made visible again at its end, so one
//!   run sees each message once and the next run (or `list`) sees what stayed.

pub mod message;
pub mod queue;

use std::collections::HashSet;
use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::pipeline::{Forwarder, Outcome};
use crate::retry::Deadline;
use message::{Kind, Message, Summary, Unwrapped, summary, unwrap};
use queue::{Queue, QueueError, Received};

/// How long a received message stays hidden while a run works on it (seconds): longer than
/// a delivery with every retry.
const HIDE_SECONDS: i32 = 600;

/// One message as `dlq list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub message_id: String,
    pub kind: Kind,
    pub findings: Vec<Summary>,
    /// Why it was parked, as the message says.
    pub error: Option<String>,
    pub first_failed_at: Option<String>,
    pub receive_count: Option<u64>,
    /// Why redrive cannot send it (no finding in it), if so.
    pub problem: Option<String>,
}

impl Entry {
    fn new(received: &Received, unwrapped: &Unwrapped) -> Entry {
        let (findings, problem) = match &unwrapped.findings {
            Ok(fs) => (fs.iter().map(|f| summary(f.finding.view())).collect(), None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Entry {
            message_id: received.message_id.clone(),
            kind: unwrapped.kind,
            findings,
            error: unwrapped.error.clone(),
            first_failed_at: unwrapped.first_failed_at.clone(),
            receive_count: received.receive_count,
            problem,
        }
    }

    /// One line for a person: kind, finding id and type, severity, account/region, first
    /// failure, error.
    pub fn line(&self) -> String {
        let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
        let what = match (self.findings.first(), &self.problem) {
            (Some(f), _) => {
                let more = match self.findings.len() {
                    0 | 1 => String::new(),
                    n => format!(" (+{} more)", n - 1),
                };
                format!(
                    "{}{more} {} {} {}/{}",
                    f.id,
                    or_dash(f.finding_type.as_deref()),
                    or_dash(f.severity),
                    or_dash(f.account_id.as_deref()),
                    or_dash(f.region.as_deref()),
                )
            }
            (None, Some(p)) => format!("NO FINDING: {p}"),
            (None, None) => "NO FINDING".to_string(),
        };
        format!(
            "{} | {} | first failed {} | error: {} | message {}",
            self.kind.label(),
            what,
            or_dash(self.first_failed_at.as_deref()),
            or_dash(self.error.as_deref()),
            self.message_id
        )
    }
}

fn read(received: &Received) -> Unwrapped {
    unwrap(&Message {
        body: &received.body,
        attributes: &received.attributes,
        sent_at: received.sent_at.clone(),
    })
}

/// Every message in the queue, left in it: each is hidden while the listing runs and made
/// visible again at the end.
pub async fn list(queue: &Queue, max: Option<usize>) -> Result<Vec<Entry>, QueueError> {
    let max = max.unwrap_or(usize::MAX);
    let mut seen: HashSet<String> = HashSet::new();
    let mut held: Vec<Received> = Vec::new();
    let mut entries = Vec::new();
    let result = async {
        while entries.len() < max {
            let batch = queue.receive(max - entries.len(), HIDE_SECONDS).await?;
            if batch.is_empty() {
                break;
            }
            for received in batch {
                if seen.insert(received.message_id.clone()) {
                    entries.push(Entry::new(&received, &read(&received)));
                }
                held.push(received);
            }
        }
        Ok::<(), QueueError>(())
    }
    .await;
    release_all(queue, &held).await;
    result.map(|()| entries)
}

/// Makes every held message visible again; failures are logged (they come back by
/// themselves after [`HIDE_SECONDS`]).
async fn release_all(queue: &Queue, held: &[Received]) {
    let refs: Vec<&Received> = held.iter().collect();
    match queue.release(&refs).await {
        Ok(failures) => {
            for f in failures {
                tracing::warn!(message = "Message not made visible again; it will be after the visibility timeout.",
                               message_id = %f.message_id, reason = %f.reason);
            }
        }
        Err(e) => {
            tracing::warn!(message = "Messages not made visible again; they will be after the visibility timeout.", error = %e)
        }
    }
}

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
        while (report.messages as usize) < max {
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
            let to_release = redrive_batch(queue, forwarder, fresh, &mut report).await?;
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
    report: &mut Report,
) -> Result<Vec<Received>, QueueError> {
    report.messages += batch.len() as u64;
    let mut keep: Vec<Received> = Vec::new();
    let mut sendable: Vec<(Received, Unwrapped)> = Vec::new();
    for received in batch {
        let unwrapped = read(&received);
        match &unwrapped.findings {
            Err(e) => {
                let reason = format!("holds no finding: {e}");
                report.kept.push(Kept {
                    entry: Entry::new(&received, &unwrapped),
                    reason,
                });
                keep.push(received);
            }
            Ok(_) if report.dry_run => {
                report.would_send += 1;
                keep.push(received);
            }
            Ok(_) => sendable.push((received, unwrapped)),
        }
    }
    if sendable.is_empty() {
        return Ok(keep);
    }
    let findings: Vec<crate::intake::Incoming> = sendable
        .iter()
        .flat_map(|(_, u)| u.findings.iter().flatten().cloned())
        .collect();
    let received_at = crate::clock::now_rfc3339();
    let outcome = forwarder
        .forward(
            &findings,
            crate::normalize::Via::Redrive,
            &received_at,
            Deadline::none(),
        )
        .await;
    let mut delivered: Vec<&Received> = Vec::new();
    for (received, unwrapped) in &sendable {
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
            sendable.iter().find(|(r, _)| r.message_id == f.message_id)
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
            "not sent: {} below MIN_SEVERITY; lower it, or pass --drop-skipped to delete such messages",
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
mod queue_tests;

#[cfg(test)]
mod tests {
    use super::*;
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
        }
    }

    #[test]
    fn a_message_fails_again_when_any_of_its_findings_failed_anywhere() {
        let outcome = Outcome {
            failures: vec![Failure {
                finding_id: "b".into(),
                sink: "https",
                error: "HTTP 503".into(),
                cause: None,
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
                sink: "sqs",
                error: "AccessDenied".into(),
                cause: None,
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
