//! Playbooks and plays: the list of plays, `import_playbook`, play keywords,
//! the order of a play's tasks, and the check of `notify` names.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::keywords::{
    IMPORT_PLAYBOOK_KEYS, PLAY_KEYWORDS, TASK_KEYWORDS, unsupported_play_keyword,
};
use super::loader::{Cx, Entry, Kw, Loader, canonical, did_you_mean, nearest};
use super::types::{Action, Inherited, Play, Task, VarEntry};
use crate::location::{Location, display_path};
use crate::template::is_template;
use crate::yaml::{Node, NodeValue};

/// What an `import_playbook` entry passes to the plays it imports.
#[derive(Default, Clone)]
struct ImportInherit {
    tags: Vec<String>,
    vars: Vec<VarEntry>,
}

fn is_import_playbook(node: &Node) -> bool {
    node.as_map().is_some_and(|m| {
        m.iter().any(|(k, _)| {
            let k = k.key_string();
            k == "import_playbook" || k == "ansible.builtin.import_playbook"
        })
    })
}

impl Loader {
    /// Loads a playbook file and what it imports.
    pub fn playbook(&mut self, path: &Path) -> Vec<Play> {
        let mut plays = Vec::new();
        self.playbook_file(path, None, &ImportInherit::default(), &mut plays);
        plays
    }

    fn playbook_file(
        &mut self,
        path: &Path,
        at: Option<&Location>,
        imp: &ImportInherit,
        out: &mut Vec<Play>,
    ) {
        let Some(root) = self.enter(path, at) else {
            return;
        };
        match &root.value {
            NodeValue::Seq(items) if !items.is_empty() => {
                for item in items {
                    if is_import_playbook(item) {
                        self.import_playbook(item, path, imp, out);
                    } else if let Some(p) = self.play(item, path, imp) {
                        out.push(p);
                    }
                }
            }
            NodeValue::Null | NodeValue::Seq(_) => self.err(
                // an empty file is reported at its line 1; `[]` where it is written
                root.location(path),
                "the playbook has no plays",
                Some("a playbook is a list of plays:\n- hosts: web\n  tasks:\n    - ...".into()),
            ),
            NodeValue::Map(_) => {
                let hint = if root.get("hosts").is_some() {
                    "start the play with '- hosts: ...' (a playbook is a list of plays)"
                } else {
                    "a playbook is a list of plays: - hosts: web"
                };
                self.err(
                    root.location(path),
                    "a playbook must be a list of plays, found a mapping",
                    Some(hint.into()),
                );
            }
            _ => self.err(
                root.location(path),
                format!(
                    "a playbook must be a list of plays, found {}",
                    root.kind_name()
                ),
                Some("a playbook is a list of plays: - hosts: web".into()),
            ),
        }
        self.leave();
    }

