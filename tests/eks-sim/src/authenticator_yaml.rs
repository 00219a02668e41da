//! How the EKS authenticator decodes `mapRoles` and `mapUsers`: Go's yaml.v2 (YAML 1.1, through
//! sigs.k8s.io/yaml) into structs whose `rolearn`, `userarn`, `username` and `groups` are strings.
//! A plain scalar there that YAML 1.1 reads as a bool or a number (`on`, `yes`, `n`, `1_000`,
//! `0x1F`, `.inf`) fails the decode of the whole list, and every mapping in it is dropped. A YAML
//! 1.2 parser alone would accept such text, so the scalars' styles are checked here, from the
//! parser's events.

use saphyr_parser::{Event, Parser, ScalarStyle};

const STRING_FIELDS: [&str; 3] = ["rolearn", "userarn", "username"];
const LIST_FIELD: &str = "groups";

/// Whether the typed fields of a `mapRoles`/`mapUsers` text decode as strings under YAML 1.1.
/// Text that does not parse at all is left to the caller's parser.
pub fn typed_fields_decode(text: &str) -> bool {
    // One frame per open collection: for a mapping, the key whose value comes next (None while a
    // key is awaited); for a sequence, whether its items are typed strings.
    enum Frame {
        Map { key: Option<String> },
        Seq { typed: bool },
    }
    let mut stack: Vec<Frame> = Vec::new();
    for item in Parser::new_from_str(text) {
        let Ok((event, _)) = item else { return true };
        // Whether the next value at the top of the stack must decode as a string.
        let (typed_scalar, typed_seq) = match stack.as_slice() {
            [Frame::Seq { .. }, Frame::Map { key: Some(k) }] => (
                STRING_FIELDS.contains(&k.as_str()),
                k.as_str() == LIST_FIELD,
            ),
            [.., Frame::Seq { typed: true }] => (true, false),
            _ => (false, false),
        };
        match event {
            Event::Scalar(value, style, _, tag) => {
                if let Some(Frame::Map { key: key @ None }) = stack.last_mut() {
                    *key = Some(value.into_owned());
                    continue;
                }
                if typed_scalar
                    && style == ScalarStyle::Plain
                    && tag.is_none()
                    && yaml11_not_a_string(&value)
                {
                    return false;
                }
                value_done(&mut stack);
            }
            Event::Alias(_) => value_done(&mut stack),
            Event::SequenceStart(..) => stack.push(Frame::Seq { typed: typed_seq }),
            Event::MappingStart(..) => stack.push(Frame::Map { key: None }),
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                value_done(&mut stack);
            }
            _ => {}
        }
    }

    fn value_done(stack: &mut [Frame]) {
        if let Some(Frame::Map { key }) = stack.last_mut() {
            *key = None;
        }
    }
    true
}

/// Whether yaml.v2 resolves this plain scalar to a bool, an int or a float (null decodes into a
/// Go string as "", so it is no error).
pub fn yaml11_not_a_string(s: &str) -> bool {
    const BOOLS: [&str; 22] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    if BOOLS.contains(&s) {
        return true;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if matches!(unsigned.to_ascii_lowercase().as_str(), ".inf" | ".nan") {
        return true;
    }
    let digits = unsigned.replace('_', "");
    let int = if let Some(hex) = digits.strip_prefix("0x") {
        !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
    } else if let Some(bin) = digits.strip_prefix("0b") {
        !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1')
    } else {
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    };
    int || is_yaml11_float(unsigned)
}

/// yaml.v2's float form: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml11_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, frac)) => {
            whole.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
                && (!whole.is_empty() || !frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// One `mapRoles` or `mapUsers` entry as the authenticator keeps it after `ParseMap`: the ARN
/// (`rolearn` or `userarn`), `username` and `groups`, each as encoding/json left it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mapping {
    pub arn: String,
    pub username: String,
    pub groups: Vec<String>,
}

/// Which list of aws-auth is decoded: its ARN field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    Roles,
    Users,
}

