//! One invocation: decide, act, and answer CloudFormation exactly once, also when the work errors,
//! panics, or runs into the Lambda deadline (a FAILED answer is sent shortly before it).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::arn::RoleArn;
use crate::aws_auth::{self, Change};
use crate::clients::Clients;
use crate::decision::{decide, Decision, Mechanism};
use crate::eks::{self, ClusterInfo};
use crate::error::{Error, Result};
use crate::event::{Envelope, Request, RequestType};
use crate::kube_store::ClusterApi;
use crate::physical_id::Recorded;
use crate::properties::Properties;
use crate::response::Body;
use crate::token;

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

/// The identity used for the Kubernetes API, and its credentials.
async fn kube_credentials(
    clients: &Clients,
    props: Option<&Properties>,
    region: &str,
) -> Result<(aws_credential_types::Credentials, String)> {
    match props.and_then(|p| p.cluster_admin_role.as_ref()) {
        Some(admin) => {
            let mut req = clients
                .sts(region)
                .assume_role()
                .role_arn(admin.as_str())
                .role_session_name("eks-role-mapper");
            if let Some(x) = props.and_then(|p| p.cluster_admin_external_id.as_ref()) {
                req = req.external_id(x);
            }
            let out = req
                .send()
                .await
                .map_err(|e| eks::aws_error("AssumeRole ClusterAdminRoleArn", e))?;
            let c = out.credentials.ok_or_else(|| Error::Aws {
                operation: "AssumeRole".into(),
                message: "no credentials returned".into(),
            })?;
            let creds = aws_credential_types::Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "assume-role",
            );
            Ok((creds, admin.as_str().to_string()))
        }
        None => Ok((
            clients.own_credentials().await?,
            "the function's role".to_string(),
        )),
    }
}

async fn cluster_api(
    clients: &Clients,
    props: Option<&Properties>,
    region: &str,
    cluster: &str,
    info: &ClusterInfo,
) -> Result<ClusterApi> {
    let (creds, identity) = kube_credentials(clients, props, region).await?;
    let token = token::bearer_token(&creds, region, cluster, SystemTime::now())?;
    ClusterApi::new(cluster, info, token, identity)
}

fn data(mechanism: Mechanism, info: &ClusterInfo, username: &str, adopted: bool) -> Value {
    json!({
        "Method": mechanism.as_str(),
        "ClusterArn": info.arn,
        "Username": username,
        "Adopted": adopted.to_string(),
    })
}

/// Grants access per the properties; returns the id and Data.
async fn grant(
    clients: &Clients,
    props: &Properties,
    keep_adopted: Option<bool>,
    progress: &Progress,
) -> Result<(Recorded, Value)> {
    let region = region_of(clients, Some(props))?;
    let eks_client = clients.eks(&region);
    let cluster = &props.cluster_name;
    let info = eks::describe(&eks_client, cluster).await?.ok_or_else(|| {
        Error::invalid(
            "ClusterName",
            format!("no EKS cluster named {cluster} in {region}"),
        )
    })?;
    let Decision {
        mechanism,
        switch_mode,
    } = decide(
        cluster,
        &info.authentication_mode,
        props.method,
        props.enable_access_entries,
    )?;
    tracing::info!(mode = %info.authentication_mode, mechanism = mechanism.as_str(), switch_mode, "decided");
    if switch_mode {
        eks::enable_access_entries(&eks_client, cluster, Duration::from_millis(500)).await?;
        tracing::info!("cluster switched to API_AND_CONFIG_MAP");
    }
    let adopted = match mechanism {
        Mechanism::AccessEntry => {
            let adopted = eks::create_access_entry(&eks_client, cluster, &props.role).await?;
            if !adopted {
                progress.record(&Recorded {
                    mechanism,
                    adopted,
                    region: region.clone(),
                    cluster: cluster.clone(),
                    role: props.role.clone(),
                });
            }
            eks::associate_cluster_policy(
                &eks_client,
                cluster,
                &props.role,
                &props.access_policy_arn,
            )
            .await?;
            adopted
        }
        Mechanism::AwsAuth => {
            let api = cluster_api(clients, Some(props), &region, cluster, &info).await?;
            let (change, adopted, conflicts) = api
                .upsert(&props.role, &props.username, &props.groups)
                .await?;
            tracing::info!(change = ?change, conflicts, "aws-auth written");
            adopted
        }
    };
    let adopted = keep_adopted.unwrap_or(adopted);
    tracing::info!(adopted, "access granted");
    let rec = Recorded {
        mechanism,
        adopted,
        region,
        cluster: cluster.clone(),
        role: props.role.clone(),
    };
    let d = data(mechanism, &info, &props.username, adopted);
    Ok((rec, d))
}

/// Removes what a recorded id says this resource created.
async fn revoke(clients: &Clients, rec: &Recorded, props: Option<&Properties>) -> Result<()> {
    if rec.adopted {
        tracing::info!("mapping was adopted, leaving it in place");
        return Ok(());
    }
    let eks_client = clients.eks(&rec.region);
    match rec.mechanism {
        Mechanism::AccessEntry => {
            let removed = eks::delete_access_entry(&eks_client, &rec.cluster, &rec.role).await?;
            tracing::info!(removed, "access entry deleted");
        }
        Mechanism::AwsAuth => {
            let Some(info) = eks::describe(&eks_client, &rec.cluster).await? else {
                tracing::info!("cluster is gone, nothing to remove");
                return Ok(());
            };
            let api = cluster_api(clients, props, &rec.region, &rec.cluster, &info).await?;
            let removed = api.remove(&rec.role).await?;
            tracing::info!(removed, "aws-auth entry removed");
        }
    }
    Ok(())
}