    fn import_playbook(
        &mut self,
        node: &Node,
        file: &Path,
        imp: &ImportInherit,
        out: &mut Vec<Play>,
    ) {
        let map = node.as_map().unwrap_or_default();
        let mut target: Option<(String, Location, Location)> = None;
        let mut next = imp.clone();
        let mut own_vars = Vec::new();
        let mut ok = true;
        for e in Kw::from_map(map).iter() {
            match e.name.as_str() {
                "import_playbook" | "ansible.builtin.import_playbook" => match e.value.as_str() {
                    Some(s) if !s.trim().is_empty() => {
                        target = Some((s.to_string(), e.value.location(file), e.loc(file)))
                    }
                    _ => {
                        self.err(
                            e.loc(file),
                            format!(
                                "'import_playbook' must be a file name, found {}",
                                e.value.kind_name()
                            ),
                            Some("- import_playbook: deploy.yml".into()),
                        );
                        ok = false;
                    }
                },
                "name" => {
                    self.string(e, file);
                }
                "tags" => {
                    for t in self.tags(e, file) {
                        if !next.tags.contains(&t) {
                            next.tags.push(t);
                        }
                    }
                }
                "vars" => own_vars = self.var_entries(e.value, file, "vars"),
                "when" => {
                    self.err(
                        e.loc(file),
                        "'when' on import_playbook is not supported",
                        Some("put the condition on the imported plays' tasks, or choose the hosts with a pattern".into()),
                    );
                    ok = false;
                }
                other => {
                    let hint = did_you_mean(nearest(other, IMPORT_PLAYBOOK_KEYS.iter().copied()))
                        .unwrap_or_else(|| {
                            format!("import_playbook takes: {}", IMPORT_PLAYBOOK_KEYS.join(", "))
                        });
                    self.err(
                        e.loc(file),
                        format!("unknown key '{other}' on import_playbook"),
                        Some(hint),
                    );
                    ok = false;
                }
            }
        }
        let Some((name, vloc, kloc)) = target else {
            return;
        };
        if !ok {
            return;
        }
        if is_template(&name) {
            self.err(
                vloc,
                "import_playbook is static: its file name cannot use variables",
                Some("name the playbook file literally".into()),
            );
            return;
        }
        let dir = file.parent().unwrap_or(Path::new(""));
        let path = if Path::new(&name).is_absolute() {
            PathBuf::from(&name)
        } else {
            dir.join(&name)
        };
        if !path.is_file() {
            self.err(
                vloc,
                format!("import_playbook: file not found: {name}"),
                Some(format!(
                    "looked at {} (relative to the importing playbook)",
                    display_path(&path)
                )),
            );
            return;
        }
        // The import's vars win over the imported plays' own vars, as in Ansible.
        next.vars.splice(0..0, own_vars);
        self.playbook_file(&path, Some(&kloc), &next, out);
    }

