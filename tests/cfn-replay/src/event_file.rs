//! Event files: read strictly (a replay never starts on a file it cannot use), then pointed at the
//! local receiver and, when chaining, given the PhysicalResourceId of the previous answer.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Reads an event file: it must be UTF-8 JSON holding one object.
pub fn read(path: &Path) -> Result<Value> {
    let bad = |message: String| Error::EventFile {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text ({e})")))?;
    let event: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    if !event.is_object() {
        return Err(bad(
            "expected a JSON object (a CloudFormation custom-resource request)".into(),
        ));
    }
    Ok(event)
}

/// The receiver key of an event: its RequestId, or a stand-in when it has none (the mapper must
/// still answer such an event, and the answer must be found).
pub fn receiver_key(event: &Value, index: usize) -> String {
    event["RequestId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("replay-{index}"))
}

/// What [`prepare`] changed, for the account on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Some(previous id) when chaining replaced a different PhysicalResourceId.
    pub chained_id: Option<String>,
}

/// Points the event's ResponseURL at the local receiver (dropping the original, a credential)
/// and, when `previous_id` is given, carries it into an Update or Delete event.
pub fn prepare(event: &mut Value, response_url: String, previous_id: Option<&str>) -> Prepared {
    // A reconcile (the schedule's event) is answered to nobody: it gets no ResponseURL.
    let reconcile = eks_role_mapper::reconcile::is_reconcile(event);
    if !reconcile {
        event["ResponseURL"] = json!(response_url);
    }
    let kind = event["RequestType"].as_str().unwrap_or_default();
    let mut chained_id = None;
    if let (Some(id), "Update" | "Delete" | "Reconcile") = (previous_id, kind) {
        if event["PhysicalResourceId"].as_str() != Some(id) {
            chained_id = Some(id.to_string());
        }
        event["PhysicalResourceId"] = json!(id);
    }
    Prepared { chained_id }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cfn-replay-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn files_that_are_not_one_json_object_are_refused_with_the_reason() {
        for (name, bytes, needle) in [
            (
                "trunc.json",
                &b"{\"RequestType\": \"Cre"[..],
                "not valid JSON",
            ),
            ("empty.json", &b""[..], "not valid JSON"),
            ("list.json", &b"[\"Create\"]"[..], "expected a JSON object"),
            ("latin1.json", &b"{\"a\": \"\xff\"}"[..], "not UTF-8"),
        ] {
            let p = temp_file(name, bytes);
            let e = read(&p).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(name), "{e}");
        }
        let e = read(Path::new("no/such/event.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn the_response_url_is_replaced_and_chaining_touches_only_update_and_delete() {
        let mut create = json!({"RequestType": "Create", "ResponseURL": "https://s3/secret?X-Amz-Signature=abc"});
        let p = prepare(&mut create, "https://127.0.0.1:1/r".into(), Some("id-1"));
        assert_eq!(create["ResponseURL"], "https://127.0.0.1:1/r");
        assert!(create.get("PhysicalResourceId").is_none());
        assert_eq!(p.chained_id, None);

        let mut update = json!({"RequestType": "Update", "PhysicalResourceId": "stale"});
        let p = prepare(&mut update, "u".into(), Some("id-1"));
        assert_eq!(update["PhysicalResourceId"], "id-1");
        assert_eq!(p.chained_id.as_deref(), Some("id-1"));

        let mut delete = json!({"RequestType": "Delete", "PhysicalResourceId": "id-1"});
        assert_eq!(
            prepare(&mut delete, "u".into(), Some("id-1")).chained_id,
            None
        );

        let mut reconcile = json!({"RequestType": "Reconcile", "PhysicalResourceId": "stale"});
        let p = prepare(&mut reconcile, "u".into(), Some("id-1"));
        assert!(reconcile.get("ResponseURL").is_none());
        assert_eq!(p.chained_id.as_deref(), Some("id-1"));

        let mut unchained = json!({"RequestType": "Delete", "PhysicalResourceId": "own"});
        prepare(&mut unchained, "u".into(), None);
        assert_eq!(unchained["PhysicalResourceId"], "own");
    }

    #[test]
    fn an_event_without_a_request_id_still_gets_a_receiver_key() {
        assert_eq!(receiver_key(&json!({"RequestId": "r-1"}), 3), "r-1");
        assert_eq!(receiver_key(&json!({"RequestId": ""}), 3), "replay-3");
        assert_eq!(receiver_key(&json!({}), 4), "replay-4");
    }
}
