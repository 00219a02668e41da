//! The gate every request passes before anything is written. The event is a claim, never an
//! order: what the function grants or takes back comes from CloudFormation's own records of the
//! function's stack, which only CloudFormation writes, never from the event's text (design
//! notes, section 9; issue 39). The gate answers the only value the per-cluster code accepts,
//! [`Admitted`], built here alone: it carries the grant to make, not the event's properties.
//!
//! The records: DescribeStackResource (the resource's status and physical id now) and
//! DescribeStackEvents (each Create or Update in progress with `ResourceProperties`, the
//! properties as CloudFormation resolved them), both on the stack whose id the function's
//! configuration names. That id is only a name to ask: the function's role may read this very
//! stack only (`!Ref AWS::StackId` in its policy), so a configuration rewritten to another stack
//! gets AccessDenied and the request FAILED.
//!
//! - Create: the resource is CREATE_IN_PROGRESS; the grant is its latest CREATE_IN_PROGRESS
//!   event's properties, and the request's must be the same (else refused, nothing written).
//! - Update (forward, or CloudFormation's rollback, an Update with old and new swapped): the
//!   resource is UPDATE_IN_PROGRESS under the request's physical id; the grant is its latest
//!   UPDATE_IN_PROGRESS event's properties (a rollback records its own, with the old ones) and
//!   the request's must be the same; what may be taken back is what the operation before it was
//!   granting (the previous in-progress event's properties: for a forward update what the stack
//!   held, for a rollback what the failed update may have written, exactly CloudFormation's own
//!   OldResourceProperties). A forged "rollback" can only make the grant CloudFormation makes.
//! - Delete of the resource's current id: the resource is DELETE_IN_PROGRESS under it; what is
//!   taken back is the grant CloudFormation recorded (its role, region and clusters; the owner
//!   key computed here), and only what our own markers say we wrote for it. A Delete of another
//!   id of ours (a replacement's cleanup) is admitted only while CloudFormation's latest event of
//!   the resource deletes that very id, and takes back nothing the current grant holds.
//! - Reconcile (see `reconcile`): the resource at rest; the grant is its latest in-progress
//!   event's properties.
//! - Stale: a request whose in-progress event is older than the resource's `ServiceTimeout`
//!   (CloudFormation gave up on it) is refused on arrival.
//!
//! `ClusterAdminExternalId` comes from a NoEcho parameter, which CloudFormation masks in its
//! records: it alone is taken from the event (a credential for AssumeRole, it grants nothing by
//! itself), and only when CloudFormation's record has the property at all.

use serde_json::Value;

use crate::cfn::event::{Request, RequestType};
use crate::domain::declared::Declared;
use crate::domain::error::{Error, Invalid, Result};
use crate::domain::ownership::owner_key;
use crate::domain::physical_id::Recorded;
use crate::domain::properties::{ExternalIdSource, Properties};
use crate::ports::{Connect, StackEvent, StackResource, Stacks};

mod records;

use records::{fresh, fresh_for, is_grant_event, lenient, recorded};

/// A grant the stack recorded and the record (region, role, owner key) it is made under.
#[derive(Debug, Clone)]
struct Grant {
    /// None: a Delete whose recorded properties no longer read (then defaults, every cluster of
    /// the region, only this owner's markers acted on).
    props: Option<Properties>,
    rec: Recorded,
}

/// What a request may do, as CloudFormation's records say: built only by this module.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Create, Update, Reconcile: what to grant. Delete: what to take back (None: nothing).
    grant: Option<Grant>,
    /// Update: what the operation before it was granting (what may be taken back).
    previous: Option<Properties>,
    /// Update: the resource's physical id now (the request's), when it is one of ours.
    current: Option<Recorded>,
}

impl Admitted {
    /// The properties granted (or, on a Delete, taken back).
    pub fn props(&self) -> Option<&Properties> {
        self.grant.as_ref().and_then(|g| g.props.as_ref())
    }

    /// The record the work is made under; None: nothing to do (a Delete of an id not ours).
    pub fn record(&self) -> Option<&Recorded> {
        self.grant.as_ref().map(|g| &g.rec)
    }

    /// What the operation before an Update was granting.
    pub fn previous(&self) -> Option<&Properties> {
        self.previous.as_ref()
    }

    /// An Update's current physical id, decoded (None: not ours).
    pub fn current(&self) -> Option<&Recorded> {
        self.current.as_ref()
    }

    fn nothing() -> Admitted {
        Admitted {
            grant: None,
            previous: None,
            current: None,
        }
    }
}

/// The declaration (the stack and resource to ask about), or the refusal of a function that
/// has none.
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