/// A value as yaml.v2 hands it to sigs.k8s.io/yaml when decoding into `interface{}`.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    /// A bool, int or finite float: never a Go string.
    NotString,
    /// A float that is ±Inf or NaN: json.Marshal refuses it, so the whole list fails.
    NonFinite,
    Str(String),
    Seq(Vec<Node>),
    /// Entries in assignment order; a later assignment of a key replaces the earlier one.
    Map(Vec<(MapKey, Node)>),
}

/// A mapping key after sigs.k8s.io/yaml turned it into a JSON key (None: a key it cannot
/// convert, such as null, which fails the whole conversion).
#[derive(Debug, Clone, PartialEq)]
struct MapKey(Option<String>);

/// Decodes one aws-auth list as aws-iam-authenticator's `ParseMap` does
/// (aws-iam-authenticator `pkg/mapper/configmap/configmap.go`):
///
/// - `isSkippable`: blank text, two backticks, `""` or `''` is an empty list;
/// - `utilyaml.ToJSON` = sigs.k8s.io/yaml `YAMLToJSON`: yaml.v2 (YAML 1.1 scalars, first document
///   only, anchors and `<<` merges) into `interface{}`, then `json.Marshal`, whose maps come out
///   with sorted keys; any error there (syntax, a null key, a `.inf` value) drops the whole list;
/// - `json.Unmarshal` into `[]config.RoleMapping` / `[]config.UserMapping` (`pkg/config/types.go`):
///   keys match fields case-insensitively (the last key in sorted order wins), a value of the
///   wrong type is skipped and the rest kept, a non-object item becomes an empty entry;
/// - `Validate` (`pkg/config/mapper.go`) drops entries without an ARN; a role entry with both
///   `rolearn` and `sso` is dropped too. Entries that only carry `sso` are left out here: EKS
///   matches roles by `rolearn` (SSO matching sits behind an authenticator feature flag).
pub fn parse_map(text: &str, kind: MapKind) -> Vec<Mapping> {
    let trimmed = text.trim();
    if trimmed.is_empty() || matches!(trimmed, "``" | "\"\"" | "''") {
        return Vec::new();
    }
    let Some(root) = yaml_v2_first_document(text) else {
        return Vec::new();
    };
    if !json_marshal_ok(&root) {
        return Vec::new();
    }
    let Node::Seq(items) = root else {
        // null decodes into a nil slice; any other non-array is an UnmarshalTypeError.
        return Vec::new();
    };
    let arn_field = match kind {
        MapKind::Roles => "rolearn",
        MapKind::Users => "userarn",
    };
    let mut out = Vec::new();
    for item in items {
        let Node::Map(entries) = item else { continue };
        // json.Marshal writes the object with its keys sorted; json.Unmarshal then assigns field
        // by field in that order, so for each field the last matching key wins.
        let mut last: std::collections::BTreeMap<&str, Node> = Default::default();
        for (k, v) in &entries {
            if let Some(k) = &k.0 {
                last.insert(k.as_str(), v.clone());
            }
        }
        let (mut arn, mut username, mut groups, mut sso) =
            (String::new(), String::new(), Vec::<String>::new(), false);
        for (k, v) in last {
            let Some(field) = json_field(k, &[arn_field, "username", "groups", "sso"]) else {
                continue;
            };
            match (field, v) {
                ("groups", Node::Seq(items)) => {
                    groups = items
                        .into_iter()
                        .map(|i| match i {
                            Node::Str(s) => s,
                            _ => String::new(),
                        })
                        .collect()
                }
                ("groups", Node::Null) => groups = Vec::new(),
                ("sso", v) => sso = kind == MapKind::Roles && v != Node::Null,
                (f, Node::Str(s)) if f == arn_field => arn = s,
                ("username", Node::Str(s)) => username = s,
                _ => {}
            }
        }
        if !arn.is_empty() && !sso {
            out.push(Mapping {
                arn,
                username,
                groups,
            });
        }
    }
    out
}

/// The struct field a JSON object key lands in: an exact match, else Go's case folding
/// (ASCII letters, plus `ſ` for s and the Kelvin sign for k, as encoding/json's foldName does).
fn json_field<'a>(key: &str, fields: &[&'a str]) -> Option<&'a str> {
    if let Some(f) = fields.iter().find(|f| **f == key) {
        return Some(f);
    }
    let folded: String = key
        .chars()
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    fields.iter().find(|f| **f == folded).copied()
}

