//! One invocation: decide, act, and answer CloudFormation exactly once, also when the work errors,
//! panics, or runs into the Lambda deadline (a FAILED answer is sent shortly before it).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::aws_auth::{self, Change};
use crate::clients::Clients;
use crate::decision::{decide, Mechanism};
use crate::eks::{self, EntryOwner};
use crate::error::{Error, Result};
use crate::event::{Envelope, Request, RequestType};
use crate::per_cluster::{self, Granted, Scope};
use crate::physical_id::{owner_key, Recorded};
use crate::properties::{Clusters, Properties};
use crate::response::Body;

/// What a successful request answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Success {
    pub physical_resource_id: String,
    pub data: Option<Value>,
}

/// The id of what a Create has made so far. A FAILED answer carries it, so the Delete that
/// CloudFormation sends after a failed Create removes it, also when the deadline cut the work off.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Mutex<Option<String>>>);

impl Progress {
    fn record(&self, rec: &Recorded) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(rec.encode());
    }

    fn recorded(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// How much of the remaining time is kept for sending the answer.
fn reserve(remaining: Duration) -> Duration {
    (remaining / 5).clamp(Duration::from_millis(500), Duration::from_secs(10))
}

/// Runs `work` and answers once: SUCCESS with its result, FAILED with its error, its panic, or
/// the deadline. Used by [`handle`]; public so the protocol itself can be tested with any work.
pub async fn respond_with<F>(
    clients: &Clients,
    envelope: &Envelope,
    deadline: SystemTime,
    progress: &Progress,
    work: F,
) -> Result<Body>
where
    F: Future<Output = Result<Success>> + Send + 'static,
{
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let keep = reserve(remaining);
    let task = tokio::spawn(work);
    let abort = task.abort_handle();
    let outcome = tokio::select! {
        joined = task => match joined {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(Error::Setup("internal error (panic); nothing more was attempted".into())),
            Err(e) => Err(Error::Setup(format!("internal error ({e})"))),
        },
        _ = tokio::time::sleep(remaining.saturating_sub(keep)) => {
            abort.abort();
            Err(Error::Deadline("waiting on AWS or the Kubernetes API".into()))
        }
    };
    let fallback_id = envelope
        .physical_resource_id
        .clone()
        .or_else(|| progress.recorded())
        .unwrap_or_else(|| format!("failed-{}", envelope.request_id));
    let body = match outcome {
        Ok(s) => Body {
            status: "SUCCESS",
            reason: None,
            physical_resource_id: s.physical_resource_id,
            stack_id: envelope.stack_id.clone(),
            request_id: envelope.request_id.clone(),
            logical_resource_id: envelope.logical_resource_id.clone(),
            no_echo: false,
            data: s.data,
        },
        Err(e) => {
            tracing::warn!(reason = %e, "request failed");
            Body {
                status: "FAILED",
                reason: Some(e.to_string()),
                physical_resource_id: fallback_id,
                stack_id: envelope.stack_id.clone(),
                request_id: envelope.request_id.clone(),
                logical_resource_id: envelope.logical_resource_id.clone(),
                no_echo: false,
                data: None,
            }
        }
    };
    let budget = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .max(Duration::from_millis(500));
    let attempts = clients
        .sender()
        .send(&envelope.response_url, &body, budget)
        .await?;
    tracing::info!(status = body.status, attempts, "response sent");
    Ok(body)
}

/// The Lambda handler: one custom-resource event, answered exactly once.
pub async fn handle(
    clients: &Clients,
    event: Value,
    ctx: lambda_runtime::Context,
) -> Result<(), lambda_runtime::Error> {
    let request = match Request::parse(&event, clients.allow_loopback()) {
        Ok(r) => r,
        Err(e) => {
            // No usable ResponseURL: there is nobody to answer. Say so in the log, not the URL.
            tracing::error!(request_id = %ctx.request_id, reason = %e, "cannot answer this event");
            return Err(e.to_string().into());
        }
    };
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(ctx.deadline);
    let span = tracing::info_span!("request", request_id = %ctx.request_id, cfn_request_id = %request.envelope.request_id);
    let _guard = span.enter();
    tracing::info!(kind = ?request.kind, "received");
    let envelope = request.envelope.clone();
    let progress = Progress::default();
    let work = act(clients.clone(), request, progress.clone());
    match respond_with(clients, &envelope, deadline, &progress, work).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(reason = %e, "the response could not be delivered");
            Err(e.to_string().into())
        }
    }
}

