//! Keyword values: strings, conditions, flags, counts, tags, vars,
//! `environment`, the keywords a task inherits, with an error naming
//! file:line:col for a value of the wrong type.

use std::path::Path;

use serde_json::Map;
use serde_json::Value as Json;

use super::loader::{Entry, Kw, Loader, is_identifier};
use super::types::{Inherited, VarEntry};
use crate::template::is_template;
use crate::yaml::{Node, NodeValue};

impl Loader {
    pub(super) fn type_error(&mut self, e: &Entry, file: &Path, expected: &str) {
        let hint = match e.name.as_str() {
            "when" | "changed_when" | "failed_when" | "until" => {
                "write a Jinja expression without {{ }} (when: x == 'a'), or a list of them that must all hold; quote an expression containing ': '"
            }
            "register" => "register takes one variable name: register: result",
            "loop_control" => {
                "loop_control is a mapping, e.g. loop_control: {loop_var: site, label: \"{{ site.name }}\"}"
            }
            "notify" | "listen" => "give a handler name or a list of names",
            "tags" => "give a tag, a comma-separated string or a list of tags",
            "vars" => "vars is a mapping of name: value",
            "environment" => "environment is a mapping of NAME: value",
            "args" => "args is a mapping of the module's arguments",
            _ => "",
        };
        let hint = if hint.is_empty() {
            format!("'{}' takes {expected}", e.name)
        } else {
            hint.to_string()
        };
        self.err(
            e.loc(file),
            format!(
                "'{}' must be {expected}, found {}",
                e.name,
                e.value.kind_name()
            ),
            Some(hint),
        );
    }

