//! The resource's lifecycle over its clusters: Create grants on each (undoing the rest when one
//! fails), Update adds and removes clusters in place (or answers a new id when the region or role
//! changed, and CloudFormation then deletes the old one), Delete removes what this resource made.
//! Generic over the port, so a dry run and the in-memory tests run this very code.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::app::per_cluster::{self, Granted, Scope};
use crate::app::registration::{self, Event, Outgoing, Subject};
use crate::cfn::event::{Request, RequestType};
use crate::cfn::protocol::{Progress, Success};
use crate::domain::error::{Error, Result};
use crate::domain::ownership::owner_key;
use crate::domain::physical_id::Recorded;
use crate::domain::properties::{Clusters, Properties};
use crate::ports::{AdminRole, Connect};

/// The work of one request.
pub async fn act<C: Connect>(connect: C, request: Request, progress: Progress) -> Result<Success> {
    let kind = request.kind.clone()?;
    crate::app::guard::admit(&connect, &request, kind).await?;
    let old_id = request.envelope.physical_resource_id.clone();
    match kind {
        RequestType::Create => {
            let props = Properties::parse(&request.properties)?;
            let rec = record_for(&request, &props, region_of(&connect, &props)?);
            // From here on a FAILED answer carries the real id: the Delete CloudFormation sends
            // next removes whatever was made, by the owner's markers.
            progress.record(rec.encode());
            let cloud = connect.connect(&rec.region, admin_of(Some(&props)));
            let scope = scope(&cloud, Some(&props), &rec);
            let names = scope.resolve(&props.clusters).await?;
            let granted = grant_all(&scope, &props, &names, true, &[]).await?;
            let registration = outgoing(&request, &rec, &props, Event::Registered, &granted, &[]);
            Ok(success(rec.encode(), &granted, &props, registration))
        }
        RequestType::Update => {
            let props = Properties::parse(&request.properties)?;
            let new = record_for(&request, &props, region_of(&connect, &props)?);
            // Same region and role: in place, clusters added and removed. Otherwise a new id:
            // CloudFormation then deletes the old one.
            let old = old_id
                .as_deref()
                .and_then(Recorded::decode)
                .filter(|o| o.same_target(&new));
            // In place the registration is updated; a new id is a new registration (the Delete of
            // the old id that CloudFormation sends next deregisters that one).
            let event = match old {
                Some(_) => Event::Updated,
                None => Event::Registered,
            };
            let rec = old.clone().unwrap_or(new);
            let cloud = connect.connect(&rec.region, admin_of(Some(&props)));
            let scope = scope(&cloud, Some(&props), &rec);
            // The clusters this resource held before the update (in place only).
            let before = match old
                .as_ref()
                .and(request.old_properties.as_ref())
                .and_then(|o| Clusters::parse(o.get("ClusterName")).ok())
            {
                Some(before) => scope.resolve(&before).await?,
                None => Vec::new(),
            };
            let now = scope.resolve(&props.clusters).await?;
            let granted = grant_all(&scope, &props, &now, false, &before).await?;
            let dropped: Vec<String> = before.into_iter().filter(|c| !now.contains(c)).collect();
            if !dropped.is_empty() {
                tracing::info!(clusters = dropped.len(), "clusters left the list");
                let held = request
                    .old_properties
                    .as_ref()
                    .and_then(Properties::parse_lenient);
                revoke_dropped(&connect, &cloud, &rec, &props, held.as_ref(), &dropped).await?;
            }
            let registration = outgoing(&request, &rec, &props, event, &granted, &[]);
            Ok(success(rec.encode(), &granted, &props, registration))
        }
        RequestType::Delete => {
            let id = old_id.unwrap_or_default();
            let mut registration = None;
            match Recorded::decode(&id) {
                None => tracing::info!("physical id not made by this function; nothing to delete"),
                Some(rec) => {
                    // Properties that no longer parse at all: every cluster of the region is
                    // checked (only this owner's markers are acted on).
                    let props = Properties::parse_lenient(&request.properties);
                    let clusters = props.as_ref().map_or(Clusters::All, |p| p.clusters.clone());
                    let cloud = connect.connect(&rec.region, admin_of(props.as_ref()));
                    let scope = scope(&cloud, props.as_ref(), &rec);
                    let names = scope.resolve(&clusters).await?;
                    revoke_all(&scope, &names, "").await?;
                    registration = props.as_ref().and_then(|p| {
                        outgoing(&request, &rec, p, Event::Deregistered, &[], &names)
                    });
                }
            }
            Ok(Success {
                physical_resource_id: id,
                data: None,
                registration,
            })
        }
    }
}

