//! The command line: `cfn-replay [OPTIONS] EVENT.json...`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction};

use crate::error::{Error, Result};
use crate::stack_args::StackOptions;

/// What `--help` prints.
pub const USAGE: &str = "\
usage: cfn-replay [OPTIONS] EVENT.json...
       cfn-replay stack --help    a whole stack's lifecycle, with the template's IAM policy in force

Replays CloudFormation custom-resource events, in order, through the mapper's handler
(eks_role_mapper::handle) exactly as Lambda would invoke it, against an embedded simulator of EKS,
STS and the clusters' Kubernetes APIs. Each event's ResponseURL is replaced by the simulator's
local receiver (the event's own URL is never used or printed). For every event the CloudFormation
response is printed as one JSON line on stdout; stderr gets a readable account (the aws-auth
mapRoles diff, the access entries and policies made or removed) and the mapper's logs.

Options:
  --scenario FILE   simulator scenario, YAML or JSON (default: the built-in default scenario)
  --state-out FILE  write the simulator's final state as JSON
  --dry-run         run eks_role_mapper::dry_run instead: the live code with its writes
                    recorded, not sent; stdout: one JSON line per event (DryRun, Status,
                    Reason, PhysicalResourceId, Data, Calls), stderr: the aws-auth diff
  --aws             real AWS: endpoints, credentials and region from the standard chain
                    (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, AWS_CA_BUNDLE, ...); no
                    simulator, the response is still caught by a local receiver (SSO and
                    credential_process profiles: build with --features aws-profiles)
  --chain           (default) Update and Delete events take the PhysicalResourceId of the
                    previous event's response, so create/update/delete replay as one stack
  --no-chain        keep each event's own PhysicalResourceId (e.g. a replacement's Delete,
                    which CloudFormation sends with the old id)
  -h, --help        this text
  -V, --version     the version

Environment: RUST_LOG filters the mapper's logs (default: warn; the AWS SDK, signer and HTTP
crates stay at info or less whatever it asks, so no secret reaches the log).
Exit status: 0 every response SUCCESS, 1 any FAILED (or no response), 2 usage or setup error.";

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub scenario: Option<PathBuf>,
    pub state_out: Option<PathBuf>,
    pub dry_run: bool,
    pub aws: bool,
    pub chain: bool,
    pub events: Vec<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `--help` or `--version`: the text to print on stdout (exit 0).
    Print(String),
    Replay(Options),
    Stack(StackOptions),
}

/// Whether clap's answer is a text asked for (help, version), not a usage error.
pub fn is_not_an_error(e: &clap::Error) -> bool {
    use clap::error::ErrorKind::*;
    matches!(
        e.kind(),
        DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
    )
}

/// A usage error as one line: what is wrong, without clap's usage block.
pub fn one_line(e: &clap::Error) -> String {
    // clap's message is its first paragraph (a required argument's name on the lines after
    // the first); the usage block after it is left to --help.
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    format!(
        "{} (see --help)",
        message.strip_prefix("error: ").unwrap_or(&message)
    )
}

/// The clap command: the replay's options and events, or the `stack` subcommand.
pub fn command() -> clap::Command {
    let path = |name: &'static str| {
        Arg::new(name)
            .long(name)
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
    };
    let flag = |name: &'static str| Arg::new(name).long(name).action(ArgAction::SetTrue);
    clap::Command::new("cfn-replay")
        .version(env!("CARGO_PKG_VERSION"))
        .override_help(USAGE)
        .args_conflicts_with_subcommands(true)
        .disable_help_subcommand(false)
        .arg(path("scenario"))
        .arg(path("state-out"))
        .arg(flag("dry-run"))
        .arg(flag("aws"))
        .arg(flag("chain").overrides_with("no-chain"))
        .arg(flag("no-chain").overrides_with("chain"))
        .arg(
            Arg::new("events")
                .value_name("EVENT.json")
                .num_args(0..)
                .value_parser(clap::value_parser!(PathBuf)),
        )
        .subcommand(crate::stack_args::command())
}

