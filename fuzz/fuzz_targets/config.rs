//! Any environment (`NAME=value` lines): a configuration or an error naming a variable,
//! never a panic; a credential-bearing value (marked by a planted suffix) never shows in the
//! error nor in `Debug` of the configuration.
#![no_main]

use guardduty_forwarder::config::Config;
use libfuzzer_sys::fuzz_target;

const MARK: &str = "PLANTEDq7x";

const SECRET_VARS: [&str; 6] = [
    "COLLECTOR_URL",
    "COLLECTOR_URL_SECRET_ARN",
    "COLLECTOR_AUTH_HEADER",
    "COLLECTOR_AUTH_VALUE",
    "COLLECTOR_AUTH_SECRET_ARN",
    "ASSUME_ROLE_EXTERNAL_ID",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if text.contains(MARK) {
        return;
    }
    let vars: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = if SECRET_VARS.contains(&k) {
                format!("{v}{MARK}")
            } else {
                v.to_string()
            };
            (k.to_string(), v)
        })
        .collect();
    match Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())) {
        Ok(c) => assert!(!format!("{c:?}").contains(MARK)),
        Err(e) => assert!(!e.to_string().contains(MARK), "{e}"),
    }
});