    /// A scalar as text (`name: 3` is "3").
    pub fn string(&mut self, e: &Entry, file: &Path) -> Option<String> {
        match &e.value.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_) => {
                Some(e.value.key_string())
            }
            _ => {
                self.type_error(e, file, "a string");
                None
            }
        }
    }

    /// `when`-like: a string, a bool, or a list of them.
    pub fn conditions(&mut self, e: &Entry, file: &Path) -> Option<Vec<String>> {
        let one = |n: &Node| match &n.value {
            NodeValue::Str(s) if !s.trim().is_empty() => Some(s.clone()),
            NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::Float(_) => Some(n.key_string()),
            _ => None,
        };
        match &e.value.value {
            NodeValue::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    match one(item) {
                        Some(c) => out.push(c),
                        None => {
                            self.err(
                                item.location(file),
                                format!(
                                    "each condition of '{}' must be an expression, found {}",
                                    e.name,
                                    item.kind_name()
                                ),
                                Some("quote an expression containing ': '".into()),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            _ => match one(e.value) {
                Some(c) => Some(vec![c]),
                None => {
                    self.type_error(e, file, "an expression or a list of expressions");
                    None
                }
            },
        }
    }

    /// A boolean, or a template deciding it at run time.
    pub fn flag(&mut self, e: &Entry, file: &Path) -> Option<Json> {
        match &e.value.value {
            NodeValue::Bool(b) => Some(Json::Bool(*b)),
            NodeValue::Str(s) if is_template(s) => Some(Json::String(s.clone())),
            NodeValue::Str(_) | NodeValue::Int(_) => {
                match crate::runner::as_bool(&e.value.to_json()) {
                    Some(b) => Some(Json::Bool(b)),
                    None => {
                        self.type_error(e, file, "a boolean (true/false) or a template");
                        None
                    }
                }
            }
            _ => {
                self.type_error(e, file, "a boolean (true/false) or a template");
                None
            }
        }
    }

    /// A literal boolean.
    pub fn literal_bool(&mut self, e: &Entry, file: &Path) -> Option<bool> {
        match self.flag(e, file)? {
            Json::Bool(b) => Some(b),
            _ => {
                self.type_error(e, file, "true or false (not a template)");
                None
            }
        }
    }

    /// A non-negative integer or a template.
    pub(super) fn count(&mut self, e: &Entry, file: &Path) -> Option<Json> {
        match &e.value.value {
            NodeValue::Int(i) if *i >= 0 => Some(Json::from(*i)),
            NodeValue::Str(s) if is_template(s) => Some(Json::String(s.clone())),
            NodeValue::Str(s) if s.trim().parse::<u32>().is_ok() => {
                Some(Json::from(s.trim().parse::<u32>().unwrap_or(0)))
            }
            _ => {
                self.type_error(e, file, "a non-negative integer or a template");
                None
            }
        }
    }

    /// Names: a string or a list of strings (`notify`, `listen`).
    pub(super) fn names(&mut self, e: &Entry, file: &Path) -> Vec<String> {
        match &e.value.value {
            NodeValue::Str(s) => vec![s.clone()],
            NodeValue::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.err(
                            item.location(file),
                            format!(
                                "each name in '{}' must be a string, found {}",
                                e.name,
                                item.kind_name()
                            ),
                            Some("give handler names as strings".into()),
                        ),
                    }
                }
                out
            }
            _ => {
                self.type_error(e, file, "a name or a list of names");
                Vec::new()
            }
        }
    }

    /// Tags: a string (comma-separated), a number, or a list.
    pub fn tags(&mut self, e: &Entry, file: &Path) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |t: &str| {
            let t = t.trim();
            if !t.is_empty() && !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
        };
        match &e.value.value {
            NodeValue::Str(s) => s.split(',').for_each(&mut push),
            NodeValue::Int(_) | NodeValue::Float(_) => push(&e.value.key_string()),
            NodeValue::Seq(items) => {
                for item in items {
                    match &item.value {
                        NodeValue::Str(s) => push(s),
                        NodeValue::Int(_) | NodeValue::Float(_) => push(&item.key_string()),
                        _ => {
                            let msg =
                                format!("each tag must be a string, found {}", item.kind_name());
                            self.err(item.location(file), msg, Some("tags: [web, deploy]".into()));
                        }
                    }
                }
            }
            _ => self.type_error(e, file, "a tag or a list of tags"),
        }
        out
    }

    /// Variables: a mapping (or a list of mappings), names checked.
    pub fn var_entries(&mut self, node: &Node, file: &Path, what: &str) -> Vec<VarEntry> {
        let mut out = Vec::new();
        let maps: Vec<&Node> = match &node.value {
            NodeValue::Null => return out,
            NodeValue::Map(_) => vec![node],
            NodeValue::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
                items.iter().collect()
            }
            _ => {
                self.err(
                    node.location(file),
                    format!(
                        "{what} must be a mapping of name: value, found {}",
                        node.kind_name()
                    ),
                    Some("write one variable per line: `name: value`".into()),
                );
                return out;
            }
        };
        for m in maps {
            for (k, v) in m.as_map().unwrap_or_default() {
                let name = k.key_string();
                if !is_identifier(&name) {
                    self.err(
                        k.location(file),
                        format!("invalid variable name '{name}'"),
                        Some(
                            "variable names are letters, digits and '_', not starting with a digit"
                                .into(),
                        ),
                    );
                    continue;
                }
                out.push(VarEntry {
                    name,
                    value: v.to_json(),
                    location: k.location(file),
                });
            }
        }
        out
    }

    fn environment(&mut self, e: &Entry, file: &Path) -> Option<Json> {
        let maps: Vec<&Node> = match &e.value.value {
            NodeValue::Str(s) if is_template(s) => return Some(Json::String(s.clone())),
            NodeValue::Map(_) => vec![e.value],
            NodeValue::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
                items.iter().collect()
            }
            _ => {
                self.type_error(e, file, "a mapping of NAME: value (or a template)");
                return None;
            }
        };
        let mut out = Map::new();
        for m in maps {
            for (k, v) in m.as_map().unwrap_or_default() {
                match &v.value {
                    NodeValue::Map(_) | NodeValue::Seq(_) => self.err(
                        v.location(file),
                        format!(
                            "environment variable '{}' must be a string, found {}",
                            k.key_string(),
                            v.kind_name()
                        ),
                        Some("environment values are strings (or templates)".into()),
                    ),
                    _ => {
                        out.insert(k.key_string(), v.to_json());
                    }
                }
            }
        }
        Some(Json::Object(out))
    }

    pub fn become_method(&mut self, e: &Entry, file: &Path) {
        if let Some(m) = self.string(e, file)
            && m != "sudo"
        {
            self.err(
                e.loc(file),
                format!("become_method '{m}' is not supported"),
                Some("opsctl becomes another user with sudo only: remove become_method or set it to sudo".into()),
            );
        }
    }

    /// The keywords a parent passes down.
    pub fn inherited(&mut self, kw: &Kw, file: &Path) -> Inherited {
        let mut inh = Inherited::default();
        for e in kw.iter() {
            match e.name.as_str() {
                "when" => inh.when = self.conditions(e, file).unwrap_or_default(),
                "tags" => inh.tags = self.tags(e, file),
                "vars" => inh.vars = self.var_entries(e.value, file, "vars"),
                "become" => inh.become_ = self.flag(e, file),
                "become_user" => inh.become_user = self.string(e, file),
                "become_method" => self.become_method(e, file),
                "environment" => inh.environment = self.environment(e, file),
                "ignore_errors" => inh.ignore_errors = self.flag(e, file),
                "ignore_unreachable" => inh.ignore_unreachable = self.flag(e, file),
                "check_mode" => inh.check_mode = self.flag(e, file),
                "diff" => inh.diff = self.flag(e, file),
                "no_log" => inh.no_log = self.flag(e, file),
                "delegate_to" => inh.delegate_to = self.string(e, file),
                "run_once" => inh.run_once = self.flag(e, file),
                "any_errors_fatal" => inh.any_errors_fatal = self.literal_bool(e, file),
                "remote_user" => inh.remote_user = self.string(e, file),
                "timeout" => inh.timeout = self.count(e, file),
                "throttle" => inh.throttle = self.count(e, file),
                _ => {}
            }
        }
        inh
    }

    /// Reports every keyword of `kw` not in `allowed`.
    pub(super) fn only(
        &mut self,
        kw: &Kw,
        allowed: &[&[&str]],
        what: &str,
        hint: &str,
        file: &Path,
    ) -> bool {
        let mut ok = true;
        for e in kw.iter() {
            if !allowed.iter().any(|a| a.contains(&e.name.as_str())) {
                self.err(
                    e.loc(file),
                    format!("'{}' cannot be used on {what}", e.name),
                    Some(hint.to_string()),
                );
                ok = false;
            }
        }
        ok
    }
}
