//! The settings' tests: every variable read, refused and named.

use super::*;

fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
}

fn rejected_var(vars: &[(&str, &str)]) -> &'static str {
    match parse(vars) {
        Err(ConfigError::Invalid { var, .. }) | Err(ConfigError::Rejected { var, .. }) => var,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_firehose_stream_is_a_name_or_an_arn_whose_region_is_kept() {
    let c = parse(&[("FIREHOSE_STREAM_NAME", "gd-findings_1.x")]).unwrap();
    assert_eq!(
        c.firehose().cloned(),
        Some(FirehoseStream {
            name: "gd-findings_1.x".into(),
            region: None
        })
    );
    assert!(c.require_destination().is_ok() && c.has_remote_destination());
    let arn = "arn:aws-us-gov:firehose:us-gov-west-1:123456789012:deliverystream/gd";
    let c = parse(&[("FIREHOSE_STREAM_NAME", arn)]).unwrap();
    assert_eq!(
        c.firehose().cloned(),
        Some(FirehoseStream {
            name: "gd".into(),
            region: Some("us-gov-west-1".into())
        })
    );
    for bad in [
        "has space",
        "arn:aws:kinesis:us-east-1:123456789012:stream/gd",
        "arn:aws:firehose::123456789012:deliverystream/gd",
        "arn:aws:firehose:us-east-1:123456789012:gd",
        &"x".repeat(65),
    ] {
        let e = parse(&[("FIREHOSE_STREAM_NAME", bad)])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("FIREHOSE_STREAM_NAME: "), "{e}");
    }
}

#[test]
fn the_backfill_lag_limit_is_the_settle_margin_plus_three_schedule_intervals_unless_set() {
    let lag = |vars: &[(&str, &str)]| parse(vars).unwrap().backfill.max_lag;
    assert_eq!(lag(&[]), Some(Duration::from_secs(300 + 3 * 300)));
    assert_eq!(
        lag(&[
            ("BACKFILL_INTERVAL_SECONDS", "3600"),
            ("BACKFILL_SETTLE_SECONDS", "60")
        ]),
        Some(Duration::from_secs(60 + 3 * 3600))
    );
    assert_eq!(
        lag(&[("BACKFILL_MAX_LAG_SECONDS", "7200")]),
        Some(Duration::from_secs(7200))
    );
    assert_eq!(lag(&[("BACKFILL_MAX_LAG_SECONDS", "0")]), None);
    for (var, value) in [
        ("BACKFILL_INTERVAL_SECONDS", "30"),
        ("BACKFILL_INTERVAL_SECONDS", "5m"),
        ("BACKFILL_MAX_LAG_SECONDS", "-1"),
    ] {
        let e = parse(&[(var, value)]).unwrap_err().to_string();
        assert!(e.contains(var), "{e}");
    }
}

#[test]
fn ocsf_records_are_refused_for_the_sentinel_preset_whose_table_is_native() {
    let sentinel = [
        ("COLLECTOR_FORMAT", "sentinel"),
        (
            "COLLECTOR_URL",
            "https://gdf-abcd.eastus-1.ingest.monitor.azure.com",
        ),
        (
            "COLLECTOR_AUTH_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:entra-AbCdEf",
        ),
        ("SENTINEL_DCR_ID", "dcr-0123456789abcdef0123456789abcdef"),
        ("SENTINEL_STREAM", "Custom-GuardDutyFindings"),
        ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("AZURE_CLIENT_ID", "00000000-1111-2222-3333-444444444444"),
    ];
    assert!(parse(&sentinel).is_ok());
    let mut ocsf = sentinel.to_vec();
    ocsf.push(("OUTPUT_SCHEMA", "ocsf"));
    assert_eq!(rejected_var(&ocsf), "OUTPUT_SCHEMA");
}

