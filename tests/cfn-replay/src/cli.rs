//! The command line: `cfn-replay [OPTIONS] EVENT.json...`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::{Error, Result};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Replay(Options),
}

fn value(args: &mut impl Iterator<Item = OsString>, option: &str) -> Result<PathBuf> {
    args.next()
        .map(PathBuf::from)
        .ok_or_else(|| Error::Usage(format!("{option} needs a file")))
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    let mut o = Options {
        scenario: None,
        state_out: None,
        dry_run: false,
        aws: false,
        chain: true,
        events: Vec::new(),
    };
    let mut args = args.into_iter();
    let mut only_files = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if only_files || !text.starts_with('-') || text == "-" {
            o.events.push(arg.into());
            continue;
        }
        match text.as_ref() {
            "--" => only_files = true,
            "--scenario" => o.scenario = Some(value(&mut args, "--scenario")?),
            "--state-out" => o.state_out = Some(value(&mut args, "--state-out")?),
            "--dry-run" => o.dry_run = true,
            "--aws" => o.aws = true,
            "--chain" => o.chain = true,
            "--no-chain" => o.chain = false,
            "-h" | "--help" => return Ok(Command::Help),
            other => return Err(Error::Usage(format!("unknown option {other}"))),
        }
    }
    if o.events.is_empty() {
        return Err(Error::Usage("no event files given".into()));
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
    Ok(Command::Replay(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn opts(a: &[&str]) -> Options {
        match parse(args(a)).unwrap() {
            Command::Replay(o) => o,
            Command::Help => panic!("help"),
        }
    }

    #[test]
    fn events_are_kept_in_order_and_chaining_is_on_by_default() {
        let o = opts(&["c.json", "--state-out", "s.json", "u.json", "d.json"]);
        assert_eq!(
            o.events,
            vec![
                PathBuf::from("c.json"),
                PathBuf::from("u.json"),
                PathBuf::from("d.json")
            ]
        );
        assert_eq!(o.state_out, Some(PathBuf::from("s.json")));
        assert!(o.chain && !o.dry_run && !o.aws);
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
    fn help_wins_over_everything_else() {
        assert_eq!(parse(args(&["c.json", "--help"])).unwrap(), Command::Help);
        assert_eq!(parse(args(&["-h"])).unwrap(), Command::Help);
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        for (a, needle) in [
            (
                &["--frobnicate", "c.json"][..],
                "unknown option --frobnicate",
            ),
            (&[][..], "no event files"),
            (&["--dry-run"][..], "no event files"),
            (&["c.json", "--scenario"][..], "--scenario needs a file"),
            (&["c.json", "--state-out"][..], "--state-out needs a file"),
            (
                &["--aws", "--scenario", "s.yaml", "c.json"][..],
                "exclude each other",
            ),
            (
                &["--aws", "--state-out", "s.json", "c.json"][..],
                "--state-out",
            ),
        ] {
            match parse(args(a)) {
                Err(Error::Usage(m)) => assert!(m.contains(needle), "{a:?}: {m}"),
                other => panic!("{a:?}: {other:?}"),
            }
        }
    }
}
