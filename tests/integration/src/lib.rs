//! Shared helpers for the end-to-end tests: a simulator with the mapper's clients pointed at it,
//! custom-resource events, and the real clients' locations.

pub use cfn_replay::rendered;

pub mod real;
pub use real::{
    as_admin, differences, eksctl, eventually, function_env, is, named, on_both_sides,
    real_map_roles, refused, Rie, Step, WhoAmI, LEGACY_ARN, SERVICE_ROLE_NAME, SSO_ROLE,
};

use eks_role_mapper::declared::Declared;
use std::time::{Duration, SystemTime};

use eks_role_mapper::Clients;
use eks_sim::{Scenario, Simulator};
use serde_json::{json, Value};

/// The service role of the default scenario (the seed's role name shape).
pub const SERVICE_ROLE: &str =
    "arn:aws:iam::111122223333:role/3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr";
/// The role mapped as system:masters in the default scenario's CONFIG_MAP cluster.
pub const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/cluster-admin-role";
/// A stack id like CloudFormation's.
pub const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:111122223333:stack/concurrent/3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40";

/// The default scenario plus `n` clusters `c-000`, `c-001`, ... in `mode` (CONFIG_MAP ones get
/// the default aws-auth of the `legacy` cluster), for many-cluster runs.
pub fn scenario_with_clusters(n: usize, mode: &str) -> Scenario {
    let mut s = Scenario::default_scenario();
    let template = s
        .clusters
        .iter()
        .find(|c| c.name == "legacy")
        .expect("the default scenario has legacy")
        .clone();
    for i in 0..n {
        let mut c = template.clone();
        c.name = format!("c-{i:03}");
        c.authentication_mode = mode.to_string();
        if mode == "API" {
            c.aws_auth = None;
        }
        s.clusters.push(c);
    }
    s
}

/// A running simulator and mapper clients that talk to it over HTTPS.
pub struct Harness {
    pub sim: Simulator,
    pub clients: Clients,
    counter: std::sync::atomic::AtomicU32,
    /// What the stack the harness plays declared last (see `Declared::playing`).
    declared: std::sync::Mutex<Option<Declared>>,
    /// The stack the harness's events come from (`STACK_ID` unless a test renders its own).
    stack_id: std::sync::Mutex<String>,
}

/// `s` with everything of its account moved to moto's (where a test renders the template), as
/// `cfn-replay stack` moves it: CloudFormation answers a caller only about its own account's
/// stacks, so the function's principal must be in the rendered stack's account.
pub fn in_moto_account(s: Scenario) -> Scenario {
    let text = serde_json::to_string(&s)
        .unwrap()
        .replace(&s.account, cfn_replay::rendered::MOTO_ACCOUNT);
    serde_json::from_str(&text).unwrap()
}

/// The mapper's clients for a simulator, acting as the scenario principal `principal`.
pub async fn clients_for(sim: &Simulator, principal: &str) -> Clients {
    cfn_replay::clients_for(sim, principal)
        .await
        .expect("clients")
}

/// Where every test process of the suite leaves its log lines (in-process tracing, and the output
/// of the product's binaries it runs), for the secrets scan that runs after the suite.
pub fn suite_log_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/suite-logs
    exe.parent()
        .and_then(std::path::Path::parent)
        .expect("target dir")
        .join("suite-logs")
}

fn suite_log_file(kind: &str) -> std::fs::File {
    let dir = suite_log_dir();
    std::fs::create_dir_all(&dir).expect("suite log dir");
    let exe = std::env::current_exe().expect("test executable");
    let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
    let n = LOG_FILES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("{stem}-{}-{kind}-{n}.log", std::process::id());
    std::fs::File::create(dir.join(name)).expect("suite log file")
}

static LOG_FILES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Sends this process's tracing output (the mapper's and the simulator's, at the most verbose
/// level the mapper's filter allows) to a file of the suite's logs. Once per process; a test that
/// installs its own global capture first keeps it.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let file = std::sync::Mutex::new(suite_log_file("tracing"));
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .json()
            .with_writer(file)
            .finish()
            .with(eks_role_mapper::logging::filter("trace"));
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Keeps what one of the product's binaries printed among the suite's logs.
pub fn keep_output(program: &str, o: &std::process::Output) {
    use std::io::Write;
    let mut f = suite_log_file(program);
    f.write_all(&o.stdout).expect("log write");
    f.write_all(&o.stderr).expect("log write");
}

