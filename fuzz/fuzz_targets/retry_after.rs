//! Any `Retry-After` text: a delay or nothing, never a panic; the wait stays capped.
#![no_main]

use guardduty_forwarder::retry::{Backoff, parse_retry_after};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ra = parse_retry_after(text);
    let wait = Backoff::default().wait(1, ra);
    assert!(wait <= std::time::Duration::from_secs(60));
});