fn region_of(clients: &Clients, props: Option<&Properties>) -> Result<String> {
    props
        .and_then(|p| p.region.clone())
        .or_else(|| clients.default_region())
        .ok_or_else(|| Error::invalid("Region", "required when the function has no AWS_REGION"))
}

/// Data for the template's outputs; small whatever the number of clusters (the whole response
/// must fit in 4096 bytes).
fn data(granted: &[Granted], username: &str) -> Value {
    let methods: std::collections::BTreeSet<&str> =
        granted.iter().map(|g| g.mechanism.as_str()).collect();
    let single_arn = match granted {
        [one] => one.arn.as_str(),
        _ => "",
    };
    json!({
        "Method": methods.into_iter().collect::<Vec<_>>().join(","),
        "ClusterArn": single_arn,
        "Username": username,
        "Adopted": (!granted.is_empty() && granted.iter().all(|g| g.adopted)).to_string(),
        "Clusters": granted.len().to_string(),
    })
}

/// Grants the role on every cluster of the properties. On a Create, clusters already done are
/// undone when another fails (`undo_on_failure`); an Update's failure is undone by
/// CloudFormation's rollback, which sends the old properties back.
async fn grant_all(
    scope: &Scope<'_>,
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
    Err(Error::Clusters(per_cluster::failure_reason(
        total, &failed, &undo,
    )))
}

