//! `cfn-replay [OPTIONS] EVENT.json...`: see `--help`. Exit 0 all SUCCESS, 1 any FAILED, 2 usage.

use std::process::ExitCode;

use cfn_replay::cli::{self, Command, USAGE};
use cfn_replay::Outcome;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .finish()
        .with(eks_role_mapper::logging::filter("warn"))
        .init();
    if std::env::args_os().nth(1).is_some_and(|a| a == "stack") {
        return cfn_replay::stack::main(std::env::args_os().skip(2)).await;
    }
    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Replay(o)) => o,
        Err(e) => {
            eprintln!("cfn-replay: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cfn_replay::run(&opts, &mut std::io::stdout(), &mut std::io::stderr()).await {
        Ok(Outcome::AllSucceeded) => ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cfn-replay: {e}");
            ExitCode::from(2)
        }
    }
}
