//! The Lambda zip: written again so that the same bootstrap always gives the same bytes, and read
//! back with its shape checked.
//!
//! cargo-lambda's zip holds the build's time (and the builder's umask), so two builds of one
//! commit differ. [`normalize`] writes one entry, `bootstrap`, dated 1980-01-01 00:00 (the zip
//! format's first day), mode 0755 on a Unix system, deflated at level 9, with no extra field:
//! every byte follows from the bootstrap's bytes and the crates pinned in Cargo.lock (the deflate is
//! miniz_oxide, not the system's zlib).

use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipArchive, ZipWriter};

/// The one entry Lambda's `provided` runtimes run.
pub const ENTRY: &str = "bootstrap";
/// A regular file, rwxr-xr-x: Lambda runs the entry, so it must be executable.
const MODE: u32 = 0o100_755;
/// zlib's best compression (the level infra/build has always used).
const LEVEL: i64 = 9;
/// Far above any Lambda code size (250 MiB unzipped is Lambda's own limit): a damaged or hostile
/// zip cannot make the check read without end.
const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// The zip's `bootstrap` entry, decompressed.
pub fn read_bootstrap(zip: &[u8]) -> Result<Vec<u8>, String> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).map_err(|e| format!("not a zip: {e}"))?;
    let entry = archive
        .by_name(ENTRY)
        .map_err(|e| format!("the zip has no entry `{ENTRY}`: {e}"))?;
    let mut data = Vec::new();
    entry
        .take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("the zip's `{ENTRY}` cannot be read: {e}"))?;
    if data.len() as u64 > MAX_ENTRY_BYTES {
        return Err(format!(
            "the zip's `{ENTRY}` is over {MAX_ENTRY_BYTES} bytes"
        ));
    }
    Ok(data)
}

/// The zip written again from its `bootstrap` entry alone: the same bytes for the same bootstrap.
pub fn normalize(zip: &[u8]) -> Result<Vec<u8>, String> {
    let bootstrap = read_bootstrap(zip)?;
    write(&bootstrap).map_err(|e| format!("writing the zip: {e}"))
}

fn write(bootstrap: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let options = SimpleFileOptions::DEFAULT
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(LEVEL))
        .last_modified_time(DateTime::DEFAULT)
        .system(System::Unix)
        .unix_permissions(MODE)
        .large_file(false);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer.start_file(ENTRY, options)?;
    writer.write_all(bootstrap)?;
    Ok(writer.finish()?.into_inner())
}

