//! The command line of `cfn-replay stack` (clap): the template, the create's parameters and the
//! steps after it, each `--then` one step.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches};

use crate::error::{Error, Result};

/// What `cfn-replay stack --help` prints.
pub const USAGE: &str = "\
usage: cfn-replay stack --template FILE [--from-template FILE] [--scenario FILE] [--venv DIR]
                        [--clock-scale N] --parameters K=V [K=V ...]
                        [--then K=V ... | --then reconcile | --then invoke FILE]...
                        [--then delete [--then reconcile | --then invoke FILE]...]

Plays a stack's lifecycle in CloudFormation's order on the simulator: Create (the roles and their
policies, then the custom resource), each --then K=V ... an update that changes those parameters
and keeps the others (the role's policy first, then the custom resource; a FAILED custom-resource
Update is rolled back with the old properties under the new policy, then the policy is restored;
a replaced resource's old id is deleted in the cleanup phase), --then delete (the custom resource,
then the roles), --then reconcile (the schedule's reconcile event for the current parameters, as
the template's schedule sends it: no answer; its report is the step's Reconcile), --then invoke
FILE (FILE sent to the function directly, as another principal than CloudFormation could:
{{StackId}}, {{PhysicalResourceId}}, {{RoleArn}}, {{ClusterAdminRoleArn}} and {{ResponseURL}} in
it become the stack's values and the local receiver; its line has Status and Reason of the
answer, or null, every call, Calls, and those that changed something, Writes). The policy in
force at each step is the one the template renders for that step's parameters on moto's
CloudFormation. The simulator's account becomes moto's (123456789012).

Every step's parameters are checked first, as CloudFormation checks them before it creates or
updates anything: a parameter the template does not declare, a value outside AllowedValues,
AllowedPattern, MinLength or MaxLength, a required parameter without a value and a failed Rules
assertion are refused (exit 2) with CloudFormation's message, and nothing runs.

