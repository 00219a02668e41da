//! One property's value: CloudFormation sends strings (or lists of strings), so each reader
//! names its field and what it expected.

use serde_json::Value;

use crate::domain::access::kind;
use crate::domain::arn::shown;
use crate::domain::error::{Error, Result};

use super::{DEFAULT_GROUP, MAX_TEXT};

pub(super) fn string(
    props: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<String>> {
    match props.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid(
            field,
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

/// Text that goes into aws-auth or an access entry: printable, no line breaks, bounded.
pub(super) fn validate_identity_text(field: &str, s: &str, allow_space: bool) -> Result<()> {
    let bad = s
        .chars()
        .any(|c| c.is_control() || (!allow_space && c.is_whitespace()));
    if s.is_empty() || s.len() > MAX_TEXT || bad || s.trim() != s {
        return Err(Error::invalid(
            field,
            format!(
                "expected 1-{MAX_TEXT} printable characters without line breaks{}, got {}",
                if allow_space { "" } else { " or spaces" },
                shown(s)
            ),
        ));
    }
    Ok(())
}

pub(super) fn groups(props: &serde_json::Map<String, Value>) -> Result<Vec<String>> {
    let raw: Vec<String> = match props.get("Groups") {
        None | Some(Value::Null) => return Ok(vec![DEFAULT_GROUP.to_string()]),
        Some(Value::String(s)) if s.is_empty() => return Ok(vec![DEFAULT_GROUP.to_string()]),
        Some(Value::String(s)) => s.split(',').map(|g| g.trim().to_string()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(Error::invalid(
                    "Groups",
                    format!("expected a list of strings, found {}", kind(other)),
                )),
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(Error::invalid(
                "Groups",
                format!(
                    "expected a string or a list of strings, got {}",
                    kind(other)
                ),
            ))
        }
    };
    if raw.is_empty() || raw.len() > 20 {
        return Err(Error::invalid("Groups", "expected 1 to 20 group names"));
    }
    for g in &raw {
        validate_identity_text("Groups", g, false)?;
    }
    Ok(raw)
}

/// Whether a property holds anything (a non-empty string or a list).
pub(super) fn string_or_list_given(props: &serde_json::Map<String, Value>, field: &str) -> bool {
    match props.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

pub(super) fn boolean(props: &serde_json::Map<String, Value>, field: &str) -> Result<bool> {
    match string(props, field)?.as_deref() {
        None => Ok(false),
        Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(s) => Err(Error::invalid(
            field,
            format!("expected \"true\" or \"false\", got {}", shown(s)),
        )),
    }
}

pub(super) fn region(s: &str) -> Result<String> {
    if crate::domain::arn::is_region(s) {
        Ok(s.to_string())
    } else {
        Err(Error::invalid(
            "Region",
            format!("expected an AWS region like us-east-1, got {}", shown(s)),
        ))
    }
}

/// An external ID as IAM takes one (`sts:ExternalId`: 2-1224 of letters, digits and
/// `_+=,.@:/-`); the value is never quoted back.
/// <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>
pub(super) fn external_id(field: &str, x: &str) -> Result<String> {
    let ok = (2..=1224).contains(&x.len())
        && x.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b));
    if ok {
        Ok(x.to_string())
    } else {
        Err(Error::invalid(
            field,
            "expected 2 to 1224 characters of letters, digits and _+=,.@:/-",
        ))
    }
}
