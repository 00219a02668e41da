//! The real `bootstrap` binary, run as Lambda runs it: a runtime API on loopback
//! (`eks_sim::runtime_api`) hands it events from `events/`, on the simulator's environment.
//!
//! The bootstrap answers CloudFormation only at its response bucket on S3, never on loopback:
//! its events name the S3 form of the simulator's receiver (`eks_sim::receiver::on_s3`), which it
//! reaches through the simulator's CONNECT proxy (`HTTPS_PROXY`), as a function in a VPC would.
//! `scripts/test` also runs the last test on the bootstrap built as `infra/build` builds it
//! (`PRODUCT_BOOTSTRAP`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use eks_sim::receiver::on_s3;
use eks_sim::runtime_api::{Posted, RuntimeApi};
use eks_sim::{Scenario, Simulator};
use serde_json::Value;

const ROLE: &str =
    "arn:aws:iam::111122223333:role/3f1c2a9e-0b7d-4c55-9e2f-6d1a8b7c5e40-RoleForAccessingEksAndEcr";
const FUNCTION: &str = "arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper";

fn event_file(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("event file")).expect("event JSON")
}

/// A bootstrap process, killed on drop (also when the test panics); what it printed is kept, and
/// left among the suite's logs for the secrets scan that `scripts/test` runs after the suite.
struct Bootstrap {
    child: Child,
    stdout: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bootstrap {
    /// Starts `bin` on the simulator's environment (as the Lambda's role), answering `api`.
    /// Configured as the template configures it for the stack that sends `declared` (an event).
    fn start(bin: &Path, sim: &Simulator, api: &RuntimeApi, declared: &Value) -> Bootstrap {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, sim.ca_pem()).expect("CA file");
        let stdout = dir.path().join("output");
        let out = std::fs::File::create(&stdout).expect("output file");
        let (key, secret) = sim
            .credentials("mapper-lambda-role")
            .expect("the Lambda's role");
        let child = Command::new(bin)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "eks-role-mapper")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
            .env("AWS_REGION", "us-east-1")
            .envs(eks_role_mapper::declared::environment_of(declared))
            .env("AWS_ENDPOINT_URL", sim.aws_endpoint_url())
            .env("AWS_CA_BUNDLE", &ca)
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("HTTPS_PROXY", sim.proxy_url())
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdout(out.try_clone().expect("output file"))
            .stderr(out)
            .spawn()
            .expect("bootstrap starts");
        Bootstrap {
            child,
            stdout,
            _dir: dir,
        }
    }

    /// What it printed (stdout and stderr).
    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
}

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // target/<profile>/deps/<test exe> -> target/<profile>/suite-logs
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("suite-logs")))
        {
            let name = format!("bootstrap-{}-{}.log", std::process::id(), self.child.id());
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::copy(&self.stdout, dir.join(name));
        }
    }
}

/// Waits for `n` posts to the runtime API, failing with the bootstrap's output when they do
/// not come.
fn posted(api: &RuntimeApi, n: usize, bootstrap: &Bootstrap) -> Vec<Posted> {
    let posted = api.wait_posted(n, Duration::from_secs(60));
    assert_eq!(
        posted.len(),
        n,
        "posts to the runtime API: {posted:?}\nstdout:\n{}",
        bootstrap.stdout()
    );
    posted
}

