//! The Kubernetes API of one cluster: bearer-token authentication as EKS does it, identity mapping
//! through access entries and `aws-auth` read at request time, ConfigMaps with resourceVersion
//! concurrency, the patch types kubectl sends, and the discovery documents kubectl asks for.

use serde_json::{json, Value};

use crate::aws_api::CLUSTER_ADMIN_POLICY;
use crate::http::{json as json_resp, Req, Resp};
use crate::state::{
    canonical_principal, new_config_map, rfc3339, role_match_key, ClusterState, World,
};
use crate::token;

/// A Kubernetes `Status` failure.
pub fn status(code: u16, reason: &str, message: &str, details: Value) -> Resp {
    json_resp(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "details": details, "code": code
        }),
    )
}

/// The Kubernetes verb of a request, as used in op names (`k8s:get`, ...).
pub fn verb(req: &Req) -> &'static str {
    let seg = req.segments();
    let is_cm =
        seg.len() >= 5 && seg[0] == "api" && seg[2] == "namespaces" && seg[4] == "configmaps"
            || seg.len() == 3 && seg[0] == "api" && seg[2] == "configmaps";
    let rbac = seg.len() >= 4 && seg[0] == "apis" && seg[1] == "rbac.authorization.k8s.io";
    if !is_cm && !rbac {
        return "discovery";
    }
    let named = match rbac {
        true => seg.len() == 5 || seg.len() == 7,
        false => seg.len() == 6,
    };
    match (req.method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        _ => "unknown",
    }
}

/// Who the caller is inside the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub username: String,
    pub groups: Vec<String>,
}

/// Maps a verified caller ARN to a Kubernetes identity, as EKS does, or None (401). `sim_ms` is
/// the simulated now and `entry_delay_secs` how long a new access entry takes to be used.
pub fn identity(
    cluster: &ClusterState,
    caller_arn: &str,
    access_key_id: &str,
    sim_ms: i64,
    entry_delay_secs: f64,
) -> Option<Identity> {
    // The authenticator's CanonicalARN: an assumed role becomes its role, without a path, since
    // the STS ARN carries none (aws-iam-authenticator pkg/arn/arn.go, Canonicalize).
    let principal = canonical_principal(caller_arn);
    // The creator is admin unless the cluster was made with
    // bootstrapClusterCreatorAdminPermissions false (API modes only).
    if cluster.creator_admin && (principal == cluster.creator || caller_arn == cluster.creator) {
        return Some(Identity {
            username: "kubernetes-admin".into(),
            groups: vec!["system:masters".into()],
        });
    }
    if cluster.authentication_mode != "CONFIG_MAP" {
        // Access entries match the IAM principal itself (its unique id), so an entry made with the
        // role's full ARN, path included, matches the path-less assumed-role caller
        // (aws/containers-roadmap#185, "Creating an access entry with a role ARN containing a
        // path"). A new entry is used only after it has propagated.
        let key = role_match_key(&principal);
        if let Some(e) = cluster.access_entries.values().find(|e| {
            (e.principal_arn == principal || role_match_key(&e.principal_arn) == key)
                && (sim_ms - e.created_sim_ms) as f64 / 1000.0 >= entry_delay_secs
        }) {
            let mut groups = e.kubernetes_groups.clone();
            if e.policies.contains_key(CLUSTER_ADMIN_POLICY) {
                groups.push("system:masters".into());
            }
            if e.kind == "EC2_LINUX" {
                groups.extend(["system:bootstrappers".into(), "system:nodes".into()]);
            }
            return Some(Identity {
                username: e.username.clone(),
                groups,
            });
        }
    }
    if cluster.authentication_mode != "API" {
        let id = aws_auth_identity(cluster, &principal)?;
        return render(id, caller_arn, &cluster.account, access_key_id);
    }
    None
}

