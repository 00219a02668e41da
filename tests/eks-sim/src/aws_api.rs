//! The AWS side: EKS (restJson1) and STS (query protocol) behind one endpoint, both requiring a
//! valid SigV4 signature from a known key, with the real services' paths, shapes and errors.

use serde_json::{json, Value};

use crate::http::{json as json_resp, with_type, Req, Resp};
use crate::sigv4;
use crate::state::{
    canonical_principal, mode_rank, AccessEntry, ClusterState, ClusterUpdate, KeyOwner, World,
};

/// EKS's refusal of `bootstrapClusterCreatorAdminPermissions: false` on a CONFIG_MAP cluster
/// (400 InvalidParameterException, quoted in crossplane-contrib/provider-upjet-aws#1345 and
/// terraform-aws-modules/terraform-aws-eks#3270).
pub const BOOTSTRAP_CONFIG_MAP: &str =
    "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP";

/// The EKS cluster-admin access policy.
pub const CLUSTER_ADMIN_POLICY: &str =
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

/// Which AWS service a signed request is for (from its credential scope).
pub fn service_of(req: &Req) -> Option<String> {
    if let Some(h) = req.header("authorization") {
        return sigv4::parse_authorization(h).map(|a| a.credential.service);
    }
    // A presigned URL (the EKS authenticator calls one): the scope is in the query.
    req.query("X-Amz-Credential")
        .and_then(|c| sigv4::parse_credential(&c))
        .map(|c| c.service)
}

/// Why a signed request was refused.
#[derive(Debug)]
pub enum AuthError {
    Missing,
    UnknownKey,
    BadSignature,
    Expired,
}

/// Verifies a header-signed request; returns the caller ARN.
pub fn verify_signed(world: &World, req: &Req) -> Result<String, AuthError> {
    let auth = req
        .header("authorization")
        .and_then(sigv4::parse_authorization)
        .ok_or(AuthError::Missing)?;
    let owner: &KeyOwner = world
        .keys
        .get(&auth.credential.access_key_id)
        .ok_or(AuthError::UnknownKey)?;
    if let Some((token, expires)) = &owner.session {
        if req.header("x-amz-security-token") != Some(token.as_str()) {
            return Err(AuthError::UnknownKey);
        }
        if *expires < world.now() {
            return Err(AuthError::Expired);
        }
    }
    let amz_date = req.header("x-amz-date").ok_or(AuthError::BadSignature)?;
    let t = sigv4::parse_amz_date(amz_date).ok_or(AuthError::BadSignature)?;
    if (world.now() - t).abs() > 15 * 60 {
        return Err(AuthError::Expired);
    }
    let mut headers = Vec::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(AuthError::BadSignature);
        }
        headers.push((name.clone(), values.join(",")));
    }
    let payload_hash = req
        .header("x-amz-content-sha256")
        .map(str::to_string)
        .unwrap_or_else(|| sigv4::sha256_hex(&req.body));
    let canonical = sigv4::canonical_request(&sigv4::CanonicalInput {
        method: &req.method,
        raw_path: &req.raw_path,
        canonical_query: sigv4::canonical_query(&sigv4::query_pairs(&req.raw_query), ""),
        headers,
        signed_headers: &auth.signed_headers,
        payload_hash,
    });
    let expected = sigv4::signature(&owner.secret, amz_date, &auth.credential, &canonical);
    if sigv4::signatures_match(&expected, &auth.signature) {
        Ok(owner.caller_arn.clone())
    } else {
        Err(AuthError::BadSignature)
    }
}

/// An EKS (restJson1) error.
pub fn eks_error(status: u16, kind: &str, message: &str) -> Resp {
    let mut r = json_resp(status, &json!({ "message": message }));
    r.headers_mut().insert(
        "x-amzn-errortype",
        kind.parse().expect("error type is a valid header"),
    );
    r
}

/// An STS (query protocol) XML error.
pub fn sts_error(status: u16, code: &str, message: &str) -> Resp {
    query_error(
        "https://sts.amazonaws.com/doc/2011-06-15/",
        status,
        code,
        message,
    )
}

