//! IAM in force on the simulator's AWS endpoint: the identity-based policies set for a principal
//! (by [`crate::Simulator::set_policies`]) are evaluated ([`crate::iam`]) for each EKS and STS
//! call it makes, before the call is answered. Principals without policies are allowed
//! everything, as before.
//!
//! A refused EKS call answers as EKS does: HTTP 403 `AccessDeniedException`, "User: CALLER is not
//! authorized to perform: eks:ACTION on resource: ARN" (with " with an explicit deny in an
//! identity-based policy" when a Deny applied), as EKS's errors quoted in, e.g.,
//! <https://github.com/linz/topo-workflows/pull/279> and
//! <https://github.com/eksctl-io/eksctl/issues/5831> read. For ListClusters (no resource type) the
//! message names `arn:aws:eks:REGION:ACCOUNT:cluster/*`, as in
//! <https://github.com/aws/aws-cli/issues/5823>. STS and CloudFormation answer their own
//! query-protocol `AccessDenied`.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::aws_api::{eks_error, eks_op, sts_error, sts_op};
use crate::http::{Req, Resp};
use crate::iam::{self, access_entry_arn, Decision, Request, ResourceType};
use crate::state::{canonical_principal, World};

/// The policies in force: principal ARN (a role's or user's; sessions of a role use the role's)
/// -> its identity-based policy documents.
#[derive(Debug, Default, Clone)]
pub struct Policies {
    by_principal: BTreeMap<String, Vec<Value>>,
}

impl Policies {
    pub fn set(&mut self, principal: &str, documents: Vec<Value>) {
        self.by_principal
            .insert(canonical_principal(principal), documents);
    }

    pub fn clear(&mut self, principal: &str) {
        self.by_principal.remove(&canonical_principal(principal));
    }

    pub fn of(&self, caller: &str) -> Option<&Vec<Value>> {
        self.by_principal.get(&canonical_principal(caller))
    }
}

