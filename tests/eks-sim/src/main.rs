//! `eks-sim [--scenario FILE] --out DIR [--state-out FILE]`: serves the simulator until killed.
//! Exit 0 stopped, 1 the simulator failed, 2 usage (one line, as cfn-replay).

use std::path::PathBuf;
use std::process::ExitCode;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const HELP: &str = "\
usage: eks-sim [--scenario FILE] [--real-control-plane] --out DIR [--state-out FILE]

Serves the simulator of EKS, STS, the clusters' Kubernetes APIs and the CloudFormation response
endpoint on loopback until killed (Ctrl-C or SIGTERM); prints \"ready\" once it listens.

Options:
  --scenario FILE         the scenario, YAML or JSON (default: tests/eks-sim/scenarios/default.yaml)
  --out DIR               gets kubeconfig, env, proxy.env, ca.pem, and as/ROLE.env: a session of
                          each scenario role
  --state-out FILE        the simulator's state as JSON, written when it stops
  --real-control-plane    serve each CONFIG_MAP cluster's Kubernetes API from a real etcd,
                          kube-apiserver and aws-iam-authenticator (tests/control-plane/build)
  -h, --help              this text
  -V, --version           the version

Exit status: 0 stopped, 1 the simulator failed, 2 usage.";

fn command() -> clap::Command {
    let path = |name: &'static str, value: &'static str| {
        clap::Arg::new(name)
            .long(name)
            .value_name(value)
            .value_parser(clap::value_parser!(PathBuf))
    };
    clap::Command::new("eks-sim")
        .version(env!("CARGO_PKG_VERSION"))
        .override_help(HELP)
        .arg(path("scenario", "FILE"))
        .arg(path("out", "DIR").required(true))
        .arg(path("state-out", "FILE"))
        .arg(
            clap::Arg::new("real-control-plane")
                .long("real-control-plane")
                .action(clap::ArgAction::SetTrue),
        )
}

/// A usage error: one line on stderr, exit 2 (no backtrace, no usage block).
fn usage(message: &str) -> ExitCode {
    eprintln!("eks-sim: {message} (see --help)");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let m = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                print!("{}", e.render());
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = message.join(" ");
            return usage(message.strip_prefix("error: ").unwrap_or(&message));
        }
    };
    let out = m.get_one::<PathBuf>("out").cloned().unwrap_or_default();
    let state_out = m.get_one::<PathBuf>("state-out").cloned();
    if let Some(p) = &state_out {
        let folder = p.parent().filter(|f| !f.as_os_str().is_empty());
        if folder.is_some_and(|f| !f.is_dir()) {
            return usage(&format!(
                "--state-out {}: the folder does not exist",
                p.display()
            ));
        }
    }
    let options = eks_sim::Options {
        real_control_plane: m.get_flag("real-control-plane"),
    };
    match serve(
        m.get_one::<PathBuf>("scenario").cloned(),
        out,
        state_out,
        options,
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eks-sim: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(
    scenario: Option<PathBuf>,
    out: PathBuf,
    state_out: Option<PathBuf>,
    options: eks_sim::Options,
) -> anyhow::Result<()> {
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
