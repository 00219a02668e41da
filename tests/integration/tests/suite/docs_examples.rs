//! Issue 33: every shell block of `README.md`, `infra/README.md` and `events/README.md` runs as
//! written, so the docs cannot drift from the tools. A block whose first line is a comment
//! starting `# needs ` (real AWS, a second terminal, half an hour of builds) says why it is not
//! run here, and is not. Every other command must exit 0, or 1 where its own comment says the
//! answer is `FAILED`. `cargo run -p NAME -- ...` runs the workspace's fresh binary NAME (the
//! same build, without a nested cargo), in a scratch folder that sees the checkout's files, so a
//! `--state-out state.json` lands there.
//!
//! Issue 38: a block whose first line starts `# real AWS` documents `aws` commands for a real
//! account; it runs as written against moto with the pinned aws-cli (`aws` on PATH, moto as
//! `AWS_ENDPOINT_URL`), so aws-cli's own checks run (the 51,200-byte limit on a template given
//! inline, every option's name and shape) and CloudFormation's API answers (moto's). moto has
//! what the blocks start from ([`moto_world`]: the buckets, the published template, a stack of
//! the original template). Each runs to its end on moto; what moto does not do stays unverified
//! without an account: it does not invoke the custom resource's function (`Mapping` completes
//! unasked), evaluates no template `Rules`, deploys no StackSet instance into member accounts and
//! checks no organization unit. Where moto stops short of the end, [`MOTO_STOPS`] says where and
//! why, and the test holds it to that answer.

use std::path::{Path, PathBuf};
use std::process::Command;

const DOCS: &[&str] = &["README.md", "infra/README.md", "events/README.md"];

/// The documented commands moto cannot finish: (a text of the command, moto's answer, why). Each
/// must exit 255 with that answer, after aws-cli's own checks and the calls before it passed.
const MOTO_STOPS: &[(&str, &str, &str)] = &[(
    "'Reconcile=rate(1 hour)'",
    "Fn::GetAtt references undefined resource MapperLogGroup",
    "the second deploy of concurrent-eks is an update through a change set; moto 5.2.1 executes an \
     update's change set without the stack's existing resources (any update of this template by \
     change set fails so on moto; the same parameters as a new stack complete)",
)];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the `# real AWS` blocks start from, in moto at `moto`: the bucket `--s3-bucket` names,
/// the vendor's bucket with the code and the published template (the `--template-url` the docs
/// give), and a stack of the original Step 1 template (the upgrade).
fn moto_world(moto: &str) {
    use integration::rendered::aws_in;
    let aws =
        |args: &[&str]| aws_in(moto, "us-east-1", args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    for bucket in ["my-templates-us-east-1", "my-artifacts-us-east-1"] {
        aws(&["s3api", "create-bucket", "--bucket", bucket]);
    }
    let zip = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(zip.path(), b"PK\x03\x04 not really a zip").unwrap();
    let template = root().join("infra/eks-role-mapper.yaml");
    for (file, key) in [
        (zip.path(), "eks-role-mapper/bootstrap.zip"),
        (template.as_path(), "eks-role-mapper/eks-role-mapper.yaml"),
    ] {
        let file = file.to_str().unwrap();
        aws(&[
            "s3api",
            "put-object",
            "--bucket",
            "my-artifacts-us-east-1",
            "--key",
            key,
            "--body",
            file,
        ]);
    }
    let original = root().join("tests/integration/fixtures/original-iam-role-for-parallels.yaml");
    aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        "the-original-stack-name",
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--template-body",
        &std::fs::read_to_string(original).unwrap(),
        "--parameters",
        "ParameterKey=ParallelsAWSAccount,ParameterValue=123456789012",
    ]);
}

/// The `sh` blocks of a markdown text: (the line of the fence, the block's lines).
fn blocks(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<String>)> = None;
    for (n, line) in text.lines().enumerate() {
        match (&mut open, line.trim_start()) {
            (None, "```sh") => open = Some((n + 1, Vec::new())),
            (Some(_), "```") => out.extend(open.take()),
            (Some((_, lines)), _) => lines.push(line.to_string()),
            _ => {}
        }
    }
    out
}

/// A block's commands: continued lines joined, comment-only lines left out; each with the exit
/// status its comment promises (1 for `# FAILED`, else 0).
fn commands(lines: &[String]) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in lines {
        if current.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let expected = if current.contains("# FAILED") { 1 } else { 0 };
                out.push((std::mem::take(&mut current), expected));
            }
        }
    }
    out
}

/// The script that runs one block's commands, each checked for its exit status.
fn script(bins: &Path, cmds: &[(String, i32)]) -> String {
    let mut s = format!(
        "set -u\nBINS='{}'\n\
         cargo() {{ if [ \"$1 $2\" = 'run -p' ] && [ \"$4\" = '--' ]; then local n=$3; shift 4; \"$BINS/$n\" \"$@\"; \
         else echo \"the docs test runs only cargo run -p NAME -- ...: $*\" >&2; return 99; fi; }}\n",
        bins.display()
    );
    for (i, (cmd, expected)) in cmds.iter().enumerate() {
        s.push_str(&format!(
            "echo '>>> command {i}' >&2\n{cmd}\ns=$?\n[ $s -eq {expected} ] || {{ echo \"command {i} exited $s, not {expected}\" >&2; exit 1; }}\n"
        ));
    }
    s
}

