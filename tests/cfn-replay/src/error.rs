//! The replay tool's one error type. Every variant is a usage or setup problem (exit status 2):
//! a FAILED answer from the mapper is an outcome, not an error.

use std::path::PathBuf;

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line.
    #[error("{0}")]
    Usage(String),
    /// Parameters CloudFormation would refuse before creating or updating anything (its own
    /// message).
    #[error("{0}")]
    Parameters(String),
    /// An event file that cannot be replayed: unreadable, not JSON, or not a JSON object.
    #[error("{path}: {message}")]
    EventFile { path: PathBuf, message: String },
    /// The scenario file could not be read or is invalid.
    #[error("scenario {path}: {source}")]
    Scenario {
        path: PathBuf,
        #[source]
        source: eks_sim::Error,
    },
    /// The embedded simulator (or the local receiver of `--aws`) did not start.
    #[error("starting the simulator: {0}")]
    Simulator(#[source] eks_sim::Error),
    /// The mapper's clients could not be built.
    #[error("building the mapper's clients: {0}")]
    Clients(#[source] eks_role_mapper::Error),
    /// `AWS_CA_BUNDLE` names a file that cannot be read.
    #[error("reading AWS_CA_BUNDLE {path}: {source}")]
    CaBundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing `--state-out` or to stdout failed.
    #[error("writing {what}: {source}")]
    Write {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