/// What must never appear in a log line: ResponseURL signatures, presigned-URL credentials, EKS
/// tokens, the simulator's session tokens and secret keys, and the scenario's secret keys.
pub fn secret_markers() -> Vec<String> {
    let mut markers: Vec<String> = [
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "k8s-aws-v1.",
        "Bearer ",
        "SimSessionToken",
        "sim-session-secret",
        // Every external ID a registration test sends (events/create-registered.json's and the
        // tests' own): it travels only in the message to the topic, never in a log line.
        "SimExternalId",
    ]
    .map(String::from)
    .to_vec();
    markers.extend(
        Scenario::default_scenario()
            .principals
            .into_iter()
            .map(|p| p.secret_access_key),
    );
    markers
}

/// The first marker of [`secret_markers`] (or `extra`) found in `text`, case-insensitively.
pub fn find_secret(text: &str, extra: &[&str]) -> Option<String> {
    let lower = text.to_lowercase();
    secret_markers()
        .into_iter()
        .chain(extra.iter().map(|s| s.to_string()))
        .find(|m| lower.contains(&m.to_lowercase()))
}

/// A test that injected a fault and ends without having met it fails here (unless it is failing
/// already): a misspelled operation, or a fault the code path never reaches, proves nothing.
impl Drop for Harness {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.sim.assert_faults_fired();
        }
    }
}

impl Harness {
    /// The default scenario, acting as the Lambda's own role (mapped nowhere).
    pub async fn start() -> Harness {
        Self::with(Scenario::default_scenario(), "mapper-lambda-role").await
    }

    /// A scenario and a principal of it.
    pub async fn with(scenario: Scenario, principal: &str) -> Harness {
        capture_logs();
        let sim = Simulator::start(scenario).await.expect("simulator starts");
        let clients = clients_for(&sim, principal).await;
        Harness {
            sim,
            clients,
            counter: Default::default(),
            declared: Default::default(),
            stack_id: std::sync::Mutex::new(STACK_ID.to_string()),
        }
    }

    /// A custom-resource event answered to the simulator's receiver.
    pub fn event(&self, kind: &str, props: Value, physical_id: Option<&str>) -> Value {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let request_id = format!("req-{n}-{}", kind.to_lowercase());
        let mut props = props;
        props["ServiceToken"] =
            json!("arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper");
        let mut e = json!({
            "RequestType": kind,
            "ServiceToken": props["ServiceToken"],
            // Registered with its type, as CloudFormation knows it: the simulator's stack learns
            // the resource's state from the response.
            "ResponseURL": self.sim.response_url_for(&request_id, kind),
            "StackId": self.stack_id(),
            "RequestId": request_id,
            "ResourceType": "Custom::EksRoleMapping",
            "LogicalResourceId": "Mapping",
            "ResourceProperties": props,
        });
        if let Some(id) = physical_id {
            e["PhysicalResourceId"] = json!(id);
        }
        e
    }

    /// An Update event as CloudFormation sends it: the new properties and the old ones.
    pub fn update_event(&self, props: Value, old_props: Value, physical_id: &str) -> Value {
        let mut e = self.event("Update", props, Some(physical_id));
        e["OldResourceProperties"] = old_props;
        e
    }

    /// Runs the handler as Lambda would, with `budget` until each invocation's deadline, and
    /// then every invocation it hands the request over to (as Lambda delivers asynchronous
    /// invocations); returns the one response.
    pub async fn invoke_within(&self, event: Value, budget: Duration) -> Value {
        self.invoke_counting(event, budget).await.0
    }

