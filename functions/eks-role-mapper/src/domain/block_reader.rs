//! A reader for the one block form `mapRoles` is nearly always written in (ours, the EKS
//! documentation's, eksctl's, a generic serializer's): a list of maps whose values are one-line
//! scalars or lists of one-line scalars.
//!
//! A general YAML parser needs ~50 ms for a 10,000-entry aws-auth; this reads the same text in a
//! few. It is exact on that form and answers `None` on anything else (comments, flow collections,
//! escapes, multi-line scalars, tabs, odd indentation, words a parser might resolve to a non-string),
//! so the general parser decides every other text. What we write is still re-read by the general
//! parser before it goes out (`MapRoles::render`).

use serde_yaml_ng::{Mapping, Value};

use crate::domain::yaml_text::plain_is_safe;

/// The entries of `text` when it is in the block form above; `None` means "ask the parser".
pub fn read(text: &str) -> Option<Vec<Value>> {
    if text.bytes().any(|b| b == b'\t' || b == b'\r') {
        return None;
    }
    let mut lines = text.split('\n').filter(|l| !l.is_empty()).peekable();
    let mut items = Vec::new();
    let mut line = lines.next()?;
    loop {
        let mut map = Mapping::new();
        let mut content = line.strip_prefix("- ")?;
        loop {
            let (key, value) = key_and_value(content)?;
            let value = match value {
                Some(token) => collection_or_scalar(token)?,
                None => Value::Sequence(block_sequence(&mut lines)?),
            };
            if map.insert(Value::String(key.to_string()), value).is_some() {
                return None;
            }
            match lines.peek() {
                // The next key of this map: at column 2, not a list item.
                Some(next) if indent(next) == Some(2) && !next[2..].starts_with('-') => {
                    content = &next[2..];
                    lines.next();
                }
                Some(next) if next.starts_with("- ") => break,
                Some(_) => return None,
                None => break,
            }
        }
        items.push(Value::Mapping(map));
        match lines.next() {
            Some(next) => line = next,
            None => return Some(items),
        }
    }
}

/// `key: token` or `key:` (a block list follows); the key a plain word without a colon.
fn key_and_value(content: &str) -> Option<(&str, Option<&str>)> {
    let colon = content.find(':')?;
    let (key, rest) = (&content[..colon], &content[colon + 1..]);
    if !plain_is_safe(key) {
        return None;
    }
    if rest.is_empty() {
        return Some((key, None));
    }
    let token = rest.strip_prefix(' ')?;
    (!token.is_empty() && !token.starts_with(' ')).then_some((key, Some(token)))
}

/// The items of a block list that starts on the next line, indented 2 or more, one scalar each.
fn block_sequence<'a, I: Iterator<Item = &'a str>>(
    lines: &mut std::iter::Peekable<I>,
) -> Option<Vec<Value>> {
    let first = lines.next()?;
    let column = indent(first).filter(|&c| c >= 2)?;
    let mut items = vec![scalar(first[column..].strip_prefix("- ")?)?];
    while let Some(next) = lines.peek() {
        if indent(next) != Some(column) {
            break;
        }
        match next[column..].strip_prefix("- ") {
            Some(token) => {
                items.push(scalar(token)?);
                lines.next();
            }
            _ => break,
        }
    }
    Some(items)
}

fn collection_or_scalar(token: &str) -> Option<Value> {
    match token {
        "[]" => Some(Value::Sequence(Vec::new())),
        "{}" => Some(Value::Mapping(Mapping::new())),
        _ => scalar(token),
    }
}

/// A one-line string: plain and safe in YAML 1.1 and 1.2 alike (see `plain_is_safe`, less the
/// float words a parser could read as numbers), or quoted with printable ASCII and no escapes.
fn scalar(token: &str) -> Option<Value> {
    let quoted = |q: char| {
        let inner = token.strip_prefix(q)?.strip_suffix(q)?;
        inner
            .chars()
            .all(|c| (' '..='~').contains(&c) && c != q && c != '\\')
            .then_some(inner)
    };
    let text = if plain_is_safe(token) && !is_float_word(token) {
        token
    } else {
        quoted('"').or_else(|| quoted('\''))?
    };
    Some(Value::String(text.to_string()))
}

fn is_float_word(s: &str) -> bool {
    ["inf", "infinity", "nan"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

/// Leading spaces; `None` for a line of spaces only.
fn indent(line: &str) -> Option<usize> {
    let n = line.len() - line.trim_start_matches(' ').len();
    (n < line.len()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(text: &str) -> Option<Vec<Value>> {
        serde_yaml_ng::from_str(text).ok()
    }

    #[test]
    fn usual_layouts_are_read_exactly_as_the_parser_reads_them() {
        for text in [
            // The EKS documentation's and ours.
            "- rolearn: arn:aws:iam::111122223333:role/node\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n    - system:bootstrappers\n    - system:nodes\n",
            // eksctl's and a generic serializer's: the list at the key's column, keys in any order.
            "- groups:\n  - system:bootstrappers\n  - system:nodes\n  rolearn: arn:aws:iam::111122223333:role/node\n  username: system:node:{{EC2PrivateDNSName}}\n- rolearn: arn:aws:iam::111122223333:role/b\n  username: \"on\"\n  groups: []\n  extra: {}\n",
            // Quoted words, blank lines, no final newline.
            "- rolearn: 'arn:aws:iam::1:role/x y'\n\n  username: \"yes\"\n  groups:\n      - \"\"\n- rolearn: arn:aws:iam::1:role/z\n  username: a",
        ] {
            let fast = read(text).unwrap_or_else(|| panic!("not read: {text}"));
            assert_eq!(Some(fast), parser(text), "{text}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_parser() {
        for text in [
            "",
            "[]\n",
            "- rolearn: a # comment\n",
            "- rolearn: a\n  groups: [a, b]\n",
            "- rolearn: on\n",
            "- rolearn: Infinity\n",
            "- rolearn: \"a\\\"b\"\n",
            "- rolearn: 'it''s'\n",
            "- rolearn: a\n    continued\n",
            "- rolearn: a\n  rolearn: b\n",
            "- rolearn: a \n",
            "- rolearn:\n  username: b\n",
            "- rolearn: a\n\tusername: b\n",
            "- rolearn: a\r\n",
            "-  rolearn: a\n",
            "- - a\n",
            "- arn:aws:iam::1:role/a\n",
            "---\n- rolearn: a\n",
            "- rolearn: &x a\n",
            "- rolearn: !!str a\n",
            "- groups:\n    - a\n  - b\n",
            "- groups:\n  - a: b\n",
            "- groups:\n  - a\n    b\n",
            "  - rolearn: a\n",
            "- rolearn: a\n -x: b\n",
            "- rolearn: \"é\"\n",
            "- groups:\n  \n",
            "- rolearn: a\n  \n",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
    }
}
