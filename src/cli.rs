//! CLI mode: argument parsing and the operator commands. `forward` replays files or stdin
//! through the same pipeline the Lambda uses.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing::{error, warn};

use crate::app::App;
use crate::intake::{Incoming, Item, Items};
use crate::normalize::Via;
use crate::pipeline::Outcome;
use crate::retry::Deadline;

#[derive(Debug, Parser)]
#[command(
    name = "guardduty-forwarder",
    version,
    about = "Forward Amazon GuardDuty findings to SQS, an HTTPS collector or stdout."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read findings (EventBridge events, bare findings, GetFindings responses; JSON, NDJSON
    /// or arrays) from files or stdin and deliver them. With no destination configured,
    /// records go to stdout as NDJSON.
    Forward {
        /// Files to read; `-` or none reads stdin.
        files: Vec<PathBuf>,
    },
    /// Run one backfill now from the GuardDuty API with this machine's AWS credentials
    /// (initial import, catch-up), delivering to the configured destinations (stdout by
    /// default). With --since the window is fixed and the checkpoint is left alone.
    Backfill {
        /// How far back to look, e.g. 90m, 3h, 7d (default: the checkpoint, else
        /// BACKFILL_LOOKBACK_MINUTES).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// Region to read (repeatable; default GUARDDUTY_REGIONS, else the SDK's region).
        #[arg(long = "region", value_name = "REGION")]
        regions: Vec<String>,
        /// Detector to read (repeatable; default DETECTOR_IDS, else ListDetectors).
        #[arg(long = "detector", value_name = "ID")]
        detectors: Vec<String>,
        /// Stop after this many findings per detector (default: no limit; findings are
        /// delivered as they are fetched).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_findings: Option<u64>,
    },
    /// Verify configuration and reach: credentials, GuardDuty per region, the queue, the
    /// collector, the checkpoint parameter. One line per check; exit 0 only if all pass.
    Check {
        /// Print the results as a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// Prints check results and gives the exit code.
pub fn report_checks(results: &[crate::check::CheckResult], json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(results).unwrap_or_default()
        );
    } else {
        for r in results {
            println!("{}", crate::check::line(r));
        }
    }
    let failed = results.iter().filter(|r| !r.ok).count();
    if failed == 0 {
        eprintln!("check ok: {} check(s) passed", results.len());
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "check FAILED: {failed} of {} check(s) failed",
            results.len()
        );
        ExitCode::FAILURE
    }
}

/// Findings handed to the pipeline at a time, so memory stays flat on large inputs.
const CHUNK: usize = 500;

/// What `forward` saw beyond the pipeline's counts.
#[derive(Debug, Default)]
struct Tally {
    outcome: Outcome,
    ignored: u64,
    invalid: u64,
}

pub async fn run(cli: Cli, app: App) -> ExitCode {
    match cli.command {
        Command::Forward { files } => forward(&app, files).await,
        Command::Backfill {
            since,
            regions,
            detectors,
            max_findings,
        } => {
            let request = crate::backfill::Request {
                regions,
                detectors,
                since,
                via: Some(Via::Backfill),
                progress: true,
                max_findings: Some(max_findings.map_or(usize::MAX, |n| n as usize)),
            };
            backfill(&app, request).await
        }
        Command::Check { json } => report_checks(&crate::check::run(&app).await, json),
    }
}

async fn backfill(app: &App, request: crate::backfill::Request) -> ExitCode {
    match app.backfill().run(&request, Deadline::none()).await {
        Ok(o) => {
            let ok = o.failed == 0;
            eprintln!(
                "{}: {} received, {} forwarded, {} skipped, {} failed",
                if ok { "backfill ok" } else { "backfill FAILED" },
                o.received,
                o.forwarded,
                o.skipped,
                o.failed
            );
            if !ok {
                eprintln!("{}", o.failure_summary());
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("backfill FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn forward(app: &App, files: Vec<PathBuf>) -> ExitCode {
    let inputs: Vec<PathBuf> = if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files
    };
    let received_at = crate::clock::now_rfc3339();
    let mut tally = Tally::default();
    for path in &inputs {
        let shown = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        let bytes = if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map(|_| buf)
        } else {
            std::fs::read(path)
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                error!(message = "Cannot read input.", file = %shown, error = %e);
                tally.invalid += 1;
                continue;
            }
        };
        let mut batch: Vec<Incoming> = Vec::with_capacity(CHUNK);
        for item in Items::new(&bytes) {
            match item {
                Item::Finding(f) => {
                    batch.push(f);
                    if batch.len() >= CHUNK {
                        let chunk = std::mem::replace(&mut batch, Vec::with_capacity(CHUNK));
                        tally.outcome.add(
                            app.forwarder
                                .forward(chunk, Via::Cli, &received_at, Deadline::none())
                                .await,
                        );
                    }
                }
                Item::Ignored {
                    source,
                    detail_type,
                } => {
                    warn!(message = "Event ignored: not a GuardDuty finding.", file = %shown, source = %source, detail_type = %detail_type);
                    tally.ignored += 1;
                }
                Item::Invalid(e) => {
                    error!(message = "Input rejected.", file = %shown, error = %e);
                    tally.invalid += 1;
                }
            }
        }
        if !batch.is_empty() {
            tally.outcome.add(
                app.forwarder
                    .forward(batch, Via::Cli, &received_at, Deadline::none())
                    .await,
            );
        }
    }
    let o = &tally.outcome;
    let ok = o.failed == 0 && tally.invalid == 0;
    eprintln!(
        "{}: {} received, {} forwarded, {} skipped, {} failed, {} ignored, {} invalid",
        if ok { "forward ok" } else { "forward FAILED" },
        o.received,
        o.forwarded,
        o.skipped,
        o.failed,
        tally.ignored,
        tally.invalid
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
