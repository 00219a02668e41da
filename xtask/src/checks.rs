//! What the released artifact must be, each a function of bytes: a check that fails says what it
//! found. The test command runs them all on the arm64 build (`cargo xtask check-artifact`).

use sha2::{Digest, Sha256};

/// Issue 31's ceiling for the zip: kube with k8s-openapi, the SDK's own HTTP client and
/// aws-config's environment loading are at every edge (4,205,890 bytes, 4.01 MiB, from 2,547,438
/// before them). CDK's kubectl handler needs about 34 MiB of layers.
pub const SIZE_LIMIT: u64 = 5 * 1024 * 1024;

/// A test switch's name: the product has none, so not even the name may be in the artifact.
pub const FORBIDDEN: &str = "ALLOW_LOOPBACK";

/// The package cargo-auditable must list as the root of the bootstrap's dependency list.
pub const ROOT_PACKAGE: &str = "eks-role-mapper";

/// The workspace's tools and test crates: the function links none of them (a dependency of the
/// function on one would put it, and what it brings, into the artifact).
pub const NEVER_LINKED: [&str; 5] = ["xtask", "test-kit", "eks-sim", "cfn-replay", "integration"];

/// The zip is at most [`SIZE_LIMIT`] bytes.
pub fn size(zip_len: u64) -> Result<String, String> {
    if zip_len > SIZE_LIMIT {
        return Err(format!(
            "the Lambda zip is {zip_len} bytes, above the 5 MiB limit ({SIZE_LIMIT} bytes)"
        ));
    }
    Ok(format!(
        "size: {zip_len} bytes ({:.2} MiB), under 5 MiB",
        zip_len as f64 / 1_048_576.0
    ))
}

/// The bootstrap names no test switch ([`FORBIDDEN`]) anywhere in its bytes.
pub fn no_test_switch(bootstrap: &[u8]) -> Result<String, String> {
    if contains(bootstrap, FORBIDDEN.as_bytes()) {
        return Err(format!(
            "the Lambda artifact names {FORBIDDEN}: a test switch reached the product"
        ));
    }
    Ok(format!(
        "no test switch: {FORBIDDEN} is not in the bootstrap"
    ))
}

/// The dependency list cargo-auditable embeds: an ELF section `.dep-v0`, zlib-compressed JSON
/// whose root package is the function, read as `cargo audit bin` and SBOM scanners read it.
pub fn dependency_list(bootstrap: &[u8]) -> Result<String, String> {
    let info = auditable_info::audit_info_from_slice(bootstrap, 8 * 1024 * 1024).map_err(|e| {
        format!("the Lambda artifact has no readable .dep-v0 section ({e}): cargo-auditable did not embed the dependency list")
    })?;
    let roots: Vec<&str> = info
        .packages
        .iter()
        .filter(|p| p.root)
        .map(|p| p.name.as_str())
        .collect();
    if roots != [ROOT_PACKAGE] {
        return Err(format!(
            "the artifact's .dep-v0 has roots {roots:?}, not {ROOT_PACKAGE}"
        ));
    }
    let linked: Vec<&str> = info
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| NEVER_LINKED.contains(name))
        .collect();
    if !linked.is_empty() {
        return Err(format!(
            "the artifact's .dep-v0 lists {linked:?}: a tool or test crate of the workspace reached the product"
        ));
    }
    Ok(format!(
        ".dep-v0: {} packages, root {ROOT_PACKAGE}, none of {NEVER_LINKED:?}",
        info.packages.len()
    ))
}

/// No path of the build machine in the bootstrap: each of `machine_paths` (the clone, cargo's
/// home) followed by `/`, as a path under it would be written.
pub fn no_machine_path(bootstrap: &[u8], machine_paths: &[String]) -> Result<String, String> {
    let named: Vec<&str> = machine_paths
        .iter()
        .filter(|p| contains(bootstrap, format!("{p}/").as_bytes()))
        .map(String::as_str)
        .collect();
    if !named.is_empty() {
        return Err(format!(
            "the Lambda artifact names {named:?}: the build is not reproducible elsewhere"
        ));
    }
    Ok(format!("no machine path: none of {machine_paths:?}"))
}

