//! `cfn-replay stack --from-template FILE`: the lifecycle starts from a stack made with another
//! template, and its first step updates that stack to `--template`, as a customer's "Replace
//! current template" does. The case it is for: a stack of the original Step 1 template
//! (tests/integration/fixtures/original-iam-role-for-parallels.yaml) upgraded in place
//! (infra/README.md, "Upgrading a stack made with the original template").
//!
//! - The stack before is FILE rendered on moto like the main template ([`render_in`]), under the
//!   same stack name, so moto's seeded stack id, and with it every name derived from it, is the
//!   same before and after the update. It gets the `--parameters` FILE declares; the update gets
//!   all of them. Its roles were made long ago (an existing stack's role is long visible to EKS).
//! - `ExternalId` not given: the stack's `RoleForConcurrentServiceExtId` output, which is what the
//!   README tells the customer to enter.
//! - The update is refused as CloudFormation refuses it (nothing changes, UPDATE_ROLLBACK_COMPLETE)
//!   when moto would let it through: a role whose logical id changed but whose RoleName did not
//!   (CloudFormation replaces a resource whose logical id changes, creating the new one first, and
//!   IAM refuses a second role of that name; moto's update does not), and, on the upgrade, an
//!   export removed or changed (CloudFormation refuses that while another stack imports it; the
//!   original's exports are there to be imported, so the replay assumes they are).

use std::collections::BTreeMap;
use std::path::Path;

use super::{Lifecycle, StackOptions, Step};
use crate::error::{Error, Result};
use crate::rendered::{render_in, Rendered};

/// How long ago (simulated seconds) the stack before the update made its roles: a year.
const MADE_LONG_AGO_SECONDS: f64 = 365.0 * 86_400.0;

/// The output whose value the upgrade's `ExternalId` defaults to.
const EXTERNAL_ID_OUTPUT: &str = "RoleForConcurrentServiceExtId";

/// The parameter names a template declares (its `Parameters` keys).
fn declared(template: &Path) -> Result<Vec<String>> {
    let bad = |message: String| {
        Error::Usage(format!("--from-template {}: {message}", template.display()))
    };
    let text = std::fs::read_to_string(template).map_err(|e| bad(e.to_string()))?;
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| bad(format!("not YAML ({e})")))?;
    Ok(doc
        .get("Parameters")
        .and_then(|p| p.as_mapping())
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// The stack before the update: `file` rendered with the parameters it declares, its roles made
/// long ago; `params` gets the default `ExternalId` (see the module's doc).
pub(super) fn original(
    life: &mut Lifecycle,
    file: &Path,
    params: &mut BTreeMap<String, String>,
) -> Result<Rendered> {
    let names = declared(file)?;
    let given: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| names.contains(k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let before = render_in(&life.moto.url, &life.region, file, "replay", &given);
    for (_, role) in &before.roles {
        if life.made.insert(role.arn.clone()) {
            life.sim.create_role_made(&role.arn, MADE_LONG_AGO_SECONDS);
        }
    }
    if !params.contains_key("ExternalId") {
        if let Some(id) = before.output(EXTERNAL_ID_OUTPUT) {
            params.insert("ExternalId".into(), id);
        }
    }
    Ok(before)
}

/// The steps after the Create: with `--from-template`, first the update to `--template` (no
/// parameter changes: the update carries them all).
pub(super) fn steps(opts: &StackOptions) -> Vec<Step> {
    let upgrade = opts
        .from_template
        .as_ref()
        .map(|_| Step::Update(Vec::new()));
    upgrade
        .into_iter()
        .chain(opts.steps.iter().cloned())
        .collect()
}

/// Why CloudFormation would refuse update step `n` from `before` to `after` where moto does not
/// (see the module's doc), or None.
pub(super) fn refused(
    opts: &StackOptions,
    n: usize,
    before: &Rendered,
    after: &Rendered,
) -> Option<String> {
    replaced_role(before, after).or_else(|| {
        (opts.from_template.is_some() && n == 1)
            .then(|| export_lost(before, after))
            .flatten()
    })
}

/// A role of `before` whose logical id is gone from `after`, where a role of another logical id
/// has its name.
pub fn replaced_role(before: &Rendered, after: &Rendered) -> Option<String> {
    before.roles.iter().find_map(|(old, role)| {
        if after.roles.iter().any(|(l, _)| l == old) {
            return None;
        }
        let (new, _) = after.roles.iter().find(|(_, r)| r.name == role.name)?;
        Some(format!(
            "{new}: a new logical id for {old}'s role is a replacement, created before {old} is deleted, and IAM refuses a second role named {} (EntityAlreadyExists)",
            role.name
        ))
    })
}

/// The outputs' exports, by export name: their values.
fn exports(r: &Rendered) -> BTreeMap<String, String> {
    r.outputs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let name = o["ExportName"].as_str()?;
            Some((name.to_string(), o["OutputValue"].as_str()?.to_string()))
        })
        .collect()
}

/// An export of `before` that `after` removes or changes (by name; values are never printed:
/// one of them is the external ID).
pub fn export_lost(before: &Rendered, after: &Rendered) -> Option<String> {
    let kept = exports(after);
    exports(before).into_iter().find_map(|(name, value)| {
        let how = match kept.get(&name) {
            None => "removed",
            Some(v) if *v != value => "changed",
            Some(_) => return None,
        };
        Some(format!(
            "export {name} {how}: CloudFormation refuses that while another stack imports it"
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::PathBuf;

    use super::super::parse;
    use super::*;

    fn parsed(a: &[&str]) -> Result<Option<StackOptions>> {
        parse(a.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn from_template_starts_the_lifecycle_with_the_update_to_the_template() {
        let o = parsed(&[
            "--template",
            "t.yaml",
            "--from-template",
            "o.yaml",
            "--parameters",
            "A=1",
            "--then",
            "delete",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(o.from_template, Some(PathBuf::from("o.yaml")));
        assert_eq!(steps(&o), [Step::Update(Vec::new()), Step::Delete]);
        let plain = parsed(&["--template", "t.yaml", "--then", "delete"])
            .unwrap()
            .unwrap();
        assert_eq!(plain.from_template, None);
        assert_eq!(steps(&plain), [Step::Delete]);
        match parsed(&["--template", "t.yaml", "--from-template"]) {
            Err(Error::Usage(m)) => assert!(m.contains("--from-template"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_original_declares_only_its_own_parameter() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../integration/fixtures/original-iam-role-for-parallels.yaml");
        assert_eq!(declared(&fixture).unwrap(), ["ParallelsAWSAccount"]);
        assert!(declared(Path::new("no-such-file.yaml")).is_err());
    }
}
