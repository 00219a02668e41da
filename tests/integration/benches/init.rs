//! Cold init of the mapper's `bootstrap` under AWS's Lambda Runtime Interface Emulator, against a
//! Rust hello-world bootstrap (`src/bin/hello-bootstrap.rs`) in the same run: the emulator's
//! `INIT REPORT(durationMs)`, from starting the process to its first poll of the runtime API's
//! `next` (what Lambda bills as Init Duration). Each sample is a fresh emulator and process.
//!
//! `cargo bench -p integration --bench init` (release builds of both; the emulator from
//! `tests/control-plane/build aws-lambda-rie`). `INIT_BENCH_BASELINE=PATH` adds another build of
//! the mapper's bootstrap (an older commit's) to the same run, samples interleaved, and its ratio.

use integration::Rie;

const SAMPLES: usize = 20;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "").unwrap();
    // What a Lambda's environment gives the function (credentials, region, name, timeout).
    let env = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIAINITBENCH0000001".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "init-bench-secret".to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "eks-role-mapper".to_string()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "30".to_string()),
        ("HOME", dir.path().display().to_string()),
    ];
    let mut bins = vec![
        (
            "eks-role-mapper bootstrap",
            integration::workspace_bin("bootstrap"),
        ),
        (
            "hello-world bootstrap",
            integration::workspace_bin("hello-bootstrap"),
        ),
    ];
    if let Some(baseline) = std::env::var_os("INIT_BENCH_BASELINE") {
        bins.push(("baseline bootstrap", baseline.into()));
    }
    // Interleaved: a drift of the machine during the run falls on every binary alike.
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); bins.len()];
    for _ in 0..SAMPLES {
        for ((_, bin), samples) in bins.iter().zip(&mut all) {
            let rie = Rie::start(bin, &env);
            // Any event: the init is over before the handler runs.
            let _ = rie.invoke(&serde_json::json!({}));
            samples.push(
                rie.init_ms()
                    .unwrap_or_else(|| panic!("no INIT REPORT:\n{}", rie.log())),
            );
        }
    }
    let mut results = Vec::new();
    for ((name, _), samples) in bins.iter().zip(all) {
        let m = median(samples.clone());
        let max = samples.iter().cloned().fold(0.0, f64::max);
        let min = samples.iter().cloned().fold(f64::MAX, f64::min);
        println!(
            "{name}: init median {m:.2} ms (min {min:.2}, max {max:.2}, {SAMPLES} cold starts)"
        );
        results.push(m);
    }
    println!("ratio mapper / hello-world: {:.2}", results[0] / results[1]);
    if let Some(baseline) = results.get(2) {
        println!("ratio mapper / baseline: {:.2}", results[0] / baseline);
    }
}
