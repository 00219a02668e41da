//! The template's parameters as CloudFormation checks them before it creates or updates a stack:
//! every given parameter declared, every parameter without a default given, each value within
//! its `AllowedValues`, `AllowedPattern` (the whole value; each member of a list type),
//! `MinLength` and `MaxLength`, and then the template's `Rules`. The messages are
//! CloudFormation's own `ValidationError` texts (a `ConstraintDescription` replaces the generic
//! one, as CloudFormation does), so a preview refuses what a deployment would refuse, as it would.
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/parameters-section-structure.html>,
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/rules-section-structure.html>)

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use serde_yaml_ng::Value as Yaml;

use crate::error::{Error, Result};

/// One declared parameter.
#[derive(Debug, Clone)]
struct Declared {
    name: String,
    kind: String,
    default: Option<String>,
    allowed_values: Option<Vec<String>>,
    allowed_pattern: Option<String>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    constraint: Option<String>,
}

impl Declared {
    fn is_list(&self) -> bool {
        self.kind == "CommaDelimitedList" || self.kind.starts_with("List<")
    }

    /// The first constraint `value` breaks, in CloudFormation's words.
    fn refusal(&self, value: &str) -> Option<String> {
        let name = &self.name;
        let generic = if self
            .allowed_values
            .as_ref()
            .is_some_and(|a| !a.iter().any(|v| v == value))
        {
            format!("Parameter '{name}' must be one of AllowedValues")
        } else if let Some(p) = self.allowed_pattern.as_deref().filter(|p| {
            let whole = regex::Regex::new(&format!("^(?:{p})$"));
            let members: Vec<&str> = if self.is_list() {
                value.split(',').collect()
            } else {
                vec![value]
            };
            whole.is_ok_and(|re| !members.iter().all(|m| re.is_match(m)))
        }) {
            format!("Parameter '{name}' must match pattern {p}")
        } else if let Some(max) = self.max_length.filter(|m| value.chars().count() > *m) {
            format!("Parameter '{name}' must contain at most {max} characters")
        } else if let Some(min) = self.min_length.filter(|m| value.chars().count() < *m) {
            format!("Parameter '{name}' must contain at least {min} characters")
        } else {
            return None;
        };
        Some(match &self.constraint {
            Some(c) => format!("Parameter {name} failed to satisfy constraint: {c}"),
            None => generic,
        })
    }
}

/// The parameters and rules of a template.
#[derive(Debug, Clone)]
pub struct Declarations {
    parameters: Vec<Declared>,
    rules: Vec<Rule>,
}

/// One of the template's `Rules`: its condition (None: always) and its assertions, each with
/// its description.
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    condition: Option<Value>,
    assertions: Vec<(Value, Option<String>)>,
}

/// A scalar as CloudFormation reads it: a string (numbers and booleans as written).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The template's YAML as JSON, a short-form function (`!Equals [a, b]`) as its long form
/// (`{"Fn::Equals": [a, b]}`; `!Ref` as `{"Ref": ...}`).
fn long_form(y: &Yaml) -> Value {
    match y {
        Yaml::Null => Value::Null,
        Yaml::Sequence(items) => Value::Array(items.iter().map(long_form).collect()),
        Yaml::Mapping(m) => Value::Object(
            m.iter()
                .filter_map(|(k, v)| Some((scalar(k)?, long_form(v))))
                .collect(),
        ),
        Yaml::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let key = match tag {
                "Ref" | "Condition" => tag.to_string(),
                other => format!("Fn::{other}"),
            };
            json!({ key: long_form(&t.value) })
        }
        other => Value::String(scalar(other).unwrap_or_default()),
    }
}

