//! Property tests of the aws-auth edit: for any parseable mapRoles, the output parses, every other
//! entry and data key is preserved, and our role appears exactly once; for any text that does not
//! parse as a list of maps, an error and no output; what is written decodes under YAML 1.1 as the
//! EKS authenticator reads it (checked by the simulator's independent decoder).

use std::collections::BTreeMap;

use eks_role_mapper::arn::{match_key_of, RoleArn};
use eks_role_mapper::aws_auth::{remove, upsert, MapRoles, MAP_ROLES};
use eks_sim::authenticator_yaml::typed_fields_decode;
use proptest::prelude::*;
use serde_yaml_ng::{Mapping, Value};

const OURS: &str = "arn:aws:iam::111122223333:role/svc";

fn arn_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9+=,.@_-]{1,20}".prop_map(|n| format!("arn:aws:iam::111122223333:role/{n}")),
        "[a-z]{1,5}".prop_map(|p| format!("arn:aws:iam::111122223333:role/{p}/SVC")),
        Just(OURS.to_string()),
        Just("arn:aws:iam::111122223333:role/SVC".to_string()),
        ".{0,30}",
    ]
}

/// Usual names and the words YAML 1.1 reads as bools or numbers.
fn identity_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z:]{1,12}",
        "(y|N|yes|No|on|OFF|true|null|~|1_000|0x1F|0b101|-12|1.5e3|\\.inf|2001-12-14)",
    ]
}

fn entry_strategy() -> impl Strategy<Value = Value> {
    (
        arn_strategy(),
        prop_oneof![".{0,20}", identity_text()],
        proptest::collection::vec(identity_text(), 0..3),
        proptest::option::of(".{0,10}"),
    )
        .prop_map(|(arn, user, groups, extra)| {
            let mut m = Mapping::new();
            m.insert("rolearn".into(), arn.into());
            m.insert("username".into(), user.into());
            m.insert(
                "groups".into(),
                Value::Sequence(groups.into_iter().map(Value::from).collect()),
            );
            if let Some(x) = extra {
                m.insert("x-extra".into(), x.into());
            }
            Value::Mapping(m)
        })
}

fn is_ours(e: &Value) -> bool {
    e.get("rolearn")
        .and_then(Value::as_str)
        .is_some_and(|a| match_key_of(a) == match_key_of(OURS))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn upsert_keeps_every_other_entry_and_adds_ours_once(entries in proptest::collection::vec(entry_strategy(), 0..12), users in ".{0,40}", username in prop_oneof!["[a-zA-Z0-9:/_-]{1,30}", identity_text()], group in identity_text()) {
        let text = serde_yaml_ng::to_string(&entries).unwrap();
        let data = BTreeMap::from([(MAP_ROLES.to_string(), text), ("mapUsers".to_string(), users.clone()), ("other".to_string(), "x: [1".to_string())]);
        let role = RoleArn::parse("RoleArn", OURS).unwrap();
        let edit = upsert(&data, &role, &username, &[group, "system:masters".to_string()]).unwrap();
        // The EKS authenticator (YAML 1.1) decodes what was written: nodes keep their access.
        prop_assert!(typed_fields_decode(&edit.data[MAP_ROLES]), "{}", edit.data[MAP_ROLES]);
        let after = MapRoles::parse(Some(&edit.data[MAP_ROLES])).unwrap();
        let others_before: Vec<&Value> = entries.iter().filter(|e| !is_ours(e)).collect();
        let others_after: Vec<&Value> = after.entries().iter().filter(|e| !is_ours(e)).collect();
        prop_assert_eq!(others_before, others_after);
        prop_assert_eq!(after.entries().iter().filter(|e| is_ours(e)).count(), 1);
        prop_assert_eq!(&edit.data["mapUsers"], &users);
        prop_assert_eq!(&edit.data["other"], "x: [1");
        let removed = remove(&edit.data, &role).unwrap().unwrap();
        let after_remove = MapRoles::parse(Some(&removed[MAP_ROLES])).unwrap();
        prop_assert!(after_remove.entries().iter().all(|e| !is_ours(e)));
        prop_assert_eq!(after_remove.entries().len(), entries.iter().filter(|e| !is_ours(e)).count());
    }

    #[test]
    fn text_that_is_not_a_list_of_maps_is_refused(text in ".{1,60}") {
        let parsed: Result<Value, _> = serde_yaml_ng::from_str(&text);
        let acceptable = match &parsed {
            Ok(Value::Null) => true,
            Ok(Value::Sequence(s)) => s.iter().all(Value::is_mapping),
            _ => false,
        };
        let data = BTreeMap::from([(MAP_ROLES.to_string(), text.clone())]);
        let role = RoleArn::parse("RoleArn", OURS).unwrap();
        let result = upsert(&data, &role, "u", &["g".to_string()]);
        prop_assert_eq!(result.is_ok(), acceptable || text.trim().is_empty(), "{:?} -> {:?}", text, result.as_ref().err().map(ToString::to_string));
    }
}
