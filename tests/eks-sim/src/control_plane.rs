//! A real Kubernetes control plane behind a `CONFIG_MAP` cluster: etcd, kube-apiserver with RBAC,
//! and the EKS authenticator (kubernetes-sigs/aws-iam-authenticator) as its token webhook, as EKS
//! runs it. The binaries are built from pinned Go modules by `tests/control-plane/build` into a
//! cache outside the clone; the versions come from `tests/control-plane/versions.env`, compiled in.
//!
//! Start-up follows controller-runtime's envtest (`pkg/internal/testing/controlplane/etcd.go`,
//! `apiserver.go`): etcd on loopback with `--unsafe-no-fsync`, then kube-apiserver with
//! `--authorization-mode=RBAC`, a service-account key pair, and a serving certificate; what EKS
//! adds is the authenticator (`server --backend-mode=MountedFile,EKSConfigMap`): the cluster
//! creator mapped in its own file, as EKS maps the creator outside aws-auth, and everything else
//! read from `kube-system/aws-auth` as it changes. `--authentication-token-webhook-cache-ttl=0s`:
//! the default caches each answer (refusals too) for two minutes. kube-controller-manager runs its
//! ClusterRole aggregation controller alone, so the built-in `admin`, `edit` and `view` hold their
//! rules as on EKS.
//!
//! The authenticator checks a token by calling the token's presigned STS URL; that host must be a
//! real STS name (pkg/token/token.go `verifyHost`), so its process alone gets `HTTPS_PROXY` (the
//! simulator's CONNECT proxy, `proxy::serve_proxy`) and `SSL_CERT_FILE` (the simulator's CA).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::error::{Error, Result};
use crate::tls::Authority;

mod fault_proxy;
mod faults;
pub use faults::{Action, Component, Fired, Passed, Rule, When};

/// The pinned versions, one `NAME=VALUE` a line.
const VERSIONS: &str = include_str!("../../control-plane/versions.env");

/// How long a component may take to answer after start (kube-apiserver's RBAC bootstrap takes
/// seconds; a loaded 2-core machine more).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A pinned version from versions.env (`KUBERNETES_VERSION`, ...).
pub fn version(key: &str) -> Option<&'static str> {
    VERSIONS.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Where built components are cached: `EKS_ROLE_MAPPER_CACHE`, else `~/.cache/eks-role-mapper`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("EKS_ROLE_MAPPER_CACHE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/eks-role-mapper"),
    }
}

/// The path of a built component (`etcd`, `kube-apiserver`, `kube-controller-manager`,
/// `aws-iam-authenticator`, `eksctl`,
/// `aws-lambda-rie`) at its pinned version; an error that says how to build it when it is missing.
pub fn binary(name: &str) -> Result<PathBuf> {
    let key = match name {
        "etcd" => "ETCD_VERSION",
        "kube-apiserver" | "kube-controller-manager" => "KUBERNETES_VERSION",
        "aws-iam-authenticator" => "AWS_IAM_AUTHENTICATOR_VERSION",
        "eksctl" => "EKSCTL_VERSION",
        "aws-lambda-rie" => "LAMBDA_RIE_VERSION",
        other => return Err(Error::ControlPlane(format!("unknown component {other}"))),
    };
    let v = version(key).unwrap_or_default();
    let path = cache_dir().join("bin").join(format!("{name}-{v}"));
    match path.is_file() {
        true => Ok(path),
        false => Err(Error::ControlPlane(format!(
            "{} is missing: run tests/control-plane/build {name}",
            path.display()
        ))),
    }
}

/// What the control plane of one cluster is started with.
pub struct ClusterSpec<'a> {
    pub name: &'a str,
    pub region: &'a str,
    /// The cluster creator's ARN: EKS makes it cluster admin (`kubernetes-admin`,
    /// `system:masters`) outside aws-auth.
    pub creator: &'a str,
    /// aws-auth's data at the start, if the cluster has one.
    pub aws_auth: Option<Value>,
    /// Namespaces made at the start, beyond Kubernetes' own.
    pub namespaces: &'a [String],
}

