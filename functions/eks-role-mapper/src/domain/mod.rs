//! The pure core: values and rules with no I/O and no clock of their own. ARNs and partitions,
//! the properties and what the stack declared, access levels, the aws-auth edit and its YAML, the
//! RBAC plan, the mechanism decision, ownership, physical ids and the typed errors. Everything
//! above builds on it; it imports nothing above it, so it is tested without any adapter.
//!
//! Words of this crate, each as it is meant here:
//! - *adopted*: a mapping (aws-auth entry or access entry) that was there before our first write;
//!   we grant through it for the stack's life and never delete it.
//! - *held*: what an adopted access entry had before we first wrote to it, recorded in its tags
//!   ([`held`]) so Delete can give exactly that back.
//! - *give_back*: Delete's restore of an adopted access entry to what it held, then removing the
//!   record (`app::entry_grant`).
//! - *declared*: which stack and custom resource the function serves, from its environment
//!   ([`declared`]); only a name to ask CloudFormation, never the grant itself.
//! - *Admitted*: the gate's answer (`app::guard`): the grant CloudFormation's records of the
//!   stack hold for this request, and what may be taken back; the only value the per-cluster code
//!   accepts.
//! - *seed*: the original manual Step 2's aws-auth entry, which a stack upgraded from the original
//!   Step 1 template takes over (`seed_entry`).
//! - *Recorded*: what a PhysicalResourceId encodes: region, owner key and role (`physical_id`).
//! - *owner key*: the hash of stack, logical id and role that marks what this resource wrote
//!   ([`ownership`]).
//! - *places*: where this resource's mapping may be on a cluster of a given authentication mode:
//!   access entry, aws-auth, or aws-auth only if switched since (`decision::places`).
//! - *Written*: what the RBAC bindings' write phase did: changed or not, and the stale bindings
//!   to delete once aws-auth is written (`app::bindings_store`).

pub mod access;
pub mod arn;
pub mod aws_auth;
pub mod block_reader;
pub mod config_map;
pub(crate) mod decision;
pub mod declared;
pub(crate) mod error;
pub mod held;
pub mod ownership;
pub mod partition;
pub(crate) mod physical_id;
pub(crate) mod properties;
pub mod rbac;
pub(crate) mod seed_entry;
pub mod yaml_text;