    /// [`Harness::invoke_within`], also answering how many invocations the request took.
    pub async fn invoke_counting(&self, event: Value, budget: Duration) -> (Value, usize) {
        let before = self.sim.responses().len();
        let request_id = event["RequestId"].as_str().unwrap_or_default().to_string();
        // The harness plays the stack: the function declared for the event's own stack and
        // properties, and CloudFormation holding the resource as it does while sending it.
        self.sim.cloudformation_sends(&event);
        let clients = self.playing(&event);
        let mut queue = vec![event];
        let mut invocations = 0;
        while let Some(event) = queue.pop() {
            invocations += 1;
            assert!(invocations <= 64, "a request handed over without end");
            let _ = eks_role_mapper::handle(&clients, event, context(budget)).await;
            for (function, next) in self.sim.take_invocations() {
                assert_eq!(
                    function,
                    context(budget).invoked_function_arn,
                    "the function hands over to itself"
                );
                queue.push(next);
            }
        }
        let responses = self.sim.responses();
        let mine: Vec<_> = responses[before..]
            .iter()
            .filter(|r| r.request_id == request_id)
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "exactly one response per event, got {}",
            mine.len()
        );
        (mine[0].body.clone(), invocations)
    }

    /// The stack the events come from.
    pub fn stack_id(&self) -> String {
        self.stack_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Events come from the stack `id` from now on (a stack a test rendered on moto, whose
    /// policy names it).
    pub fn set_stack_id(&self, id: &str) {
        *self.stack_id.lock().unwrap_or_else(|e| e.into_inner()) = id.to_string();
    }

    /// The function as the stack that sends `event` configures it (see `Declared::playing`).
    pub fn playing(&self, event: &Value) -> Clients {
        let mut last = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        *last = Declared::playing(event, last.as_ref());
        self.clients.with_declared(last.clone())
    }

    /// The dry run of `event` as CloudFormation would send it (its resource in progress) to the
    /// function of the stack the harness plays.
    pub async fn dry_run(&self, event: Value) -> eks_role_mapper::Result<eks_role_mapper::DryRun> {
        self.sim.cloudformation_sends(&event);
        let clients = self.playing(&event);
        eks_role_mapper::dry_run(&clients, event).await
    }

    /// [`Harness::invoke_within`] with a 60 s deadline.
    pub async fn invoke(&self, event: Value) -> Value {
        self.invoke_within(event, Duration::from_secs(60)).await
    }

    /// The schedule's reconcile event for this harness's stack resource, as the template builds
    /// it (the custom resource's properties, its id).
    pub fn reconcile_event(&self, props: &Value, physical_id: &str) -> Value {
        let mut props = props.clone();
        props["Region"] = json!("us-east-1");
        cfn_replay::stack::reconcile_event(&self.stack_id(), physical_id, &props)
    }

    /// Runs a reconcile event as Lambda would (60 s deadline); its report.
    pub async fn reconcile(&self, event: &Value) -> eks_role_mapper::reconcile::Report {
        let ctx = context(Duration::from_secs(60));
        let invocation = eks_role_mapper::Invocation::from(&ctx);
        eks_role_mapper::reconcile_with(&self.playing(event), event, invocation).await
    }

    /// The writes (2xx, not GET) the simulator logged for EKS and Kubernetes since the log was
    /// last cleared.
    pub fn writes(&self) -> Vec<String> {
        self.sim
            .request_log()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status) && r.method != "GET")
            .filter(|r| r.op.starts_with("eks:") || r.op.starts_with("k8s:"))
            .map(|r| format!("{} {}", r.op, r.path))
            .collect()
    }

    /// An EKS client of the mapper's identity, for setting a scene by hand.
    pub fn clients_eks(&self) -> aws_sdk_eks::Client {
        self.clients.eks("us-east-1")
    }

    /// The parsed mapRoles entries of a cluster's aws-auth.
    pub fn map_roles(&self, cluster: &str) -> Vec<Value> {
        let cm = self
            .sim
            .config_map(cluster, "kube-system", "aws-auth")
            .expect("aws-auth exists");
        serde_yaml_ng::from_str(cm["data"]["mapRoles"].as_str().unwrap_or("[]"))
            .expect("mapRoles parses")
    }

    /// The access entries of a cluster from the simulator's state.
    pub fn access_entries(&self, cluster: &str) -> Value {
        self.sim.state_json()["clusters"][cluster]["access_entries"].clone()
    }
}

/// A Lambda context whose deadline is `budget` from now.
pub fn context(budget: Duration) -> lambda_runtime::Context {
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = "lambda-request-1".into();
    let deadline = SystemTime::now() + budget;
    ctx.deadline = deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after epoch")
        .as_millis() as u64;
    ctx.invoked_function_arn =
        "arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper".into();
    ctx
}

/// Properties mapping the service role into `cluster`.
pub fn props(cluster: &str) -> Value {
    json!({ "ClusterName": cluster, "RoleArn": SERVICE_ROLE })
}

/// The properties of a grant on `legacy` (the CONFIG_MAP cluster), reaching its Kubernetes API
/// through the role aws-auth maps as `system:masters`, with `extra` properties on top.
pub fn legacy_props(extra: Value) -> Value {
    let mut p = props("legacy");
    p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
    if let Value::Object(m) = extra {
        for (k, v) in m {
            p[k] = v;
        }
    }
    p
}

/// Entries whose rolearn is `arn` (exact).
pub fn entries_for<'a>(entries: &'a [Value], arn: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["rolearn"] == json!(arn))
        .collect()
}

