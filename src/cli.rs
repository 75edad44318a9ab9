//! CLI mode: argument parsing and the operator commands. `forward` replays files or stdin
//! through the same pipeline the Lambda uses.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::input::Source;
use crate::normalize::{OutputSchema, Via};
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
    /// or arrays, plain or gzip) from files, stdin or S3 and deliver them. With no
    /// destination configured, records go to stdout as NDJSON.
    Forward {
        /// Files or directories to read, plain or gzip; `-` or none reads stdin;
        /// `s3://bucket/prefix/` reads the objects under the prefix in key order.
        files: Vec<PathBuf>,
        /// Send nothing: print, per finding, which destinations it would go to and why not
        /// to the others (their filters, MIN_SEVERITY).
        #[arg(long)]
        explain: bool,
    },
    /// Run one backfill now from the GuardDuty API with this machine's AWS credentials
    /// (initial import, catch-up), delivering to the configured destinations (stdout by
    /// default). With --since the window is fixed and the checkpoint is left alone; with no
    /// destination but stdout the checkpoint is read but never moved.
    Backfill {
        /// How far back to look, e.g. 90m, 3h, 7d (default: the checkpoint, else
        /// BACKFILL_LOOKBACK_MINUTES).
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
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
    /// collector, the checkpoint parameter. One line per check, each marked with whose
    /// credentials it ran with (always this machine's, never the function's role); exit 0
    /// only if all pass.
    Check {
        /// Print the results as a JSON array.
        #[arg(long)]
        json: bool,
        /// Check a deployed function's settings instead of this shell's: its environment
        /// variables (read with lambda:GetFunctionConfiguration) win completely, and no
        /// forwarder variable set in this shell is read. A name, or an ARN. The checks still
        /// run with this machine's credentials, not the function's role.
        #[arg(long, value_name = "NAME")]
        function: Option<String>,
        /// The function's region (default: the ARN's, else the SDK's, e.g. AWS_REGION).
        #[arg(long, value_name = "REGION", requires = "function")]
        region: Option<String>,
    },
    /// Re-read a time range from the GuardDuty API into the configured destinations (stdout
    /// by default) without touching the checkpoint: a SIEM rebuilt from scratch, a new
    /// destination added, a failed scheduled run. The `backfill` with explicit bounds. With
    /// --from, from GuardDuty's S3 export instead, past the API's 90 days.
    Replay {
        /// Read GuardDuty's S3 export under this prefix (s3://bucket/[prefix/]) instead of
        /// the API: the objects whose date partition (yyyy/mm/dd, UTC) falls within
        /// --since/--until, whole days, in key order.
        #[arg(long, value_name = "S3_URL", conflicts_with_all = ["regions", "detectors"])]
        from: Option<String>,
        /// Start of the range (`updatedAt`): an RFC 3339 time (2026-11-01T00:00:00Z) or a
        /// duration ago (90m, 7d).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: i64,
        /// End of the range, exclusive (default: now); the same forms.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: Option<i64>,
        /// Region to read (repeatable; default GUARDDUTY_REGIONS, else the SDK's region).
        #[arg(long = "region", value_name = "REGION")]
        regions: Vec<String>,
        /// Detector to read (repeatable; default DETECTOR_IDS, else ListDetectors).
        #[arg(long = "detector", value_name = "ID")]
        detectors: Vec<String>,
    },
    /// Look inside the dead-letter queue.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Send what the dead-letter queue holds on to the configured destinations. A message is
    /// deleted only once every finding in it reached a real destination (SQS, a collector);
    /// what fails again, holds no finding, or holds a finding MIN_SEVERITY skips, stays and
    /// is reported. With no destination configured it only lists the messages (see
    /// --to-stdout). Exit 0 only when nothing stays.
    Redrive {
        /// The queue (default: DLQ_URL, the stack's DeadLetterQueueUrl output).
        #[arg(long, value_name = "URL")]
        queue: Option<String>,
        /// Stop after this many messages.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max: Option<u64>,
        /// Read and report every message; send and delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// With no destination configured: print the findings to stdout as records and
        /// delete their messages (without it, nothing is sent or deleted).
        #[arg(long)]
        to_stdout: bool,
        /// Delete a message whose findings MIN_SEVERITY skips (without it, it stays).
        #[arg(long)]
        drop_skipped: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// One line per message: kind, finding id and type, severity, account/region, first
    /// failure, error. Messages stay in the queue; messages in flight (held by another
    /// reader) are counted. Exit 0 only when the queue is empty, in flight included.
    List {
        /// The queue (default: DLQ_URL, the stack's DeadLetterQueueUrl output).
        #[arg(long, value_name = "URL")]
        queue: Option<String>,
        /// Print the messages as a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// Why a `--since`/`--until` value is not a time.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeArgError {
    #[error(
        "{value:?} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration ago (90m, 7d)"
    )]
    Unreadable { value: String },
    #[error("{value:?} is in the future")]
    Future { value: String },
}

