//! The ConfigMap as the mapper reads and writes it: k8s-openapi's typed core/v1 ConfigMap and its
//! metadata. Every field of the API is typed there (labels, uid, managedFields, ownerReferences,
//! binaryData, immutable), so a replace sends back what was read but for our edit, and what we
//! send is an object the API server parses back.
//! <https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/config-map-v1/>

pub use k8s_openapi::api::core::v1::ConfigMap;
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn a_read_object_goes_back_whole_but_for_the_edit() {
        let read = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "aws-auth", "namespace": "kube-system", "resourceVersion": "7",
                         "uid": "u-1", "labels": {"a": "b"},
                         "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
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
}