/// A real client's path from `var`, else the first existing `fallbacks`; fails the test (never
/// skips) with what to install when there is none.
pub fn tool(var: &str, fallbacks: &[&str]) -> std::path::PathBuf {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return p.into();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for f in fallbacks {
        let p = if f.contains('/') {
            root.join(f)
        } else {
            std::path::PathBuf::from(f)
        };
        if p.is_file() {
            return p;
        }
        if !f.contains('/') {
            if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(f))
                    .find(|c| c.is_file())
            }) {
                return found;
            }
        }
    }
    panic!("{var}: none of {fallbacks:?} found; run scripts/test, which installs aws-cli, moto and cfn-lint into .venv (kubectl comes from the machine or Debian's kubernetes-client)");
}

/// aws-cli v1 (botocore).
pub fn aws_cli() -> std::path::PathBuf {
    tool("AWS_CLI", &[".venv/bin/aws", "aws"])
}

/// `cmd` (`infra/publish`) as run against moto: the test's aws-cli, moto's test credentials, and
/// none of the developer's profile, CA bundle or endpoint.
pub fn against_moto(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("AWS_CLI", aws_cli())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_ENDPOINT_URL")
}

/// kubectl.
pub fn kubectl() -> std::path::PathBuf {
    tool("KUBECTL", &["kubectl"])
}

/// The environment real clients get: the simulator's `DIR/env`, a private HOME and no settings
/// of the developer's, and aws-cli first on PATH (kubectl's exec plugin runs `aws`).
pub struct ClientEnv {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl ClientEnv {
    /// Writes the simulator's out dir and reads its `env` file back.
    pub fn new(sim: &Simulator) -> ClientEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        sim.write_out_dir(dir.path()).expect("out dir");
        Self::from_out_dir(dir)
    }

    /// From a simulator's out dir already written (an `eks-sim --out DIR` process's), which the
    /// environment then owns.
    pub fn from_out_dir(dir: tempfile::TempDir) -> ClientEnv {
        capture_logs();
        let text = std::fs::read_to_string(dir.path().join("env")).expect("env file");
        let mut vars: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let aws_dir = aws_cli().parent().expect("aws-cli dir").to_path_buf();
        let path = format!(
            "{}:{}",
            aws_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        vars.push(("PATH".into(), path));
        vars.push(("HOME".into(), home.display().to_string()));
        vars.push((
            "AWS_CONFIG_FILE".into(),
            home.join("aws-config").display().to_string(),
        ));
        vars.push((
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            home.join("aws-credentials").display().to_string(),
        ));
        // Present and empty: the Rust SDK warns about a named config file that is missing.
        std::fs::write(home.join("aws-config"), "").expect("aws config");
        std::fs::write(home.join("aws-credentials"), "").expect("aws credentials");
        ClientEnv { dir, vars }
    }

    /// Sets (or replaces) a variable.
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
    }

    /// A command with exactly this environment's AWS and Kubernetes settings.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "KUBECONFIG" {
                c.env_remove(k);
            }
        }
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    /// kubectl with its own discovery cache.
    pub fn kubectl(&self, bin: &std::path::Path, args: &[&str]) -> std::process::Output {
        let cache = self.dir.path().join(format!(
            "kube-cache-{}",
            bin.file_name().unwrap().to_string_lossy()
        ));
        let mut c = self.command(bin);
        c.arg("--cache-dir").arg(cache).args(args);
        c.output().expect("kubectl runs")
    }
}

/// stdout and stderr of a finished command, for assertions.
pub fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A GET over HTTPS trusting only `ca_pem`, with an optional bearer token: (status, body).
pub async fn https_get(url: &str, ca_pem: &str, bearer: Option<&str>) -> (u16, Value) {
    use http_body_util::BodyExt;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("CA added");
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https);
    let mut req = http::Request::get(url);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = client
        .request(req.body(http_body_util::Empty::new()).unwrap())
        .await
        .expect("HTTPS request");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A moto server process, killed on drop.
