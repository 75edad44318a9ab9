//! Wiring: builds the destinations and clients named by the configuration, once per process.

use std::sync::Arc;

use crate::aws::Aws;
use crate::config::Config;
use crate::pipeline::Forwarder;
use crate::sink::Sink;
use crate::sink::firehose::FirehoseSink;
use crate::sink::https::{CollectorSetupError, HttpsSink};
use crate::sink::log::LogSink;
use crate::sink::s3::S3Sink;
use crate::sink::sqs::SqsSink;

/// Everything that outlives an invocation: configuration and clients, nothing else.
pub struct App {
    pub config: Config,
    pub forwarder: Forwarder,
    pub aws: Arc<Aws>,
    /// GuardDuty clients and the backfill's credentials.
    pub reader: crate::backfill::Reader,
}

impl App {
    /// The backfill, with what it uses.
    pub fn backfill(&self) -> crate::backfill::Backfill<'_> {
        crate::backfill::Backfill {
            reader: &self.reader,
            forwarder: &self.forwarder,
            config: &self.config.backfill,
        }
    }
}

/// Why the destinations could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Collector(#[from] CollectorSetupError),
}

impl App {
    /// Builds the app. `default_to_stdout`: the CLI writes to stdout when no destination is set.
    pub async fn build(config: Config, default_to_stdout: bool) -> Result<App, SetupError> {
        Self::build_with(config, default_to_stdout, Arc::new(Aws::new())).await
    }

    /// [`App::build`] with these AWS settings (`check --function`: in the function's region).
    pub async fn build_with(
        config: Config,
        default_to_stdout: bool,
        aws: Arc<Aws>,
    ) -> Result<App, SetupError> {
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        if config.log_records || (default_to_stdout && !config.has_destination()) {
            sinks.push(Box::new(LogSink));
        }
        if let Some(url) = &config.sqs_queue_url {
            sinks.push(Box::new(SqsSink::new(aws.clone(), url.clone())));
        }
        if let Some(collector) = &config.collector {
            sinks.push(Box::new(HttpsSink::new(collector.clone(), aws.clone())?));
        }
        if let Some(stream) = &config.firehose {
            sinks.push(Box::new(FirehoseSink::new(aws.clone(), stream.clone())));
        }
        if let Some(s3) = &config.s3 {
            sinks.push(Box::new(S3Sink::new(aws.clone(), s3.clone())));
        }
        if sinks.is_empty() {
            return Err(crate::config::ConfigError::NoDestination.into());
        }
        let forwarder = Forwarder::new(sinks, config.min_severity, config.output_schema);
        let reader = crate::backfill::Reader::new(aws.clone(), &config.backfill);
        Ok(App {
            config,
            forwarder,
            aws,
            reader,
        })
    }
}