/// Admits `request` (of `kind`) as CloudFormation's records say, or refuses it naming why;
/// nothing is written either way.
pub async fn admit<C: Connect>(
    connect: &C,
    request: &Request,
    kind: RequestType,
) -> Result<Admitted> {
    let envelope = &request.envelope;
    let (stack, logical) = (&envelope.stack_id, &envelope.logical_resource_id);
    // Bad properties are named first, whoever sent them.
    let asked = match kind {
        RequestType::Delete => None,
        _ => {
            let asked = Properties::parse(&request.properties)?;
            asked.in_partition_of(stack)?;
            Some(asked)
        }
    };
    declaration(connect)?.owns(stack, logical)?;
    let id = envelope.physical_resource_id.as_deref();
    match (kind, asked) {
        (RequestType::Delete, _) => {
            // An id this function never made: nothing of ours can be under it.
            let Some(rec) = id.and_then(Recorded::decode) else {
                tracing::info!("physical id not made by this function; nothing to delete");
                return Ok(Admitted::nothing());
            };
            admit_delete(connect, stack, logical, id.unwrap_or(""), rec).await
        }
        (_, None) => Err(Error::invalid("ResourceProperties", "required")),
        (RequestType::Create, Some(asked)) => {
            let resource = resource(connect, stack, logical).await?;
            in_status(&resource, "CREATE_IN_PROGRESS", None, logical)?;
            let events = connect.resource_events(stack, logical, 1).await?;
            let (now, _) = in_progress(&events, "CREATE_IN_PROGRESS")?;
            let grant = recorded(now, &request.properties, stack)?;
            fresh(now, &grant)?;
            same(&asked, &grant)?;
            Ok(Admitted {
                grant: Some(grant_of(connect, stack, logical, grant)?),
                previous: None,
                current: None,
            })
        }
        (RequestType::Update, Some(asked)) => {
            let resource = resource(connect, stack, logical).await?;
            in_status(&resource, "UPDATE_IN_PROGRESS", Some(id), logical)?;
            let events = connect.resource_events(stack, logical, 2).await?;
            let (now, before) = in_progress(&events, "UPDATE_IN_PROGRESS")?;
            let grant = recorded(now, &request.properties, stack)?;
            fresh(now, &grant)?;
            same(&asked, &grant)?;
            // What the operation before was granting; its external ID is the request's old one.
            let old = request.old_properties.as_ref().unwrap_or(&Value::Null);
            let previous = before.and_then(|e| recorded(e, old, stack).ok());
            let current = id
                .and_then(Recorded::decode)
                .filter(|r| ours(r, stack, logical));
            Ok(Admitted {
                grant: Some(grant_of(connect, stack, logical, grant)?),
                previous,
                current,
            })
        }
    }
}

/// A Delete of an id of ours: of the current one while CloudFormation deletes the resource, or
/// of an older one while CloudFormation's latest event deletes that very id (a replacement's
/// cleanup). What is taken back is CloudFormation's record of the grant, never the event's.
async fn admit_delete<C: Connect>(
    connect: &C,
    stack: &str,
    logical: &str,
    id: &str,
    rec: Recorded,
) -> Result<Admitted> {
    let resource = resource(connect, stack, logical).await?;
    // The whole recorded history (bounded by the adapter): a cleanup's grant may be older.
    let events = connect.resource_events(stack, logical, usize::MAX).await?;
    let latest_props = events
        .iter()
        .filter(|e| is_grant_event(e))
        .find_map(|e| lenient(e, stack));
    let rec = Recorded {
        owner: owner_key(stack, logical, &rec.role),
        ..rec
    };
    let same_target = |p: &Properties| {
        p.role.as_str() == rec.role.as_str() && p.region.as_deref().is_none_or(|r| r == rec.region)
    };
    if resource.physical_id.as_deref() == Some(id) {
        in_status(&resource, "DELETE_IN_PROGRESS", Some(Some(id)), logical)?;
        if let Some(e) = events.iter().find(|e| e.status == "DELETE_IN_PROGRESS") {
            fresh_for(e, latest_props.as_ref())?;
        }
        let props = latest_props.filter(|p| same_target(p));
        return Ok(Admitted {
            grant: Some(Grant { props, rec }),
            previous: None,
            current: None,
        });
    }
    // Another id: CloudFormation must be deleting that very one now.
    let deleting = events
        .first()
        .filter(|e| e.status == "DELETE_IN_PROGRESS" && e.physical_id.as_deref() == Some(id));
    let Some(event) = deleting else {
        return Err(not_making(logical, &resource.status));
    };
    fresh_for(event, latest_props.as_ref())?;
    let current = resource.physical_id.as_deref().and_then(Recorded::decode);
    if current.as_ref().is_some_and(|c| c.same_target(&rec)) {
        tracing::info!(
            "a Delete of an older id of the grant the resource holds now: nothing taken back"
        );
        return Ok(Admitted::nothing());
    }
    let props = events
        .iter()
        .filter(|e| is_grant_event(e))
        .filter_map(|e| lenient(e, stack))
        .find(|p| same_target(p));
    Ok(Admitted {
        grant: Some(Grant { props, rec }),
        previous: None,
        current: None,
    })
}