impl Declarations {
    /// Reads the `Parameters` and `Rules` of the template at `path`.
    pub fn read(path: &Path) -> Result<Declarations> {
        let bad = |message: String| Error::Usage(format!("{}: {message}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let doc: Yaml = serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let doc = long_form(&doc);
        let mut parameters = Vec::new();
        for (name, p) in doc["Parameters"].as_object().into_iter().flatten() {
            let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
            let number = |k: &str| text(k).and_then(|v| v.parse().ok());
            parameters.push(Declared {
                name: name.clone(),
                kind: text("Type").unwrap_or_else(|| "String".into()),
                default: text("Default"),
                allowed_values: p["AllowedValues"].as_array().map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap_or_default().to_string())
                        .collect()
                }),
                allowed_pattern: text("AllowedPattern"),
                min_length: number("MinLength"),
                max_length: number("MaxLength"),
                constraint: text("ConstraintDescription"),
            });
        }
        let mut rules = Vec::new();
        for (name, r) in doc["Rules"].as_object().into_iter().flatten() {
            let assertions = r["Assertions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        a["Assert"].clone(),
                        a["AssertDescription"].as_str().map(str::to_string),
                    )
                })
                .collect();
            rules.push(Rule {
                name: name.clone(),
                condition: r.get("RuleCondition").cloned(),
                assertions,
            });
        }
        Ok(Declarations { parameters, rules })
    }

    /// CloudFormation's refusal of `given` (the stack's parameters), or None.
    pub fn refusal(&self, given: &BTreeMap<String, String>) -> Option<String> {
        let unknown: Vec<&str> = given
            .keys()
            .filter(|k| !self.parameters.iter().any(|p| &p.name == *k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Some(format!(
                "Parameters: [{}] do not exist in the template",
                unknown.join(", ")
            ));
        }
        let missing: Vec<&str> = self
            .parameters
            .iter()
            .filter(|p| p.default.is_none() && !given.contains_key(&p.name))
            .map(|p| p.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "Parameters: [{}] must have values",
                missing.join(", ")
            ));
        }
        let value = |p: &Declared| given.get(&p.name).or(p.default.as_ref()).cloned();
        if let Some(r) = self
            .parameters
            .iter()
            .find_map(|p| p.refusal(&value(p).unwrap_or_default()))
        {
            return Some(r);
        }
        let mut values: BTreeMap<&str, Value> = self
            .parameters
            .iter()
            .map(|p| {
                let v = value(p).unwrap_or_default();
                let v = if p.is_list() {
                    json!(v.split(',').collect::<Vec<_>>())
                } else {
                    json!(v)
                };
                (p.name.as_str(), v)
            })
            .collect();
        // The replay's stacks are in the aws partition (moto's and the simulator's).
        values.insert("AWS::Partition", json!("aws"));
        for Rule {
            name,
            condition,
            assertions,
        } in &self.rules
        {
            if condition
                .as_ref()
                .is_some_and(|c| !truth(&eval(c, &values)))
            {
                continue;
            }
            for (assert, description) in assertions {
                if !truth(&eval(assert, &values)) {
                    return Some(
                        description.clone().unwrap_or_else(|| {
                            format!("Rule {name} failed: its assertion is false")
                        }),
                    );
                }
            }
        }
        None
    }
}

/// Checks the create's parameters and each update's (the create's with the update's changes), as
/// CloudFormation checks them before each operation: the first refusal, naming its step.
pub fn check_steps(
    template: &Path,
    create: &[(String, String)],
    steps: &[crate::stack_args::Step],
) -> Result<()> {
    let declared = Declarations::read(template)?;
    let mut params: BTreeMap<String, String> = create.iter().cloned().collect();
    if let Some(r) = declared.refusal(&params) {
        return Err(Error::Parameters(format!("--parameters: {r}")));
    }
    for step in steps {
        if let crate::stack_args::Step::Update(changes) = step {
            params.extend(changes.iter().cloned());
            if let Some(r) = declared.refusal(&params) {
                return Err(Error::Parameters(format!(
                    "--then {}: {r}",
                    step.action().trim_start_matches("update").trim_start()
                )));
            }
        }
    }
    Ok(())
}

fn truth(v: &Value) -> bool {
    v.as_bool().unwrap_or(false)
}

fn members(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// A rule's expression: `Ref`, the condition functions, and the rule-only list functions.
fn eval(e: &Value, values: &BTreeMap<&str, Value>) -> Value {
    let Some((f, args)) = e.as_object().and_then(|o| o.iter().next()) else {
        return e.clone();
    };
    let args: Vec<Value> = match args {
        Value::Array(a) => a.iter().map(|a| eval(a, values)).collect(),
        other => vec![eval(other, values)],
    };
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    match f.as_str() {
        "Ref" => values
            .get(arg(0).as_str().unwrap_or_default())
            .cloned()
            .unwrap_or(Value::Null),
        "Fn::Equals" => json!(arg(0) == arg(1)),
        "Fn::Not" => json!(!truth(&arg(0))),
        "Fn::And" => json!(args.iter().all(truth)),
        "Fn::Or" => json!(args.iter().any(truth)),
        "Fn::Contains" => json!(members(&arg(0)).contains(&arg(1))),
        "Fn::EachMemberEquals" => json!(members(&arg(0)).iter().all(|m| *m == arg(1))),
        "Fn::EachMemberIn" => {
            let within = members(&arg(1));
            json!(members(&arg(0)).iter().all(|m| within.contains(m)))
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests;