/// An output file's folder must exist before any work starts: a replay is not run only to fail
/// at its end.
pub fn writable(path: &std::path::Path) -> Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if folder.is_dir() && !path.is_dir() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--state-out {}: {}",
        path.display(),
        if path.is_dir() {
            "is a folder, not a file".to_string()
        } else {
            format!("the folder {} does not exist", folder.display())
        }
    )))
}

/// Parses the whole command line (the program's name first).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    let m = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) if is_not_an_error(&e) => return Ok(Command::Print(e.render().to_string())),
        Err(e) => return Err(Error::Usage(one_line(&e))),
    };
    if let Some(("stack", sub)) = m.subcommand() {
        return crate::stack_args::options(sub).map(Command::Stack);
    }
    let o = Options {
        scenario: m.get_one::<PathBuf>("scenario").cloned(),
        state_out: m.get_one::<PathBuf>("state-out").cloned(),
        dry_run: m.get_flag("dry-run"),
        aws: m.get_flag("aws"),
        chain: !m.get_flag("no-chain"),
        events: m
            .get_many::<PathBuf>("events")
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
    };
    if o.events.is_empty() {
        return Err(Error::Usage("no event files given (see --help)".into()));
    }
    if o.aws && o.scenario.is_some() {
        return Err(Error::Usage(
            "--aws and --scenario exclude each other: --aws uses real AWS, not the simulator"
                .into(),
        ));
    }
    if o.aws && o.state_out.is_some() {
        return Err(Error::Usage(
            "--state-out needs the simulator; it has no meaning with --aws".into(),
        ));
    }
    if let Some(path) = &o.state_out {
        writable(path)?;
    }
    Ok(Command::Replay(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        std::iter::once("cfn-replay")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn opts(a: &[&str]) -> Options {
        match parse(args(a)).unwrap() {
            Command::Replay(o) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_are_kept_in_order_and_chaining_is_on_by_default() {
        let o = opts(&["c.json", "--dry-run", "u.json", "d.json"]);
        assert_eq!(
            o.events,
            vec![
                PathBuf::from("c.json"),
                PathBuf::from("u.json"),
                PathBuf::from("d.json")
            ]
        );
        assert!(o.chain && o.dry_run && !o.aws);
        assert!(!opts(&["--no-chain", "c.json"]).chain);
        assert!(opts(&["--no-chain", "--chain", "c.json"]).chain);
    }

    #[test]
    fn a_double_dash_ends_the_options() {
        assert_eq!(
            opts(&["--", "--dry-run"]).events,
            vec![PathBuf::from("--dry-run")]
        );
    }

    #[test]
    fn help_and_version_are_printed_not_errors() {
        for a in [&["c.json", "--help"][..], &["-h"], &["help"]] {
            match parse(args(a)).unwrap() {
                Command::Print(text) => assert!(text.starts_with("usage: cfn-replay"), "{a:?}"),
                other => panic!("{a:?}: {other:?}"),
            }
        }
        match parse(args(&["--version"])).unwrap() {
            Command::Print(text) => assert!(text.starts_with("cfn-replay 0."), "{text}"),
            other => panic!("{other:?}"),
        }
        match parse(args(&["stack", "--help"])).unwrap() {
            Command::Print(text) => assert!(text.starts_with("usage: cfn-replay stack")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn usage_errors_say_what_is_wrong_in_one_line() {
        for (a, needle) in [
            (&["--frobnicate", "c.json"][..], "--frobnicate"),
            (&[][..], "no event files"),
            (&["--dry-run"][..], "no event files"),
            (&["c.json", "--scenario"][..], "--scenario"),
            (&["c.json", "--state-out"][..], "--state-out"),
            (
                &["--aws", "--scenario", "s.yaml", "c.json"][..],
                "exclude each other",
            ),
            (
                &["--aws", "--state-out", "s.json", "c.json"][..],
                "--state-out",
            ),
            (
                &["--state-out", "/no/such/folder/s.json", "c.json"][..],
                "/no/such/folder",
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
    }
}
