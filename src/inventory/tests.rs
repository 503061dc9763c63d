//! Golden tests against output recorded from real Ansible (ansible-core 2.19) in
//! tests/fixtures/inventory/<case>/, error positions, and property tests.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

use super::*;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory")
}

/// (case name, case dir, inventory file) for every recorded case.
fn cases() -> Vec<(String, PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(fixtures_dir()).expect("tests/fixtures/inventory") {
        let dir = e.unwrap().path();
        if !dir.join("expected-list.json").is_file() {
            continue;
        }
        let input = ["hosts", "hosts.yml"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .expect("inventory file");
        out.push((
            dir.file_name().unwrap().to_string_lossy().into_owned(),
            dir,
            input,
        ));
    }
    out.sort();
    assert!(
        out.len() >= 10,
        "expected the recorded fixtures, found {}",
        out.len()
    );
    out
}

/// Each host's inventory variables merged the simplest Ansible way: group vars
/// by depth, priority, name (`all` first), then the host's own.
fn merged_hostvars(inv: &Inventory) -> IndexMap<String, Json> {
    let mut out = IndexMap::new();
    for (name, host) in &inv.hosts {
        let mut m = serde_json::Map::new();
        for g in inv.host_groups_vars_order(name) {
            for (k, v) in &inv.groups[g].vars {
                m.insert(k.clone(), v.value.clone());
            }
        }
        for (k, v) in &host.vars {
            m.insert(k.clone(), v.value.clone());
        }
        out.insert(name.clone(), Json::Object(m));
    }
    out
}

#[test]
fn graph_matches_ansible() {
    for (name, dir, input) in cases() {
        let inv = load(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = std::fs::read_to_string(dir.join("expected-graph.txt")).unwrap();
        assert_eq!(inv.graph(None), expected, "fixture {name}");
    }
}

#[test]
fn list_matches_ansible() {
    for (name, dir, input) in cases() {
        let inv = load(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = std::fs::read_to_string(dir.join("expected-list.json")).unwrap();
        let expected: Json = serde_json::from_str(&text).unwrap();
        let ours = inv.list_json(merged_hostvars(&inv));
        assert_eq!(
            ours,
            expected,
            "fixture {name}:\n{}",
            export::to_ansible_json(&ours)
        );
        // Byte for byte, as ansible-inventory prints it.
        assert_eq!(
            format!("{}\n", export::to_ansible_json(&ours)),
            text,
            "fixture {name} (text)"
        );
        // and the same text written straight from the inventory
        let hostvars = merged_hostvars(&inv);
        assert_eq!(
            format!("{}\n", inv.list_text(None, vars_of(&hostvars))),
            text,
            "fixture {name} (list_text)"
        );
    }
}

/// `list_text`'s `hostvars` over a host -> variables map.
fn vars_of<'a>(
    hostvars: &'a IndexMap<String, Json>,
) -> impl FnMut(&str, &mut Vec<(&'a str, &'a Json)>) + 'a {
    move |h, out| {
        out.clear();
        if let Some(Json::Object(m)) = hostvars.get(h) {
            out.extend(m.iter().map(|(k, v)| (k.as_str(), v)));
        }
    }
}

/// The inventory with only the hosts `keep` accepts (what `--limit` did by copying it).
fn restricted(inv: &Inventory, keep: &dyn Fn(&str) -> bool) -> Inventory {
    let mut out = inv.clone();
    out.hosts.retain(|h, _| keep(h));
    for g in out.groups.values_mut() {
        g.hosts.retain(|h| keep(h));
    }
    out
}

/// `list_text` within a `--limit` prints what `list_json` prints of the
/// inventory restricted to those hosts; so does `graph_within` against `graph`.
fn check_list_text_within(inv: &Inventory, keep: &dyn Fn(&str) -> bool, what: &str) {
    let hostvars = merged_hostvars(inv);
    let small = restricted(inv, keep);
    let expected = export::to_ansible_json(&small.list_json(merged_hostvars(&small)));
    assert_eq!(
        inv.list_text(Some(keep), vars_of(&hostvars)),
        expected,
        "{what}"
    );
    for g in inv.groups.keys() {
        assert_eq!(
            inv.graph_within(Some(g), keep),
            small.graph(Some(g)),
            "{what}: --graph {g}"
        );
    }
}

#[test]
fn list_text_within_a_limit_is_list_json_of_the_restricted_inventory() {
    for (name, _, input) in cases() {
        let inv = load(&input).unwrap();
        let hosts: Vec<String> = inv.hosts.keys().cloned().collect();
        for (i, pick) in [
            (|_: usize| true) as fn(usize) -> bool,
            |i| i % 2 == 0,
            |i| i % 3 == 1,
            |_| false,
        ]
        .into_iter()
        .enumerate()
        {
            let keep: std::collections::HashSet<&str> = hosts
                .iter()
                .enumerate()
                .filter(|(j, _)| pick(*j))
                .map(|(_, h)| h.as_str())
                .collect();
            check_list_text_within(&inv, &|h| keep.contains(h), &format!("{name} #{i}"));
        }
    }
}

#[test]
fn list_text_of_a_group_named_meta_and_of_odd_names() {
    // `_meta` as a group is replaced by the hosts' variables (as Ansible's
    // dict is); names that need escaping and sort before `_meta`
    let inv = ini(
        "[_meta]\nm1 x=1\n[A\"b]\nq1\n[zz]\nz1 y='a\\\\b' n=1.5\n[zz:vars]\nv=[1, {'k': None}]\n",
    );
    let hostvars = merged_hostvars(&inv);
    let expected = export::to_ansible_json(&inv.list_json(merged_hostvars(&inv)));
    assert_eq!(inv.list_text(None, vars_of(&hostvars)), expected);
    assert!(expected.contains("\"A\\\"b\": {"), "{expected}");
    check_list_text_within(&inv, &|h| h != "z1", "without z1");
}

/// Reads `expected-pattern-<n>.txt`: `# ansible -i FILE 'PATTERN' --list-hosts`
/// then what Ansible printed (`  hosts (N):` and one host per line).
fn recorded_patterns(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let fname = p.file_name().unwrap().to_string_lossy().into_owned();
        if !fname.starts_with("expected-pattern-") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines = text.lines();
        let head = lines.next().unwrap();
        let pattern = &head[head.find('\'').unwrap() + 1..head.rfind("' --list-hosts").unwrap()];
        let count_line = lines.next().unwrap().trim();
        let hosts: Vec<String> = lines
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            count_line,
            format!("hosts ({}):", hosts.len()),
            "{}",
            p.display()
        );
        out.push((pattern.to_string(), hosts));
    }
    out
}

