//! A Rust hello-world Lambda (`lambda_runtime` answering `{}`): the baseline the init benchmark
//! (`benches/init.rs`) holds the mapper's bootstrap to, under the same runtime emulator.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, lambda_runtime::Error>(serde_json::json!({}))
    }))
    .await
}
