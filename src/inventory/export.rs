//! `ansible-inventory --graph` and `--list`, byte for byte.

use std::collections::HashSet;

use indexmap::IndexMap;
use serde_json::{Map, Value as Json};

use super::Inventory;
use super::pyliteral::py_float_repr;

impl Inventory {
    /// Exactly what `ansible-inventory --graph [group]` prints to stdout,
    /// including the final newline; empty when `root` is not a group (Ansible
    /// then fails with "Pattern must be valid group name when using --graph").
    pub fn graph(&self, root: Option<&str>) -> String {
        self.graph_within(root, |_| true)
    }

    /// [`Inventory::graph`] of the hosts `keep` accepts (a `--limit`), as if the
    /// others were not in the inventory (groups keep their structure).
    pub fn graph_within(&self, root: Option<&str>, keep: impl Fn(&str) -> bool) -> String {
        let Some(tree) = self.graph_tree_within(root, keep) else {
            return String::new();
        };
        let mut lines = Vec::new();
        draw(&tree, 0, &mut lines);
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }

    /// [`Inventory::graph_within`] as a document: `{"group": NAME, "children":
    /// [...], "hosts": [...]}`, children first, in the graph's order (`all`
    /// lists no hosts of its own, as the graph does). `None` for an unknown group.
    pub fn graph_tree_within(
        &self,
        root: Option<&str>,
        keep: impl Fn(&str) -> bool,
    ) -> Option<Json> {
        let root = root.unwrap_or("all");
        self.groups
            .contains_key(root)
            .then(|| self.tree_group(root, &keep))
    }

    fn tree_group(&self, name: &str, keep: &impl Fn(&str) -> bool) -> Json {
        let g = &self.groups[name];
        let children: Vec<Json> = g
            .children
            .iter()
            .filter(|k| self.groups.contains_key(*k))
            .map(|k| self.tree_group(k, keep))
            .collect();
        let hosts: Vec<Json> = if name == "all" {
            Vec::new()
        } else {
            g.hosts
                .iter()
                .filter(|h| keep(h))
                .map(|h| Json::String(h.to_string()))
                .collect()
        };
        let mut m = Map::new();
        m.insert("group".into(), Json::String(name.to_string()));
        m.insert("children".into(), Json::Array(children));
        m.insert("hosts".into(), Json::Array(hosts));
        Json::Object(m)
    }

    /// Exactly what `ansible-inventory --list` prints (without the final
    /// newline): `to_ansible_json(&self.list_json(hostvars))`, written straight
    /// from the inventory instead of through a document (100,000 hosts' copies
    /// of names and values saved). `keep`: only the hosts it accepts (a
    /// `--limit`), as if the others were not in the inventory. `hostvars(host,
    /// out)` puts the host's variables in `out` (cleared first), each name once
    /// (in any order).
    pub fn list_text<'v>(
        &self,
        keep: Option<&dyn Fn(&str) -> bool>,
        mut hostvars: impl FnMut(&str, &mut Vec<(&'v str, &'v Json)>),
    ) -> String {
        let keep = |h: &str| keep.is_none_or(|k| k(h));
        // every group below `all`, once, as `format_group` lists them; then
        // `_meta`, which replaces a group of that name as in `list_json`
        let mut entries: Vec<(&str, Entry)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        self.list_group("all", &keep, &mut seen, &mut entries);
        entries.push(("_meta", Entry::Meta));
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(b.0)); // stable: the last of a name first
        entries.dedup_by(|later, first| later.0 == first.0);
        let mut hosts: Vec<&str> = self.group_hosts("all");
        hosts.retain(|h| keep(h));
        hosts.sort_unstable();
        let mut out = String::with_capacity(64 * hosts.len() + 1024);
        out.push('{');
        for (i, (name, entry)) in entries.iter().enumerate() {
            member(i == 0, name, 0, &mut out);
            match entry {
                Entry::Group { hosts, children } => {
                    out.push('{');
                    if !children.is_empty() {
                        member(true, "children", 1, &mut out);
                        str_array(children.iter().map(String::as_str), 2, &mut out);
                    }
                    if !hosts.is_empty() {
                        member(children.is_empty(), "hosts", 1, &mut out);
                        str_array(hosts.iter().copied(), 2, &mut out);
                    }
                    newline(1, &mut out);
                    out.push('}');
                }
                Entry::Meta => {
                    out.push('{');
                    member(true, "hostvars", 1, &mut out);
                    let mut vars = Vec::new();
                    let mut any = false;
                    for h in &hosts {
                        hostvars(h, &mut vars);
                        if vars.is_empty() {
                            continue;
                        }
                        // sort_keys (the vars layer gives them sorted: a check)
                        vars.sort_unstable_by(|a, b| a.0.cmp(b.0));
                        if !any {
                            out.push('{');
                        }
                        member(!any, h, 2, &mut out);
                        any = true;
                        out.push('{');
                        for (j, (k, v)) in vars.iter().enumerate() {
                            member(j == 0, k, 3, &mut out);
                            write_json(v, 4, &mut out);
                        }
                        newline(3, &mut out);
                        out.push('}');
                    }
                    if any {
                        newline(2, &mut out);
                        out.push('}');
                    } else {
                        out.push_str("{}");
                    }
                    member(false, "profile", 1, &mut out);
                    write_str("inventory_legacy", &mut out);
                    newline(1, &mut out);
                    out.push('}');
                }
            }
        }
        newline(0, &mut out);
        out.push('}');
        out
    }

    /// [`Inventory::format_group`]'s walk, keeping borrowed entries.
    fn list_group<'a>(
        &'a self,
        name: &'a str,
        keep: &impl Fn(&str) -> bool,
        seen: &mut HashSet<&'a str>,
        out: &mut Vec<(&'a str, Entry<'a>)>,
    ) {
        let Some(g) = self.groups.get(name) else {
            return;
        };
        let hosts: Vec<&str> = if name == "all" {
            Vec::new()
        } else {
            g.hosts
                .iter()
                .map(String::as_str)
                .filter(|h| keep(h))
                .collect()
        };
        for sub in &g.children {
            if !seen.contains(sub.as_str()) {
                self.list_group(sub, keep, seen, out);
                seen.insert(sub.as_str());
            }
        }
        if !hosts.is_empty() || !g.children.is_empty() {
            out.push((
                name,
                Entry::Group {
                    hosts,
                    children: &g.children,
                },
            ));
        }
    }

    /// The document `ansible-inventory --list` prints; [`to_ansible_json`] prints
    /// it with keys sorted at every level (`json.dumps(..., sort_keys=True)`). `hostvars` holds
    /// each host's fully merged variables; hosts with none are left out as Ansible
    /// does. Print it with [`to_ansible_json`] to get Ansible's exact text.
    /// The values of `hostvars` move into the document (nothing is copied).
    pub fn list_json(&self, mut hostvars: IndexMap<String, Json>) -> Json {
        let all = self.group_hosts("all");
        let available: HashSet<&str> = all.iter().copied().collect();
        let mut doc = Map::new();
        let mut seen: HashSet<&str> = HashSet::new();
        self.format_group("all", &available, &mut seen, &mut doc);
        let mut hv = Map::new();
        for h in all {
            if let Some(v) = hostvars.get_mut(h)
                && !is_empty(v)
            {
                hv.insert(h.to_string(), v.take());
            }
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Json::Object(hv));
        meta.insert("profile".into(), Json::String("inventory_legacy".into()));
        doc.insert("_meta".into(), Json::Object(meta));
        // keys are sorted when printed ([`to_ansible_json`]), not here
        Json::Object(doc)
    }

    fn format_group<'a>(
        &'a self,
        name: &'a str,
        available: &HashSet<&str>,
        seen: &mut HashSet<&'a str>,
        out: &mut Map<String, Json>,
    ) {
        let Some(g) = self.groups.get(name) else {
            return;
        };
        let mut entry = Map::new();
        if name != "all" {
            let hosts: Vec<Json> = g
                .hosts
                .iter()
                .filter(|h| available.contains(h.as_str()))
                .map(|h| Json::String(h.clone()))
                .collect();
            if !hosts.is_empty() {
                entry.insert("hosts".into(), Json::Array(hosts));
            }
        }
        let mut children = Vec::new();
        for sub in &g.children {
            children.push(Json::String(sub.clone()));
            if !seen.contains(sub.as_str()) {
                self.format_group(sub, available, seen, out);
                seen.insert(sub.as_str());
            }
        }
        if !children.is_empty() {
            entry.insert("children".into(), Json::Array(children));
        }
        if !entry.is_empty() {
            out.insert(name.to_string(), Json::Object(entry));
        }
    }
}

