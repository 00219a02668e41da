//! The simulator binary: `eks-sim --out DIR` prints `ready`, and kubectl reads aws-auth using only
//! DIR/kubeconfig and DIR/env.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use integration::{aws_cli, kubectl, text};

fn binary() -> std::path::PathBuf {
    integration::workspace_bin("eks-sim")
}

#[test]
fn the_binary_serves_the_default_scenario_to_kubectl_through_its_out_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(binary())
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    // Only DIR/env and DIR/kubeconfig: source the env file in a clean shell.
    let aws_dir = aws_cli().parent().unwrap().to_path_buf();
    let script = format!(
        "set -e; . {}/env; export PATH={}:{}:$PATH HOME={}; {} --cache-dir {}/cache get configmap aws-auth -n kube-system -o jsonpath='{{.data.mapRoles}}'",
        out.display(), aws_dir.display(), kubectl().parent().unwrap().display(), dir.path().display(), kubectl().display(), dir.path().display()
    );
    let o = Command::new("env")
        .args(["-i", "bash", "-c", &script])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        text(&o)
            .0
            .contains("arn:aws:iam::111122223333:role/eks-node-group-a"),
        "{:?}",
        text(&o)
    );
}

/// Issue 33: the binary's command line by convention: --version, --help, and a usage error as one
/// line on stderr with exit 2 (no backtrace), checked before anything starts.
#[test]
fn the_binary_answers_version_and_help_and_refuses_bad_usage_in_one_line() {
    let version = Command::new(binary()).arg("--version").output().unwrap();
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("eks-sim 0."));
    let help = Command::new(binary()).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: eks-sim"));
    for (args, needle) in [
        (&["--frobnicate"][..], "--frobnicate"),
        (&[][..], "--out"),
        (
            &["--out", "x", "--state-out", "no-such-folder/s.json"][..],
            "no-such-folder",
        ),
    ] {
        let o = Command::new(binary()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle) && !stderr.contains("backtrace"),
            "{args:?}: {stderr}"
        );
    }
}
