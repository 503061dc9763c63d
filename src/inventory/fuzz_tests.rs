//! Fuzzing the inventory loaders (INI and YAML) and the YAML loader with
//! random and mutated *bytes* written to real files: whatever the input, no
//! panic, and an error names the file with a line (and a column where the
//! loader knows one). Bounded: a few hundred cases each, a few seconds in CI.

use std::path::Path;

use proptest::prelude::*;

const INI: &[u8] = b"u1\n[web]\nweb[01:03] a=1 b='x y' ansible_port=22\n[web:vars]\nc=[1, 2]\n[p:children]\nweb\n[p]\n";
const YAML: &[u8] = b"all:\n  vars:\n    x: [1, {a: b}]\n  hosts:\n    h[1:2]:\n      a: 1\n  children:\n    web:\n      hosts: {w1: }\n      children:\n        db:\n          hosts:\n            d1:\n";
const VARS: &[u8] = b"a: 1\nb: \"{{ a }}\"\nc:\n  - x\n  - {y: [1, 2]}\nd: |\n  text\n";

/// A base input with a few bytes replaced, inserted or removed (any byte,
/// invalid UTF-8 included).
fn mutate(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((0..base.len(), any::<u8>(), 0..3u8), 1..5).prop_map(move |edits| {
        let mut b = base.to_vec();
        for (at, byte, how) in edits {
            let at = at.min(b.len().saturating_sub(1));
            match how {
                0 if !b.is_empty() => b[at] = byte,
                1 => b.insert(at, byte),
                _ if !b.is_empty() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
        b
    })
}

/// Random bytes drawn mostly from what the formats are made of.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"  ".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b":".to_vec()),
        Just(b"=".to_vec()),
        Just(b"- ".to_vec()),
        Just(b"{".to_vec()),
        Just(b"}".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"&a ".to_vec()),
        Just(b"*a".to_vec()),
        Just(b"children".to_vec()),
        Just(b"hosts".to_vec()),
        Just(b"vars".to_vec()),
        Just(b"[1:99999999]".to_vec()),
        Just(b"\xff".to_vec()),
        Just(b"\xc3".to_vec()),
        "[a-z0-9_.]{1,6}".prop_map(String::into_bytes),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Writes `bytes` to `name` in a temp dir and loads it as an inventory.
fn check_inventory(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    match super::load(&file) {
        Ok(inv) => {
            // what the commands do with it must not panic either
            let _ = inv.graph(None);
            let _ = inv.list_json(indexmap::IndexMap::new());
            let index = inv.index();
            for h in inv.hosts.keys() {
                let _ = index.host_groups_vars_order(&inv, h);
            }
        }
        Err(e) => {
            prop_assert_eq!(&e.location.file, &file, "{}", e);
            prop_assert!(e.location.line >= 1, "no line: {}", e);
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

fn check_yaml(bytes: &[u8]) -> Result<(), TestCaseError> {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("vars.yml");
    std::fs::write(&file, bytes).unwrap();
    if let Err(e) = crate::yaml::parse_file(&file) {
        prop_assert_eq!(&e.location.file, &file, "{}", e);
        prop_assert!(e.location.line >= 1, "no line: {}", e);
        prop_assert!(e.location.column.is_some(), "no column: {}", e);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn ini_inventory_mutated(bytes in mutate(INI)) {
        check_inventory("hosts", &bytes)?;
    }

    #[test]
    fn ini_inventory_random(bytes in soup()) {
        check_inventory("hosts.ini", &bytes)?;
    }

    #[test]
    fn yaml_inventory_mutated(bytes in mutate(YAML)) {
        check_inventory("hosts.yml", &bytes)?;
    }

    #[test]
    fn yaml_inventory_random(bytes in soup()) {
        check_inventory("hosts.yml", &bytes)?;
    }

    #[test]
    fn yaml_files_mutated(bytes in mutate(VARS)) {
        check_yaml(&bytes)?;
    }

    #[test]
    fn yaml_files_random(bytes in soup()) {
        check_yaml(&bytes)?;
    }
}

#[test]
fn invalid_utf8_names_line_column_and_offset() {
    let d = tempfile::tempdir().unwrap();
    for name in ["hosts", "hosts.yml"] {
        let file = d.path().join(name);
        std::fs::write(&file, b"[web]\nw1\nw\xc3\xa92 a=\xff\n").unwrap();
        let e = super::load(&file).unwrap_err();
        assert_eq!((e.location.line, e.location.column), (3, Some(7)), "{e}");
        assert!(
            e.message.contains("0xFF") && e.message.contains("byte offset 16"),
            "{e}"
        );
        assert!(e.hint.is_some());
    }
    let file = d.path().join("x.yml");
    std::fs::write(&file, b"a: 1\n\xfe\n").unwrap();
    let e = crate::yaml::parse_file(&file).unwrap_err();
    assert_eq!((e.location.line, e.location.column), (2, Some(1)), "{e}");
    assert!(e.message.contains("byte offset 5"), "{e}");
    assert!(Path::new(&e.location.file).ends_with("x.yml"));
}

#[test]
fn a_large_yaml_inventory_is_not_refused_for_its_size() {
    let mut src = String::from("all:\n  hosts:\n");
    for i in 0..130_000 {
        src.push_str(&format!("    h{i}:\n      a: {i}\n"));
    }
    let inv = super::parse_yaml(&src, Path::new("hosts.yml")).unwrap();
    assert_eq!(inv.hosts.len(), 130_000);
}

#[test]
fn a_deep_chain_of_groups_loads_with_depths() {
    let n = 3_000;
    let mut src = String::new();
    for i in 1..=n {
        src.push_str(&format!("[g{i}]\n"));
        if i < n {
            src.push_str(&format!("[g{i}:children]\ng{}\n", i + 1));
        }
    }
    src.push_str(&format!("[g{n}]\nh1\n"));
    let inv = super::parse_ini(&src, Path::new("hosts")).unwrap();
    assert_eq!(inv.group_depth(&format!("g{n}")), n);
    let order = inv.host_groups_vars_order("h1");
    assert_eq!(order.len(), n + 1);
    assert_eq!(order[0], "all");
    assert_eq!(order[n], format!("g{n}"));
    // a cycle closing the chain is still refused, at its line
    let e =
        super::parse_ini(&format!("{src}[g{n}:children]\ng1\n"), Path::new("hosts")).unwrap_err();
    assert!(e.message.contains("cycle"), "{e}");
    assert_eq!(e.location.line, src.lines().count() + 2);
}
