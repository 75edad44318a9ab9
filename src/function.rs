//! A deployed function's configuration, for `check --function`: Lambda's
//! `GetFunctionConfiguration` (`GET /2015-03-31/functions/{name}/configuration`), signed with
//! SigV4 by `aws-sigv4` (already in the binary: the SDK signs every call with it) and sent
//! over the HTTP client the collector uses, rather than through `aws-sdk-lambda`, a whole
//! SDK crate for one read-only call that only the CLI makes (BENCHMARKS.md has the figures).
//!
//! Like the SDK, it takes the operator's credentials, region and endpoint from the standard
//! chain: `AWS_ENDPOINT_URL_LAMBDA`, then the profile's `lambda` `endpoint_url`, then
//! `AWS_ENDPOINT_URL`, else `https://lambda[-fips].<region>.amazonaws.com[.cn]` (`api.aws`,
//! `api.amazonwebservices.com.cn` dual-stack).
//!
//! Invariants (unit-tested below): the function's environment variables are held as
//! [`Sensitive`] and reach no error, log line or `Debug` output; an answer that cannot be read
//! is named by its position, never by its text; every failure names the function.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use serde::Deserialize;

use crate::config::Sensitive;

/// The longest one attempt may take, and how many attempts a call gets.
const ATTEMPT: Duration = Duration::from_secs(10);
const ATTEMPTS: u32 = 3;
/// No answer is read past this (a configuration is a few kilobytes; the environment at most 4).
const MAX_ANSWER: usize = 256 * 1024;

/// The deployed function, as `GetFunctionConfiguration` describes it.
#[derive(Clone, PartialEq, Eq)]
pub struct Function {
    pub arn: String,
    pub role: Option<String>,
    pub runtime: Option<String>,
    pub architectures: Vec<String>,
    pub timeout_seconds: Option<u32>,
    pub memory_mb: Option<u32>,
    /// `DeadLetterConfig.TargetArn`, when set.
    pub dead_letter: Option<String>,
    /// The VPC it runs in, when attached to one.
    pub vpc: Option<String>,
    /// `State` and `StateReason`, when Lambda says the function is not usable.
    pub failed_state: Option<String>,
    variables: BTreeMap<String, Sensitive>,
}

impl Function {
    /// One of its environment variables.
    pub fn variable(&self, name: &str) -> Option<String> {
        self.variables.get(name).map(|v| v.expose().to_string())
    }

    /// The names of its environment variables, never their values.
    pub fn variable_names(&self) -> impl Iterator<Item = &str> {
        self.variables.keys().map(String::as_str)
    }
}

/// Its `Debug` lists the variables' names only.
impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("arn", &self.arn)
            .field("role", &self.role)
            .field("runtime", &self.runtime)
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why the function's configuration could not be read or used. Each names the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionError {
    #[error(
        "--function {given:?}: not a Lambda function name or ARN (letters, digits, -, _; an ARN \
         or a qualifier adds : and $; at most 170 characters)"
    )]
    BadName { given: String },
    #[error("--function {function}: the ARN is in {in_arn} but --region says {region}")]
    RegionMismatch {
        function: String,
        in_arn: String,
        region: String,
    },
    #[error(
        "function {function}: no AWS region: pass --region, give the function's ARN, or set \
         AWS_REGION"
    )]
    NoRegion { function: String },
    #[error("lambda:GetFunctionConfiguration on {function}: {why}")]
    Credentials { function: String, why: String },
    #[error(
        "function {function} not found in {region} ({message}); check the name, the account \
         and the region (--region)"
    )]
    NotFound {
        function: String,
        region: String,
        message: String,
    },
    #[error(
        "lambda:GetFunctionConfiguration on {function}: access denied ({message}); allow \
         lambda:GetFunctionConfiguration on it for these credentials"
    )]
    AccessDenied { function: String, message: String },
    #[error(
        "lambda:GetFunctionConfiguration on {function}: cannot reach {endpoint} ({why}); check \
         the network, a proxy, the region, or AWS_ENDPOINT_URL_LAMBDA"
    )]
    Unreachable {
        function: String,
        endpoint: String,
        why: String,
    },
    #[error("lambda:GetFunctionConfiguration on {function} failed: {code}: {message}")]
    Service {
        function: String,
        code: String,
        message: String,
    },
    #[error(
        "lambda:GetFunctionConfiguration on {function}: the answer is not a function \
         configuration ({why})"
    )]
    Unreadable { function: String, why: String },
    #[error(
        "function {function} has no environment variables: it would refuse to start with no \
         destination (SQS_QUEUE_URL, COLLECTOR_URL or LOG_RECORDS=true); is it the forwarder?"
    )]
    NoEnvironment { function: String },
    #[error(
        "function {function}: its environment could not be decrypted ({code}: {message}); \
         these credentials need kms:Decrypt on the function's key{key}"
    )]
    EnvironmentSealed {
        function: String,
        code: String,
        message: String,
        key: String,
    },
}

