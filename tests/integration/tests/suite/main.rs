//! The end-to-end tests, one test binary: each module was a test file of its own, and a binary
//! each meant linking the whole dependency graph some twenty-five times. Every module stands
//! alone; `integration` (src/lib.rs) holds what they share.
//!
//! `suite_secrets_scan` is ignored: `scripts/test` runs it after the whole suite, over its logs.
//! `secrets_in_logs.rs` stays a binary of its own: it installs the process's global log capture
//! first, which every other test here would race it for.

mod access_levels_real;
mod adopted_real;
mod docs_examples;
mod dry_run_matches_real_run;
mod eksctl_peer;
mod entry_updates;
mod events_bad_corpus;
mod events_replay;
mod events_shapes;
mod fault_matrix;
mod fidelity_aws_cli;
mod fidelity_binary;
mod fidelity_eks_behaviour;
mod fidelity_kubectl;
mod fidelity_moto;
mod fidelity_tokens;
mod forged_events;
mod hardening;
mod iam_in_force;
mod iam_reference;
mod lambda_proxy;
mod lambda_rie;
mod mapper_modes;
mod multi_cluster;
mod partitions;
mod publish_release;
mod real_control_plane;
mod real_faults;
mod real_faults_runner;
mod real_field_manager;
mod real_load;
mod real_size_limit;
mod real_vs_simulated_kubernetes;
mod real_vs_simulated_rbac;
mod reconcile;
mod registration;
mod release_template;
mod release_version;
mod service_role_levels;
mod sim_cluster_lifecycle;
mod sim_stacks;
mod stack_lifecycle;
mod stack_rollbacks;
mod suite_secrets_scan;
mod template_checks;
mod template_reconcile;
mod upgrade_lifecycle;
mod upgrade_original;
mod upgrade_rules;
