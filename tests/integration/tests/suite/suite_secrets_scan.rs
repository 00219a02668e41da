//! The secrets check over the whole suite: every log line the suite's test processes wrote (the
//! mapper and the simulator in-process, at the most verbose level the mapper's filter allows) and
//! everything the product's binaries printed when the tests ran them. `scripts/test` clears the
//! log directory before `cargo test --workspace` and runs this after it.

use std::collections::BTreeSet;

#[test]
#[ignore = "reads the logs of the whole suite: scripts/test runs it after the whole suite"]
fn no_secret_in_any_log_line_of_the_whole_suite() {
    let dir = integration::suite_log_dir();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run the suite first", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    let (mut lines, mut responses) = (0usize, 0usize);
    let mut processes = BTreeSet::new();
    let mut leaks = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // <test binary>-<hash>-<pid>-...: the processes that wrote logs.
        processes.insert(name.splitn(4, '-').take(3).collect::<Vec<_>>().join("-"));
        let text = String::from_utf8_lossy(&std::fs::read(file).expect("log file")).into_owned();
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            responses += usize::from(line.contains("response sent"));
            if let Some(marker) = integration::find_secret(line, &[]) {
                let cut: String = line.chars().take(300).collect();
                leaks.push(format!("{name}:{}: {marker}: {cut}", n + 1));
            }
        }
    }
    eprintln!(
        "secrets scan: {lines} log lines in {} files from {} test processes ({responses} responses sent), {} markers, {} leaks",
        files.len(),
        processes.len(),
        integration::secret_markers().len(),
        leaks.len()
    );
    assert!(
        !processes.is_empty() && responses >= 100,
        "the suite's logs were captured ({} processes, {responses} responses): run the suite first",
        processes.len()
    );
    assert!(
        leaks.is_empty(),
        "secrets in the logs:\n{}",
        leaks.join("\n")
    );
}