impl FunctionError {
    /// The CLI's exit code: 2 for what the operator typed and for a function whose settings
    /// would stop it from starting, 1 for a configuration that could not be read.
    pub fn exit_code(&self) -> u8 {
        match self {
            FunctionError::BadName { .. }
            | FunctionError::RegionMismatch { .. }
            | FunctionError::NoEnvironment { .. } => 2,
            _ => 1,
        }
    }
}

/// Checks `--function`: a name, a partial ARN (`123456789012:function:name`) or an ARN,
/// each with an optional qualifier.
pub fn validate_name(given: &str) -> Result<(), FunctionError> {
    let ok = !given.is_empty()
        && given.len() <= 170
        && given
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '$' | '.'));
    if ok {
        Ok(())
    } else {
        Err(FunctionError::BadName {
            given: given.chars().take(200).collect(),
        })
    }
}

/// The region to read the function in: `--region`, else the ARN's, else `None` (the SDK's).
pub fn region_for(function: &str, region: Option<&str>) -> Result<Option<String>, FunctionError> {
    validate_name(function)?;
    let in_arn = crate::aws::region_of_arn(function);
    match (region, in_arn) {
        (Some(r), Some(a)) if r != a => Err(FunctionError::RegionMismatch {
            function: function.to_string(),
            in_arn: a.to_string(),
            region: r.to_string(),
        }),
        (Some(r), _) => Ok(Some(r.to_string())),
        (None, a) => Ok(a.map(str::to_string)),
    }
}

/// Reads the configuration of `function` with the credentials, region and endpoint of
/// `config` (the region the function is in).
pub async fn read(config: &SdkConfig, function: &str) -> Result<Function, FunctionError> {
    validate_name(function)?;
    let Some(region) = config.region().map(|r| r.to_string()) else {
        return Err(FunctionError::NoRegion {
            function: function.to_string(),
        });
    };
    let credentials = credentials(config)
        .await
        .map_err(|why| FunctionError::Credentials {
            function: function.to_string(),
            why,
        })?;
    let url = format!(
        "{}/2015-03-31/functions/{}/configuration",
        endpoint(config, &region).trim_end_matches('/'),
        encode_label(function)
    );
    let (status, headers, body) = get_signed(&url, &region, credentials, function).await?;
    if status != 200 {
        return Err(service_error(function, &region, status, &headers, &body));
    }
    parse(function, &body)
}

/// The operator's credentials, or why there are none, in the words `check` uses elsewhere.
async fn credentials(config: &SdkConfig) -> Result<aws_credential_types::Credentials, String> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = config.credentials_provider() else {
        return Err(format!(
            "no AWS credentials found: {}",
            crate::aws_error::credential_chain()
        ));
    };
    provider
        .provide_credentials()
        .await
        .map_err(|e| crate::aws_error::credentials_line(&e).unwrap_or_else(|| e.to_string()))
}

/// Lambda's endpoint as the SDK would pick it (see the module doc).
pub fn endpoint(config: &SdkConfig, region: &str) -> String {
    if let Some(url) = crate::aws::configured_endpoint(config, "Lambda") {
        return url;
    }
    let host = if config.use_fips() == Some(true) {
        "lambda-fips"
    } else {
        "lambda"
    };
    let suffix = match (
        region.starts_with("cn-"),
        config.use_dual_stack() == Some(true),
    ) {
        (false, false) => "amazonaws.com",
        (true, false) => "amazonaws.com.cn",
        (false, true) => "api.aws",
        (true, true) => "api.amazonwebservices.com.cn",
    };
    format!("https://{host}.{region}.{suffix}")
}

/// A path label as the SDK encodes it (`:` and `$` percent-encoded).
fn encode_label(name: &str) -> String {
    name.replace(':', "%3A").replace('$', "%24")
}

type Answer = (u16, http::HeaderMap, bytes::Bytes);

