//! The Lambda entry point: JSON logs, clients built once, then the runtime loop.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What `bootstrap --help` prints. Lambda starts the bootstrap with no argument; a person who
/// runs it to see what it is gets this, before the runtime (which needs Lambda's environment and
/// panicked without AWS_LAMBDA_FUNCTION_NAME) or any client starts.
const USAGE: &str = "\
usage: bootstrap        (run by AWS Lambda, provided.al2023 runtime; no arguments)

The eks-role-mapper function: the CloudFormation custom resource that grants an IAM role access to
EKS clusters. Lambda runs it with the runtime API's environment (AWS_LAMBDA_RUNTIME_API,
AWS_LAMBDA_FUNCTION_NAME, ...); it answers each CloudFormation request at its ResponseURL.
To try it without AWS: cargo run -p cfn-replay -- --help (README.md).
";

fn main() -> Result<(), lambda_runtime::Error> {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return Ok(());
    }
    serve()
}

#[tokio::main]
async fn serve() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .json()
        .with_current_span(true)
        .without_time()
        .finish()
        .with(eks_role_mapper::logging::filter("info"))
        .init();
    // Never fails: a configuration the function cannot use is answered FAILED per request.
    let clients = eks_role_mapper::Clients::from_env().await;
    let clients = &clients;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        eks_role_mapper::handle(clients, event.payload, event.context).await
    }))
    .await
}
