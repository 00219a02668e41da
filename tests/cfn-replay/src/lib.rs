//! `cfn-replay`: replays CloudFormation custom-resource events through the mapper's real handler,
//! as Lambda would invoke it, against the embedded simulator (or real AWS with `--aws`), and
//! catches the response locally. The README's main command:
//! `cargo run -p cfn-replay -- events/create.json`.

pub mod account;
pub mod cli;
pub mod error;
pub mod event_file;
pub mod lambda;
pub mod parameters;
pub mod rendered;
pub mod replay;
pub mod stack;
pub mod stack_args;
mod stack_calls;
mod stack_resource;

pub use error::{Error, Result};
/// The mapper's clients for a simulator principal (also used by the integration tests' harness).
pub use lambda::sim_clients as clients_for;
pub use replay::{run, Outcome};
