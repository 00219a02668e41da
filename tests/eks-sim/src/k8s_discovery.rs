//! The Kubernetes stand-in's discovery, as kubectl reads it before a request: the core group
//! (`/api`, `/api/v1`), and the two API groups the stand-in serves, RBAC (the mapper's bindings,
//! so `kubectl get clusterrolebindings,rolebindings -A -l eks-role-mapper/owner` works) and
//! authentication (`kubectl auth whoami`'s SelfSubjectReview, which any authenticated caller may
//! create). Held to kube-apiserver by `real_vs_simulated_rbac.rs`.
//! <https://kubernetes.io/docs/reference/using-api/api-concepts/#discovery-api>
//! <https://kubernetes.io/docs/reference/access-authn-authz/authentication/#self-subject-review>

use serde_json::{json, Value};

use crate::http::{json as json_resp, Req, Resp};
use crate::k8s_api::Identity;

const RBAC: &str = "rbac.authorization.k8s.io";
const AUTHN: &str = "authentication.k8s.io";
const BINDING_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One group of `/apis`, served at v1 only.
fn group(name: &str) -> Value {
    let v1 = json!({ "groupVersion": format!("{name}/v1"), "version": "v1" });
    json!({ "name": name, "versions": [v1], "preferredVersion": v1 })
}

/// A discovery document for a GET of `seg`, or None.
pub fn discovery(req: &Req, seg: &[String]) -> Option<Resp> {
    if req.method != "GET" {
        return None;
    }
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    Some(match s.as_slice() {
        ["version"] => json_resp(
            200,
            &json!({
                "major": "1", "minor": "31", "gitVersion": "v1.31.0-eks-sim", "gitCommit": "0000000",
                "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.22",
                "compiler": "gc", "platform": "linux/amd64"
            }),
        ),
        ["api"] => json_resp(
            200,
            &json!({
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443" }]
            }),
        ),
        ["apis"] => json_resp(
            200,
            &json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": [group(RBAC), group(AUTHN)] }),
        ),
        ["apis", g] if *g == RBAC || *g == AUTHN => {
            let mut doc = group(g);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            json_resp(200, &doc)
        }
        ["apis", RBAC, "v1"] => json_resp(
            200,
            &json!({
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "rbac.authorization.k8s.io/v1",
                "resources": [{
                    "name": "clusterrolebindings", "singularName": "clusterrolebinding", "namespaced": false,
                    "kind": "ClusterRoleBinding", "verbs": BINDING_VERBS
                }, {
                    "name": "rolebindings", "singularName": "rolebinding", "namespaced": true,
                    "kind": "RoleBinding", "verbs": BINDING_VERBS
                }]
            }),
        ),
        ["apis", AUTHN, "v1"] => json_resp(
            200,
            &json!({
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "authentication.k8s.io/v1",
                "resources": [{
                    "name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": false,
                    "kind": "SelfSubjectReview", "verbs": ["create"]
                }]
            }),
        ),
        ["api", "v1"] => json_resp(
            200,
            &json!({
                "kind": "APIResourceList", "groupVersion": "v1",
                "resources": [{
                    "name": "configmaps", "singularName": "configmap", "namespaced": true, "kind": "ConfigMap",
                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                    "shortNames": ["cm"], "storageVersionHash": "qFsyl6wFWjQ="
                }, {
                    "name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace",
                    "verbs": ["get", "list"], "shortNames": ["ns"]
                }]
            }),
        ),
        _ => return None,
    })
}

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: who the caller is, as the API
/// server authenticated it (every authenticated caller is also `system:authenticated`).
pub fn self_subject_review(req: &Req, seg: &[String], id: &Identity) -> Option<Resp> {
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    if req.method != "POST" || s != ["apis", AUTHN, "v1", "selfsubjectreviews"] {
        return None;
    }
    let mut groups = id.groups.clone();
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    Some(json_resp(
        201,
        &json!({
            "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": { "creationTimestamp": null },
            "status": { "userInfo": { "username": id.username, "groups": groups } }
        }),
    ))
}