/// Revokes on every cluster; the clusters that failed are named.
async fn revoke_all(scope: &Scope<'_>, names: &[String]) -> Result<()> {
    let results = per_cluster::each(names, |c| scope.revoke(c)).await;
    let total = results.len();
    let mut failed: Vec<(&str, Error)> = results
        .into_iter()
        .filter_map(|(c, r)| r.err().map(|e| (c, e)))
        .collect();
    match failed.len() {
        0 => Ok(()),
        _ if total == 1 => Err(failed.pop().expect("one failure").1),
        _ => Err(Error::Clusters(per_cluster::failure_reason(
            total, &failed, "",
        ))),
    }
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

/// The work of one request.
async fn act(clients: Clients, request: Request, progress: Progress) -> Result<Success> {
    let kind = request.kind.clone().map_err(|m| {
        let (field, expected) = m.split_once(": ").unwrap_or(("RequestType", &m));
        Error::invalid(field, expected)
    })?;
    let old_id = request.envelope.physical_resource_id.clone();
    match kind {
        RequestType::Create => {
            let props = Properties::parse(&request.properties)?;
            let rec = record_for(&request, &props, region_of(&clients, Some(&props))?);
            // From here on a FAILED answer carries the real id: the Delete CloudFormation sends
            // next removes whatever was made, by the owner's markers.
            progress.record(&rec);
            let scope = Scope::new(&clients, Some(&props), &rec);
            let names = scope.resolve(&props.clusters).await?;
            let granted = grant_all(&scope, &props, &names, true, &[]).await?;
            Ok(Success {
                physical_resource_id: rec.encode(),
                data: Some(data(&granted, &props.username)),
            })
        }
        RequestType::Update => {
            let props = Properties::parse(&request.properties)?;
            let new = record_for(&request, &props, region_of(&clients, Some(&props))?);
            // Same region and role: in place, clusters added and removed. Otherwise a new id:
            // CloudFormation then deletes the old one.
            let old = old_id
                .as_deref()
                .and_then(Recorded::decode)
                .filter(|o| o.same_target(&new));
            let rec = old.clone().unwrap_or(new);
            let scope = Scope::new(&clients, Some(&props), &rec);
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
            if !before.is_empty() {
                let dropped: Vec<String> =
                    before.into_iter().filter(|c| !now.contains(c)).collect();
                if !dropped.is_empty() {
                    tracing::info!(clusters = dropped.len(), "clusters left the list");
                    revoke_all(&scope, &dropped).await?;
                }
            }
            Ok(Success {
                physical_resource_id: rec.encode(),
                data: Some(data(&granted, &props.username)),
            })
        }
        RequestType::Delete => {
            let id = old_id.unwrap_or_default();
            match Recorded::decode(&id) {
                None => tracing::info!("physical id not made by this function; nothing to delete"),
                Some(rec) => {
                    // Properties that no longer parse at all: every cluster of the region is
                    // checked (only this owner's markers are acted on).
                    let props = Properties::parse_lenient(&request.properties);
                    let clusters = props.as_ref().map_or(Clusters::All, |p| p.clusters.clone());
                    let scope = Scope::new(&clients, props.as_ref(), &rec);
                    let names = scope.resolve(&clusters).await?;
                    revoke_all(&scope, &names).await?;
                }
            }
            Ok(Success {
                physical_resource_id: id,
                data: None,
            })
        }
    }
}

/// A dry run: what would be called and the aws-auth diff. Nothing is written or sent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub request_type: String,
    pub cluster: String,
    pub authentication_mode: String,
    pub mechanism: Option<Mechanism>,
    pub switch_mode: bool,
    pub calls: Vec<String>,
    pub aws_auth_diff: Option<String>,
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} on cluster {} (authentication mode {})",
            self.request_type, self.cluster, self.authentication_mode
        )?;
        for c in &self.calls {
            writeln!(f, "  would call {c}")?;
        }
        if let Some(d) = &self.aws_auth_diff {
            writeln!(f, "  mapRoles diff:")?;
            for line in d.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

/// Plans a request without writing anything: one plan per cluster it would touch.
pub async fn plan(clients: &Clients, event: Value) -> Result<Vec<Plan>> {
    let request = Request::parse(&event, true)?;
    let kind = request
        .kind
        .clone()
        .map_err(|m| Error::invalid("RequestType", m))?;
    let props = match kind {
        RequestType::Delete => Properties::parse_lenient(&request.properties),
        _ => Some(Properties::parse(&request.properties)?),
    };
    let rec = match (kind, &props) {
        (RequestType::Delete, _) => request
            .envelope
            .physical_resource_id
            .as_deref()
            .and_then(Recorded::decode),
        (_, Some(p)) => Some(record_for(&request, p, region_of(clients, Some(p))?)),
        (_, None) => None,
    };
    let Some(rec) = rec else {
        return Ok(vec![Plan {
            request_type: format!("{kind:?}"),
            cluster: "(none: the PhysicalResourceId was not made by this function)".into(),
            authentication_mode: String::new(),
            mechanism: None,
            switch_mode: false,
            calls: Vec::new(),
            aws_auth_diff: None,
        }]);
    };
    let clusters = props.as_ref().map_or(Clusters::All, |p| p.clusters.clone());
    let scope = Scope::new(clients, props.as_ref(), &rec);
    let names = scope.resolve(&clusters).await?;
    let mut plans = Vec::with_capacity(names.len());
    for cluster in names {
        let mut plan = plan_one(&scope, kind, props.as_ref(), &cluster).await?;
        if clusters == Clusters::All {
            plan.calls.insert(0, "eks:ListClusters".into());
        }
        plans.push(plan);
    }
    Ok(plans)
}

/// The dry run's aws-auth part of a Delete: the read, and the write and diff if the owner
/// annotation says the entry is ours.
async fn plan_aws_auth_removal(
    scope: &Scope<'_>,
    cluster: &str,
    info: &eks::ClusterInfo,
    plan: &mut Plan,
) -> Result<()> {
    let api = scope.cluster_api(cluster, info).await?;
    let cm = api.read().await?;
    plan.calls.push("k8s:get kube-system/aws-auth".into());
    let ours = cm.as_ref().is_some_and(|c| {
        c.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(&aws_auth::owner_annotation(&scope.owner)))
    });
    if ours {
        plan.mechanism = Some(Mechanism::AwsAuth);
        let data = cm.and_then(|c| c.data).unwrap_or_default();
        let before = data.get(aws_auth::MAP_ROLES).cloned();
        let after = aws_auth::remove(&data, &scope.role)?
            .map(|d| d.get(aws_auth::MAP_ROLES).cloned().unwrap_or_default());
        plan.calls
            .push("k8s:update kube-system/aws-auth (with resourceVersion)".into());
        if let Some(after) = after {
            plan.aws_auth_diff = Some(aws_auth::diff(before.as_deref(), Some(&after)));
        }
    }
    Ok(())
}

