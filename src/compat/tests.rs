use super::*;

#[test]
fn the_name_lists_hold_ansibles_names() {
    let m = known(Kind::Module);
    for n in [
        "ansible.builtin.copy",
        "ansible.builtin.dnf",
        "community.general.ufw",
        "ansible.posix.sysctl",
        "community.postgresql.postgresql_db",
        "community.crypto.openssl_privatekey",
        "community.docker.docker_container",
        "community.mysql.mysql_user",
    ] {
        assert!(m.fqcns.contains(n), "{n}");
    }
    assert_eq!(m.short["dnf"], vec!["ansible.builtin.dnf"]);
    assert_eq!(redirect(Kind::Module, "yum"), Some("ansible.builtin.dnf"));
    assert!(
        known(Kind::Filter)
            .fqcns
            .contains("ansible.builtin.to_nice_yaml")
    );
    assert!(
        known(Kind::Filter)
            .fqcns
            .contains("community.general.json_query")
    );
    assert!(known(Kind::Test).fqcns.contains("ansible.builtin.version"));
    assert!(
        known(Kind::Lookup)
            .fqcns
            .contains("ansible.builtin.first_found")
    );
    assert!(
        known(Kind::Lookup)
            .fqcns
            .contains("community.general.flattened")
    );
    assert!(!m.fqcns.contains("ansible.builtin.comand"));
}

#[test]
fn modules_are_implemented_known_or_unknown() {
    let none: &[String] = &[];
    let is = |n: &str| match module(n, none, none) {
        Name::Implemented(d) => format!("implemented {}", d.spec.name),
        Name::Known(f) => format!("known {f}"),
        Name::Unknown(near) => format!("unknown {near:?}"),
    };
    assert_eq!(is("copy"), "implemented copy");
    assert_eq!(is("ansible.builtin.copy"), "implemented copy");
    assert_eq!(is("ansible.legacy.copy"), "implemented copy");
    assert_eq!(
        is("ansible.posix.authorized_key"),
        "implemented authorized_key"
    );
    assert_eq!(is("yum"), "known ansible.builtin.dnf");
    assert_eq!(is("ufw"), "implemented ufw");
    assert_eq!(is("community.general.ufw"), "implemented ufw");
    assert_eq!(is("iptables"), "implemented iptables");
    assert_eq!(is("reboot"), "implemented reboot");
    assert_eq!(is("sysvinit"), "known ansible.builtin.sysvinit");
    assert_eq!(is("ec2_instance"), "known community.aws.ec2_instance");
    assert_eq!(is("ansible.builtin.dnf"), "known ansible.builtin.dnf");
    assert_eq!(is("zypper"), "known community.general.zypper");
    assert_eq!(is("ansible.legacy.yum"), "known ansible.builtin.dnf");
    // a typo of an implemented or a known name: the nearest one
    assert_eq!(is("comand"), "unknown Some(\"command\")");
    assert_eq!(is("zyper"), "unknown Some(\"zypper\")");
    // a collection's FQCN needs its real collection
    assert_eq!(
        is("community.general.copy"),
        "unknown Some(\"community.general.copr\")"
    );
    assert_eq!(
        is("comunity.general.zypper"),
        "unknown Some(\"community.general.zypper\")"
    );
    assert_eq!(is("ansible.builtin.frobnicate"), "unknown None");
    // a collection opsctl has no list of: Ansible may have it
    assert_eq!(
        is("amazon.aws.ec2_instance"),
        "known amazon.aws.ec2_instance"
    );
    // collections: short names resolve through the play's collections first
    let colls = vec!["my.tools".to_string()];
    assert!(
        matches!(module("frobnicate", &colls, none), Name::Known(f) if f == "my.tools.frobnicate")
    );
    // a role's own module
    let local = vec!["my_module".to_string()];
    assert!(matches!(module("my_module", none, &local), Name::Known(f) if f == "my_module"));
}

#[test]
fn filters_tests_and_lookups_follow_the_same_rule() {
    let have = |n: &str| ["to_json", "default", "defined"].contains(&n);
    assert_eq!(plugin(Kind::Filter, "to_json", have), Name::Implemented(()));
    assert_eq!(
        plugin(Kind::Filter, "ansible.builtin.to_json", have),
        Name::Implemented(())
    );
    assert_eq!(
        plugin(Kind::Filter, "to_nice_yaml", have),
        Name::Known("ansible.builtin.to_nice_yaml".into())
    );
    assert_eq!(
        plugin(Kind::Filter, "community.general.json_query", have),
        Name::Known("community.general.json_query".into())
    );
    assert_eq!(
        plugin(Kind::Filter, "to_jsno", have),
        Name::Unknown(Some("to_json".into()))
    );
    // a collection's filter needs its FQCN, unless ansible-core routes the short name
    assert_eq!(
        plugin(Kind::Filter, "json_query", have),
        Name::Known("community.general.json_query".into())
    );
    assert_eq!(
        plugin(Kind::Filter, "lists_mergeby", have),
        Name::Unknown(None)
    );
    assert_eq!(
        plugin(Kind::Test, "versoin", have),
        Name::Unknown(Some("version".into()))
    );
    assert_eq!(
        plugin(Kind::Lookup, "hashi_vault_x", |_| false),
        Name::Unknown(Some("hashi_vault".into()))
    );
    assert_eq!(
        plugin(Kind::Lookup, "password", |_| false),
        Name::Known("ansible.builtin.password".into())
    );
}

