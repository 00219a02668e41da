//! The use cases, over the ports only: the gate every request passes (`guard`), the grant on one
//! cluster by either mechanism (`per_cluster`, `entry_grant`, `aws_auth_store`,
//! `bindings_store`), a request's whole lifecycle, the scheduled reconcile and the registration
//! with the service. No AWS or Kubernetes client is named here: the adapters bring them.

pub(crate) mod aws_auth_store;
pub(crate) mod bindings_store;
pub(crate) mod entry_grant;
pub(crate) mod guard;
pub(crate) mod lifecycle;
pub(crate) mod per_cluster;
pub mod reconcile;
pub mod registration;