/// Epoch milliseconds of an RFC 3339 time, or of now minus a duration (`90m`, `7d`).
pub fn parse_time(value: &str) -> Result<i64, TimeArgError> {
    let now = crate::clock::now_ms();
    let ms = match crate::clock::epoch_ms(value.trim()) {
        Some(ms) => ms,
        None => match humantime::parse_duration(value.trim()) {
            Ok(ago) => crate::clock::ms_before(now, ago),
            Err(_) => {
                return Err(TimeArgError::Unreadable {
                    value: value.to_string(),
                });
            }
        },
    };
    if ms > now {
        return Err(TimeArgError::Future {
            value: value.to_string(),
        });
    }
    Ok(ms)
}

/// The dead-letter queue's URL: `--queue`, else `DLQ_URL`.
fn dlq_url(app: &App, queue: Option<String>) -> Option<String> {
    queue
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .or_else(|| app.config.backfill.dlq_url.clone())
}

const NO_QUEUE: &str =
    "no dead-letter queue: pass --queue URL or set DLQ_URL (the stack's DeadLetterQueueUrl output)";

/// `check --function`: the deployed function's settings, checked; its own exit code (2 for a
/// refused setting or argument) and the closing note on whose credentials ran the checks.
pub async fn check_function(function: &str, region: Option<&str>, json: bool) -> ExitCode {
    let report = crate::check::deployed::run(function, region).await;
    report_checks(&report.results, json);
    eprintln!("{}", report.note);
    ExitCode::from(report.exit)
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

/// What `forward` saw beyond the pipeline's counts.
#[derive(Debug, Default)]
struct Tally {
    outcome: Outcome,
    ignored: u64,
    invalid: u64,
}

pub async fn run(cli: Cli, app: App) -> ExitCode {
    match cli.command {
        Command::Forward { files, explain } => {
            let mode = if explain { Mode::Explain } else { Mode::Send };
            forward(&app, files, None, mode).await
        }
        Command::Backfill {
            since,
            regions,
            detectors,
            max_findings,
        } => backfill_command(&app, since, regions, detectors, max_findings).await,
        Command::Replay {
            from,
            since,
            until,
            regions,
            detectors,
        } => {
            if until.is_some_and(|until| until <= since) {
                eprintln!("replay FAILED: --until must be later than --since");
                return ExitCode::from(2);
            }
            if let Some(from) = from {
                if !crate::input::s3::Location::is_url(&from) {
                    eprintln!(
                        "replay FAILED: --from {from:?} is not an S3 URL (s3://bucket/prefix/)"
                    );
                    return ExitCode::from(2);
                }
                let files = vec![PathBuf::from(from)];
                return forward(&app, files, Some((since, until)), Mode::Send).await;
            }
            let request = crate::backfill::Request {
                regions,
                detectors,
                window: Some(crate::backfill::FixedWindow {
                    start_ms: since,
                    end_ms: until,
                }),
                via: Some(Via::Backfill),
                progress: true,
                max_findings: Some(usize::MAX),
                keep_state: false,
                tick: None,
            };
            backfill(&app, request, "replay").await
        }
        Command::Check {
            json,
            function: None,
            ..
        } => report_checks(&crate::check::run(&app).await, json),
        Command::Check {
            json,
            function: Some(function),
            region,
        } => check_function(&function, region.as_deref(), json).await,
        Command::Dlq {
            command: DlqCommand::List { queue, json },
        } => dlq_list(&app, queue, json).await,
        Command::Redrive {
            queue,
            max,
            dry_run,
            to_stdout,
            drop_skipped,
        } => {
            let options = crate::dlq::Options {
                max: max.map(|n| n as usize),
                dry_run,
                progress: true,
                drop_skipped,
                retryable_only: false,
                deadline: None,
            };
            redrive(&app, queue, options, to_stdout).await
        }
    }
}

/// `backfill`: the window from `--since`, else the stored state, which is read but never
/// written when the findings only reach stdout.
async fn backfill_command(
    app: &App,
    since: Option<std::time::Duration>,
    regions: Vec<String>,
    detectors: Vec<String>,
    max_findings: Option<u64>,
) -> ExitCode {
    let window = since.map(|ago| crate::backfill::FixedWindow {
        start_ms: crate::clock::ms_before(crate::clock::now_ms(), ago),
        end_ms: None,
    });
    // Findings that only reach a terminal are not delivered: the function's own
    // backfill must still deliver that window.
    let keep_state = !app.config.has_remote_destination();
    if keep_state && window.is_none() {
        eprintln!(
            "backfill: no destination but stdout (set SQS_QUEUE_URL or COLLECTOR_URL to deliver): the checkpoint is read, not moved"
        );
    }
    let request = crate::backfill::Request {
        regions,
        detectors,
        window,
        via: Some(Via::Backfill),
        progress: true,
        max_findings: Some(max_findings.map_or(usize::MAX, |n| n as usize)),
        keep_state,
        tick: None,
    };
    backfill(app, request, "backfill").await
}

async fn dlq_list(app: &App, queue: Option<String>, json: bool) -> ExitCode {
    let Some(url) = dlq_url(app, queue) else {
        eprintln!("dlq list FAILED: {NO_QUEUE}");
        return ExitCode::FAILURE;
    };
    let queue = crate::dlq::queue::Queue::new(&app.aws, url).await;
    let entries = match crate::dlq::list(&queue, None).await {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("dlq list FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).unwrap_or_default()
        );
    } else {
        for e in &entries {
            println!("{}", e.line());
        }
    }
    let without = entries.iter().filter(|e| e.problem.is_some()).count();
    // Messages someone else holds (a redrive, a consumer) are invisible to the listing.
    let hidden = match queue.counts().await {
        Ok(c) => match c.in_flight + c.delayed {
            0 => Ok(String::new()),
            n => Err(format!(
                "{n} more in flight or delayed (held by another reader, or not yet visible): they show again when their visibility timeout ends"
            )),
        },
        Err(e) => Err(format!("in-flight messages unknown ({e})")),
    };
    match (entries.is_empty(), hidden) {
        (true, Ok(_)) => {
            eprintln!("dlq list: {} is empty", queue.url());
            ExitCode::SUCCESS
        }
        (true, Err(hidden)) => {
            eprintln!(
                "dlq list: no visible message in {}, but {hidden}",
                queue.url()
            );
            ExitCode::FAILURE
        }
        (false, hidden) => {
            let more = hidden.err().map(|h| format!("; {h}")).unwrap_or_default();
            eprintln!(
                "dlq list: {} message(s) in {} ({without} hold no finding){more}; run `guardduty-forwarder redrive` once the destination is back",
                entries.len(),
                queue.url()
            );
            ExitCode::FAILURE
        }
    }
}

async fn redrive(
    app: &App,
    queue: Option<String>,
    options: crate::dlq::Options,
    to_stdout: bool,
) -> ExitCode {
    if !app.config.has_remote_destination() && !to_stdout && !options.dry_run {
        // Printing a finding is not delivering it: list, send and delete nothing.
        let code = dlq_list(app, queue, false).await;
        eprintln!(
            "redrive: no destination configured (SQS_QUEUE_URL or COLLECTOR_URL): nothing sent or deleted; configure it, or pass --to-stdout to print the findings and delete their messages"
        );
        return code;
    }
    let Some(url) = dlq_url(app, queue) else {
        eprintln!("redrive FAILED: {NO_QUEUE}");
        return ExitCode::FAILURE;
    };
    let queue = crate::dlq::queue::Queue::new(&app.aws, url).await;
    match crate::dlq::redrive(&queue, &app.forwarder, options).await {
        Ok(report) => {
            for kept in &report.kept {
                eprintln!("kept: {} | {}", kept.entry.line(), kept.reason);
            }
            eprintln!("{}", report.summary());
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("redrive FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether this machine has AWS credentials, asked once before a run that needs them, so
/// that missing or expired ones read as one line rather than once per region and detector.
async fn credentials_ready(app: &App) -> Result<(), String> {
    use aws_credential_types::provider::ProvideCredentials;
    let config = app.aws.config().await;
    let Some(provider) = config.credentials_provider() else {
        return Ok(());
    };
    provider.provide_credentials().await.map(|_| ()).map_err(|e| {
        tracing::debug!(message = "No usable AWS credentials.", error = %aws_smithy_types::error::display::DisplayErrorContext(&e));
        crate::aws_error::credentials_line(&e).unwrap_or_else(|| e.to_string())
    })
}

/// Runs a CLI backfill (`name`: `backfill` or `replay`, for the summary line).
async fn backfill(app: &App, request: crate::backfill::Request, name: &str) -> ExitCode {
    if let Err(why) = credentials_ready(app).await {
        eprintln!("{name} FAILED: {why}");
        return ExitCode::FAILURE;
    }
    match app.backfill().run(&request, Deadline::none()).await {
        Ok(o) => {
            let ok = o.failed == 0;
            eprintln!(
                "{name} {}: {} received, {} forwarded, {} skipped, {} failed",
                if ok { "ok" } else { "FAILED" },
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
            eprintln!("{name} FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The sources of `forward`'s arguments, and what S3 ones need to be read.
async fn sources(
    app: &App,
    files: Vec<PathBuf>,
    window: Option<(i64, Option<i64>)>,
) -> Result<(Vec<Source>, Option<crate::input::s3::Context>), String> {
    let sources = files
        .into_iter()
        .map(Source::of_arg)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if !sources.iter().any(|s| matches!(s, Source::S3(_))) {
        return Ok((sources, None));
    }
    credentials_ready(app).await?;
    let context = crate::input::s3::Context {
        config: app.aws.config().await.clone(),
        window,
        runtime: tokio::runtime::Handle::current(),
    };
    Ok((sources, Some(context)))
}

/// Whether `forward` delivers, or only says where each finding would go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Send,
    Explain,
}

/// `forward`, and `replay --from` (a `window` selecting the export's partitions).
async fn forward(
    app: &App,
    files: Vec<PathBuf>,
    window: Option<(i64, Option<i64>)>,
    mode: Mode,
) -> ExitCode {
    let name = if window.is_some() {
        "replay"
    } else {
        "forward"
    };
    let via = if window.is_some() {
        Via::Backfill
    } else {
        Via::Cli
    };
    let received_at = crate::clock::now_rfc3339();
    let mut tally = Tally::default();
    // Native records carry the finding's text as it arrived; OCSF reads the finding whole.
    let parse = match app.config.output_schema {
        OutputSchema::Native => crate::input::Parse::Text,
        OutputSchema::Ocsf(_) => crate::input::Parse::Whole,
    };
    let (sources, s3) = match sources(app, files, window).await {
        Ok(found) => found,
        Err(why) => {
            eprintln!("{name} FAILED: {why}");
            return ExitCode::FAILURE;
        }
    };
    let mut reader = match crate::input::Reader::spawn(sources, parse, s3) {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("{name} FAILED: cannot start reading the input: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The input threads read and parse the next chunks while this one is normalized and delivered.
    let mut explained = 0u64;
    while let Some(chunk) = reader.chunks.recv().await {
        if mode == Mode::Explain {
            explained += explain(app, &chunk, via, &received_at);
        } else {
            tally.outcome.add(
                app.forwarder
                    .forward(&chunk, via, &received_at, Deadline::none())
                    .await,
            );
        }
        reader.spent(chunk);
    }
    let counts = reader.finish();
    tally.ignored = counts.ignored;
    tally.invalid = counts.invalid;
    if mode == Mode::Explain {
        let ok = tally.invalid == 0;
        eprintln!(
            "explain {}: {explained} finding(s) explained, {} ignored, {} invalid; nothing sent",
            if ok { "ok" } else { "FAILED" },
            tally.ignored,
            tally.invalid
        );
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let o = &tally.outcome;
    let ok = o.failed == 0 && tally.invalid == 0;
    eprintln!(
        "{name} {}: {} received, {} forwarded, {} skipped, {} failed, {} ignored, {} invalid",
        if ok { "ok" } else { "FAILED" },
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

/// Prints one line per finding of `chunk`: where it would go, and why not elsewhere.
fn explain(app: &App, chunk: &[crate::intake::Incoming], via: Via, received_at: &str) -> u64 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let explanations = app.forwarder.explain(chunk, via, received_at);
    for e in &explanations {
        let _ = writeln!(out, "{}", explanation_line(e));
    }
    explanations.len() as u64
}

/// `ID [severity type account/region]: to A, B; not to C (why)`.
fn explanation_line(e: &crate::pipeline::Explanation) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let head = format!(
        "{} [{} {} {}/{}]",
        e.finding_id,
        e.severity,
        dash(&e.finding_type),
        dash(&e.account_id),
        dash(&e.region)
    );
    if let Some(why) = &e.dropped {
        return format!("{head}: to no destination: {why}");
    }
    let to: Vec<&str> = e
        .routes
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(n, _)| &**n)
        .collect();
    let not: Vec<String> = e
        .routes
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|miss| format!("{n} ({miss})")))
        .collect();
    let mut line = if to.is_empty() {
        format!("{head}: to no destination")
    } else {
        format!("{head}: to {}", to.join(", "))
    };
    if !not.is_empty() {
        line.push_str(&format!("; not to {}", not.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_rfc_3339_or_a_duration_ago_and_never_in_the_future() {
        // 2026-11-01T00:00:00Z, worked out by hand (not by the function parse_time calls).
        assert_eq!(parse_time("2026-11-01T00:00:00Z"), Ok(1_793_491_200_000));
        let ago = parse_time("2h").unwrap_or_default();
        let expected = crate::clock::now_ms() - 2 * 3_600_000;
        assert!((expected - 1000..=expected).contains(&ago), "{ago}");
        assert!(matches!(
            parse_time("last tuesday"),
            Err(TimeArgError::Unreadable { .. })
        ));
        assert!(matches!(
            parse_time("2999-01-01T00:00:00Z"),
            Err(TimeArgError::Future { .. })
        ));
    }
}