/// `GET url`, signed for `lambda` in `region`: up to [`ATTEMPTS`] attempts, again only after
/// a connection failure, throttling or a server error.
async fn get_signed(
    url: &str,
    region: &str,
    credentials: aws_credential_types::Credentials,
    function: &str,
) -> Result<Answer, FunctionError> {
    let client = crate::sink::transport::build_client(&[], true).map_err(|e| {
        FunctionError::Unreachable {
            function: function.to_string(),
            endpoint: host_of(url),
            why: e.to_string(),
        }
    })?;
    let identity = credentials.into();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = crate::aws::signed_get(
            url,
            "lambda",
            region,
            &identity,
            aws_sigv4::http_request::SigningSettings::default(),
            &[("accept", "application/json")],
        )
        .map_err(|e| e.to_string())
        .map_err(|why| FunctionError::Unreachable {
            function: function.to_string(),
            endpoint: host_of(url),
            why,
        })?;
        let sent = tokio::time::timeout(ATTEMPT, client.request(request)).await;
        let outcome = match sent {
            Ok(Ok(response)) => {
                let (parts, body) = response.into_parts();
                let body = crate::sink::transport::read_bounded(body, MAX_ANSWER, ATTEMPT).await;
                match body {
                    crate::sink::transport::ResponseBody::Complete(b) => {
                        Ok((parts.status.as_u16(), parts.headers, b))
                    }
                    _ => Err("the answer could not be read whole in time".to_string()),
                }
            }
            Ok(Err(e)) => Err(describe_send_error(&e)),
            Err(_) => Err(format!("no answer in {} s", ATTEMPT.as_secs())),
        };
        let retry = match &outcome {
            Ok((status, _, _)) => *status == 429 || *status >= 500,
            Err(_) => true,
        };
        if !retry || attempt >= ATTEMPTS {
            return outcome.map_err(|why| FunctionError::Unreachable {
                function: function.to_string(),
                endpoint: host_of(url),
                why,
            });
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
}

/// What failed sending, in one line: TLS, or the deepest cause (connection refused, DNS).
fn describe_send_error(e: &hyper_util::client::legacy::Error) -> String {
    if let Some(tls) = crate::sink::transport::tls_error(e) {
        return format!("TLS failure: {tls}");
    }
    crate::aws_error::root_cause(e)
}

/// Scheme, host and port of an endpoint: no path (it holds the function's name only, but the
/// endpoint may come from a variable that holds anything).
fn host_of(url: &str) -> String {
    crate::sink::redact::RedactedUrl::new(url).to_string()
}

/// A refusal in Lambda's REST-JSON error shape: the code from `x-amzn-ErrorType` or the body's
/// `__type`/`Type`/`code`, the message from `message`/`Message`.
fn service_error(
    function: &str,
    region: &str,
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
) -> FunctionError {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| json.get(*n).and_then(|v| v.as_str()).map(str::to_string))
    };
    let code = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_string())
        .or_else(|| field(&["__type", "code", "Code", "Type"]))
        .map(|c| c.rsplit('#').next().unwrap_or(&c).to_string())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message =
        field(&["message", "Message"]).unwrap_or_else(|| "no message in the answer".to_string());
    let message: String = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let message: String = message.chars().take(300).collect();
    let function = function.to_string();
    match (status, code.as_str()) {
        (404, _) | (_, "ResourceNotFoundException") => FunctionError::NotFound {
            function,
            region: region.to_string(),
            message,
        },
        (403, _) | (_, "AccessDeniedException" | "AccessDenied") => {
            FunctionError::AccessDenied { function, message }
        }
        (
            _,
            "ExpiredTokenException" | "UnrecognizedClientException" | "InvalidSignatureException",
        ) => FunctionError::Credentials {
            function,
            why: format!(
                "AWS refused the credentials ({code}: {message}); refresh them and try again"
            ),
        },
        _ => FunctionError::Service {
            function,
            code,
            message,
        },
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Configuration {
    function_arn: Option<String>,
    role: Option<String>,
    runtime: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    timeout: Option<u32>,
    memory_size: Option<u32>,
    environment: Option<Environment>,
    dead_letter_config: Option<DeadLetterConfig>,
    vpc_config: Option<VpcConfig>,
    state: Option<String>,
    state_reason: Option<String>,
    #[serde(rename = "KMSKeyArn")]
    kms_key_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Environment {
    variables: Option<BTreeMap<String, String>>,
    error: Option<EnvironmentError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvironmentError {
    error_code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeadLetterConfig {
    target_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VpcConfig {
    vpc_id: Option<String>,
}

/// The answer read into a [`Function`]. A parse failure is named by line and column only: the
/// text around it may be a variable's value.
fn parse(function: &str, body: &[u8]) -> Result<Function, FunctionError> {
    let c: Configuration = serde_json::from_slice(body).map_err(|e| FunctionError::Unreadable {
        function: function.to_string(),
        why: format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    })?;
    let environment = c.environment.unwrap_or(Environment {
        variables: None,
        error: None,
    });
    if let Some(error) = environment.error {
        return Err(FunctionError::EnvironmentSealed {
            function: function.to_string(),
            code: error.error_code.unwrap_or_default(),
            message: error.message.unwrap_or_default(),
            key: c.kms_key_arn.map(|k| format!(" ({k})")).unwrap_or_default(),
        });
    }
    let variables: BTreeMap<String, Sensitive> = environment
        .variables
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Sensitive::new(v)))
        .collect();
    if variables.is_empty() {
        return Err(FunctionError::NoEnvironment {
            function: function.to_string(),
        });
    }
    let failed_state = match (c.state.as_deref(), c.state_reason) {
        (Some("Failed"), reason) => Some(format!(
            "Failed{}",
            reason.map(|r| format!(" ({r})")).unwrap_or_default()
        )),
        _ => None,
    };
    Ok(Function {
        arn: c.function_arn.unwrap_or_else(|| function.to_string()),
        role: c.role,
        runtime: c.runtime,
        architectures: c.architectures,
        timeout_seconds: c.timeout,
        memory_mb: c.memory_size,
        dead_letter: c.dead_letter_config.and_then(|d| d.target_arn),
        vpc: c
            .vpc_config
            .and_then(|v| v.vpc_id)
            .filter(|v| !v.is_empty()),
        failed_state,
        variables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Splunk 0f3c-SEKRET-token";

    fn answer(environment: serde_json::Value) -> Vec<u8> {
        serde_json::json!({
            "FunctionName": "gdf",
            "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:gdf",
            "Runtime": "provided.al2023",
            "Role": "arn:aws:iam::123456789012:role/gdf-role",
            "Timeout": 60,
            "MemorySize": 128,
            "Architectures": ["arm64"],
            "Environment": environment,
            "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": ""},
            "State": "Active"
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_configuration_is_read_and_its_values_never_shown() {
        let body = answer(serde_json::json!({"Variables": {
            "SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "COLLECTOR_AUTH_VALUE": SECRET,
        }}));
        let f = parse("gdf", &body).unwrap();
        assert_eq!(f.arn, "arn:aws:lambda:eu-west-1:123456789012:function:gdf");
        assert_eq!(
            f.role.as_deref(),
            Some("arn:aws:iam::123456789012:role/gdf-role")
        );
        assert_eq!((f.timeout_seconds, f.memory_mb), (Some(60), Some(128)));
        assert_eq!(f.architectures, ["arm64"]);
        assert_eq!((f.vpc.as_deref(), f.failed_state.as_deref()), (None, None));
        assert_eq!(f.variable("COLLECTOR_AUTH_VALUE").as_deref(), Some(SECRET));
        assert_eq!(
            f.variable_names().collect::<Vec<_>>(),
            ["COLLECTOR_AUTH_VALUE", "SQS_QUEUE_URL"]
        );
        assert!(!format!("{f:?}").contains("SEKRET"), "{f:?}");
    }

    #[test]
    fn an_answer_that_cannot_be_read_is_named_by_position_not_by_its_text() {
        // A value where a number belongs, and a value that is not text: serde would quote both.
        for body in [
            answer(serde_json::json!({"Variables": {"X": 5}})),
            format!(r#"{{"Timeout": "{SECRET}"}}"#).into_bytes(),
            format!(r#"{{"Environment": {{"Variables": {{"A": "{SECRET}"#).into_bytes(),
        ] {
            let e = parse("gdf", &body).unwrap_err();
            assert!(matches!(e, FunctionError::Unreadable { .. }), "{e}");
            let shown = e.to_string();
            assert!(
                shown.contains("on gdf") && shown.contains("line 1"),
                "{shown}"
            );
            assert!(
                !shown.contains("SEKRET") && !shown.contains("invalid type"),
                "{shown}"
            );
        }
    }

    #[test]
    fn a_function_without_variables_or_with_sealed_ones_is_named() {
        for environment in [
            serde_json::Value::Null,
            serde_json::json!({}),
            serde_json::json!({"Variables": {}}),
        ] {
            let e = parse("gdf", &answer(environment)).unwrap_err();
            assert!(matches!(e, FunctionError::NoEnvironment { .. }), "{e}");
            assert!(
                e.to_string().starts_with("function gdf has no environment"),
                "{e}"
            );
            assert_eq!(e.exit_code(), 2);
        }
        let sealed = answer(serde_json::json!({"Error": {
            "ErrorCode": "AccessDeniedException",
            "Message": "Lambda was unable to decrypt the environment variables"
        }}));
        let e = parse("gdf", &sealed).unwrap_err();
        assert!(e.to_string().contains("kms:Decrypt"), "{e}");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn lambdas_refusals_read_as_not_found_denied_or_the_services_own_words() {
        let mut typed = http::HeaderMap::new();
        typed.insert(
            "x-amzn-errortype",
            "ResourceNotFoundException:http://internal.amazon.com/coral/"
                .parse()
                .unwrap(),
        );
        let missing = service_error(
            "gdf",
            "eu-west-1",
            404,
            &typed,
            br#"{"Type":"User","Message":"Function not found: arn:aws:lambda:eu-west-1:1:function:gdf"}"#,
        );
        assert!(
            matches!(missing, FunctionError::NotFound { .. }),
            "{missing}"
        );
        assert!(
            missing
                .to_string()
                .starts_with("function gdf not found in eu-west-1 (Function not found")
        );
        let denied = service_error(
            "gdf",
            "eu-west-1",
            403,
            &http::HeaderMap::new(),
            br#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::1:user/o is not authorized to perform: lambda:GetFunctionConfiguration"}"#,
        );
        assert!(
            matches!(denied, FunctionError::AccessDenied { .. }),
            "{denied}"
        );
        assert!(
            denied
                .to_string()
                .contains("allow lambda:GetFunctionConfiguration")
        );
        let other = service_error("gdf", "eu-west-1", 400, &http::HeaderMap::new(), b"<html>");
        assert_eq!(
            other.to_string(),
            "lambda:GetFunctionConfiguration on gdf failed: HTTP 400: no message in the answer"
        );
    }

    #[test]
    fn a_name_or_arn_is_accepted_and_its_region_used_unless_contradicted() {
        for ok in [
            "gdf",
            "gdf:$LATEST",
            "123456789012:function:gdf",
            "arn:aws:lambda:eu-west-1:123456789012:function:gdf:live",
        ] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "gdf/../x", "gdf?Qualifier=1", &"x".repeat(171)] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:gdf";
        assert_eq!(region_for(arn, None), Ok(Some("eu-west-1".into())));
        assert_eq!(
            region_for(arn, Some("eu-west-1")),
            Ok(Some("eu-west-1".into()))
        );
        assert_eq!(
            region_for("gdf", Some("us-east-2")),
            Ok(Some("us-east-2".into()))
        );
        assert_eq!(region_for("gdf", None), Ok(None));
        assert!(matches!(
            region_for(arn, Some("us-east-1")),
            Err(FunctionError::RegionMismatch { .. })
        ));
        assert_eq!(encode_label("gdf:$LATEST"), "gdf%3A%24LATEST");
    }

    #[test]
    fn the_endpoint_is_the_configured_one_else_the_regions() {
        let bare = |region: &str| {
            SdkConfig::builder()
                .region(aws_config::Region::new(region.to_string()))
                .build()
        };
        assert_eq!(
            endpoint(&bare("eu-west-1"), "eu-west-1"),
            "https://lambda.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint(&bare("cn-north-1"), "cn-north-1"),
            "https://lambda.cn-north-1.amazonaws.com.cn"
        );
        let fips = SdkConfig::builder().use_fips(true).build();
        assert_eq!(
            endpoint(&fips, "us-east-1"),
            "https://lambda-fips.us-east-1.amazonaws.com"
        );
        let dual = SdkConfig::builder().use_dual_stack(true).build();
        assert_eq!(
            endpoint(&dual, "eu-west-1"),
            "https://lambda.eu-west-1.api.aws"
        );
        let local = SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:5000")
            .build();
        assert_eq!(endpoint(&local, "us-east-1"), "http://127.0.0.1:5000");
    }
}