/// A top-level entry of `--list`: a group, or `_meta` (the hosts' variables).
enum Entry<'a> {
    Group {
        hosts: Vec<&'a str>,
        children: &'a [String],
    },
    Meta,
}

/// Starts a member `"key": ` of an object at `level` (the object's own level).
fn member(first: bool, key: &str, level: usize, out: &mut String) {
    if !first {
        out.push(',');
    }
    newline(level + 1, out);
    write_str(key, out);
    out.push_str(": ");
}

/// A non-empty array of strings at `level`.
fn str_array<'a>(items: impl Iterator<Item = &'a str>, level: usize, out: &mut String) {
    out.push('[');
    for (i, it) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(level + 1, out);
        write_str(it, out);
    }
    newline(level, out);
    out.push(']');
}

/// The lines of a [`Inventory::graph_tree_within`] node, as the graph draws them.
fn draw(node: &Json, depth: usize, out: &mut Vec<String>) {
    let name = node["group"].as_str().unwrap_or_default();
    out.push(graph_name(&format!("@{name}:"), depth));
    for kid in node["children"].as_array().into_iter().flatten() {
        draw(kid, depth + 1, out);
    }
    for host in node["hosts"].as_array().into_iter().flatten() {
        out.push(graph_name(host.as_str().unwrap_or_default(), depth + 1));
    }
}

fn graph_name(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{name}", "  |".repeat(depth))
    }
}

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Python's `json.dumps(value, sort_keys=True, indent=4)` as `ansible-inventory`
/// prints it (UTF-8 kept, control characters as `\u00XX`, floats as Python's `repr`), without
/// the final newline.
pub fn to_ansible_json(value: &Json) -> String {
    let mut out = String::new();
    write_json(value, 0, &mut out);
    out
}

fn write_json(v: &Json, level: usize, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                out.push_str(&py_float_repr(f, true));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Json::String(s) => write_str(s, out),
        Json::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(level + 1, out);
                write_json(it, level + 1, out);
            }
            newline(level, out);
            out.push(']');
        }
        Json::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            // sort_keys=True, without copying the document
            let mut entries: Vec<(&String, &Json)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (i, (k, val)) in entries.into_iter().enumerate() {
                member(i == 0, k, level, out);
                write_json(val, level + 1, out);
            }
            newline(level, out);
            out.push('}');
        }
    }
}

fn newline(level: usize, out: &mut String) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', 4 * level));
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // ensure_ascii=False: only control characters are escaped.
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
