#!/usr/bin/env python3
"""Regenerates the name lists in src/compat/*.txt from the real Ansible packages.

    make compat-names            (or: python3 src/compat/regen.py [WHEEL_DIR])

Downloads (pip download --no-deps) the ansible-core, ansible (the community
package with its collections) and Jinja2 wheels named below into WHEEL_DIR
(default: a temporary directory) and lists, as facts, the names of:
  modules.txt  every module of ansible.builtin and of COLLECTIONS, as FQCN
               (plugins/modules/*.py; a collection's meta/runtime.yml redirects
               of module names count as names too)
  filters.txt  every filter (FQCN; ansible.builtin's also by short name),
  tests.txt    every test, same form,
  lookups.txt  every lookup plugin, same form,
  redirects.txt  ansible-core's routing of short names ("kind name target"):
               the names Ansible resolves to a collection or a new name
  groups.txt   the action groups of module_defaults (`group/<FQCN>`): one
               "group member" pair a line.
Filter and test names are the keys of the `filters()` / `tests()` mappings of
the plugin files (read with Python's ast, nothing is executed); Jinja2's own
filters and tests are ansible.builtin's too, as Ansible's templar has them.
No source is copied: only names.
"""
import ast
import os
import subprocess
import sys
import tempfile
import zipfile

ANSIBLE_CORE = "ansible-core==2.19.14"
ANSIBLE = "ansible==12.3.0"
JINJA = "Jinja2==3.1.6"
HERE = os.path.dirname(os.path.abspath(__file__))


def collections():
    """The collections of `COLLECTIONS` in mod.rs (one list for both)."""
    import re
    src = open(os.path.join(HERE, "mod.rs")).read()
    body = re.search(r"pub const COLLECTIONS: &\[&str\] = &\[(.*?)\];", src, re.S).group(1)
    return re.findall(r'"([a-z0-9_]+\.[a-z0-9_]+)"', body)


COLLECTIONS = collections()


def wheel(dir, prefix):
    for f in sorted(os.listdir(dir)):
        if f.lower().startswith(prefix.lower()) and f.endswith(".whl"):
            return zipfile.ZipFile(os.path.join(dir, f))
    sys.exit(f"no {prefix}*.whl in {dir}")


def stem(path):
    base = path.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0]


def plugin_files(z, root, exts=(".py",)):
    out = []
    for n in z.namelist():
        if n.startswith(root) and "/" not in n[len(root):]:
            base = n[len(root):]
            if base.endswith(exts) and not base.startswith("_"):
                out.append(n)
    return out


def mapping_keys(src, method):
    """Keys of the dict returned by `def <method>(self)` (filters/tests)."""
    keys = set()
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == method:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Dict):
                    for k in sub.keys:
                        if isinstance(k, ast.Constant) and isinstance(k.value, str):
                            keys.add(k.value)
                # dict(name=fn, ...)
                if (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Name)
                    and sub.func.id == "dict"
                ):
                    keys.update(kw.arg for kw in sub.keywords if kw.arg)
    return keys


def module_level_dict(src, name):
    tree = ast.parse(src)
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            value = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
            value = node.value
        if name in targets and isinstance(value, ast.Dict):
            return {k.value for k in value.keys if isinstance(k, ast.Constant)}
    sys.exit(f"no {name} mapping found")


def runtime_module_redirects(z, root):
    """Module names a collection's meta/runtime.yml routes (redirects, not tombstones)."""
    try:
        import yaml  # PyYAML, present wherever ansible is
    except ImportError:
        return set()
    path = root + "meta/runtime.yml"
    if path not in z.namelist():
        return set()
    data = yaml.safe_load(z.read(path)) or {}
    mods = ((data.get("plugin_routing") or {}).get("modules")) or {}
    return {k for k, v in mods.items() if isinstance(v, dict) and "redirect" in v}


