//! Files that let real clients use the simulator: a kubeconfig as `aws eks update-kubeconfig`
//! writes it (exec plugin `aws eks get-token`), shell exports, and the CA. The exec plugin keeps
//! the real regional STS host in its presigned URL (`AWS_ENDPOINT_URL_STS`), as the EKS
//! authenticator only accepts STS hosts; the simulator checks the signature itself.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine;

use crate::error::Result;
use crate::state::World;

/// Writes DIR/kubeconfig, DIR/env, DIR/proxy.env, DIR/ca.pem and DIR/as/<role name>.env.
pub fn write(
    dir: &Path,
    endpoint: &str,
    proxy: &str,
    ca_pem: &str,
    world: &mut World,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_pem)?;
    let ca_b64 = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut clusters = String::new();
    let mut contexts = String::new();
    let mut users = String::new();
    for c in world.clusters.values() {
        let arn = c.arn();
        let _ = write!(
            clusters,
            "- cluster:\n    certificate-authority-data: {ca_b64}\n    server: {}\n  name: {arn}\n",
            c.endpoint
        );
        let _ = write!(
            contexts,
            "- context:\n    cluster: {arn}\n    user: {arn}\n  name: {arn}\n"
        );
        let _ = write!(
            users,
            "- name: {arn}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      args:\n      - --region\n      - {}\n      - eks\n      - get-token\n      - --cluster-name\n      - {}\n      - --output\n      - json\n      command: aws\n      env:\n      - name: AWS_ENDPOINT_URL_STS\n        value: https://sts.{}.amazonaws.com\n      interactiveMode: IfAvailable\n      provideClusterInfo: false\n",
            c.region, c.name, c.region
        );
    }
    let current = world
        .clusters
        .values()
        .find(|c| c.authentication_mode == "CONFIG_MAP")
        .or_else(|| world.clusters.values().next())
        .map(|c| c.arn())
        .unwrap_or_default();
    let kubeconfig = format!(
        "apiVersion: v1\nclusters:\n{clusters}contexts:\n{contexts}current-context: {current}\nkind: Config\npreferences: {{}}\nusers:\n{users}"
    );
    std::fs::write(dir.join("kubeconfig"), kubeconfig)?;
    let creator = world.clusters.values().next().and_then(|c| {
        world
            .scenario
            .principals
            .iter()
            .find(|p| p.arn == c.creator)
    });
    let base = format!(
        "export AWS_ENDPOINT_URL={endpoint}\nexport AWS_REGION={r}\nexport AWS_DEFAULT_REGION={r}\nexport AWS_CA_BUNDLE={}\nexport KUBECONFIG={}\n",
        ca_path.display(),
        dir.join("kubeconfig").display(),
        r = world.scenario.region
    );
    let mut env = base.clone();
    if let Some(p) = creator {
        let _ = write!(
            env,
            "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nunset AWS_SESSION_TOKEN AWS_PROFILE\n",
            p.access_key_id, p.secret_access_key
        );
    }
    std::fs::write(dir.join("env"), env)?;
    // For a Go client that only calls the real AWS host names (eksctl's STS calls): the proxy
    // answers for them with certificates of the simulator's CA.
    std::fs::write(
        dir.join("proxy.env"),
        format!(
            "export HTTPS_PROXY={proxy}\nexport SSL_CERT_FILE={}\n",
            ca_path.display()
        ),
    )?;
    // A session of every scenario role, so any real client can act as that role.
    let as_dir = dir.join("as");
    std::fs::create_dir_all(&as_dir)?;
    let roles: Vec<String> = world.scenario.roles.iter().map(|r| r.arn.clone()).collect();
    for arn in roles {
        let name = arn.rsplit('/').next().unwrap_or_default().to_string();
        let s = world.mint_session(&arn, "eks-sim-out", 12 * 3600);
        std::fs::write(
            as_dir.join(format!("{name}.env")),
            format!(
                "{base}export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_SESSION_TOKEN={}\nunset AWS_PROFILE\n",
                s.access_key_id, s.secret, s.token
            ),
        )?;
    }
    Ok(())
}
