#!/usr/bin/env python3
"""Generate golden expectations for opsctl's template layer from real Ansible.

Re-run (needs ansible-core 2.19 and passlib in a venv):

    python3 -m venv VENV && VENV/bin/pip install 'ansible-core==2.19.*' passlib
    VENV/bin/python tests/golden/template_golden.py > tests/golden/template_cases.rs
    cargo fmt

For every expression EXPR in CASES it records what Ansible produces for
  * the inline template "{{ EXPR }}"  (native value, compared as JSON), and
  * the inline template "<{{ EXPR }}>" (string rendering: Python repr of lists/dicts,
    None rendered as an empty string ...),
or that it fails. FILES are whole template files rendered like the `template`
action does (no backslash escaping, trim_blocks, trailing newlines preserved).
The Rust side (golden_tests.rs) replays them; it does not need Python.
"""

import json
import random
import sys
import warnings

warnings.filterwarnings("ignore")

from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

Display().verbosity = -1

VARS = {
    "s": "Hello World",
    "u": "h\u00e9llo w\u00f6rld \u2713",
    "empty": "",
    "n": 42,
    "f": 3.5,
    "neg": -7,
    "z": 0,
    "t": True,
    "fa": False,
    "none": None,
    "l": [3, 1, 2, 3],
    "ls": ["b", "a", "c", "a", "A"],
    "l2": [2, 4, 5],
    "nested": [1, [2, [3, [4]]], None, "None", "null", [None]],
    "d": {"b": 2, "a": 1, "c": {"x": 1, "y": [1, 2]}},
    "d2": {"a": 10, "c": {"y": [3], "z": 9}, "e": 5},
    "dl1": {"k": [1, 2, 3], "m": {"n": [1]}},
    "dl2": {"k": [3, 4], "m": {"n": [2]}},
    "users": [
        {"name": "alice", "uid": 1001, "admin": True, "shell": "/bin/bash"},
        {"name": "bob", "uid": 1002, "admin": False},
    ],
    "path": "/etc/nginx/sites-available/default.conf",
    "ver": "1.10.2",
    "json_text": '{"a": [1, 2.5, null, true], "b": {"c": "d"}, "e": "\\u00e9"}',
    "yaml_text": "a: 1\nb: [x, y]\nc: yes\nd: 'yes'\ne: ~\nf: 1.5\ng:\n  - h: 0644\n",
    "multiline": "line1\nline2\n",
    "quoty": "it's \"quoted\"",
    "spacey": "  padded  ",
    "items": [{"key": "a", "value": 1}, {"key": "b", "value": 2}],
    "items2": [{"n": "x", "v": 1}],
    "port": 8080,
    "enabled": True,
    "words": "foo bar foo baz",
    "ip": "inet 10.0.0.5/24 brd 10.0.0.255",
    "vlist": ["1.9", "1.10", "1.2"],
    "tabby": "a\tb",
    "ctrl": "bell\x07 and nul\x00",
    "longwords": " ".join(["alpha", "beta", "gamma", "delta"] * 12),
    "longnospace": "x" * 100,
    "deep1": {"a": {"b": {"c": 1, "l": [1]}, "k": "v"}, "z": 0},
    "deep2": {"a": {"b": {"d": 2, "l": [2]}, "n": None}, "y": [1]},
    "weird_keys": {"yes": 1, "key with: colon": 2, "": 3, "- dash": 4, "multi\nline": 5, "ok": {"nested": [{"x": None}]}},
}

