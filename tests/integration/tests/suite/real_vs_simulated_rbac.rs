//! The stand-in's RoleBindings and ClusterRoleBindings (`eks_sim::rbac_api`) held to the real
//! kube-apiserver: the requests the mapper makes for a level below cluster-admin (create, a second
//! create, get, lists by label selector, replaces with a stale version, a changed roleRef and a
//! changed subject, a RoleBinding in a namespace that does not exist, a namespace's GET, deletes) get the same status
//! codes and the fields the mapper reads on both. A kinder stand-in (any namespace accepted, a
//! roleRef replaced, a stale version taken) fails here.

use eks_sim::control_plane::https_request;
use serde_json::{json, Value};

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";
/// The API groups the stand-in serves besides the core one (issue 33: kubectl's discovery of
/// them, so that `kubectl get clusterrolebindings,rolebindings -A -l ...` and `kubectl auth
/// whoami` work on the embedded simulator).
const SERVED: [&str; 2] = ["rbac.authorization.k8s.io", "authentication.k8s.io"];
const SELECTOR: &str = "labelSelector=eks-role-mapper%2Fowner%3Dfeedfacefeedface";

fn essence(status: u16, body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut e = json!({ "status": status, "kind": v["kind"] });
    match v["kind"].as_str() {
        Some("Status") if status >= 300 => {
            e["reason"] = v["reason"].clone();
            e["code"] = v["code"].clone();
            e["details"] = json!({ "name": v["details"]["name"], "kind": v["details"]["kind"] });
        }
        Some("RoleBinding" | "ClusterRoleBinding") => {
            let m = &v["metadata"];
            e["name"] = m["name"].clone();
            e["namespace"] = m["namespace"].clone();
            e["labels"] = m["labels"].clone();
            e["has_resource_version"] = json!(m["resourceVersion"].is_string());
            e["roleRef"] = v["roleRef"].clone();
            e["subjects"] = v["subjects"].clone();
        }
        Some("APIGroupList") => {
            let mut groups: Vec<String> = v["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|g| SERVED.contains(&g["name"].as_str().unwrap_or_default()))
                .map(|g| format!("{} {}", g["name"], g["preferredVersion"]["version"]))
                .collect();
            groups.sort();
            e["groups"] = json!(groups);
        }
        Some("APIGroup") => {
            e["name"] = v["name"].clone();
            e["preferred"] = v["preferredVersion"]["groupVersion"].clone();
        }
        Some("APIResourceList") => {
            for r in v["resources"].as_array().into_iter().flatten() {
                let name = r["name"].as_str().unwrap_or_default();
                if ["clusterrolebindings", "rolebindings", "selfsubjectreviews"].contains(&name) {
                    let mut verbs: Vec<String> =
                        serde_json::from_value(r["verbs"].clone()).unwrap_or_default();
                    verbs.sort();
                    e[name] =
                        json!({"namespaced": r["namespaced"], "kind": r["kind"], "verbs": verbs});
                }
            }
        }
        Some("SelfSubjectReview") => {
            let user = &v["status"]["userInfo"];
            let mut groups: Vec<String> =
                serde_json::from_value(user["groups"].clone()).unwrap_or_default();
            groups.sort();
            e["username"] = user["username"].clone();
            e["groups"] = json!(groups);
        }
        Some("Namespace") => {
            e["name"] = v["metadata"]["name"].clone();
            e["phase"] = v["status"]["phase"].clone();
        }
        Some("RoleBindingList" | "ClusterRoleBindingList") => {
            let mut names: Vec<String> = v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    format!(
                        "{}/{}",
                        i["metadata"]["namespace"].as_str().unwrap_or("-"),
                        i["metadata"]["name"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            names.sort();
            e["items"] = json!(names);
        }
        _ => {}
    }
    e
}

fn binding(kind: &str, ns: Option<&str>, role: &str, group: &str) -> Value {
    let mut meta = json!({"name": "eks-role-mapper-feedfacefeedface-view",
        "labels": {"eks-role-mapper/owner": "feedfacefeedface"},
        "annotations": {"eks-role-mapper/owner": "feedfacefeedface"}});
    if let Some(ns) = ns {
        meta["namespace"] = json!(ns);
    }
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group}]})
}