/// The query protocol's error document (STS, CloudFormation, SNS): one shape, each service's
/// own XML namespace; `Type` is Receiver for 5xx, else Sender.
pub fn query_error(xmlns: &str, status: u16, code: &str, message: &str) -> Resp {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    with_type(
        status,
        "text/xml",
        format!(
            "<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            xml_escape(message),
            uuid::Uuid::new_v4()
        ),
    )
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The operation name of an EKS request, for fault injection and the request log.
pub fn eks_op(req: &Req) -> &'static str {
    let seg = req.segments();
    let n = seg.len();
    match (req.method.as_str(), n) {
        // TagResource / UntagResource: /tags/{resourceArn} (botocore's eks service model).
        ("POST", 2) if seg[0] == "tags" => "eks:TagResource",
        ("DELETE", 2) if seg[0] == "tags" => "eks:UntagResource",
        // CreateCluster POST /clusters, DeleteCluster DELETE /clusters/{name} (botocore's eks
        // model, operations CreateCluster and DeleteCluster).
        ("POST", 1) if seg[0] == "clusters" => "eks:CreateCluster",
        ("DELETE", 2) if seg[0] == "clusters" => "eks:DeleteCluster",
        // DescribeClusterVersions GET /cluster-versions (botocore's eks model): eksctl asks it
        // before it touches a cluster.
        ("GET", 1) if seg[0] == "cluster-versions" => "eks:DescribeClusterVersions",
        ("GET", 1) => "eks:ListClusters",
        ("GET", 2) => "eks:DescribeCluster",
        ("POST", 3) if seg[2] == "access-entries" => "eks:CreateAccessEntry",
        ("GET", 3) if seg[2] == "access-entries" => "eks:ListAccessEntries",
        ("POST", 3) if seg[2] == "update-config" => "eks:UpdateClusterConfig",
        ("GET", 4) if seg[2] == "access-entries" => "eks:DescribeAccessEntry",
        ("DELETE", 4) if seg[2] == "access-entries" => "eks:DeleteAccessEntry",
        ("GET", 4) if seg[2] == "updates" => "eks:DescribeUpdate",
        // ListUpdates GET /clusters/{name}/updates; UpdateAccessEntry POST
        // /clusters/{name}/access-entries/{principalArn} (botocore's eks model).
        ("GET", 3) if seg[2] == "updates" => "eks:ListUpdates",
        ("POST", 4) if seg[2] == "access-entries" => "eks:UpdateAccessEntry",
        ("POST", 5) if seg[4] == "access-policies" => "eks:AssociateAccessPolicy",
        ("GET", 5) if seg[4] == "access-policies" => "eks:ListAssociatedAccessPolicies",
        ("DELETE", 6) if seg[4] == "access-policies" => "eks:DisassociateAccessPolicy",
        _ => "eks:Unknown",
    }
}

/// The operation name of an STS request.
pub fn sts_op(req: &Req) -> String {
    let form = sigv4::query_pairs(&String::from_utf8_lossy(&req.body).replace('+', "%20"));
    let action = form
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .or_else(|| req.query("Action"))
        .unwrap_or_default();
    format!("sts:{action}")
}

fn not_found_cluster(name: &str) -> Resp {
    eks_error(
        404,
        "ResourceNotFoundException",
        &format!("No cluster found for name: {name}."),
    )
}

fn entry_json(cluster: &str, arn_prefix: &str, e: &AccessEntry) -> Value {
    json!({
        "clusterName": cluster,
        "principalArn": e.principal_arn,
        "kubernetesGroups": e.kubernetes_groups,
        "accessEntryArn": format!("{arn_prefix}:access-entry/{cluster}/{}", e.principal_arn.replace([':', '/'], "-")),
        "createdAt": e.created_at,
        "modifiedAt": e.created_at,
        "tags": e.tags,
        "username": e.username,
        "type": e.kind,
    })
}