#[test]
fn an_empty_environment_gives_the_documented_defaults() {
    let c = parse(&[]).unwrap();
    assert!(c.destinations.is_empty() && c.destinations_parameter.is_none());
    assert_eq!(c.min_severity, Severity::Info);
    assert_eq!(c.output_schema, OutputSchema::Native);
    let c = parse(&[("OUTPUT_SCHEMA", "ocsf")]).unwrap();
    assert_eq!(c.output_schema, OutputSchema::Ocsf(OcsfVersion::V1_1_0));
    let c = parse(&[("OUTPUT_SCHEMA", "ocsf"), ("OCSF_VERSION", "1.8.0")]).unwrap();
    assert_eq!(c.output_schema, OutputSchema::Ocsf(OcsfVersion::V1_8_0));
    assert_eq!(c.backfill.max_findings, 500);
    assert_eq!(c.backfill.lookback, Duration::from_secs(15 * 60));
    assert_eq!(c.backfill.settle, Duration::from_secs(300));
    assert_eq!(c.backfill.quarantine_after, 3);
    assert_eq!(c.backfill.dlq_url, None);
    assert_eq!(c.backfill.state_table, None);
    assert_eq!(c.backfill.rescan, Duration::from_secs(60 * 60));
    assert_eq!(c.backfill.rule_min_severity, 0);
    assert!(c.backfill.detector_ids.is_empty());
    assert_eq!(c.metrics_namespace, "GuardDutyForwarder");
    assert_eq!(c.metrics_detail, crate::metrics::Detail::Default);
    assert_eq!(c.require_destination(), Err(ConfigError::NoDestination));
}