#[test]
fn every_shell_block_of_the_readmes_runs_as_written() {
    integration::capture_logs();
    let replay = integration::workspace_bin("cfn-replay");
    let bins = replay.parent().unwrap().to_path_buf();
    let scratch = tempfile::tempdir().unwrap();
    for entry in ["events", "infra", "tests", "scripts", ".venv"] {
        let target = root().join(entry).canonicalize();
        if let Ok(target) = target {
            std::os::unix::fs::symlink(target, scratch.path().join(entry)).unwrap();
        }
    }
    let (_moto, moto) = integration::start_moto();
    moto_world(&moto);
    // moto reads the bucket of a template URL from its path only when the host is localhost;
    // AWS's own URL forms (the docs') name the bucket in the host, which moto reads too.
    let moto = moto.replace("127.0.0.1", "localhost");
    let pinned_aws = integration::aws_cli();
    let path = format!(
        "{}:{}",
        pinned_aws.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (mut ran, mut skipped, mut on_moto) = (Vec::new(), Vec::new(), Vec::new());
    for doc in DOCS {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for (line, block) in blocks(&text) {
            let place = format!("{doc}:{line}");
            if block
                .first()
                .is_some_and(|l| l.trim_start().starts_with("# needs "))
            {
                skipped.push(place);
                continue;
            }
            let mut cmds = commands(&block);
            assert!(!cmds.is_empty(), "{place}: a block without a command");
            let on_aws = block
                .first()
                .is_some_and(|l| l.trim_start().starts_with("# real AWS"));
            let mut stops = Vec::new();
            for (cmd, expected) in cmds.iter_mut().filter(|_| on_aws) {
                if let Some((_, answer, _)) = MOTO_STOPS.iter().find(|(c, _, _)| cmd.contains(c)) {
                    *expected = 255;
                    stops.push(*answer);
                }
            }
            let mut run = Command::new("bash");
            run.arg("-c")
                .arg(script(&bins, &cmds))
                .current_dir(scratch.path())
                .env_remove("RUST_LOG");
            if on_aws {
                assert!(cmds.iter().any(|(c, _)| c.contains("aws ")), "{place}");
                run.env("PATH", &path)
                    .env("AWS_ENDPOINT_URL", &moto)
                    .env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing")
                    .env("AWS_DEFAULT_REGION", "us-east-1")
                    .env_remove("AWS_PROFILE")
                    .env_remove("AWS_CA_BUNDLE");
                on_moto.push(place.clone());
            }
            let o = run.output().unwrap();
            integration::keep_output("docs-example", &o);
            let stderr = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            assert!(
                o.status.success(),
                "{place} does not run as written:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
            for answer in stops {
                assert!(
                    stderr.contains(answer),
                    "{place}: moto's answer changed: {stderr}"
                );
            }
            ran.push((place, cmds.len()));
        }
    }
    // The test says something: the blocks the issue named ran, the skipped ones are the few that
    // need what a test machine has not.
    let places: Vec<&str> = ran.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        places.iter().any(|p| p.starts_with("infra/README.md")),
        "the stack preview ran: {places:?}"
    );
    let commands: usize = ran.iter().map(|(_, n)| n).sum();
    assert!(commands >= 15, "{ran:?}");
    assert!(skipped.len() <= 7, "{skipped:?}");
    // The deploys, the StackSet and the upgrade ran against moto, and moto has their stacks.
    assert_eq!(on_moto.len(), 5, "{on_moto:?}");
    let status = |stack: &str| {
        integration::rendered::aws_in(
            &moto,
            "us-east-1",
            &["cloudformation", "describe-stacks", "--stack-name", stack],
        )
        .map(|s| {
            s["Stacks"][0]["StackStatus"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
    };
    assert_eq!(status("concurrent-eks").as_deref(), Ok("CREATE_COMPLETE"));
    assert_eq!(
        status("the-original-stack-name").as_deref(),
        Ok("UPDATE_COMPLETE")
    );
    assert!(
        scratch.path().join("state.json").is_file(),
        "--state-out state.json wrote into the folder the commands ran in"
    );
}

#[test]
fn the_block_reader_joins_continued_lines_and_reads_the_promised_status() {
    let text = "x\n```sh\n# a comment\ncargo run -p a -- b \\\n  c\nd  # FAILED, naming RoleArn\n```\n```json\n{}\n```\n";
    let b = blocks(text);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].0, 2);
    assert_eq!(
        commands(&b[0].1),
        [
            ("cargo run -p a -- b    c".to_string(), 0),
            ("d  # FAILED, naming RoleArn".to_string(), 1)
        ]
    );
}

/// aws-cli refuses a template over 51,200 bytes given as a file without `--s3-bucket`, before
/// any call: the docs' deploy commands name a bucket, and this is why.
#[test]
fn aws_cli_refuses_the_template_inline_so_the_docs_deploy_through_a_bucket() {
    let template = root().join("infra/eks-role-mapper.yaml");
    let size = std::fs::metadata(&template).unwrap().len();
    assert!(size > 51_200, "{size}");
    let o = Command::new(integration::aws_cli())
        .args([
            "cloudformation",
            "deploy",
            "--stack-name",
            "s",
            "--template-file",
        ])
        .arg(&template)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("must be deployed via an S3 Bucket"), "{err}");
    for doc in DOCS {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for (line, block) in blocks(&text) {
            for (cmd, _) in commands(&block) {
                if cmd.contains("cloudformation deploy") && cmd.contains("--template-file") {
                    assert!(cmd.contains("--s3-bucket"), "{doc}:{line}: {cmd}");
                }
            }
        }
    }
}
