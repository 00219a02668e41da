//! Issue 33: every shell block of `README.md`, `infra/README.md` and `events/README.md` runs as
//! written, so the docs cannot drift from the tools. A block whose first line is a comment
//! starting `# needs ` (real AWS, a second terminal, half an hour of builds) says why it is not
//! run here, and is not. Every other command must exit 0, or 1 where its own comment says the
//! answer is `FAILED`. `cargo run -p NAME -- ...` runs the workspace's fresh binary NAME (the
//! same build, without a nested cargo), in a scratch folder that sees the checkout's files, so a
//! `--state-out state.json` lands there.

use std::path::{Path, PathBuf};
use std::process::Command;

const DOCS: &[&str] = &["README.md", "infra/README.md", "events/README.md"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
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
            let cmds = commands(&block);
            assert!(!cmds.is_empty(), "{place}: a block without a command");
            let o = Command::new("bash")
                .arg("-c")
                .arg(script(&bins, &cmds))
                .current_dir(scratch.path())
                .env_remove("RUST_LOG")
                .output()
                .unwrap();
            integration::keep_output("docs-example", &o);
            let stderr = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            assert!(
                o.status.success(),
                "{place} does not run as written:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
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
    assert!(skipped.len() <= 9, "{skipped:?}");
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