#[test]
fn each_bad_value_is_rejected_naming_its_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("LOG_RECORDS", "maybe")], "LOG_RECORDS"),
        (&[("MIN_SEVERITY", "severe")], "MIN_SEVERITY"),
        (&[("OUTPUT_SCHEMA", "ecs")], "OUTPUT_SCHEMA"),
        (
            &[("OUTPUT_SCHEMA", "ocsf"), ("OCSF_VERSION", "1.2.0")],
            "OCSF_VERSION",
        ),
        (&[("SQS_QUEUE_URL", "my-queue")], "SQS_QUEUE_URL"),
        (
            &[("SQS_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/")],
            "SQS_QUEUE_URL",
        ),
        (
            &[("COLLECTOR_URL", "http://collector.example")],
            "COLLECTOR_URL",
        ),
        (
            &[("COLLECTOR_URL", "ftp://collector.example")],
            "COLLECTOR_URL",
        ),
        (&[("COLLECTOR_URL", "https://")], "COLLECTOR_URL"),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_FORMAT", "xml"),
            ],
            "COLLECTOR_FORMAT",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_GZIP", "on"),
            ],
            "COLLECTOR_GZIP",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_MAX_BATCH_BYTES", "10"),
            ],
            "COLLECTOR_MAX_BATCH_BYTES",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_MAX_BATCH_RECORDS", "0"),
            ],
            "COLLECTOR_MAX_BATCH_RECORDS",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_TIMEOUT_SECONDS", "-1"),
            ],
            "COLLECTOR_TIMEOUT_SECONDS",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_AUTH_HEADER", "bad header"),
            ],
            "COLLECTOR_AUTH_HEADER",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_AUTH_SECRET_ARN", "my-secret"),
            ],
            "COLLECTOR_AUTH_SECRET_ARN",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_ALLOW_HTTP", "sure"),
            ],
            "COLLECTOR_ALLOW_HTTP",
        ),
        (
            &[("COLLECTOR_AUTH_VALUE", "Bearer x")],
            "COLLECTOR_AUTH_VALUE",
        ),
        (&[("COLLECTOR_CA_FILE", "/tmp/ca.pem")], "COLLECTOR_CA_FILE"),
        (
            &[("GUARDDUTY_REGIONS", "us-east-1,Mars")],
            "GUARDDUTY_REGIONS",
        ),
        (&[("DETECTOR_IDS", "abc,de-f")], "DETECTOR_IDS"),
        (&[("DETECTOR_IDS", "Mars:abc")], "DETECTOR_IDS"),
        (&[("DETECTOR_IDS", "us-east-1:")], "DETECTOR_IDS"),
        (&[("DETECTOR_IDS", "us-east-1:a:b")], "DETECTOR_IDS"),
        (
            &[
                ("GUARDDUTY_REGIONS", "us-east-1"),
                ("DETECTOR_IDS", "eu-west-1:abc"),
            ],
            "DETECTOR_IDS",
        ),
        (&[("STATE_TABLE", "ab")], "STATE_TABLE"),
        (&[("STATE_TABLE", "my table")], "STATE_TABLE"),
        (&[("STATE_TABLE", &*"t".repeat(256))], "STATE_TABLE"),
        (&[("STATE_PREFIX", "/gdf")], "STATE_PREFIX"),
        (
            &[("STATE_TABLE", "state"), ("STATE_PREFIX", "a b")],
            "STATE_PREFIX",
        ),
        (
            &[("BACKFILL_RESCAN_MINUTES", "1441")],
            "BACKFILL_RESCAN_MINUTES",
        ),
        (
            &[("BACKFILL_RESCAN_MINUTES", "an hour")],
            "BACKFILL_RESCAN_MINUTES",
        ),
        (&[("RULE_MIN_SEVERITY", "11")], "RULE_MIN_SEVERITY"),
        (&[("RULE_MIN_SEVERITY", "-1")], "RULE_MIN_SEVERITY"),
        (&[("RULE_MIN_SEVERITY", "high")], "RULE_MIN_SEVERITY"),
        (
            &[("BACKFILL_MAX_FINDINGS", "lots")],
            "BACKFILL_MAX_FINDINGS",
        ),
        (
            &[("BACKFILL_LOOKBACK_MINUTES", "0")],
            "BACKFILL_LOOKBACK_MINUTES",
        ),
        (
            &[("BACKFILL_INCLUDE_ARCHIVED", "2")],
            "BACKFILL_INCLUDE_ARCHIVED",
        ),
        (&[("CHECKPOINT_PARAMETER", "a b")], "CHECKPOINT_PARAMETER"),
        (
            &[("BACKFILL_SETTLE_SECONDS", "900")],
            "BACKFILL_SETTLE_SECONDS",
        ),
        (
            &[("BACKFILL_SETTLE_SECONDS", "-1")],
            "BACKFILL_SETTLE_SECONDS",
        ),
        (
            &[("BACKFILL_QUARANTINE_AFTER", "0")],
            "BACKFILL_QUARANTINE_AFTER",
        ),
        (&[("DLQ_URL", "not a queue")], "DLQ_URL"),
        (&[("ASSUME_ROLE_ARN", "role/reader")], "ASSUME_ROLE_ARN"),
        (
            &[("ASSUME_ROLE_EXTERNAL_ID", "x")],
            "ASSUME_ROLE_EXTERNAL_ID",
        ),
        (&[("METRICS_NAMESPACE", ":bad")], "METRICS_NAMESPACE"),
        (&[("METRICS_DETAIL", "verbose")], "METRICS_DETAIL"),
        (
            &[
                ("COLLECTOR_URL", "https://c.example/receiver/v1/http/x"),
                ("COLLECTOR_FORMAT", "sumo-http"),
                ("COLLECTOR_AUTH_VALUE", "token"),
            ],
            "COLLECTOR_AUTH_VALUE",
        ),
    ];
    for (vars, var) in cases {
        assert_eq!(rejected_var(vars), *var, "for {vars:?}");
    }
}

#[test]
fn plain_http_is_accepted_only_when_explicitly_allowed() {
    let c = parse(&[
        ("COLLECTOR_URL", "http://127.0.0.1:9000/ingest"),
        ("COLLECTOR_ALLOW_HTTP", "true"),
    ])
    .unwrap();
    assert_eq!(
        c.collector().unwrap().url.clone(),
        UrlSource::Plain(Sensitive::new("http://127.0.0.1:9000/ingest"))
    );
}

