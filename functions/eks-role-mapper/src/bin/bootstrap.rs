//! The Lambda entry point: JSON logs, clients built once, then the runtime loop.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .json()
        .with_current_span(true)
        .without_time()
        .finish()
        .with(eks_role_mapper::logging::filter("info"))
        .init();
    let clients = eks_role_mapper::Clients::from_env().await?;
    let clients = &clients;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        eks_role_mapper::handle(clients, event.payload, event.context).await
    }))
    .await
}