/// Whether json.Marshal accepts the tree: no NaN or infinity anywhere, no key it cannot convert.
fn json_marshal_ok(n: &Node) -> bool {
    match n {
        Node::NonFinite => false,
        Node::Seq(items) => items.iter().all(json_marshal_ok),
        Node::Map(entries) => entries
            .iter()
            .all(|(k, v)| k.0.is_some() && json_marshal_ok(v)),
        _ => true,
    }
}

/// The first document of `text` as yaml.v2 builds it for `interface{}`, or None where yaml.v2
/// fails (syntax, a merge of a non-mapping, a collection as a key).
fn yaml_v2_first_document(text: &str) -> Option<Node> {
    enum Key {
        /// A plain, untagged `<<`: yaml.v2's merge key (decode.go, `isMerge`).
        Merge,
        Plain(MapKey),
    }
    enum Open {
        Seq(Vec<Node>, usize),
        Map(Vec<(MapKey, Node)>, Option<Key>, usize),
    }
    let mut anchors: std::collections::HashMap<usize, Node> = Default::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut seen_document = false;
    for item in Parser::new_from_str(text) {
        let (event, _) = item.ok()?;
        let mut is_merge = false;
        let (node, anchor) = match event {
            Event::DocumentStart(_) => {
                if seen_document {
                    break;
                }
                seen_document = true;
                continue;
            }
            Event::DocumentEnd => break,
            Event::Scalar(value, style, anchor, tag) => {
                is_merge = style == ScalarStyle::Plain && tag.is_none() && value == "<<";
                (scalar(&value, style, tag.as_deref()), anchor)
            }
            Event::Alias(id) => (anchors.get(&id)?.clone(), 0),
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Map(Vec::new(), None, anchor));
                continue;
            }
            Event::SequenceEnd => match stack.pop()? {
                Open::Seq(items, anchor) => (Node::Seq(items), anchor),
                Open::Map(..) => return None,
            },
            Event::MappingEnd => match stack.pop()? {
                Open::Map(entries, _, anchor) => (Node::Map(entries), anchor),
                Open::Seq(..) => return None,
            },
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Open::Seq(items, _)) => items.push(node),
            Some(Open::Map(_, key @ None, _)) => {
                *key = Some(if is_merge {
                    Key::Merge
                } else {
                    Key::Plain(map_key(&node)?)
                });
            }
            Some(Open::Map(entries, key, _)) => match key.take() {
                Some(Key::Merge) => merge_into(entries, node)?,
                Some(Key::Plain(k)) => entries.push((k, node)),
                None => unreachable!("matched above"),
            },
        }
    }
    Some(root.unwrap_or(Node::Null))
}

/// A key as sigs.k8s.io/yaml's convertToJSONableObject turns it into a string; None for a
/// collection key, which yaml.v2 itself refuses.
fn map_key(n: &Node) -> Option<MapKey> {
    match n {
        Node::Str(s) => Some(MapKey(Some(s.clone()))),
        // Numbers and bools become strings that no field name matches; null has no string.
        Node::NotString | Node::NonFinite => Some(MapKey(Some(String::new()))),
        Node::Null => Some(MapKey(None)),
        Node::Seq(_) | Node::Map(_) => None,
    }
}

/// yaml.v2 `decoder.merge`: a mapping, or a sequence of mappings applied last to first (earlier
/// ones take precedence), assigned into the mapping being built; anything else is an error.
fn merge_into(entries: &mut Vec<(MapKey, Node)>, value: Node) -> Option<()> {
    match value {
        Node::Map(m) => entries.extend(m),
        Node::Seq(items) => {
            for item in items.into_iter().rev() {
                let Node::Map(m) = item else { return None };
                entries.extend(m);
            }
        }
        _ => return None,
    }
    Some(())
}