/// Answers one EKS request (already authenticated) from `caller`; `new_endpoint` is the
/// Kubernetes API URL a CreateCluster gives its cluster (a listener already bound).
pub fn handle_eks(
    world: &mut World,
    req: &Req,
    ca_b64: &str,
    caller: &str,
    new_endpoint: Option<&str>,
) -> Resp {
    let seg = req.segments();
    world.settle();
    let now = world.now();
    let sim_ms = world.sim_ms();
    let op = eks_op(req);
    if op == "eks:CreateCluster" {
        return create_cluster(world, req, ca_b64, caller, new_endpoint);
    }
    if op == "eks:DescribeClusterVersions" {
        return json_resp(200, &cluster_versions());
    }
    if op == "eks:ListClusters" {
        let names: Vec<&String> = world.clusters.keys().collect();
        let start: usize = req
            .query("nextToken")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let max: usize = req
            .query("maxResults")
            .and_then(|t| t.parse().ok())
            .unwrap_or(100)
            .clamp(1, 100);
        let page: Vec<&String> = names.iter().skip(start).take(max).copied().collect();
        let mut body = json!({ "clusters": page });
        if start + max < names.len() {
            body["nextToken"] = json!((start + max).to_string());
        }
        return json_resp(200, &body);
    }
    if op == "eks:Unknown" {
        return eks_error(404, "UnknownOperationException", "Unknown operation");
    }
    if op == "eks:TagResource" || op == "eks:UntagResource" {
        return tag_access_entry(world, req, op);
    }
    let name = &seg[1];
    let delete_ms = (world.scenario.cluster_delete_seconds * 1000.0) as i64;
    let Some(cluster) = world.clusters.get_mut(name) else {
        return not_found_cluster(name);
    };
    cluster.settle_updates(sim_ms, now);
    let arn = cluster.arn();
    let arn_prefix = arn
        .rsplit_once(":cluster/")
        .map(|(p, _)| p.to_string())
        .unwrap_or_default();
    let api_mode = cluster.authentication_mode != "CONFIG_MAP";
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
    match op {
        "eks:DescribeCluster" => json_resp(200, &json!({ "cluster": cluster_json(cluster, ca_b64) })),
        "eks:DeleteCluster" => {
            // A cluster with managed node groups cannot be deleted: 409 ResourceInUseException
            // "Cluster has nodegroups attached" (eksctl-io/eksctl#1325, aws/aws-cdk#8400). While
            // the cluster is being created, updated or deleted the call is refused as in use;
            // terraform-provider-aws retries a ResourceInUseException whose message says "in
            // progress" (internal/service/eks/cluster.go, deleteCluster), the wording here.
            if !cluster.node_roles.is_empty() {
                return eks_error(409, "ResourceInUseException", "Cluster has nodegroups attached");
            }
            if cluster.status != "ACTIVE" && cluster.status != "FAILED" {
                return eks_error(409, "ResourceInUseException", &format!("Cannot delete cluster {name}: an operation is in progress (status {})", cluster.status));
            }
            cluster.status = "DELETING".into();
            cluster.deleting_until_ms = Some(sim_ms + delete_ms);
            json_resp(200, &json!({ "cluster": cluster_json(cluster, ca_b64) }))
        }
        _ if matches!(cluster.status.as_str(), "CREATING" | "DELETING") && op != "eks:DescribeUpdate" && op != "eks:ListAccessEntries" && op != "eks:DescribeAccessEntry" && op != "eks:ListAssociatedAccessPolicies" => eks_error(
            // A cluster on its way in or out takes no configuration (the simulator's wording).
            409,
            "ResourceInUseException",
            &format!("Cluster {name} is in {} state", cluster.status),
        ),
        "eks:UpdateClusterConfig" => {
            // One update at a time: "Cannot AccessConfigUpdate because cluster X currently has
            // update ID in progress" (409, as quoted from EKS in aws/aws-cdk#33452).
            if let Some(u) = cluster.updates.values().find(|u| u.status == "InProgress") {
                return eks_error(409, "ResourceInUseException", &format!("Cannot AccessConfigUpdate because cluster {name} currently has update {} in progress", u.id));
            }
            let Some(target) = body["accessConfig"]["authenticationMode"].as_str() else {
                return eks_error(400, "InvalidParameterException", "Only accessConfig updates are supported by this simulator.");
            };
            if mode_rank(target) == 255 {
                return eks_error(400, "InvalidParameterException", &format!("Unsupported authentication mode: {target}"));
            }
            // Modes only move forward, one step at a time: CONFIG_MAP -> API_AND_CONFIG_MAP ->
            // API (https://docs.aws.amazon.com/eks/latest/userguide/grant-k8s-access.html#set-cam:
            // "you can't change ... to a mode that removes"; CONFIG_MAP -> API is refused with
            // this message, issue 12).
            let (from, to) = (mode_rank(&cluster.authentication_mode), mode_rank(target));
            if to <= from || to > from + 1 {
                return eks_error(400, "InvalidParameterException", &format!("Unsupported authentication mode update from {} to {target}", cluster.authentication_mode));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let u = ClusterUpdate {
                id: id.clone(),
                kind: "AccessConfigUpdate".into(),
                target_mode: target.to_string(),
                created_at: now,
                done_sim_ms: sim_ms + cluster.switch_ms,
                status: "InProgress".into(),
                fails: cluster.switch_fails,
            };
            cluster.updates.insert(id, u.clone());
            cluster.settle_updates(sim_ms, now);
            json_resp(200, &json!({ "update": update_json(&u) }))
        }
        // ListUpdates answers ids only (API_ListUpdates: `updateIds`), every update of the cluster.
        "eks:ListUpdates" => {
            let ids: Vec<&String> = cluster.updates.keys().collect();
            json_resp(200, &json!({ "updateIds": ids }))
        }
        "eks:DescribeUpdate" => match cluster.updates.get(&seg[3]) {
            Some(u) => json_resp(200, &json!({ "update": update_json(u) })),
            None => eks_error(404, "ResourceNotFoundException", &format!("No update found for ID: {}", seg[3])),
        },
        _ if !api_mode => eks_error(
            400,
            "InvalidRequestException",
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
        ),
        "eks:CreateAccessEntry" => {
            let Some(principal) = body["principalArn"].as_str() else {
                return eks_error(400, "InvalidParameterException", "principalArn is required");
            };
            if let Some(r) = check_principal(world, principal) {
                return r;
            }
            let cluster = world.clusters.get_mut(name).expect("looked up above");
            if cluster.access_entries.contains_key(principal) {
                return eks_error(409, "ResourceInUseException", "The specified access entry resource is already in use on this cluster.");
            }
            let groups: Vec<String> = body["kubernetesGroups"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
            if groups.iter().any(|g| g.starts_with("system:")) {
                return eks_error(400, "InvalidParameterException", "The kubernetes group name system:* is invalid, it cannot start with system:");
            }
            let kind = body["type"].as_str().unwrap_or("STANDARD").to_string();
            let tags = body["tags"].as_object().map(|t| t.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default();
            let username = body["username"].as_str().map(str::to_string).unwrap_or_else(|| default_username(principal));
            let e = AccessEntry { principal_arn: principal.to_string(), username, kubernetes_groups: groups, kind, created_at: now, policies: Default::default(), tags, created_sim_ms: sim_ms };
            let out = entry_json(name, &arn_prefix, &e);
            cluster.access_entries.insert(principal.to_string(), e);
            json_resp(200, &json!({ "accessEntry": out }))
        }
        "eks:UpdateAccessEntry" => {
            // API_UpdateAccessEntry: kubernetesGroups and username replace the entry's; EKS refuses
            // a group starting with `system:` as CreateAccessEntry does, and a username starting
            // with `system:`, `eks:`, `aws:`, `amazon:` or `iam:` (API_CreateAccessEntry, username),
            // and either on an entry of a type other than STANDARD (the types' notes there).
            let Some(e) = cluster.access_entries.get_mut(&seg[3]) else {
                return entry_not_found(&seg[3], name);
            };
            let groups: Option<Vec<String>> = body["kubernetesGroups"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
            let username = body["username"].as_str();
            if let Some(g) = groups.iter().flatten().find(|g| g.starts_with("system:")) {
                return eks_error(400, "InvalidParameterException", &format!("The kubernetes group name {g} is invalid, it cannot start with system:"));
            }
            if let Some(u) = username.filter(|u| ["system:", "eks:", "aws:", "amazon:", "iam:"].iter().any(|p| u.starts_with(p))) {
                return eks_error(400, "InvalidParameterException", &format!("The username {u} is invalid: it cannot start with system:, eks:, aws:, amazon: or iam:"));
            }
            if e.kind != "STANDARD" && (groups.is_some() || username.is_some()) {
                return eks_error(400, "InvalidParameterException", &format!("kubernetesGroups and username cannot be updated on an access entry of type {}", e.kind));
            }
            if let Some(g) = groups {
                e.kubernetes_groups = g;
            }
            if let Some(u) = username {
                e.username = u.to_string();
            }
            json_resp(200, &json!({ "accessEntry": entry_json(name, &arn_prefix, e) }))
        }
        "eks:ListAccessEntries" => {
            let entries: Vec<&String> = cluster.access_entries.keys().collect();
            json_resp(200, &json!({ "accessEntries": entries }))
        }
        "eks:DescribeAccessEntry" => match cluster.access_entries.get(&seg[3]) {
            Some(e) => json_resp(200, &json!({ "accessEntry": entry_json(name, &arn_prefix, e) })),
            None => entry_not_found(&seg[3], name),
        },
        "eks:DeleteAccessEntry" => match cluster.access_entries.remove(&seg[3]) {
            Some(_) => json_resp(200, &json!({})),
            None => entry_not_found(&seg[3], name),
        },
        "eks:AssociateAccessPolicy" => {
            // Right after CreateAccessEntry for a role that is itself new, EKS can still answer
            // 404 "The specified principalArn could not be found" (quoted in
            // terraform-aws-modules/terraform-aws-eks#3024); terraform-provider-aws retries
            // exactly that message (internal/service/eks/access_policy_association.go).
            let young_role = world.clusters[name].access_entries.get(&seg[3]).is_some_and(|e| {
                let entry_age = (sim_ms - e.created_sim_ms) as f64 / 1000.0;
                entry_age < world.scenario.access_entry_propagation_seconds
                    && world.role_age_secs(&e.principal_arn).is_some_and(|a| a < 2.0 * world.scenario.iam_propagation_seconds)
            });
            if young_role {
                return eks_error(404, "ResourceNotFoundException", "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.");
            }
            let cluster = world.clusters.get_mut(name).expect("looked up above");
            let Some(e) = cluster.access_entries.get_mut(&seg[3]) else {
                return entry_not_found(&seg[3], name);
            };
            let Some(policy) = body["policyArn"].as_str() else {
                return eks_error(400, "InvalidParameterException", "policyArn is required");
            };
            if !policy.contains(":cluster-access-policy/") {
                return eks_error(400, "InvalidParameterException", &format!("The policyArn {policy} is invalid"));
            }
            let scope = body["accessScope"].clone();
            if !matches!(scope["type"].as_str(), Some("cluster") | Some("namespace")) {
                return eks_error(400, "InvalidParameterException", "accessScope.type must be cluster or namespace");
            }
            e.policies.insert(policy.to_string(), scope.clone());
            json_resp(200, &json!({
                "clusterName": name, "principalArn": e.principal_arn,
                "associatedAccessPolicy": { "policyArn": policy, "accessScope": scope, "associatedAt": now, "modifiedAt": now }
            }))
        }
        "eks:ListAssociatedAccessPolicies" => match cluster.access_entries.get(&seg[3]) {
            Some(e) => {
                let list: Vec<Value> = e.policies.iter().map(|(p, s)| json!({ "policyArn": p, "accessScope": s, "associatedAt": e.created_at, "modifiedAt": e.created_at })).collect();
                json_resp(200, &json!({ "clusterName": name, "principalArn": e.principal_arn, "associatedAccessPolicies": list }))
            }
            None => entry_not_found(&seg[3], name),
        },
        "eks:DisassociateAccessPolicy" => match cluster.access_entries.get_mut(&seg[3]) {
            Some(e) => match e.policies.remove(&seg[5]) {
                Some(_) => json_resp(200, &json!({})),
                None => eks_error(404, "ResourceNotFoundException", &format!("The specified policy {} is not associated", seg[5])),
            },
            None => entry_not_found(&seg[3], name),
        },
        _ => eks_error(404, "UnknownOperationException", "Unknown operation"),
    }
}

/// DescribeCluster's `cluster` (also CreateCluster's and DeleteCluster's answer). While a
/// cluster is CREATING it has no endpoint and no certificate yet: EKS fills `endpoint` and
/// `certificateAuthority.data` once the control plane is up (botocore's Cluster shape documents
/// `endpoint` as "The endpoint for your Kubernetes API server"; clients such as
/// terraform-provider-aws wait for ACTIVE before reading them).
pub fn cluster_json(cluster: &ClusterState, ca_b64: &str) -> Value {
    let mut c = json!({
        "name": cluster.name,
        "arn": cluster.arn(),
        "createdAt": cluster.created_at,
        "version": cluster.version,
        "endpoint": cluster.endpoint,
        "roleArn": cluster.role_arn,
        "resourcesVpcConfig": {
            "subnetIds": cluster.subnet_ids, "securityGroupIds": [],
            "clusterSecurityGroupId": "sg-0a1b2c3d", "vpcId": "vpc-0a1b2c3d",
            "endpointPublicAccess": true, "endpointPrivateAccess": false,
            "publicAccessCidrs": ["0.0.0.0/0"]
        },
        "kubernetesNetworkConfig": { "serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4" },
        "logging": { "clusterLogging": [] },
        "identity": { "oidc": { "issuer": format!("https://oidc.eks.{}.amazonaws.com/id/SIM{}", cluster.region, cluster.name.to_uppercase()) } },
        "status": cluster.status,
        "certificateAuthority": { "data": ca_b64 },
        "platformVersion": "eks.10",
        "tags": {},
        "accessConfig": {
            "bootstrapClusterCreatorAdminPermissions": cluster.creator_admin,
            "authenticationMode": cluster.authentication_mode
        }
    });
    if cluster.status == "CREATING" {
        let o = c.as_object_mut().expect("an object");
        o.remove("endpoint");
        o.insert("certificateAuthority".into(), json!({}));
        o.remove("identity");
    }
    c
}

/// CreateCluster (POST /clusters): checked as EKS checks it, then CREATING for the scenario's
/// `cluster_create_seconds`, then ACTIVE.
/// - `name`, `roleArn` and `resourcesVpcConfig` are required (botocore's CreateClusterRequest);
///   the name matches `^[0-9A-Za-z][A-Za-z0-9\-_]*`, 1 to 100 characters (ClusterName shape);
/// - a name in use is 409 ResourceInUseException "Cluster already exists with name: NAME"
///   (quoted in terraform-aws-modules/terraform-aws-eks#1991);
/// - subnets in fewer than two AZs are refused (InvalidParameterException "Subnets specified
///   must be in at least two different AZs"; the simulator counts subnets, one AZ each);
/// - `accessConfig.authenticationMode` defaults to CONFIG_MAP through the API
///   (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAccessConfigRequest.html,
///   and botocore's CreateAccessConfigRequest: "If you create a cluster by using the EKS API, ...
///   the default is CONFIG_MAP"); `bootstrapClusterCreatorAdminPermissions` defaults to true
///   and false is refused on CONFIG_MAP;
/// - the creator (the caller's IAM principal) is cluster admin; in the API modes that is a
///   STANDARD access entry with AmazonEKSClusterAdminPolicy, made with the cluster. aws-auth does
///   not exist until node groups make it
///   (https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html: "the aws-auth
///   ConfigMap is created and applied to your cluster" when a managed node group is created).
fn create_cluster(
    world: &mut World,
    req: &Req,
    ca_b64: &str,
    caller: &str,
    new_endpoint: Option<&str>,
) -> Resp {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
    let invalid = |m: &str| eks_error(400, "InvalidParameterException", m);
    let Some(name) = body["name"].as_str() else {
        return invalid("name is required");
    };
    let name_ok = (1..=100).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return invalid(&format!("The cluster name {name} is invalid: it must start with an alphanumeric character and contain only alphanumeric characters, hyphens and underscores, at most 100."));
    }
    let Some(role_arn) = body["roleArn"].as_str() else {
        return invalid("roleArn is required");
    };
    if !(role_arn.starts_with("arn:")
        && role_arn.split(':').nth(2) == Some("iam")
        && role_arn.contains(":role/"))
    {
        return invalid(&format!(
            "The roleArn {role_arn} is not a valid IAM role ARN"
        ));
    }
    if !body["resourcesVpcConfig"].is_object() {
        return invalid("resourcesVpcConfig is required");
    }
    let subnets: Vec<String> = body["resourcesVpcConfig"]["subnetIds"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if subnets.len() < 2 {
        return invalid("Subnets specified must be in at least two different AZs");
    }
    let mode = body["accessConfig"]["authenticationMode"]
        .as_str()
        .unwrap_or("CONFIG_MAP");
    if mode_rank(mode) == 255 {
        return invalid(&format!("Unsupported authentication mode: {mode}"));
    }
    let creator_admin = body["accessConfig"]["bootstrapClusterCreatorAdminPermissions"]
        .as_bool()
        .unwrap_or(true);
    if mode == "CONFIG_MAP" && !creator_admin {
        return invalid(BOOTSTRAP_CONFIG_MAP);
    }
    if world.clusters.contains_key(name) {
        return eks_error(
            409,
            "ResourceInUseException",
            &format!("Cluster already exists with name: {name}"),
        );
    }
    let Some(endpoint) = new_endpoint else {
        return eks_error(
            500,
            "ServerException",
            "No endpoint could be made for the cluster.",
        );
    };
    let region =
        crate::cfn_api::signing_region(req).unwrap_or_else(|| world.scenario.region.clone());
    let version = body["version"]
        .as_str()
        .unwrap_or(DEFAULT_VERSION)
        .to_string();
    let spec = crate::scenario::Cluster {
        name: name.to_string(),
        region: Some(region),
        authentication_mode: mode.to_string(),
        creator: canonical_principal(caller),
        aws_auth: None,
        foreign_ca: false,
        status: "ACTIVE".into(),
        authentication_mode_switch_seconds: crate::scenario::DEFAULT_SWITCH_SECONDS,
        authentication_mode_switch_fails: false,
        node_roles: Vec::new(),
        fargate_roles: Vec::new(),
        bootstrap_cluster_creator_admin_permissions: creator_admin,
        namespaces: Vec::new(),
    };
    let mut c = world.begin_cluster(&spec, endpoint);
    c.role_arn = role_arn.to_string();
    c.subnet_ids = subnets;
    c.version = version;
    let out = cluster_json(&c, ca_b64);
    world.clusters.insert(name.to_string(), c);
    json_resp(200, &json!({ "cluster": out }))
}

/// The Kubernetes version a cluster gets when CreateCluster names none.
pub const DEFAULT_VERSION: &str = "1.31";

/// DescribeClusterVersions' answer: the versions EKS offered in late 2026, the default one
/// marked (shape: botocore's eks model, `ClusterVersionInformation`; statuses
/// `STANDARD_SUPPORT` / `EXTENDED_SUPPORT`, https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
pub fn cluster_versions() -> Value {
    let versions: Vec<Value> = [
        ("1.30", "EXTENDED_SUPPORT"),
        ("1.31", "EXTENDED_SUPPORT"),
        ("1.32", "STANDARD_SUPPORT"),
        ("1.33", "STANDARD_SUPPORT"),
        ("1.34", "STANDARD_SUPPORT"),
    ]
    .iter()
    .map(|(v, status)| {
        json!({
            "clusterVersion": v,
            "clusterType": "eks",
            "defaultPlatformVersion": "eks.1",
            "defaultVersion": *v == DEFAULT_VERSION,
            "status": status,
            "versionStatus": status,
        })
    })
    .collect();
    json!({ "clusterVersions": versions })
}

/// TagResource / UntagResource on an access entry, found by the ARN its description gives.
fn tag_access_entry(world: &mut World, req: &Req, op: &str) -> Resp {
    let seg = req.segments();
    let target = percent_encoding::percent_decode_str(&seg[1])
        .decode_utf8_lossy()
        .to_string();
    for (name, cluster) in world.clusters.iter_mut() {
        let prefix = cluster
            .arn()
            .rsplit_once(":cluster/")
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        let Some(e) = cluster
            .access_entries
            .values_mut()
            .find(|e| entry_json(name, &prefix, e)["accessEntryArn"] == target.as_str())
        else {
            continue;
        };
        if op == "eks:TagResource" {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
            let Some(tags) = body["tags"].as_object() else {
                return eks_error(400, "InvalidParameterException", "tags is required");
            };
            for (k, v) in tags {
                e.tags
                    .insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
        } else {
            for (k, v) in crate::sigv4::query_pairs(&req.raw_query) {
                if k == "tagKeys" {
                    e.tags.remove(&v);
                }
            }
        }
        return json_resp(200, &json!({}));
    }
    eks_error(
        404,
        "NotFoundException",
        &format!("Resource {target} not found"),
    )
}

/// The username EKS gives a STANDARD entry when none is asked for.
pub fn default_username(principal: &str) -> String {
    if principal.contains(":role/") {
        format!(
            "{}/{{{{SessionName}}}}",
            canonical_principal(principal)
                .replace(":iam:", ":sts:")
                .replace(":role/", ":assumed-role/")
        )
    } else {
        principal.to_string()
    }
}

fn entry_not_found(principal: &str, cluster: &str) -> Resp {
    eks_error(
        404,
        "ResourceNotFoundException",
        &format!("The specified access entry resource {principal} could not be found on cluster {cluster}."),
    )
}

fn update_json(u: &ClusterUpdate) -> Value {
    // The parameter's value is the mode JSON-encoded, quotes included ("\"API_AND_CONFIG_MAP\""),
    // as EKS reports it (issue 12); the type and param names are botocore's eks model
    // (UpdateType AccessConfigUpdate, UpdateParamType AuthenticationMode).
    let errors = if u.status == "Failed" {
        json!([{ "errorCode": "Unknown", "errorMessage": "The authentication mode update failed.", "resourceIds": [] }])
    } else {
        json!([])
    };
    let param = if u.kind == "AccessConfigUpdate" {
        json!({ "type": "AuthenticationMode", "value": Value::String(u.target_mode.clone()).to_string() })
    } else {
        json!({ "type": "Version", "value": u.target_mode })
    };
    json!({
        "id": u.id, "status": u.status, "type": u.kind,
        "params": [param],
        "createdAt": u.created_at, "errors": errors
    })
}

/// Why CreateAccessEntry refuses `principal` (None: accepted), with EKS's answers:
/// - an STS assumed-role or otherwise malformed ARN: "The principalArn parameter format is not
///   valid" (quoted in aws-samples/appmod-blueprints#319);
/// - a service-linked role: "The caller is not allowed to modify access entries with a
///   principalArn value of a Service Linked Role" (hashicorp/terraform-provider-aws#36447);
/// - a principal that does not exist, a role's ARN without its path, or a role IAM has not yet
///   propagated: "The specified principalArn is invalid: invalid principal." (the path-stripped
///   SSO case: terraform-aws-modules/terraform-aws-eks#2969; EKS checks the principal exists:
///   https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html "one, and only
///   one, existing IAM principal"; a role ARN "can include a path").
fn check_principal(world: &World, principal: &str) -> Option<Resp> {
    let format_ok = principal.starts_with("arn:")
        && principal.split(':').count() == 6
        && principal.split(':').nth(2) == Some("iam")
        && (principal.contains(":role/") || principal.contains(":user/"))
        && !principal.ends_with('/');
    if !format_ok {
        return Some(eks_error(
            400,
            "InvalidParameterException",
            "The principalArn parameter format is not valid",
        ));
    }
    if principal.contains(":role/aws-service-role/") {
        return Some(eks_error(400, "InvalidParameterException", "The caller is not allowed to modify access entries with a principalArn value of a Service Linked Role"));
    }
    let invalid = || {
        eks_error(
            400,
            "InvalidParameterException",
            "The specified principalArn is invalid: invalid principal.",
        )
    };
    let known_principal = world.scenario.principals.iter().any(|p| p.arn == principal);
    let propagated = match world.role_age_secs(principal) {
        Some(age) => age >= world.scenario.iam_propagation_seconds,
        None => known_principal,
    };
    if !propagated {
        return Some(invalid());
    }
    None
}

/// GetCallerIdentity's `UserId` for a caller ARN, as STS gives it
/// (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html, and the
/// "UserId" row of https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable):
/// an assumed role is `ROLE-ID:SESSION` (the EKS authenticator, pkg/token/token.go
/// `getIdentityFromSTSResponse`, refuses any other shape for a role), a user its `AIDA...` id, the
/// root user the account.
fn user_id(caller: &str) -> String {
    let account = caller.split(':').nth(4).unwrap_or_default();
    let resource = caller.splitn(6, ':').nth(5).unwrap_or_default();
    let id = sha256_id(caller);
    match resource.split_once('/') {
        Some(("assumed-role", rest)) => {
            let (role, session) = rest.split_once('/').unwrap_or((rest, ""));
            format!(
                "AROA{}:{session}",
                sha256_id(&format!("arn:aws:iam::{account}:role/{role}"))
            )
        }
        _ if resource == "root" => account.to_string(),
        _ => format!("AIDA{id}"),
    }
}

/// A stable 17-character upper-case id, as IAM's unique ids look.
fn sha256_id(s: &str) -> String {
    sigv4::sha256_hex(s.as_bytes())[..17].to_ascii_uppercase()
}

/// STS's GetCallerIdentity answer for `caller`: XML, or JSON when the client asked for it with
/// `Accept: application/json` (the EKS authenticator does, and reads only JSON).
pub fn caller_identity(caller: &str, json: bool) -> Resp {
    let account = caller.split(':').nth(4).unwrap_or_default();
    let rid = uuid::Uuid::new_v4();
    let user_id = user_id(caller);
    if json {
        return json_resp(
            200,
            &json!({
                "GetCallerIdentityResponse": {
                    "GetCallerIdentityResult": { "Account": account, "Arn": caller, "UserId": user_id },
                    "ResponseMetadata": { "RequestId": rid.to_string() }
                }
            }),
        );
    }
    with_type(200, "text/xml", format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        xml_escape(caller), xml_escape(&user_id)))
}

/// Whether a client asked for STS's JSON answers (`Accept: application/json`).
pub fn wants_json(req: &Req) -> bool {
    req.header("accept")
        .is_some_and(|a| a.contains("application/json"))
}

/// An STS error as XML, or as JSON for a client that asked for JSON (the shape token.go quotes:
/// `{"Error":{"Code":..,"Message":..,"Type":..},"RequestId":..}`).
pub fn sts_error_for(req: &Req, status: u16, code: &str, message: &str) -> Resp {
    if !wants_json(req) {
        return sts_error(status, code, message);
    }
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    json_resp(
        status,
        &json!({
            "Error": { "Code": code, "Message": message, "Type": kind },
            "RequestId": uuid::Uuid::new_v4().to_string()
        }),
    )
}

/// A presigned STS GetCallerIdentity URL being called, as the EKS authenticator calls a token's
/// URL (GET, `x-k8s-aws-id` sent as its own cluster id, `Accept: application/json`): STS checks
/// the signature over the headers actually sent and answers who signed it.
pub fn handle_presigned_sts(world: &World, req: &Req) -> Resp {
    let host = req.header("host").unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let pairs = sigv4::query_pairs(&req.raw_query);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if req.method != "GET" || get("Action").as_deref() != Some("GetCallerIdentity") {
        return sts_error_for(
            req,
            400,
            "InvalidAction",
            "Only GetCallerIdentity is presigned here",
        );
    }
    let signed: Vec<String> = get("X-Amz-SignedHeaders")
        .unwrap_or_default()
        .split(';')
        .map(str::to_string)
        .collect();
    match crate::token::signed_caller(world, host, &pairs, &signed, |h| {
        req.header(h).map(str::to_string)
    }) {
        Ok(caller) => caller_identity(&caller, wants_json(req)),
        Err(crate::token::TokenError::Expired) => {
            sts_error_for(req, 403, "ExpiredToken", "The security token included in the request is expired")
        }
        Err(_) => sts_error_for(req, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."),
    }
}

/// Answers one STS request from `caller` (already authenticated).
pub fn handle_sts(world: &mut World, req: &Req, caller: &str) -> Resp {
    let form: Vec<(String, String)> =
        sigv4::query_pairs(&String::from_utf8_lossy(&req.body).replace('+', "%20"));
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let rid = uuid::Uuid::new_v4();
    match get("Action").as_deref() {
        Some("GetCallerIdentity") => caller_identity(caller, false),
        Some("AssumeRole") => {
            let Some(role_arn) = get("RoleArn") else {
                return sts_error(400, "ValidationError", "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
            };
            let Some(session) = get("RoleSessionName") else {
                return sts_error(400, "ValidationError", "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
            };
            let denied = || {
                sts_error(403, "AccessDenied", &format!("User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"))
            };
            let Some(role) = world.role(&role_arn).cloned() else {
                return denied();
            };
            let caller_principal = canonical_principal(caller);
            let caller_account = caller.split(':').nth(4).unwrap_or_default();
            let trusted = role.trust.iter().any(|t| {
                t.principal == caller_principal
                    || t.principal == format!("arn:aws:iam::{caller_account}:root")
            });
            if !trusted || role.external_id.is_some() && role.external_id != get("ExternalId") {
                return denied();
            }
            let duration: i64 = get("DurationSeconds")
                .and_then(|d| d.parse().ok())
                .unwrap_or(3600);
            let crate::state::Session {
                n,
                access_key_id: akid,
                secret,
                token,
                expires,
                assumed_arn: assumed,
            } = world.mint_session(&role_arn, &session, duration);
            with_type(200, "text/xml", format!(
                "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>{akid}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROASIM{n}:{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></AssumeRoleResponse>",
                crate::state::rfc3339(expires), xml_escape(&session), xml_escape(&assumed)))
        }
        other => sts_error(
            400,
            "InvalidAction",
            &format!("Could not find operation {}", other.unwrap_or("")),
        ),
    }
}