#[test]
fn select_matches_ansible() {
    let mut checked = 0;
    for (name, dir, input) in cases() {
        let inv = load(&input).unwrap();
        for (pattern, expected) in recorded_patterns(&dir) {
            let ours = inv
                .select(&pattern)
                .unwrap_or_else(|e| panic!("{name} {pattern}: {e}"));
            assert_eq!(ours, expected, "fixture {name}, pattern {pattern:?}");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} recorded patterns");
}

#[test]
fn group_hosts_is_ansibles_groups_order() {
    let inv = load(&fixtures_dir().join("ini-order/hosts")).unwrap();
    // Level by level: c and d (children of all) before b (grandchild), e last.
    assert_eq!(inv.group_hosts("all"), ["h3", "h1", "h4", "h2", "h5"]);
    assert_eq!(inv.group_hosts("a"), ["h1", "h2", "h5", "h3"]);
    assert_eq!(inv.group_hosts("nope"), Vec::<&str>::new());
}

#[test]
fn depth_groups_and_var_order() {
    let inv = load(&fixtures_dir().join("ini-children/hosts")).unwrap();
    assert_eq!(inv.group_depth("all"), 0);
    assert_eq!(inv.group_depth("ungrouped"), 1);
    assert_eq!(inv.group_depth("prod"), 1);
    assert_eq!(inv.group_depth("web"), 2);
    assert_eq!(inv.group_depth("backend"), 3);
    assert_eq!(
        inv.host_groups("shared"),
        ["all", "prod", "web", "frontend", "backend", "db", "staging"]
    );
    assert_eq!(
        inv.host_groups_vars_order("shared"),
        ["all", "prod", "staging", "web", "db", "backend", "frontend"]
    );
    assert_eq!(inv.groups["db"].priority, 10);
    assert!(!inv.groups["db"].vars.contains_key("ansible_group_priority"));
    assert_eq!(inv.host_groups("nobody"), Vec::<&str>::new());
    let inv = load(&fixtures_dir().join("ini-ungrouped/hosts")).unwrap();
    assert_eq!(inv.host_groups("alone1"), ["all", "ungrouped"]);
    assert_eq!(inv.host_groups("moved"), ["all", "web"]);
}

#[test]
fn var_locations() {
    let file = fixtures_dir().join("seed/hosts");
    let inv = load(&file).unwrap();
    let h = &inv.hosts["web-test"];
    assert_eq!(h.location, Location::new(&file, 2, Some(1)));
    assert_eq!(
        h.vars["ansible_host"].location,
        Location::new(&file, 2, Some(10))
    );
    assert_eq!(
        h.vars["ansible_user"].location,
        Location::new(&file, 2, Some(37))
    );
    assert_eq!(
        inv.groups["web"].location,
        Some(Location::new(&file, 1, Some(2)))
    );

    let file = fixtures_dir().join("yaml-nested/hosts.yml");
    let inv = load(&file).unwrap();
    assert_eq!(
        inv.hosts["web02"].vars["color"].location,
        Location::new(&file, 23, Some(15))
    );
    assert_eq!(
        inv.groups["all"].vars["ansible_user"].location,
        Location::new(&file, 4, Some(5))
    );
    assert_eq!(inv.hosts["web04"].vars["ansible_port"].value, json!(8080));

    let inv = parse_ini("[g:vars]\n  x = 1\n[g]\n", Path::new("i")).unwrap();
    assert_eq!(
        inv.groups["g"].vars["x"].location,
        Location::new("i", 2, Some(3))
    );
    assert_eq!(inv.groups["g"].vars["x"].value, json!(1));
}

// ------------------------------------------------------------------ behaviour

fn ini(src: &str) -> Inventory {
    parse_ini(src, Path::new("hosts")).unwrap_or_else(|e| panic!("{e}"))
}

fn ini_err(src: &str) -> InventoryError {
    parse_ini(src, Path::new("hosts")).expect_err("an error")
}

fn yaml_err(src: &str) -> InventoryError {
    parse_yaml(src, Path::new("hosts.yml")).expect_err("an error")
}

#[test]
fn ini_errors_have_positions_and_hints() {
    let cases: &[(&str, &str, &str)] = &[
        ("[web]\nweb[01:x]\n", "hosts:2:4", "invalid host range"),
        ("[web]\n  ok\n  web[1:3\n", "hosts:3:6", "no closing"),
        ("[web\nh1\n", "hosts:1:5", "no closing ']'"),
        ("[web]\n[g:unknown]\n", "hosts:2:4", "unknown type"),
        ("[web servers]\n", "hosts:1:5", "space"),
        ("[web] extra\n", "hosts:1:7", "unexpected text"),
        (
            "[web]\nh1 ansible_user\n",
            "hosts:2:4",
            "expected key=value",
        ),
        ("[web]\nh1 a=1 'b c'\n", "hosts:2:8", "expected key=value"),
        ("[web]\nh1 k='open\n", "hosts:2:6", "quote is not closed"),
        ("[web]\nh1 my-var=1\n", "hosts:2:4", "invalid variable name"),
        ("[web]\nh1 =1\n", "hosts:2:4", "invalid variable name"),
        ("[web]\nh1 x={[1]:2}\n", "hosts:2:4", "unhashable"),
        (
            "[web]\nansible_host=1.2.3.4\n",
            "hosts:2:1",
            "must start with the host name",
        ),
        ("[web]\nh1:\n", "hosts:2:3", "cannot end with ':'"),
        ("---\n", "hosts:1:1", "YAML"),
        (
            "[web]\nh1\n[web:vars]\njust words\n",
            "hosts:4:1",
            "expected name=value",
        ),
        (
            "[web]\nh1\n[web:vars]\nbad name = 1\n",
            "hosts:4:1",
            "invalid variable name",
        ),
        (
            "[g:children]\nother thing\n",
            "hosts:2:1",
            "expected a group name",
        ),
        (
            "[g:children]\nmissing\n",
            "hosts:2:1",
            "undefined group 'missing'",
        ),
        ("[g:vars]\nx=1\n", "hosts:1:2", "not defined"),
        ("[g]\n[g:children]\ng\n", "hosts:3:1", "child of itself"),
        (
            "[a]\n[b:children]\na\n[a:children]\nb\n",
            "hosts:5:1",
            "cycle",
        ),
        ("[web]\nh[3:1]\n", "hosts:2:2", "empty"),
        ("[web]\nh[0:99999][0:99999]\n", "hosts:2:1", "more than"),
    ];
    for (src, at, msg) in cases {
        let e = ini_err(src);
        assert_eq!(e.location.to_string(), *at, "{src:?}: {e}");
        assert!(e.message.contains(msg), "{src:?}: {e}");
        assert!(e.to_string().starts_with(at), "{e}");
    }
    assert!(ini_err("[web]\nweb[01:x]\n").hint.is_some());
    assert!(
        ini_err("[g:children]\nmissing\n")
            .hint
            .unwrap()
            .contains("[missing]")
    );
}

#[test]
fn ini_semantics() {
    let inv = ini("[p:children]\nc\n[c]\nh1:2222 a=1\n[d]\nh1:3333\n");
    assert_eq!(
        inv.hosts["h1"].vars["ansible_port"].value,
        json!(2222),
        "a later port is ignored, as in Ansible"
    );
    assert_eq!(inv.groups["all"].children, ["ungrouped", "p", "d"]);
    let inv = ini("[g:vars]\nx=1\n[g]\nh\n");
    assert_eq!(inv.groups["g"].vars["x"].value, json!(1));
    // `[fe80::1]:22` is a host line, not a section.
    let inv = ini("[v6]\n[fe80::1]:22 a=1\n");
    assert_eq!(inv.groups["v6"].hosts, ["fe80::1"]);
    assert_eq!(inv.hosts["fe80::1"].vars["ansible_port"].value, json!(22));
    // Empty and comment-only inventories.
    assert_eq!(ini("").hosts.len(), 0);
    assert_eq!(ini("# nothing\n; here\n").groups.len(), 2);
    // CRLF line ends and a BOM.
    let inv = ini("\u{feff}[web]\r\nh1 a=1\r\nh2\r\n");
    assert_eq!(inv.groups["web"].hosts, ["h1", "h2"]);
    assert_eq!(inv.hosts["h2"].location.line, 3);
    // A group name is used as written (Ansible only warns about '-').
    assert!(ini("[web-servers]\nh\n").groups.contains_key("web-servers"));
    // Later definitions win and keep their location.
    let inv = ini("[a]\nh x=1\n[b]\nh x=2\n");
    assert_eq!(inv.hosts["h"].vars["x"].value, json!(2));
    assert_eq!(inv.hosts["h"].vars["x"].location.line, 4);
}

#[test]
fn yaml_errors_have_positions_and_hints() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "all:\n  hosts:\n    - web1\n",
            "hosts.yml:3:5",
            "must be a mapping",
        ),
        (
            "all:\n  host:\n    web1:\n",
            "hosts.yml:2:3",
            "unknown key `host`",
        ),
        (
            "all:\n  children:\n    web:\n      hostss: {}\n",
            "hosts.yml:4:7",
            "unknown key",
        ),
        (
            "all:\n  hosts:\n    web[1:x]:\n",
            "hosts.yml:3:8",
            "invalid host range",
        ),
        (
            "all:\n  hosts:\n    'web[1:x]':\n",
            "hosts.yml:3:9",
            "invalid host range",
        ),
        (
            "all:\n  hosts:\n    web1: 5\n",
            "hosts.yml:3:11",
            "must map to its variables",
        ),
        (
            "all:\n  hosts:\n    123:\n",
            "hosts.yml:3:5",
            "must be a string",
        ),
        ("web: [a, b]\n", "hosts.yml:1:6", "must be a mapping"),
        ("- a\n", "hosts.yml:1:1", "mapping of groups"),
        ("plugin: aws_ec2\n", "hosts.yml:1:1", "plugin"),
        (
            "all:\n  vars:\n    bad-name: 1\n",
            "hosts.yml:3:5",
            "invalid variable name",
        ),
        // Like Ansible, the inner edge b -> a is added first; a -> b then closes the cycle.
        (
            "a:\n  children:\n    b:\n      children:\n        a:\n",
            "hosts.yml:3:5",
            "cycle",
        ),
        ("a:\n  children:\n    a:\n", "hosts.yml:3:5", "itself"),
    ];
    for (src, at, msg) in cases {
        let e = yaml_err(src);
        assert_eq!(e.location.to_string(), *at, "{src:?}: {e}");
        assert!(e.message.contains(msg), "{src:?}: {e}");
    }
    let e = yaml_err("all:\n  host:\n    web1:\n");
    assert!(
        e.hint.unwrap().contains("hosts"),
        "the hint names the valid keys"
    );
    assert!(yaml_err("all: [\n").location.line >= 1);
}

