//! `cfn-replay stack ...` as a command: its exit status, and `--state-out`.

use serde_json::Value;

use eks_sim::Simulator;

use super::{run, StackOptions};

/// `cfn-replay stack ...`: exit 0 every step completed cleanly, 1 otherwise, 2 usage or setup.
/// With `state_out`, the simulator's state after the last step is written there, as the event
/// replay's `--state-out` writes it.
pub async fn main(
    opts: StackOptions,
    state_out: Option<std::path::PathBuf>,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    if let Some(dir) = &opts.venv {
        crate::rendered::use_venv(dir.clone());
    }
    let mut last: Option<Value> = None;
    let mut keep = |_: usize, sim: &Simulator| {
        if state_out.is_some() {
            last = Some(sim.state_json());
        }
    };
    let ran = run(
        &opts,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        &mut keep,
    )
    .await;
    if let (Some(path), Some(state), Ok(_)) = (&state_out, &last, &ran) {
        let text = serde_json::to_string_pretty(state).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("cfn-replay stack: --state-out {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    match ran {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("cfn-replay stack: {e}");
            ExitCode::from(2)
        }
    }
}
