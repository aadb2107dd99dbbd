//! Errors: a kind plus the context of what failed to happen, and the exit code it maps to.
//!
//! Exit codes are part of the interface (scripts depend on them):
//! 0 success, 1 runtime failure, 2 bad input or refused by a guardrail,
//! 3 a revert left something not restored, 130 interrupted (and rolled back).

use std::path::PathBuf;

use crate::diagnostic::Diagnostics;

/// firedrill's result: an [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by kind; each kind has its exit code ([`Error::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more problems in input files, each with its location.
    #[error("{0}")]
    Input(Diagnostics),

    /// Bad command-line usage that clap cannot catch (e.g. no run to act on).
    #[error("{0}")]
    Usage(String),

    /// A guardrail or safety check refused the operation before anything changed.
    #[error("refused: {0}")]
    Refused(String),

    /// Another process holds the run's lock.
    #[error("run {run} is locked by another firedrill process{holder}; wait for it to finish")]
    Locked { run: String, holder: String },

    /// An AWS call failed.
    #[error("failed to {doing}: {source}")]
    Aws {
        doing: String,
        #[source]
        source: AwsError,
    },

    /// The state store could not be read or written.
    #[error("failed to {doing} {}: {source}", path.display())]
    Store {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file of the store is not what the run wrote (its digest differs): nothing is
    /// restored from it.
    #[error("refused: {0}; nothing was changed")]
    Tampered(String),

    /// A stored record could not be decoded.
    #[error("corrupt state in {}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },

    /// The target no longer exists.
    #[error("{0}")]
    Gone(String),

    /// A fault's change did not take effect, or failed part-way (after rollback).
    #[error("{0}")]
    Failed(String),

    /// Stopped by a signal (after rolling back).
    #[error("{0}")]
    Interrupted(String),

    /// A revert finished but some targets do not match their snapshot.
    #[error("{0}")]
    RevertIncomplete(String),
}

impl Error {
    /// The exit code for this error: 2 bad input or refused, 3 not restored, 130
    /// interrupted, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Usage(_) | Error::Refused(_) | Error::Locked { .. } | Error::Tampered(_) => 2,
            Error::RevertIncomplete(_) => 3,
            // As shells report a process ended by SIGINT.
            Error::Interrupted(_) => 130,
            Error::Aws { .. } | Error::Store { .. } | Error::Corrupt { .. } | Error::Failed(_) | Error::Gone(_) => 1,
        }
    }

    /// An I/O error of the state store, with what was being done and where.
    pub fn store(doing: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Store { doing, path, source }
    }

    /// Wrap an SDK error with what we were doing, keeping the AWS error code.
    pub fn aws<E>(doing: impl Into<String>) -> impl FnOnce(E) -> Error
    where
        E: Into<AwsError>,
    {
        let doing = doing.into();
        move |e| Error::Aws { doing, source: e.into() }
    }

    /// Whether this is AWS turning a call away for its rate (any service's code for it).
    pub fn is_throttle(&self) -> bool {
        self.aws_code().is_some_and(|c| {
            matches!(
                c,
                "RequestLimitExceeded"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RateExceeded"
                    | "TooManyRequestsException"
            )
        })
    }

    /// The AWS error code, when this is an AWS error that carried one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { source, .. } => source.code.as_deref(),
            _ => None,
        }
    }
}