#[test]
fn yaml_semantics() {
    let inv = parse_yaml("all:\n  hosts: web1\n  children: web\n", Path::new("h.yml")).unwrap();
    assert_eq!(inv.groups["all"].hosts, ["web1"]);
    assert_eq!(inv.groups["ungrouped"].hosts, ["web1"]);
    assert!(inv.groups.contains_key("web"));
    assert!(parse_yaml("", Path::new("h.yml")).unwrap().hosts.is_empty());
    let inv = parse_yaml(
        "all:\n  hosts:\n    '[fe80::1]:2222':\n    db[a:b]:22:\n",
        Path::new("h.yml"),
    )
    .unwrap();
    assert_eq!(
        inv.hosts.keys().collect::<Vec<_>>(),
        ["fe80::1", "dba", "dbb"]
    );
    assert_eq!(inv.hosts["dbb"].vars["ansible_port"].value, json!(22));
}

#[test]
fn load_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("b.yml"),
        "all:\n  children:\n    web:\n      hosts:\n        w2:\n",
    )
    .unwrap();
    std::fs::write(d.join("a"), "[web]\nw1\n[db]\nd1\n").unwrap();
    for junk in [
        "README.md",
        "ssh_config",
        "known_hosts",
        "secrets.yml",
        "id_ed25519",
        "key.pub",
        "x.age",
        "notes.txt",
        "old~",
        ".hidden",
        "vars.json",
        "recipients",
    ] {
        std::fs::write(d.join(junk), "this: [is not an inventory\n").unwrap();
    }
    std::fs::create_dir(d.join("group_vars")).unwrap();
    std::fs::write(d.join("group_vars/web.yml"), "x: 1\n").unwrap();
    let inv = load(d).unwrap();
    assert_eq!(inv.groups["web"].hosts, ["w1", "w2"]);
    assert_eq!(inv.groups["all"].children, ["ungrouped", "web", "db"]);
    assert_eq!(inv.source, d);

    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("README.md"), "").unwrap();
    let e = load(empty.path()).unwrap_err();
    assert!(e.message.contains("no inventory file"), "{e}");
    assert!(e.hint.unwrap().contains("hosts.yml"));

    let e = load(&d.join("missing")).unwrap_err();
    assert!(
        e.message.contains("missing") && e.message.contains("does not exist"),
        "{e}"
    );

    // An extensionless file with YAML content is a YAML inventory, as in Ansible.
    let y = d.join("sub");
    std::fs::create_dir(&y).unwrap();
    std::fs::write(y.join("hosts"), "all:\n  hosts:\n    y1:\n").unwrap();
    assert!(load(&y.join("hosts")).unwrap().hosts.contains_key("y1"));
}

