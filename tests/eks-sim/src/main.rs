//! `eks-sim --scenario FILE --out DIR [--state-out FILE]`: serves the simulator until killed.

use std::path::PathBuf;

use anyhow::Context;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // RUST_LOG as a list of `target=level` directives (a Targets filter: no regex engine in the
    // builds that link the simulator, the replay's among them).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .finish()
        .with(filter)
        .init();
    let (mut scenario, mut out, mut state_out) = (None, None, None);
    let mut options = eks_sim::Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--scenario" => scenario = Some(PathBuf::from(value("--scenario")?)),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--state-out" => state_out = Some(PathBuf::from(value("--state-out")?)),
            "--real-control-plane" => options.real_control_plane = true,
            "-h" | "--help" => {
                println!("usage: eks-sim [--scenario FILE] [--real-control-plane] --out DIR [--state-out FILE]\n\n--real-control-plane: serve each CONFIG_MAP cluster's Kubernetes API from a real etcd,\n  kube-apiserver and aws-iam-authenticator (built by tests/control-plane/build)\nDIR gets kubeconfig, env, proxy.env, ca.pem, and as/ROLE.env: a session of each scenario role");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other} (see --help)"),
        }
    }
    let out = out.context("--out DIR is required (see --help)")?;
    let scenario = match scenario {
        Some(p) => eks_sim::Scenario::from_file(&p)?,
        None => eks_sim::Scenario::default_scenario(),
    };
    let sim = eks_sim::Simulator::start_with(scenario, options).await?;
    sim.write_out_dir(&out)?;
    eprintln!(
        "serving AWS at {}; files in {}",
        sim.aws_endpoint_url(),
        out.display()
    );
    for (name, version) in sim.real_clusters() {
        eprintln!("cluster {name}: kube-apiserver {version}");
    }
    println!("ready");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    if let Some(p) = state_out {
        std::fs::write(&p, serde_json::to_string_pretty(&sim.state_json())?)?;
    }
    Ok(())
}