/// Two builds of the same sources in two clones give the same zip.
pub fn reproducible(first: &[u8], second: &[u8]) -> Result<String, String> {
    let (a, b) = (sha256(first), sha256(second));
    if a != b {
        return Err(format!("two builds of the same sources in two clones gave different zips (sha256 {a} and {b}): not reproducible"));
    }
    Ok(format!("reproducible: sha256 {a} from both clones"))
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian ELF64 file for arm64 holding the given sections (no program, no segment):
    /// the header, the sections' bytes, the section names, then the section headers, laid out as
    /// the ELF specification's `Elf64_Ehdr` and `Elf64_Shdr` give them.
    fn elf(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut body = Vec::new();
        let mut headers = vec![[0u8; 64]]; // section 0 is the null section
        let mut add = |name: &str, kind: u32, data: &[u8], names: &mut Vec<u8>| {
            let mut header = [0u8; 64];
            header[0..4].copy_from_slice(&(names.len() as u32).to_le_bytes());
            header[4..8].copy_from_slice(&kind.to_le_bytes());
            header[24..32].copy_from_slice(&(64 + body.len() as u64).to_le_bytes());
            header[32..40].copy_from_slice(&(data.len() as u64).to_le_bytes());
            header[48..56].copy_from_slice(&1u64.to_le_bytes());
            names.extend_from_slice(name.as_bytes());
            names.push(0);
            body.extend_from_slice(data);
            headers.push(header);
        };
        for (name, data) in sections {
            add(name, 1, data, &mut names); // SHT_PROGBITS
        }
        let mut strtab = names.clone();
        let shstrtab_name = strtab.len();
        strtab.extend_from_slice(b".shstrtab\0");
        let mut header = [0u8; 64];
        header[0..4].copy_from_slice(&(shstrtab_name as u32).to_le_bytes());
        header[4..8].copy_from_slice(&3u32.to_le_bytes()); // SHT_STRTAB
        header[24..32].copy_from_slice(&(64 + body.len() as u64).to_le_bytes());
        header[32..40].copy_from_slice(&(strtab.len() as u64).to_le_bytes());
        body.extend_from_slice(&strtab);
        headers.push(header);

        let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        elf.extend_from_slice(&3u16.to_le_bytes()); // e_type: ET_DYN, as a PIE
        elf.extend_from_slice(&183u16.to_le_bytes()); // e_machine: EM_AARCH64
        elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
        elf.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        elf.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
        elf.extend_from_slice(&(64 + body.len() as u64).to_le_bytes()); // e_shoff
        elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        elf.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
        elf.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
        elf.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
        elf.extend_from_slice(&(headers.len() as u16).to_le_bytes()); // e_shnum
        elf.extend_from_slice(&(headers.len() as u16 - 1).to_le_bytes()); // e_shstrndx
        elf.extend_from_slice(&body);
        elf.extend(headers.iter().flatten());
        elf
    }

    /// A .dep-v0 section as cargo-auditable writes it: zlib-compressed JSON.
    fn dep_v0(json: &str) -> Vec<u8> {
        miniz_oxide::deflate::compress_to_vec_zlib(json.as_bytes(), 9)
    }

    const LIST: &str = r#"{"packages":[
        {"name":"eks-role-mapper","version":"1.0.0","source":"local","dependencies":[1],"root":true},
        {"name":"serde","version":"1.0.0","source":"crates.io"}]}"#;

    #[test]
    fn the_size_limit_is_5_mib() {
        size(SIZE_LIMIT).unwrap();
        assert!(size(SIZE_LIMIT + 1)
            .unwrap_err()
            .contains("above the 5 MiB limit"));
    }

    #[test]
    fn a_bootstrap_naming_the_test_switch_fails() {
        no_test_switch(&elf(&[(".rodata", b"AWS_REGION\0")])).unwrap();
        let named = elf(&[(".rodata", b"EKS_ROLE_MAPPER_ALLOW_LOOPBACK\0")]);
        assert!(no_test_switch(&named)
            .unwrap_err()
            .contains("ALLOW_LOOPBACK"));
    }

    #[test]
    fn the_dependency_list_rooted_at_the_function_passes() {
        let found = dependency_list(&elf(&[(".dep-v0", &dep_v0(LIST))])).unwrap();
        assert!(found.contains("2 packages"), "{found}");
    }

    #[test]
    fn an_elf_without_dep_v0_fails() {
        let error = dependency_list(&elf(&[(".rodata", &dep_v0(LIST))])).unwrap_err();
        assert!(error.contains("no readable .dep-v0"), "{error}");
        assert!(dependency_list(b"#!/bin/sh\n")
            .unwrap_err()
            .contains("no readable .dep-v0"));
    }

    #[test]
    fn a_dependency_list_rooted_elsewhere_fails() {
        let other = LIST.replace("eks-role-mapper", "cfn-replay");
        let error = dependency_list(&elf(&[(".dep-v0", &dep_v0(&other))])).unwrap_err();
        assert!(error.contains(r#"roots ["cfn-replay"]"#), "{error}");
        // auditable-serde itself refuses a list with no root (or two): "exactly one root".
        let none = LIST.replace(r#","root":true"#, "");
        assert!(dependency_list(&elf(&[(".dep-v0", &dep_v0(&none))]))
            .unwrap_err()
            .contains(".dep-v0"));
    }

    #[test]
    fn a_dependency_list_naming_a_tool_of_the_workspace_fails() {
        for tool in NEVER_LINKED {
            let list = LIST.replace(r#""name":"serde""#, &format!(r#""name":"{tool}""#));
            let error = dependency_list(&elf(&[(".dep-v0", &dep_v0(&list))])).unwrap_err();
            assert!(error.contains(&format!("[\"{tool}\"]")), "{error}");
        }
    }

    #[test]
    fn a_dependency_list_that_is_not_zlib_json_fails() {
        let error = dependency_list(&elf(&[(".dep-v0", LIST.as_bytes())])).unwrap_err();
        assert!(error.contains(".dep-v0"), "{error}");
    }

    #[test]
    fn a_path_of_the_clone_or_cargo_home_fails() {
        let paths = [
            "/home/ci/work/clone".to_string(),
            "/home/ci/.cargo".to_string(),
        ];
        let clean = elf(&[(
            ".rodata",
            b"functions/eks-role-mapper/src/lib.rs\0/cargo/registry/src/x/serde/src/de.rs\0",
        )]);
        no_machine_path(&clean, &paths).unwrap();
        for leaked in [
            "/home/ci/work/clone/functions/eks-role-mapper/src/lib.rs",
            "/home/ci/.cargo/registry/src/x/serde/src/de.rs",
        ] {
            let bootstrap = elf(&[(".rodata", leaked.as_bytes())]);
            let error = no_machine_path(&bootstrap, &paths).unwrap_err();
            assert!(error.contains("not reproducible elsewhere"), "{error}");
        }
    }

    #[test]
    fn two_different_zips_are_not_reproducible() {
        reproducible(b"same", b"same").unwrap();
        assert!(reproducible(b"one", b"two")
            .unwrap_err()
            .contains("not reproducible"));
    }
}
