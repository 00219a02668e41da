//! `cfn-replay [OPTIONS] EVENT.json...` and `cfn-replay stack ...`: see `--help`. Exit 0 all
//! SUCCESS, 1 any FAILED, 2 usage (one line on stderr).

use std::process::ExitCode;

use cfn_replay::cli::{self, Command};
use cfn_replay::Outcome;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> ExitCode {
    // The replay prints each Reason itself: the function's own "request failed" warning would say
    // it a second time; off AWS, IMDS's failure to give a region is a debug dump, and the replay
    // says the same in one line (RUST_LOG still shows either when asked for).
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .finish()
        .with(eks_role_mapper::logging::filter(
            "warn,eks_role_mapper::protocol=error,aws_config::imds=error",
        ))
        .init();
    let opts = match cli::parse(std::env::args_os()) {
        Ok(Command::Print(text)) => {
            print!("{}", text.trim_end_matches('\n').to_string() + "\n");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Stack(o)) => return cfn_replay::stack::main(o).await,
        Ok(Command::Replay(o)) => o,
        Err(e) => {
            eprintln!("cfn-replay: {e}");
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