#[test]
fn pattern_errors() {
    let inv = ini("[web]\nw1\nw2\n");
    assert!(
        inv.select("web[5]").is_err(),
        "an index out of range is an error (IndexError in Ansible)"
    );
    assert_eq!(inv.select("web[5:9]").unwrap(), Vec::<String>::new());
    let e = inv.select("~a(").unwrap_err();
    assert_eq!(e.pattern, "~a(");
    assert!(inv.select("~(?=w)").is_err());
    assert_eq!(inv.select("nothing").unwrap(), Vec::<String>::new());
    assert_eq!(inv.select("~w").unwrap(), ["w1", "w2"]);
    assert_eq!(
        inv.select("~1").unwrap(),
        Vec::<String>::new(),
        "re.match anchors at the start"
    );
    assert_eq!(
        inv.select("web[0:0]").unwrap(),
        ["w1"],
        "Ansible reads [a:0] as [a]"
    );
    assert_eq!(inv.select("web[1-1]").unwrap(), ["w2"]);
}

#[test]
fn list_json_without_vars_and_dump_format() {
    let inv = ini("[web]\nw1\n[empty]\n");
    let doc = inv.list_json(IndexMap::new());
    assert_eq!(
        doc,
        json!({"_meta": {"hostvars": {}, "profile": "inventory_legacy"},
               "all": {"children": ["ungrouped", "web", "empty"]},
               "web": {"hosts": ["w1"]}})
    );
    assert_eq!(inv.graph(Some("web")), "@web:\n  |--w1\n");
    assert_eq!(inv.graph(Some("nope")), "");
    let s = export::to_ansible_json(&json!({"b": [1.0, 1e16, "é\n\u{1}"], "a": {}}));
    assert_eq!(
        s,
        "{\n    \"a\": {},\n    \"b\": [\n        1.0,\n        1e+16,\n        \"é\\n\\u0001\"\n    ]\n}"
    );
}

