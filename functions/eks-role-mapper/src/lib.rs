//! Grants an IAM role cluster-admin access to an EKS cluster as a CloudFormation custom resource:
//! an access entry where the cluster's authentication mode allows one, otherwise a safe
//! read-modify-write of the `kube-system/aws-auth` ConfigMap with a token the function signs itself.
//!
//! The core (properties, ARNs, the aws-auth edit, the decision, ownership, ids, the response body)
//! is pure. The per-cluster rules (`per_cluster`, `aws_auth_store`) and the lifecycle run over one
//! port (`cloud`) with three adapters: `live` (AWS and the Kubernetes API), `dry_run` (real reads,
//! recorded writes) and the in-memory region of `tests/test-kit` (for fast tests). `protocol` answers CloudFormation;
//! `reconcile` re-applies a stack's grant on a schedule and answers nobody.
//!
//! What only local runs need is behind a cargo feature the artifact build never enables
//! (`dry-run`, the dry run); the in-memory region is a crate of its own (`tests/test-kit`).
//! No feature changes a product code path: a local run injects what it needs (a loopback sender,
//! the simulator's proxy, its CA) through [`Clients::new`].

// The layers, from the ground up: each imports only those listed before it (the handler and
// the adapters excepted: they wire the rest together).
pub mod adapters;
pub mod app;
pub mod cfn;
pub mod domain;
mod handler;
pub mod logging;
pub mod ports;

// The paths the replay tool, the simulator and the tests use.
pub use adapters::clients::{Clients, Connection, ProxyConfig};
#[cfg(feature = "dry-run")]
pub use adapters::dry_run::{self, dry_run, dry_run_reconcile, DryRun, ReconcileDryRun};
pub use adapters::token::bearer_token;
pub use app::per_cluster::SWITCHED_LOOK;
pub use app::{reconcile, registration};
pub use cfn::event::{Envelope, Request};
pub use cfn::protocol::{
    respond_with, Continuation, HandOver, Progress, Success, CONTINUATION_FIELD,
};
pub use cfn::response::{Body, Respond, ResponseUrl};
pub use domain::decision::{AuthMode, Mechanism};
pub use domain::error::{Error, Invalid, Result};
pub use domain::physical_id::Recorded;
pub use domain::properties::KNOWN_PROPERTIES;
pub use domain::{
    access, arn, aws_auth, block_reader, config_map, declared, held, ownership, partition, rbac,
    yaml_text,
};
pub use handler::{handle, handle_with, reconcile_with, Invocation};
pub use ports as cloud;
