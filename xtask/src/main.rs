//! The repository's own build tasks, in Rust instead of Python inside bash (`cargo xtask`, an
//! alias in .cargo/config.toml). A workspace member that nothing depends on: the function never
//! links it.
//!
//! - `cargo xtask normalize-zip ZIP`: infra/build writes cargo-lambda's zip again, so that the
//!   same bootstrap always gives the same bytes (see `artifact_zip`).
//! - `cargo xtask check-artifact --zip ZIP --sbom SBOM [--same-as ZIP] --clone DIR --cargo-home DIR`:
//!   scripts/check's checks of the arm64 artifact (see `checks` and `sbom`). Every check runs and
//!   reports; the command fails if any failed.

mod artifact_zip;
mod checks;
mod sbom;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask normalize-zip ZIP
       cargo xtask check-artifact --zip ZIP --sbom SBOM [--same-as ZIP] --clone DIR --cargo-home DIR";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("normalize-zip") if args.len() == 2 => normalize_zip(Path::new(&args[1])),
        Some("check-artifact") => CheckArgs::parse(&args[1..]).and_then(|a| check_artifact(&a)),
        _ => Err(USAGE.to_string()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the zip at `path` again in place (through a file beside it, renamed over it).
fn normalize_zip(path: &Path) -> Result<(), String> {
    let written =
        artifact_zip::normalize(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    let partial = path.with_extension("zip.partial");
    std::fs::write(&partial, &written).map_err(|e| format!("{}: {e}", partial.display()))?;
    std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

struct CheckArgs {
    zip: PathBuf,
    sbom: PathBuf,
    same_as: Option<PathBuf>,
    clone: String,
    cargo_home: String,
}

impl CheckArgs {
    fn parse(args: &[String]) -> Result<Self, String> {
        let (mut zip, mut sbom, mut same_as, mut clone, mut cargo_home) =
            (None, None, None, None, None);
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let value = rest
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?
                .clone();
            let slot = match flag.as_str() {
                "--zip" => &mut zip,
                "--sbom" => &mut sbom,
                "--same-as" => &mut same_as,
                "--clone" => &mut clone,
                "--cargo-home" => &mut cargo_home,
                _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
            };
            *slot = Some(value);
        }
        let required = |value: Option<String>, flag: &str| {
            value.ok_or_else(|| format!("{flag} is required\n{USAGE}"))
        };
        Ok(Self {
            zip: required(zip, "--zip")?.into(),
            sbom: required(sbom, "--sbom")?.into(),
            same_as: same_as.map(PathBuf::from),
            clone: required(clone, "--clone")?,
            cargo_home: required(cargo_home, "--cargo-home")?,
        })
    }
}

/// Runs every check on the artifact, prints what each found, and fails if any failed.
fn check_artifact(args: &CheckArgs) -> Result<(), String> {
    let zip = read(&args.zip)?;
    let sbom = read(&args.sbom)?;
    let mut results = vec![
        checks::size(zip.len() as u64),
        artifact_zip::check_shape(&zip),
    ];
    if let Some(second) = &args.same_as {
        results.push(checks::reproducible(&zip, &read(second)?));
    }
    match artifact_zip::read_bootstrap(&zip) {
        Ok(bootstrap) => {
            let machine_paths = [args.clone.clone(), args.cargo_home.clone()];
            results.push(checks::no_test_switch(&bootstrap));
            results.push(checks::dependency_list(&bootstrap));
            results.push(checks::no_machine_path(&bootstrap, &machine_paths));
        }
        Err(e) => results.push(Err(e)),
    }
    results.push(match String::from_utf8(sbom) {
        Ok(text) => sbom::check(&text, &args.clone),
        Err(e) => Err(format!("the SBOM is not UTF-8: {e}")),
    });
    let failed: Vec<String> = results.iter().filter_map(|r| r.clone().err()).collect();
    for result in &results {
        match result {
            Ok(found) => println!("ok     {found}"),
            Err(error) => println!("FAILED {error}"),
        }
    }
    match failed.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} check(s) of the artifact {} failed",
            args.zip.display()
        )),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}
