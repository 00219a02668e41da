//! The gate every request passes before anything is read or written: it must come from the
//! stack that deployed the function, grant nothing beyond what that stack declared, and, when it
//! takes something away, be what CloudFormation is doing to the resource now.
//!
//! How this holds through CloudFormation's own sequences (each tested with `cfn-replay stack`):
//! - Create: the properties are within the declaration (the template sets the function's
//!   declaration before the resource, which depends on the function).
//! - Update: the new properties are within the declaration, or (a rollback, which CloudFormation
//!   runs before it puts the function's old configuration back) the old ones are, and
//!   CloudFormation reports the resource UPDATE_IN_PROGRESS with the request's physical id.
//! - Delete of an id of the declared grant (a stack delete, the rollback of a failed Create, the
//!   resource leaving the template): CloudFormation reports the resource DELETE_IN_PROGRESS. A
//!   Delete of any other id (not ours, or of another region or role: a replacement's cleanup)
//!   takes back nothing the declared grant holds, so it needs no confirmation.
//! - A continuation is the same event again: it passes the same gate in each invocation.
//! - A reconcile: its stack, resource and properties are the declared ones (and the reconcile
//!   then asks CloudFormation whether the stack still holds the grant).

use crate::cfn::event::{Request, RequestType};
use crate::domain::declared::Declared;
use crate::domain::error::{Error, Invalid, Result};
use crate::domain::physical_id::Recorded;
use crate::domain::properties::Properties;
use crate::ports::{Connect, Stacks};

/// The declaration, or the refusal of a function that has none.
pub fn declaration<C: Connect>(connect: &C) -> std::result::Result<Declared, Invalid> {
    connect.declared().ok_or_else(|| {
        Invalid::new(
            "StackId",
            format!(
                "this function has no declared stack ({} is not set): it acts only for the stack that deployed it",
                crate::domain::declared::STACK_ID_ENV
            ),
        )
    })
}

/// Admits `request` (of `kind`), or refuses it naming what it exceeds; nothing is written either way.
pub async fn admit<C: Connect>(connect: &C, request: &Request, kind: RequestType) -> Result<()> {
    // Bad properties are named first, whoever sent them.
    let asked = match kind {
        RequestType::Delete => None,
        _ => {
            let asked = Properties::parse(&request.properties)?;
            asked.in_partition_of(&request.envelope.stack_id)?;
            Some(asked)
        }
    };
    let declared = declaration(connect)?;
    let envelope = &request.envelope;
    declared.owns(&envelope.stack_id, &envelope.logical_resource_id)?;
    match (kind, asked) {
        (RequestType::Create, Some(new)) => declared.permits(&new)?,
        (RequestType::Update, Some(new)) => {
            if let Err(beyond) = declared.permits(&new) {
                let from_declared = request
                    .old_properties
                    .as_ref()
                    .and_then(|o| Properties::parse(o).ok())
                    .is_some_and(|old| declared.permits(&old).is_ok());
                if !from_declared {
                    return Err(beyond.into());
                }
                tracing::info!(
                    "an Update from the declared properties to others: admitted only as CloudFormation's rollback"
                );
            }
            confirm(connect, request, "UPDATE_IN_PROGRESS").await?;
        }
        (_, None) => {
            let region = declared.grant.region.clone().or(connect.default_region());
            let current = |rec: &Recorded| {
                Some(&rec.region) == region.as_ref()
                    && rec.role.match_key() == declared.grant.role.match_key()
            };
            // An id of another region or role (what a replacement leaves for its cleanup) takes
            // back nothing the declared grant holds; one of the declared grant's is taken back
            // only while CloudFormation deletes the resource.
            let ours = envelope
                .physical_resource_id
                .as_deref()
                .and_then(Recorded::decode)
                .is_some_and(|rec| current(&rec));
            if ours {
                confirm(connect, request, "DELETE_IN_PROGRESS").await?;
            }
        }
        (_, Some(_)) => {}
    }
    Ok(())
}

/// CloudFormation must report the resource in `status` (and, while updating it, under the
/// request's physical id): an event sent by anyone else while the stack rests is refused.
async fn confirm<C: Stacks>(connect: &C, request: &Request, status: &str) -> Result<()> {
    let envelope = &request.envelope;
    let resource = connect
        .stack_resource(&envelope.stack_id, &envelope.logical_resource_id)
        .await?;
    let same_id = |r: &crate::ports::StackResource| {
        status != "UPDATE_IN_PROGRESS" || r.physical_id == envelope.physical_resource_id
    };
    match resource {
        Some(r) if r.status == status && same_id(&r) => Ok(()),
        Some(r) => Err(Error::invalid(
            "RequestType",
            format!(
                "CloudFormation is not making this request: it reports the resource {} ({}), not {status}; nothing was written",
                envelope.logical_resource_id, r.status
            ),
        )),
        None => Err(Error::invalid(
            "StackId",
            "CloudFormation does not know this stack's resource; nothing was written",
        )),
    }
}
