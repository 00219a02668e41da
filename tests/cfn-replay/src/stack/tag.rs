//! `--then tag FILE`: another principal allowed `eks:TagResource` (the scenario's `admin`, the
//! clusters' creator) writes tags on a role's access entry, outside CloudFormation and the
//! function: the records the function keeps in an entry's tags (what an adopted entry held, who
//! made it) are then whatever that principal wrote.
//!
//! FILE: `{"ClusterName": "...", "PrincipalArn": "...", "Tags": {"key": "value", ...}}`, with the
//! placeholders of `--then invoke` (`{{RoleArn}}`, `{{Owner}}`, ...) replaced by the stack's values.

use std::path::Path;

use serde_json::{json, Value};

use super::invoke::{event_of, placeholders, At};
use super::Lifecycle;
use crate::error::{Error, Result};
use crate::lambda;

/// The scenario principal that tags: it made the clusters, and no policy of the stack binds it.
const TAGGER: &str = "admin";

/// One tag step: its line (`Step`, `Action`, `StackStatus`, `AccessEntryArn` and `Tagged`, the
/// keys written, or `Error`).
pub(super) async fn step(
    life: &mut Lifecycle<'_>,
    n: usize,
    action: String,
    path: &Path,
    at: At<'_>,
) -> Result<Value> {
    let file = event_of(path, &placeholders(&at, ""))?;
    let field = |k: &str| {
        file.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::EventFile {
                path: path.to_path_buf(),
                message: format!("{k}: expected a string"),
            })
    };
    let (cluster, principal) = (field("ClusterName")?, field("PrincipalArn")?);
    let tags: Vec<(String, String)> = file
        .get("Tags")
        .and_then(Value::as_object)
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut line = json!({"Step": n, "Action": action, "StackStatus": at.stack_status});
    let eks = lambda::sim_clients(life.sim, TAGGER)
        .await?
        .eks(&life.region);
    let entry = eks
        .describe_access_entry()
        .cluster_name(&cluster)
        .principal_arn(&principal)
        .send()
        .await;
    let arn = match entry
        .as_ref()
        .ok()
        .and_then(|e| e.access_entry())
        .and_then(|e| e.access_entry_arn())
    {
        Some(arn) => arn.to_string(),
        None => {
            line["Error"] = json!(format!(
                "no access entry of {principal} on {cluster}: {:?}",
                entry.err()
            ));
            return Ok(line);
        }
    };
    let mut request = eks.tag_resource().resource_arn(&arn);
    for (k, v) in &tags {
        request = request.tags(k, v);
    }
    line["AccessEntryArn"] = json!(arn);
    match request.send().await {
        Ok(_) => line["Tagged"] = json!(tags.iter().map(|(k, _)| k).collect::<Vec<_>>()),
        Err(e) => line["Error"] = json!(format!("TagResource: {e:?}")),
    }
    Ok(line)
}
