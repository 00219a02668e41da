//! The steps of another principal than CloudFormation, at any moment of the stack's life:
//! `--then invoke FILE [--while STATUS]` ([`super::invoke`]), `--then configure K=V ...`
//! ([`super::configure`]) and `--then tag FILE` ([`super::tag`]). None of them changes the
//! stack's status: CloudFormation does not know of them.

use serde_json::Value;

use super::invoke::{self, At};
use super::{configure, tag, Lifecycle, Step};
use crate::error::Result;

/// Plays `step` (one of the attacker's) at `at`; its JSON line.
pub(super) async fn step(
    life: &mut Lifecycle<'_>,
    n: usize,
    step: &Step,
    at: At<'_>,
) -> Result<Value> {
    match step {
        Step::Invoke(path, during) => {
            let at = At {
                during: *during,
                ..at
            };
            invoke::step(life, n, path, at).await
        }
        Step::Configure(changes) => {
            configure::configure(life, n, step.action(), changes, at.stack_status).await
        }
        Step::Tag(path) => tag::step(life, n, step.action(), path, at).await,
        Step::Update(_) | Step::Delete | Step::Reconcile => {
            unreachable!("CloudFormation's steps are played by stack::run")
        }
    }
}

/// What stderr says of an attacker's step: the answer, the environment changed, or the tags.
pub(super) fn summary(line: &Value) -> String {
    let pick = |k: &str| line.get(k).filter(|v| !v.is_null());
    match (pick("Status"), pick("Environment"), pick("Tagged")) {
        (Some(status), _, _) => format!("{status} {}", line["Reason"]),
        (_, Some(env), _) => env.to_string(),
        (_, _, Some(tags)) => format!("tagged {tags}"),
        _ => line.to_string(),
    }
}
