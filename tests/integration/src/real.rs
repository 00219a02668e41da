//! Helpers for the tests on the real components (`eks_sim::control_plane`): acting as a scenario
//! role, asking the Kubernetes API who a caller is and what it may do, eksctl on the simulator,
//! AWS's Lambda Runtime Interface Emulator, and waiting for what the authenticator's watch sees.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{kubectl, text, ClientEnv};

/// The default scenario's CONFIG_MAP cluster, as kubeconfig contexts name it.
pub const LEGACY_ARN: &str = "arn:aws:eks:us-east-1:111122223333:cluster/legacy";
/// The service role's name (its `DIR/as/<name>.env`).
pub const SERVICE_ROLE_NAME: &str =
    "3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr";
/// The default scenario's IAM Identity Center role: its ARN has a path.
pub const SSO_ROLE: &str = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b2c";

/// Polls `f` until it is Ok: an aws-auth change reaches the authenticator through its watch, a
/// moment after the write (as on EKS). Fails with the last answer after 20 s.
pub fn eventually<T>(what: &str, f: impl Fn() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: still {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `who` was refused by the apiserver (the authenticator maps nobody: 401).
pub fn refused(who: Result<WhoAmI, String>) -> Result<(), String> {
    match who {
        Err(e) if e.contains("Unauthorized") => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

/// `who` is `username` with exactly `groups` (and `system:authenticated`).
pub fn is(who: Result<WhoAmI, String>, username: &str, groups: &[&str]) -> Result<WhoAmI, String> {
    let w = who?;
    let mut want: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    want.push("system:authenticated".into());
    want.sort();
    let mut got = w.groups.clone();
    got.sort();
    match w.username == username && got == want {
        true => Ok(w),
        false => Err(format!("{w:?}, want {username} {want:?}")),
    }
}

/// `who` is `username`, whatever its groups.
pub fn named(who: Result<WhoAmI, String>, username: &str) -> Result<(), String> {
    match who {
        Ok(w) if w.username == username => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

impl ClientEnv {
    /// This environment acting as a scenario principal with static keys (a user).
    pub fn as_principal(&self, sim: &eks_sim::Simulator, name: &str) -> ClientEnv {
        let mut e = ClientEnv::from_vars(self);
        let (k, s) = sim.credentials(name).expect("a scenario principal");
        e.set("AWS_ACCESS_KEY_ID", &k);
        e.set("AWS_SECRET_ACCESS_KEY", &s);
        e.vars.retain(|(k, _)| k != "AWS_SESSION_TOKEN");
        e
    }
}

/// Who the Kubernetes API says a caller is (`kubectl auth whoami`): username and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoAmI {
    pub username: String,
    pub groups: Vec<String>,
}

impl ClientEnv {
    /// This environment acting as a scenario role: its session from the out dir's
    /// `as/<role name>.env` (what `eks-sim --out DIR` writes for every role).
    pub fn as_role(&self, role_name: &str) -> ClientEnv {
        let text =
            std::fs::read_to_string(self.dir.path().join("as").join(format!("{role_name}.env")))
                .unwrap_or_else(|e| panic!("as/{role_name}.env: {e}"));
        let mut vars = self.vars.clone();
        for (k, v) in text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
        {
            vars.retain(|(key, _)| key != k);
            vars.push((k.to_string(), v.to_string()));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        for f in ["kubeconfig", "ca.pem", "proxy.env"] {
            let _ = std::fs::copy(self.dir.path().join(f), dir.path().join(f));
        }
        ClientEnv { dir, vars }
    }

    /// `kubectl auth whoami` against `context`'s cluster: Ok(who) or Err(kubectl's stderr, e.g.
    /// "Unauthorized" for a token the authenticator refuses).
    pub fn whoami(&self, cluster_arn: &str) -> Result<WhoAmI, String> {
        let o = self.kubectl(
            &kubectl(),
            &["--context", cluster_arn, "auth", "whoami", "-o", "json"],
        );
        let (out, err) = text(&o);
        if !o.status.success() {
            return Err(err);
        }
        let v: Value = serde_json::from_str(&out).expect("whoami prints JSON");
        let info = &v["status"]["userInfo"];
        Ok(WhoAmI {
            username: info["username"].as_str().unwrap_or_default().to_string(),
            groups: info["groups"]
                .as_array()
                .map(|g| {
                    g.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// `kubectl auth can-i ARGS` against `cluster_arn`: whether the answer is yes.
    pub fn can_i(&self, cluster_arn: &str, args: &[&str]) -> bool {
        let mut all = vec!["--context", cluster_arn, "auth", "can-i"];
        all.extend_from_slice(args);
        let o = self.kubectl(&kubectl(), &all);
        text(&o).0.trim() == "yes"
    }
}

/// eksctl, built from its pinned module by `tests/control-plane/build`.
pub fn eksctl() -> std::path::PathBuf {
    eks_sim::control_plane::binary("eksctl").expect("eksctl is built")
}

impl ClientEnv {
    /// eksctl with this environment: EKS at the simulator (`AWS_ENDPOINT_URL_EKS`), and STS at
    /// its real name through the simulator's proxy (`DIR/proxy.env`), never `AWS_ENDPOINT_URL`:
    /// eksctl's tokens must name the real STS host.
    pub fn eksctl(&self, args: &[&str]) -> std::process::Output {
        let endpoint = self
            .vars
            .iter()
            .find(|(k, _)| k == "AWS_ENDPOINT_URL")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let proxy = std::fs::read_to_string(self.dir.path().join("proxy.env")).expect("proxy.env");
        let mut c = self.command(eksctl());
        c.env_remove("AWS_ENDPOINT_URL")
            .env("AWS_ENDPOINT_URL_EKS", endpoint);
        for (k, v) in proxy
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
        {
            c.env(k, v);
        }
        c.args(args).args(["--region", "us-east-1"]);
        c.output().expect("eksctl runs")
    }
}

impl ClientEnv {
    /// A second environment with the same variables and copies of the out dir's client files,
    /// for a client run on another thread.
    pub fn from_vars(other: &ClientEnv) -> ClientEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        for f in ["kubeconfig", "ca.pem", "proxy.env"] {
            let _ = std::fs::copy(other.dir.path().join(f), dir.path().join(f));
        }
        ClientEnv {
            dir,
            vars: other.vars.clone(),
        }
    }
}

/// What Lambda's environment gives a function, for a bootstrap run under the emulator on `sim`:
/// the region, the CA bundle (the simulator's, written into `home`), the credentials of the
/// Lambda's role, its name and timeout, a home, and the simulator's CONNECT proxy as its way to
/// CloudFormation's response bucket on S3 (the bootstrap answers nowhere else; [`Rie::invoke`]
/// gives each event that ResponseURL), with loopback (the simulator's endpoint, the clusters)
/// reached directly.
pub fn function_env(sim: &eks_sim::Simulator, home: &Path) -> Vec<(&'static str, String)> {
    let ca = home.join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).expect("the CA file");
    let (key, secret) = sim
        .credentials("mapper-lambda-role")
        .expect("the Lambda's role");
    vec![
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_CA_BUNDLE", ca.display().to_string()),
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_LAMBDA_FUNCTION_NAME", "eks-role-mapper".to_string()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "60".to_string()),
        ("HOME", home.display().to_string()),
        ("HTTPS_PROXY", sim.proxy_url()),
        ("NO_PROXY", "127.0.0.1,localhost".to_string()),
    ]
}

/// AWS's Lambda Runtime Interface Emulator (`aws-lambda-rie`, built from its module by
/// `tests/control-plane/build`) running one bootstrap, as Lambda's base images run it; killed on
/// drop. Its log has Lambda's `REPORT` lines and, on the first invocation, `INIT REPORT`: the
/// bootstrap's start to its first poll of the runtime API's `next`.
pub struct Rie {
    child: std::process::Child,
    /// The emulator's invoke URL.
    pub invoke_url: String,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Rie {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rie {
    /// Starts the emulator on loopback ports with `bootstrap` and exactly the environment `env`
    /// (nothing of this process's).
    pub fn start(bootstrap: &std::path::Path, env: &[(&str, String)]) -> Rie {
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (api, runtime) = (free(), free());
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rie.log");
        let log = std::fs::File::create(&out).unwrap();
        let child = std::process::Command::new(
            eks_sim::control_plane::binary("aws-lambda-rie").expect("aws-lambda-rie is built"),
        )
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args([
            "--runtime-interface-emulator-address",
            &format!("127.0.0.1:{api}"),
        ])
        .args(["--runtime-api-address", &format!("127.0.0.1:{runtime}")])
        .arg(bootstrap)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("aws-lambda-rie starts");
        let rie = Rie {
            child,
            invoke_url: format!("http://127.0.0.1:{api}/2015-03-31/functions/function/invocations"),
            out,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", api)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aws-lambda-rie did not listen:\n{}",
                rie.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        rie
    }

    /// Invokes the function with `event`, as Lambda's Invoke API would: the function's answer.
    /// Invokes the function with `event`, its loopback ResponseURL (the simulator's) given at
    /// CloudFormation's S3 host, which the simulator's proxy serves (`eks_sim::receiver::on_s3`):
    /// the bootstrap answers nowhere else.
    pub fn invoke(&self, event: &Value) -> Value {
        let mut event = event.clone();
        if let Some(url) = event.get("ResponseURL").and_then(Value::as_str) {
            event["ResponseURL"] = eks_sim::receiver::on_s3(url).into();
        }
        let url = url::Url::parse(&self.invoke_url).unwrap();
        let mut s =
            std::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).unwrap();
        use std::io::{Read, Write};
        let body = event.to_string();
        write!(s, "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", url.path(), url.authority(), body.len()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let (head, rest) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{}", self.log());
        // A chunked body is one chunk here: its size line, then the JSON.
        let json = rest
            .lines()
            .find(|l| l.starts_with('{') || l.starts_with('"') || *l == "null")
            .unwrap_or("null");
        serde_json::from_str(json).unwrap_or(Value::Null)
    }

    /// Everything the emulator and the bootstrap printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// The init phase of the first invocation, in ms: the emulator's `INIT REPORT(durationMs: X)`,
    /// from starting the bootstrap to its first poll of `next` (INIT RTDONE).
    pub fn init_ms(&self) -> Option<f64> {
        self.log().lines().find_map(|l| {
            let rest = l.split("INIT REPORT(durationMs: ").nth(1)?;
            rest.split(')').next()?.trim().parse().ok()
        })
    }
}

/// One step of a differential sequence: its name and what of the answer is compared.
pub type Step = (String, Value);

/// Runs `sequence(base URL, CA, token)` against the default scenario's `legacy` twice: on the real
/// control plane and on the simulator's own stand-in, each with the cluster creator's token from
/// the real `aws eks get-token`. Answers (real steps, simulated steps, the real server's version).
pub async fn on_both_sides<F, Fut>(sequence: F) -> (Vec<Step>, Vec<Step>, String)
where
    F: Fn(String, String, String) -> Fut,
    Fut: std::future::Future<Output = Vec<Step>>,
{
    let real = crate::real_simulator(eks_sim::Scenario::default_scenario()).await;
    let stand_in = eks_sim::Simulator::start(eks_sim::Scenario::default_scenario())
        .await
        .expect("simulator starts");
    let mut results = Vec::new();
    for sim in [&real, &stand_in] {
        let env = ClientEnv::new(sim);
        let token = env.get_token(
            env.command(crate::aws_cli()),
            "legacy",
            "https://sts.us-east-1.amazonaws.com",
        );
        let base = sim.cluster_endpoint("legacy").expect("legacy");
        results.push(sequence(base, sim.ca_pem(), token).await);
    }
    let version = real.real_clusters()[0].1.clone();
    let simulated = results.pop().unwrap_or_default();
    (results.pop().unwrap_or_default(), simulated, version)
}

/// The steps whose answers differ, one readable entry each.
pub fn differences(real: &[Step], simulated: &[Step]) -> Vec<String> {
    real.iter()
        .zip(simulated)
        .filter(|((_, r), (_, s))| r != s)
        .map(|((name, r), (_, s))| format!("{name}:\n  real      {r}\n  simulated {s}"))
        .collect()
}

/// A request to a real control plane's kube-apiserver as its admin: the status and the JSON
/// answer (Null when it is not JSON).
pub async fn as_admin(
    cp: &eks_sim::control_plane::ControlPlane,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let (code, text) = cp.request(method, path, body).await.unwrap();
    (code, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The entries of `cluster`'s aws-auth `mapRoles` as its real kube-apiserver holds them.
pub async fn real_map_roles(sim: &eks_sim::Simulator, cluster: &str) -> Vec<Value> {
    let cp = sim.control_plane(cluster).expect("a real control plane");
    let (code, cm) = as_admin(
        cp,
        "GET",
        "/api/v1/namespaces/kube-system/configmaps/aws-auth",
        None,
    )
    .await;
    assert_eq!(code, 200, "{cm}");
    serde_yaml_ng::from_str(cm["data"]["mapRoles"].as_str().unwrap_or("[]")).unwrap()
}
