//! Any environment (`NAME=value` lines): a configuration or an error naming a variable,
//! never a panic; a credential-bearing value never shows in the error.
#![no_main]

use guardduty_forwarder::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Err(e) = Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())) {
        let shown = e.to_string();
        for (k, v) in &vars {
            let secret = matches!(
                k.as_str(),
                "COLLECTOR_URL"
                    | "COLLECTOR_URL_SECRET_ARN"
                    | "COLLECTOR_AUTH_HEADER"
                    | "COLLECTOR_AUTH_VALUE"
                    | "COLLECTOR_AUTH_SECRET_ARN"
                    | "ASSUME_ROLE_EXTERNAL_ID"
            );
            if secret && v.trim().len() >= 12 {
                assert!(!shown.contains(v.trim()), "{k} shown in {shown}");
            }
        }
    }
});
