//! Issue 40: every tool a person may run answers `--help` and `-h` with its usage, exit 0, and
//! does nothing else. `infra/build --help` started a build, `infra/publish --help` printed
//! `set -euo pipefail` (its header by line numbers), `scripts/fault-matrix --help` ran the
//! matrix, `bootstrap --help` panicked on a missing AWS_LAMBDA_FUNCTION_NAME.
//!
//! Each script runs from a copy of `infra/` and `scripts/` with an empty HOME and a PATH where
//! bash and awk are real and every tool a script could act with (cargo, rustup, python's pip, aws,
//! git, go, kubectl, mkdir, rm, cp, ...) is a tripwire that records being called: the copy and
//! HOME must be byte for byte as before, and no tripwire may have fired.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bash scripts, and a text their usage must hold.
const SCRIPTS: &[(&str, &str)] = &[
    ("infra/build", "usage: infra/build"),
    ("infra/publish", "infra/publish --regions"),
    (
        "infra/publish-release",
        "infra/publish-release --version X.Y.Z",
    ),
    ("scripts/test", "usage: scripts/test"),
    ("scripts/setup", "usage: scripts/setup"),
    ("scripts/check", "usage: scripts/check"),
    ("scripts/fault-matrix", "usage: scripts/fault-matrix"),
    (
        "scripts/bench-cold-replay",
        "scripts/bench-cold-replay [BASELINE",
    ),
    ("scripts/cleanup-test", "usage: scripts/cleanup-test"),
];

/// The Python tools (they run with the real python3, and must not need the pinned venv to say
/// how they are used).
const PYTHON: &[(&str, &str)] = &[
    (
        "infra/release-template",
        "infra/release-template --version X.Y.Z",
    ),
    ("infra/regions.py", "infra/regions.py REGION"),
];

/// Commands a script could change something with: each records its name in `fired` and fails.
const TRIPWIRES: &[&str] = &[
    "cargo",
    "rustup",
    "aws",
    "pip",
    "pip3",
    "git",
    "go",
    "kubectl",
    "mkdir",
    "rm",
    "cp",
    "mv",
    "ln",
    "tee",
    "curl",
    "sed",
    "sha256sum",
    "mktemp",
    "zip",
    "python3",
];

/// Every file under `dir` with its bytes (and every directory, with none).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.clone(), None);
                todo.push(p);
            } else {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "__pycache__" {
                copy_dir(&src, &dst);
            }
        } else if e.file_type().unwrap().is_file() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A PATH dir: bash, awk, env (and python3 when `python`) real, the tripwires fake.
fn path_dir(dir: &Path, fired: &Path, python: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let which = |name: &str| {
        let o = Command::new("bash")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .unwrap();
        PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
    };
    let mut real = vec!["bash", "awk", "env", "cat", "dirname"];
    if python {
        real.push("python3");
    }
    for name in &real {
        // python3 may be a shim (pyenv) that needs more than this PATH: the interpreter itself.
        let target = if *name == "python3" {
            let o = Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .unwrap();
            PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
        } else {
            which(name)
        };
        std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
    }
    for name in TRIPWIRES.iter().filter(|n| !real.contains(n)) {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "#!{}\necho {name} \"$@\" >> '{}'\nexit 97\n",
                which("bash").display(),
                fired.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn every_tool_answers_help_with_its_usage_and_does_nothing_else() {
    let work = tempfile::tempdir().unwrap();
    let (tree, home, fired) = (
        work.path().join("tree"),
        work.path().join("home"),
        work.path().join("fired"),
    );
    for d in ["infra", "scripts"] {
        copy_dir(&root().join(d), &tree.join(d));
    }
    std::fs::create_dir_all(&home).unwrap();
    let (bin, bin_python) = (work.path().join("bin"), work.path().join("bin-python"));
    path_dir(&bin, &fired, false);
    path_dir(&bin_python, &fired, true);
    let before = (snapshot(&tree), snapshot(&home));
    let tools = SCRIPTS
        .iter()
        .map(|t| (t, &bin))
        .chain(PYTHON.iter().map(|t| (t, &bin_python)));
    for ((tool, usage), path) in tools {
        for flag in ["--help", "-h"] {
            let o = Command::new(tree.join(tool))
                .arg(flag)
                .current_dir(&tree)
                .env_clear()
                .env("PATH", path)
                .env("HOME", &home)
                .output()
                .unwrap();
            let (out, err) = (
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr),
            );
            assert_eq!(o.status.code(), Some(0), "{tool} {flag}: {out}{err}");
            assert!(out.contains(usage), "{tool} {flag}: {out}");
            assert!(
                !out.contains("set -euo") && !out.contains("#!/"),
                "{tool} {flag}: code in the usage: {out}"
            );
            assert!(
                !fired.exists(),
                "{tool} {flag} ran {}",
                std::fs::read_to_string(&fired).unwrap()
            );
        }
        // After another argument too (the help wins wherever it is).
        if *tool == "infra/publish" {
            let o = Command::new(tree.join(tool))
                .args(["--regions", "us-east-1", "--help"])
                .current_dir(&tree)
                .env_clear()
                .env("PATH", path)
                .env("HOME", &home)
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(0));
            assert!(!fired.exists());
        }
    }
    assert!(
        before == (snapshot(&tree), snapshot(&home)),
        "a --help wrote or removed a file"
    );
}

/// The tripwires fire: without the help, infra/build reaches for its tools at once (so the test
/// above would have caught the build `infra/build --help` started).
#[test]
fn the_tripwires_catch_a_tool_that_starts_work() {
    let work = tempfile::tempdir().unwrap();
    let (tree, fired, bin) = (
        work.path().join("tree"),
        work.path().join("fired"),
        work.path().join("bin"),
    );
    copy_dir(&root().join("infra"), &tree.join("infra"));
    path_dir(&bin, &fired, false);
    let o = Command::new(tree.join("infra/build"))
        .current_dir(&tree)
        .env_clear()
        .env("PATH", &bin)
        .env("HOME", work.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(fired.exists(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The product's bootstrap, as a person runs it outside Lambda: the usage, exit 0, before the
/// runtime (which panicked without AWS_LAMBDA_FUNCTION_NAME) or any client starts.
#[test]
fn the_bootstrap_answers_help_outside_lambda() {
    let bootstrap = integration::workspace_bin("bootstrap");
    for flag in ["--help", "-h"] {
        let o = Command::new(&bootstrap)
            .arg(flag)
            .env_clear()
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.starts_with("usage: bootstrap"), "{out}");
    }
}

/// `cfn-replay stack --template EMPTY` says the template is empty (it said the parameters "do not
/// exist in the template"), exit 2, before moto or the simulator starts.
#[test]
fn an_empty_template_is_said_to_be_empty() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    for params in [
        &[][..],
        &["--parameters", "ConcurrentAccountId=123456789012"][..],
    ] {
        let o = Command::new(integration::workspace_bin("cfn-replay"))
            .args(["stack", "--template"])
            .arg(&empty)
            .args(params)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("the template is empty"), "{err}");
        assert!(!err.contains("do not exist"), "{err}");
    }
}