#[test]
fn both_auth_sources_at_once_are_refused_without_showing_the_value() {
    let err = parse(&[
        ("COLLECTOR_URL", "https://c.example"),
        (
            "COLLECTOR_AUTH_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:x",
        ),
        ("COLLECTOR_AUTH_VALUE", "Bearer hunter2"),
    ])
    .unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
    let config = parse(&[
        ("COLLECTOR_URL", "https://c.example"),
        ("COLLECTOR_AUTH_VALUE", "Bearer hunter2\n"),
    ])
    .expect("a trailing newline is accepted");
    let auth = config.collector().expect("collector").auth.clone();
    assert!(
        matches!(&auth, AuthSource::Value(v) if v.expose() == "Bearer hunter2"),
        "the trailing newline is trimmed from the value sent"
    );
}

#[test]
fn a_collector_url_with_a_token_in_it_is_never_echoed() {
    let err = parse(&[(
        "COLLECTOR_URL",
        "http://user:hunter2@c.example/x?token=hunter2",
    )])
    .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("COLLECTOR_URL"));
}

#[test]
fn the_auth_value_is_redacted_from_debug_output() {
    let c = parse(&[
        ("COLLECTOR_URL", "https://c.example"),
        ("COLLECTOR_AUTH_VALUE", "Bearer hunter2"),
    ])
    .unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn lists_are_split_on_commas_and_trimmed() {
    let c = parse(&[
        ("GUARDDUTY_REGIONS", " us-east-1, eu-west-2 ,,"),
        ("DETECTOR_IDS", "abc123"),
        ("LOG_RECORDS", "TRUE"),
    ])
    .unwrap();
    assert_eq!(c.backfill.regions, ["us-east-1", "eu-west-2"]);
    assert_eq!(c.backfill.detector_ids.everywhere, ["abc123"]);
    assert!(c.require_destination().is_ok());
}

#[test]
fn detector_ids_take_bare_ids_for_every_region_and_pairs_for_their_own() {
    let c = parse(&[
        ("GUARDDUTY_REGIONS", "us-east-1,eu-west-1"),
        (
            "DETECTOR_IDS",
            "abc, eu-west-1:def , us-east-1:abc,eu-west-1 : ghi",
        ),
    ])
    .unwrap();
    let ids = &c.backfill.detector_ids;
    assert_eq!(ids.everywhere, ["abc"]);
    assert_eq!(ids.for_region("us-east-1"), ["abc"], "each once");
    assert_eq!(ids.for_region("eu-west-1"), ["abc", "def", "ghi"]);
    // Only pairs, none for this region: the backfill asks ListDetectors there.
    let c = parse(&[("DETECTOR_IDS", "eu-west-1:def")]).unwrap();
    assert!(c.backfill.detector_ids.for_region("us-east-1").is_empty());
    assert_eq!(c.backfill.detector_ids.for_region("eu-west-1"), ["def"]);
    let err = parse(&[
        ("GUARDDUTY_REGIONS", "us-east-1"),
        ("DETECTOR_IDS", "eu-west-1:def"),
    ])
    .unwrap_err();
    assert!(
        err.to_string().contains("not in GUARDDUTY_REGIONS"),
        "{err}"
    );
    assert!(err.to_string().contains("eu-west-1:def"), "{err}");
}

#[test]
fn the_state_table_takes_a_prefix_without_its_outer_slashes_and_the_floor_and_rescan_parse() {
    let c = parse(&[
        ("STATE_TABLE", "gdf-state_1.prod"),
        ("STATE_PREFIX", "/guardduty-forwarder/prod/"),
        ("BACKFILL_RESCAN_MINUTES", "0"),
        ("RULE_MIN_SEVERITY", "7"),
    ])
    .unwrap();
    assert_eq!(
        c.backfill.state_table,
        Some(StateTable {
            table: "gdf-state_1.prod".into(),
            prefix: "guardduty-forwarder/prod".into(),
        })
    );
    assert_eq!(c.backfill.rescan, Duration::ZERO, "0 disables the rescan");
    assert_eq!(c.backfill.rule_min_severity, 7);
    let c = parse(&[("STATE_TABLE", "gdf"), ("BACKFILL_RESCAN_MINUTES", "1440")]).unwrap();
    assert_eq!(c.backfill.state_table.unwrap().prefix, "");
    assert_eq!(c.backfill.rescan, Duration::from_secs(24 * 3600));
    let shown = format!("{:?}", parse(&[("STATE_TABLE", "gdf")]).unwrap().backfill);
    assert!(shown.contains("state_table") && shown.contains("rule_min_severity"));
}

/// Every variable that can hold a credential, with a planted value that must not show.
const PLANTED: &str = "PLANTEDsecret7f3a";

#[test]
fn the_three_common_mistakes_get_a_clear_error_without_the_value() {
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                (
                    "COLLECTOR_AUTH_HEADER",
                    "Authorization: Bearer PLANTEDsecret7f3a",
                ),
            ],
            "COLLECTOR_AUTH_HEADER",
            "looks like a whole header",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_AUTH_HEADER", "Bearer PLANTEDsecret7f3a"),
            ],
            "COLLECTOR_AUTH_HEADER",
            "looks like a header value",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_AUTH_SECRET_ARN", "Bearer PLANTEDsecret7f3a"),
            ],
            "COLLECTOR_AUTH_SECRET_ARN",
            "looks like a secret itself",
        ),
        (
            &[(
                "COLLECTOR_URL_SECRET_ARN",
                "https://c.example/PLANTEDsecret7f3a",
            )],
            "COLLECTOR_URL_SECRET_ARN",
            "looks like a secret itself",
        ),
        (
            &[("COLLECTOR_URL", "ftp://c.example/PLANTEDsecret7f3a")],
            "COLLECTOR_URL",
            "expected an https:// URL",
        ),
        (
            &[(
                "COLLECTOR_URL",
                "http://c.example/receiver/v1/http/PLANTEDsecret7f3a",
            )],
            "COLLECTOR_URL",
            "plain http is refused",
        ),
        (
            &[
                ("ASSUME_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
                ("ASSUME_ROLE_EXTERNAL_ID", "PLANTEDsecret7f3a with spaces"),
            ],
            "ASSUME_ROLE_EXTERNAL_ID",
            "expected 2 to 1224",
        ),
        (
            &[
                ("COLLECTOR_URL", "https://c.example"),
                ("COLLECTOR_AUTH_VALUE", "Bearer PLANTEDsecret7f3a\u{7}"),
            ],
            "COLLECTOR_AUTH_VALUE",
            "not a valid HTTP header value",
        ),
    ];
    for (vars, var, words) in cases {
        let err = parse(vars).expect_err("rejected");
        let text = err.to_string();
        assert!(text.starts_with(var), "{text}");
        assert!(text.contains(words), "{text}");
        assert!(!text.contains(PLANTED), "{text}");
        assert!(!format!("{err:?}").contains(PLANTED), "{err:?}");
    }
}

