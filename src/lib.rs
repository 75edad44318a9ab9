//! guardduty-forwarder: every Amazon GuardDuty finding, normalized, delivered at least once.
//!
//! The modules follow the data's path:
//!
//! - [`config`]: every setting, read and validated once at start-up.
//! - [`intake`]: what arrived (a Lambda event, CLI input) and what it asks for;
//!   [`input`]: the CLI's files and stdin, streamed.
//! - [`context`]: what is known of each finding's account (name, OU path, tags), from AWS
//!   Organizations or a mapping document, cached; [`console`]: the finding's console link.
//! - [`normalize`]: a finding into a record (pure); [`ocsf`]: the OCSF variant.
//! - [`record`]: a record encoded once, as every destination sends it.
//! - [`pipeline`]: normalize, filter, deliver, count.
//! - [`sink`]: the destinations (log stream, SQS, HTTPS collector) behind one trait;
//!   [`retry`]: the deadline, backoff and what is worth retrying.
//! - [`aws`]: the SDK's configuration; [`budget`]: every AWS call bounded by the time left;
//!   [`aws_error`]: an AWS failure in one line a person can act on.
//! - [`backfill`]: the scheduled catch-up from the GuardDuty API.
//! - [`lambda`] and [`cli`]: the two faces of the binary; [`app`] wires them.
//! - [`function`]: a deployed function's configuration, for `check --function`.
//! - [`dlq`]: the dead-letter queue for operators (`dlq list`, `redrive`, `replay`).
//! - [`logging`]: structured logs on stderr; [`metrics`]: EMF lines on stdout;
//!   [`clock`]: now, epoch ms, RFC 3339.

pub mod app;
pub mod aws;
pub mod aws_error;
pub mod backfill;
pub mod budget;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod context;
pub mod dlq;
pub mod function;
pub mod help;
pub mod input;
pub mod intake;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod normalize;
pub mod ocsf;
pub mod park;
pub mod pipeline;
pub mod record;
pub mod retry;
pub mod route;
pub mod sink;
pub mod view;
