//! The release's CycloneDX SBOM (infra/build writes it beside the zip; infra/publish --version
//! publishes it): the function's, and naming no path of the clone it was built in.

use serde_json::Value;

use crate::checks::ROOT_PACKAGE;

/// `text` is a CycloneDX document whose component is the function, without `clone` in it.
pub fn check(text: &str, clone: &str) -> Result<String, String> {
    let bom: Value =
        serde_json::from_str(text).map_err(|e| format!("the SBOM is not JSON: {e}"))?;
    let format = &bom["bomFormat"];
    if format != "CycloneDX" {
        return Err(format!(
            "the SBOM's bomFormat is {format}, not \"CycloneDX\""
        ));
    }
    let component = &bom["metadata"]["component"]["name"];
    if component != ROOT_PACKAGE {
        return Err(format!(
            "the SBOM's metadata.component.name is {component}, not \"{ROOT_PACKAGE}\""
        ));
    }
    if !clone.is_empty() && text.contains(clone) {
        return Err(format!("the SBOM names the clone's path {clone}"));
    }
    let components = bom["components"].as_array().map_or(0, Vec::len);
    let spec = bom["specVersion"].as_str().unwrap_or("(no specVersion)");
    Ok(format!(
        "sbom.cdx.json: CycloneDX {spec}, {components} components"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLONE: &str = "/home/ci/work/clone";

    fn bom(format: &str, component: &str, purl: &str) -> String {
        format!(
            r#"{{"bomFormat":"{format}","specVersion":"1.5","metadata":{{"component":{{"name":"{component}","purl":"{purl}"}}}},"components":[{{"name":"serde"}}]}}"#
        )
    }

    #[test]
    fn the_functions_sbom_with_relative_ids_passes() {
        let found = check(
            &bom(
                "CycloneDX",
                "eks-role-mapper",
                "pkg:cargo/eks-role-mapper@1.0.0?download_url=file://./functions/eks-role-mapper",
            ),
            CLONE,
        )
        .unwrap();
        assert_eq!(found, "sbom.cdx.json: CycloneDX 1.5, 1 components");
    }

    #[test]
    fn each_way_an_sbom_can_be_wrong_fails() {
        let cases = [
            ("bomFormat", bom("SPDX", "eks-role-mapper", "file://./")),
            (
                "metadata.component.name",
                bom("CycloneDX", "cfn-replay", "file://./"),
            ),
            (
                "names the clone's path",
                bom(
                    "CycloneDX",
                    "eks-role-mapper",
                    &format!("file://{CLONE}/functions/eks-role-mapper"),
                ),
            ),
            ("not JSON", "<bom/>".to_string()),
        ];
        for (expected, text) in cases {
            let error = check(&text, CLONE).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }
}