/// A running control plane; dropping it stops every process and removes its files.
pub struct ControlPlane {
    /// kube-apiserver's URL (what DescribeCluster reports as the endpoint).
    pub endpoint: String,
    /// A bearer token of a `system:masters` user that only the test harness knows (the
    /// apiserver's static token file), for set-up and for reading what the mapper wrote.
    pub admin_token: String,
    /// `/version`'s `gitVersion`.
    pub version: String,
    /// The authenticator's webhook URL (its `/authenticate` takes TokenReviews).
    pub authenticator_url: String,
    /// Where its files and logs are (`etcd.log`, `kube-apiserver.log`, `authenticator.log`).
    pub dir: PathBuf,
    /// The fault proxy in front of the apiserver (`faults`): what DescribeCluster reports, so
    /// every client of the cluster but the harness's admin goes through it.
    pub kube_endpoint: String,
    ca_pem: String,
    _children: Vec<Child>,
    faults: Arc<faults::Faults>,
    proxy: tokio::task::JoinHandle<()>,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.proxy.abort();
        faults::stop(&self.faults);
        for c in &mut self._children {
            let _ = c.start_kill();
        }
        if std::env::var_os("EKS_SIM_KEEP_CONTROL_PLANE").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn spawn(
    dir: &Path,
    log: &str,
    program: &Path,
    args: &[String],
    env: &[(&'static str, String)],
) -> Result<Child> {
    // Appended: a component restarted by a fault test keeps one log.
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(log))?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true);
    // Nothing of the harness's own AWS or proxy settings leaks into a component.
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "KUBECONFIG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .map_err(|e| Error::ControlPlane(format!("starting {}: {e}", program.display())))
}

fn tail(dir: &Path, log: &str) -> String {
    let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl ControlPlane {
    /// Starts etcd, the authenticator and kube-apiserver for `spec`, waits until the apiserver is
    /// ready, and writes the cluster's aws-auth. `ca` signs the apiserver's serving certificate
    /// (the CA DescribeCluster hands out); `proxy` is the simulator's CONNECT proxy URL.
    pub async fn start(
        spec: &ClusterSpec<'_>,
        ca: &Authority,
        proxy: &str,
    ) -> Result<ControlPlane> {
        let (etcd, apiserver, authenticator, controller_manager) = (
            binary("etcd")?,
            binary("kube-apiserver")?,
            binary("aws-iam-authenticator")?,
            binary("kube-controller-manager")?,
        );
        let dir = std::env::temp_dir().join(format!(
            "eks-sim-{}-{}",
            spec.name,
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("authenticator"))?;
        let path = |f: &str| dir.join(f).display().to_string();
        let mut children = Vec::new();

        // etcd, as envtest starts it (controlplane/etcd.go).
        let (client, peer) = (free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{client}");
        let etcd_args = [
            format!("--data-dir={}", path("etcd")),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ];
        children.push(spawn(&dir, "etcd.log", &etcd, &etcd_args, &[])?);

        // Files kube-apiserver and the authenticator read.
        let admin_token = format!("sim-admin-{}", uuid::Uuid::new_v4().simple());
        std::fs::write(
            dir.join("tokens.csv"),
            format!("{admin_token},sim-harness-admin,sim-harness-admin,system:masters\n"),
        )?;
        std::fs::write(dir.join("ca.pem"), &ca.ca_pem)?;
        let serving = ca.issue(&["127.0.0.1", "localhost"], "kube-apiserver")?;
        std::fs::write(dir.join("serving.crt"), &serving.cert_pem)?;
        std::fs::write(dir.join("serving.key"), &serving.key_pem)?;
        let sa_key = rcgen::KeyPair::generate().map_err(|e| Error::Tls(e.to_string()))?;
        std::fs::write(dir.join("sa.key"), sa_key.serialize_pem())?;
        std::fs::write(dir.join("sa.pub"), sa_key.public_key_pem())?;
        let api_port = free_port()?;
        let endpoint = format!("https://127.0.0.1:{api_port}");
        std::fs::write(
            dir.join("admin.kubeconfig"),
            admin_kubeconfig(&endpoint, &path("ca.pem"), &admin_token),
        )?;
        std::fs::write(dir.join("authenticator.yaml"), authenticator_config(spec))?;

        // The authenticator first: it writes the webhook kubeconfig the apiserver reads at start.
        let auth_port = free_port()?;
        let auth_args = [
            "server".into(),
            format!("--config={}", path("authenticator.yaml")),
            format!("--cluster-id={}", spec.name),
            "--backend-mode=MountedFile,EKSConfigMap".into(),
            format!("--kubeconfig={}", path("admin.kubeconfig")),
            format!("--state-dir={}", path("authenticator")),
            format!("--generate-kubeconfig={}", path("webhook.kubeconfig")),
            "--address=127.0.0.1".into(),
            format!("--port={auth_port}"),
        ];
        let auth_env = [
            ("HTTPS_PROXY", proxy.to_string()),
            ("SSL_CERT_FILE", path("ca.pem")),
            // No instance metadata here: the region lookup fails at once instead of timing out.
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_REGION", spec.region.to_string()),
        ];
        children.push(spawn(
            &dir,
            "authenticator.log",
            &authenticator,
            &auth_args,
            &auth_env,
        )?);
        wait_for(&dir, "authenticator.log", &mut children, || {
            dir.join("webhook.kubeconfig").is_file()
        })
        .await?;

        // kube-apiserver with the flags envtest gives it (controlplane/apiserver.go) and the webhook.
        let api_args = [
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={api_port}"),
            format!("--cert-dir={}", path("apiserver")),
            format!("--tls-cert-file={}", path("serving.crt")),
            format!("--tls-private-key-file={}", path("serving.key")),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            format!("--service-account-key-file={}", path("sa.pub")),
            format!("--service-account-signing-key-file={}", path("sa.key")),
            "--authorization-mode=RBAC".into(),
            "--allow-privileged=true".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            format!("--token-auth-file={}", path("tokens.csv")),
            format!(
                "--authentication-token-webhook-config-file={}",
                path("webhook.kubeconfig")
            ),
            "--authentication-token-webhook-cache-ttl=0s".into(),
            // A loopback address cannot be the `kubernetes` Service's endpoint: nothing here
            // runs in pods, so the apiserver does not keep one.
            "--endpoint-reconciler-type=none".into(),
        ];
        children.push(spawn(
            &dir,
            "kube-apiserver.log",
            &apiserver,
            &api_args,
            &[],
        )?);
        let faults = Arc::new(faults::Faults::new(
            dir.clone(),
            endpoint.clone(),
            ca.ca_pem.clone(),
            admin_token.clone(),
            auth_port,
            client,
        )?);
        faults.started(
            Component::Etcd,
            &etcd,
            &etcd_args,
            &[],
            "etcd.log",
            &children[0],
        );
        faults.started(
            Component::Authenticator,
            &authenticator,
            &auth_args,
            &auth_env,
            "authenticator.log",
            &children[1],
        );
        faults.started(
            Component::Apiserver,
            &apiserver,
            &api_args,
            &[],
            "kube-apiserver.log",
            &children[2],
        );
        let (kube_endpoint, proxy) =
            fault_proxy::start_proxy(faults.clone(), serving.server.clone()).await?;
        let mut cp = ControlPlane {
            authenticator_url: format!("https://127.0.0.1:{auth_port}"),
            endpoint,
            admin_token,
            version: String::new(),
            dir,
            kube_endpoint,
            ca_pem: ca.ca_pem.clone(),
            _children: children,
            faults,
            proxy,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok((200, _)) = cp.request("GET", "/readyz", None).await {
                break;
            }
            if let Some(status) = cp
                ._children
                .iter_mut()
                .find_map(|c| c.try_wait().ok().flatten())
            {
                return Err(Error::ControlPlane(format!(
                    "a component exited ({status}):\n{}\n{}",
                    tail(&cp.dir, "kube-apiserver.log"),
                    tail(&cp.dir, "etcd.log")
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::ControlPlane(format!(
                    "kube-apiserver not ready after {START_TIMEOUT:?}:\n{}\n{}",
                    tail(&cp.dir, "kube-apiserver.log"),
                    tail(&cp.dir, "etcd.log")
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let (_, v) = cp.request("GET", "/version", None).await?;
        cp.version = serde_json::from_str::<Value>(&v)
            .ok()
            .and_then(|v| v["gitVersion"].as_str().map(str::to_string))
            .unwrap_or_default();
        // The controller manager's ClusterRole aggregation controller fills the built-in admin,
        // edit and view roles (the apiserver's bootstrap policy makes them with an
        // aggregationRule and no rules of their own), as on EKS. Only that controller runs: the
        // tests have no nodes, pods or service accounts for the others.
        let kcm = spawn(
            &cp.dir,
            "kube-controller-manager.log",
            &controller_manager,
            &[
                format!("--kubeconfig={}", cp.admin_kubeconfig().display()),
                "--controllers=clusterrole-aggregation".into(),
                "--leader-elect=false".into(),
                "--secure-port=0".into(),
            ],
            &[],
        )?;
        cp._children.push(kcm);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // `admin` aggregates `edit`, which aggregates `view`: its rules come last.
            let (_, body) = cp
                .request(
                    "GET",
                    "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
                    None,
                )
                .await?;
            let role: Value = serde_json::from_str(&body).unwrap_or_default();
            if role["rules"].as_array().is_some_and(|r| r.len() > 10) {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::ControlPlane(format!(
                    "the built-in ClusterRoles were not aggregated after {START_TIMEOUT:?}:\n{}",
                    tail(&cp.dir, "kube-controller-manager.log")
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for ns in spec.namespaces {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let (status, answer) = cp
                .request("POST", "/api/v1/namespaces", Some(&body))
                .await?;
            if status != 201 {
                return Err(Error::ControlPlane(format!(
                    "creating namespace {ns}: {status} {answer}"
                )));
            }
        }
        if let Some(data) = &spec.aws_auth {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": data});
            let (status, body) = cp
                .request(
                    "POST",
                    "/api/v1/namespaces/kube-system/configmaps",
                    Some(&cm),
                )
                .await?;
            if status != 201 {
                return Err(Error::ControlPlane(format!(
                    "creating aws-auth: {status} {body}"
                )));
            }
            // The authenticator's watch retries every 5 s while the apiserver is not up
            // (configmap.go, startLoadConfigMap): the cluster is ready once it read aws-auth.
            let log = cp.dir.join("authenticator.log");
            let dir = cp.dir.clone();
            wait_for(&dir, "authenticator.log", &mut cp._children, || {
                std::fs::read_to_string(&log)
                    .is_ok_and(|l| l.contains("Received aws-auth watch event"))
            })
            .await?;
        }
        Ok(cp)
    }

    /// One request to the apiserver as the harness's admin: (status, body).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String)> {
        https_request(
            &self.endpoint,
            &self.ca_pem,
            &self.admin_token,
            method,
            path,
            body,
        )
        .await
    }

    /// The authenticator's own answer for a bearer token (a TokenReview, as kube-apiserver's
    /// webhook sends it, straight to `/authenticate`): Some((username, groups)) when it maps the
    /// caller, None when it refuses. kube-apiserver itself retries a refusal for seconds
    /// (the webhook answers 403), which a test of many readings cannot afford.
    pub async fn authenticate(&self, token: &str) -> Result<Option<(String, Vec<String>)>> {
        let ca = std::fs::read_to_string(self.dir.join("authenticator").join("cert.pem"))?;
        let review = json!({"apiVersion": "authentication.k8s.io/v1beta1", "kind": "TokenReview", "spec": {"token": token}});
        let (_, body) = https_call(
            &self.authenticator_url,
            Trust::Pinned(&ca),
            "",
            "POST",
            "/authenticate",
            Some(&review),
        )
        .await?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| Error::ControlPlane(format!("TokenReview answer {body}: {e}")))?;
        if v["status"]["authenticated"] != json!(true) {
            return Ok(None);
        }
        let user = &v["status"]["user"];
        let groups = user["groups"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some((
            user["username"].as_str().unwrap_or_default().to_string(),
            groups,
        )))
    }

    /// The path of a kubeconfig of the harness's admin.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }
}

fn admin_kubeconfig(endpoint: &str, ca_path: &str, token: &str) -> String {
    format!("apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {endpoint}\n    certificate-authority: {ca_path}\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n    user: admin\ncurrent-context: sim\nusers:\n- name: admin\n  user:\n    token: {token}\n")
}

/// The authenticator's own mapping file: the creator as cluster admin, the way EKS grants it.
fn authenticator_config(spec: &ClusterSpec<'_>) -> String {
    let (key, arn_key) = match spec.creator.contains(":role/") {
        true => ("mapRoles", "rolearn"),
        false => ("mapUsers", "userarn"),
    };
    let doc = json!({
        "clusterID": spec.name,
        "server": { key: [{ arn_key: spec.creator, "username": "kubernetes-admin", "groups": ["system:masters"] }] }
    });
    // JSON is YAML: viper reads the file by its extension, and the values need no quoting rules.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Waits until `ready`, failing at once when a component has exited.
async fn wait_for(
    dir: &Path,
    log: &str,
    children: &mut [Child],
    ready: impl Fn() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !ready() {
        if let Some(status) = children
            .iter_mut()
            .find_map(|c| c.try_wait().ok().flatten())
        {
            return Err(Error::ControlPlane(format!(
                "a component exited ({status}):\n{}",
                tail(dir, log)
            )));
        }
        if Instant::now() > deadline {
            return Err(Error::ControlPlane(format!(
                "{log}: not ready after {START_TIMEOUT:?}:\n{}",
                tail(dir, log)
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A small HTTPS client for the harness (readiness, set-up, and tests that compare the real API
/// with the simulator's): one request on a new connection, trusting only `ca_pem`; a PATCH is a
/// JSON merge patch, what the mapper's client sends.
pub async fn https_request(
    base: &str,
    ca_pem: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, String)> {
    https_call(base, Trust::Ca(ca_pem), token, method, path, body).await
}

/// Whom a harness request trusts.
enum Trust<'a> {
    /// Certificates chained to this CA (PEM).
    Ca(&'a str),
    /// Exactly this self-signed certificate (PEM): the authenticator's own, which is also its CA
    /// in the webhook kubeconfig, so a chain check refuses it as a CA used as an end entity.
    Pinned(&'a str),
}

/// Accepts exactly one certificate, its signatures checked by the provider.
#[derive(Debug)]
struct PinnedCert(
    rustls::pki_types::CertificateDer<'static>,
    Arc<rustls::crypto::CryptoProvider>,
);

impl rustls::client::danger::ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match end_entity.as_ref() == self.0.as_ref() {
            true => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            false => Err(rustls::Error::General("not the pinned certificate".into())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.1.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.1.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

async fn https_call(
    base: &str,
    trust: Trust<'_>,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, String)> {
    let err = |e: &dyn std::fmt::Display| Error::ControlPlane(format!("{method} {path}: {e}"));
    let url = url::Url::parse(base).map_err(|e| err(&e))?;
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port().unwrap_or(443);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?;
    let config = match trust {
        Trust::Ca(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                roots.add(cert.map_err(|e| err(&e))?).map_err(|e| err(&e))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Pinned(pem) => {
            let cert = rustls_pemfile::certs(&mut pem.as_bytes())
                .next()
                .ok_or_else(|| err(&"no certificate"))?
                .map_err(|e| err(&e))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCert(cert, provider)))
                .with_no_client_auth()
        }
    };
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| err(&e))?;
    let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| err(&e))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| err(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| err(&e))?;
    tokio::spawn(conn);
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("{host}:{port}"))
        .header("authorization", format!("Bearer {token}"))
        .header(
            "content-type",
            match method {
                "PATCH" => "application/merge-patch+json",
                _ => "application/json",
            },
        )
        .header("accept", "application/json")
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| err(&e))?;
    let resp = sender.send_request(req).await.map_err(|e| err(&e))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| err(&e))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