pub struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts moto's server on a free loopback port; returns it and its URL.
pub fn start_moto() -> (Moto, String) {
    let bin = tool("MOTO_SERVER", &[".venv/bin/moto_server", "moto_server"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let moto = Moto(child);
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto_server did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, format!("http://127.0.0.1:{port}"))
}

/// The default scenario's aws-auth data, to reset a cluster between runs.
pub fn default_aws_auth() -> Value {
    let s = Scenario::default_scenario();
    let c = s
        .clusters
        .iter()
        .find(|c| c.name == "legacy")
        .expect("legacy cluster");
    serde_json::to_value(c.aws_auth.clone().expect("legacy has aws-auth")).expect("data as JSON")
}

/// A binary of the workspace, fresh, from the profile these tests were built with. Every caller
/// runs the same `cargo build --workspace --bins --tests`: with `--tests` the dev-dependencies
/// take part in feature resolution as they do in `cargo test --workspace`, so the bins come out
/// of the units that run already built (without it, resolver 2 picks another feature set and
/// compiles much of the dependency tree a third time).
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    // target/<profile>/deps/<test exe> -> target/<profile>
    let profile_dir = std::env::current_exe()
        .expect("test exe")
        .parent()
        .and_then(std::path::Path::parent)
        .expect("profile dir")
        .to_path_buf();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut build = std::process::Command::new(env!("CARGO"));
    // Into the target directory this test binary is in, whatever the environment says (a suite
    // binary run by hand, without CARGO_TARGET_DIR, must not build a second tree in the checkout).
    let target_dir = profile_dir.parent().expect("target dir");
    build
        .current_dir(root)
        .args(["build", "--quiet", "--workspace", "--bins", "--tests"])
        .arg("--target-dir")
        .arg(target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(
        build.status().expect("cargo runs").success(),
        "cargo build --workspace --bins"
    );
    let bin = profile_dir.join(name);
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

impl ClientEnv {
    /// An aws-cli call with `--output json`: Ok(its JSON, Null when it printed nothing) or
    /// Err(its stderr).
    pub fn aws(&self, args: &[&str]) -> Result<Value, String> {
        let o = self
            .command(aws_cli())
            .args(args)
            .args(["--output", "json"])
            .output()
            .expect("aws-cli runs");
        let (out, err) = text(&o);
        if !o.status.success() {
            return Err(err);
        }
        Ok(if out.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&out).expect("aws-cli prints JSON")
        })
    }

    /// A token from the real `aws eks get-token` for `cluster`, signed for the STS host
    /// `sts_url`, as the identity `command` runs with.
    pub fn get_token(
        &self,
        mut command: std::process::Command,
        cluster: &str,
        sts_url: &str,
    ) -> String {
        let o = command
            .env("AWS_ENDPOINT_URL_STS", sts_url)
            .args([
                "eks",
                "get-token",
                "--cluster-name",
                cluster,
                "--output",
                "json",
            ])
            .output()
            .expect("aws-cli runs");
        assert!(o.status.success(), "{:?}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("get-token prints JSON");
        v["status"]["token"].as_str().expect("a token").to_string()
    }

    /// Runs the seed's manual Step 2 (`fixtures/patch-aws-auth.sh ROLE`) with real kubectl.
    pub fn run_seed_step_2(&self, role: &str) -> std::process::Output {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/patch-aws-auth.sh");
        let path = self
            .vars
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let kubectl_dir = kubectl().parent().expect("kubectl dir").to_path_buf();
        self.command("bash")
            .env("PATH", format!("{}:{path}", kubectl_dir.display()))
            .arg(script)
            .arg(role)
            .output()
            .expect("bash runs")
    }
}

impl Harness {
    /// The `data` of a cluster's aws-auth ConfigMap.
    pub fn aws_auth_data(&self, cluster: &str) -> Value {
        self.sim
            .config_map(cluster, "kube-system", "aws-auth")
            .expect("aws-auth exists")["data"]
            .clone()
    }
}

/// The real control plane (etcd, kube-apiserver with RBAC, the EKS authenticator; see
/// `eks_sim::control_plane`) behind the default scenario's `CONFIG_MAP` cluster `legacy`.
pub async fn real_simulator(scenario: Scenario) -> Simulator {
    capture_logs();
    let options = eks_sim::Options {
        real_control_plane: true,
    };
    Simulator::start_with(scenario, options)
        .await
        .expect("the simulator and its real control plane start (tests/control-plane/build makes the binaries)")
}

impl Harness {
    /// [`Harness::with`] on [`real_simulator`].
    pub async fn real(scenario: Scenario, principal: &str) -> Harness {
        let sim = real_simulator(scenario).await;
        let clients = clients_for(&sim, principal).await;
        Harness {
            sim,
            clients,
            counter: Default::default(),
            declared: Default::default(),
            stack_id: std::sync::Mutex::new(STACK_ID.to_string()),
        }
    }
}
