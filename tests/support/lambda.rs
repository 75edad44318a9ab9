//! The binary started as Lambda starts a function: the Runtime API stand-in, the environment
//! Lambda gives (`process::lambda_env`) plus the test's own, and the binary `process::command`
//! picks (the packaged bootstrap when `GDF_LAMBDA_BOOTSTRAP` is set).

use super::process::{Running, command, lambda_env};
use super::runtime_api::{Reply, RuntimeApi};

/// A function polling a fresh Runtime API, with `extra` on top of Lambda's environment.
pub async fn start(extra: &[(&str, String)]) -> (RuntimeApi, Running) {
    let api = RuntimeApi::start().await;
    let mut env: Vec<(&str, String)> = lambda_env(api.addr);
    env.extend(extra.iter().cloned());
    let running = Running::spawn(command(&env));
    (api, running)
}

/// Invokes with `payload` and returns the response; fails the test on an error reply.
pub async fn invoke_ok(
    api: &RuntimeApi,
    proc_: &Running,
    payload: serde_json::Value,
) -> serde_json::Value {
    match api.invoke(payload).await {
        Reply::Response(r) => r,
        Reply::Error(e) => panic!("the invocation failed: {e}\n{}", proc_.all_output()),
    }
}
