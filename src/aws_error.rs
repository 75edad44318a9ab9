//! An AWS call's failure in one line a person can act on: what failed (the IAM action and
//! the resource), why, and what to do. No credentials (and where the chain looked), expired
//! or refused credentials, AccessDenied, a missing region, an unreachable or hung endpoint,
//! throttling and a TLS failure each get their own line; anything else keeps the service's
//! code and message. The SDK's full error chain goes to the debug log (`LOG_LEVEL=debug`),
//! never into the line.
//!
//! Invariants (checked by the tests below): the line is one line (no line break, no debug
//! dump of HTTP structures) and names the action.

use std::error::Error;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Service codes meaning the caller is not allowed.
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "KmsAccessDenied",
    "KMS.AccessDeniedException",
];
/// Service codes meaning the credentials are too old.
const EXPIRED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];
/// Service codes meaning the credentials are not valid at all.
const REFUSED: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSignatureException",
];
/// Service codes meaning "too many requests".
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];
/// Service codes meaning the resource is not there.
const MISSING: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ResourceNotFoundException",
    "ParameterNotFound",
    "NotFoundException",
    "BadRequestException.NotFound",
];

/// The first error of type `T` in `e`'s `source()` chain, looking inside `std::io::Error`s
/// too (their `source()` skips the error they wrap).
pub fn find_source<'a, T: Error + 'static>(e: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut cur: Option<&'a (dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// The deepest error in the chain, as one line: what the operating system or peer said.
pub fn root_cause(e: &(dyn Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !text.trim().is_empty() {
            last = text;
        }
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => err.source(),
        };
    }
    one_line(&last)
}

fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    // A stray debug dump is cut rather than shown whole.
    flat.chars().take(300).collect()
}

/// Where the SDK's default chain looks for credentials, for the "none found" line.
pub fn credential_chain() -> String {
    let profile = std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "default".into());
    format!(
        "looked in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), profile {profile:?} \
         in ~/.aws/config and ~/.aws/credentials (SSO, role, process), web identity \
         (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container endpoint and EC2 instance metadata; \
         run `aws configure` or `aws sso login`, or set AWS_PROFILE"
    )
}

/// What went wrong with the credentials, if that is what failed (a [`CredentialsError`]
/// anywhere in `e`'s chain), in one line.
pub fn credentials_line(e: &(dyn Error + 'static)) -> Option<String> {
    let c = find_source::<CredentialsError>(e)?;
    Some(match c {
        CredentialsError::CredentialsNotLoaded(_) => {
            format!("no AWS credentials found: {}", credential_chain())
        }
        CredentialsError::ProviderTimedOut(_) => format!(
            "looking for AWS credentials timed out ({}); {}",
            root_cause(c),
            credential_chain()
        ),
        CredentialsError::InvalidConfiguration(_) => format!(
            "the AWS credential configuration is not valid: {}; fix ~/.aws/config or the AWS_* variables",
            root_cause(c)
        ),
        _ => format!(
            "AWS credentials could not be loaded: {}; refresh them (`aws sso login`, new keys) and try again",
            root_cause(c)
        ),
    })
}

/// One line for a failed AWS call. `action` is the IAM action (`sqs:ReceiveMessage`),
/// `resource` what it was called on (a queue URL, a parameter name), when there is one.
/// The SDK's whole error chain is logged at debug.
pub fn explain<E>(action: &str, resource: Option<&str>, err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    tracing::debug!(message = "AWS call failed.", action, resource = resource.unwrap_or("-"),
                    error = %DisplayErrorContext(err));
    let on = resource.map(|r| format!(" on {r}")).unwrap_or_default();
    let what = format!("{action}{on}");
    if let Some(line) = credentials_line(err) {
        return format!("{what}: {line}");
    }
    match err {
        SdkError::TimeoutError(_) => format!(
            "{what}: no answer from AWS in time (the endpoint is unreachable or hung); check the network, a proxy, or AWS_ENDPOINT_URL"
        ),
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                return format!(
                    "{what}: no answer from AWS in time (the endpoint is unreachable or hung); check the network, a proxy, or AWS_ENDPOINT_URL"
                );
            }
            if let Some(tls) = find_source::<rustls::Error>(err) {
                return format!(
                    "{what}: TLS failure talking to AWS ({tls}); check the system's CA certificates, an intercepting proxy, or AWS_ENDPOINT_URL"
                );
            }
            format!(
                "{what}: cannot reach the AWS endpoint ({}); check the network, a proxy, the region, or AWS_ENDPOINT_URL",
                root_cause(err)
            )
        }
        SdkError::ConstructionFailure(_) => {
            let why = root_cause(err);
            if why.to_ascii_lowercase().contains("region") {
                format!("{what}: no AWS region: set AWS_REGION (or a region in ~/.aws/config)")
            } else {
                format!("{what}: the request could not be built: {why}")
            }
        }
        _ => match said(err) {
            Some((code, message)) => service_line(&what, action, &code, &message),
            None => format!(
                "{what}: AWS's answer could not be read ({}); try again",
                root_cause(err)
            ),
        },
    }
}

