//! Benchmark (not a test): `cargo bench -p integration --bench reconcile`. A scheduled reconcile
//! with nothing to repair, over 1, 10 and 100 clusters (API: access entries; CONFIG_MAP: aws-auth
//! through the Kubernetes API), in one run against the simulator over HTTPS: its wall time
//! (median of a few runs), the calls it makes per cluster (from the simulator's request log, by
//! operation), and its time as a ratio to the Create that made the grant on the same clusters.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eks_role_mapper::reconcile::Outcome;
use integration::{scenario_with_clusters, Harness, ADMIN_ROLE, SERVICE_ROLE};
use serde_json::json;

const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!("reconcile with nothing to repair (median of {RUNS}); calls per cluster by operation");
    for mode in ["API", "CONFIG_MAP"] {
        for n in [1usize, 10, 100] {
            let h = Harness::with(scenario_with_clusters(n, mode), "mapper-lambda-role").await;
            let names: Vec<String> = (0..n).map(|i| format!("c-{i:03}")).collect();
            let mut p = json!({ "ClusterName": names.join(","), "RoleArn": SERVICE_ROLE });
            if mode == "CONFIG_MAP" {
                p["ClusterAdminRoleArn"] = json!(ADMIN_ROLE);
            }
            let started = Instant::now();
            let created = h.invoke(h.event("Create", p.clone(), None)).await;
            let create_took = started.elapsed();
            assert_eq!(created["Status"], "SUCCESS", "{created}");
            let id = created["PhysicalResourceId"].as_str().unwrap().to_string();
            let event = h.reconcile_event(&p, &id);
            let mut times = Vec::new();
            let mut calls: BTreeMap<String, usize> = BTreeMap::new();
            for run in 0..RUNS {
                h.sim.clear_request_log();
                let started = Instant::now();
                let report = h.reconcile(&event).await;
                times.push(started.elapsed());
                assert_eq!(report.clusters.len(), n);
                assert!(
                    report
                        .clusters
                        .iter()
                        .all(|c| c.outcome == Outcome::Unchanged),
                    "{report:?}"
                );
                let log = h.sim.request_log();
                assert!(
                    log.iter().all(|r| r.method == "GET"
                        || !(r.op.starts_with("eks:") || r.op.starts_with("k8s:"))),
                    "a reconcile with nothing to repair only reads: {log:?}"
                );
                if run == 0 {
                    for r in log {
                        *calls.entry(r.op).or_default() += 1;
                    }
                }
            }
            let total: usize = calls.values().sum();
            let per: Vec<String> = calls
                .iter()
                .map(|(op, c)| format!("{op} {:.2}", *c as f64 / n as f64))
                .collect();
            let m = median(times);
            println!(
                "{mode:>10} {n:>3} clusters: {:.1} ms ({:.2} ms a cluster), {:.2} calls a cluster [{}]; Create {:.1} ms, reconcile/Create = {:.2}",
                ms(m),
                ms(m) / n as f64,
                total as f64 / n as f64,
                per.join(", "),
                ms(create_took),
                ms(m) / ms(create_took),
            );
        }
    }
}