/// An AWS error reduced to what matters: the service's error code and message.
#[derive(Debug)]
pub struct AwsError {
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for AwsError {}

impl<E> From<aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>> for AwsError
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    /// One line a person can act on: the service's code and message, or for a call that
    /// never got an answer, why (no credentials, an SSO session to renew, an endpoint
    /// that does not answer) and what to do. The SDK's whole chain, with its `Debug`
    /// detail, is logged at debug level: one `-v` away.
    fn from(err: aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>) -> Self {
        use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
        tracing::debug!("AWS call failed: {}", aws_sdk_ec2::error::DisplayErrorContext(&err));
        let code = err.code().map(str::to_owned);
        let message = match (&err, err.message(), err.raw_response()) {
            (_, Some(m), _) => service_message(code.as_deref(), m),
            // An answer that is not an AWS error (a proxy's or an emulator's HTML page):
            // the status says enough.
            (_, None, Some(raw)) => {
                format!("the endpoint answered HTTP {} with no AWS error in the body", raw.status().as_u16())
            }
            (SdkError::DispatchFailure(d), None, None) if d.is_io() => {
                format!(
                    "no answer from the endpoint ({}): check --endpoint-url, the network and any proxy",
                    root_cause(&err)
                )
            }
            (SdkError::DispatchFailure(d), None, None) if d.is_timeout() => {
                "the endpoint did not answer in time: check the network and any proxy".to_owned()
            }
            (SdkError::TimeoutError(_), None, None) => "the call timed out: check the network and any proxy".to_owned(),
            (_, None, None) => unanswered(&err),
        };
        AwsError { code, message }
    }
}

/// The codes AWS answers a caller its credentials or policy do not allow.
const DENIED: &[&str] =
    &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"];
/// The codes AWS answers credentials it does not accept (expired, unknown, mis-signed).
const REJECTED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidAccessKeyId",
    "RequestExpired",
];

/// A service's error message on one line, with the fix for the codes that have one.
fn service_message(code: Option<&str>, message: &str) -> String {
    // EC2 appends an encoded explanation hundreds of characters long to a denial; it is
    // in the debug log (`-v`) for `aws sts decode-authorization-message`.
    let message = message.split(" Encoded authorization failure message:").next().unwrap_or(message);
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match code {
        Some(c) if DENIED.contains(&c) => format!(
            "{message} — the credentials' policy does not allow it: `firedrill policy FILE...` prints the policy these faults need"
        ),
        Some(c) if REJECTED.contains(&c) => {
            format!("{message} — AWS did not accept these credentials: {}", renew_credentials())
        }
        _ => message,
    }
}

/// Why a call got no answer at all, when it is not the network: almost always the
/// credentials (none found, an SSO session to start again).
fn unanswered(err: &dyn std::error::Error) -> String {
    let chain = chain(err);
    let has = |needle: &str| chain.iter().any(|m| m.contains(needle));
    if has("SSO token has expired") || has("cached SSO token") || has("SSO session") {
        format!("the AWS SSO session has expired or was never started: run `aws sso login{}`", profile_flag())
    } else if has("no credentials found in chain") || has("credential provider was not enabled") {
        concat!(
            "no AWS credentials found (looked in: environment variables, the config and credentials files, ",
            "web identity, the ECS container and EC2 instance metadata): set AWS_PROFILE or --profile, ",
            "or run `aws configure` or `aws sso login`"
        )
        .to_owned()
    } else if has("loading credentials") || has("credential") {
        format!("the AWS credentials could not be loaded ({}): {}", root_cause(err), renew_credentials())
    } else {
        root_cause(err)
    }
}

/// What to do about credentials AWS refused or that could not be loaded.
fn renew_credentials() -> String {
    format!("refresh them (`aws sso login{}`, or new keys or session token) or name another profile", profile_flag())
}

/// ` --profile NAME` for the profile in use, when one is named (`--profile`, AWS_PROFILE).
fn profile_flag() -> String {
    crate::aws::profile_in_use().map(|p| format!(" --profile {p}")).unwrap_or_default()
}

/// The messages of `err` and its sources, outermost first, each on its first line only.
fn chain(err: &dyn std::error::Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e.to_string().lines().next().unwrap_or_default().trim().to_owned());
        next = e.source();
    }
    out
}

/// The innermost message of `err`'s chain that says something.
fn root_cause(err: &dyn std::error::Error) -> String {
    chain(err).into_iter().rev().find(|m| !m.is_empty()).unwrap_or_else(|| "no detail".to_owned())
}
