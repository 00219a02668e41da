//! The README's `cargo lambda` route, for real: the bootstrap under `cargo lambda watch` (the
//! cargo-lambda version `infra/requirements-build.txt` pins, from `.venv-build`, which
//! `scripts/test` installs before the tests run), an event delivered with
//! `cargo lambda invoke --data-file`, on the simulator's environment. cargo-lambda 1.9.2 sends
//! `Lambda-Runtime-Deadline-Ms: 600000` (a time in 1970); before the mapper took a past deadline as
//! unknown, every event answered FAILED "timed out before the Lambda deadline" this way.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration::{keep_output, SERVICE_ROLE};

/// How long the first build of the bootstrap (its own feature set, so not the test build's) and
/// the invocation may take together.
const BUILD_AND_INVOKE: Duration = Duration::from_secs(900);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// cargo-lambda from `.venv-build` (or `CARGO_LAMBDA`). Missing is a failure, never a skip: CI
/// must not pass without having run the route the README documents.
fn cargo_lambda() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_LAMBDA").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let p = root().join(".venv-build/bin/cargo-lambda");
    assert!(
        p.is_file(),
        "cargo-lambda not found at .venv-build/bin/cargo-lambda (or CARGO_LAMBDA): run scripts/test, which installs infra/requirements-build.txt into .venv-build before the tests"
    );
    p
}

/// The target dir and profile this test was built in (`<target>/<profile>/deps/<exe>`), so the
/// watch's cargo build reuses what is already compiled there.
fn target_dir_and_profile() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("test exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .expect("profile name")
        .to_string_lossy()
        .into_owned();
    let target = profile_dir.parent().expect("target dir").to_path_buf();
    (target, profile)
}