/// A reconcile of the resource `resource` (already found at rest under the reconcile's physical
/// id): the grant is CloudFormation's latest record of it, and the schedule's event (`asked`)
/// must state that very grant (it carries no ServiceTimeout, no NoEcho value, and no given
/// external ID).
pub async fn admit_reconcile<C: Connect>(
    connect: &C,
    stack: &str,
    logical: &str,
    resource: &StackResource,
    asked: &Properties,
) -> Result<Admitted> {
    declaration(connect)?.owns(stack, logical)?;
    let events = connect.resource_events(stack, logical, 1).await?;
    let event = events
        .iter()
        .find(|e| is_grant_event(e))
        .ok_or_else(|| no_record(logical))?;
    let mut grant = recorded(event, &Value::Null, stack)?;
    // A given external ID is never sent by a schedule (its Input is readable): not published.
    if grant
        .registration
        .as_ref()
        .is_some_and(|r| matches!(r.external_id, ExternalIdSource::Given(_)))
    {
        grant.registration = None;
    }
    // The same grant however stated: a region left out is the function's.
    let (mut asked, mut held) = (asked.clone(), grant.clone());
    asked.service_timeout = grant.service_timeout;
    asked.cluster_admin_external_id = grant.cluster_admin_external_id.clone();
    for p in [&mut asked, &mut held] {
        p.region = p.region.take().or_else(|| connect.default_region());
    }
    same(&asked, &held)?;
    let grant = grant_of(connect, stack, logical, grant)?;
    let id = resource.physical_id.as_deref().unwrap_or("");
    if Recorded::decode(id).as_ref() != Some(&grant.rec) {
        return Err(Error::invalid(
            "PhysicalResourceId",
            "not the id of the grant CloudFormation recorded; nothing was written",
        ));
    }
    Ok(Admitted {
        grant: Some(grant),
        previous: None,
        current: None,
    })
}

async fn resource<C: Stacks>(connect: &C, stack: &str, logical: &str) -> Result<StackResource> {
    connect
        .stack_resource(stack, logical)
        .await?
        .ok_or_else(|| {
            Error::invalid(
                "StackId",
                "CloudFormation does not know this stack's resource; nothing was written",
            )
        })
}

fn not_making(logical: &str, status: &str) -> Error {
    Error::invalid(
        "RequestType",
        format!(
            "CloudFormation is not making this request: it reports the resource {logical} ({status}); nothing was written"
        ),
    )
}

fn no_record(logical: &str) -> Error {
    Error::invalid(
        "ResourceProperties",
        format!("CloudFormation has no record of {logical}'s properties; nothing was written"),
    )
}

/// The resource must be in `status` (and, when `id` is given, under that physical id).
fn in_status(
    r: &StackResource,
    status: &str,
    id: Option<Option<&str>>,
    logical: &str,
) -> Result<()> {
    let same_id = id.is_none_or(|id| r.physical_id.as_deref() == id);
    if r.status == status && same_id {
        return Ok(());
    }
    Err(not_making(
        logical,
        &format!("{}, not {status} under this id", r.status),
    ))
}

/// The latest grant event, which must be in `status`, and the one before it.
fn in_progress<'e>(
    events: &'e [StackEvent],
    status: &str,
) -> Result<(&'e StackEvent, Option<&'e StackEvent>)> {
    let mut grants = events.iter().filter(|e| is_grant_event(e));
    match grants.next() {
        Some(now) if now.status == status => Ok((now, grants.next())),
        _ => Err(Error::invalid(
            "RequestType",
            format!("CloudFormation recorded no {status} with properties for this resource; nothing was written"),
        )),
    }
}

/// Whether a decoded id is under the owner key this stack's resource has for its role.
fn ours(rec: &Recorded, stack: &str, logical: &str) -> bool {
    rec.owner == owner_key(stack, logical, &rec.role)
}

/// The request's properties must be the ones CloudFormation recorded.
fn same(asked: &Properties, recorded: &Properties) -> Result<()> {
    if asked == recorded {
        return Ok(());
    }
    Err(Error::invalid(
        "ResourceProperties",
        "not the properties CloudFormation recorded for this operation; nothing was written",
    ))
}

/// The grant and the record it is made under (region: the properties', else the function's).
fn grant_of<C: Connect>(
    connect: &C,
    stack: &str,
    logical: &str,
    props: Properties,
) -> Result<Grant> {
    let region = props
        .region
        .clone()
        .or_else(|| connect.default_region())
        .ok_or_else(|| Error::invalid("Region", "required when the function has no AWS_REGION"))?;
    let rec = Recorded {
        owner: owner_key(stack, logical, &props.role),
        region,
        role: props.role.clone(),
    };
    Ok(Grant {
        props: Some(props),
        rec,
    })
}