/// The service's error code and message: from the parsed error, else read from the raw
/// answer (a Query-protocol XML error where a JSON one was expected, as some endpoints and
/// emulators answer), else the HTTP status.
fn said<E>(err: &SdkError<E, HttpResponse>) -> Option<(String, String)>
where
    E: ProvideErrorMetadata + Error + 'static,
{
    if let Some(code) = err.code() {
        return Some((
            code.to_string(),
            one_line(err.message().unwrap_or_default()),
        ));
    }
    let raw = err.raw_response()?;
    let body = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default()).to_string();
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let len = body[start..].find(&format!("</{name}>"))?;
        Some(one_line(&body[start..start + len]))
    };
    let status = raw.status().as_u16();
    match (tag("Code"), status) {
        (Some(code), _) => Some((code, tag("Message").unwrap_or_default())),
        (None, 403) => Some(("AccessDenied".into(), format!("HTTP {status}"))),
        (None, 429) => Some(("Throttling".into(), format!("HTTP {status}"))),
        (None, 400..=599) => Some((format!("HTTP {status}"), String::new())),
        _ => None,
    }
}

/// A service's own error: its code, read for the cases a person acts on differently.
fn service_line(what: &str, action: &str, code: &str, message: &str) -> String {
    let said = if message.is_empty() {
        code.to_string()
    } else {
        format!("{code}: {message}")
    };
    if DENIED.contains(&code) {
        format!(
            "{what}: access denied ({said}); allow {action} for these credentials (IAM policy, key policy or resource policy)"
        )
    } else if EXPIRED.contains(&code) {
        format!(
            "{what}: the AWS credentials have expired ({code}); refresh them (`aws sso login`, new temporary keys) and try again"
        )
    } else if REFUSED.contains(&code) {
        format!(
            "{what}: AWS refused the credentials ({said}); check the access key, the profile and the machine's clock"
        )
    } else if THROTTLED.contains(&code) {
        format!(
            "{what}: throttled by AWS after every attempt ({code}); try again in a minute or lower the request rate"
        )
    } else if MISSING.contains(&code) {
        format!("{what}: not found ({said}); check the name, the account and the region")
    } else {
        format!("{what} failed: {said}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::operation::receive_message::ReceiveMessageError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::{ConnectorError, ServiceError};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(code: &str, message: &str) -> SdkError<ReceiveMessageError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let raw = HttpResponse::new(400.try_into().unwrap(), SdkBody::from("{}"));
        SdkError::ServiceError(
            ServiceError::builder()
                .source(ReceiveMessageError::generic(meta))
                .raw(raw)
                .build(),
        )
    }

    #[test]
    fn each_service_failure_says_what_to_do_on_one_line() {
        let cases = [
            (
                "AccessDenied",
                "User: arn:aws:iam::1:user/x is not authorized to perform: sqs:receivemessage on resource: arn:aws:sqs:us-east-1:1:dlq",
                "access denied",
            ),
            (
                "ExpiredToken",
                "The security token included in the request is expired",
                "have expired",
            ),
            (
                "InvalidClientTokenId",
                "The security token is invalid",
                "refused the credentials",
            ),
            ("ThrottlingException", "Rate exceeded", "throttled"),
            (
                "AWS.SimpleQueueService.NonExistentQueue",
                "The specified queue does not exist.",
                "not found",
            ),
            (
                "KmsDisabled",
                "key\ndisabled",
                "failed: KmsDisabled: key disabled",
            ),
        ];
        for (code, message, expected) in cases {
            let line = explain(
                "sqs:ReceiveMessage",
                Some("https://q"),
                &service(code, message),
            );
            assert!(
                line.starts_with("sqs:ReceiveMessage on https://q"),
                "{line}"
            );
            assert!(line.contains(expected), "{code}: {line}");
            assert!(!line.contains('\n'), "{line}");
        }
        let denied = explain(
            "sqs:ReceiveMessage",
            None,
            &service(
                "AccessDenied",
                "not authorized to perform: sqs:receivemessage on resource: arn:aws:sqs:us-east-1:1:dlq",
            ),
        );
        assert!(denied.contains("arn:aws:sqs:us-east-1:1:dlq"), "{denied}");
    }

    #[test]
    fn no_credentials_names_where_the_chain_looked() {
        let e: SdkError<ReceiveMessageError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(CredentialsError::not_loaded(
                    "no providers in chain provided credentials",
                )),
                None,
            ));
        let line = explain("sts:GetCallerIdentity", None, &e);
        assert!(line.contains("no AWS credentials found"), "{line}");
        assert!(
            line.contains("~/.aws/credentials") && line.contains("AWS_ACCESS_KEY_ID"),
            "{line}"
        );
    }

    #[test]
    fn an_unreachable_endpoint_says_so_with_what_the_system_said() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let e: SdkError<ReceiveMessageError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(io)));
        let line = explain("sqs:ReceiveMessage", Some("https://q"), &e);
        assert!(
            line.contains("cannot reach the AWS endpoint (Connection refused"),
            "{line}"
        );
        let t: SdkError<ReceiveMessageError, HttpResponse> = SdkError::dispatch_failure(
            ConnectorError::timeout(Box::new(std::io::Error::other("timed out"))),
        );
        assert!(explain("sqs:ReceiveMessage", None, &t).contains("no answer from AWS in time"));
    }
}
