//! The requests IAM evaluates beside an EKS call's own, each of which must be allowed too.

use serde_json::{json, Value};

use super::{entry_uuid, strings};
use crate::http::Req;
use crate::iam::{access_entry_arn, Request};
use crate::state::World;

/// The further requests IAM evaluates for an EKS call, each of which must be allowed too:
///
/// - CreateAccessEntry with tags also authorizes `eks:TagResource` on the entry it creates, with
///   the request's tag keys and no key of the entry, which does not exist yet ("tag on create":
///   <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html#access_tags_control-requests>;
///   the reference lists eks:TagResource on access-entry with aws:TagKeys and
///   aws:RequestTag/${TagKey}).
/// - UpdateAccessEntry: the reference gives it no keys of its own, so eks:kubernetesGroups and
///   eks:username are the access-entry resource's, the entry as it stands (the primary request);
///   whether EKS evaluates the request's values instead is not documented, so that reading must
///   allow it as well (the stricter of the two).
pub fn implied_requests(world: &World, req: &Req, primary: &Request) -> Vec<Request> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
    let keep = |r: &Request, k: &str| r.context.get(k).cloned();
    match primary.action.as_str() {
        "eks:CreateAccessEntry" => {
            let Some(tags) = body["tags"].as_object().filter(|t| !t.is_empty()) else {
                return vec![];
            };
            let (Some(principal), Some(cluster)) = (
                body["principalArn"].as_str(),
                req.segments().get(1).cloned(),
            ) else {
                return vec![];
            };
            let cluster_arn = world
                .clusters
                .get(&cluster)
                .map(|c| c.arn())
                .unwrap_or_else(|| primary.resource.clone());
            let mut r = Request::new(
                "eks:TagResource",
                &access_entry_arn(
                    &cluster_arn,
                    principal,
                    &entry_uuid(&cluster_arn, principal),
                ),
            );
            for k in ["aws:requestedregion", "aws:tagkeys"] {
                if let Some(v) = keep(primary, k) {
                    r.context.insert(k.to_string(), v);
                }
            }
            for (k, v) in tags {
                r = r.with(&format!("aws:RequestTag/{k}"), &[v.as_str().unwrap_or("")]);
            }
            vec![r]
        }
        "eks:UpdateAccessEntry" => {
            let mut r = primary.clone();
            r.context.remove("eks:username");
            r.context.remove("eks:kubernetesgroups");
            if let Some(u) = body["username"].as_str() {
                r = r.with("eks:username", &[u]);
            }
            let groups = strings(&body["kubernetesGroups"]);
            if !groups.is_empty() {
                let g: Vec<&str> = groups.iter().map(String::as_str).collect();
                r = r.with("eks:kubernetesGroups", &g);
            }
            vec![r]
        }
        _ => vec![],
    }
}