Options:
  --template FILE     the CloudFormation template (infra/eks-role-mapper.yaml)
  --from-template FILE the stack is made with FILE, and the first step updates it to --template
                      (infra/README.md, \"Upgrading a stack made with the original template\")
  --scenario FILE     the simulator's clusters (default: its built-in scenario)
  --venv DIR          the venv with aws-cli and moto (see below)
  --clock-scale N     simulated time runs N times as fast as the wall clock (default: the
                      scenario's, 1): IAM propagates a new role in 20 simulated seconds
  --parameters K=V... the create's parameters
  --then ...          one step after the create: K=V ... (an update), delete, reconcile, or
                      invoke FILE
  -h, --help          this text
  -V, --version       the version

aws-cli and moto (scripts/requirements-test.txt) are found at run time: AWS_CLI and MOTO_SERVER,
else the venv of --venv DIR, CFN_REPLAY_VENV or VIRTUAL_ENV, else .venv in the current directory
or one above it (scripts/test makes it at the checkout's root), else PATH.

One JSON line per step on stdout: Step, Action, StackStatus, Reason, Calls; a step after one that
left the stack unusable (ROLLBACK_COMPLETE, *_FAILED) has Skipped instead. Progress on stderr.
Exit status: 0 every step reached its *_COMPLETE without a rollback, 1 otherwise, 2 usage.";

/// One step after the Create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Update(Vec<(String, String)>),
    Delete,
    /// The schedule's reconcile event, as the template builds it from the current parameters.
    Reconcile,
    /// FILE sent to the function directly, by another principal than CloudFormation.
    Invoke(PathBuf),
}

impl Step {
    /// The step's name in its JSON line (`Action`).
    pub fn action(&self) -> String {
        match self {
            Step::Update(changes) => format!(
                "update {}",
                changes
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
            // An update with no changes (the upgrade of --from-template) is "update".
            .trim_end()
            .to_string(),
            Step::Delete => "delete".into(),
            Step::Reconcile => "reconcile".into(),
            Step::Invoke(file) => format!("invoke {}", file.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StackOptions {
    pub template: PathBuf,
    /// `--from-template`: the template the stack was made with before its update to `template`.
    pub from_template: Option<PathBuf>,
    pub scenario: Option<PathBuf>,
    pub parameters: Vec<(String, String)>,
    pub steps: Vec<Step>,
    /// The Python tools' venv (`--venv`), when not found from the environment.
    pub venv: Option<PathBuf>,
    /// `--clock-scale`: replaces the scenario's `clock_scale`.
    pub clock_scale: Option<f64>,
}

impl StackOptions {
    /// Options for `template` and the create's `parameters`, no step yet.
    pub fn new(template: PathBuf, parameters: Vec<(String, String)>) -> StackOptions {
        StackOptions {
            template,
            from_template: None,
            scenario: None,
            parameters,
            steps: Vec::new(),
            venv: None,
            clock_scale: None,
        }
    }
}

fn pair(text: &str) -> Result<(String, String)> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| Error::Usage(format!("expected K=V, got {text}")))
}

/// The clap command of `cfn-replay stack` (its help is [`USAGE`]).
pub fn command() -> clap::Command {
    let path = |name: &'static str, value: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name(value)
            .value_parser(clap::value_parser!(PathBuf))
    };
    clap::Command::new("stack")
        .about("a whole stack's lifecycle, with the template's IAM policy in force")
        .override_help(USAGE)
        .version(env!("CARGO_PKG_VERSION"))
        .arg(path("template", "FILE").required(true))
        .arg(path("from-template", "FILE"))
        .arg(path("scenario", "FILE"))
        .arg(path("venv", "DIR"))
        .arg(
            Arg::new("clock-scale")
                .long("clock-scale")
                .value_name("N")
                .value_parser(clap::value_parser!(f64)),
        )
        .arg(
            Arg::new("parameters")
                .long("parameters")
                .value_name("K=V")
                .num_args(1..)
                .action(ArgAction::Append),
        )
        .arg(
            Arg::new("then")
                .long("then")
                .value_name("STEP")
                .num_args(1..)
                .action(ArgAction::Append),
        )
}

/// The options of parsed `cfn-replay stack` arguments.
pub fn options(m: &ArgMatches) -> Result<StackOptions> {
    let template = m
        .get_one::<PathBuf>("template")
        .cloned()
        .ok_or_else(|| Error::Usage("--template is required".into()))?;
    let parameters = m
        .get_many::<String>("parameters")
        .into_iter()
        .flatten()
        .map(|kv| pair(kv))
        .collect::<Result<Vec<_>>>()?;
    let mut steps = Vec::new();
    for then in m.get_occurrences::<String>("then").into_iter().flatten() {
        let words: Vec<&String> = then.collect();
        steps.push(match words.as_slice() {
            [w] if *w == "delete" => Step::Delete,
            [w] if *w == "reconcile" => Step::Reconcile,
            [w, file] if *w == "invoke" => Step::Invoke(PathBuf::from(file.as_str())),
            [w] if *w == "invoke" => return Err(Error::Usage("--then invoke needs a file".into())),
            [first, ..] if *first == "delete" || *first == "reconcile" || *first == "invoke" => {
                return Err(Error::Usage(format!(
                    "--then {first} takes no K=V: {}",
                    words[1..]
                        .iter()
                        .map(|w| w.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                )))
            }
            _ => Step::Update(words.iter().map(|w| pair(w)).collect::<Result<_>>()?),
        });
    }
    if let Some(i) = steps.iter().position(|s| s == &Step::Delete) {
        if steps[i + 1..]
            .iter()
            .any(|s| !matches!(s, Step::Reconcile | Step::Invoke(_)))
        {
            return Err(Error::Usage(
                "only --then reconcile or --then invoke may follow --then delete".into(),
            ));
        }
    }
    let clock_scale = m.get_one::<f64>("clock-scale").copied();
    if clock_scale.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
        return Err(Error::Usage("--clock-scale needs a number above 0".into()));
    }
    Ok(StackOptions {
        template,
        from_template: m.get_one::<PathBuf>("from-template").cloned(),
        scenario: m.get_one::<PathBuf>("scenario").cloned(),
        parameters,
        steps,
        venv: m.get_one::<PathBuf>("venv").cloned(),
        clock_scale,
    })
}

/// Parses the arguments after `stack`; None for --help or --version (printed by the caller from
/// the error clap answers).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<StackOptions>> {
    let args = std::iter::once(OsString::from("stack")).chain(args);
    match command().try_get_matches_from(args) {
        Ok(m) => options(&m).map(Some),
        Err(e) if crate::cli::is_not_an_error(&e) => Ok(None),
        Err(e) => Err(Error::Usage(crate::cli::one_line(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn parameters_then_updates_then_delete() {
        let o = parse(args(&[
            "--template",
            "t.yaml",
            "--parameters",
            "A=1",
            "B=x,y",
            "--then",
            "A=2",
            "--then",
            "B=z",
            "C=",
            "--then",
            "reconcile",
            "--then",
            "delete",
            "--then",
            "reconcile",
            "--clock-scale",
            "20",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.template, PathBuf::from("t.yaml"));
        assert_eq!(o.clock_scale, Some(20.0));
        assert_eq!(
            o.parameters,
            [("A".into(), "1".into()), ("B".into(), "x,y".into())]
        );
        assert_eq!(
            o.steps,
            [
                Step::Update(vec![("A".into(), "2".into())]),
                Step::Update(vec![("B".into(), "z".into()), ("C".into(), "".into())]),
                Step::Reconcile,
                Step::Delete,
                Step::Reconcile
            ]
        );
        assert_eq!(o.steps[1].action(), "update B=z C=");
    }

    #[test]
    fn usage_errors_are_one_line() {
        for (a, needle) in [
            (&["--parameters", "A=1"][..], "--template"),
            (&["--template", "t", "--then"][..], "--then"),
            (
                &["--template", "t", "--then", "delete", "--then", "A=1"][..],
                "only --then reconcile or --then invoke may follow",
            ),
            (
                &["--template", "t", "--then", "reconcile", "A=1"][..],
                "takes no K=V",
            ),
            (
                &["--template", "t", "--parameters", "A"][..],
                "expected K=V",
            ),
            (&["--template", "t", "--frob"][..], "--frob"),
            (&["--template", "t", "--clock-scale", "0"][..], "above 0"),
            (
                &["--template", "t", "--then", "invoke"][..],
                "--then invoke needs a file",
            ),
        ] {
            match parse(args(a)) {
                Err(Error::Usage(m)) => {
                    assert!(m.contains(needle), "{a:?}: {m}");
                    assert!(!m.contains('\n'), "{a:?}: {m}");
                }
                other => panic!("{a:?}: {other:?}"),
            }
        }
        assert_eq!(parse(args(&["--help"])).unwrap(), None);
        assert_eq!(parse(args(&["--version"])).unwrap(), None);
    }
}