    fn play(&mut self, node: &Node, file: &Path, imp: &ImportInherit) -> Option<Play> {
        let Some(map) = node.as_map() else {
            self.err(
                node.location(file),
                format!("a play must be a mapping, found {}", node.kind_name()),
                Some("- hosts: web\n  tasks:\n    - ...".into()),
            );
            return None;
        };
        let Some((first, _)) = map.first() else {
            self.err(
                node.location(file),
                "empty play",
                Some("a play needs hosts: and tasks".into()),
            );
            return None;
        };
        let location = first.location(file);
        let kw = Kw::from_map(map);
        for e in kw.iter() {
            let n = e.name.as_str();
            if PLAY_KEYWORDS.contains(&n) {
                continue;
            }
            if let Some((msg, hint)) = unsupported_play_keyword(n) {
                self.err(e.loc(file), msg, Some(hint.into()));
                continue;
            }
            let hint = if (TASK_KEYWORDS.contains(&n) || crate::modules::find(n).is_some())
                && !PLAY_KEYWORDS.contains(&n)
            {
                format!("'{n}' belongs to a task: put the play's tasks under tasks:")
            } else {
                did_you_mean(nearest(n, PLAY_KEYWORDS.iter().copied()))
                    .unwrap_or_else(|| format!("play keywords: {}", PLAY_KEYWORDS.join(", ")))
            };
            self.err(
                e.loc(file),
                format!("unknown play keyword '{n}'"),
                Some(hint),
            );
        }

        let hosts = match kw.get("hosts") {
            Some(e) => self.hosts(e, file),
            None => {
                let looks_like_task = kw
                    .iter()
                    .any(|e| crate::modules::find(&e.name).is_some() || e.name == "block");
                let hint = if looks_like_task {
                    "this looks like a task: a playbook is a list of plays, each with hosts: and tasks:"
                } else {
                    "hosts: web (a group, a host or a pattern)"
                };
                self.err(
                    location.clone(),
                    "the play has no 'hosts'",
                    Some(hint.into()),
                );
                None
            }
        };

        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut role_search = vec![dir.join("roles")];
        if let Some(root) = &self.project_root {
            let r = root.join("roles");
            if canonical(&r) != canonical(&role_search[0]) {
                role_search.push(r);
            }
        }

        let mut play = Play {
            name: None,
            location: location.clone(),
            hosts: hosts.unwrap_or_default(),
            vars: Vec::new(),
            vars_files: Vec::new(),
            become_: None,
            become_user: None,
            remote_user: None,
            gather_facts: None,
            gather_subset: Vec::new(),
            fact_path: None,
            gather_timeout: None,
            serial: None,
            max_fail_percentage: None,
            any_errors_fatal: false,
            environment: None,
            tags: Vec::new(),
            check_mode: None,
            diff: None,
            ignore_errors: None,
            pre_tasks: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
            roles: Vec::new(),
            dir: dir.clone(),
            role_search: role_search.clone(),
        };
        let mut inherit = Inherited::default();
        let mut collections = Vec::new();
        let mut module_defaults = Vec::new();
        for e in kw.iter() {
            match e.name.as_str() {
                "name" => play.name = self.string(e, file),
                "vars" => play.vars = self.var_entries(e.value, file, "vars"),
                "vars_files" => play.vars_files = self.vars_files(e, file, &dir),
                "become" => play.become_ = self.flag(e, file),
                "become_user" => play.become_user = self.string(e, file),
                "remote_user" => play.remote_user = self.string(e, file),
                "collections" => collections = self.names(e, file),
                "module_defaults" => module_defaults.push(e.clone()),
                "become_method" => self.become_method(e, file),
                "gather_facts" => play.gather_facts = self.flag(e, file),
                "gather_subset" => play.gather_subset = self.gather_subset(e, file),
                "fact_path" => play.fact_path = self.string(e, file),
                "gather_timeout" => play.gather_timeout = self.seconds(e, file),
                "serial" => play.serial = self.serial(e, file),
                "max_fail_percentage" => play.max_fail_percentage = self.percentage(e, file),
                "any_errors_fatal" => {
                    play.any_errors_fatal = self.literal_bool(e, file).unwrap_or(false)
                }
                "environment" => {
                    let inh = self.inherited(&Kw(vec![e.clone()]), file);
                    play.environment = inh.environment;
                }
                "tags" => play.tags = self.tags(e, file),
                "check_mode" => play.check_mode = self.flag(e, file),
                "diff" => play.diff = self.flag(e, file),
                "ignore_errors" => {
                    play.ignore_errors = self.flag(e, file);
                    inherit.ignore_errors = play.ignore_errors.clone();
                }
                "ignore_unreachable" => inherit.ignore_unreachable = self.flag(e, file),
                "no_log" => inherit.no_log = self.flag(e, file),
                "timeout" => inherit.timeout = self.count(e, file),
                "throttle" => inherit.throttle = self.count(e, file),
                "strategy" => {
                    if let Some(s) = self.string(e, file)
                        && s != "linear"
                        && s != "ansible.builtin.linear"
                    {
                        self.err(
                            e.loc(file),
                            format!("strategy '{s}' is not supported"),
                            Some("opsctl runs plays linearly (every host finishes a task before the next starts): remove strategy".into()),
                        );
                    }
                }
                _ => {}
            }
        }
        for t in &imp.tags {
            if !play.tags.contains(t) {
                play.tags.push(t.clone());
            }
        }
        play.vars.extend(imp.vars.iter().cloned());

        self.begin_play(Some(dir), role_search);
        // After `collections:`, whatever their order in the play.
        self.play.collections = collections;
        for e in module_defaults {
            let d = self.module_defaults(&e, file);
            self.play.module_defaults.extend(d);
        }
        let cx = Cx {
            file,
            role: None,
            handler: false,
        };
        play.pre_tasks = self.task_list(kw.get("pre_tasks"), &cx);
        if let Some(e) = kw.get("roles") {
            match &e.value.value {
                NodeValue::Null => {}
                NodeValue::Seq(items) => {
                    for item in items {
                        if let Some(r) = self.role_ref(item, file) {
                            let (_, tasks) = self.expand_role(r, true);
                            play.tasks.extend(tasks);
                        }
                    }
                }
                _ => self.err(
                    e.loc(file),
                    format!(
                        "'roles' must be a list of roles, found {}",
                        e.value.kind_name()
                    ),
                    Some("roles:\n  - common\n  - role: nginx".into()),
                ),
            }
        }
        let own = self.task_list(kw.get("tasks"), &cx);
        play.tasks.extend(own);
        play.post_tasks = self.task_list(kw.get("post_tasks"), &cx);
        let handler_cx = Cx {
            handler: true,
            ..cx
        };
        let own_handlers = self.task_list(kw.get("handlers"), &handler_cx);
        let state = self.end_play();
        play.handlers = state.handlers;
        play.handlers.extend(own_handlers);
        play.roles = state.roles;

        inherit.tags = play.tags.clone();
        inherit.apply_to(&mut play.pre_tasks);
        inherit.apply_to(&mut play.tasks);
        inherit.apply_to(&mut play.post_tasks);
        inherit.tags.clear();
        inherit.apply_to(&mut play.handlers);

        if !state.dynamic_handlers {
            self.check_notify(&state.notify, &play.handlers);
        }
        Some(play)
    }

