//! `--then invoke FILE --while STATUS`: the moment of CloudFormation's sequence an invoke step is
//! sent at. The stack and its custom resource are held in the statuses CloudFormation reports
//! while it runs such an operation, for that one invoke, and then put back.
//!
//! The statuses, from CloudFormation's documentation of stack and resource status codes
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html>,
//! "Stack status codes" and "Resource status codes") and of what each operation does to the
//! resources (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html>,
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-update-rollback-failed>):
//! - CREATE_IN_PROGRESS: the stack is being created, the custom resource too (its Create is out,
//!   no physical id recorded yet);
//! - UPDATE_IN_PROGRESS: the stack is being updated, the custom resource too (its Update is out,
//!   under its physical id);
//! - UPDATE_ROLLBACK_IN_PROGRESS: the stack rolls back a failed update; the resources it puts
//!   back to their previous properties are reported UPDATE_IN_PROGRESS (the resource status codes
//!   have no rollback status of their own: a rolled-back resource goes UPDATE_IN_PROGRESS, then
//!   UPDATE_COMPLETE, under a stack in UPDATE_ROLLBACK_IN_PROGRESS);
//! - DELETE_IN_PROGRESS: the stack is being deleted, the custom resource too (its Delete is out).

use std::path::PathBuf;

use clap::ArgMatches;

use crate::error::{Error, Result};

/// A CloudFormation operation under way, as `--while` names it by the stack's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum During {
    Create,
    Update,
    UpdateRollback,
    Delete,
}

impl During {
    /// Every operation `--while` takes, in CloudFormation's order.
    pub const ALL: [During; 4] = [
        During::Create,
        During::Update,
        During::UpdateRollback,
        During::Delete,
    ];

    /// From the stack status `--while` is given.
    pub fn parse(status: &str) -> Option<During> {
        During::ALL.into_iter().find(|d| d.stack_status() == status)
    }

    /// The stack's status while the operation runs.
    pub fn stack_status(self) -> &'static str {
        match self {
            During::Create => "CREATE_IN_PROGRESS",
            During::Update => "UPDATE_IN_PROGRESS",
            During::UpdateRollback => "UPDATE_ROLLBACK_IN_PROGRESS",
            During::Delete => "DELETE_IN_PROGRESS",
        }
    }

    /// The custom resource's status meanwhile (a rollback updates it back: UPDATE_IN_PROGRESS).
    pub fn resource_status(self) -> &'static str {
        match self {
            During::Create => "CREATE_IN_PROGRESS",
            During::Update | During::UpdateRollback => "UPDATE_IN_PROGRESS",
            During::Delete => "DELETE_IN_PROGRESS",
        }
    }

    /// Whether the resource has a physical id on record meanwhile (not before its Create answers).
    pub fn keeps_physical_id(self) -> bool {
        self != During::Create
    }
}

/// Where each `--then` and `--while` stands on the command line: the index of each `--then`'s
/// first word, in order, and each `--while`'s status with its index.
fn positions(m: &ArgMatches) -> (Vec<usize>, Vec<(usize, String)>) {
    let mut indices = m.indices_of("then").into_iter().flatten();
    let thens = m
        .get_occurrences::<String>("then")
        .into_iter()
        .flatten()
        .filter_map(|words| {
            let n = words.count();
            let first = indices.next();
            for _ in 1..n {
                indices.next();
            }
            first
        })
        .collect();
    let whiles = m
        .indices_of("while")
        .into_iter()
        .flatten()
        .zip(m.get_many::<String>("while").into_iter().flatten().cloned())
        .collect();
    (thens, whiles)
}

