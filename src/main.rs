//! The binary: logging, configuration, then the Lambda loop or the CLI. All else is in the
//! library.

use std::process::ExitCode;

use clap::FromArgMatches;
use guardduty_forwarder::{app::App, cli, config::Config, help, lambda, logging};

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match std::env::var("AWS_LAMBDA_RUNTIME_API") {
        Ok(api) if !api.is_empty() => runtime.block_on(lambda_main(api)),
        _ => runtime.block_on(cli_main()),
    }
}

async fn lambda_main(api: String) -> ExitCode {
    let started = async {
        logging::init(true)?;
        let config = Config::from_env().map_err(|e| e.to_string())?;
        config.require_destination().map_err(|e| e.to_string())?;
        App::build(config, false).await.map_err(|e| e.to_string())
    };
    match started.await {
        Ok(app) => match lambda::run(app).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lambda runtime stopped: {e}");
                ExitCode::FAILURE
            }
        },
        Err(message) => {
            eprintln!("guardduty-forwarder: {message}");
            lambda::report_init_error(&api, &message).await;
            // Every start-up failure is a setting to fix: the CLI's "bad configuration" code.
            ExitCode::from(2)
        }
    }
}

async fn cli_main() -> ExitCode {
    // Parsed through `help::command()`: the same arguments, with examples and exit codes.
    let cli = match cli::Cli::from_arg_matches(&help::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Err(e) = logging::init(false) {
        eprintln!("guardduty-forwarder: {e}");
        return ExitCode::from(2);
    }
    // With --function the function's settings are the whole configuration: this shell's
    // variables are not read (nor refused).
    if let cli::Command::Check {
        json,
        function: Some(function),
        region,
    } = &cli.command
    {
        return cli::check_function(function, region.as_deref(), *json).await;
    }
    let app = match Config::from_env() {
        Ok(config) => App::build(config, true).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match (app, &cli.command) {
        (Ok(app), _) => cli::run(cli, app).await,
        // `check` reports a bad configuration as its first failed check, and exits 2 like
        // every command given a bad configuration.
        (Err(e), cli::Command::Check { json, .. }) => {
            let failed = guardduty_forwarder::check::bad_configuration(e);
            cli::report_checks(&[failed], *json);
            ExitCode::from(2)
        }
        (Err(e), _) => {
            eprintln!("guardduty-forwarder: {e}");
            ExitCode::from(2)
        }
    }
}