pub(crate) fn scope<'a, K>(
    cloud: &'a K,
    props: Option<&'a Properties>,
    rec: &'a Recorded,
) -> Scope<'a, K> {
    Scope {
        cloud,
        props,
        region: &rec.region,
        role: &rec.role,
        owner: &rec.owner,
        strict: false,
    }
}

pub(crate) fn admin_of(props: Option<&Properties>) -> Option<AdminRole> {
    let p = props?;
    Some(AdminRole {
        role: p.cluster_admin_role.clone()?,
        external_id: p.cluster_admin_external_id.clone(),
    })
}

fn region_of<C: Connect>(connect: &C, props: &Properties) -> Result<String> {
    props
        .region
        .clone()
        .or_else(|| connect.default_region())
        .ok_or_else(|| Error::invalid("Region", "required when the function has no AWS_REGION"))
}

fn record_for(request: &Request, props: &Properties, region: String) -> Recorded {
    Recorded {
        owner: owner_key(
            &request.envelope.stack_id,
            &request.envelope.logical_resource_id,
            &props.role,
        ),
        region,
        role: props.role.clone(),
    }
}

/// The answer with Data for the template's outputs; small whatever the number of clusters (the
/// whole response must fit in 4096 bytes).
fn success(
    id: String,
    granted: &[Granted],
    props: &Properties,
    registration: Option<Outgoing>,
) -> Success {
    let methods: BTreeSet<&str> = granted.iter().map(|g| g.mechanism.as_str()).collect();
    let single_arn = match granted {
        [one] => one.arn.as_str(),
        _ => "",
    };
    let data: Value = json!({
        "Method": methods.into_iter().collect::<Vec<_>>().join(","),
        "ClusterArn": single_arn,
        "Username": props.username,
        "Adopted": (!granted.is_empty() && granted.iter().all(|g| g.adopted)).to_string(),
        "Clusters": granted.len().to_string(),
    });
    Success {
        physical_resource_id: id,
        data: Some(data),
        registration,
    }
}

/// The registration message of a successful request (None when registration is off).
fn outgoing(
    request: &Request,
    rec: &Recorded,
    props: &Properties,
    event: Event,
    granted: &[Granted],
    revoked: &[String],
) -> Option<Outgoing> {
    let subject = Subject {
        stack_id: &request.envelope.stack_id,
        logical_resource_id: &request.envelope.logical_resource_id,
        physical_resource_id: &rec.encode(),
        region: &rec.region,
        props,
    };
    registration::outgoing(&subject, event, granted, revoked)
}

/// Grants the role on every cluster of the properties. On a Create, clusters already done are
/// undone when another fails (`undo_on_failure`); an Update's failure is undone by
/// CloudFormation's rollback, which sends the old properties back.
async fn grant_all<K: crate::ports::Cloud>(
    scope: &Scope<'_, K>,
    props: &Properties,
    names: &[String],
    undo_on_failure: bool,
    held_before: &[String],
) -> Result<Vec<Granted>> {
    let results = per_cluster::each(names, |c| {
        scope.grant(props, c, held_before.iter().any(|h| h == c))
    })
    .await;
    let total = results.len();
    let mut granted = Vec::new();
    let mut failed: Vec<(&str, Error)> = Vec::new();
    for (cluster, r) in results {
        match r {
            Ok(Some(g)) => granted.push(g),
            Ok(None) => {}
            Err(e) => failed.push((cluster, e)),
        }
    }
    if failed.is_empty() {
        return Ok(granted);
    }
    if total == 1 {
        return Err(failed.pop().expect("one failure").1);
    }
    if let Some(waiting) = only_waiting(&failed) {
        // Nothing failed for good: a fresh invocation goes on with every cluster (the grant is
        // idempotent), so nothing done is undone.
        return Err(waiting);
    }
    let undo = if undo_on_failure && !granted.is_empty() {
        let done: Vec<String> = granted.iter().map(|g| g.cluster.clone()).collect();
        let undone = per_cluster::each(&done, |c| scope.revoke(c)).await;
        let stuck: Vec<String> = undone
            .iter()
            .filter_map(|(c, r)| r.as_ref().err().map(|e| format!("{c}: {e}")))
            .collect();
        if stuck.is_empty() {
            format!("; the {} done were undone", done.len())
        } else {
            format!(
                "; undoing failed on {} (the Delete that follows retries it)",
                stuck.join("; ")
            )
        }
    } else {
        String::new()
    };
    Err(Error::Clusters(failure_reason(total, &failed, &undo)))
}

