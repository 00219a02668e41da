//! The readable account printed on stderr after each event: what changed in the simulator, from
//! its state before and after. aws-auth changes are a unified diff of `mapRoles`; access entries
//! are listed with the policies associated or disassociated (and a namespace scope's namespaces);
//! RBAC bindings made, put back or removed are listed with their ClusterRole and subjects.

use serde_json::{Map, Value};

const AWS_AUTH: &str = "kube-system/aws-auth";
const MAP_ROLES: &str = "mapRoles";

/// A unified diff of two `mapRoles` texts (absent = no ConfigMap key).
pub fn map_roles_diff(before: Option<&str>, after: Option<&str>) -> String {
    eks_role_mapper::aws_auth::diff(before, after)
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

fn aws_auth_account(name: &str, before: &Value, after: &Value, out: &mut String) {
    let (b, a) = (
        &before["config_maps"][AWS_AUTH],
        &after["config_maps"][AWS_AUTH],
    );
    match (b.is_null(), a.is_null()) {
        (true, true) => return,
        (true, false) => out.push_str(&format!("cluster {name}: {AWS_AUTH} created\n")),
        (false, true) => out.push_str(&format!("cluster {name}: {AWS_AUTH} deleted\n")),
        (false, false) => {}
    }
    let (bd, ad) = (object(&b["data"]), object(&a["data"]));
    let (br, ar) = (
        bd.get(MAP_ROLES).and_then(Value::as_str),
        ad.get(MAP_ROLES).and_then(Value::as_str),
    );
    if br != ar {
        out.push_str(&format!("cluster {name}: {AWS_AUTH} {MAP_ROLES}:\n"));
        out.push_str(&map_roles_diff(br, ar));
    }
    let mut keys: Vec<&String> = bd.keys().chain(ad.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys.into_iter().filter(|k| *k != MAP_ROLES) {
        if bd.get(k) != ad.get(k) {
            out.push_str(&format!(
                "cluster {name}: {AWS_AUTH} data key {k} changed\n"
            ));
        }
    }
}

fn access_entry_account(name: &str, before: &Value, after: &Value, out: &mut String) {
    let (eb, ea) = (
        object(&before["access_entries"]),
        object(&after["access_entries"]),
    );
    for (arn, e) in &ea {
        let old = eb.get(arn);
        if old.is_none() {
            out.push_str(&format!(
                "cluster {name}: access entry created for {arn} (type {}, username {}, groups {})\n",
                short(&e["type"]),
                short(&e["username"]),
                e["kubernetes_groups"]
            ));
        }
        let empty = Value::Null;
        let old = old.unwrap_or(&empty);
        for field in ["type", "username", "kubernetes_groups"] {
            if !old.is_null() && old[field] != e[field] {
                out.push_str(&format!(
                    "cluster {name}: access entry {arn}: {field} {} -> {}\n",
                    short(&old[field]),
                    short(&e[field])
                ));
            }
        }
        let (pb, pa) = (object(&old["policies"]), object(&e["policies"]));
        for (policy, scope) in &pa {
            if pb.get(policy) != Some(scope) {
                out.push_str(&format!(
                    "cluster {name}: access entry {arn}: policy {policy} associated (scope {})\n",
                    scope_text(scope)
                ));
            }
        }
        for policy in pb.keys().filter(|p| !pa.contains_key(*p)) {
            out.push_str(&format!(
                "cluster {name}: access entry {arn}: policy {policy} disassociated\n"
            ));
        }
    }
    for (arn, e) in eb.iter().filter(|(a, _)| !ea.contains_key(*a)) {
        let policies: Vec<&String> = e["policies"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "cluster {name}: access entry for {arn} deleted (with policies {policies:?})\n"
        ));
    }
}

/// An access scope as a review reads it: `cluster`, or `namespace ml, team-a`.
fn scope_text(scope: &Value) -> String {
    let namespaces: Vec<&str> = scope["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match namespaces.is_empty() {
        true => short(&scope["type"]),
        false => format!("{} {}", short(&scope["type"]), namespaces.join(", ")),
    }
}

/// A binding as one line: where it is, the ClusterRole it binds and to whom.
fn binding_text(key: &str, b: &Value) -> String {
    let subjects: Vec<String> = b["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| format!("{} {}", short(&s["kind"]), short(&s["name"])))
        .collect();
    let at = match key.split('/').collect::<Vec<_>>()[..] {
        ["rolebindings", ns, name] => format!("RoleBinding {ns}/{name}"),
        ["clusterrolebindings", name] => format!("ClusterRoleBinding {name}"),
        _ => key.to_string(),
    };
    format!(
        "{at} -> {} {} for {}",
        short(&b["roleRef"]["kind"]),
        short(&b["roleRef"]["name"]),
        subjects.join(", ")
    )
}

/// The RBAC bindings made, removed or changed (below cluster-admin on a `CONFIG_MAP` cluster).
fn rbac_account(name: &str, before: &Value, after: &Value, out: &mut String) {
    let (rb, ra) = (object(&before["rbac"]), object(&after["rbac"]));
    for (key, b) in &ra {
        match rb.get(key) {
            None => out.push_str(&format!("cluster {name}: made {}\n", binding_text(key, b))),
            Some(old) if old["roleRef"] != b["roleRef"] || old["subjects"] != b["subjects"] => out
                .push_str(&format!(
                    "cluster {name}: put back {}\n",
                    binding_text(key, b)
                )),
            Some(_) => {}
        }
    }
    for (key, b) in rb.iter().filter(|(k, _)| !ra.contains_key(*k)) {
        out.push_str(&format!(
            "cluster {name}: removed {}\n",
            binding_text(key, b)
        ));
    }
}

/// What changed between two simulator states, one line per change (and the mapRoles diff).
pub fn account(before: &Value, after: &Value) -> String {
    let mut out = String::new();
    let (cb, ca) = (object(&before["clusters"]), object(&after["clusters"]));
    for (name, c) in &ca {
        let Some(b) = cb.get(name) else {
            out.push_str(&format!("cluster {name}: appeared\n"));
            continue;
        };
        if b["authentication_mode"] != c["authentication_mode"] {
            out.push_str(&format!(
                "cluster {name}: authentication mode {} -> {}\n",
                short(&b["authentication_mode"]),
                short(&c["authentication_mode"])
            ));
        }
        let (ub, ua) = (object(&b["updates"]), object(&c["updates"]));
        for (id, u) in ua.iter().filter(|(id, _)| !ub.contains_key(*id)) {
            out.push_str(&format!(
                "cluster {name}: cluster update {id} started: {u}\n"
            ));
        }
        aws_auth_account(name, b, c, &mut out);
        access_entry_account(name, b, c, &mut out);
        rbac_account(name, b, c, &mut out);
    }
    if out.is_empty() {
        out.push_str("no change in the simulator\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NODES: &str = "- rolearn: arn:aws:iam::111122223333:role/node\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:nodes\n";

    fn state(map_roles: &str, entries: Value) -> Value {
        json!({"clusters": {"c": {
            "authentication_mode": "API_AND_CONFIG_MAP",
            "updates": {},
            "config_maps": {"kube-system/aws-auth": {"data": {"mapRoles": map_roles, "mapUsers": "[]"}}},
            "access_entries": entries,
        }}})
    }

    #[test]
    fn an_aws_auth_change_is_a_unified_diff_of_map_roles() {
        let added = format!("{NODES}- rolearn: arn:aws:iam::111122223333:role/R\n  username: r\n  groups:\n    - system:masters\n");
        let text = account(&state(NODES, json!({})), &state(&added, json!({})));
        assert!(
            text.starts_with("cluster c: kube-system/aws-auth mapRoles:\n"),
            "{text}"
        );
        assert!(
            text.contains("--- mapRoles (before)\n+++ mapRoles (after)\n@@ "),
            "{text}"
        );
        assert!(
            text.contains("+- rolearn: arn:aws:iam::111122223333:role/R\n"),
            "{text}"
        );
        assert!(
            text.contains("   - system:nodes\n"),
            "context lines kept: {text}"
        );
        assert!(!text.contains("mapUsers"), "{text}");
    }

    #[test]
    fn access_entries_and_their_policies_are_listed_when_made_and_removed() {
        let policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
        let entry = json!({"R": {"type": "STANDARD", "username": "u", "kubernetes_groups": [],
            "policies": {policy: {"type": "cluster"}}}});
        let made = account(&state(NODES, json!({})), &state(NODES, entry.clone()));
        assert!(
            made.contains("access entry created for R (type STANDARD, username u, groups [])"),
            "{made}"
        );
        assert!(
            made.contains(&format!(
                "access entry R: policy {policy} associated (scope cluster)"
            )),
            "{made}"
        );
        let gone = account(&state(NODES, entry), &state(NODES, json!({})));
        assert!(
            gone.contains(&format!(
                "access entry for R deleted (with policies [\"{policy}\"])"
            )),
            "{gone}"
        );
    }

    #[test]
    fn no_change_is_said_plainly_and_other_aws_auth_keys_are_watched() {
        let s = state(NODES, json!({}));
        assert_eq!(account(&s, &s), "no change in the simulator\n");
        let mut t = s.clone();
        t["clusters"]["c"]["config_maps"]["kube-system/aws-auth"]["data"]["mapUsers"] =
            json!("- x");
        t["clusters"]["c"]["authentication_mode"] = json!("API");
        let text = account(&s, &t);
        assert!(
            text.contains("authentication mode API_AND_CONFIG_MAP -> API"),
            "{text}"
        );
        assert!(text.contains("data key mapUsers changed"), "{text}");
    }

    #[test]
    fn bindings_and_the_namespaces_of_a_scope_are_shown() {
        let policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
        let entry = json!({"R": {"type": "STANDARD", "username": "u", "kubernetes_groups": [],
            "policies": {policy: {"type": "namespace", "namespaces": ["ml", "team-a"]}}}});
        let made = account(&state(NODES, json!({})), &state(NODES, entry));
        assert!(made.contains("(scope namespace ml, team-a)"), "{made}");
        let binding = json!({"roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "Group", "name": "eks-role-mapper:o"}]});
        let mut with = state(NODES, json!({}));
        with["clusters"]["c"]["rbac"] = json!({"rolebindings/ml/eks-role-mapper-o-view": binding});
        let without = state(NODES, json!({}));
        let text = account(&without, &with);
        assert!(
            text.contains("cluster c: made RoleBinding ml/eks-role-mapper-o-view -> ClusterRole view for Group eks-role-mapper:o"),
            "{text}"
        );
        let text = account(&with, &without);
        assert!(
            text.contains("cluster c: removed RoleBinding ml/eks-role-mapper-o-view"),
            "{text}"
        );
    }
}
