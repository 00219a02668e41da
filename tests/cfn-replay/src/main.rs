//! `cfn-replay [options] EVENT.json...`: see `--help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cfn_replay::{account, clients_for, lambda_context, prepare, read_event};

const USAGE: &str = "usage: cfn-replay [--scenario FILE] [--state-out FILE] [--dry-run] [--aws] [--no-chain] EVENT.json...

Replays CloudFormation custom-resource events through the mapper's handler against the embedded
simulator (default scenario unless --scenario), and prints each CloudFormation response as one JSON
line on stdout, with an account of the changes on stderr.
  --scenario FILE   simulator scenario (YAML or JSON)
  --state-out FILE  write the simulator's final state as JSON
  --dry-run         print the calls and the aws-auth diff; write nothing
  --aws             real AWS endpoints and credentials (standard chain); the response is caught locally
  --no-chain        keep each event's PhysicalResourceId instead of the previous answer's
Exit: 0 all SUCCESS, 1 any FAILED, 2 usage error.";

struct Options {
    scenario: Option<PathBuf>,
    state_out: Option<PathBuf>,
    dry_run: bool,
    aws: bool,
    chain: bool,
    events: Vec<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        scenario: None,
        state_out: None,
        dry_run: false,
        aws: false,
        chain: true,
        events: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scenario" => o.scenario = Some(args.next().ok_or("--scenario needs a file")?.into()),
            "--state-out" => {
                o.state_out = Some(args.next().ok_or("--state-out needs a file")?.into())
            }
            "--dry-run" => o.dry_run = true,
            "--aws" => o.aws = true,
            "--no-chain" => o.chain = false,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => o.events.push(a.into()),
        }
    }
    if o.events.is_empty() {
        return Err("no event files given".into());
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let opts = match parse_args() {
        Ok(o) => o,
        Err(m) if m.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(m) => {
            eprintln!("cfn-replay: {m}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(opts).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cfn-replay: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(opts: Options) -> anyhow::Result<ExitCode> {
    let mut events = Vec::new();
    for path in &opts.events {
        match read_event(path) {
            Ok(e) => events.push(e),
            Err(m) => {
                eprintln!("cfn-replay: {m}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let scenario = match &opts.scenario {
        Some(p) => eks_sim::Scenario::from_file(p)?,
        None if opts.aws => {
            eks_sim::Scenario::parse("account: \"000000000000\"\nregion: us-east-1\n")?
        }
        None => eks_sim::Scenario::default_scenario(),
    };
    // With --aws the simulator serves only as the local response receiver.
    let sim = eks_sim::Simulator::start(scenario).await?;
    let clients = if opts.aws {
        eks_role_mapper::Clients::new(
            aws_config::defaults(aws_config::BehaviorVersion::latest()),
            Some(sim.ca_pem().into_bytes()),
            true,
        )
        .await?
    } else {
        clients_for(&sim, "mapper-lambda-role").await?
    };
    if !opts.aws {
        eprintln!(
            "simulator: AWS at {}, responses caught locally",
            sim.aws_endpoint_url()
        );
    }
    let mut previous: Option<String> = None;
    let mut all_ok = true;
    for (path, mut event) in opts.events.iter().zip(events) {
        let request_id = event["RequestId"].as_str().unwrap_or("replay").to_string();
        prepare(
            &mut event,
            sim.response_url(&request_id),
            if opts.chain {
                previous.as_deref()
            } else {
                None
            },
        );
        eprintln!(
            "== {} ({} {})",
            path.display(),
            event["RequestType"].as_str().unwrap_or("?"),
            event["ResourceProperties"]["ClusterName"]
                .as_str()
                .unwrap_or("?")
        );
        if opts.dry_run {
            match eks_role_mapper::plan(&clients, event).await {
                Ok(plan) => {
                    eprint!("{plan}");
                    println!("{}", serde_json::to_string(&plan)?);
                }
                Err(e) => {
                    eprintln!("would fail: {e}");
                    println!(
                        "{}",
                        serde_json::json!({ "Status": "FAILED", "Reason": e.to_string() })
                    );
                    all_ok = false;
                }
            }
            continue;
        }
        let before = sim.state_json();
        let seen = sim.responses().len();
        let _ = eks_role_mapper::handle(
            &clients,
            event,
            lambda_context(&request_id, Duration::from_secs(120)),
        )
        .await;
        let responses = sim.responses();
        let Some(resp) = responses.get(seen) else {
            eprintln!("no response was sent for {}", path.display());
            all_ok = false;
            continue;
        };
        println!("{}", serde_json::to_string(&resp.body)?);
        if resp.body["Status"] != "SUCCESS" {
            all_ok = false;
            eprintln!(
                "FAILED: {}",
                resp.body["Reason"].as_str().unwrap_or_default()
            );
        }
        if !opts.aws {
            eprint!("{}", account(&before, &sim.state_json()));
        }
        previous = resp.body["PhysicalResourceId"].as_str().map(str::to_string);
    }
    if let Some(p) = &opts.state_out {
        std::fs::write(p, serde_json::to_string_pretty(&sim.state_json())?)?;
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
