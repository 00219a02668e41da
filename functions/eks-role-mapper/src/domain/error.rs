//! The one error type of the mapper. Its `Display` is the CloudFormation `Reason`: it names the
//! field or the step, and says what to do.

/// Everything that can make a request fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A ResourceProperties value (or an event field) is missing or malformed.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The cluster cannot be handled with the requested method.
    #[error("{0}")]
    Unsupported(String),
    /// The existing aws-auth ConfigMap cannot be edited safely; nothing was written.
    #[error("aws-auth: {0}; nothing was changed")]
    AwsAuth(String),
    /// The function's identity is not allowed into the cluster's Kubernetes API.
    #[error("Kubernetes API of cluster {cluster} refused {identity} ({status}): pass ClusterAdminRoleArn (a role mapped to system:masters in aws-auth, or the cluster creator) or set EnableAccessEntries=true")]
    NotAuthorized {
        cluster: String,
        identity: String,
        status: u16,
    },
    /// An AWS call failed.
    #[error("{operation}: {message}")]
    Aws { operation: String, message: String },
    /// A Kubernetes call failed.
    #[error("Kubernetes {operation}: {message}")]
    Kube { operation: String, message: String },
    /// A cluster's Kubernetes API could not be reached: no connection, or no answer in time.
    #[error("Kubernetes {operation}: {message}")]
    KubeUnreachable { operation: String, message: String },
    /// Some clusters of a multi-cluster request failed; each is named with its reason.
    #[error("ClusterName: {0}")]
    Clusters(String),
    /// Conflicting writers kept winning.
    #[error("aws-auth: still conflicting after {0} attempts; nothing of ours was written")]
    TooManyConflicts(u32),
    /// A wait that outlasts this invocation (a mode switch, IAM propagation): the work goes on
    /// in a fresh invocation of the function.
    #[error("still waiting: {0}")]
    Pending(String),
    /// The work did not finish before the Lambda deadline.
    #[error("timed out before the Lambda deadline while {0}; it may be retried safely")]
    Deadline(String),
    /// The response could not be delivered.
    #[error("could not send the response to CloudFormation: {0}")]
    Response(String),
    /// Local set-up failed (TLS, configuration).
    #[error("set-up: {0}")]
    Setup(String),
}

/// A field of the event or its properties that is missing or malformed: which, and what was
/// expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {expected}")]
pub struct Invalid {
    pub field: String,
    pub expected: String,
}

impl Invalid {
    /// A field error.
    pub fn new(field: &str, expected: impl Into<String>) -> Invalid {
        Invalid {
            field: field.to_string(),
            expected: expected.into(),
        }
    }
}

impl Error {
    /// Whether the cluster's Kubernetes API never let this identity in: it refused it as unknown
    /// (401: the authenticator maps it to nothing, neither aws-auth nor an access entry nor the
    /// creator) or could not be reached at all. Nothing can be read or written there by it.
    pub fn never_let_in(&self) -> bool {
        matches!(
            self,
            Error::NotAuthorized { status: 401, .. } | Error::KubeUnreachable { .. }
        )
    }

    /// A field error.
    pub fn invalid(field: &str, expected: impl Into<String>) -> Error {
        Error::Invalid(Invalid::new(field, expected))
    }
}

/// Result with the mapper's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