CASES = [
    # --- rendering / native basics
    "none", "t", "fa", "n", "f", "s", "u", "l", "d", "nested", "users", "quoty",
    "[none, t, 1.5, 'a', \"it's\"]", "{'k': none}", "(1, 'a')", "1.0", "0.1 + 0.2", "10 / 4", "10 // 4",
    "n ~ ''", "t ~ ''", "none ~ ''", "empty", "[]", "{}", "'x' if fa", "u | length",
    # --- default / d / mandatory
    "undefined_var | default('dflt')", "undefined_var | d('dflt')", "none | default('dflt')",
    "empty | default('dflt', true)", "z | default('dflt', true)", "s | default('dflt', true)",
    "d.zz | default('x')", "undefined_var | default(omit_me | default('n'))",
    "d.zz.yy | default('x')", "missing.yy | default('x')", "missing.yy.zz is defined", "d.zz.yy is defined",
    "l[5] | default('x')", "(d.zz.yy or 'y') if d.zz is defined else 'n'", "missing | default(d.zz.q) | default('z')",
    "d.zz.yy", "missing.yy", "d.c.zz", "users[5].name | default('nobody')", "d['c']['zz'] | default(0)",
    "s | mandatory", "undefined_var | mandatory", "undefined_var | mandatory('custom msg')",
    "undefined_var is defined", "s is defined", "undefined_var is undefined", "d.zz is defined",
    "none is none", "s is string", "n is string", "d is mapping", "l is mapping", "l is sequence",
    "n is number", "f is float", "n is integer", "t is boolean",
    # --- ternary
    "t | ternary('yes', 'no')", "fa | ternary('yes', 'no')", "none | ternary('yes', 'no', 'null')",
    "none | ternary('yes', 'no')", "empty | ternary('yes', 'no')", "l | ternary(1, 2)",
    # --- bool
    "'yes' | bool", "'Yes' | bool", "'on' | bool", "'TRUE' | bool", "'1' | bool", "1 | bool",
    "'no' | bool", "'off' | bool", "'False' | bool", "'0' | bool", "0 | bool", "t | bool",
    "fa | bool", "none | bool", "'foo' | bool", "2 | bool", "1.0 | bool", "'' | bool",
    # --- int / float
    "'42' | int", "'0x1A' | int(base=16)", "'1A' | int(base=16)", "'0x1A' | int", "'12abc' | int",
    "'12abc' | int(7)", "'3.9' | int", "3.9 | int", "-3.9 | int", "none | int", "t | int",
    "' 12 ' | int", "'1_000' | int", "'0b101' | int(base=2)", "'777' | int(base=8)", "'1e3' | int",
    "'3.5' | float", "'abc' | float", "n | float", "'abc' | float(1.5)",
    # --- json
    "d | to_json", "u | to_json", "l | to_json", "[none, t, fa, 1.5] | to_json", "s | to_json",
    "d | to_nice_json", "[] | to_nice_json", "{} | to_nice_json", "users | to_nice_json",
    "d | to_nice_json(indent=2)", "{'b': u, 'a': [1, {'z': 1, 'y': none}]} | to_nice_json",
    "u ~ quoty | to_json", "d | to_json(sort_keys=true)",
    "json_text | from_json", "'[1, 2]' | from_json", "'\"x\"' | from_json", "'bad json' | from_json",
    # --- yaml
    "d | to_yaml", "l | to_yaml", "s | to_yaml", "users | to_yaml", "n | to_yaml", "none | to_yaml",
    "d | to_nice_yaml", "users | to_nice_yaml", "l | to_nice_yaml", "{} | to_nice_yaml", "[] | to_nice_yaml",
    "d | to_nice_yaml(indent=2)",
    "{'a': 'yes', 'b': '123', 'c': '1.5', 'd': 'null', 'e': '', 'f': '~', 'g': 'true', 'h': '0644', 'i': '2024-01-01'} | to_nice_yaml",
    "{'a': ': x', 'b': '- x', 'c': '#x', 'd': 'a #b', 'e': 'x: y', 'f': '@x', 'g': '*x', 'h': '!x', 'i': '%x', 'j': '`x'} | to_nice_yaml",
    "{'a': '  padded  ', 'b': multiline, 'c': quoty, 'd': 'tab\\there', 'e': u, 'f': '[x]', 'g': '{x}', 'h': 'a, b', 'i': 'x?'} | to_nice_yaml",
    "{'long': 'word ' * 30} | to_nice_yaml", "{'longq': 'yes ' * 30 ~ 'end:'} | to_nice_yaml",
    "{'n': [1, [2, [3, []]], {'x': {}}]} | to_nice_yaml", "[[1, 2], {'a': [3]}, [], {}] | to_nice_yaml",
    "{'f': 1.5, 'g': 1e20, 'h': 0.0001, 'i': -0.0, 'j': 100.0} | to_nice_yaml", "{1: 'a', 2: 'b'} | to_nice_yaml",
    "{'a': {'b': {'c': [1, 2]}}} | to_yaml", "{'k': [{'a': 1}, {'b': [1, 2]}]} | to_yaml",
    "{'k': multiline} | to_yaml", "'---' | to_yaml", "'yes' | to_yaml", "{'a': '-'} | to_yaml",
    "{'t': tabby, 'c': ctrl} | to_nice_yaml", "{'w': longwords} | to_nice_yaml", "{'w': longwords} | to_yaml",
    "[longwords, longnospace] | to_nice_yaml", "[longwords] | to_yaml", "{'q': longwords ~ ' ' ~ quoty} | to_nice_yaml",
    "{'dq': tabby ~ ' ' ~ longwords} | to_nice_yaml", "weird_keys | to_nice_yaml", "weird_keys | to_yaml",
    "{'a': multiline, 'b': 'x\n'} | to_nice_yaml", "[multiline, 'lead\n trail'] | to_nice_yaml", "{'u': '\u00e9\u2713'} | to_yaml",
    "{'k': [[], {}, [[]], none, true, 0, -1.5]} | to_yaml", "d | to_nice_yaml(indent=3)", "users | to_nice_yaml(indent=2)",
    "{'b': 1, 'a': 2} | to_yaml(sort_keys=false)", "{'a': [1, 2]} | to_yaml(default_flow_style=false)",
    "{'a': [1, 2]} | to_nice_yaml(default_flow_style=true)", "{'w': longwords} | to_nice_yaml(width=40)",
    "yaml_text | from_yaml", "multiline | from_yaml", "'[1, 2]' | from_yaml", "'x' | from_yaml", "'' | from_yaml",
    "'a: [1' | from_yaml", "'{a: 1, b: {c: [on, off, 0x10, 1_000, .5]}}' | from_yaml",
    # --- base64
    "s | b64encode", "u | b64encode", "empty | b64encode", "'SGVsbG8gV29ybGQ=' | b64decode",
    "'aMOpbGxvIHfDtnJsZCDinJM=' | b64decode", "'a?b' | b64encode(urlsafe=true)",
    # --- regex
    "s | regex_replace('o', '0')", "s | regex_replace('(\\w+) (\\w+)', '\\2 \\1')",
    "s | regex_replace('(?P<first>\\w+) (?P<second>\\w+)', '\\g<second>, \\g<first>')",
    "s | regex_replace('(\\w+)', '\\g<1>!')", "s | regex_replace('o', '0', count=1)",
    "s | regex_replace('hello', 'bye', ignorecase=true)", "multiline | regex_replace('^', '> ', multiline=true)",
    "multiline | regex_replace('^', '> ')", "multiline | regex_replace('$', '<')", "multiline | regex_replace('\\n', '|')", "s | regex_replace('x', 'y')", "s | regex_replace('o', '$1')",
    "'a.b.c' | regex_replace('\\.', '\\\\')", "u | regex_replace('\u00f6', 'o')", "'abc' | regex_replace('(x)?b', '[\\1]')",
    "'path/to' | regex_replace('/', '\\\\n')", "'path/to' | regex_replace('/', '\\n')", "multiline | regex_replace('(?m)^', '#')", "'a&b' | regex_replace('&', '\\&')", "'ab' | regex_replace('(?P<x>a)', '<\\g<x>\\g<0>>')", "'aaa' | regex_replace('a*', '-')", "'abc' | regex_replace('', '-')",
    "s | regex_search('o W')", "s | regex_search('xyz')", "s | regex_search('(\\w+) (\\w+)', '\\2', '\\1')",
    "s | regex_search('(?P<w>W\\w+)', '\\g<w>')", "s | regex_search('world', ignorecase=true)",
    "ip | regex_search('inet ([0-9.]+)/(\\d+)', '\\1')", "multiline | regex_search('^line2', multiline=true)",
    "multiline | regex_search('^line2')", "multiline | regex_search('line1$')", "s | regex_search('xyz', '\\1')",
    "words | regex_findall('foo')", "words | regex_findall('b(a)(\\w)')", "words | regex_findall('b(a\\w)')",
    "words | regex_findall('FOO', ignorecase=true)", "'a1b22c333' | regex_findall('\\d+')", "s | regex_findall('xyz')",
    "multiline | regex_findall('^\\w+$', multiline=true)", "multiline | regex_findall('(l)(i)')",
    "'a.b*c' | regex_escape", "'a.b*c[d]^$' | regex_escape(re_type='posix_basic')", "'x+y (z)?' | regex_escape",
    "'key=val; k2=v2' | regex_findall('(\\w+)=(\\w+)')", "'ab12' | regex_replace('(?P<l>[a-z]+)(?P<d>\\d+)', '\\g<d>\\g<l>')",
    "'CamelCaseString' | regex_replace('([a-z])([A-Z])', '\\1_\\2') | lower", "'  x  ' | regex_replace('^\\s+|\\s+$', '')",
    "'aaa' | regex_replace('a', 'b', mandatory_count=3)", "'aaa' | regex_replace('a', 'b', mandatory_count=2)",
    "'x' | regex_replace('(?<=x)', 'y')", "'abc' | regex_search('B', ignorecase=true)", "'1.2.3' | regex_search('^(\\d+)\\.(\\d+)', '\\1', '\\2')",
    "'foo' | regex_search('(?P<x>o+)', '\\g<x>', '\\0')",
    # --- regex tests
    "s is match('Hello')", "s is match('World')", "s is search('World')", "s is search('^World')",
    "s is regex('wor', ignorecase=true)", "s is match('hello', ignorecase=true)", "multiline is match('^line2', multiline=true)",
    "multiline is search('^line2', multiline=true)", "multiline is search('^line2')", "'abc' is match('b')", "'abc' is regex('b', match_type='match')",
    # --- paths
    "path | basename", "path | dirname", "'/etc/' | basename", "'/etc/' | dirname", "'file' | dirname",
    "'/' | dirname", "'' | basename", "path | splitext", "'archive.tar.gz' | splitext", "'.bashrc' | splitext",
    "'/a/b.c/d' | splitext", "'..hidden.txt' | splitext", "'a.' | splitext", "['/etc', 'nginx', 'a.conf'] | path_join",
    "['etc', '/abs', 'x'] | path_join", "'a//b/' | basename", "'a//b/' | dirname", "'//x' | dirname", "'/opt/x' | expanduser", "path | splitext | first",
    # --- quote
    "s | quote", "'simple' | quote", "'' | quote", "\"it's\" | quote", "none | quote", "n | quote",
    "'a-b_c/d.e:f@g%h+i=j,k' | quote", "u | quote", "'$HOME' | quote",
    # --- combine
    "d | combine(d2)", "d | combine(d2, recursive=true)", "d | combine(d2, {'z': 1})", "[d, d2] | combine",
    "{} | combine", "dl1 | combine(dl2, recursive=true)", "dl1 | combine(dl2, list_merge='replace')",
    "dl1 | combine(dl2, list_merge='keep')", "dl1 | combine(dl2, list_merge='append')",
    "dl1 | combine(dl2, list_merge='prepend')", "dl1 | combine(dl2, list_merge='append_rp')",
    "dl1 | combine(dl2, list_merge='prepend_rp')", "dl1 | combine(dl2, list_merge='append', recursive=true)",
    "dl1 | combine(dl2, list_merge='prepend_rp', recursive=true)", "dl1 | combine(dl2, list_merge='bogus')",
    "{'a': {'x': 1}} | combine({'a': 5}, recursive=true)", "{'a': 5} | combine({'a': {'x': 1}}, recursive=true)",
    "{'a': {'x': 1}} | combine({'a': none}, recursive=true)", "d | combine(d2, bogus=true)", "{'a': 1} | combine(5)",
    "{'k': [1, 2, 2, 3]} | combine({'k': [2, 4]}, list_merge='append_rp')",
    "{'k': [1, 2, 2, 3]} | combine({'k': [4, 2]}, list_merge='prepend_rp')",
    # --- dict2items / items2dict
    "d | dict2items", "{'x': 1} | dict2items(key_name='k', value_name='v')", "{} | dict2items",
    "l | dict2items", "items | items2dict", "items2 | items2dict(key_name='n', value_name='v')",
    "items2 | items2dict", "[] | items2dict", "d | items2dict",
    # --- flatten
    "nested | flatten", "nested | flatten(levels=1)", "nested | flatten(1)", "nested | flatten(skip_nulls=false)",
    "nested | flatten(levels=2, skip_nulls=false)", "[] | flatten", "[[], [[]]] | flatten", "nested | flatten(levels=0)",
    # --- set theory (Ansible orders these by Python set/hash order for hashables: compare sorted)
    "l | unique", "ls | unique", "ls | unique(case_sensitive=true)", "users | unique(attribute='admin')",
    "[[1], [1], [2]] | unique", "[1, 1.0, true, '1'] | unique",
    "l | union(l2) | sort", "l | intersect(l2) | sort", "l | difference(l2) | sort", "l | symmetric_difference(l2) | sort",
    "ls | union(['z']) | sort(case_sensitive=true)", "[[1], [2]] | union([[2], [3]])", "[[1], [2]] | intersect([[2], [3]])",
    "[[1], [2], [1]] | difference([[2], [3]])", "[[1], [2]] | symmetric_difference([[2], [3]])",
    "l | union(l2) | length", "l | intersect(l2)", "[1, 2] | difference([2])",
    # --- hashing
    "s | hash", "s | hash('md5')", "s | hash('sha256')", "s | hash('sha512')", "s | hash('sha1')", "u | hash('sha256')",
    "empty | hash('md5')", "s | checksum", "s | md5", "s | sha1", "s | hash('nope')", "n | hash('md5')",
    "'secret' | password_hash('sha512', 'abcdefgh')", "'secret' | password_hash('sha512', 'abcdefgh', rounds=5000)",
    "'secret' | password_hash('sha512', 'abcdefgh', rounds=10000)", "'secret' | password_hash('sha256', 'abcdefgh')",
    "'secret' | password_hash('sha256', 'saltsaltsaltsaltx', rounds=5000)", "u | password_hash('sha512', 'Zz./09aZ')",
    "'' | password_hash('sha512', 'abc', rounds=1000)", "'secret' | password_hash(salt='abcdefgh')",
    "'secret' | password_hash('sha512', 'bad$salt')", "'secret' | password_hash('md5', 'abcdefgh')",
    "'p@ss w\u00f6rd' | password_hash('md5', 'Zz./0')", "'secret' | password_hash('sha256', 'short', rounds=1000)",
    "'a-long-password-of-more-than-sixty-four-bytes-to-exercise-the-sha-crypt-loops-xxxxxxxx' | password_hash('sha512', 'saltsaltsaltsalt', rounds=5000)",
    "'secret' | password_hash('blowfish', 'abcdefghijklmnopqrstuv')",
    "'example.com' | to_uuid", "'x' | to_uuid(namespace='6ba7b810-9dad-11d1-80b4-00c04fd430c8')",
    "'secret' | password_hash('sha512') | length", "'secret' | password_hash('sha512') is match('\\$6\\$rounds=656000\\$[./0-9A-Za-z]{16}\\$[./0-9A-Za-z]{86}$')",
    # --- type_debug
    "s | type_debug", "n | type_debug", "f | type_debug", "t | type_debug", "none | type_debug", "l | type_debug",
    "d | type_debug", "(1, 2) | type_debug", "users | map(attribute='name') | list | type_debug", "'' | type_debug",
    # --- zip and other jinja core
    "l | zip(ls) | list", "[1, 2] | zip(['a', 'b'], [true]) | list", "users | map(attribute='name') | list",
    "users | map(attribute='name')", "users | selectattr('admin') | map(attribute='name') | join(',')",
    "users | rejectattr('admin') | map(attribute='name') | first", "l | select('>', 1) | list", "l | reject('odd') | list",
    "users | selectattr('uid', '>', 1001) | list | length", "l | map('string') | list", "l | sort", "l | max", "l | sum",
    "ls | join('-')", "s | upper", "s | lower", "s | replace('o', '0')", "s.split(' ')", "s.startswith('Hell')",
    "d.items() | list", "d.keys() | list", "s | length", "'%s-%d' | format('a', 3)", "s | list | first",
    "range(3) | list", "users | groupby('admin') | list", "d | dictsort", "users | map(attribute='shell', default='/bin/sh') | list",
    "l | first", "l | last", "[3, 1] | min", "'  x ' | trim", "s | title", "s | center(15) if false else 'c'",
    "users | map(attribute='nope') | list",
    # --- truthy / falsy
    "s is truthy", "empty is truthy", "none is truthy", "l is truthy", "[] is truthy", "z is falsy", "'no' is truthy",
    "'no' is truthy(convert_bool=true)", "'yes' is falsy(convert_bool=true)", "{} is falsy", "'0' is truthy",
    # --- version
    "ver is version('1.9', '>')", "ver is version('1.10.2', '==')", "ver is version('1.10.2', 'eq')",
    "ver is version('1.10.10', '<')", "'1.10' is version('1.9', 'gt')", "'1.2.3' is version('1.2.3', '>=')",
    "'1.2.3' is version('1.2.4', 'ge')", "'1.2.3' is version('1.2.4', 'le')", "'1.2.3' is version('1.2.4', '<=')",
    "'1.2.3' is version('1.2.4', 'lt')", "'1.2.3' is version('1.2.4', '!=')", "'1.2.3' is version('1.2.4', '<>')",
    "'1.2.3' is version('1.2.4', 'ne')", "'1.2.3' is version('1.2.3', '=')", "'1.2' is version('1.2.0', '==')",
    "'1.2' is version('1.2.0', '<')", "'2.0a1' is version('2.0', '<')", "'2.0a1' is version('2.0b1', '<')",
    "'1.0.0-rc1' is version('1.0.0', '<')", "'1.0.0-rc1' is version('1.0.0', '<', version_type='semver')",
    "'1.0.0-alpha' is version('1.0.0-beta', '<', version_type='semver')", "'1.0.0+b1' is version('1.0.0', '==', version_type='semver')",
    "'1.0.0-alpha.1' is version('1.0.0-alpha.beta', '<', version_type='semver')", "'1.0.0-2' is version('1.0.0-10', '<', version_type='semver')",
    "'1.2' is version('1.2.0', '==', strict=true)", "'1.2a1' is version('1.2', '<', strict=true)", "'1.2.3.4' is version('1', '>', strict=true)",
    "'1.2' is version('1.2', 'bogus')", "'1.2' is version('', '==')", "'1.a' is version('1.1', '<')", "'2024.01' is version('2023.12', '>')",
    "'v1.2' is version('v1.10', '<')", "'1.10.0' is version('1.9.9', 'ge')", "'0.9' is version('0.10', 'lt')",
    "'2.4.0-beta' is version('2.4.0', '<')", "'1.0.0' is version('1.0.0-rc.1', '>', version_type='semantic')",
    "'10.0' is version('9.99', '>', version_type='strict')", "'1.0b2' is version('1.0b10', '<', strict=true)",
    "'1.2' is version('1.2', '==', strict=true, version_type='loose')", "'1.2' is version('1.2', '==', version_type='pep440x')", "'1.2.3' is version('1.2.3')", "n is version('41', '>')", "'1.2' is version('1.2', '>=', version_type='strict')",
    "'1.2.3' is version('1.2', '>', version_type='loose')", "vlist | sort | list", "'3.10.1' is version('3.9', '>=')",
    # --- misc tests
    "{'failed': true} is failed", "{'changed': false} is changed", "{'changed': true} is changed", "{} is success",
    "{'skipped': true} is skipped", "{'rc': 1, 'failed': true} is succeeded", "[1, 2] is subset([1, 2, 3])",
    "[1, 2, 3] is superset([1, 2])", "l is contains(3)", "{'unreachable': true} is unreachable", "{} is reachable",
    # --- when-style expressions (evaluated through the same machinery)
    "port > 1000 and enabled", "port > 1000 and not enabled", "'web' in ['web', 'db']", "n % 5", "n is divisibleby 7",
    "l | length > 3", "2 ** 10", "'a' ~ 1 ~ none", "d.c.y[1]", "d['c']['x']", "users[0].name", "ls[-1]", "s[0:5]",
]