/// The authenticator's username and group templates, rendered for the caller
/// (aws-iam-authenticator pkg/server/server.go, `renderTemplates` / `renderTemplate`):
/// `{{AccountID}}`, `{{SessionName}}` (`@` made `-`), `{{SessionNameRaw}}`, `{{AccessKeyID}}`, in
/// the username and in every group. `{{EC2PrivateDNSName}}` needs the session name to be an
/// instance id (`^i-(\w{8}|\w{17})$`), else the caller is refused; EC2's answer for an instance
/// is played here as `ip-<id>.<region>.compute.internal`.
fn render(id: Identity, caller_arn: &str, account: &str, access_key_id: &str) -> Option<Identity> {
    let session = caller_arn
        .split_once(":assumed-role/")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, s)| s)
        .unwrap_or_default();
    let one = |t: &str| -> Option<String> {
        let mut t = t.to_string();
        if t.contains("{{EC2PrivateDNSName}}") {
            let id = session.strip_prefix("i-")?;
            let ok = (id.len() == 8 || id.len() == 17)
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return None;
            }
            t = t.replace("{{EC2PrivateDNSName}}", &format!("ip-{id}.ec2.internal"));
        }
        Some(
            t.replace("{{AccountID}}", account)
                .replace("{{SessionName}}", &session.replace('@', "-"))
                .replace("{{SessionNameRaw}}", session)
                .replace("{{AccessKeyID}}", access_key_id),
        )
    };
    Some(Identity {
        username: one(&id.username)?,
        groups: id.groups.iter().map(|g| one(g)).collect::<Option<_>>()?,
    })
}

/// aws-iam-authenticator's ConfigMapMapper.Map (pkg/mapper/configmap/mapper.go): mapRoles first,
/// then mapUsers, whatever the caller is, each matched by `strings.EqualFold(arn, CanonicalARN)`
/// (pkg/config/mapper.go, Matches). Role mappings are kept in a map keyed by the lowercased
/// rolearn exactly as written (configmap.go, saveMap), so the last of duplicates wins and an
/// entry written with a role path never matches: the caller's ARN has no path.
fn aws_auth_identity(cluster: &ClusterState, principal: &str) -> Option<Identity> {
    use crate::authenticator_yaml::{parse_map, MapKind};
    let data = &cluster.config_maps.get("kube-system/aws-auth")?["data"];
    let list = |key: &str, kind| parse_map(data[key].as_str().unwrap_or_default(), kind);
    let hit = list("mapRoles", MapKind::Roles)
        .into_iter()
        .rev()
        .find(|m| m.arn.to_lowercase() == principal.to_lowercase())
        .or_else(|| {
            list("mapUsers", MapKind::Users)
                .into_iter()
                .rev()
                .find(|m| m.arn.to_lowercase() == principal.to_lowercase())
        })?;
    Some(Identity {
        username: hit.username,
        groups: hit.groups,
    })
}

/// Answers one request to the cluster's API server.
pub fn handle(world: &mut World, cluster_name: &str, req: &Req) -> Resp {
    let unauthorized = || status(401, "Unauthorized", "Unauthorized", json!({}));
    let Some(tok) = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return unauthorized();
    };
    let (caller, access_key_id) = match token::verify(world, tok.trim(), cluster_name) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(cluster = cluster_name, reason = %e, "token refused");
            return unauthorized();
        }
    };
    world.settle();
    let (sim_ms, delay) = (
        world.sim_ms(),
        world.scenario.access_entry_propagation_seconds,
    );
    let Some(cluster) = world.clusters.get(cluster_name) else {
        return unauthorized();
    };
    let Some(id) = identity(cluster, &caller, &access_key_id, sim_ms, delay) else {
        return unauthorized();
    };
    let seg = req.segments();
    if let Some(r) = crate::k8s_discovery::discovery(req, &seg) {
        return r;
    }
    if let Some(r) = crate::k8s_discovery::self_subject_review(req, &seg, &id) {
        return r;
    }
    if !id.groups.iter().any(|g| g == "system:masters") {
        return status(
            403,
            "Forbidden",
            &format!(
                "configmaps is forbidden: User \"{}\" cannot {} resource \"configmaps\" in API group \"\"",
                id.username,
                verb(req)
            ),
            json!({ "kind": "configmaps" }),
        );
    }
    if seg.len() >= 3 && seg[0] == "apis" && seg[1] == "rbac.authorization.k8s.io" {
        return crate::rbac_api::handle(world, cluster_name, req, &seg);
    }
    if let ["api", "v1", "namespaces", ns] = seg.iter().map(String::as_str).collect::<Vec<_>>()[..]
    {
        return crate::rbac_api::namespace(world, cluster_name, req, ns);
    }
    configmaps(world, cluster_name, req, &seg)
}

fn not_found(name: &str) -> Resp {
    status(
        404,
        "NotFound",
        &format!("configmaps \"{name}\" not found"),
        json!({ "name": name, "kind": "configmaps" }),
    )
}