/// When every failure is a wait that outlasts the invocation: one `Error::Pending` naming them.
fn only_waiting(failed: &[(&str, Error)]) -> Option<Error> {
    let mut what = Vec::new();
    for (cluster, e) in failed {
        match e {
            Error::Pending(w) => what.push(format!("{cluster}: {w}")),
            _ => return None,
        }
    }
    Some(Error::Pending(what.join("; ")))
}

/// Takes the grant off the clusters an Update dropped, by the method and level of the old
/// properties that held them: as the new properties' identity (`cloud`, what the policy in force
/// allows), and where that identity is never let in, as the old properties' one, which wrote
/// there (a rollback's old properties are the failed request's).
async fn revoke_dropped<C: Connect>(
    connect: &C,
    cloud: &C::Cloud,
    rec: &Recorded,
    props: &Properties,
    held: Option<&Properties>,
    dropped: &[String],
) -> Result<()> {
    const WHICH: &str = "that left the list";
    let then = admin_of(held);
    let mut first = scope(cloud, held, rec);
    if admin_of(Some(props)) == then {
        return revoke_all(&first, dropped, WHICH).await;
    }
    first.strict = true;
    let mut retry = Vec::new();
    let mut failed = Vec::new();
    for (c, r) in per_cluster::each(dropped, |c| first.revoke(c)).await {
        match r {
            Err(e) if e.never_let_in() => retry.push(c.to_string()),
            Err(e) => failed.push((c, e)),
            Ok(_) => {}
        }
    }
    let held_cloud = connect.connect(&rec.region, then);
    let second = revoke_all(&scope(&held_cloud, held, rec), &retry, WHICH).await;
    match (failed.is_empty(), second) {
        (true, second) => second,
        (false, Err(e)) => Err(Error::Clusters(format!(
            "{}; {e}",
            revoke_reason(dropped, WHICH, &failed)
        ))),
        (false, Ok(())) => Err(Error::Clusters(revoke_reason(dropped, WHICH, &failed))),
    }
}

/// Revokes on every cluster; the clusters that failed are named, among `names` (which
/// `which` qualifies: "that left the list" on an Update).
async fn revoke_all<K: crate::ports::Cloud>(
    scope: &Scope<'_, K>,
    names: &[String],
    which: &str,
) -> Result<()> {
    let results = per_cluster::each(names, |c| scope.revoke(c)).await;
    let total = results.len();
    let mut failed: Vec<(&str, Error)> = results
        .into_iter()
        .filter_map(|(c, r)| r.err().map(|e| (c, e)))
        .collect();
    match failed.len() {
        0 => Ok(()),
        _ if total == 1 => Err(failed.pop().expect("one failure").1),
        _ => Err(only_waiting(&failed)
            .unwrap_or_else(|| Error::Clusters(revoke_reason(names, which, &failed)))),
    }
}

/// The Reason of a revoke that failed on some clusters: the clusters it was taking the grant off
/// (the request's own, not a count that reads as the request's list), then each failure.
fn revoke_reason(names: &[String], which: &str, failed: &[(&str, Error)]) -> String {
    const SHOWN: usize = 8;
    let mut listed = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        listed.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    let which = if which.is_empty() {
        String::new()
    } else {
        format!(" {which}")
    };
    let each: Vec<String> = failed.iter().map(|(c, e)| format!("{c}: {e}")).collect();
    format!(
        "taking the grant off the clusters{which} ({listed}) failed on {}: {}",
        failed.len(),
        each.join("; ")
    )
}

/// A Reason for clusters that failed: each named with its error, cut to fit CloudFormation.
fn failure_reason(total: usize, failed: &[(&str, Error)], undo: &str) -> String {
    let each: Vec<String> = failed.iter().map(|(c, e)| format!("{c}: {e}")).collect();
    format!(
        "{} of {total} clusters failed: {}{undo}",
        failed.len(),
        each.join("; ")
    )
}