/// A stand-in for the UUID EKS gives an access entry: stable per cluster and principal.
fn entry_uuid(cluster_arn: &str, principal: &str) -> String {
    let d = hex::encode(Sha256::digest(format!("{cluster_arn}|{principal}")));
    format!(
        "{}-{}-{}-{}-{}",
        &d[..8],
        &d[8..12],
        &d[12..16],
        &d[16..20],
        &d[20..32]
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The cluster and principal of the access entry whose ARN (as DescribeAccessEntry gives it) a
/// tagging call names, percent-encoded in its path.
fn tagged_entry(world: &World, encoded: &str) -> Option<(String, String)> {
    let target = percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .to_string();
    world.clusters.iter().find_map(|(name, c)| {
        let prefix = c.arn().rsplit_once(":cluster/")?.0.to_string();
        c.access_entries.keys().find_map(|p| {
            let arn = format!(
                "{prefix}:access-entry/{name}/{}",
                p.replace([':', '/'], "-")
            );
            (arn == target).then(|| (name.clone(), p.clone()))
        })
    })
}

/// The IAM request an EKS call makes: its action, the resource it authorizes on and the context
/// keys the request fills.
pub fn eks_request(world: &World, req: &Req, region: &str) -> Option<Request> {
    let action = eks_op(req);
    let info = iam::action_info(action)?;
    let mut seg = req.segments();
    // TagResource / UntagResource name the entry by its ARN (/tags/{resourceArn}): evaluated as a
    // call on that access entry, with its keys.
    let tagging = matches!(action, "eks:TagResource" | "eks:UntagResource");
    if tagging {
        let (cluster, principal) = tagged_entry(world, seg.get(1)?)?;
        seg = vec![
            "clusters".into(),
            cluster,
            "access-entries".into(),
            principal,
        ];
    }
    let account = &world.scenario.account;
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
    let cluster_arn = seg.get(1).map(|name| {
        world
            .clusters
            .get(name)
            .map(|c| c.arn())
            .unwrap_or_else(|| format!("arn:aws:eks:{region}:{account}:cluster/{name}"))
    });
    let mut r = Request::new(action, "*").with("aws:RequestedRegion", &[region]);
    match info.resource {
        ResourceType::None => {}
        ResourceType::Cluster => r.resource = cluster_arn.clone()?,
        ResourceType::AccessEntry => {
            let cluster_arn = cluster_arn.clone()?;
            let principal = seg.get(3)?.clone();
            r.resource = access_entry_arn(
                &cluster_arn,
                &principal,
                &entry_uuid(&cluster_arn, &principal),
            );
            // The access-entry resource's keys.
            r = r
                .with("eks:principalArn", &[&principal])
                .with("eks:clusterName", &[&seg[1]]);
            let entry = world
                .clusters
                .get(&seg[1])
                .and_then(|c| c.access_entries.get(&principal));
            if let Some(e) = entry {
                r = r
                    .with("eks:accessEntryType", &[&e.kind])
                    .with("eks:username", &[&e.username]);
                for (k, v) in &e.tags {
                    r = r.with(&format!("aws:ResourceTag/{k}"), &[v]);
                }
            }
        }
        ResourceType::Role | ResourceType::Stack | ResourceType::Topic | ResourceType::Secret => {
            return None
        }
    }
    match action {
        "eks:CreateAccessEntry" => {
            if let Some(p) = body["principalArn"].as_str() {
                r = r.with("eks:principalArn", &[p]);
            }
            let kind = body["type"].as_str().unwrap_or("STANDARD");
            r = r.with("eks:accessEntryType", &[kind]);
            if let Some(u) = body["username"].as_str() {
                r = r.with("eks:username", &[u]);
            }
            let groups = strings(&body["kubernetesGroups"]);
            if !groups.is_empty() {
                let g: Vec<&str> = groups.iter().map(String::as_str).collect();
                r = r.with("eks:kubernetesGroups", &g);
            }
            if let Some(tags) = body["tags"].as_object().filter(|t| !t.is_empty()) {
                let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
                r = r.with("aws:TagKeys", &keys);
                for (k, v) in tags {
                    r = r.with(&format!("aws:RequestTag/{k}"), &[v.as_str().unwrap_or("")]);
                }
            }
        }
        "eks:AssociateAccessPolicy" => {
            if let Some(p) = body["policyArn"].as_str() {
                r = r.with("eks:policyArn", &[p]);
            }
            if let Some(s) = body["accessScope"]["type"].as_str() {
                r = r.with("eks:accessScope", &[s]);
            }
            let ns = strings(&body["accessScope"]["namespaces"]);
            if !ns.is_empty() {
                let n: Vec<&str> = ns.iter().map(String::as_str).collect();
                r = r.with("eks:namespaces", &n);
            }
        }
        "eks:UpdateAccessEntry" => {
            // The request's values replace the entry's (the resource's eks:username above).
            if let Some(u) = body["username"].as_str() {
                r = r.with("eks:username", &[u]);
            }
            let groups = strings(&body["kubernetesGroups"]);
            if !groups.is_empty() {
                let g: Vec<&str> = groups.iter().map(String::as_str).collect();
                r = r.with("eks:kubernetesGroups", &g);
            }
        }
        "eks:TagResource" => {
            if let Some(tags) = body["tags"].as_object() {
                let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
                r = r.with("aws:TagKeys", &keys);
                for (k, v) in tags {
                    r = r.with(&format!("aws:RequestTag/{k}"), &[v.as_str().unwrap_or("")]);
                }
            }
        }
        "eks:UntagResource" => {
            let keys: Vec<String> = crate::sigv4::query_pairs(&req.raw_query)
                .into_iter()
                .filter(|(k, _)| k == "tagKeys")
                .map(|(_, v)| v)
                .collect();
            let k: Vec<&str> = keys.iter().map(String::as_str).collect();
            r = r.with("aws:TagKeys", &k);
        }
        "eks:DisassociateAccessPolicy" => {
            if let Some(p) = seg.get(5) {
                r = r.with("eks:policyArn", &[p]);
            }
        }
        "eks:UpdateClusterConfig" => {
            if let Some(m) = body["accessConfig"]["authenticationMode"].as_str() {
                r = r.with("eks:authenticationMode", &[m]);
            }
        }
        "eks:CreateCluster" => {
            if let Some(m) = body["accessConfig"]["authenticationMode"].as_str() {
                r = r.with("eks:authenticationMode", &[m]);
            }
            if let Some(b) =
                body["accessConfig"]["bootstrapClusterCreatorAdminPermissions"].as_bool()
            {
                r = r.with(
                    "eks:bootstrapClusterCreatorAdminPermissions",
                    &[&b.to_string()],
                );
            }
            if let Some(v) = body["version"].as_str() {
                r = r.with("eks:kubernetesVersion", &[v]);
            }
            if let Some(tags) = body["tags"].as_object().filter(|t| !t.is_empty()) {
                let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
                r = r.with("aws:TagKeys", &keys);
                for (k, v) in tags {
                    r = r.with(&format!("aws:RequestTag/{k}"), &[v.as_str().unwrap_or("")]);
                }
            }
        }
        _ => {}
    }
    Some(r)
}

/// The IAM request an STS call makes (None: no permission needed, e.g. GetCallerIdentity).
pub fn sts_request(req: &Req, region: &str) -> Option<Request> {
    let action = sts_op(req);
    if action != "sts:AssumeRole" {
        return None;
    }
    let form = crate::sigv4::query_pairs(&String::from_utf8_lossy(&req.body).replace('+', "%20"));
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut r = Request::new(&action, &get("RoleArn")?).with("aws:RequestedRegion", &[region]);
    if let Some(e) = get("ExternalId") {
        r = r.with("sts:ExternalId", &[&e]);
    }
    Some(r)
}

/// The refusal of an authenticated call by `caller`, or None when its policies allow it (or it has
/// none).
pub fn authorize(policies: &Policies, world: &World, req: &Req, caller: &str) -> Option<Resp> {
    let docs = policies.of(caller)?;
    let region = req
        .header("authorization")
        .and_then(crate::sigv4::parse_authorization)
        .map(|a| a.credential.region)
        .unwrap_or_else(|| world.scenario.region.clone());
    let service = crate::aws_api::service_of(req).unwrap_or_default();
    let requests: Vec<Request> = match service.as_str() {
        "sts" => sts_request(req, &region).into_iter().collect(),
        "cloudformation" => crate::cfn_api::iam_request(world, req, &region, caller)
            .into_iter()
            .collect(),
        "sns" => crate::sns_api::iam_request(req, &region)
            .into_iter()
            .collect(),
        "secretsmanager" => crate::secrets_api::iam_request(req, &region)
            .into_iter()
            .collect(),
        _ => {
            let mut r: Vec<Request> = eks_request(world, req, &region).into_iter().collect();
            // CreateCluster hands the cluster its role: iam:PassRole on it, to EKS
            // (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html; the
            // key iam:PassedToService is the service principal).
            if eks_op(req) == "eks:CreateCluster" {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
                if let Some(role) = body["roleArn"].as_str() {
                    r.push(
                        Request::new("iam:PassRole", role)
                            .with("iam:PassedToService", &["eks.amazonaws.com"]),
                    );
                }
            }
            r
        }
    };
    let (request, decision) = requests
        .into_iter()
        .map(|r| {
            let d = iam::evaluate(docs, &r);
            (r, d)
        })
        .find(|(_, d)| *d != Decision::Allow)?;
    let shown = if request.resource == "*" {
        format!("arn:aws:eks:{region}:{}:cluster/*", world.scenario.account)
    } else {
        request.resource.clone()
    };
    let why = if decision == Decision::ExplicitDeny {
        " with an explicit deny in an identity-based policy"
    } else {
        ""
    };
    let message = format!(
        "User: {caller} is not authorized to perform: {} on resource: {shown}{why}",
        request.action
    );
    tracing::info!(action = %request.action, resource = %request.resource, "denied by IAM");
    // CloudFormation's refusal is its query-protocol AccessDenied (403), as STS's.
    Some(match service.as_str() {
        "sts" => sts_error(403, "AccessDenied", &message),
        "cloudformation" => crate::cfn_api::cfn_error(403, "AccessDenied", &message),
        "sns" => crate::sns_api::denied(caller, &request.resource),
        "secretsmanager" => crate::secrets_api::denied(caller, &request.action, &request.resource),
        _ => eks_error(403, "AccessDeniedException", &message),
    })
}

impl crate::Simulator {
    /// Puts identity-based policy documents in force for `principal` (a role's or user's ARN; its
    /// sessions are covered): from now on each of its EKS and STS calls is evaluated against them.
    /// Replaces what was set before.
    pub fn set_policies(&self, principal: &str, documents: Vec<Value>) {
        self.shared
            .iam
            .lock()
            .expect("iam lock")
            .set(principal, documents);
    }

    /// Takes `principal`'s policies out of force: it is allowed everything again.
    pub fn clear_policies(&self, principal: &str) {
        self.shared.iam.lock().expect("iam lock").clear(principal);
    }
}