/// A child in its own process group, the whole group killed on drop (also when the test panics):
/// `cargo lambda watch` runs cargo and the bootstrap under it, and none may outlive the test.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `child` for at most `limit`; kills it when it takes longer.
fn wait_output(mut child: Child, limit: Duration) -> (bool, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut out = String::new();
            if let Some(mut s) = child.stdout.take() {
                let _ = s.read_to_string(&mut out);
            }
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut out);
            }
            return (status.success(), out);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (false, format!("killed after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_invoked_under_cargo_lambda_watch_is_answered_success_and_maps_the_role() {
    let started = Instant::now();
    let bin = cargo_lambda();
    let h = integration::Harness::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, h.sim.ca_pem()).expect("CA file");
    // Empty AWS config files: nothing of the developer's, and no warning about missing ones.
    let (aws_config, aws_credentials) = (dir.path().join("config"), dir.path().join("credentials"));
    std::fs::write(&aws_config, "").expect("config file");
    std::fs::write(&aws_credentials, "").expect("credentials file");
    let (key, secret) = h
        .sim
        .credentials("mapper-lambda-role")
        .expect("the Lambda's role");

    // events/create.json as it is, but answered to the simulator's receiver.
    let mut event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("events/create.json")).expect("events/create.json"),
    )
    .expect("event JSON");
    let request_id = event["RequestId"].as_str().expect("RequestId").to_string();
    event["ResponseURL"] = h.sim.response_url(&request_id).into();
    let data_file = dir.path().join("create.local.json");
    std::fs::write(&data_file, event.to_string()).expect("data file");

    let (target, profile) = target_dir_and_profile();
    let port = free_port().to_string();
    // The toolchain running this test first on PATH: cargo-lambda runs `cargo`.
    let cargo_dir = Path::new(env!("CARGO")).parent().expect("cargo dir");
    let path = format!(
        "{}:{}",
        cargo_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = dir.path().join("watch.log");
    let log_file = std::fs::File::create(&log).expect("log");
    let mut watch = Command::new(&bin);
    watch
        .current_dir(root())
        .args([
            "lambda",
            "watch",
            "-p",
            "eks-role-mapper",
            "--bin",
            "bootstrap",
            "--ignore-changes",
            "-A",
            "127.0.0.1",
            "-P",
            &port,
        ])
        .args((profile == "release").then_some("--release"))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file);
    // Exactly the simulator's settings, none of the developer's AWS or Kubernetes ones.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k == "KUBECONFIG" {
            watch.env_remove(k);
        }
    }
    watch
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &target)
        .env("AWS_ENDPOINT_URL", h.sim.aws_endpoint_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CA_BUNDLE", &ca)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_CONFIG_FILE", &aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &aws_credentials)
        .env("EKS_ROLE_MAPPER_ALLOW_LOOPBACK_RESPONSE_URL", "1");
    std::os::unix::process::CommandExt::process_group(&mut watch, 0);
    let watch = Group(watch.spawn().expect("cargo lambda watch starts"));

    // The runtime API listens at once; the build runs behind it and the invoke waits for it.
    let until = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err() {
        assert!(
            Instant::now() < until,
            "cargo lambda watch did not listen on {port} within 60 s: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let invoke_file = |file: &Path| {
        Command::new(&bin)
            .current_dir(root())
            .args([
                "lambda",
                "invoke",
                "bootstrap",
                "-A",
                "127.0.0.1",
                "-P",
                &port,
            ])
            .arg("--data-file")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cargo lambda invoke starts")
    };
    let invoke = invoke_file(&data_file);
    let (invoked, invoke_out) = tokio::task::spawn_blocking(move || {
        wait_output(invoke, BUILD_AND_INVOKE.saturating_sub(started.elapsed()))
    })
    .await
    .expect("invoke waiter");

    // Then the schedule's event, after someone dropped the entry: the bootstrap puts it back and
    // prints the metric record on stdout, a line of its own (what Lambda hands to CloudWatch).
    let cm = h
        .sim
        .config_map("legacy", "kube-system", "aws-auth")
        .expect("aws-auth");
    let mut data = cm["data"].as_object().expect("data").clone();
    let kept: Vec<serde_json::Value> = h
        .map_roles("legacy")
        .into_iter()
        .filter(|e| e["rolearn"] != SERVICE_ROLE)
        .collect();
    data.insert(
        "mapRoles".into(),
        serde_yaml_ng::to_string(&kept).expect("YAML").into(),
    );
    h.sim
        .set_config_map_data("legacy", "kube-system", "aws-auth", Some(data.into()));
    let reconciled = if invoked {
        let again = invoke_file(&root().join("events/reconcile.json"));
        tokio::task::spawn_blocking(move || wait_output(again, Duration::from_secs(60)))
            .await
            .expect("invoke waiter")
            .0
    } else {
        false
    };
    drop(watch);
    let watch_out = std::fs::read_to_string(&log).unwrap_or_default();
    keep_output(
        "cargo-lambda-watch",
        &std::process::Output {
            status: std::process::ExitStatus::default(),
            stdout: watch_out.clone().into_bytes(),
            stderr: invoke_out.clone().into_bytes(),
        },
    );
    assert!(
        invoked,
        "cargo lambda invoke failed: {invoke_out}\nwatch:\n{watch_out}"
    );
    assert!(
        reconciled,
        "cargo lambda invoke of the reconcile failed\nwatch:\n{watch_out}"
    );
    let record = watch_out
        .lines()
        .find(|l| l.starts_with("{\"Cluster\":\"legacy\""))
        .unwrap_or_else(|| panic!("no metric record on its own line; watch:\n{watch_out}"));
    let record: serde_json::Value = serde_json::from_str(record).expect("a JSON record");
    assert_eq!(record["Repaired"], 1, "{record}");
    assert_eq!(
        record["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "EksRoleMapper"
    );

    let answers: Vec<_> = h
        .sim
        .responses()
        .into_iter()
        .filter(|r| r.request_id == request_id)
        .collect();
    assert_eq!(answers.len(), 1, "one answer; watch:\n{watch_out}");
    assert_eq!(
        answers[0].body["Status"], "SUCCESS",
        "{}\nwatch:\n{watch_out}",
        answers[0].body
    );
    let mapped = integration::entries_for(&h.map_roles("legacy"), SERVICE_ROLE)
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(mapped.len(), 1, "aws-auth of legacy: {mapped:?}");
    // (put back by the reconcile)
    assert_eq!(mapped[0]["groups"], serde_json::json!(["system:masters"]));
    // The deadline the runtime sent was read as unknown, not as "already over".
    assert!(
        watch_out.contains("working to a default budget"),
        "watch:\n{watch_out}"
    );
    eprintln!(
        "cargo lambda watch + invoke: SUCCESS in {:.1} s (build included)",
        started.elapsed().as_secs_f64()
    );
}
