//! eksctl, the tool people use for aws-auth today, side by side with the mapper on the real
//! control plane (`tests/control-plane/build` builds eksctl from its pinned module): each reads
//! what the other wrote, keeps what the other wrote, and the same grant made by each is compared
//! in the text it leaves and in what the real authenticator then says.

use std::time::{Duration, Instant};

use eks_sim::Scenario;
use integration::{
    eventually, named, props, text, ClientEnv, Harness, ADMIN_ROLE, LEGACY_ARN, SERVICE_ROLE,
    SERVICE_ROLE_NAME, SSO_ROLE,
};
use serde_json::{json, Value};

fn legacy_props() -> Value {
    let mut p = props("legacy");
    p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
    p
}

/// `eksctl get iamidentitymapping`: (arn, username, groups) of every entry.
/// `eksctl create iamidentitymapping` of `arn` as `username` in `group` on legacy.
fn eksctl_map(env: &ClientEnv, arn: &str, username: &str, group: &str) -> std::process::Output {
    env.eksctl(&[
        "create",
        "iamidentitymapping",
        "--cluster",
        "legacy",
        "--arn",
        arn,
        "--username",
        username,
        "--group",
        group,
    ])
}

fn eksctl_mappings(env: &ClientEnv) -> Vec<(String, String, String)> {
    let o = env.eksctl(&[
        "get",
        "iamidentitymapping",
        "--cluster",
        "legacy",
        "-o",
        "json",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("eksctl prints JSON");
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let arn = m["rolearn"]
                .as_str()
                .or(m["userarn"].as_str())
                .unwrap_or_default()
                .to_string();
            let groups: Vec<&str> = m["groups"]
                .as_array()
                .map(|g| g.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            (
                arn,
                m["username"].as_str().unwrap_or_default().to_string(),
                groups.join(","),
            )
        })
        .collect()
}

fn map_roles(h: &Harness) -> String {
    let cp = h.sim.control_plane("legacy").unwrap();
    let rt = tokio::runtime::Handle::current();
    let (_, body) = tokio::task::block_in_place(|| {
        rt.block_on(cp.request(
            "GET",
            "/api/v1/namespaces/kube-system/configmaps/aws-auth",
            None,
        ))
    })
    .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["mapRoles"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn eksctl_lists_our_entry_and_each_keeps_what_the_other_wrote() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let env = ClientEnv::new(&h.sim);
    // eksctl maps a user; our Create and Delete must leave it.
    let map_nobody = || {
        eksctl_map(
            &env,
            "arn:aws:iam::111122223333:user/nobody",
            "from-eksctl",
            "system:masters",
        )
    };
    let o = map_nobody();
    assert!(o.status.success(), "{:?}", text(&o));
    let r = h.invoke(h.event("Create", legacy_props(), None)).await;
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    let listed = eksctl_mappings(&env);
    assert!(
        listed.contains(&(
            SERVICE_ROLE.to_string(),
            SERVICE_ROLE.to_string(),
            "system:masters".to_string()
        )),
        "eksctl lists our entry as we wrote it: {listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|(a, u, _)| a.ends_with("user/nobody") && u == "from-eksctl"),
        "{listed:?}"
    );
    let nobody = env.as_principal(&h.sim, "nobody");
    eventually("eksctl's user", || {
        named(nobody.whoami(LEGACY_ARN), "from-eksctl")
    });
    eventually("our role", || {
        named(
            env.as_role(SERVICE_ROLE_NAME).whoami(LEGACY_ARN),
            SERVICE_ROLE,
        )
    });

    // eksctl removes what it made and keeps ours.
    let o = env.eksctl(&[
        "delete",
        "iamidentitymapping",
        "--cluster",
        "legacy",
        "--arn",
        "arn:aws:iam::111122223333:user/nobody",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        eksctl_mappings(&env)
            .iter()
            .any(|(a, _, _)| a == SERVICE_ROLE),
        "eksctl kept our entry"
    );
    // eksctl maps it again; our Delete leaves it.
    let o = map_nobody();
    assert!(o.status.success(), "{:?}", text(&o));
    let pid = r["PhysicalResourceId"].as_str().unwrap();
    let r = h.invoke(h.event("Delete", legacy_props(), Some(pid))).await;
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    let listed = eksctl_mappings(&env);
    assert!(
        !listed.iter().any(|(a, _, _)| a == SERVICE_ROLE),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|(a, u, _)| a.ends_with("user/nobody") && u == "from-eksctl"),
        "{listed:?}"
    );
    eventually("eksctl's user after our Delete", || {
        named(nobody.whoami(LEGACY_ARN), "from-eksctl")
    });
}

/// The same grant (an SSO role, cluster admin) made by eksctl and by the mapper: the text each
/// leaves in mapRoles, what the real authenticator then makes of it, and how long each took.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_grant_by_eksctl_and_by_the_mapper_compared() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let env = ClientEnv::new(&h.sim);
    let sso = env.as_role("AWSReservedSSO_Admin_0a1b2c");
    let before = map_roles(&h);
    let t = Instant::now();
    let o = eksctl_map(&env, SSO_ROLE, "sso-admin", "system:masters");
    let eksctl_time = t.elapsed();
    assert!(o.status.success(), "{:?}", text(&o));
    let eksctl_text = map_roles(&h);
    // eksctl writes the role's path into rolearn; the authenticator matches the path-less ARN, so
    // eksctl's grant never works for an SSO role (the EKS user guide: aws-auth's rolearn can't
    // include a path).
    assert!(eksctl_text.contains(SSO_ROLE), "{eksctl_text}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        sso.whoami(LEGACY_ARN)
            .is_err_and(|e| e.contains("Unauthorized")),
        "eksctl's entry with a path matched"
    );
    let o = env.eksctl(&[
        "delete",
        "iamidentitymapping",
        "--cluster",
        "legacy",
        "--arn",
        SSO_ROLE,
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let parsed = |t: &str| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(t).unwrap();
    // eksctl writes the whole list anew (its own key order), the same entries.
    assert_eq!(
        parsed(&map_roles(&h)),
        parsed(&before),
        "eksctl's delete left the rest as it was"
    );

    let mut p = legacy_props();
    p["RoleArn"] = json!(SSO_ROLE);
    p["Username"] = json!("sso-admin");
    let t = Instant::now();
    let r = h.invoke(h.event("Create", p, None)).await;
    let ours_time = t.elapsed();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    let ours_text = map_roles(&h);
    assert!(
        ours_text.contains("rolearn: arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0a1b2c"),
        "{ours_text}"
    );
    eventually("the SSO role after our grant", || {
        named(sso.whoami(LEGACY_ARN), "sso-admin")
    });
    println!("eksctl create iamidentitymapping: {eksctl_time:?} (a process: STS, DescribeClusterVersions, DescribeCluster, GET+PUT aws-auth)");
    println!("mapper Create: {ours_time:?} (in-process: DescribeCluster, AssumeRole, GET+PUT aws-auth, the response PUT)");
    println!("eksctl's mapRoles:\n{eksctl_text}\nours:\n{ours_text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mapper_eksctl_and_kubectl_apply_writing_at_once_lose_no_identity_that_should_stay() {
    let h = Harness::real(Scenario::default_scenario(), "mapper-lambda-role").await;
    let env = ClientEnv::new(&h.sim);
    let manifest = env.dir.path().join("aws-auth.yaml");
    std::fs::write(&manifest, format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\ndata:\n  mapRoles: |\n    - rolearn: {ADMIN_ROLE}\n      username: cluster-admin\n      groups:\n        - system:masters\n")).unwrap();
    let r = h.invoke(h.event("Create", legacy_props(), None)).await;
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    let pid = r["PhysicalResourceId"].as_str().unwrap().to_string();
    let mut eksctl_won = 0;
    for round in 0..6 {
        let user = format!("arn:aws:iam::111122223333:user/round-{round}");
        let (e1, e2) = (ClientEnv::from_vars(&env), ClientEnv::from_vars(&env));
        let m = manifest.display().to_string();
        let eksctl = std::thread::spawn(move || eksctl_map(&e1, &user, "u", "g"));
        let kubectl = std::thread::spawn(move || {
            e2.kubectl(
                &integration::kubectl(),
                &[
                    "--context",
                    LEGACY_ARN,
                    "apply",
                    "--validate=false",
                    "-f",
                    &m,
                ],
            )
        });
        let reconcile = h.reconcile(&h.reconcile_event(&legacy_props(), &pid)).await;
        assert!(
            serde_json::to_string(&reconcile)
                .unwrap()
                .contains("Reconciled"),
            "{reconcile:?}"
        );
        let (e, k) = (eksctl.join().unwrap(), kubectl.join().unwrap());
        assert!(k.status.success(), "round {round}: kubectl: {:?}", text(&k));
        // eksctl does not retry a conflict (pkg/authconfigmap: one Update): it may lose a race,
        // and says so; it never breaks the ConfigMap.
        if e.status.success() {
            eksctl_won += 1;
        } else {
            assert!(
                text(&e).1.contains("conflict") || text(&e).1.contains("modified"),
                "round {round}: eksctl: {:?}",
                text(&e)
            );
        }
        let listed = eksctl_mappings(&env);
        assert!(
            listed.iter().any(|(a, _, _)| a == ADMIN_ROLE),
            "round {round}: {listed:?}"
        );
    }
    println!("eksctl's create won {eksctl_won} of 6 races");
    // After the last write of anyone, the schedule's reconcile puts our entry back; the apply's
    // identity and a last eksctl entry stay.
    let o = eksctl_map(
        &env,
        "arn:aws:iam::111122223333:user/nobody",
        "last-eksctl",
        "g",
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let report = h.reconcile(&h.reconcile_event(&legacy_props(), &pid)).await;
    assert!(
        serde_json::to_string(&report)
            .unwrap()
            .contains("Reconciled"),
        "{report:?}"
    );
    eventually("our role", || {
        named(
            env.as_role(SERVICE_ROLE_NAME).whoami(LEGACY_ARN),
            SERVICE_ROLE,
        )
    });
    eventually("the applied role", || {
        named(
            env.as_role("cluster-admin-role").whoami(LEGACY_ARN),
            "cluster-admin",
        )
    });
    let nobody = env.as_principal(&h.sim, "nobody");
    eventually("eksctl's last user", || {
        named(nobody.whoami(LEGACY_ARN), "last-eksctl")
    });
}