fn map_roles(sim: &Simulator) -> Vec<Value> {
    let cm = sim
        .config_map("legacy", "kube-system", "aws-auth")
        .expect("aws-auth");
    serde_yaml_ng::from_str(cm["data"]["mapRoles"].as_str().expect("mapRoles")).expect("YAML")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_answers_a_create_then_a_reconcile_puts_a_dropped_entry_back() {
    let sim = Simulator::start(Scenario::default_scenario())
        .await
        .expect("simulator");
    let api = RuntimeApi::start(FUNCTION).expect("runtime API");
    // cargo-lambda's emulator sends 600000 (a time in 1970): taken as unknown, not as over.
    api.set_deadline_ms(600_000);
    let bootstrap = Bootstrap::start(
        Path::new(env!("CARGO_BIN_EXE_bootstrap")),
        &sim,
        &api,
        &event_file("create.json"),
    );

    let mut create = event_file("create.json");
    let request_id = create["RequestId"].as_str().expect("RequestId").to_string();
    create["ResponseURL"] = on_s3(&sim.response_url(&request_id)).into();
    api.push("create-1", &create);
    let first = posted(&api, 1, &bootstrap);
    assert_eq!(first[0].kind, "response", "{first:?}");
    let answers: Vec<_> = sim
        .responses()
        .into_iter()
        .filter(|r| r.request_id == request_id)
        .collect();
    assert_eq!(answers.len(), 1, "one answer");
    assert_eq!(answers[0].body["Status"], "SUCCESS", "{}", answers[0].body);

    // Someone drops the entry; the schedule's event puts it back and prints its metric record
    // on stdout, a line of its own (what Lambda hands to CloudWatch).
    let kept: Vec<Value> = map_roles(&sim)
        .into_iter()
        .filter(|e| e["rolearn"] != ROLE)
        .collect();
    let cm = sim
        .config_map("legacy", "kube-system", "aws-auth")
        .expect("aws-auth");
    let mut data = cm["data"].as_object().expect("data").clone();
    data.insert(
        "mapRoles".into(),
        serde_yaml_ng::to_string(&kept).expect("YAML").into(),
    );
    sim.set_config_map_data("legacy", "kube-system", "aws-auth", Some(data.into()));
    api.push("reconcile-1", &event_file("reconcile.json"));
    posted(&api, 2, &bootstrap);
    let mapped: Vec<Value> = map_roles(&sim)
        .into_iter()
        .filter(|e| e["rolearn"] == ROLE)
        .collect();
    assert_eq!(mapped.len(), 1, "put back: {mapped:?}");
    assert_eq!(mapped[0]["groups"], serde_json::json!(["system:masters"]));
    let out = bootstrap.stdout();
    let record = out
        .lines()
        .find(|l| l.starts_with("{\"Cluster\":\"legacy\""))
        .unwrap_or_else(|| panic!("no metric record on its own line; stdout:\n{out}"));
    let record: Value = serde_json::from_str(record).expect("a JSON record");
    assert_eq!(record["Repaired"], 1, "{record}");
    assert_eq!(
        record["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "EksRoleMapper"
    );
    assert!(out.contains("working to a default budget"), "{out}");
}

/// Loopback ResponseURLs on the simulator's receiver, https and plain http.
fn loopback_events(sim: &Simulator) -> Vec<(String, Value)> {
    let https = sim.response_url("product-https");
    let http = https.replacen("https://", "http://", 1);
    [("product-https", https), ("product-http", http)]
        .into_iter()
        .map(|(id, url)| {
            let mut e = event_file("create.json");
            e["RequestId"] = id.into();
            e["ResponseURL"] = url.into();
            (id.to_string(), e)
        })
        .collect()
}

/// The bootstrap under test: `PRODUCT_BOOTSTRAP` when given (`scripts/test` gives the one built
/// as `infra/build` builds it, with no features), else this build's.
fn product() -> PathBuf {
    std::env::var_os("PRODUCT_BOOTSTRAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_bootstrap")))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_refuses_a_loopback_response_url_and_answers_at_s3() {
    let product = product();
    let bytes = std::fs::read(&product).expect("the bootstrap");
    assert!(
        !bytes.windows(14).any(|w| w == b"ALLOW_LOOPBACK"),
        "the bootstrap names a loopback switch"
    );
    let sim = Simulator::start(Scenario::default_scenario())
        .await
        .expect("simulator");
    let api = RuntimeApi::start(FUNCTION).expect("runtime API");
    let bootstrap = Bootstrap::start(&product, &sim, &api, &event_file("create.json"));
    // A real Lambda's runtime API and extensions listen on loopback: nothing goes there.
    let events = loopback_events(&sim);
    for (id, event) in &events {
        api.push(id, event);
    }
    let posted_so_far = posted(&api, events.len(), &bootstrap);
    for p in &posted_so_far {
        assert_eq!(p.kind, "error", "nothing to answer: {p:?}");
        assert!(p.body.contains("ResponseURL"), "{p:?}");
    }
    assert_eq!(sim.responses().len(), 0, "nothing was PUT to loopback");
    // The same event at CloudFormation's bucket on S3 is answered (through the proxy).
    let (id, mut event) = loopback_events(&sim).remove(0);
    event["ResponseURL"] = on_s3(event["ResponseURL"].as_str().unwrap()).into();
    api.push(&id, &event);
    assert_eq!(
        posted(&api, events.len() + 1, &bootstrap)[events.len()].kind,
        "response"
    );
    assert_eq!(sim.responses().len(), 1, "answered at S3");
}