fn conflict(name: &str) -> Resp {
    status(
        409,
        "Conflict",
        &format!("Operation cannot be fulfilled on configmaps \"{name}\": the object has been modified; please apply your changes to the latest version and try again"),
        json!({ "name": name, "kind": "configmaps" }),
    )
}

fn invalid(name: &str, message: &str) -> Resp {
    status(
        422,
        "Invalid",
        &format!("ConfigMap \"{name}\" is invalid: {message}"),
        json!({ "name": name, "kind": "ConfigMap" }),
    )
}

/// Checks an object a client wants stored: a ConfigMap with string data only.
fn validate(obj: &Value, ns: &str, name: &str) -> Result<(), String> {
    if obj["kind"].as_str().is_some_and(|k| k != "ConfigMap") {
        return Err("kind: must be ConfigMap".into());
    }
    if obj["metadata"]["name"].as_str() != Some(name) {
        return Err(
            "metadata.name: the name of the object does not match the name on the URL".into(),
        );
    }
    if let Some(n) = obj["metadata"]["namespace"].as_str() {
        if n != ns {
            return Err("metadata.namespace: does not match the namespace of the request".into());
        }
    }
    match &obj["data"] {
        Value::Null => Ok(()),
        Value::Object(m) => match m.iter().find(|(_, v)| !v.is_string()) {
            Some((k, _)) => Err(format!("data.{k}: Invalid value: must be a string")),
            None => Ok(()),
        },
        _ => Err("data: Invalid value: must be a map of strings".into()),
    }
}

/// Stores `obj` as the new version, keeping server-owned metadata.
fn store(
    world: &mut World,
    cluster: &str,
    key: &str,
    mut obj: Value,
    previous: Option<&Value>,
) -> Value {
    world.resource_version += 1;
    let now = world.now();
    let meta = obj["metadata"]
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut meta = Value::Object(meta);
    meta["resourceVersion"] = json!(world.resource_version.to_string());
    match previous {
        Some(p) => {
            meta["uid"] = p["metadata"]["uid"].clone();
            meta["creationTimestamp"] = p["metadata"]["creationTimestamp"].clone();
        }
        None => {
            meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
            meta["creationTimestamp"] = json!(rfc3339(now));
        }
    }
    obj["metadata"] = meta;
    obj["apiVersion"] = json!("v1");
    obj["kind"] = json!("ConfigMap");
    if let Some(c) = world.clusters.get_mut(cluster) {
        c.config_maps.insert(key.to_string(), obj.clone());
    }
    obj
}

fn configmaps(world: &mut World, cluster: &str, req: &Req, seg: &[String]) -> Resp {
    let maps = &world.clusters[cluster].config_maps;
    if seg.len() == 3 {
        let items: Vec<&Value> = maps.values().collect();
        return list(items, world.resource_version);
    }
    if seg.len() < 5 {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        );
    }
    let ns = seg[3].clone();
    if seg.len() == 5 {
        return match req.method.as_str() {
            "GET" => {
                let prefix = format!("{ns}/");
                let items: Vec<&Value> = maps
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(_, v)| v)
                    .collect();
                list(items, world.resource_version)
            }
            "POST" => {
                let Ok(obj) = serde_json::from_slice::<Value>(&req.body) else {
                    return status(
                        400,
                        "BadRequest",
                        "the body of the request was in an unknown format",
                        json!({}),
                    );
                };
                let name = obj["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if let Err(m) = validate(&obj, &ns, &name) {
                    return invalid(&name, &m);
                }
                let key = format!("{ns}/{name}");
                if maps.contains_key(&key) {
                    return status(
                        409,
                        "AlreadyExists",
                        &format!("configmaps \"{name}\" already exists"),
                        json!({ "name": name, "kind": "configmaps" }),
                    );
                }
                let stored = store(world, cluster, &key, obj, None);
                json_resp(201, &stored)
            }
            _ => status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                json!({}),
            ),
        };
    }
    let name = seg[5].clone();
    let key = format!("{ns}/{name}");
    let current = maps.get(&key).cloned();
    match req.method.as_str() {
        "GET" => match current {
            Some(o) => json_resp(200, &o),
            None => not_found(&name),
        },
        "DELETE" => match current {
            Some(o) => {
                let pre = serde_json::from_slice::<Value>(&req.body).ok();
                if let Some(rv) = pre
                    .as_ref()
                    .and_then(|p| p["preconditions"]["resourceVersion"].as_str())
                {
                    if Some(rv) != o["metadata"]["resourceVersion"].as_str() {
                        return conflict(&name);
                    }
                }
                world
                    .clusters
                    .get_mut(cluster)
                    .map(|c| c.config_maps.remove(&key));
                json_resp(
                    200,
                    &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": { "name": name, "kind": "configmaps" } }),
                )
            }
            None => not_found(&name),
        },
        "PUT" => {
            let Some(cur) = current else {
                return not_found(&name);
            };
            let Ok(obj) = serde_json::from_slice::<Value>(&req.body) else {
                return status(
                    400,
                    "BadRequest",
                    "the body of the request was in an unknown format",
                    json!({}),
                );
            };
            if let Err(m) = validate(&obj, &ns, &name) {
                return invalid(&name, &m);
            }
            if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
                if Some(rv) != cur["metadata"]["resourceVersion"].as_str() {
                    return conflict(&name);
                }
            }
            let stored = store(world, cluster, &key, obj, Some(&cur));
            json_resp(200, &stored)
        }
        "PATCH" => patch(world, cluster, req, &ns, &name, current),
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    }
}

