//! Examples and exit codes at the end of every command's `--help`, kept beside the argument
//! definitions in [`crate::cli`] rather than inside them so they read as one page. The
//! binary parses with [`command`]; a command without text of its own here still gets the
//! common exit codes, so a new command never goes without (`tests/reference_docs.rs`
//! checks every one).

use clap::{Command, CommandFactory};

const CONFIG_EXIT: &str =
    "  2  bad configuration or arguments (the message names the variable or argument)";

/// Examples, then exit codes, for the command at `path` (`forward`, `dlq list`, …).
fn text(path: &str) -> String {
    let (examples, codes): (&[&str], &[&str]) = match path {
        "" => (
            &[
                "guardduty-forwarder forward events/guardduty-finding.json",
                "guardduty-forwarder check",
                "guardduty-forwarder backfill --since 7d > findings.ndjson",
            ],
            &["  0  success", "  1  something failed (named on stderr)"],
        ),
        "forward" => (
            &[
                "guardduty-forwarder forward events/guardduty-finding.json",
                "aws guardduty get-findings --detector-id D --finding-ids F | guardduty-forwarder forward -",
                "SQS_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/findings guardduty-forwarder forward findings/",
            ],
            &[
                "  0  every finding forwarded (events that are not findings are ignored)",
                "  1  an input was invalid or a finding failed; everything else was forwarded",
            ],
        ),
        "backfill" => (
            &[
                "guardduty-forwarder backfill --since 7d --region us-east-1 > findings.ndjson",
                "COLLECTOR_URL=https://collector.example.com/ingest guardduty-forwarder backfill --since 3h",
            ],
            &[
                "  0  every finding in the window delivered",
                "  1  a finding failed or a GuardDuty call failed",
            ],
        ),
        "check" => (
            &[
                "guardduty-forwarder check",
                "guardduty-forwarder check --json",
                "guardduty-forwarder check --function guardduty-forwarder-Function-AbC123 --region eu-west-1",
                "guardduty-forwarder check --function arn:aws:lambda:eu-west-1:123456789012:function:gdf",
            ],
            &[
                "  0  every check passed",
                "  1  a check failed (its ✘ line says why), or the --function could not be read",
            ],
        ),
        "replay" => (
            &[
                "guardduty-forwarder replay --since 2026-11-01T00:00:00Z --until 2026-11-02T00:00:00Z",
                "guardduty-forwarder replay --since 90m --region eu-west-1",
            ],
            &[
                "  0  every finding in the range delivered",
                "  1  a finding failed or a GuardDuty call failed",
            ],
        ),
        "dlq" | "dlq list" => (
            &[
                "DLQ_URL=https://sqs.us-east-1.amazonaws.com/123456789012/gdf-dlq guardduty-forwarder dlq list",
                "guardduty-forwarder dlq list --queue URL --json",
            ],
            &[
                "  0  the queue is empty",
                "  1  messages are in the queue (listed), or the queue could not be read",
            ],
        ),
        "redrive" => (
            &[
                "guardduty-forwarder redrive --dry-run",
                "COLLECTOR_URL=https://collector.example.com/ingest guardduty-forwarder redrive --max 10",
            ],
            &[
                "  0  nothing stays in the queue",
                "  1  messages stay (reported with their error)",
            ],
        ),
        _ => (
            &[],
            &["  0  success", "  1  something failed (named on stderr)"],
        ),
    };
    let mut out = String::new();
    if !examples.is_empty() {
        out.push_str("Examples:\n");
        for e in examples {
            out.push_str(&format!("  {e}\n"));
        }
        out.push('\n');
    }
    out.push_str("Exit codes:\n");
    for c in codes {
        out.push_str(&format!("{c}\n"));
    }
    out.push_str(CONFIG_EXIT);
    out
}

fn with_text(cmd: Command, path: String) -> Command {
    let cmd = cmd.after_help(text(&path));
    cmd.mut_subcommands(|sub| {
        let sub_path = if path.is_empty() {
            sub.get_name().to_string()
        } else {
            format!("{path} {}", sub.get_name())
        };
        with_text(sub, sub_path)
    })
}

/// The CLI's clap command with examples and exit codes in every command's help.
pub fn command() -> Command {
    with_text(crate::cli::Cli::command(), String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_gets_examples_or_at_least_exit_codes() {
        let cmd = command();
        let mut pending = vec![cmd];
        while let Some(c) = pending.pop() {
            if c.get_name() != "help" {
                let after = c
                    .get_after_help()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                assert!(after.contains("Exit codes:"), "{} has none", c.get_name());
                assert!(after.contains("  2  bad configuration"), "{}", c.get_name());
            }
            pending.extend(c.get_subcommands().cloned());
        }
    }
}