async fn sequence(base: &str, ca: &str, token: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let (base, ca, token) = (base.to_string(), ca.to_string(), token.to_string());
        async move {
            https_request(&base, &ca, &token, method, &path, body.as_ref())
                .await
                .expect("the request is answered")
        }
    };
    let crbs = format!("{RBAC}/clusterrolebindings");
    let crb = format!("{crbs}/eks-role-mapper-feedfacefeedface-view");
    let ours = binding(
        "ClusterRoleBinding",
        None,
        "view",
        "eks-role-mapper:feedfacefeedface",
    );
    let mut step = |name: &str, (s, b): (u16, String)| {
        out.push((name.to_string(), essence(s, &b)));
        b
    };
    for path in [
        "/apis",
        "/apis/rbac.authorization.k8s.io",
        "/apis/rbac.authorization.k8s.io/v1",
        "/apis/authentication.k8s.io/v1",
    ] {
        step(&format!("GET {path}"), call("GET", path.into(), None).await);
    }
    step(
        "POST a SelfSubjectReview (kubectl auth whoami)",
        call(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews".into(),
            Some(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})),
        )
        .await,
    );
    step(
        "POST a ClusterRoleBinding",
        call("POST", crbs.clone(), Some(ours.clone())).await,
    );
    step(
        "POST it again",
        call("POST", crbs.clone(), Some(ours.clone())).await,
    );
    let current: Value =
        serde_json::from_str(&step("GET it", call("GET", crb.clone(), None).await)).unwrap();
    step(
        "list by label",
        call("GET", format!("{crbs}?{SELECTOR}"), None).await,
    );
    let mut stale = current.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    step(
        "PUT with a stale resourceVersion",
        call("PUT", crb.clone(), Some(stale)).await,
    );
    let mut other_role = current.clone();
    other_role["roleRef"]["name"] = json!("edit");
    step(
        "PUT a changed roleRef",
        call("PUT", crb.clone(), Some(other_role)).await,
    );
    let mut other_subject = current.clone();
    other_subject["subjects"][0]["name"] = json!("someone-else");
    step(
        "PUT a changed subject",
        call("PUT", crb.clone(), Some(other_subject)).await,
    );
    let rbs = |ns: &str| format!("{RBAC}/namespaces/{ns}/rolebindings");
    let rb = binding(
        "RoleBinding",
        Some("ml"),
        "view",
        "eks-role-mapper:feedfacefeedface",
    );
    step(
        "POST a RoleBinding in ml",
        call("POST", rbs("ml"), Some(rb)).await,
    );
    let nope = binding(
        "RoleBinding",
        Some("nope"),
        "view",
        "eks-role-mapper:feedfacefeedface",
    );
    step(
        "POST a RoleBinding in a missing namespace",
        call("POST", rbs("nope"), Some(nope)).await,
    );
    // What the dry run reads before a RoleBinding's create (issue 33).
    step(
        "GET namespace ml",
        call("GET", "/api/v1/namespaces/ml".into(), None).await,
    );
    step(
        "GET a missing namespace",
        call("GET", "/api/v1/namespaces/nope".into(), None).await,
    );
    step(
        "list RoleBindings of every namespace by label",
        call("GET", format!("{RBAC}/rolebindings?{SELECTOR}"), None).await,
    );
    step(
        "list RoleBindings of ml by label",
        call("GET", format!("{}?{SELECTOR}", rbs("ml")), None).await,
    );
    let rb_path = format!("{}/eks-role-mapper-feedfacefeedface-view", rbs("ml"));
    step(
        "DELETE the RoleBinding",
        call("DELETE", rb_path.clone(), None).await,
    );
    step("DELETE it again", call("DELETE", rb_path, None).await);
    step(
        "DELETE the ClusterRoleBinding",
        call("DELETE", crb.clone(), None).await,
    );
    step("GET it after the delete", call("GET", crb, None).await);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulated_rbac_bindings_answer_as_the_real_apiserver_does() {
    let (real, simulated, _) =
        integration::on_both_sides(|b, c, t| async move { sequence(&b, &c, &t).await }).await;
    let differences = integration::differences(&real, &simulated);
    assert!(
        differences.is_empty(),
        "the stand-in differs from kube-apiserver:\n{}",
        differences.join("\n")
    );
    // The sequence says something: the refusals a kinder model would not give.
    let codes: Vec<u64> = real
        .iter()
        .map(|(_, e)| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            200, 200, 200, 200, 201, 201, 409, 200, 200, 409, 422, 200, 201, 404, 200, 404, 200,
            200, 200, 404, 200, 404
        ],
        "{real:?}"
    );
}
