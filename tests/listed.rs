//! Every integration test file is built and run: cargo discovers no tests in
//! this package (tests/Cargo.toml lists them, `autotests = false`), so a file
//! added under tests/ and not listed there would silently never run.

use std::collections::BTreeSet;
use std::fs;

#[test]
fn every_test_file_is_a_test_target_of_the_package() {
    let dir = common::tests_dir();
    let files: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs"))
        .collect();
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let listed: BTreeSet<String> = manifest
        .lines()
        .filter_map(|line| line.strip_prefix("path = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .filter(|path| !path.contains('/'))
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = files.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&files).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "tests/Cargo.toml must list every tests/*.rs as a [[test]]: not listed {missing:?}, \
         listed but missing {stale:?}"
    );
    assert!(
        files.len() >= 40,
        "only {} test files found in {}",
        files.len(),
        dir.display()
    );
}