async fn plan_one(
    scope: &Scope<'_>,
    kind: RequestType,
    props: Option<&Properties>,
    cluster: &str,
) -> Result<Plan> {
    let mut plan = Plan {
        request_type: format!("{kind:?}"),
        cluster: cluster.to_string(),
        authentication_mode: String::new(),
        mechanism: None,
        switch_mode: false,
        calls: vec!["eks:DescribeCluster".into()],
        aws_auth_diff: None,
    };
    let Some(info) = eks::describe(scope.eks(), cluster).await? else {
        plan.authentication_mode = "(cluster not found)".into();
        return Ok(plan);
    };
    plan.authentication_mode = info.authentication_mode.clone();
    let role = scope.role.clone();
    let assume = |plan: &mut Plan| {
        if props.is_some_and(|p| p.cluster_admin_role.is_some()) {
            plan.calls.push("sts:AssumeRole ClusterAdminRoleArn".into());
        }
    };
    if kind == RequestType::Delete {
        let places = scope.places(&info.authentication_mode);
        let mut entry = EntryOwner::Missing;
        if places.access_entry {
            plan.calls
                .push("eks:DescribeAccessEntry (owner tag)".into());
            entry = eks::access_entry_owner(scope.eks(), cluster, &role, &scope.owner).await?;
            if entry == EntryOwner::Ours {
                plan.mechanism = Some(Mechanism::AccessEntry);
                plan.calls.push(format!("eks:DeleteAccessEntry {role}"));
            }
        }
        if places.aws_auth {
            assume(&mut plan);
            plan_aws_auth_removal(scope, cluster, &info, &mut plan).await?;
        } else if places.aws_auth_if_switched && entry != EntryOwner::Ours {
            assume(&mut plan);
            plan.calls
                .push("(no access entry of ours: aws-auth looked at, if reachable, for an entry made before a switch from CONFIG_MAP)".into());
            let look = plan_aws_auth_removal(scope, cluster, &info, &mut plan);
            match tokio::time::timeout(per_cluster::SWITCHED_LOOK, look).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => plan.calls.push(format!("(aws-auth not checked: {e})")),
                Err(_) => plan
                    .calls
                    .push("(aws-auth not checked: no answer in time)".into()),
            }
        }
        return Ok(plan);
    }
    let p = props.expect("Create and Update have parsed properties");
    if p.clusters == Clusters::All && info.status != "ACTIVE" {
        plan.calls
            .push(format!("(skipped: status {})", info.status));
        return Ok(plan);
    }
    let d = decide(
        cluster,
        &info.authentication_mode,
        p.method,
        p.enable_access_entries,
    )?;
    plan.switch_mode = d.switch_mode;
    if d.switch_mode {
        plan.calls
            .push("eks:UpdateClusterConfig (CONFIG_MAP -> API_AND_CONFIG_MAP)".into());
        plan.calls
            .push("eks:DescribeUpdate (until Successful)".into());
    }
    plan.mechanism = Some(d.mechanism);
    match d.mechanism {
        Mechanism::AccessEntry => {
            plan.calls.push(format!("eks:CreateAccessEntry {role}"));
            plan.calls
                .push("eks:AssociateAccessPolicy (cluster scope)".into());
            if kind == RequestType::Update
                && per_cluster::mode_after(&info, d.switch_mode) == per_cluster::HYBRID
            {
                plan.calls.push("(if the cluster was held without an access entry: aws-auth looked at, if reachable, for the entry made before a switch from CONFIG_MAP)".into());
            }
        }
        Mechanism::AwsAuth => {
            assume(&mut plan);
            let api = scope.cluster_api(cluster, &info).await?;
            let cm = api.read().await?;
            plan.calls.push("k8s:get kube-system/aws-auth".into());
            let data = cm.and_then(|c| c.data).unwrap_or_default();
            let before = data.get(aws_auth::MAP_ROLES).cloned();
            let e = aws_auth::upsert(&data, &role, &p.username, &p.groups)?;
            if e.change != Change::Unchanged {
                plan.calls
                    .push("k8s:update kube-system/aws-auth (with resourceVersion)".into());
                plan.aws_auth_diff = Some(aws_auth::diff(
                    before.as_deref(),
                    Some(&e.data[aws_auth::MAP_ROLES]),
                ));
            }
        }
    }
    Ok(plan)
}
