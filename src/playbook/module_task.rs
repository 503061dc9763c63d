//! A task that runs a module: its arguments as a mapping, as `key=value`
//! text or in the `action:` form, checked against the module's spec.

use std::path::Path;

use serde_json::Map;
use serde_json::Value as Json;

use super::kv::parse_kv;
use super::loader::{Cx, Kw, Loader, did_you_mean};
use super::tasks::ActionKey;
use super::types::{Action, Task};
use crate::compat::Name;
use crate::location::Location;
use crate::modules::{self, ModuleDef};
use crate::yaml::{Node, NodeValue};

impl Loader {
    pub(super) fn module_task(
        &mut self,
        kw: &Kw,
        action: &ActionKey,
        cx: &Cx,
        location: Location,
    ) -> Vec<Task> {
        let file = cx.file;
        let at = action.key.location(file);
        let (def, inline, local) = match action.name.as_str() {
            "action" | "local_action" => {
                let (def, args) = match self.action_form(action, cx) {
                    None => return Vec::new(),
                    Some(Err((name, fqcn, args))) => {
                        let mut ts = self.unimplemented(kw, &name, &fqcn, args, at, cx, location);
                        if action.name == "local_action" {
                            for t in &mut ts {
                                t.delegate_to = Some("localhost".into());
                            }
                        }
                        return ts;
                    }
                    Some(Ok(found)) => found,
                };
                (def, args, action.name == "local_action")
            }
            _ => {
                let def = action.def.expect("module key has a module");
                let Some(args) = self.args_from_node(def, action.value, file) else {
                    return Vec::new();
                };
                (def, args, false)
            }
        };
        if local && let Some(e) = kw.get("delegate_to") {
            self.err(
                e.loc(file),
                "local_action already runs on localhost: 'delegate_to' conflicts with it",
                Some(
                    "remove delegate_to, or write the module as a normal task with delegate_to"
                        .into(),
                ),
            );
            return Vec::new();
        }
        let mut raw = Map::new();
        if let Some(e) = kw.get("args") {
            match &e.value.value {
                NodeValue::Null => {}
                NodeValue::Map(_) => {
                    if let Json::Object(m) = e.value.to_json() {
                        raw = m;
                    }
                }
                _ => {
                    self.type_error(e, file, "a mapping");
                    return Vec::new();
                }
            }
        }
        // Arguments written with the module win over `args:`, as in Ansible.
        raw.extend(inline);
        self.apply_module_defaults(def, &mut raw);
        if def.spec.name == "template"
            && let Some(Json::String(src)) = raw.get("src")
            && !crate::template::is_template(src)
            && let Some(p) = self.template_source(src, cx)
        {
            self.check_template_file(&p);
        }
        let args = match def.spec.validate(&raw, false) {
            Ok(a) => a.values,
            // A wrong value under a condition: Ansible checks it only when a
            // host reaches the task (a role's task for another OS release).
            Err(msg)
                if (kw.get("when").is_some() || self.conditional > 0)
                    && def.spec.validate_names(&raw).is_ok() =>
            {
                self.warn(
                    at,
                    format!(
                        "{}: {msg}: the task fails if a host reaches it",
                        def.spec.name
                    ),
                );
                let inh = self.inherited(kw, file);
                let action = Action::Invalid { def, message: msg };
                let mut t = Task::new(location, action, cx.role.cloned());
                self.fill(&mut t, kw, file, inh);
                return vec![t];
            }
            Err(msg) => {
                let mut names: Vec<&str> = def.spec.args.iter().map(|a| a.name).collect();
                names.sort();
                let hint = if def.spec.free_form {
                    format!(
                        "{} takes a command line and the arguments: {}",
                        def.spec.name,
                        names.join(", ")
                    )
                } else {
                    format!("{} arguments: {}", def.spec.name, names.join(", "))
                };
                self.err(at, msg, Some(hint));
                return Vec::new();
            }
        };
        let inh = self.inherited(kw, file);
        let mut t = Task::new(location, Action::Module { def, args }, cx.role.cloned());
        self.fill(&mut t, kw, file, inh);
        if local {
            t.delegate_to = Some("localhost".into());
        }
        vec![t]
    }