/// yaml.v2 `resolve` (resolve.go) for a scalar decoded into `interface{}`: which Go type it gets.
/// Timestamps stay strings there, so they are not told apart from strings.
fn scalar(value: &str, style: ScalarStyle, tag: Option<&saphyr_parser::Tag>) -> Node {
    if let Some(t) = tag {
        let core = t.handle == "tag:yaml.org,2002:" || t.handle == "!!";
        return match (core, t.suffix.as_str()) {
            (true, "null") => Node::Null,
            (true, "bool" | "int") => Node::NotString,
            (true, "float") => resolve_plain(value),
            _ => Node::Str(value.to_string()),
        };
    }
    if style != ScalarStyle::Plain {
        return Node::Str(value.to_string());
    }
    resolve_plain(value)
}

fn resolve_plain(s: &str) -> Node {
    if matches!(s, "" | "~" | "null" | "Null" | "NULL") {
        return Node::Null;
    }
    if matches!(
        s,
        ".nan"
            | ".NaN"
            | ".NAN"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
    ) {
        return Node::NonFinite;
    }
    if yaml_v2_number_or_bool(s) {
        return Node::NotString;
    }
    Node::Str(s.to_string())
}

/// The number and bool rules of yaml.v2 `resolve`, by the first byte's hint: bools from its
/// table; after `.`, Go's ParseFloat; after a digit or sign, ParseInt/ParseUint with base
/// prefixes (underscores removed), then the YAML float form if ParseFloat gives a finite value.
fn yaml_v2_number_or_bool(s: &str) -> bool {
    const BOOLS: [&str; 22] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    if BOOLS.contains(&s) {
        return true;
    }
    match s.as_bytes().first() {
        Some(b'.') => {
            let digits = &s[1..];
            let (mantissa, exp) = match digits.find(['e', 'E']) {
                Some(i) => (&digits[..i], Some(&digits[i + 1..])),
                None => (digits, None),
            };
            !mantissa.is_empty()
                && mantissa.bytes().all(|b| b.is_ascii_digit())
                && exp.is_none_or(|e| {
                    let e = e.strip_prefix(['+', '-']).unwrap_or(e);
                    !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
                })
                && s.parse::<f64>().is_ok_and(f64::is_finite)
        }
        Some(b'0'..=b'9' | b'+' | b'-') => {
            let plain = s.replace('_', "");
            go_parse_int(&plain)
                || is_yaml11_float(plain.strip_prefix(['+', '-']).unwrap_or(&plain))
                    && plain.parse::<f64>().is_ok_and(f64::is_finite)
        }
        _ => false,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` succeeds.
fn go_parse_int(s: &str) -> bool {
    let (negative, signed, body) = match s.as_bytes().first() {
        Some(b'-') => (true, true, &s[1..]),
        Some(b'+') => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let Ok(v) = u64::from_str_radix(digits, radix) else {
        return false;
    };
    if !signed {
        return true;
    }
    if negative {
        v <= i64::MAX as u64 + 1
    } else {
        v <= i64::MAX as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_bools_and_numbers_in_typed_fields_fail_the_decode() {
        for bad in [
            "on", "Yes", "n", "1_000", "0x1F", "-.inf", "12", "1.5e3", ".5",
        ] {
            let text = format!("- rolearn: arn:aws:iam::1:role/a\n  username: {bad}\n");
            assert!(!typed_fields_decode(&text), "{text}");
            let text = format!("- rolearn: arn:aws:iam::1:role/a\n  groups:\n  - ok\n  - {bad}\n");
            assert!(!typed_fields_decode(&text), "{text}");
        }
    }

    #[test]
    fn quoted_values_other_fields_and_usual_text_decode() {
        for good in [
            "- rolearn: arn:aws:iam::1:role/a\n  username: 'on'\n  groups: [\"yes\", system:masters]\n",
            "- rolearn: arn:aws:iam::1:role/a\n  username: system:node:{{EC2PrivateDNSName}}\n  x-custom: yes\n  extra: {username: on}\n",
            "- rolearn: arn:aws:iam::1:role/a\n  username: ~\n",
            "- rolearn: arn:aws:iam::1:role/a\n  username: 1.2.3\n",
        ] {
            assert!(typed_fields_decode(good), "{good}");
        }
    }
}
