//! The pure core: values and rules with no I/O and no clock of their own. ARNs and partitions,
//! the properties and what the stack declared, access levels, the aws-auth edit and its YAML, the
//! RBAC plan, the mechanism decision, ownership, physical ids and the typed errors. Everything
//! above builds on it; it imports nothing above it, so it is tested without any adapter.

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