/// The operation of each `--then` (None for those without `--while`): each `--while STATUS`
/// belongs to the `--then invoke FILE` right before it, once.
pub(crate) fn of_each_step(
    m: &ArgMatches,
    invokes: &[Option<PathBuf>],
) -> Result<Vec<Option<During>>> {
    let (thens, whiles) = positions(m);
    let mut during = vec![None; thens.len()];
    for (at, status) in whiles {
        let Some(step) = thens.iter().rposition(|&i| i < at) else {
            return Err(Error::Usage(format!(
                "--while {status} must follow --then invoke FILE"
            )));
        };
        if invokes.get(step).is_none_or(Option::is_none) {
            return Err(Error::Usage(format!(
                "--while {status} must follow --then invoke FILE, not another step"
            )));
        }
        let d = During::parse(&status).ok_or_else(|| {
            Error::Usage(format!(
                "--while {status}: expected one of {}",
                During::ALL.map(During::stack_status).join(", ")
            ))
        })?;
        if during[step].replace(d).is_some() {
            return Err(Error::Usage(format!(
                "--while {status}: an invoke is held in one status only"
            )));
        }
    }
    Ok(during)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack_args::{parse, Step};

    fn steps(a: &[&str]) -> Result<Vec<Step>> {
        let args = ["--template", "t.yaml"]
            .iter()
            .chain(a)
            .map(std::ffi::OsString::from);
        parse(args).map(|o| o.expect("options").steps)
    }

    #[test]
    fn while_belongs_to_the_invoke_before_it_and_configure_and_tag_are_steps() {
        let got = steps(&[
            "--then",
            "invoke",
            "a.json",
            "--while",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "--then",
            "invoke",
            "b.json",
            "--then",
            "configure",
            "K=v",
            "L=",
            "--then",
            "delete",
            "--then",
            "tag",
            "t.json",
            "--then",
            "invoke",
            "c.json",
            "--while",
            "DELETE_IN_PROGRESS",
        ])
        .unwrap();
        assert_eq!(
            got,
            [
                Step::Invoke("a.json".into(), Some(During::UpdateRollback)),
                Step::Invoke("b.json".into(), None),
                Step::Configure(vec![("K".into(), "v".into()), ("L".into(), "".into())]),
                Step::Delete,
                Step::Tag("t.json".into()),
                Step::Invoke("c.json".into(), Some(During::Delete)),
            ]
        );
        assert_eq!(
            got[0].action(),
            "invoke a.json --while UPDATE_ROLLBACK_IN_PROGRESS"
        );
        assert_eq!(got[2].action(), "configure K=v L=");
    }

    #[test]
    fn a_while_without_its_invoke_or_of_another_status_is_a_usage_error() {
        for (a, needle) in [
            (
                &["--while", "UPDATE_IN_PROGRESS"][..],
                "must follow --then invoke",
            ),
            (
                &["--then", "delete", "--while", "DELETE_IN_PROGRESS"][..],
                "not another step",
            ),
            (
                &["--then", "invoke", "a.json", "--while", "UPDATE_COMPLETE"][..],
                "expected one of",
            ),
            (
                &[
                    "--then",
                    "invoke",
                    "a",
                    "--while",
                    "UPDATE_IN_PROGRESS",
                    "--while",
                    "DELETE_IN_PROGRESS",
                ][..],
                "one status only",
            ),
            (&["--then", "configure"][..], "needs K=V"),
            (&["--then", "configure", "novalue"][..], "expected K=V"),
            (&["--then", "tag"][..], "needs a file"),
        ] {
            match steps(a) {
                Err(Error::Usage(m)) => assert!(m.contains(needle), "{a:?}: {m}"),
                other => panic!("{a:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn each_status_names_the_stack_and_the_resource_as_cloudformation_reports_them() {
        for d in During::ALL {
            assert_eq!(During::parse(d.stack_status()), Some(d));
        }
        assert_eq!(
            During::UpdateRollback.resource_status(),
            "UPDATE_IN_PROGRESS"
        );
        assert_eq!(During::Delete.resource_status(), "DELETE_IN_PROGRESS");
        assert!(!During::Create.keeps_physical_id());
        assert_eq!(During::parse("UPDATE_COMPLETE"), None);
    }
}
