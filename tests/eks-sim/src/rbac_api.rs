//! RoleBindings and ClusterRoleBindings in the Kubernetes stand-in, as far as the mapper uses
//! them: create, get, replace (guarded by `resourceVersion`), delete, and lists narrowed by an
//! equality `labelSelector`, cluster-wide and per namespace. A RoleBinding goes only into a
//! namespace that exists (404 `namespaces "x" not found`, as kube-apiserver answers), and a
//! replace may not change `roleRef` (422). Held to the real apiserver by
//! `real_vs_simulated_kubernetes.rs`. Authorization (what the bindings grant) is not modelled:
//! the real control plane answers that.
//! <https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/role-binding-v1/>
//! <https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/cluster-role-binding-v1/>

use serde_json::{json, Value};

use crate::http::{json as json_resp, Req, Resp};
use crate::k8s_api::status;
use crate::state::{rfc3339, World};

/// Kubernetes' own namespaces, there in every cluster.
pub const BUILT_IN_NAMESPACES: &[&str] =
    &["default", "kube-node-lease", "kube-public", "kube-system"];

/// `/apis/rbac.authorization.k8s.io/v1/...`: `seg` is the whole path's segments.
pub fn handle(world: &mut World, cluster: &str, req: &Req, seg: &[String]) -> Resp {
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let (kind, ns, name) = match s.as_slice() {
        [_, _, "v1", "clusterrolebindings"] => ("clusterrolebindings", None, None),
        [_, _, "v1", "clusterrolebindings", n] => ("clusterrolebindings", None, Some(*n)),
        [_, _, "v1", "rolebindings"] if req.method == "GET" => ("rolebindings", Some("*"), None),
        [_, _, "v1", "namespaces", ns, "rolebindings"] => ("rolebindings", Some(*ns), None),
        [_, _, "v1", "namespaces", ns, "rolebindings", n] => ("rolebindings", Some(*ns), Some(*n)),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                json!({}),
            )
        }
    };
    let key = |ns: Option<&str>, name: &str| match ns {
        Some(ns) => format!("rolebindings/{ns}/{name}"),
        None => format!("clusterrolebindings/{name}"),
    };
    let not_found = |name: &str| {
        status(
            404,
            "NotFound",
            &format!("{kind}.rbac.authorization.k8s.io \"{name}\" not found"),
            json!({ "name": name, "group": "rbac.authorization.k8s.io", "kind": kind }),
        )
    };
    let Some(c) = world.clusters.get(cluster) else {
        return not_found("");
    };
    match (req.method.as_str(), name) {
        ("GET", None) => {
            let selector = req.query("labelSelector").unwrap_or_default();
            let prefix = match ns {
                Some("*") | None => format!("{kind}/"),
                Some(ns) => format!("{kind}/{ns}/"),
            };
            let items: Vec<&Value> = c
                .rbac
                .iter()
                .filter(|(k, v)| k.starts_with(&prefix) && matches(v, &selector))
                .map(|(_, v)| v)
                .collect();
            let list_kind = if kind == "rolebindings" {
                "RoleBindingList"
            } else {
                "ClusterRoleBindingList"
            };
            json_resp(
                200,
                &json!({ "kind": list_kind, "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": { "resourceVersion": world.resource_version.to_string() }, "items": items }),
            )
        }
        ("GET", Some(n)) => match c.rbac.get(&key(ns, n)) {
            Some(o) => json_resp(200, o),
            None => not_found(n),
        },
        ("DELETE", Some(n)) => match world
            .clusters
            .get_mut(cluster)
            .and_then(|c| c.rbac.remove(&key(ns, n)))
        {
            Some(_) => json_resp(
                200,
                &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": { "name": n, "group": "rbac.authorization.k8s.io", "kind": kind } }),
            ),
            None => not_found(n),
        },
        ("POST", None) | ("PUT", Some(_)) => {
            let Ok(obj) = serde_json::from_slice::<Value>(&req.body) else {
                return status(
                    400,
                    "BadRequest",
                    "the body of the request was in an unknown format",
                    json!({}),
                );
            };
            let n = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(ns) = ns {
                if !c.namespaces.contains(ns) {
                    return status(
                        404,
                        "NotFound",
                        &format!("namespaces \"{ns}\" not found"),
                        json!({ "name": ns, "kind": "namespaces" }),
                    );
                }
            }
            let k = key(ns, &n);
            let current = c.rbac.get(&k).cloned();
            if req.method == "POST" && current.is_some() {
                return status(
                    409,
                    "AlreadyExists",
                    &format!("{kind}.rbac.authorization.k8s.io \"{n}\" already exists"),
                    json!({ "name": n, "group": "rbac.authorization.k8s.io", "kind": kind }),
                );
            }
            if req.method == "PUT" {
                if name != Some(n.as_str()) {
                    return status(
                        400,
                        "BadRequest",
                        "the name of the object does not match the name on the URL",
                        json!({}),
                    );
                }
                let Some(cur) = &current else {
                    return not_found(&n);
                };
                let rv = obj["metadata"]["resourceVersion"].as_str();
                if rv.is_some() && rv != cur["metadata"]["resourceVersion"].as_str() {
                    return status(409, "Conflict", &format!("Operation cannot be fulfilled on {kind}.rbac.authorization.k8s.io \"{n}\": the object has been modified; please apply your changes to the latest version and try again"),
                        json!({ "name": n, "group": "rbac.authorization.k8s.io", "kind": kind }));
                }
                if obj["roleRef"] != cur["roleRef"] {
                    return status(
                        422,
                        "Invalid",
                        &format!(
                            "{} \"{n}\" is invalid: roleRef: Invalid value: cannot change roleRef",
                            kind_of(kind)
                        ),
                        json!({ "name": n, "group": "rbac.authorization.k8s.io", "kind": kind_of(kind) }),
                    );
                }
            }
            let stored = store(world, cluster, &k, obj, ns, current.as_ref(), kind);
            json_resp(if req.method == "POST" { 201 } else { 200 }, &stored)
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    }
}

