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
        "(y|N|yes|No|on|OFF|true|null|~|1_000|0x1F|0b101|-12|1\\.5e3|\\.inf|2001-12-14)",
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

/// A small edit of a text: a tricky character put in, a character taken out, or a line repeated.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, char),
    Delete(usize),
    RepeatLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tricky = proptest::sample::select(
        " #:-'\"\\\t\n&*!,[]{}|>?%@`~0aé"
            .chars()
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        (any::<usize>(), tricky).prop_map(|(at, c)| Mutation::Insert(at, c)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::RepeatLine),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        match *m {
            Mutation::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
            Mutation::Delete(at) if !chars.is_empty() => {
                chars.remove(at % chars.len());
            }
            Mutation::Delete(_) => {}
            Mutation::RepeatLine(at) => {
                let text: String = chars.iter().collect();
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                let i = at % lines.len().max(1);
                let mut out: Vec<&str> = lines.clone();
                if let Some(line) = lines.get(i) {
                    out.insert(i, line);
                }
                chars = out.concat().chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// The fast reader never disagrees with the general parser: where it reads a text at all, it
    /// reads exactly what the parser reads.
    #[test]
    fn the_fast_reader_reads_what_the_parser_reads_or_nothing(entries in proptest::collection::vec(usual_entry(), 1..4), eksctl_style in any::<bool>(), mutations in proptest::collection::vec(mutation(), 1..4)) {
        let valid = if eksctl_style {
            serde_yaml_ng::to_string(&entries).unwrap()
        } else {
            eks_role_mapper::yaml_text::block_list(&entries).unwrap()
        };
        let text = mutate(&valid, &mutations);
        if let Some(fast) = eks_role_mapper::block_reader::read(&text) {
            let parsed: Result<Vec<Value>, _> = serde_yaml_ng::from_str(&text);
            prop_assert_eq!(Some(fast), parsed.ok(), "{:?}", text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The usual texts take the fast path: what we write always, a generic serializer's where it
    /// writes a scalar plain or quoted without escapes.
    #[test]
    fn usual_texts_take_the_fast_path(entries in proptest::collection::vec(usual_entry(), 1..12)) {
        let ours = eks_role_mapper::yaml_text::block_list(&entries).unwrap();
        let fast = eks_role_mapper::block_reader::read(&ours);
        prop_assert_eq!(fast.as_ref(), Some(&entries), "{}", ours);
        let generic = serde_yaml_ng::to_string(&entries).unwrap();
        if let Some(fast) = eks_role_mapper::block_reader::read(&generic) {
            prop_assert_eq!(fast, entries, "{}", generic);
        }
    }
}

/// An entry as people and tools write them: ASCII names without quotes or backslashes (those
/// need escapes, which the parser reads), YAML 1.1 words, empty lists.
fn usual_entry() -> impl Strategy<Value = Value> {
    (
        "[a-zA-Z0-9+=,.@_-]{1,20}",
        prop_oneof!["[ !#-\\[\\]-~]{0,20}", identity_text()],
        proptest::collection::vec(identity_text(), 0..3),
    )
        .prop_map(|(name, user, groups)| {
            let mut m = Mapping::new();
            m.insert(
                "rolearn".into(),
                format!("arn:aws:iam::111122223333:role/{name}").into(),
            );
            m.insert("username".into(), user.into());
            m.insert(
                "groups".into(),
                Value::Sequence(groups.into_iter().map(Value::from).collect()),
            );
            Value::Mapping(m)
        })
}
