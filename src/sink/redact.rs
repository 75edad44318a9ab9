//! How a collector URL is shown: scheme, host and port only (`https://host:443/…`). A URL may
//! carry a token in its path, query or user-info (Sumo Logic HTTP sources, webhook receivers),
//! so no log line, error, metric or `check` line shows more than this.
//!
//! Invariant (unit-tested below): the shown form never contains the path, query, fragment or
//! user-info of the URL, whatever the input.

use std::fmt;

/// A collector URL reduced to what may be shown.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    /// From URL text; text that does not parse as a URL shows as `(unparseable URL)`.
    pub fn new(url: &str) -> Self {
        match url.parse::<hyper::Uri>() {
            Ok(uri) => Self::from_uri(&uri),
            Err(_) => RedactedUrl("(unparseable URL)".into()),
        }
    }

    pub fn from_uri(uri: &hyper::Uri) -> Self {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            return RedactedUrl("(URL without a host)".into());
        };
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        RedactedUrl(format!("{scheme}://{host}:{port}/…"))
    }

    /// A placeholder for a URL not read yet (it lives in Secrets Manager).
    pub fn unresolved(var: &str) -> Self {
        RedactedUrl(format!("(the URL in {var})"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_shows_only_scheme_host_and_port() {
        let cases = [
            (
                "https://collectors.sumologic.com/receiver/v1/http/SEKRET",
                "https://collectors.sumologic.com:443/…",
            ),
            (
                "https://user:SEKRET@c.example:8443/x?token=SEKRET#SEKRET",
                "https://c.example:8443/…",
            ),
            ("http://127.0.0.1:9000/SEKRET", "http://127.0.0.1:9000/…"),
            ("HTTPS://C.example", "https://C.example:443/…"),
            ("not a url SEKRET", "(unparseable URL)"),
            ("/relative/SEKRET", "(URL without a host)"),
        ];
        for (url, shown) in cases {
            assert_eq!(RedactedUrl::new(url).as_str(), shown, "for {url}");
        }
    }

    #[test]
    fn display_and_debug_show_the_redacted_form_and_a_pending_url_names_its_variable() {
        let url = RedactedUrl::new("https://c.example/t/SEKRET");
        assert_eq!(url.to_string(), "https://c.example:443/…");
        assert_eq!(format!("{url:?}"), "\"https://c.example:443/…\"");
        let pending = RedactedUrl::unresolved("COLLECTOR_URL_SECRET_ARN");
        assert_eq!(pending.as_str(), "(the URL in COLLECTOR_URL_SECRET_ARN)");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn no_path_query_or_user_info_is_ever_shown(
            host in "[a-z][a-z0-9.-]{0,20}",
            secret in "[A-Za-z0-9_~-]{12,40}",
            shape in 0usize..4,
        ) {
            let url = match shape {
                0 => format!("https://{host}/p/{secret}"),
                1 => format!("https://{host}/?t={secret}"),
                2 => format!("https://u:{secret}@{host}/"),
                _ => format!("https://{host}:443/{secret}#{secret}"),
            };
            let shown = RedactedUrl::new(&url).to_string();
            proptest::prop_assert!(!shown.contains(&secret), "{} shows {}", url, shown);
        }
    }
}
