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
