//! The function's crate carries the version of the release it becomes (issue 40): the
//! User-Agent of every Kubernetes write and the artifact's embedded dependency list name the
//! crate's version, so a 1.0.0 release that says 0.1.0 misleads every audit log that reads it.

use std::path::Path;

/// The newest release heading of CHANGELOG.md (`## X.Y.Z` or `## X.Y.Z (unreleased)`).
fn newest_changelog_version(text: &str) -> &str {
    text.lines()
        .find_map(|l| l.strip_prefix("## "))
        .and_then(|h| h.split_whitespace().next())
        .expect("CHANGELOG.md has no '## X.Y.Z' heading")
}

#[test]
fn the_function_crate_has_the_changelogs_newest_version() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md")).unwrap();
    let manifest =
        std::fs::read_to_string(root.join("functions/eks-role-mapper/Cargo.toml")).unwrap();
    let crate_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("functions/eks-role-mapper/Cargo.toml names no version");
    assert_eq!(
        crate_version,
        newest_changelog_version(&changelog),
        "functions/eks-role-mapper/Cargo.toml's version is not CHANGELOG.md's newest release"
    );
}

#[test]
fn the_changelog_heading_is_read_as_its_version() {
    assert_eq!(
        newest_changelog_version("# C\n\n## 2.3.4 (unreleased)\n"),
        "2.3.4"
    );
    assert_eq!(newest_changelog_version("## 1.0.0\n## 0.9.0\n"), "1.0.0");
}