    fn hosts(&mut self, e: &Entry, file: &Path) -> Option<String> {
        let h = match &e.value.value {
            NodeValue::Str(s) => Some(s.trim().to_string()),
            NodeValue::Int(_) | NodeValue::Float(_) => Some(e.value.key_string()),
            NodeValue::Seq(items) => {
                let parts: Option<Vec<String>> = items
                    .iter()
                    .map(|i| match &i.value {
                        NodeValue::Str(s) => Some(s.trim().to_string()),
                        NodeValue::Int(_) | NodeValue::Float(_) => Some(i.key_string()),
                        _ => None,
                    })
                    .collect();
                parts.map(|p| p.join(","))
            }
            _ => None,
        };
        match h {
            Some(h) if !h.is_empty() => Some(h),
            _ => {
                self.err(
                    e.loc(file),
                    format!(
                        "'hosts' must be a host pattern or a list of them, found {}",
                        e.value.kind_name()
                    ),
                    Some("hosts: web (a group, a host or a pattern such as web:&staging)".into()),
                );
                None
            }
        }
    }

    /// `vars_files`: each entry a file, or a list of alternatives (the first
    /// that exists is read, as Ansible does).
    fn vars_files(&mut self, e: &Entry, file: &Path, dir: &Path) -> Vec<(Vec<String>, Location)> {
        let items: Vec<&Node> = match &e.value.value {
            NodeValue::Str(_) => vec![e.value],
            NodeValue::Seq(items) => items.iter().collect(),
            NodeValue::Null => Vec::new(),
            _ => {
                self.err(
                    e.loc(file),
                    format!(
                        "'vars_files' must be a list of files, found {}",
                        e.value.kind_name()
                    ),
                    Some("vars_files:\n  - vars/common.yml".into()),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            let names: Option<Vec<&str>> = match &item.value {
                NodeValue::Str(s) => Some(vec![s.as_str()]),
                NodeValue::Seq(alts) if !alts.is_empty() => alts.iter().map(Node::as_str).collect(),
                _ => None,
            };
            let Some(names) = names else {
                self.err(
                    item.location(file),
                    format!(
                        "each entry of vars_files must be a file name or a list of alternatives, found {}",
                        item.kind_name()
                    ),
                    Some("vars_files:\n  - vars/common.yml\n  - [\"vars/{{ env }}.yml\", vars/default.yml]".into()),
                );
                continue;
            };
            let path = |s: &str| {
                if Path::new(s).is_absolute() {
                    PathBuf::from(s)
                } else {
                    dir.join(s)
                }
            };
            // Without templates, one of them must exist now.
            if names.iter().all(|s| !is_template(s)) && !names.iter().any(|s| path(s).is_file()) {
                let looked: Vec<String> = names.iter().map(|s| display_path(&path(s))).collect();
                self.err(
                    item.location(file),
                    match names.as_slice() {
                        [one] => format!("vars file not found: {one}"),
                        _ => format!("none of the vars files exists: {}", names.join(", ")),
                    },
                    Some(format!(
                        "looked at {} (relative to the playbook)",
                        looked.join(", ")
                    )),
                );
                continue;
            }
            out.push((
                names.into_iter().map(String::from).collect(),
                item.location(file),
            ));
        }
        out
    }

    fn serial(&mut self, e: &Entry, file: &Path) -> Option<Json> {
        fn ok(n: &Node) -> bool {
            match &n.value {
                NodeValue::Int(i) => *i >= 0,
                NodeValue::Str(s) => {
                    let s = s.trim();
                    is_template(s)
                        || s.parse::<u64>().is_ok()
                        || s.strip_suffix('%').is_some_and(|p| {
                            p.trim()
                                .parse::<f64>()
                                .is_ok_and(|f| (0.0..=100.0).contains(&f))
                        })
                }
                _ => false,
            }
        }
        let good = match &e.value.value {
            NodeValue::Seq(items) => !items.is_empty() && items.iter().all(ok),
            _ => ok(e.value),
        };
        if good {
            Some(e.value.to_json())
        } else {
            self.err(
                e.loc(file),
                format!(
                    "'serial' must be a number of hosts, a percentage or a list of them, found {}",
                    e.value.to_json()
                ),
                Some("serial: 1, serial: \"30%\" or serial: [1, 5, \"100%\"]".into()),
            );
            None
        }
    }

    /// `gather_subset`: a name, a comma-separated string or a list, each a
    /// subset Ansible knows (`all`, `min`, `!hardware`...).
    fn gather_subset(&mut self, e: &Entry, file: &Path) -> Vec<String> {
        let given = match &e.value.value {
            NodeValue::Str(_) => self.string(e, file).into_iter().collect(),
            _ => self.names(e, file),
        };
        if let Err(msg) = crate::modules::setup::subsets(&given) {
            self.err(
                e.loc(file),
                msg,
                Some("gather_subset: [min, network] or gather_subset: ['!hardware']".into()),
            );
        }
        given
    }

    /// A whole number of seconds (`gather_timeout`).
    fn seconds(&mut self, e: &Entry, file: &Path) -> Option<u64> {
        match &e.value.value {
            NodeValue::Int(i) if *i > 0 => Some(*i as u64),
            _ => {
                self.err(
                    e.loc(file),
                    format!(
                        "'{}' must be a whole number of seconds, found {}",
                        e.name,
                        e.value.to_json()
                    ),
                    Some(format!("{}: 10", e.name)),
                );
                None
            }
        }
    }

    fn percentage(&mut self, e: &Entry, file: &Path) -> Option<f64> {
        let v = match &e.value.value {
            NodeValue::Int(i) => Some(*i as f64),
            NodeValue::Float(f) => Some(*f),
            NodeValue::Str(s) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok(),
            _ => None,
        };
        match v {
            Some(f) if (0.0..=100.0).contains(&f) => Some(f),
            _ => {
                self.err(
                    e.loc(file),
                    format!(
                        "'max_fail_percentage' must be a number from 0 to 100, found {}",
                        e.value.to_json()
                    ),
                    Some("max_fail_percentage: 20".into()),
                );
                None
            }
        }
    }

    /// Every static `notify` must name a handler (its name, a `listen` topic, or
    /// `role : name`).
    fn check_notify(&mut self, notify: &[(String, Location)], handlers: &[Task]) {
        fn collect(hs: &[Task], out: &mut Vec<String>, templated: &mut bool) {
            for h in hs {
                if let Some(n) = &h.name {
                    *templated |= is_template(n);
                    out.push(n.clone());
                    if let Some(r) = &h.role {
                        out.push(format!("{} : {n}", r.name));
                    }
                }
                for l in &h.listen {
                    *templated |= is_template(l);
                    out.push(l.clone());
                }
                if let Action::Block {
                    block,
                    rescue,
                    always,
                } = &h.action
                {
                    collect(block, out, templated);
                    collect(rescue, out, templated);
                    collect(always, out, templated);
                }
            }
        }
        let mut names = Vec::new();
        let mut templated = false;
        collect(handlers, &mut names, &mut templated);
        if templated {
            return;
        }
        for (n, at) in notify {
            if names.contains(n) {
                continue;
            }
            let hint = match did_you_mean(nearest(n, names.iter().map(String::as_str))) {
                Some(h) => h,
                None if names.is_empty() => "this play has no handlers: add one under handlers: (or in a role's handlers/main.yml)".into(),
                None => {
                    let mut shown: Vec<&str> = names.iter().map(String::as_str).collect();
                    shown.sort();
                    shown.dedup();
                    format!("handlers of this play: {}", shown.join(", "))
                }
            };
            self.err(
                at.clone(),
                format!("notify: no handler named '{n}'"),
                Some(hint),
            );
        }
    }
}