# Differential YAML cases: random nested data (fixed seed) dumped by to_yaml/to_nice_yaml.
_rng = random.Random(20261122)
_CHARS = "ab yz09:#-'\"\\,[]{}?*&!|>%@`~.\n\t\u00e9\u2713\u00a0"


def _rand_str():
    n = _rng.choice([0, 1, 2, 3, 5, 8, 13, 40, 90])
    return "".join(_rng.choice(_CHARS) for _ in range(n))


def _rand_scalar():
    return _rng.choice([_rand_str, _rand_str, lambda: _rng.randint(-5, 5000), lambda: _rng.random() * 100,
                        lambda: None, lambda: _rng.choice([True, False]),
                        lambda: _rng.choice(["yes", "no", "0644", "1.5", "~", "null", "2024-01-01", "1_0", "0x1F"])])()


def _rand_node(depth):
    r = _rng.random()
    if depth <= 0 or r < 0.4:
        return _rand_scalar()
    if r < 0.7:
        return [_rand_node(depth - 1) for _ in range(_rng.randint(0, 4))]
    return {_rand_str() or "k": _rand_node(depth - 1) for _ in range(_rng.randint(0, 4))}


VARS["yfuzz"] = [{"root": _rand_node(3), "s": _rand_str()} for _ in range(60)]
CASES += [f"yfuzz[{i}] | to_yaml" for i in range(60)] + [f"yfuzz[{i}] | to_nice_yaml" for i in range(60)]

