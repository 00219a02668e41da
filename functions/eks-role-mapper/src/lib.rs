//! Grants an IAM role cluster-admin access to an EKS cluster as a CloudFormation custom resource:
//! an access entry where the cluster's authentication mode allows one, otherwise a safe
//! read-modify-write of the `kube-system/aws-auth` ConfigMap with a token the function signs itself.
//!
//! The core (properties, ARNs, the aws-auth edit, the decision, ownership, ids, the response body)
//! is pure. The per-cluster rules (`per_cluster`, `aws_auth_store`) and the lifecycle run over the
//! ports ([`ports`]), implemented here by `live` (AWS and the Kubernetes API) and `dry_run` (real
//! reads, recorded writes), and outside the crate by the in-memory region of `tests/test-kit`
//! (for fast tests). `protocol` answers CloudFormation; `reconcile` re-applies a stack's grant on
//! a schedule and answers nobody.
//!
//! What only local runs need is behind a cargo feature the artifact build never enables
//! (`dry-run`, the dry run); the in-memory region is a crate of its own (`tests/test-kit`).
//! No feature changes a product code path: a local run injects what it needs (a loopback sender,
//! the simulator's proxy, its CA) through [`Clients::new`].

// The layers, from the ground up: `domain` and `logging`, `ports`, `cfn`, `app`, `adapters`, then
// `handler` wiring them together; each imports only its own layer and those below it
// (tests/layers.rs holds that). Declared here in alphabetical order, as rustfmt keeps them.
//
// One public path per item: `ports` (the traits the test kit implements) and `logging` are
// public as they are; everything else a user needs is re-exported below, and its module is
// private, so `eks_role_mapper::arn` is the one way to name the ARN types.
mod adapters;
mod app;
mod cfn;
mod domain;
mod handler;
pub mod logging;
pub mod ports;

// The paths the replay tool, the simulator, the test kit, the benchmarks and the tests use.
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
// The function's check of a custom resource's properties (the template's refusals are held to it).
pub use domain::properties::{Properties, KNOWN_PROPERTIES};
pub use domain::{
    access, arn, aws_auth, block_reader, config_map, declared, held, ownership, partition, rbac,
    yaml_text,
};
pub use handler::{handle, handle_with, reconcile_with, Invocation};
