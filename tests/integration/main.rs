//! opsctl's integration tests: the real binary, real files, and (for the tests
//! that connect) real sshd hosts of the local test bed. One test binary.

mod ansible_cfg;
mod backups;
mod common;
mod compat_facts;
mod compat_keywords;
mod compat_load;
mod compat_modules_a;
mod compat_modules_b;
mod compat_modules_c;
mod compat_modules_d;
mod compat_modules_e;
mod compat_modules_f;
mod compat_more;
mod compat_reboot;
mod compat_roles;
mod compat_tasks;
mod compose;
mod compose_multi;
mod compose_ship;
mod deploy_faults;
mod deploy_multi;
mod errors;
mod fuzz_corpus;
mod getting_started;
mod house;
mod install;
mod inventory;
mod journal;
mod maintenance;
mod modules_deploy;
mod modules_files;
mod modules_system;
mod ops;
mod outputs;
mod ping;
mod previews;
mod previews_db;
mod provision;
mod reliability_transport;
mod results;
mod run;
mod secrets;
mod security;
mod service_status;
mod stack;
mod stack_postgres;
mod staging;
mod team;
mod terminal;
mod vars;

/// Every file of tests/integration/ is a module of this binary: a test file
/// left out would never run, silently.
#[test]
fn every_test_file_is_part_of_the_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs")
            && stem != "main"
            && !main.lines().any(|l| l.trim() == format!("mod {stem};"))
        {
            missing.push(stem.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "tests/integration/main.rs lacks `mod` lines for: {missing:?}"
    );
}
