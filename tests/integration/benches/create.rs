//! Benchmark (not a test): `cargo bench -p integration --bench create`. Figures, in one run
//! against the same simulator:
//! - wall time of one Create through the mapper's code path vs the seed's Step 2 (kubectl with the
//!   `aws eks get-token` exec plugin, kubectl get, awk, kubectl patch), as a ratio;
//! - HTTP requests per Create on each path, from the simulator's request log;
//! - peak RSS and cold init of the release `bootstrap` binary serving one Create through a local Lambda
//!   runtime API;
//! - time of the pure aws-auth upsert into 1,000 and 10,000 entries;
//! - one resource over 1, 10 and 100 clusters (API and CONFIG_MAP), Create and Delete;
//! - whole `cfn-replay --aws events/create.json` processes (release build) against one running
//!   `eks-sim` process, on the changing path (the entry is added: each run follows a reset of
//!   aws-auth) and on the unchanged path (create.json again), vs the seed's Step 2 on
//!   that same simulator, as ratios: median, p90 and the spread (a Nagle / delayed-ACK stall shows
//!   as a second mode ~40 ms above the first); the time to the process's first output line; and
//!   where a process's time goes (its `cfn_replay::timing` lines).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use integration::{context, scenario_with_clusters, ClientEnv, Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::json;

const RUNS: usize = 5;
/// Runs of each whole-process path.
const PROCESS_RUNS: usize = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median, p90, min and max, and how many runs are 20 ms or more above the median (a stall's
/// second mode).
fn spread(v: &[Duration]) -> String {
    let mut v = v.to_vec();
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    let slow = v.iter().filter(|d| ms(**d) >= ms(at(0.5)) + 20.0).count();
    format!(
        "median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms, runs >= median+20 ms: {slow}/{}",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(v[0]),
        ms(v[v.len() - 1]),
        v.len()
    )
}

async fn ours(h: &Harness, cluster: &str, admin: bool) -> Duration {
    let mut p = json!({ "ClusterName": cluster, "RoleArn": SERVICE_ROLE });
    if admin {
        p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
    }
    let create = h.event("Create", p.clone(), None);
    let start = Instant::now();
    let resp = h.invoke(create).await;
    let took = start.elapsed();
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    let id = resp["PhysicalResourceId"].as_str().unwrap().to_string();
    let _ = eks_role_mapper::handle(
        &h.clients,
        h.event("Delete", p, Some(&id)),
        context(Duration::from_secs(60)),
    )
    .await;
    took
}

fn seed_step_2(env: &ClientEnv) -> Duration {
    let start = Instant::now();
    let o = env.run_seed_step_2(SERVICE_ROLE);
    let took = start.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    took
}

/// Peak RSS of the release `bootstrap` serving one Create through a local Lambda runtime API,
/// and its cold init (process start to its first request for work).
async fn bootstrap_peak_rss(h: &Harness) -> Option<(u64, Duration)> {
    let bin = integration::workspace_bin("bootstrap");
    let mut event = h.event(
        "Create",
        json!({ "ClusterName": "modern", "RoleArn": "arn:aws:iam::111122223333:role/bench-rss" }),
        None,
    );
    let api = eks_sim::runtime_api::RuntimeApi::start(
        "arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper",
    )
    .unwrap();
    // It answers CloudFormation's bucket on S3 only: through the simulator's proxy.
    event["ResponseURL"] =
        eks_sim::receiver::on_s3(event["ResponseURL"].as_str().unwrap_or_default()).into();
    api.push("bench-1", &event);
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), h.sim.ca_pem()).unwrap();
    let (ak, sk) = h.sim.credentials("mapper-lambda-role").unwrap();
    let spawned = Instant::now();
    let mut child = std::process::Command::new(bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "eks-role-mapper")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", h.sim.aws_endpoint_url())
        .env("AWS_CA_BUNDLE", ca.path())
        .env("AWS_ACCESS_KEY_ID", ak)
        .env("AWS_SECRET_ACCESS_KEY", sk)
        .env("HTTPS_PROXY", h.sim.proxy_url())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (answered, init) = tokio::task::spawn_blocking(move || {
        let answered = api.wait_posted(1, Duration::from_secs(60)).len() == 1;
        (answered, api.first_next().map(|t| t - spawned))
    })
    .await
    .unwrap();
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(answered, "bootstrap answered the runtime API");
    assert!(h
        .sim
        .responses()
        .iter()
        .any(|r| r.body["Status"] == "SUCCESS"
            && r.body["RequestId"].as_str().unwrap().contains("create")));
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .zip(init)
}

fn upsert_time(entries: usize) -> Duration {
    let mut text = String::new();
    for i in 0..entries {
        text.push_str(&format!("- rolearn: arn:aws:iam::111122223333:role/node-{i}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups:\n  - system:bootstrappers\n  - system:nodes\n"));
    }
    let data = BTreeMap::from([("mapRoles".to_string(), text)]);
    let role = eks_role_mapper::arn::RoleArn::parse("RoleArn", SERVICE_ROLE).unwrap();
    let groups = vec!["system:masters".to_string()];
    let times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let edit =
                eks_role_mapper::aws_auth::upsert(&data, &role, SERVICE_ROLE, &groups).unwrap();
            let took = start.elapsed();
            assert_eq!(edit.change, eks_role_mapper::aws_auth::Change::Added);
            took
        })
        .collect();
    median(times)
}

