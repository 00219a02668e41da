//! moto's server as a second EKS implementation: DescribeCluster and ListClusters answers from it
//! and from the simulator must agree on the name and JSON type of every field both return.

use integration::{aws_cli, start_moto, text, ClientEnv};
use serde_json::Value;

/// Every path present in both documents must have the same JSON type; returns the one-sided ones.
fn compare(path: &str, a: &Value, b: &Value, only: &mut Vec<String>) {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert_eq!(kind(a), kind(b), "{path}: simulator has {a}, moto has {b}");
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => compare(&format!("{path}.{k}"), v, w, only),
                    None => only.push(format!("simulator only: {path}.{k}")),
                }
            }
            only.extend(
                y.keys()
                    .filter(|k| !x.contains_key(*k))
                    .map(|k| format!("moto only: {path}.{k}")),
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            if let (Some(v), Some(w)) = (x.first(), y.first()) {
                compare(&format!("{path}[0]"), v, w, only);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn moto_and_the_simulator_agree_on_describe_cluster_and_list_clusters() {
    let sim = eks_sim::Simulator::start(eks_sim::Scenario::default_scenario())
        .await
        .unwrap();
    let env = ClientEnv::new(&sim);
    let (_moto, moto_url) = start_moto();
    let aws = |endpoint: Option<&str>, args: &[&str]| -> Value {
        let mut c = env.command(aws_cli());
        if let Some(e) = endpoint {
            c.args(["--endpoint-url", e]);
        }
        let o = c.args(args).args(["--output", "json"]).output().unwrap();
        assert!(o.status.success(), "{args:?}: {:?}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    aws(
        Some(&moto_url),
        &[
            "eks",
            "create-cluster",
            "--name",
            "legacy",
            "--role-arn",
            "arn:aws:iam::111122223333:role/eks-cluster-role",
            "--resources-vpc-config",
            "subnetIds=subnet-0a1b2c3d",
        ],
    );
    let mut only = Vec::new();
    let ours = aws(None, &["eks", "describe-cluster", "--name", "legacy"]);
    let theirs = aws(
        Some(&moto_url),
        &["eks", "describe-cluster", "--name", "legacy"],
    );
    compare("DescribeCluster", &ours, &theirs, &mut only);
    let ours = aws(None, &["eks", "list-clusters"]);
    let theirs = aws(Some(&moto_url), &["eks", "list-clusters"]);
    compare("ListClusters", &ours, &theirs, &mut only);
    for line in &only {
        eprintln!("{line}");
    }
    assert!(ours["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "legacy"));
}