#[test]
fn debug_of_every_config_struct_shows_no_credential() {
    for url_var in ["COLLECTOR_URL", "COLLECTOR_URL_SECRET_ARN"] {
        let url = if url_var == "COLLECTOR_URL" {
            "https://c.example/receiver/PLANTEDsecret7f3a?t=PLANTEDsecret7f3a"
        } else {
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:PLANTEDsecret7f3a"
        };
        for (auth_var, auth) in [
            ("COLLECTOR_AUTH_VALUE", "Bearer PLANTEDsecret7f3a"),
            (
                "COLLECTOR_AUTH_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:PLANTEDsecret7f3a",
            ),
        ] {
            let c = parse(&[
                (url_var, url),
                (auth_var, auth),
                ("ASSUME_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
                ("ASSUME_ROLE_EXTERNAL_ID", "PLANTEDsecret7f3a"),
            ])
            .expect("valid");
            let collector = c.collector().cloned().expect("collector");
            for shown in [
                format!("{c:?}"),
                format!("{c:#?}"),
                format!("{collector:?}"),
                format!("{:?}", c.backfill),
                format!("{:?}", collector.auth),
                format!("{:?}", collector.url),
            ] {
                assert!(!shown.contains(PLANTED), "{shown}");
            }
        }
    }
}

#[test]
fn the_collector_url_may_come_from_secrets_manager_but_not_from_both_places() {
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:collector-url";
    let c = parse(&[("COLLECTOR_URL_SECRET_ARN", arn)]).expect("valid");
    assert_eq!(
        c.collector().expect("collector").url.clone(),
        UrlSource::Secret(Sensitive::new(arn))
    );
    assert_eq!(
        rejected_var(&[
            ("COLLECTOR_URL_SECRET_ARN", arn),
            ("COLLECTOR_URL", "https://c.example")
        ]),
        "COLLECTOR_URL_SECRET_ARN"
    );
    assert_eq!(
        rejected_var(&[("COLLECTOR_AUTH_HEADER", "X-Token")]),
        "COLLECTOR_AUTH_HEADER"
    );
}

#[test]
fn a_collector_setting_without_a_collector_is_refused_naming_it() {
    let stray: &[(&str, &str)] = &[
        ("COLLECTOR_FORMAT", "bogus"),
        ("COLLECTOR_FORMAT", "splunk-hec"),
        ("COLLECTOR_GZIP", "true"),
        ("COLLECTOR_GZIP", "on"),
        ("COLLECTOR_ALLOW_HTTP", "yes"),
        ("COLLECTOR_MAX_BATCH_BYTES", "2048"),
        ("COLLECTOR_MAX_BATCH_RECORDS", "10"),
        ("COLLECTOR_TIMEOUT_SECONDS", "30"),
        ("COLLECTOR_AUTH_VALUE", "Bearer abc"),
        (
            "COLLECTOR_AUTH_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
        ),
        ("COLLECTOR_CA_FILE", "/tmp/ca.pem"),
        ("COLLECTOR_HEC_INDEX", "security"),
        ("COLLECTOR_HEC_ACK", "true"),
        ("COLLECTOR_ELASTIC_NAMESPACE", "prod"),
        ("COLLECTOR_DATADOG_TAGS", "env:prod"),
        ("COLLECTOR_SUMO_CATEGORY", "aws/guardduty"),
    ];
    for (var, value) in stray {
        // With another destination too: the setting would still be ignored.
        for with in [&[][..], &[("LOG_RECORDS", "true")][..]] {
            let mut env = with.to_vec();
            env.push((var, value));
            match parse(&env) {
                Err(ConfigError::Rejected { var: named, reason }) => {
                    assert_eq!(named, *var);
                    assert!(reason.contains("neither COLLECTOR_URL"), "{reason}");
                }
                other => panic!("{var}={value}: expected a rejection, got {other:?}"),
            }
        }
    }
}

#[test]
fn the_templates_defaults_for_collector_settings_start_without_a_collector() {
    // What template.yaml passes to every stack, collector or not.
    let c = parse(&[
        (
            "SQS_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/findings",
        ),
        ("COLLECTOR_FORMAT", "ndjson"),
        ("COLLECTOR_GZIP", "false"),
        ("COLLECTOR_HEC_INDEX", ""),
        ("COLLECTOR_HEC_SOURCE", ""),
        ("COLLECTOR_HEC_ACK", ""),
        ("COLLECTOR_ELASTIC_NAMESPACE", ""),
        ("COLLECTOR_DATADOG_SOURCE", ""),
        ("COLLECTOR_DATADOG_SERVICE", ""),
        ("COLLECTOR_DATADOG_TAGS", ""),
        ("COLLECTOR_SUMO_CATEGORY", ""),
        ("COLLECTOR_SUMO_NAME", ""),
    ])
    .expect("the template's defaults are valid");
    assert!(c.collector().is_none());
    for (var, default) in [
        ("COLLECTOR_HEC_ACK", "false"),
        ("COLLECTOR_MAX_BATCH_BYTES", "1048576"),
        ("COLLECTOR_MAX_BATCH_RECORDS", "500"),
        ("COLLECTOR_TIMEOUT_SECONDS", "10"),
        ("COLLECTOR_ALLOW_HTTP", "false"),
        ("COLLECTOR_FORMAT", "NDJSON"),
    ] {
        assert!(parse(&[(var, default)]).is_ok(), "{var}={default}");
    }
}

const SECRET_VARS: [&str; 6] = [
    "COLLECTOR_URL",
    "COLLECTOR_URL_SECRET_ARN",
    "COLLECTOR_AUTH_HEADER",
    "COLLECTOR_AUTH_VALUE",
    "COLLECTOR_AUTH_SECRET_ARN",
    "ASSUME_ROLE_EXTERNAL_ID",
];

const ALL_VARS: [&str; 38] = [
    "COLLECTOR_URL",
    "COLLECTOR_URL_SECRET_ARN",
    "COLLECTOR_AUTH_HEADER",
    "COLLECTOR_AUTH_VALUE",
    "COLLECTOR_AUTH_SECRET_ARN",
    "ASSUME_ROLE_EXTERNAL_ID",
    "ASSUME_ROLE_ARN",
    "COLLECTOR_ALLOW_HTTP",
    "COLLECTOR_FORMAT",
    "COLLECTOR_GZIP",
    "COLLECTOR_MAX_BATCH_BYTES",
    "COLLECTOR_TIMEOUT_SECONDS",
    "COLLECTOR_CA_FILE",
    "SQS_QUEUE_URL",
    "LOG_RECORDS",
    "MIN_SEVERITY",
    "OUTPUT_SCHEMA",
    "GUARDDUTY_REGIONS",
    "DETECTOR_IDS",
    "BACKFILL_MAX_FINDINGS",
    "CHECKPOINT_PARAMETER",
    "METRICS_NAMESPACE",
    "STATE_TABLE",
    "STATE_PREFIX",
    "BACKFILL_RESCAN_MINUTES",
    "RULE_MIN_SEVERITY",
    "METRICS_DETAIL",
    "BACKFILL_INTERVAL_SECONDS",
    "BACKFILL_MAX_LAG_SECONDS",
    "FIREHOSE_STREAM_NAME",
    "S3_BUCKET",
    "S3_PREFIX",
    "S3_KMS_KEY_ID",
    "SENTINEL_DCR_ID",
    "SENTINEL_STREAM",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_AUTHORITY_HOST",
];

fn value_strategy() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        Just(String::new()),
        Just("true".to_string()),
        Just("https://c.example/x".to_string()),
        Just("arn:aws:secretsmanager:us-east-1:123456789012:secret:s".to_string()),
        Just("arn:aws:iam::123456789012:role/r".to_string()),
        "[0-9]{1,25}",
        "\\PC{0,40}",
        any::<String>(),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any environment gives a configuration or a named error; a credential-bearing
    /// variable's value (with a planted marker) never shows in the error or in `Debug`.
    #[test]
    fn any_environment_parses_or_names_a_variable_and_never_echoes_a_credential(
        values in proptest::collection::vec(
            proptest::option::of(value_strategy()), ALL_VARS.len()),
    ) {
        let vars: Vec<(String, String)> = ALL_VARS
            .iter()
            .zip(&values)
            .filter_map(|(k, v)| {
                let v = v.as_ref()?;
                let v = if SECRET_VARS.contains(k) { format!("{v}{PLANTED}") } else { v.clone() };
                Some((k.to_string(), v))
            })
            .collect();
        match Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())) {
            Ok(c) => {
                let shown = format!("{c:?}");
                proptest::prop_assert!(!shown.contains(PLANTED));
            }
            Err(e) => {
                let text = e.to_string();
                proptest::prop_assert!(!text.contains(PLANTED), "{}", text);
                let named = ALL_VARS.iter().any(|v| text.starts_with(v))
                    || e == ConfigError::NoDestination;
                proptest::prop_assert!(named, "{}", text);
            }
        }
    }
}
