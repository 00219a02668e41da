//! Benchmark (not a test): `cargo bench -p integration --bench create`. Figures, in one run
//! against the same simulator:
//! - wall time of one Create through the mapper's code path vs the seed's Step 2 (kubectl with the
//!   `aws eks get-token` exec plugin, kubectl get, awk, kubectl patch), as a ratio;
//! - HTTP requests per Create on each path, from the simulator's request log;
//! - peak RSS of the release `bootstrap` binary serving one Create through a local Lambda
//!   runtime API;
//! - time of the pure aws-auth upsert into 1,000 and 10,000 entries;
//! - one resource over 1, 10 and 100 clusters (API and CONFIG_MAP), Create and Delete.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use integration::{context, scenario_with_clusters, ClientEnv, Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::{json, Value};

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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

/// A minimal Lambda runtime API: hands out one event, records the answer, then holds `next`.
fn runtime_api(event: Value) -> (u16, std::sync::mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut served = false;
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            if first.starts_with("GET") && first.contains("/invocation/next") {
                if served {
                    std::thread::sleep(Duration::from_secs(3600));
                    continue;
                }
                served = true;
                let payload = event.to_string();
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 60_000;
                let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: bench-1\r\nlambda-runtime-deadline-ms: {deadline}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:111122223333:function:eks-role-mapper\r\ncontent-length: {}\r\n\r\n{payload}", payload.len());
            } else {
                let _ = write!(
                    stream,
                    "HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{{}}"
                );
                if first.contains("/response") || first.contains("/error") {
                    let _ = done_tx.send(());
                }
            }
        }
    });
    (port, done_rx)
}

async fn bootstrap_peak_rss(h: &Harness) -> Option<u64> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "eks-role-mapper",
            "--bin",
            "bootstrap",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let bin = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release/bootstrap");
    let event = h.event(
        "Create",
        json!({ "ClusterName": "modern", "RoleArn": "arn:aws:iam::111122223333:role/bench-rss" }),
        None,
    );
    let (port, done) = runtime_api(event);
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), h.sim.ca_pem()).unwrap();
    let (ak, sk) = h.sim.credentials("mapper-lambda-role").unwrap();
    let mut child = std::process::Command::new(bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
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
        .env("EKS_ROLE_MAPPER_ALLOW_LOOPBACK_RESPONSE_URL", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let answered =
        tokio::task::spawn_blocking(move || done.recv_timeout(Duration::from_secs(60)).is_ok())
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
        Some(kb) => println!(
            "bootstrap (release) peak RSS for one Create: {:.1} MiB",
            kb as f64 / 1024.0
        ),
        None => println!("bootstrap peak RSS: /proc not readable"),
    }

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