#[tokio::main]
async fn main() {
    let h = Harness::start().await;
    let env = ClientEnv::new(&h.sim);

    // Warm both paths once (connection set-up, kubectl discovery cache).
    ours(&h, "legacy", true).await;
    seed_step_2(&env);
    h.sim.set_config_map_data(
        "legacy",
        "kube-system",
        "aws-auth",
        Some(integration::default_aws_auth()),
    );

    let mut our_times = Vec::new();
    let mut seed_times = Vec::new();
    for _ in 0..RUNS {
        our_times.push(ours(&h, "legacy", true).await);
        seed_times.push(seed_step_2(&env));
        h.sim.set_config_map_data(
            "legacy",
            "kube-system",
            "aws-auth",
            Some(integration::default_aws_auth()),
        );
    }
    let (o, s) = (median(our_times), median(seed_times));
    println!(
        "Create on CONFIG_MAP (median of {RUNS}): mapper {o:?}, seed Step 2 {s:?}, ratio {:.1}x",
        s.as_secs_f64() / o.as_secs_f64()
    );

    for (cluster, admin, label) in [
        ("modern", false, "access entry"),
        (
            "legacy",
            false,
            "aws-auth (function's own identity is the creator)",
        ),
        ("legacy", true, "aws-auth with ClusterAdminRoleArn"),
    ] {
        let hh = if admin {
            Harness::start().await
        } else {
            Harness::with(eks_sim::Scenario::default_scenario(), "admin").await
        };
        hh.sim.clear_request_log();
        let mut p = json!({ "ClusterName": cluster, "RoleArn": SERVICE_ROLE });
        if admin {
            p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
        }
        let resp = hh.invoke(hh.event("Create", p, None)).await;
        assert_eq!(resp["Status"], "SUCCESS");
        let ops: Vec<String> = hh.sim.request_log().into_iter().map(|r| r.op).collect();
        println!("HTTP requests per Create, {label}: {} {ops:?}", ops.len());
    }

    match bootstrap_peak_rss(&h).await {
        Some((kb, init)) => println!(
            "bootstrap (release) peak RSS for one Create: {:.1} MiB; cold init (start to its first request for work): {:.1} ms",
            kb as f64 / 1024.0,
            init.as_secs_f64() * 1000.0
        ),
        None => println!("bootstrap peak RSS: /proc not readable"),
    }

    whole_processes();

    let t1 = upsert_time(1_000);
    let t10 = upsert_time(10_000);
    println!("aws-auth upsert (median of {RUNS}): 1,000 entries {t1:?}, 10,000 entries {t10:?}, growth {:.1}x for 10x entries", t10.as_secs_f64() / t1.as_secs_f64());

    for mode in ["API", "CONFIG_MAP"] {
        for n in [1, 10, 100] {
            let (create, delete) = many_clusters(n, mode).await;
            println!("one resource over {n} {mode} clusters (median of {RUNS}): Create {create:?}, Delete {delete:?}");
        }
    }
}

/// Create and Delete of one resource naming `n` clusters, each run on a fresh simulator.
async fn many_clusters(n: usize, mode: &str) -> (Duration, Duration) {
    let names: Vec<String> = (0..n).map(|i| format!("c-{i:03}")).collect();
    let p = json!({ "ClusterName": names.join(","), "RoleArn": SERVICE_ROLE, "ClusterAdminRoleArn": ADMIN_ROLE });
    let (mut creates, mut deletes) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let h = Harness::with(scenario_with_clusters(n, mode), "mapper-lambda-role").await;
        let start = Instant::now();
        let resp = h.invoke(h.event("Create", p.clone(), None)).await;
        creates.push(start.elapsed());
        assert_eq!(resp["Status"], "SUCCESS", "{resp}");
        assert_eq!(resp["Data"]["Clusters"], n.to_string());
        let id = resp["PhysicalResourceId"].as_str().unwrap().to_string();
        let start = Instant::now();
        let resp = h.invoke(h.event("Delete", p.clone(), Some(&id))).await;
        deletes.push(start.elapsed());
        assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    }
    (median(creates), median(deletes))
}