FILES = [
    ("basic", "server {{ s }};\n"),
    ("trim_blocks", "{% if t %}\nyes\n{% endif %}\nend\n"),
    ("loop", "{% for u in users %}\nuser {{ u.name }} uid={{ u.uid }}\n{% endfor %}\n"),
    ("keep_newlines", "a\n\n"),
    ("no_newline", "a{{ n }}"),
    ("lstrip_not_set", "  {% if t %}\n  x\n  {% endif %}\n"),
    ("set_and_comment", "{# comment #}\n{% set x = n + 1 %}\nx={{ x }}\n"),
    ("none_renders_empty", "v={{ none }};\n"),
    ("lists", "{{ l }} {{ d }} {{ nested }}\n"),
    ("backslash", "{{ 'a\\tb' }}|{{ 'c\\\\d' }}\n"),
    ("whitespace_ctl", "a  {{- n -}}  b\n{%- if t %} c{% endif %}\n"),
    ("bool_render", "{{ t }} {{ fa }} {{ 1.0 }} {{ f * 2 }}\n"),
    ("loop_controls", "{% for i in l %}{% if i == 2 %}{% break %}{% endif %}{{ i }},{% endfor %}\n"),
    ("macro", "{% macro m(x) %}[{{ x }}]{% endmacro %}\n{{ m(1) }}{{ m('a') }}\n"),
    ("yaml_file", "settings:\n{{ d | to_nice_yaml(indent=2) | indent(2, true) }}\n"),
    ("json_file", "{{ users | to_nice_json }}\n"),
    ("html_like", "<p>{{ '<b>&' }}</p>\n"),
]


