//! Wiring: builds the destinations and clients named by the configuration, once per process.

use std::sync::Arc;

use crate::aws::Aws;
use crate::config::{Config, ConfigError, Destination, DestinationKind};
use crate::pipeline::{Forwarder, Route};
use crate::route::Filter;
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
    /// `DESTINATIONS_PARAMETER` could not be read.
    #[error("DESTINATIONS_PARAMETER: cannot read the SSM parameter {name:?}: {detail}")]
    DestinationsParameter { name: String, detail: String },
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
        let mut config = config;
        if let Some(name) = config.destinations_parameter.clone() {
            let text = read_parameter(&aws, &name).await?;
            config.destinations = crate::config::parse_document(&text, "DESTINATIONS_PARAMETER")?;
            crate::config::schema_fits(&config.destinations, config.output_schema)?;
        }
        if !default_to_stdout {
            config.require_dead_letter_queue()?;
        }
        let mut routes = Vec::with_capacity(config.destinations.len() + 1);
        for d in &config.destinations {
            routes.push(Route::new(&d.name, d.filter.clone(), sink_for(d, &aws)?));
        }
        if routes.is_empty() && default_to_stdout {
            routes.push(Route::new("log", Filter::default(), Box::new(LogSink)));
        }
        if routes.is_empty() {
            return Err(ConfigError::NoDestination.into());
        }
        let context = crate::context::Enricher::new(config.account_context.clone(), aws.clone());
        let forwarder =
            Forwarder::new(routes, config.min_severity, config.output_schema).with_context(context);
        let reader = crate::backfill::Reader::new(aws.clone(), &config.backfill);
        Ok(App {
            config,
            forwarder,
            aws,
            reader,
        })
    }
}

/// The sink that sends to one destination.
fn sink_for(d: &Destination, aws: &Arc<Aws>) -> Result<Box<dyn Sink>, SetupError> {
    Ok(match &d.kind {
        DestinationKind::Log => Box::new(LogSink),
        DestinationKind::Sqs { queue_url } => {
            Box::new(SqsSink::new(aws.clone(), queue_url.clone()))
        }
        DestinationKind::Https(c) => Box::new(HttpsSink::new((**c).clone(), aws.clone())?),
        DestinationKind::Firehose(stream) => {
            Box::new(FirehoseSink::new(aws.clone(), stream.clone()))
        }
        DestinationKind::S3(s3) => Box::new(S3Sink::new(aws.clone(), s3.clone())),
    })
}

/// The destinations document in the SSM parameter `name` (decrypted: it may be a
/// SecureString, since it may hold a credential). The parameter's value is never shown.
async fn read_parameter(aws: &Aws, name: &str) -> Result<String, SetupError> {
    let failed = |detail: String| SetupError::DestinationsParameter {
        name: name.to_string(),
        detail,
    };
    let config = match crate::aws::region_of_arn(name) {
        Some(region) => aws.config_for(region).await,
        None => aws.config().await.clone(),
    };
    let budget = crate::budget::Budget::within(crate::retry::Deadline::none())
        .ok_or_else(|| failed("no time left".into()))?;
    let answer = aws_sdk_ssm::Client::new(&config)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .customize()
        .config_override(budget.ssm())
        .send()
        .await
        .map_err(|e| failed(crate::backfill::describe(&e)))?;
    answer
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| failed("the parameter has no value".into()))
}
