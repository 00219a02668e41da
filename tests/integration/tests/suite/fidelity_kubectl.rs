//! Real kubectl against the simulator: get, patch, apply, refusal of an unmapped principal, and the
//! seed's manual Step 2 script. Each kubectl version on the machine (the main one, and the oldest
//! and newest of gcloud's 1.27..1.33) is tried.

use integration::{aws_cli, kubectl, text, ClientEnv, SERVICE_ROLE};

fn kubectls() -> Vec<std::path::PathBuf> {
    let mut all = vec![kubectl()];
    let gcloud = std::path::Path::new("/usr/lib/google-cloud-sdk/bin");
    let versions: Vec<_> = (27..=33)
        .map(|m| gcloud.join(format!("kubectl.1.{m}")))
        .filter(|p| p.is_file())
        .collect();
    match (versions.first(), versions.last()) {
        (Some(a), Some(b)) => {
            all.push(a.clone());
            if a != b {
                all.push(b.clone());
            }
        }
        _ => eprintln!(
            "note: gcloud's kubectl.1.27..1.33 are not on this machine; only {}",
            all[0].display()
        ),
    }
    if let Ok(extra) = std::env::var("KUBECTL_EXTRA") {
        all.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(std::path::PathBuf::from),
        );
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_gets_patches_and_applies_aws_auth() {
    let sim = eks_sim::Simulator::start(eks_sim::Scenario::default_scenario())
        .await
        .unwrap();
    let env = ClientEnv::new(&sim);
    for bin in kubectls() {
        let o = env.kubectl(
            &bin,
            &[
                "get",
                "configmap",
                "aws-auth",
                "-n",
                "kube-system",
                "-o",
                "yaml",
            ],
        );
        let (out, err) = text(&o);
        assert!(o.status.success(), "{}: {err}", bin.display());
        assert!(
            out.contains("rolearn: arn:aws:iam::111122223333:role/eks-node-group-a")
                && out.contains("mapUsers"),
            "{out}"
        );

        let patch = format!(
            r#"{{"data":{{"note-{}":"patched"}}}}"#,
            bin.file_name().unwrap().to_string_lossy().replace('.', "-")
        );
        let o = env.kubectl(
            &bin,
            &[
                "-n",
                "kube-system",
                "patch",
                "configmap",
                "aws-auth",
                "--patch",
                &patch,
            ],
        );
        assert!(
            text(&o).0.contains("configmap/aws-auth patched"),
            "{:?}",
            text(&o)
        );
        let o = env.kubectl(
            &bin,
            &[
                "-n",
                "kube-system",
                "patch",
                "configmap",
                "aws-auth",
                "--patch",
                &patch,
            ],
        );
        assert!(text(&o).0.contains("patched (no change)"), "{:?}", text(&o));

        let file = env.dir.path().join("cm.yaml");
        std::fs::write(&file, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: kube-system\ndata:\n  key: value\n").unwrap();
        // The simulator serves no OpenAPI document, so client-side validation is turned off.
        let o = env.kubectl(
            &bin,
            &["apply", "--validate=false", "-f", file.to_str().unwrap()],
        );
        assert!(o.status.success(), "{:?}", text(&o));
        let cm = sim
            .config_map("legacy", "kube-system", "applied")
            .expect("applied ConfigMap stored");
        assert_eq!(cm["data"]["key"], "value");
        assert!(
            cm["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                .is_string()
        );
        sim.set_config_map_data("legacy", "kube-system", "applied", None);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_principal_with_no_mapping_gets_kubectls_unauthorized() {
    let sim = eks_sim::Simulator::start(eks_sim::Scenario::default_scenario())
        .await
        .unwrap();
    let mut env = ClientEnv::new(&sim);
    let (ak, sk) = sim.credentials("nobody").unwrap();
    env.set("AWS_ACCESS_KEY_ID", &ak);
    env.set("AWS_SECRET_ACCESS_KEY", &sk);
    let o = env.kubectl(
        &kubectl(),
        &["get", "configmap", "aws-auth", "-n", "kube-system"],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("You must be logged in to the server"),
        "{:?}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_step_2_script_maps_the_role_and_duplicates_it_when_run_twice() {
    let sim = eks_sim::Simulator::start(eks_sim::Scenario::default_scenario())
        .await
        .unwrap();
    let env = ClientEnv::new(&sim);
    let run = || env.run_seed_step_2(SERVICE_ROLE);
    let o = run();
    assert!(
        text(&o).0.contains("configmap/aws-auth patched"),
        "{:?}",
        text(&o)
    );
    let roles = |sim: &eks_sim::Simulator| -> Vec<serde_json::Value> {
        serde_yaml_ng::from_str(
            sim.config_map("legacy", "kube-system", "aws-auth").unwrap()["data"]["mapRoles"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        integration::entries_for(&roles(&sim), SERVICE_ROLE).len(),
        1
    );

    // The mapped role can now use the cluster: assume it with aws-cli, then kubectl as that role.
    let out = env
        .command(aws_cli())
        .args([
            "sts",
            "assume-role",
            "--role-arn",
            SERVICE_ROLE,
            "--role-session-name",
            "concurrent",
            "--external-id",
            "concurrent-ext-id",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut as_role = ClientEnv {
        dir: tempfile::tempdir().unwrap(),
        vars: env.vars.clone(),
    };
    as_role.set(
        "AWS_ACCESS_KEY_ID",
        creds["Credentials"]["AccessKeyId"].as_str().unwrap(),
    );
    as_role.set(
        "AWS_SECRET_ACCESS_KEY",
        creds["Credentials"]["SecretAccessKey"].as_str().unwrap(),
    );
    as_role.set(
        "AWS_SESSION_TOKEN",
        creds["Credentials"]["SessionToken"].as_str().unwrap(),
    );
    let o = as_role.kubectl(
        &kubectl(),
        &[
            "get",
            "configmap",
            "aws-auth",
            "-n",
            "kube-system",
            "-o",
            "name",
        ],
    );
    assert_eq!(text(&o).0.trim(), "configmap/aws-auth", "{:?}", text(&o));

    // The seed's flaw: a second run adds the same entry again.
    let o = run();
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        integration::entries_for(&roles(&sim), SERVICE_ROLE).len(),
        2
    );
}

/// Issue 33: the review infra/README.md recommends works on the simulator: the bindings of a
/// grant below cluster-admin listed by their label (kubectl's discovery of the RBAC group), and
/// `kubectl auth whoami` (the authentication group's SelfSubjectReview).
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_lists_the_grants_bindings_and_says_who_it_is() {
    let h = integration::Harness::start().await;
    let props =
        integration::legacy_props(serde_json::json!({"AccessLevel": "view", "Namespaces": "ml"}));
    let answer = h.invoke(h.event("Create", props, None)).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let env = ClientEnv::new(&h.sim);
    for bin in kubectls() {
        let o = env.kubectl(
            &bin,
            &[
                "get",
                "clusterrolebindings,rolebindings",
                "-A",
                "-l",
                "eks-role-mapper/owner",
            ],
        );
        let (out, err) = text(&o);
        assert!(o.status.success(), "{}: {err}", bin.display());
        assert!(
            out.contains("ml") && out.contains("-view"),
            "{}: {out}",
            bin.display()
        );
        // authentication.k8s.io/v1 came with kubectl 1.28 (1.27 asks only for v1alpha1 and
        // v1beta1, which kube-apiserver 1.34 no longer serves either).
        if bin.to_string_lossy().ends_with("kubectl.1.27") {
            continue;
        }
        let o = env.kubectl(&bin, &["auth", "whoami"]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{}: {err}", bin.display());
        assert!(
            out.contains("kubernetes-admin") && out.contains("system:authenticated"),
            "{out}"
        );
    }
}
