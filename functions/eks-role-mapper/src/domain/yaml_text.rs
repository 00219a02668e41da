//! Block YAML for `mapRoles` that reads back the same under YAML 1.2 (our parser) and YAML 1.1
//! (Go's yaml.v2, which the EKS authenticator decodes aws-auth with, through sigs.k8s.io/yaml).
//!
//! A generic serializer writes strings such as `on`, `yes`, `n` or `1_000` plain. YAML 1.1 reads
//! those as a bool or a number; the authenticator then fails to decode the whole list into its
//! string fields and drops every role mapping, node roles included. So a string is written plain
//! only when it starts with a letter, holds only characters that are plain in both versions and
//! is not one of YAML 1.1's bool or null words; everything else is double-quoted.

use std::fmt::Write as _;

use serde_yaml_ng::{Mapping, Value};

/// The plain words YAML 1.1 (Go's yaml.v2) resolves to a bool or null.
const YAML11_WORDS: [&str; 25] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL",
];

/// Renders a list of generic values as block YAML; `Err` names what cannot be written back.
pub fn block_list(items: &[Value]) -> Result<String, String> {
    if items.is_empty() {
        return Ok("[]\n".to_string());
    }
    let mut out = String::with_capacity(items.len() * 128);
    write_seq(items, 0, &mut out)?;
    Ok(out)
}

/// Whether `s` may stand unquoted: a string in YAML 1.1 and 1.2 alike.
pub fn plain_is_safe(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":/._@=+-{}".contains(c))
        && !s.ends_with(':')
        && !YAML11_WORDS.contains(&s)
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_seq(items: &[Value], indent: usize, out: &mut String) -> Result<(), String> {
    for item in items {
        pad(out, indent);
        out.push('-');
        write_after_indicator(item, indent + 2, out)?;
    }
    Ok(())
}

fn write_map(
    map: &Mapping,
    indent: usize,
    first_inline: bool,
    out: &mut String,
) -> Result<(), String> {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        out.push_str(&scalar(key).ok_or("a mapping key that is not a scalar")?);
        out.push(':');
        match value {
            // Nested blocks go two spaces in, as the EKS documentation writes aws-auth: the
            // usual ConfigMap keeps its look and a diff shows only what changed.
            _ if is_block(value) => {
                out.push('\n');
                match value {
                    Value::Sequence(items) => write_seq(items, indent + 2, out)?,
                    Value::Mapping(inner) => write_map(inner, indent + 2, false, out)?,
                    _ => unreachable!("is_block holds only for collections"),
                }
            }
            _ => write_after_indicator(value, indent + 2, out)?,
        }
    }
    Ok(())
}

/// A non-empty collection, written as a block on the following lines.
fn is_block(value: &Value) -> bool {
    match value {
        Value::Sequence(items) => !items.is_empty(),
        Value::Mapping(map) => !map.is_empty(),
        _ => false,
    }
}

/// Writes what follows a `-` or a `key:`; nested blocks go at `indent`.
fn write_after_indicator(value: &Value, indent: usize, out: &mut String) -> Result<(), String> {
    match value {
        Value::Sequence(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(items, indent, out)
        }
        Value::Sequence(_) => {
            out.push_str(" []\n");
            Ok(())
        }
        Value::Mapping(map) if !map.is_empty() => {
            out.push(' ');
            write_map(map, indent, true, out)
        }
        Value::Mapping(_) => {
            out.push_str(" {}\n");
            Ok(())
        }
        other => {
            let text = scalar(other).ok_or("a tagged collection")?;
            out.push(' ');
            out.push_str(&text);
            out.push('\n');
            Ok(())
        }
    }
}

/// A scalar's text; `None` for a collection.
fn scalar(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if plain_is_safe(s) => s.clone(),
        Value::String(s) => double_quoted(s),
        Value::Tagged(t) => format!("{} {}", t.tag, scalar(&t.value)?),
        Value::Sequence(_) | Value::Mapping(_) => return None,
    })
}

/// A double-quoted scalar; control characters and the characters YAML 1.1 treats as line breaks
/// are escaped, so no parser folds or drops them.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_specials_and_indicators_are_quoted() {
        for s in [
            "on",
            "Yes",
            "n",
            "NULL",
            "1_000",
            "0x1F",
            "2001-12-14",
            ".inf",
            "- a",
            "#c",
            "a: b",
            "",
            "a b",
            "x:",
            "*ref",
            "&a",
            "!t",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "a\nb",
            "\u{2028}",
        ] {
            assert!(!plain_is_safe(s), "{s:?} must be quoted");
            let text = block_list(&[Value::String(s.to_string())]).unwrap();
            let back: Vec<Value> = serde_yaml_ng::from_str(&text).unwrap();
            assert_eq!(back, vec![Value::String(s.to_string())], "{text}");
        }
    }

    #[test]
    fn usual_aws_auth_text_stays_plain() {
        for s in [
            "arn:aws:iam::111122223333:role/node",
            "system:node:{{EC2PrivateDNSName}}",
            "system:masters",
            "ops@example.com",
        ] {
            assert!(plain_is_safe(s), "{s}");
        }
    }

    #[test]
    fn nested_values_render_as_blocks_and_parse_back() {
        let text = "- rolearn: arn:aws:iam::1:role/a\n  groups:\n  - g1\n  - 'on'\n  x:\n    y: [1, 2.5, true, ~]\n    z: {}\n    w: []\n  n: -3\n- - nested\n  - {k: v}\n";
        let value: Vec<Value> = serde_yaml_ng::from_str(text).unwrap();
        let out = block_list(&value).unwrap();
        let back: Vec<Value> = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(back, value, "{out}");
        assert!(out.starts_with(
            "- rolearn: arn:aws:iam::1:role/a\n  groups:\n    - g1\n    - \"on\"\n  x:\n    \"y\":\n      - 1\n"
        ));
    }
}