fn list(items: Vec<&Value>, rv: u64) -> Resp {
    json_resp(
        200,
        &json!({ "kind": "ConfigMapList", "apiVersion": "v1", "metadata": { "resourceVersion": rv.to_string() }, "items": items }),
    )
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().expect("made an object above");
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

/// RFC 6902 JSON patch (add, remove, replace, test).
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("a JSON patch must be a list")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        let parts: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|p| p.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parents) = parts.split_last().ok_or("empty path")?;
        let mut cur = &mut *target;
        for p in parents {
            cur = cur
                .get_mut(p.as_str())
                .ok_or_else(|| format!("path {path} not found"))?;
        }
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("path {path} is not in an object"))?;
        match op["op"].as_str() {
            Some("add") | Some("replace") => {
                if op["op"] == "replace" && !obj.contains_key(last) {
                    return Err(format!("path {path} not found"));
                }
                obj.insert(last.clone(), op["value"].clone());
            }
            Some("remove") => {
                obj.remove(last)
                    .ok_or_else(|| format!("path {path} not found"))?;
            }
            Some("test") => {
                if obj.get(last) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}

fn patch(
    world: &mut World,
    cluster: &str,
    req: &Req,
    ns: &str,
    name: &str,
    current: Option<Value>,
) -> Resp {
    let ctype = req
        .header("content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let key = format!("{ns}/{name}");
    let bad = |m: &str| status(400, "BadRequest", m, json!({}));
    let (mut obj, existed) = match (&current, ctype.as_str()) {
        (Some(c), _) => (c.clone(), true),
        (None, "application/apply-patch+yaml") => {
            (new_config_map(ns, name, json!({}), 0, 0), false)
        }
        (None, _) => return not_found(name),
    };
    let before_rv = obj["metadata"]["resourceVersion"].clone();
    match ctype.as_str() {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let Ok(p) = serde_json::from_slice::<Value>(&req.body) else { return bad("invalid JSON patch body") };
            merge_patch(&mut obj, &p);
        }
        "application/apply-patch+yaml" => {
            let Ok(p) = serde_yaml_ng::from_slice::<Value>(&req.body) else { return bad("invalid YAML apply body") };
            merge_patch(&mut obj, &p);
        }
        "application/json-patch+json" => {
            let Ok(p) = serde_json::from_slice::<Value>(&req.body) else { return bad("invalid JSON patch body") };
            if let Err(m) = json_patch(&mut obj, &p) {
                return status(422, "Invalid", &m, json!({ "name": name, "kind": "configmaps" }));
            }
        }
        _ => return status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json", json!({})),
    }
    if existed && obj["metadata"]["resourceVersion"] != before_rv {
        return conflict(name);
    }
    if let Err(m) = validate(&obj, ns, name) {
        return invalid(name, &m);
    }
    if existed && current.as_ref() == Some(&obj) {
        return json_resp(200, &obj);
    }
    let stored = store(world, cluster, &key, obj, current.as_ref());
    json_resp(if existed { 200 } else { 201 }, &stored)
}
