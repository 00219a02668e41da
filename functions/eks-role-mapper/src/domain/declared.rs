//! Which stack the function serves: the one stack and custom resource whose CloudFormation
//! records the gate reads (`app::guard`). Nothing more is declared here.
//!
//! Anyone allowed `lambda:InvokeFunction` can send the function any event, and CloudFormation
//! invokes it with the stack operator's identity (design notes, section 9). Whoever holds
//! `lambda:UpdateFunctionConfiguration` can rewrite the function's environment, which code
//! signing does not cover: a grant read from there (as the declaration once was) is only as
//! trusted as that right. So the environment names only the stack to ask
//! (`EKS_ROLE_MAPPER_STACK_ID`, the template's `!Ref AWS::StackId`) and its custom resource; the
//! grant itself comes from what CloudFormation recorded for that resource. A rewritten stack id
//! gains nothing: the function's role may read its own stack only (`!Ref AWS::StackId` in its
//! policy), so asking about another is AccessDenied and the request FAILED. A function with no
//! stack id grants nothing.

use serde_json::Value;

use crate::domain::arn::shown;
use crate::domain::error::{Invalid, Result};

/// The environment variables the template sets.
pub const STACK_ID_ENV: &str = "EKS_ROLE_MAPPER_STACK_ID";
pub const LOGICAL_ID_ENV: &str = "EKS_ROLE_MAPPER_LOGICAL_ID";

/// The stack and custom resource the function serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// The stack that deployed the function (its ARN).
    pub stack_id: String,
    /// The custom resource of that stack the function serves.
    pub logical_id: String,
}

impl Declared {
    /// Reads the stack from `get` (the environment). None when the stack id is not set: the
    /// function then grants nothing. `_region` (the function's) declares nothing any more: the
    /// grant's region is CloudFormation's record of it.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        _region: Option<&str>,
    ) -> Result<Option<Declared>> {
        let Some(stack_id) = get(STACK_ID_ENV).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(Declared {
            stack_id,
            logical_id: get(LOGICAL_ID_ENV)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "Mapping".into()),
        }))
    }

    /// The stack a CloudFormation event speaks for: its stack and resource. For the replay tool
    /// and tests, which play the stack that deploys the function.
    pub fn of_event(event: &Value) -> Result<Declared> {
        let text = |f: &str| {
            event
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok(Declared {
            stack_id: text("StackId"),
            logical_id: text("LogicalResourceId"),
        })
    }

    /// The stack that sends `event`, after `before` (what the same player declared last): the
    /// event's own stack and resource.
    pub fn playing(event: &Value, before: Option<&Declared>) -> Option<Declared> {
        let _ = before;
        Declared::of_event(event).ok()
    }

    /// The request's stack and custom resource must be the declared ones.
    pub fn owns(&self, stack_id: &str, logical_id: &str) -> std::result::Result<(), Invalid> {
        if stack_id != self.stack_id {
            return Err(Invalid::new(
                "StackId",
                format!(
                    "this function serves only the stack that deployed it ({}), got {}",
                    self.stack_id,
                    shown(stack_id)
                ),
            ));
        }
        if logical_id != self.logical_id {
            return Err(Invalid::new(
                "LogicalResourceId",
                format!(
                    "this function serves only its stack's resource {}, got {}",
                    self.logical_id,
                    shown(logical_id)
                ),
            ));
        }
        Ok(())
    }
}

/// The variables the template sets for the stack that sends `event` (its stack and resource):
/// what the replay tool and tests give a bootstrap they run as that stack's function.
pub fn environment_of(event: &Value) -> Vec<(&'static str, String)> {
    let text = |f: &str| {
        event
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    vec![
        (STACK_ID_ENV, text("StackId")),
        (LOGICAL_ID_ENV, text("LogicalResourceId")),
    ]
}
