//! The ConfigMap as the mapper reads and writes it: the fields it looks at (`data`, and of the
//! metadata the name, namespace, `resourceVersion` and annotations) typed, and everything else
//! the API server sent kept as it came, so a replace sends back exactly what was read but for
//! our edit (a typed copy of the whole API would drop any field it does not know).
//! <https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/config-map-v1/>

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A core/v1 ConfigMap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
    /// `binaryData`, `immutable`, and whatever else the object carries.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// The object's metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Kubernetes' optimistic concurrency: a replace with another version is refused (409).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Labels, uid, managedFields, ownerReferences, ...: kept as they came.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

fn api_version() -> String {
    "v1".into()
}

fn kind() -> String {
    "ConfigMap".into()
}

impl Default for ConfigMap {
    fn default() -> ConfigMap {
        ConfigMap {
            api_version: api_version(),
            kind: kind(),
            metadata: ObjectMeta::default(),
            data: None,
            rest: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_read_object_goes_back_whole_but_for_the_edit() {
        let read = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "aws-auth", "namespace": "kube-system", "resourceVersion": "7",
                         "uid": "u-1", "labels": {"a": "b"}, "managedFields": [{"manager": "kubectl"}]},
            "data": {"mapRoles": "[]\n"},
            "binaryData": {"x": "AA=="}, "immutable": false
        });
        let mut cm: ConfigMap = serde_json::from_value(read.clone()).unwrap();
        assert_eq!(serde_json::to_value(&cm).unwrap(), read);
        cm.data = Some(BTreeMap::from([("mapRoles".into(), "- x\n".into())]));
        let mut expected = read;
        expected["data"]["mapRoles"] = json!("- x\n");
        assert_eq!(serde_json::to_value(&cm).unwrap(), expected);
    }

    #[test]
    fn a_new_object_names_its_kind() {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("aws-auth".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        assert_eq!(
            serde_json::to_value(&cm).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth"}})
        );
    }
}