#[test]
fn implemented_filters_and_tests_are_read_from_the_template_environment() {
    let t = crate::template::Templar::new();
    assert!(has_filter_or_test(t.env(), Kind::Filter, "default"));
    assert!(has_filter_or_test(t.env(), Kind::Filter, "regex_replace"));
    assert!(!has_filter_or_test(t.env(), Kind::Filter, "no_such_filter"));
    assert!(has_filter_or_test(t.env(), Kind::Test, "defined"));
    assert!(!has_filter_or_test(t.env(), Kind::Test, "no_such_test"));
    assert!(implemented(Kind::Filter).contains("to_json"));
    assert!(implemented(Kind::Lookup).contains("env"));
    assert!(implemented(Kind::Module).contains("copy"));
}

#[test]
fn fqcns_of_implemented_filters_and_tests_render() {
    let t = crate::template::Templar::new();
    let ctx = minijinja::context! { xs => vec![3, 1, 2] };
    let r = |s: &str| t.render_str(s, &ctx, None).unwrap();
    assert_eq!(
        r("{{ xs | ansible.builtin.sort | ansible.builtin.join(',') }}"),
        "1,2,3"
    );
    assert_eq!(r("{{ xs | ansible.builtin.to_json }}"), "[3, 1, 2]");
    assert_eq!(
        r("{{ xs | ansible.builtin.sort(reverse=true) | join(',') }}"),
        "3,2,1"
    );
    assert_eq!(r("{{ 'a' | ansible.builtin.default('b') }}"), "a");
    assert_eq!(r("{{ 4 is ansible.builtin.divisibleby(2) }}"), "True");
    assert_eq!(r("{{ xs is ansible.builtin.defined }}"), "True");
    let e = t.render_str("{{ xs | ansible.builtin.nope }}", &ctx, None);
    assert!(e.is_err());
    // lookups by FQCN; a known one opsctl lacks says so when evaluated
    assert_eq!(r("{{ lookup('ansible.builtin.items', 'a') }}"), "['a']");
    let e = t
        .render_str("{{ lookup('password', '/dev/null') }}", &ctx, None)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("opsctl does not implement the lookup 'password' (ansible.builtin.password)"),
        "{e}"
    );
}

#[test]
fn module_defaults_groups() {
    let copy = crate::modules::find("copy").unwrap();
    let none: &[String] = &[];
    assert!(!group_has("community.postgresql.all", none, copy));
    assert!(!group_has("nosuch", none, copy));
}

#[test]
fn scanning_finds_filters_tests_and_lookups() {
    let uses = |s: &str| -> Vec<(Kind, String, usize)> {
        scan::template(s)
            .into_iter()
            .map(|u| (u.kind, u.name, u.line))
            .collect()
    };
    assert_eq!(
        uses("a {{ x | default('|nope') | ansible.builtin.to_json }} b"),
        vec![
            (Kind::Filter, "default".into(), 0),
            (Kind::Filter, "ansible.builtin.to_json".into(), 0)
        ]
    );
    assert_eq!(
        uses(
            "line\n{% if x is not defined and y is version('1', '>') %}\n{{ lookup('env', 'HOME') }}\n{% endif %}"
        ),
        vec![
            (Kind::Test, "defined".into(), 1),
            (Kind::Test, "version".into(), 1),
            (Kind::Lookup, "env".into(), 2),
        ]
    );
    assert_eq!(
        uses(
            "{{ xs | select('match', 'a') | map('upper') | selectattr('k', 'equalto', 1) | list }}"
        ),
        vec![
            (Kind::Filter, "select".into(), 0),
            (Kind::Test, "match".into(), 0),
            (Kind::Filter, "map".into(), 0),
            (Kind::Filter, "upper".into(), 0),
            (Kind::Filter, "selectattr".into(), 0),
            (Kind::Test, "equalto".into(), 0),
            (Kind::Filter, "list".into(), 0),
        ]
    );
    // comments, raw sections and strings are not code
    assert!(uses("{# x | nope #}{% raw %}{{ y | nope }}{% endraw %}{{ 'a | b' }}").is_empty());
    // a bare condition
    let bare: Vec<String> = scan::expression("r.stdout is search('x') and q('items', [1])")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(bare, vec!["search", "items"]);
}

/// docs/compatibility.md is generated; regenerate it with `make docs`.
#[test]
fn docs_compatibility_md_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compatibility.md");
    let want = reference();
    if std::env::var_os("OPSCTL_WRITE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/compatibility.md is stale: run `make docs` (OPSCTL_WRITE_DOCS=1 cargo test --lib docs_)"
    );
}