/// The shape [`normalize`] gives: one entry, `bootstrap`, a regular file with mode 0755, dated
/// 1980-01-01 00:00, deflated. A zip infra/build did not write again fails here.
pub fn check_shape(zip: &[u8]) -> Result<String, String> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).map_err(|e| format!("not a zip: {e}"))?;
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the zip's names cannot be read: {e}"))?;
    if names != [ENTRY] {
        return Err(format!(
            "the zip holds {names:?}, not exactly [\"{ENTRY}\"]"
        ));
    }
    let entry = archive
        .by_index(0)
        .map_err(|e| format!("the zip's `{ENTRY}`: {e}"))?;
    let mut wrong = Vec::new();
    match entry.unix_mode() {
        Some(MODE) => {}
        Some(mode) => wrong.push(format!("mode {mode:o}, not {MODE:o}")),
        None => wrong.push(format!("without a Unix mode, not {MODE:o}")),
    }
    let dated = entry.last_modified().map(|d| d.to_string());
    if dated.as_deref() != Some("1980-01-01 00:00:00") {
        wrong.push(format!("dated {dated:?}, not 1980-01-01 00:00:00"));
    }
    if entry.compression() != CompressionMethod::Deflated {
        wrong.push(format!(
            "compressed by {:?}, not deflated",
            entry.compression()
        ));
    }
    if !wrong.is_empty() {
        return Err(format!("the zip's `{ENTRY}` is {}", wrong.join(", ")));
    }
    Ok(format!(
        "zip: one entry `{ENTRY}` ({} bytes), mode {MODE:o}, dated 1980-01-01, deflated",
        entry.size()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip as cargo-lambda leaves it: today's date, the builder's mode, its own compression.
    fn zip_of(entries: &[(&str, &[u8])], options: SimpleFileOptions) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn built_at(year: u16, mode: u32) -> SimpleFileOptions {
        SimpleFileOptions::DEFAULT
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(1))
            .last_modified_time(DateTime::from_date_and_time(year, 6, 30, 12, 34, 56).unwrap())
            .unix_permissions(mode)
    }

    /// Something like a binary: repetitive enough to compress, varied enough to need it.
    fn binary() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| ((i % 251) ^ (i / 7)).to_le_bytes())
            .collect()
    }

    #[test]
    fn two_builds_at_other_times_and_modes_give_the_same_bytes() {
        let first = normalize(&zip_of(&[(ENTRY, &binary())], built_at(2026, 0o755))).unwrap();
        let second = normalize(&zip_of(&[(ENTRY, &binary())], built_at(2031, 0o700))).unwrap();
        assert_eq!(first, second);
        assert_eq!(read_bootstrap(&first).unwrap(), binary());
        check_shape(&first).unwrap();
    }

    #[test]
    fn the_written_zip_is_fixed_down_to_its_bytes() {
        // Unix system (3), deflate (8), the DOS date of 1980-01-01 (0x0021, time 0), mode 0100755
        // in the external attributes' high half, and no extra field, read from the raw headers.
        let zip = normalize(&zip_of(&[(ENTRY, b"#!/bin/sh\n")], built_at(2026, 0o644))).unwrap();
        let local = &zip[..30];
        assert_eq!(&local[..4], b"PK\x03\x04");
        assert_eq!(u16::from_le_bytes([local[8], local[9]]), 8, "deflate");
        assert_eq!(u16::from_le_bytes([local[10], local[11]]), 0, "time");
        assert_eq!(u16::from_le_bytes([local[12], local[13]]), 0x21, "date");
        assert_eq!(
            u16::from_le_bytes([local[28], local[29]]),
            0,
            "no extra field"
        );
        let central = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        let central = &zip[central..central + 46];
        assert_eq!(central[5], 3, "made on Unix");
        let attributes = u32::from_le_bytes(central[38..42].try_into().unwrap());
        assert_eq!(attributes >> 16, MODE);
    }

    /// The bytes follow from the bootstrap and Cargo.lock alone: no CPU feature or system library
    /// changes them (miniz_oxide has no CPU-specific path). A zip or miniz_oxide that writes other
    /// bytes fails here, so an update that changes every release's sha256 is seen in review.
    #[test]
    fn the_bytes_are_pinned_by_cargo_lock() {
        let zip = normalize(&zip_of(&[(ENTRY, &binary())], built_at(2026, 0o755))).unwrap();
        assert_eq!(
            crate::checks::sha256(&zip),
            "63ede38352cbc5584f469f4ec0b949438bfe4e70e9d88596f115919d62a9deda",
            "the normalized zip's bytes changed: every release's sha256 changes with them"
        );
    }

    #[test]
    fn a_zip_without_bootstrap_is_refused() {
        let zip = zip_of(&[("bootstrap.sh", b"x")], built_at(2026, 0o755));
        assert!(normalize(&zip)
            .unwrap_err()
            .contains("no entry `bootstrap`"));
        assert!(read_bootstrap(b"not a zip")
            .unwrap_err()
            .contains("not a zip"));
    }

    #[test]
    fn the_shape_check_fails_on_each_way_a_zip_can_differ() {
        let cases: [(&str, Vec<u8>); 5] = [
            (
                "not exactly",
                zip_of(&[("bootstrap.sh", b"x")], built_at(1980, 0o755)),
            ),
            (
                "not exactly",
                zip_of(&[(ENTRY, b"x"), ("README", b"y")], built_at(1980, 0o755)),
            ),
            ("mode", normalize_then(|o| o.unix_permissions(0o644))),
            (
                "dated",
                normalize_then(|o| {
                    o.last_modified_time(DateTime::from_date_and_time(2026, 1, 1, 0, 0, 0).unwrap())
                }),
            ),
            (
                "not deflated",
                normalize_then(|o| {
                    o.compression_method(CompressionMethod::Stored)
                        .compression_level(None)
                }),
            ),
        ];
        for (expected, zip) in cases {
            let error = check_shape(&zip).unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    /// The normalized zip with one of its settings changed.
    fn normalize_then(change: impl Fn(SimpleFileOptions) -> SimpleFileOptions) -> Vec<u8> {
        let options = SimpleFileOptions::DEFAULT
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(LEVEL))
            .last_modified_time(DateTime::DEFAULT)
            .system(System::Unix)
            .unix_permissions(MODE);
        zip_of(&[(ENTRY, b"x")], change(options))
    }
}