    /// `action: copy src=a dest=b` or `action: {module: copy, src: a}`.
    #[allow(clippy::type_complexity)]
    fn action_form(
        &mut self,
        action: &ActionKey,
        cx: &Cx,
    ) -> Option<Result<(&'static ModuleDef, Map<String, Json>), (String, String, Json)>> {
        let file = cx.file;
        let v = action.value;
        let unknown = |l: &mut Loader, name: &str, near: Option<String>, at: Location| {
            let names = modules::names();
            let hint = did_you_mean(near.as_deref().map(|n| (n, 0)))
                .unwrap_or_else(|| format!("opsctl's modules: {}", names.join(", ")));
            l.err(at, format!("unknown module '{name}'"), Some(hint));
        };
        let resolve = |l: &mut Loader, name: &str, at: Location| match l.resolve_module(name, cx) {
            Name::Implemented(def) => Some(Ok(def)),
            Name::Known(fqcn) => Some(Err(fqcn)),
            Name::Unknown(near) => {
                unknown(l, name, near, at);
                None
            }
        };
        match &v.value {
            NodeValue::Str(s) => {
                let s = s.trim_start();
                let (name, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
                let def = match resolve(self, name, v.location(file))? {
                    Ok(def) => def,
                    Err(fqcn) => {
                        let args = if rest.trim().is_empty() {
                            Json::Null
                        } else {
                            Json::String(rest.trim().to_string())
                        };
                        return Some(Err((name.to_string(), fqcn, args)));
                    }
                };
                let args = if rest.trim().is_empty() {
                    Map::new()
                } else {
                    self.args_from_str(def, rest.trim_start(), v.location(file))?
                };
                Some(Ok((def, args)))
            }
            NodeValue::Map(_) => {
                let Some(name_node) = v.get("module") else {
                    self.err(
                        action.key.location(file),
                        format!("'{}' as a mapping needs 'module:'", action.name),
                        Some(format!(
                            "{}: {{module: copy, src: a, dest: /b}}",
                            action.name
                        )),
                    );
                    return None;
                };
                let Some(name) = name_node.as_str() else {
                    self.err(
                        name_node.location(file),
                        "'module' must be a module name",
                        None,
                    );
                    return None;
                };
                let found = resolve(self, name, name_node.location(file))?;
                let mut args = match v.to_json() {
                    Json::Object(m) => m,
                    _ => Map::new(),
                };
                args.remove("module");
                Some(match found {
                    Ok(def) => Ok((def, args)),
                    Err(fqcn) => Err((name.to_string(), fqcn, Json::Object(args))),
                })
            }
            _ => {
                self.err(
                    action.key.location(file),
                    format!(
                        "'{}' must be a string or a mapping, found {}",
                        action.name,
                        v.kind_name()
                    ),
                    Some(format!("{}: copy src=a dest=/b", action.name)),
                );
                None
            }
        }
    }

    /// A task whose module Ansible has and opsctl does not implement: loads
    /// (its keywords checked as any task's), warns, fails when reached.
    pub(super) fn unimplemented_task(
        &mut self,
        kw: &Kw,
        action: &ActionKey,
        cx: &Cx,
        location: Location,
    ) -> Vec<Task> {
        let fqcn = action.known.clone().unwrap_or_else(|| action.name.clone());
        let at = action.key.location(cx.file);
        let args = action.value.to_json();
        self.unimplemented(kw, &action.name, &fqcn, args, at, cx, location)
    }

    #[allow(clippy::too_many_arguments)]
    fn unimplemented(
        &mut self,
        kw: &Kw,
        name: &str,
        fqcn: &str,
        args: Json,
        at: Location,
        cx: &Cx,
        location: Location,
    ) -> Vec<Task> {
        self.unimplemented_module(name, fqcn, at);
        let inh = self.inherited(kw, cx.file);
        let action = Action::Unimplemented {
            name: name.to_string(),
            fqcn: fqcn.to_string(),
            args,
        };
        let mut t = Task::new(location, action, cx.role.cloned());
        self.fill(&mut t, kw, cx.file, inh);
        vec![t]
    }

    /// `module_defaults` in force that name this module (by any of its names,
    /// or an action group holding it): their arguments where the task gives
    /// none (the innermost `module_defaults` first).
    fn apply_module_defaults(&self, def: &'static ModuleDef, raw: &mut Map<String, Json>) {
        let canon = |k: &str| -> String {
            def.spec
                .args
                .iter()
                .find(|a| a.name == k || a.aliases.contains(&k))
                .map_or_else(|| k.to_string(), |a| a.name.to_string())
        };
        for (key, defaults) in self.play.module_defaults.iter().rev() {
            let applies = match key.strip_prefix("group/") {
                Some(group) => crate::compat::group_has(group, &self.play.collections, def),
                None => matches!(
                    crate::compat::module(key, &self.play.collections, &[]),
                    Name::Implemented(d) if d.spec.name == def.spec.name
                ),
            };
            if !applies {
                continue;
            }
            let given: Vec<String> = raw.keys().map(|k| canon(k)).collect();
            for (k, v) in defaults {
                if !given.contains(&canon(k)) {
                    raw.insert(k.clone(), v.clone());
                }
            }
        }
    }

    /// The file a `template:` task's literal `src` names: the role's
    /// `templates/`, then the playbook's `templates/` and directory.
    fn template_source(&self, src: &str, cx: &Cx) -> Option<std::path::PathBuf> {
        let p = Path::new(src);
        if p.is_absolute() {
            return p.is_file().then(|| p.to_path_buf());
        }
        let mut dirs = Vec::new();
        if let Some(r) = cx.role {
            dirs.push(r.templates_dir());
            dirs.push(r.dir.clone());
        }
        if let Some(d) = &self.play.playbook_dir {
            dirs.push(d.join("templates"));
            dirs.push(d.clone());
        }
        if let Some(d) = cx.file.parent() {
            dirs.push(d.join("templates"));
        }
        dirs.into_iter().map(|d| d.join(p)).find(|c| c.is_file())
    }

    fn args_from_node(
        &mut self,
        def: &'static ModuleDef,
        v: &Node,
        file: &Path,
    ) -> Option<Map<String, Json>> {
        match &v.value {
            NodeValue::Null => Some(Map::new()),
            NodeValue::Map(_) => match v.to_json() {
                Json::Object(m) => Some(m),
                _ => Some(Map::new()),
            },
            NodeValue::Str(s) => self.args_from_str(def, s, v.location(file)),
            NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_) if def.spec.free_form => {
                let mut m = Map::new();
                m.insert("_raw_params".into(), Json::String(v.key_string()));
                Some(m)
            }
            _ => {
                let what = if def.spec.free_form {
                    "a command line or a mapping"
                } else {
                    "a mapping or key=value text"
                };
                self.err(
                    v.location(file),
                    format!(
                        "arguments of {} must be {what}, found {}",
                        def.spec.name,
                        v.kind_name()
                    ),
                    Some(format!(
                        "write the arguments as a mapping under `{}:`",
                        def.spec.name
                    )),
                );
                None
            }
        }
    }

    fn args_from_str(
        &mut self,
        def: &'static ModuleDef,
        s: &str,
        at: Location,
    ) -> Option<Map<String, Json>> {
        let names: Vec<&str> = def.spec.args.iter().map(|a| a.name).collect();
        let free = def.spec.free_form.then_some(names.as_slice());
        match parse_kv(s, free) {
            Ok(m) => Some(m),
            Err(msg) => {
                let extra = if def.spec.free_form {
                    ""
                } else {
                    &format!("; {} takes no free-form text", def.spec.name)
                };
                self.err(
                    at,
                    format!("{}: {msg}{extra}", def.spec.name),
                    Some(format!(
                        "write `key=value` pairs, or the arguments as a mapping under `{}:`",
                        def.spec.name
                    )),
                );
                None
            }
        }
    }
}
