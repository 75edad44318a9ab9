//! Links into the AWS console: a finding's page in the GuardDuty console.
//!
//! Property (unit-tested below): a link is made only from a known partition, a region and an
//! id of plain characters (lowercase letters, digits, `-`), so nothing taken from a finding
//! can change the link's host, path or query beyond the finding it names.

/// The console's host for a partition (`aws`, `aws-us-gov`, `aws-cn`) and region.
fn console_host(partition: &str, region: &str) -> Option<String> {
    match partition {
        "aws" => Some(format!("{region}.console.aws.amazon.com")),
        "aws-us-gov" => Some("console.amazonaws-us-gov.com".to_string()),
        "aws-cn" => Some("console.amazonaws.cn".to_string()),
        _ => None,
    }
}

/// The partition a region belongs to, for a finding that does not name its partition.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Lowercase letters, digits and `-`, 1-64 of them.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The finding's page in the GuardDuty console of its partition, e.g.
/// `https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=<id>`;
/// `None` when the partition is not one of AWS's three or the region or id is not plain.
pub fn finding_url(partition: Option<&str>, region: &str, id: &str) -> Option<String> {
    if !plain(region) || !plain(id) {
        return None;
    }
    let partition = partition.unwrap_or_else(|| partition_of(region));
    let host = console_host(partition, region)?;
    Some(format!(
        "https://{host}/guardduty/home?region={region}#/findings?macros=current&fId={id}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "60baffd3f9042e38640f2300d5c5a631";

    #[test]
    fn each_partition_links_to_its_own_console() {
        let cases = [
            (
                Some("aws"),
                "eu-west-1",
                "https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=",
            ),
            (
                Some("aws-us-gov"),
                "us-gov-west-1",
                "https://console.amazonaws-us-gov.com/guardduty/home?region=us-gov-west-1#/findings?macros=current&fId=",
            ),
            (
                Some("aws-cn"),
                "cn-north-1",
                "https://console.amazonaws.cn/guardduty/home?region=cn-north-1#/findings?macros=current&fId=",
            ),
        ];
        for (partition, region, prefix) in cases {
            assert_eq!(
                finding_url(partition, region, ID),
                Some(format!("{prefix}{ID}")),
                "{partition:?}"
            );
        }
    }

    #[test]
    fn without_a_partition_the_region_tells_it() {
        for (region, host) in [
            ("us-east-1", "us-east-1.console.aws.amazon.com"),
            ("us-gov-east-1", "console.amazonaws-us-gov.com"),
            ("cn-northwest-1", "console.amazonaws.cn"),
        ] {
            let url = finding_url(None, region, ID).unwrap();
            assert!(url.starts_with(&format!("https://{host}/")), "{url}");
        }
    }

    #[test]
    fn an_unknown_partition_or_a_region_or_id_that_is_not_plain_gives_no_link() {
        assert_eq!(finding_url(Some("aws-iso"), "us-iso-east-1", ID), None);
        for (region, id) in [
            ("", ID),
            ("eu-west-1", ""),
            ("evil.com/x", ID),
            ("eu-west-1", "a&region=x"),
            ("eu-west-1", "ID#x"),
            ("eu-west-1", &"a".repeat(65)),
        ] {
            assert_eq!(finding_url(Some("aws"), region, id), None, "{region} {id}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_input_gives_no_link_or_one_on_a_console_host_naming_only_that_finding(
            partition in proptest::option::of("aws|aws-cn|aws-us-gov|aws-iso|.{0,8}"),
            region in ".{0,20}|[a-z]{2}-[a-z]{4,9}-[0-9]",
            id in ".{0,40}|[0-9a-f]{32}",
        ) {
            if let Some(url) = finding_url(partition.as_deref(), &region, &id) {
                let host = url.strip_prefix("https://").and_then(|u| u.split('/').next());
                let host = host.unwrap_or_default();
                proptest::prop_assert!(
                    host == format!("{region}.console.aws.amazon.com")
                        || host == "console.amazonaws-us-gov.com"
                        || host == "console.amazonaws.cn",
                    "{}", url
                );
                proptest::prop_assert!(url.ends_with(&format!("&fId={id}")), "{}", url);
                proptest::prop_assert_eq!(url.matches('#').count(), 1);
                proptest::prop_assert_eq!(url.matches('?').count(), 2);
            }
        }
    }
}
