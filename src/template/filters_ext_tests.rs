//! Expected values are Python's (CPython 3.11, Ansible's filter code paths).

use minijinja::Value;
use serde_json::json;

use crate::template::Templar;

fn r(src: &str) -> String {
    let ctx = Value::from(minijinja::value::Serde(json!({
        "users": [
            {"name": "alice", "keys": ["k1", "k2"], "groups": {"main": ["adm"]}},
            {"name": "bob", "keys": ["k3"]},
            {"name": "carol"}
        ],
        "hosts": {"web1": {"ip": "10.0.0.5", "port": 80}, "web2": {"ip": "10.0.0.6", "port": 81}},
        "addrs": ["10.0.0.5", "fe80::1", "not an ip", "192.168.1.0/24", "2001:db8::/32"],
    })));
    Templar::new()
        .render_str(src, &ctx, None)
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn fails(src: &str) -> String {
    Templar::new()
        .render_str(src, &Value::from(()), None)
        .expect_err(src)
        .to_string()
}

#[test]
fn strftime_of_an_epoch() {
    assert_eq!(
        r("{{ '%Y-%m-%d %H:%M:%S' | strftime(1709647629, utc=true) }}"),
        "2024-03-05 14:07:09"
    );
    assert_eq!(
        r("{{ '%a %b %d %j %U %W %w %u %y %I%p %Z' | strftime(second=1709647629, utc=True) }}"),
        "Tue Mar 05 065 09 10 2 2 24 02PM UTC"
    );
    assert_eq!(
        r("{{ '%s' | strftime('1709647629.75', utc=true) }}"),
        "1709647629"
    );
    // now: this year, four digits
    let y = r("{{ '%Y' | strftime }}");
    assert!(y.len() == 4 && y.starts_with('2'), "{y}");
    assert!(fails("{{ '%Y' | strftime('soon') }}").contains("Invalid value for epoch"));
}

#[test]
fn to_datetime_parses_and_formats() {
    assert_eq!(
        r("{{ '2024-03-05 14:07:09' | to_datetime }}"),
        "2024-03-05 14:07:09"
    );
    assert_eq!(
        r("{{ ('05/Mar/2024:14:07:09 +0100' | to_datetime('%d/%b/%Y:%H:%M:%S %z')) }}"),
        "2024-03-05 14:07:09+01:00"
    );
    assert_eq!(
        r(
            "{% set d = '2024-12-30' | to_datetime('%Y-%m-%d') %}{{ d.year }} {{ d.month }} {{ d.day }} {{ d.strftime('%U %W %j') }}"
        ),
        "2024 12 30 52 53 365"
    );
    assert_eq!(
        r("{{ ('2024-03-05T14:07:09Z' | to_datetime('%Y-%m-%dT%H:%M:%S%z')).timestamp() | int }}"),
        "1709647629"
    );
    assert!(fails("{{ '2024-03-05' | to_datetime }}").contains("does not match format"));
}

#[test]
fn now_is_a_datetime_or_a_string() {
    let s = r("{{ now(utc=true, fmt='%Y-%m-%dT%H') }}");
    assert_eq!(s.len(), 13, "{s}");
    assert!(r("{{ now().year }}").parse::<i64>().unwrap() >= 2024);
    assert_eq!(r("{{ now(true).strftime('%Z') }}"), "");
}

#[test]
fn random_with_a_seed_picks_what_python_picks() {
    assert_eq!(r("{{ 60 | random(seed='web1') }}"), "52");
    assert_eq!(r("{{ 60 | random(seed='web1.example.org') }}"), "18");
    assert_eq!(r("{{ 100 | random(seed=42) }}"), "81");
    assert_eq!(r("{{ ['a','b','c','d'] | random(seed=42) }}"), "a");
    assert_eq!(r("{{ 100 | random(10, 10, seed='x') }}"), "60");
    assert_eq!(r("{{ 1000 | random(seed=1099511627781) }}"), "516");
    assert_eq!(
        r("{{ 1000000000000 | random(seed='host') }}"),
        "352583036902"
    );
    for _ in 0..20 {
        let v: i64 = r("{{ 10 | random(start=5) }}").parse().unwrap();
        assert!((5..10).contains(&v));
    }
    assert!(fails("{{ [] | random }}").contains("empty sequence"));
}

#[test]
fn sizes() {
    assert_eq!(r("{{ 1024 | human_readable }}"), "1.00 KB");
    assert_eq!(r("{{ 10 | human_readable }}"), "10.00 Bytes");
    assert_eq!(
        r("{{ 1073741824 | human_readable(unit='M') }}"),
        "1024.00 MB"
    );
    assert_eq!(r("{{ 2048 | human_readable(isbits=true) }}"), "2.00 Kb");
    assert_eq!(r("{{ '1.5 MB' | human_to_bytes }}"), "1572864");
    assert_eq!(r("{{ '10M' | human_to_bytes }}"), "10485760");
    assert_eq!(r("{{ '2' | human_to_bytes(default_unit='K') }}"), "2048");
    assert_eq!(r("{{ '1 Kb' | human_to_bytes(isbits=true) }}"), "1024");
    assert_eq!(r("{{ '42' | human_to_bytes }}"), "42");
    assert!(fails("{{ '1 Kb' | human_to_bytes }}").contains("byte unit"));
    assert!(fails("{{ 'lots' | human_to_bytes }}").contains("not a valid string"));
}

#[test]
fn urlsplit_parts() {
    let u = "'https://user:pw@Example.COM:8443/a/b?x=1#frag'";
    assert_eq!(
        r(&format!("{{{{ {u} | urlsplit('hostname') }}}}")),
        "example.com"
    );
    assert_eq!(r(&format!("{{{{ {u} | urlsplit('port') }}}}")), "8443");
    assert_eq!(
        r(&format!("{{{{ {u} | urlsplit('netloc') }}}}")),
        "user:pw@Example.COM:8443"
    );
    assert_eq!(r(&format!("{{{{ {u} | urlsplit('path') }}}}")), "/a/b");
    assert_eq!(r(&format!("{{{{ {u} | urlsplit('query') }}}}")), "x=1");
    assert_eq!(r(&format!("{{{{ {u} | urlsplit('fragment') }}}}")), "frag");
    assert_eq!(r(&format!("{{{{ {u} | urlsplit('username') }}}}")), "user");
    assert_eq!(r(&format!("{{{{ ({u} | urlsplit).scheme }}}}")), "https");
    assert_eq!(r("{{ 'http://h/p' | urlsplit('port') is none }}"), "True");
}

#[test]
fn list_filters() {
    assert_eq!(
        r(
            "{% for u, k in users | subelements('keys', skip_missing=True) %}{{ u.name }}:{{ k }} {% endfor %}"
        ),
        "alice:k1 alice:k2 bob:k3 "
    );
    assert_eq!(
        r(
            "{% for u, g in users | subelements('groups.main', true) %}{{ u.name }}:{{ g }}{% endfor %}"
        ),
        "alice:adm"
    );
    assert!(
        Templar::new()
            .render_str(
                "{{ users | subelements('keys') }}",
                &Value::from(minijinja::value::Serde(json!({"users": [{"name": "x"}]}))),
                None
            )
            .unwrap_err()
            .to_string()
            .contains("could not find 'keys'")
    );
    assert_eq!(
        r("{{ ['web1', 'web2'] | map('extract', hosts, 'ip') | join(',') }}"),
        "10.0.0.5,10.0.0.6"
    );
    assert_eq!(
        r("{{ 'web2' | extract(hosts) | to_json }}"),
        r#"{"ip": "10.0.0.6", "port": 81}"#
    );
    assert_eq!(
        r("{{ [1, 2] | product(['a', 'b']) | list | to_json }}"),
        r#"[[1, "a"], [1, "b"], [2, "a"], [2, "b"]]"#
    );
    assert_eq!(r("{{ [0, 1] | product(repeat=2) | length }}"), "4");
    assert_eq!(
        r("{{ [1, 2, 3] | zip(['a', 'b']) | list | to_json }}"),
        r#"[[1, "a"], [2, "b"]]"#
    );
    assert_eq!(
        r("{{ [1, 2, 3] | zip_longest(['a'], fillvalue='-') | list | to_json }}"),
        r#"[[1, "a"], [2, "-"], [3, "-"]]"#
    );
    assert_eq!(
        r("{{ [1, [2, [3, [4]]]] | flatten(levels=1) | to_json }}"),
        "[1, 2, [3, [4]]]"
    );
}

#[test]
fn comments() {
    assert_eq!(
        r("{{ 'Hello\nWorld' | comment }}"),
        "#\n# Hello\n# World\n#"
    );
    assert_eq!(r("{{ 'Hi' | comment('c') }}"), "//\n// Hi\n//");
    assert_eq!(
        r("{{ 'Hi' | comment('cblock') }}"),
        "/*\n *\n * Hi\n *\n */"
    );
    assert_eq!(r("{{ 'Hi' | comment('xml') }}"), "<!--\n -\n - Hi\n -\n-->");
    assert_eq!(
        r("{{ 'Managed' | comment(decoration='; ', prefix='', postfix='') }}"),
        "; Managed\n"
    );
    assert_eq!(r("{{ 'a\n\nb' | comment }}"), "#\n# a\n#\n# b\n#");
}

#[test]
fn address_filters() {
    assert_eq!(
        r("{{ '192.168.1.10/24' | ipaddr('address') }}"),
        "192.168.1.10"
    );
    assert_eq!(
        r("{{ '192.168.1.10/24' | ipaddr('network') }}"),
        "192.168.1.0"
    );
    assert_eq!(
        r("{{ '192.168.1.10/24' | ipaddr('netmask') }}"),
        "255.255.255.0"
    );
    assert_eq!(r("{{ '192.168.1.10/24' | ipaddr('prefix') }}"), "24");
    assert_eq!(
        r("{{ '192.168.1.10/24' | ipaddr('broadcast') }}"),
        "192.168.1.255"
    );
    assert_eq!(
        r("{{ '192.168.1.10/24' | ipaddr('subnet') }}"),
        "192.168.1.0/24"
    );
    assert_eq!(
        r("{{ '192.168.1.10/24' | ipaddr('host') }}"),
        "192.168.1.10/24"
    );
    assert_eq!(
        r("{{ '192.168.1.0/24' | ipaddr('network/prefix') }}"),
        "192.168.1.0/24"
    );
    assert_eq!(
        r("{{ '192.168.1.10/255.255.255.0' | ipaddr('prefix') }}"),
        "24"
    );
    assert_eq!(r("{{ '192.168.1.0/24' | ipaddr('size') }}"), "256");
    assert_eq!(r("{{ '192.168.1.0/24' | ipaddr(1) }}"), "192.168.1.1/24");
    assert_eq!(
        r("{{ '192.168.1.0/24' | ipaddr('-1') }}"),
        "192.168.1.255/24"
    );
    assert_eq!(
        r("{{ '10.0.0.1' | ipaddr('revdns') }}"),
        "1.0.0.10.in-addr.arpa."
    );
    assert_eq!(r("{{ 'not an ip' | ipaddr }}"), "False");
    assert_eq!(r("{{ '10.0.0.1' | ipaddr('private') }}"), "10.0.0.1");
    assert_eq!(r("{{ '8.8.8.8' | ipaddr('private') }}"), "False");
    assert_eq!(r("{{ '8.8.8.8' | ipaddr('public') }}"), "8.8.8.8");
    assert_eq!(
        r("{{ addrs | ipaddr | to_json }}"),
        r#"["10.0.0.5", "fe80::1", "192.168.1.0/24", "2001:db8::/32"]"#
    );
    assert_eq!(
        r("{{ addrs | ipv4 | to_json }}"),
        r#"["10.0.0.5", "192.168.1.0/24"]"#
    );
    assert_eq!(
        r("{{ addrs | ipv6 | to_json }}"),
        r#"["fe80::1", "2001:db8::/32"]"#
    );
    assert_eq!(r("{{ '10.0.0.5' | ipv6 }}"), "False");
    assert_eq!(r("{{ '10.0.0.5' | ipv4('ipv6') }}"), "::ffff:10.0.0.5");
    assert_eq!(r("{{ 'fe80::1' | ipwrap }}"), "[fe80::1]");
    assert_eq!(r("{{ '10.0.0.1' | ipwrap }}"), "10.0.0.1");
    assert_eq!(
        r("{{ ['::1', 'example.com'] | ipwrap | to_json }}"),
        r#"["[::1]", "example.com"]"#
    );
    assert_eq!(
        r("{{ '2001:db8::1/64' | ipaddr('wrap') }}"),
        "[2001:db8::1]/64"
    );
    assert_eq!(r("{{ '192.168.0.0/16' | ipsubnet(20) }}"), "16");
    assert_eq!(
        r("{{ '192.168.0.0/16' | ipsubnet(20, 0) }}"),
        "192.168.0.0/20"
    );
    assert_eq!(
        r("{{ '192.168.0.0/16' | ipsubnet(20, 2) }}"),
        "192.168.32.0/20"
    );
    assert_eq!(
        r("{{ '192.168.0.0/16' | ipsubnet(20, -1) }}"),
        "192.168.240.0/20"
    );
    assert_eq!(
        r("{{ '192.168.32.0/20' | ipsubnet('192.168.0.0/16') }}"),
        "3"
    );
    assert!(fails("{{ '10.0.0.1' | ipaddr('bogus') }}").contains("unknown filter type"));
}