def jsonable(v):
    try:
        return json.dumps(v, sort_keys=False, ensure_ascii=False)
    except Exception:
        return None


def raw(s):
    hashes = "#"
    while ('"' + hashes) in s:
        hashes += "#"
    return "r" + hashes + '"' + s + '"' + hashes


def main():
    templar = Templar(loader=DataLoader(), variables=VARS)
    out = []
    out.append("// @generated by tests/golden/template_golden.py from ansible-core 2.19 -- do not edit by hand.")
    out.append("// Regenerate: VENV/bin/python tests/golden/template_golden.py > tests/golden/template_cases.rs")
    out.append("")
    out.append("pub(super) const VARS_JSON: &str = " + raw(json.dumps(VARS, ensure_ascii=False)) + ";")
    out.append("")
    out.append("/// (expression, native result as JSON or None when not JSON-able, rendered `<{{ expr }}>` string, error message)")
    out.append("pub(super) type Case = (&'static str, Option<&'static str>, Option<&'static str>, Option<&'static str>);")
    out.append("")
    out.append("pub(super) const CASES: &[Case] = &[")
    for expr in CASES:
        native = rendered = err = None
        try:
            v = templar.template(trust_as_template("{{ " + expr + " }}"))
            native = jsonable(v)
            rendered = templar.template(trust_as_template("<{{ " + expr + " }}>"))
        except Exception as e:  # noqa: BLE001
            err = (type(e).__name__ + ": " + str(e)).splitlines()[0]
        fields = [raw(expr)]
        for x in (native, rendered, err):
            fields.append("None" if x is None else "Some(" + raw(x) + ")")
        out.append("    (" + ", ".join(fields) + "),")
    out.append("];")
    out.append("")
    out.append("/// (name, template file source, rendered output or error)")
    out.append("pub(super) const FILES: &[(&str, &str, Result<&str, &str>)] = &[")
    for name, src in FILES:
        try:
            r = templar.template(trust_as_template(src), escape_backslashes=False)
            if r is None:
                r = ""
            res = "Ok(" + raw(str(r)) + ")"
        except Exception as e:  # noqa: BLE001
            res = "Err(" + raw((type(e).__name__ + ": " + str(e)).splitlines()[0]) + ")"
        out.append("    (" + raw(name) + ", " + raw(src) + ", " + res + "),")
    out.append("];")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
