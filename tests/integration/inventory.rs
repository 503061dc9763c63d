//! `opsctl inventory --list/--graph` print what `ansible-inventory` prints, for
//! every fixture recorded from real Ansible in tests/fixtures/inventory/.

use crate::common::{Project, repo, run_in};

fn fixtures() -> Vec<(String, std::path::PathBuf, std::path::PathBuf)> {
    let dir = repo().join("tests/fixtures/inventory");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).expect("tests/fixtures/inventory") {
        let case = e.unwrap().path();
        if !case.join("expected-list.json").is_file() {
            continue;
        }
        let input = [
            "hosts",
            "hosts.yml",
            "hosts.yaml",
            "hosts.ini",
            "inventory",
            "inventory.yml",
        ]
        .iter()
        .map(|f| case.join(f))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no inventory file in {}", case.display()));
        out.push((
            case.file_name().unwrap().to_string_lossy().into_owned(),
            case,
            input,
        ));
    }
    out.sort();
    assert!(out.len() >= 5, "expected the recorded fixtures");
    out
}

#[test]
fn list_is_ansible_inventorys_json() {
    for (name, case, input) in fixtures() {
        let run = run_in(
            &case,
            &["inventory", "-i", input.to_str().unwrap(), "--list"],
        );
        run.code(0);
        let ours: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(case.join("expected-list.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            ours,
            theirs,
            "fixture {name}:\nours:\n{}\nansible:\n{}",
            run.stdout,
            serde_json::to_string_pretty(&theirs).unwrap()
        );
    }
}

#[test]
fn graph_is_ansible_inventorys_graph() {
    for (name, case, input) in fixtures() {
        let expected = std::fs::read_to_string(case.join("expected-graph.txt")).unwrap();
        let run = run_in(
            &case,
            &["inventory", "-i", input.to_str().unwrap(), "--graph"],
        );
        run.code(0);
        assert_eq!(run.stdout.trim_end(), expected.trim_end(), "fixture {name}");
    }
}

#[test]
fn list_includes_group_vars_files_like_ansible() {
    // group_vars/host_vars beside the inventory join _meta.hostvars, host_vars winning.
    let p = Project::new(&[
        ("environments/dev/hosts", "[web]\nweb1 a=1\n"),
        ("environments/dev/group_vars/web.yml", "b: two\na: 0\n"),
        ("environments/dev/host_vars/web1.yml", "c: [3]\n"),
    ]);
    let run = p.opsctl(&["inventory", "--env", "dev", "--list"]);
    run.code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        doc["_meta"]["hostvars"]["web1"],
        serde_json::json!({"b": "two", "a": 1, "c": [3]})
    );
}