def action_groups(z, root, coll):
    """`group/<coll>.<group>` -> member FQCNs, from meta/runtime.yml."""
    try:
        import yaml
    except ImportError:
        return {}
    path = root + "meta/runtime.yml"
    if path not in z.namelist():
        return {}
    data = yaml.safe_load(z.read(path)) or {}
    out = {}
    for g, members in (data.get("action_groups") or {}).items():
        names = []
        for m in members or []:
            if isinstance(m, str):
                names.append(m if m.count(".") >= 2 else f"{coll}.{m}")
        out[f"{coll}.{g}"] = names
    return out


def builtin_redirects(core):
    """ansible-core's routing (config/ansible_builtin_runtime.yml): short names
    Ansible still resolves (moved to collections, or renamed: yum -> dnf)."""
    import yaml
    data = yaml.safe_load(core.read("ansible/config/ansible_builtin_runtime.yml"))
    routing = data.get("plugin_routing") or {}
    out = set()
    for section, kind in (
        ("modules", "module"),
        ("action", "module"),
        ("filter", "filter"),
        ("test", "test"),
        ("lookup", "lookup"),
    ):
        for name, v in (routing.get(section) or {}).items():
            if isinstance(v, dict) and "redirect" in v and v["redirect"].count(".") >= 2:
                out.add(f"{kind} {name} {v['redirect']}")
    return out


def main():
    dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="opsctl-compat-")
    if not any(f.endswith(".whl") for f in os.listdir(dir)):
        subprocess.check_call(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", dir,
             ANSIBLE_CORE, ANSIBLE, JINJA]
        )
    core = wheel(dir, "ansible_core-")
    community = wheel(dir, "ansible-1")
    jinja = wheel(dir, "jinja2-")

    modules, filters, tests, lookups = set(), set(), set(), set()
    groups = set()
    redirects = builtin_redirects(core)

    # ansible.builtin
    for n in plugin_files(core, "ansible/modules/"):
        modules.add("ansible.builtin." + stem(n))
    for n in plugin_files(core, "ansible/plugins/lookup/"):
        lookups.add("ansible.builtin." + stem(n))
    for kind, method, into in (("filter", "filters", filters), ("test", "tests", tests)):
        for n in plugin_files(core, f"ansible/plugins/{kind}/"):
            for k in mapping_keys(core.read(n).decode(), method):
                into.add("ansible.builtin." + k)
    jf = module_level_dict(jinja.read("jinja2/filters.py").decode(), "FILTERS")
    jt = module_level_dict(jinja.read("jinja2/tests.py").decode(), "TESTS")
    filters.update("ansible.builtin." + k for k in jf)
    tests.update("ansible.builtin." + k for k in jt)

    # the collections
    for coll in COLLECTIONS:
        ns, name = coll.split(".")
        root = f"ansible_collections/{ns}/{name}/"
        found = plugin_files(community, root + "plugins/modules/")
        if not found:
            sys.exit(f"{coll}: no modules found in {community.filename}")
        for n in found:
            modules.add(f"{coll}.{stem(n)}")
        for g, members in action_groups(community, root, coll).items():
            groups.update(f"{g} {m}" for m in members)
        for r in runtime_module_redirects(community, root):
            modules.add(f"{coll}.{r}")
        for n in plugin_files(community, root + "plugins/lookup/"):
            lookups.add(f"{coll}.{stem(n)}")
        for kind, method, into in (("filter", "filters", filters), ("test", "tests", tests)):
            for n in plugin_files(community, root + f"plugins/{kind}/"):
                for k in mapping_keys(community.read(n).decode(), method):
                    into.add(f"{coll}.{k}")

    header = (
        "# Generated by src/compat/regen.py (make compat-names) from "
        f"{ANSIBLE_CORE}, {ANSIBLE}, {JINJA}. Do not edit.\n"
    )
    for fname, names in (
        ("modules.txt", modules),
        ("filters.txt", filters),
        ("tests.txt", tests),
        ("lookups.txt", lookups),
        ("groups.txt", groups),
        ("redirects.txt", redirects),
    ):
        with open(os.path.join(HERE, fname), "w") as f:
            f.write(header)
            for n in sorted(names):
                f.write(n + "\n")
        print(f"{fname}: {len(names)} names")


if __name__ == "__main__":
    main()