// ------------------------------------------------------------------ properties

const SAMPLE_INI: &str =
    "u1\n[web]\nweb[01:03] a=1 b='x y'\n[web:vars]\nc=[1, 2]\n[p:children]\nweb\n[p]\n";
const SAMPLE_YAML: &str =
    "all:\n  hosts:\n    h[1:2]:\n      a: 1\n  children:\n    web:\n      hosts: {w1: }\n";

fn mutate(base: &str) -> impl Strategy<Value = String> {
    let base = base.to_string();
    (
        0..base.len(),
        prop::collection::vec(any::<char>(), 0..4),
        0..3usize,
    )
        .prop_map(move |(at, ins, del)| {
            let mut s = base.clone();
            let mut at = at.min(s.len());
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = at;
            for _ in 0..del {
                if let Some(c) = s[end..].chars().next() {
                    end += c.len_utf8();
                }
            }
            s.replace_range(at..end, &ins.into_iter().collect::<String>());
            s
        })
}

fn host_set(inv: &Inventory, p: &str) -> std::collections::BTreeSet<String> {
    inv.select(p).unwrap().into_iter().collect()
}

proptest! {
    // No regression files: they would land outside this module's directories.
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn ini_parser_never_panics(src in "(?s).{0,200}") {
        let _ = parse_ini(&src, Path::new("f"));
    }

    #[test]
    fn ini_parser_never_panics_on_ini_like_lines(
        lines in prop::collection::vec(r"(\[[a-z:\]\[ ]{0,8}\]?|[a-z0-9\[\]:.\-]{1,10}( [a-z]{1,3}=[0-9a-z'\x22\[\](),{}:. ]{0,8}){0,3}|[a-z]=.{0,6}|#.*)", 0..12)
    ) {
        let _ = parse_ini(&lines.join("\n"), Path::new("f"));
    }

    #[test]
    fn mutated_ini_never_panics(src in mutate(SAMPLE_INI)) {
        if let Ok(inv) = parse_ini(&src, Path::new("f")) {
            let _ = inv.graph(None);
            let _ = inv.list_json(IndexMap::new());
        }
    }

    /// Random inventories (nested groups, hosts in several groups, vars at
    /// every level) and random limits: `list_text` prints what `list_json` does.
    #[test]
    fn list_text_prints_what_list_json_does(
        lines in prop::collection::vec(r"(\[g[0-4](:children|:vars)?\]|h[0-6]( [a-c]=[0-9])?|g[0-4]|[a-c]=[0-9])", 0..24),
        keep in prop::collection::vec(any::<bool>(), 7),
    ) {
        if let Ok(inv) = parse_ini(&lines.join("\n"), Path::new("f")) {
            let hostvars = merged_hostvars(&inv);
            let expected = export::to_ansible_json(&inv.list_json(merged_hostvars(&inv)));
            prop_assert_eq!(inv.list_text(None, vars_of(&hostvars)), expected);
            let kept = |h: &str| h[1..].parse::<usize>().is_ok_and(|i| keep[i]);
            check_list_text_within(&inv, &kept, "random limit");
        }
    }

    #[test]
    fn yaml_parser_never_panics(src in "(?s).{0,200}") {
        let _ = parse_yaml(&src, Path::new("f.yml"));
    }

    #[test]
    fn mutated_yaml_never_panics(src in mutate(SAMPLE_YAML)) {
        let _ = parse_yaml(&src, Path::new("f.yml"));
    }

    #[test]
    fn literals_never_panic(src in "(?s).{0,60}") {
        let _ = pyliteral::ini_value(&src);
        let _ = pyshlex::split(&src);
    }

    #[test]
    fn patterns_never_panic(p in "(?s).{0,30}") {
        let inv = ini(SAMPLE_INI);
        let _ = inv.select(&p);
    }

    #[test]
    fn numeric_ranges_expand_to_the_right_count(a in 0u32..500, len in 0u32..300, step in 1u32..20, pad in any::<bool>()) {
        let b = a + len;
        let (sa, sb) = if pad {
            let w = b.to_string().len() + 1;
            (format!("{a:0w$}"), format!("{b:0w$}"))
        } else {
            (a.to_string(), b.to_string())
        };
        let names = range::expand_range(&format!("h[{sa}:{sb}:{step}]x")).unwrap();
        prop_assert_eq!(names.len() as u32, len / step + 1);
        prop_assert_eq!(&names[0], &format!("h{sa}x"));
        if pad {
            let padded = names.iter().all(|n| n.len() == sa.len() + 2);
            prop_assert!(padded);
        }
    }

    #[test]
    fn alpha_ranges_expand_to_the_right_count(a in 0usize..26, len in 0usize..26, step in 1usize..5) {
        let letters: Vec<char> = ('a'..='z').collect();
        let b = (a + len).min(25);
        let names = range::expand_range(&format!("n-[{}:{}:{step}]", letters[a], letters[b])).unwrap();
        prop_assert_eq!(names.len(), (b - a) / step + 1);
    }

    #[test]
    fn two_ranges_multiply(x in 1u32..20, y in 1u32..20) {
        let names = range::expand_range(&format!("r[1:{x}]-[1:{y}]")).unwrap();
        prop_assert_eq!(names.len() as u32, x * y);
    }

    #[test]
    fn pattern_set_laws(a in r"(all|web|db|p|u1|web0\[1-3\]|~w\.\*|\*1|nothing)", b in r"(all|web|db|p|u1|web02|~d\.\*|\*3|nothing)") {
        let inv = ini("u1\n[web]\nweb[01:03]\n[db]\ndb1\nweb03\n[p:children]\nweb\n[p]\np1\n");
        let sa = host_set(&inv, &a);
        prop_assert_eq!(host_set(&inv, &format!("{a}:&{a}")), sa.clone());
        let none = host_set(&inv, &format!("{a}:!{a}"));
        prop_assert!(none.is_empty());
        prop_assert_eq!(host_set(&inv, &format!("{a}:{b}")), host_set(&inv, &format!("{b}:{a}")));
        prop_assert_eq!(host_set(&inv, &format!("{a},{b}")), host_set(&inv, &format!("{a}:{b}")));
        let sb = host_set(&inv, &b);
        let inter: std::collections::BTreeSet<String> = sa.intersection(&sb).cloned().collect();
        prop_assert_eq!(host_set(&inv, &format!("{a}:&{b}")), inter);
        let diff: std::collections::BTreeSet<String> = sa.difference(&sb).cloned().collect();
        prop_assert_eq!(host_set(&inv, &format!("{a}:!{b}")), diff);
        // Selected hosts are inventory hosts, without duplicates.
        let v = inv.select(&format!("{a}:{b}")).unwrap();
        prop_assert_eq!(v.len(), host_set(&inv, &format!("{a}:{b}")).len());
        let all_known = v.iter().all(|h| inv.hosts.contains_key(h));
        prop_assert!(all_known);
    }
}