fn kind_of(collection: &str) -> &'static str {
    if collection == "rolebindings" {
        "RoleBinding"
    } else {
        "ClusterRoleBinding"
    }
}

/// An equality selector `k=v[,k2=v2]`, or `k` (the label is set): what the mapper sends.
fn matches(obj: &Value, selector: &str) -> bool {
    let labels = &obj["metadata"]["labels"];
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => labels[k].as_str() == Some(v.trim_start_matches('=')),
            None => labels[term].is_string(),
        })
}

fn store(
    world: &mut World,
    cluster: &str,
    key: &str,
    mut obj: Value,
    ns: Option<&str>,
    previous: Option<&Value>,
    kind: &str,
) -> Value {
    world.resource_version += 1;
    let now = world.now();
    let meta = &mut obj["metadata"];
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
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    }
    obj["apiVersion"] = json!("rbac.authorization.k8s.io/v1");
    obj["kind"] = json!(kind_of(kind));
    if let Some(c) = world.clusters.get_mut(cluster) {
        c.rbac.insert(key.to_string(), obj.clone());
    }
    obj
}

/// `GET /api/v1/namespaces/NAME`: the namespace, or 404 `namespaces "x" not found` (what a
/// RoleBinding's create there depends on; the dry run reads it). Other verbs are not served.
pub fn namespace(world: &World, cluster: &str, req: &Req, ns: &str) -> Resp {
    let exists = world
        .clusters
        .get(cluster)
        .is_some_and(|c| c.namespaces.contains(ns));
    match (req.method.as_str(), exists) {
        ("GET", true) => json_resp(
            200,
            &json!({
                "kind": "Namespace", "apiVersion": "v1",
                "metadata": { "name": ns, "labels": { "kubernetes.io/metadata.name": ns } },
                "spec": { "finalizers": ["kubernetes"] },
                "status": { "phase": "Active" }
            }),
        ),
        ("GET", false) => status(
            404,
            "NotFound",
            &format!("namespaces \"{ns}\" not found"),
            json!({ "name": ns, "kind": "namespaces" }),
        ),
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            json!({}),
        ),
    }
}

impl crate::Simulator {
    /// Changes a stored binding (`rolebindings/NS/NAME` or `clusterrolebindings/NAME`) as a
    /// person would by hand (a delete and a create under the same name: another `roleRef`, a
    /// label gone), with a new `resourceVersion`. False when there is no such binding.
    pub fn edit_binding(&self, cluster: &str, key: &str, edit: impl FnOnce(&mut Value)) -> bool {
        let mut w = self.world();
        let Some(b) = w
            .clusters
            .get_mut(cluster)
            .and_then(|c| c.rbac.get_mut(key))
        else {
            return false;
        };
        edit(b);
        b["metadata"]["resourceVersion"] = json!("edited-by-hand");
        true
    }
}
