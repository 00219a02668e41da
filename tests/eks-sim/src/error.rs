//! The simulator's error type.

/// Why the simulator could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("TLS set-up: {0}")]
    Tls(String),
    #[error("reading scenario {path}: {source}")]
    ScenarioRead {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing scenario: {0}")]
    ScenarioParse(String),
    #[error("scenario: {0}")]
    ScenarioInvalid(String),
    #[error("control plane: {0}")]
    ControlPlane(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Result with the simulator's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