/// The `eks-sim` binary serving until dropped.
struct SimProcess(std::process::Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One whole process: (wall time, time to its first output line, stdout, stderr).
fn timed_process(mut cmd: std::process::Command) -> (Duration, Duration, String, String) {
    use std::process::Stdio;
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cfn-replay starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut err = String::new();
    stderr.read_line(&mut err).expect("first line");
    let first = start.elapsed();
    stderr.read_to_string(&mut err).expect("stderr");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("stdout");
    let status = child.wait().expect("cfn-replay ends");
    let took = start.elapsed();
    assert!(status.success(), "cfn-replay failed: {out}\n{err}");
    assert!(out.contains(r#""Status":"SUCCESS""#), "{out}\n{err}");
    (took, first, out, err)
}

/// The number after `key=` in a tracing line (colours or not).
fn field(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    let rest = rest
        .trim_start_matches(|c| c != '=')
        .trim_start_matches('=');
    let rest = rest.strip_prefix("\u{1b}[0m").unwrap_or(rest);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Whole `cfn-replay --aws` processes against one `eks-sim` process, and the seed's Step 2 there.
fn whole_processes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Optimised builds of both, from the profile this benchmark was built with (release).
    let profile_dir = std::env::current_exe()
        .expect("bench exe")
        .parent()
        .and_then(std::path::Path::parent)
        .expect("profile dir")
        .to_path_buf();
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "cfn-replay",
            "-p",
            "eks-sim",
        ])
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "cargo build --release -p cfn-replay -p eks-sim"
    );
    let (replay, sim_bin) = (profile_dir.join("cfn-replay"), profile_dir.join("eks-sim"));

    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = std::process::Command::new(&sim_bin)
        .arg("--out")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("eks-sim starts");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("eks-sim output");
    let _sim = SimProcess(child);
    assert_eq!(ready.trim(), "ready");
    let env = ClientEnv::from_out_dir(dir);
    let kubectl = integration::kubectl();
    let default_data = json!({ "data": integration::default_aws_auth() }).to_string();
    let reset = || {
        let o = env.kubectl(
            &kubectl,
            &[
                "patch",
                "configmap",
                "aws-auth",
                "-n",
                "kube-system",
                "--type",
                "merge",
                "-p",
                &default_data,
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let replay_cmd = |event: &str, log: Option<&str>| {
        let mut c = env.command(&replay);
        c.current_dir(&root)
            .args(["--aws", event])
            .env_remove("RUST_LOG");
        if let Some(filter) = log {
            c.env("RUST_LOG", filter);
        }
        c
    };

    // Warm-up round, checked: the first create adds the entry, the second finds it (the mapper's
    // own log lines say which). No Delete is replayed: the function takes one only while
    // CloudFormation holds the resource in DELETE_IN_PROGRESS (a replayed Delete while the stack
    // rests is refused), so aws-auth is put back as it was instead (`reset`).
    let info = Some("eks_role_mapper=info");
    let logged = |err: &str, message: &str, value: &str| {
        err.lines()
            .any(|l| l.contains(message) && l.contains(value))
    };
    let (_, _, _, err) = timed_process(replay_cmd("events/create.json", info));
    assert!(logged(&err, "aws-auth written", "Added"), "{err}");
    let (_, _, _, err) = timed_process(replay_cmd("events/create.json", info));
    assert!(logged(&err, "aws-auth written", "Unchanged"), "{err}");
    assert!(seed_step_2(&env) > Duration::ZERO);
    reset();

    let (mut changing, mut unchanged, mut firsts, mut seed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PROCESS_RUNS {
        let (took, first, _, _) = timed_process(replay_cmd("events/create.json", None));
        changing.push(took);
        firsts.push(first);
        let (took, first, _, _) = timed_process(replay_cmd("events/create.json", None));
        unchanged.push(took);
        firsts.push(first);
        seed.push(seed_step_2(&env));
        reset();
    }
    let s = median(seed.clone());
    let ratio = |v: &[Duration]| s.as_secs_f64() / median(v.to_vec()).as_secs_f64();
    println!("whole cfn-replay --aws events/create.json processes vs the seed's Step 2, one eks-sim process, {PROCESS_RUNS} runs each:");
    println!(
        "  changing path (entry added): {}; {:.0}x faster than the seed",
        spread(&changing),
        ratio(&changing)
    );
    println!(
        "  unchanged path (entry there): {}; {:.0}x faster than the seed",
        spread(&unchanged),
        ratio(&unchanged)
    );
    println!("  seed Step 2: {}", spread(&seed));
    println!("  process start to first output line: {}", spread(&firsts));

    // Where one process's time goes: its own timing lines, over the unchanged path.
    let keys = ["rng_seed_ms", "receiver_ms", "clients_ms", "handler_ms"];
    let mut parts: Vec<Vec<f64>> = vec![Vec::new(); keys.len()];
    let mut wall = Vec::new();
    for _ in 0..PROCESS_RUNS / 2 {
        let (took, _, _, err) = timed_process(replay_cmd(
            "events/create.json",
            Some("cfn_replay::timing=debug"),
        ));
        wall.push(took);
        for (i, k) in keys.iter().enumerate() {
            let v = err
                .lines()
                .find_map(|l| field(l, k))
                .unwrap_or_else(|| panic!("{k} in {err}"));
            parts[i].push(v);
        }
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let shown: Vec<String> = keys
        .iter()
        .zip(parts)
        .map(|(k, v)| format!("{} {:.1} ms", k.trim_end_matches("_ms"), med(v)))
        .collect();
    println!(
        "  one process (median of {}, whole {:.1} ms): {}; the rest is exec, loading and exit",
        PROCESS_RUNS / 2,
        median(wall).as_secs_f64() * 1000.0,
        shown.join(", ")
    );
}
