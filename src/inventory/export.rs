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
        let root = root.unwrap_or("all");
        if !self.groups.contains_key(root) {
            return String::new();
        }
        let mut lines = Vec::new();
        self.graph_group(root, 0, &mut lines);
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }

    fn graph_group(&self, name: &str, depth: usize, out: &mut Vec<String>) {
        let Some(g) = self.groups.get(name) else {
            return;
        };
        out.push(graph_name(&format!("@{name}:"), depth));
        for kid in &g.children {
            self.graph_group(kid, depth + 1, out);
        }
        if name != "all" {
            for h in &g.hosts {
                out.push(graph_name(h, depth + 1));
            }
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
                if i > 0 {
                    out.push(',');
                }
                newline(level + 1, out);
                write_str(k, out);
                out.push_str(": ");
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