/// The work of one request.
async fn act(clients: Clients, request: Request, progress: Progress) -> Result<Success> {
    let kind = request.kind.map_err(|m| {
        let (field, expected) = m.split_once(": ").unwrap_or(("RequestType", &m));
        Error::invalid(field, expected)
    })?;
    let old_id = request.envelope.physical_resource_id.clone();
    match kind {
        RequestType::Create => {
            let props = Properties::parse(&request.properties)?;
            let (rec, d) = grant(&clients, &props, None, &progress).await?;
            Ok(Success {
                physical_resource_id: rec.encode(),
                data: Some(d),
            })
        }
        RequestType::Update => {
            let props = Properties::parse(&request.properties)?;
            let old = old_id.as_deref().and_then(Recorded::decode);
            let in_place = old.as_ref().filter(|o| {
                o.cluster == props.cluster_name
                    && o.role.as_str() == props.role.as_str()
                    && Some(&o.region) == region_of(&clients, Some(&props)).ok().as_ref()
            });
            let (rec, d) = grant(&clients, &props, in_place.map(|o| o.adopted), &progress).await?;
            // Same target and mechanism: same id (in place). Otherwise a new id: CloudFormation
            // then deletes the old one.
            let id = match in_place {
                Some(o) if o.same_target(&rec) => o.encode(),
                _ => rec.encode(),
            };
            Ok(Success {
                physical_resource_id: id,
                data: Some(d),
            })
        }
        RequestType::Delete => {
            let id = old_id.unwrap_or_default();
            match Recorded::decode(&id) {
                None => tracing::info!("physical id not made by this function; nothing to delete"),
                Some(rec) => {
                    let props = Properties::parse(&request.properties).ok();
                    revoke(&clients, &rec, props.as_ref()).await?
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

/// Plans a request without writing anything.
pub async fn plan(clients: &Clients, event: Value) -> Result<Plan> {
    let request = Request::parse(&event, true)?;
    let kind = request.kind.map_err(|m| Error::invalid("RequestType", m))?;
    let (props, rec) = match kind {
        RequestType::Delete => {
            let rec = request
                .envelope
                .physical_resource_id
                .as_deref()
                .and_then(Recorded::decode);
            (Properties::parse(&request.properties).ok(), rec)
        }
        _ => (Some(Properties::parse(&request.properties)?), None),
    };
    let cluster = rec
        .as_ref()
        .map(|r| r.cluster.clone())
        .or_else(|| props.as_ref().map(|p| p.cluster_name.clone()))
        .unwrap_or_default();
    let region = rec
        .as_ref()
        .map(|r| r.region.clone())
        .map(Ok)
        .unwrap_or_else(|| region_of(clients, props.as_ref()))?;
    let mut plan = Plan {
        request_type: format!("{kind:?}"),
        cluster: cluster.clone(),
        authentication_mode: String::new(),
        mechanism: None,
        switch_mode: false,
        calls: vec!["eks:DescribeCluster".into()],
        aws_auth_diff: None,
    };
    let Some(info) = eks::describe(&clients.eks(&region), &cluster).await? else {
        plan.authentication_mode = "(cluster not found)".into();
        return Ok(plan);
    };
    plan.authentication_mode = info.authentication_mode.clone();
    let (mechanism, role): (Mechanism, RoleArn) = match (&rec, &props) {
        (Some(r), _) if kind == RequestType::Delete => {
            if r.adopted {
                plan.mechanism = Some(r.mechanism);
                return Ok(plan);
            }
            (r.mechanism, r.role.clone())
        }
        (None, _) if kind == RequestType::Delete => return Ok(plan),
        (_, Some(p)) => {
            let d = decide(
                &cluster,
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
            (d.mechanism, p.role.clone())
        }
        _ => return Ok(plan),
    };
    plan.mechanism = Some(mechanism);
    match (mechanism, kind) {
        (Mechanism::AccessEntry, RequestType::Delete) => {
            plan.calls.push(format!("eks:DeleteAccessEntry {role}"))
        }
        (Mechanism::AccessEntry, _) => {
            plan.calls.push(format!("eks:CreateAccessEntry {role}"));
            plan.calls
                .push("eks:AssociateAccessPolicy (cluster scope)".into());
        }
        (Mechanism::AwsAuth, _) => {
            if props
                .as_ref()
                .is_some_and(|p| p.cluster_admin_role.is_some())
            {
                plan.calls.push("sts:AssumeRole ClusterAdminRoleArn".into());
            }
            let api = cluster_api(clients, props.as_ref(), &region, &cluster, &info).await?;
            let cm = api.read().await?;
            plan.calls.push("k8s:get kube-system/aws-auth".into());
            let data = cm.and_then(|c| c.data).unwrap_or_default();
            let before = data.get(aws_auth::MAP_ROLES).cloned();
            let after = if kind == RequestType::Delete {
                aws_auth::remove(&data, &role)?
                    .map(|d| d.get(aws_auth::MAP_ROLES).cloned().unwrap_or_default())
            } else {
                let p = props.as_ref().expect("Create/Update have properties");
                let e = aws_auth::upsert(&data, &role, &p.username, &p.groups)?;
                (e.change != Change::Unchanged).then(|| e.data[aws_auth::MAP_ROLES].clone())
            };
            if let Some(after) = after {
                plan.calls
                    .push("k8s:update kube-system/aws-auth (with resourceVersion)".into());
                plan.aws_auth_diff = Some(aws_auth::diff(before.as_deref(), Some(&after)));
            }
        }
    }
    Ok(plan)
}