/// A developer tool for differential testing against Ansible, not a test:
/// `OPSCTL_INVENTORY_DIFF=dir cargo test --lib inventory::tests::differential_dump -- --ignored`
/// writes, for each inventory file `f` in `dir`, `f.ours.json` (the `--list`
/// document, hostvars merged as in `list_matches_ansible`) and `f.ours.graph`,
/// or `f.ours.err` with the error; with a `dir/patterns.txt` (one pattern a line),
/// also `f.ours.patterns`: per pattern, the selected hosts joined by `,` or `ERROR`.
#[test]
#[ignore = "a developer tool, not a test: see its doc comment"]
fn differential_dump() {
    let Ok(dir) = std::env::var("OPSCTL_INVENTORY_DIFF") else {
        return;
    };
    let patterns =
        std::fs::read_to_string(Path::new(&dir).join("patterns.txt")).unwrap_or_default();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(".ans.")
            || name.contains(".ours.")
            || name == "patterns.txt"
            || name.ends_with(".done")
        {
            continue;
        }
        let out = |ext: &str, text: String| {
            std::fs::write(format!("{}.ours.{ext}", p.display()), text).unwrap()
        };
        match load(&p) {
            Ok(inv) => {
                out(
                    "json",
                    format!(
                        "{}\n",
                        export::to_ansible_json(&inv.list_json(merged_hostvars(&inv)))
                    ),
                );
                out("graph", inv.graph(None));
                if !patterns.is_empty() {
                    let lines: Vec<String> = patterns
                        .lines()
                        .map(|pat| {
                            inv.select(pat)
                                .map(|h| h.join(","))
                                .unwrap_or_else(|_| "ERROR".into())
                        })
                        .collect();
                    out("patterns", lines.join("\n") + "\n");
                }
            }
            Err(e) => out("err", format!("{e}\n")),
        }
    }
}
