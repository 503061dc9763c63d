//! Host variables: Ansible's precedence, where each value came from, and lazy
//! per-host templating.
//!
//! [`Vars::load`] reads the inventory's variables, `group_vars/`, `host_vars/`
//! (project-level below the environment's) and `-e`, into one [`VarStack`] per
//! host. [`Vars::context`] gives a host's variables to templates; values are
//! templated on first use, so `workdir: "{{ ansible_env.HOME }}/app"` resolves
//! when (and for the host where) it is used.

mod context;
mod load;
mod stack;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use indexmap::IndexMap;
use minijinja::Value;
use serde_json::Value as Json;

pub use context::{HostContext, MAGIC, Scope};
pub use load::{FileVars, RawVars, is_identifier, parse_extra_vars, sorted_groups};
pub use stack::{Definition, Layer, Origin, VarStack};

use crate::inventory::Inventory;
use crate::template::{LazyContext, Templar, TemplateError};

#[derive(Debug, thiserror::Error)]
pub enum VarsError {
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    #[error("-e {arg}: {message}")]
    ExtraVars { arg: String, message: String },
    #[error("variable cycle on {host}: {}", chain.join(" -> "))]
    Cycle { host: String, chain: Vec<String> },
    #[error("variable '{var}' ({origin}) on {host}: {error}")]
    Template {
        host: String,
        var: String,
        origin: Origin,
        error: Box<TemplateError>,
    },
    #[error("unknown host '{host}'{}", if known.is_empty() { String::new() } else { format!("; hosts: {}", known.join(", ")) })]
    UnknownHost { host: String, known: Vec<String> },
    #[error("host {host} has no variable '{name}'")]
    Undefined { host: String, name: String },
}

impl VarsError {
    pub fn hint(&self) -> Option<String> {
        match self {
            VarsError::Cycle { .. } => Some(
                "make one of these variables a plain value instead of a template of the others"
                    .into(),
            ),
            VarsError::ExtraVars { .. } => {
                Some("use -e key=value, -e @vars.yml or -e '{\"key\": value}'".into())
            }
            VarsError::Template { error, .. } => error.hint.clone(),
            VarsError::UnknownHost { .. } => {
                Some("`opsctl inventory --graph` lists the hosts".into())
            }
            VarsError::Undefined { .. } => {
                Some("`opsctl vars HOST` lists the host's variables".into())
            }
            VarsError::Yaml(e) => crate::yaml::hint(e),
        }
    }
}

/// The variables of every host of an inventory.
#[derive(Debug)]
pub struct Vars {
    pub inventory: Arc<Inventory>,
    /// Each host's stack (by its index in `inventory.hosts`), built when first
    /// asked for (from `sources`).
    stacks: Vec<OnceLock<VarStack>>,
    sources: load::Sources,
    pub templar: Arc<Templar>,
    /// `groups[G]` of templates, each group's hosts computed when first read
    /// (a group's hosts walk its descendants: computing every group for each
    /// template that reads `groups` was quadratic in a deep group chain).
    group_hosts: Mutex<HashMap<String, Value>>,
}

impl Vars {
    /// Reads every variable source for every host. `vars_dirs` hold `group_vars/`
    /// and `host_vars/`, lowest precedence first; `extra` are the parsed `-e`.
    pub fn load(
        inventory: Arc<Inventory>,
        vars_dirs: &[PathBuf],
        extra: &[(Json, Origin, String)],
        templar: Arc<Templar>,
    ) -> Result<Arc<Vars>, VarsError> {
        Self::load_with_secrets(inventory, vars_dirs, extra, templar, None)
    }

    /// [`Vars::load`] plus the decrypted variables of the environment's
    /// `secrets.age` ([`crate::secrets::load_for_vars`]), at the `secrets` layer.
    pub fn load_with_secrets(
        inventory: Arc<Inventory>,
        vars_dirs: &[PathBuf],
        extra: &[(Json, Origin, String)],
        templar: Arc<Templar>,
        secrets: Option<&FileVars>,
    ) -> Result<Arc<Vars>, VarsError> {
        let sources = load::Sources::load(&inventory, vars_dirs, extra, secrets)?;
        Ok(Self::over(inventory, sources, templar))
    }

    /// Variables of every host of `inventory` from `sources` (stacks built lazily).
    fn over(inventory: Arc<Inventory>, sources: load::Sources, templar: Arc<Templar>) -> Arc<Vars> {
        let stacks = inventory.hosts.keys().map(|_| OnceLock::new()).collect();
        Arc::new(Vars {
            inventory,
            stacks,
            sources,
            templar,
            group_hosts: Mutex::default(),
        })
    }

    /// These variables plus `extra` at the `-e` layer, above those given (a
    /// command's computed variables, e.g. the release a deploy builds): the files
    /// and secrets already read are not read again.
    pub fn with_extra(&self, extra: &[(Json, Origin, String)]) -> Arc<Vars> {
        self.with_sources(self.sources.with_extra(extra))
    }

    /// These variables over connection defaults (`ansible_user`,
    /// `ansible_become`... from ansible.cfg, `ANSIBLE_*` and the command line)
    /// at the lowest layer, as Ansible ranks them below every variable.
    pub fn with_config(&self, config: Vec<(String, Json, Origin)>) -> Arc<Vars> {
        self.with_sources(self.sources.with_config(config))
    }

    /// These variables plus roles' defaults (`defaults`: each role's
    /// `defaults/main.yml`, lowest precedence first) at the `role defaults`
    /// layer, below everything the inventory sets: what a command that reads a
    /// role's variables before any playbook runs (deploy, status) sees, and
    /// what `opsctl vars` shows as their origin.
    pub fn with_role_defaults(&self, defaults: Vec<FileVars>) -> Arc<Vars> {
        self.with_sources(self.sources.with_role_defaults(defaults))
    }

    /// These variables over `inventory` (the run's inventory with the hosts
    /// and groups `add_host` and `group_by` made): every host's stack built
    /// anew, lazily, nothing read again but the vars files of new names.
    pub fn with_inventory(&self, inventory: Arc<Inventory>) -> Result<Arc<Vars>, VarsError> {
        let sources = self.sources.with_inventory(&inventory)?;
        Ok(Self::over(inventory, sources, self.templar.clone()))
    }

    /// The same inventory and templar over `sources` (stacks built anew, lazily).
    fn with_sources(&self, sources: load::Sources) -> Arc<Vars> {
        Arc::new(Vars {
            inventory: self.inventory.clone(),
            stacks: self.stacks.iter().map(|_| OnceLock::new()).collect(),
            sources,
            templar: self.templar.clone(),
            group_hosts: Mutex::default(),
        })
    }

    /// The hosts of `group` and of its descendants, in Ansible's order
    /// ([`Inventory::group_hosts`]), as a template value; `None` for a group
    /// the inventory does not have. Computed once per group.
    pub fn group_hosts(&self, group: &str) -> Option<Value> {
        if !self.inventory.groups.contains_key(group) {
            return None;
        }
        let mut memo = self.group_hosts.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            memo.entry(group.to_string())
                .or_insert_with(|| {
                    Value::from(
                        self.inventory
                            .group_hosts(group)
                            .into_iter()
                            .map(Value::from)
                            .collect::<Vec<_>>(),
                    )
                })
                .clone(),
        )
    }

    pub fn stack(&self, host: &str) -> Option<&VarStack> {
        let (i, host, _) = self.inventory.hosts.get_full(host)?;
        let cell = self.stacks.get(i)?;
        Some(cell.get_or_init(|| self.sources.stack(&self.inventory, host)))
    }

    /// [`Inventory::host_groups`] from the index built at load (no rebuild per host).
    pub fn host_groups(&self, host: &str) -> Vec<&str> {
        self.sources.host_groups(&self.inventory, host)
    }

    fn check_host(&self, host: &str) -> Result<(), VarsError> {
        if self.inventory.hosts.contains_key(host) {
            Ok(())
        } else {
            Err(VarsError::UnknownHost {
                host: host.to_string(),
                known: self.inventory.hosts.keys().take(20).cloned().collect(),
            })
        }
    }

    /// The host's variables for templates (lazy).
    pub fn context(self: &Arc<Self>, host: &str) -> Value {
        LazyContext::value(HostContext::new(self.clone(), host))
    }

    /// The host's variables plus a run's scope, for templates (lazy).
    pub fn scoped_context(self: &Arc<Self>, host: &str, scope: Arc<Scope>) -> Value {
        LazyContext::value(HostContext::with_scope(self.clone(), host, Some(scope)))
    }

    /// One variable of a host, templated, as plain data.
    pub fn resolve(self: &Arc<Self>, host: &str, name: &str) -> Result<Json, VarsError> {
        self.check_host(host)?;
        let ctx = HostContext::new(self.clone(), host);
        match ctx.resolve(name)? {
            Some(v) => Ok(to_json(&v)),
            None => Err(VarsError::Undefined {
                host: host.to_string(),
                name: name.to_string(),
            }),
        }
    }

    /// Every variable of a host (not the magic ones), each templated or the error
    /// that stopped it, in first-definition order.
    pub fn resolve_all(
        self: &Arc<Self>,
        host: &str,
    ) -> Result<IndexMap<String, Result<Json, VarsError>>, VarsError> {
        self.check_host(host)?;
        let ctx = HostContext::new(self.clone(), host);
        let mut out = IndexMap::new();
        let stack = self.stack(host).expect("checked above");
        for name in stack.names() {
            let v = ctx
                .resolve(name)
                .map(|v| v.map(|v| to_json(&v)).unwrap_or(Json::Null));
            out.insert(name.to_string(), v);
        }
        Ok(out)
    }

    /// The raw (untemplated) winning value of every variable a file or `-e` set
    /// for each host (opsctl's built-in defaults left out), as
    /// `ansible-inventory --list` shows them, without building each host's stack.
    pub fn raw(&self) -> RawVars<'_> {
        self.sources.raw(&self.inventory)
    }
}

/// A template value as plain data (undefined becomes null).
pub fn to_json(v: &Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A project in a temp dir: an inventory and vars files.
    fn load(
        inventory: &str,
        files: &[(&str, &str)],
        extra: &[&str],
    ) -> (tempfile::TempDir, Arc<Vars>) {
        let d = tempfile::tempdir().unwrap();
        let inv_path = d.path().join("hosts");
        std::fs::write(&inv_path, inventory).unwrap();
        for (p, c) in files {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, c).unwrap();
        }
        let inv = Arc::new(crate::inventory::load(&inv_path).unwrap());
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let extra = parse_extra_vars(&extra, d.path()).unwrap();
        let vars = Vars::load(
            inv,
            &[d.path().to_path_buf()],
            &extra,
            Arc::new(Templar::new()),
        )
        .unwrap();
        (d, vars)
    }

    #[test]
    fn lazy_chain_resolves_per_host() {
        let (_d, v) = load(
            "[web]\nw1 app=shop\nw2 app=blog\n",
            &[(
                "group_vars/web.yml",
                "root: /srv\nworkdir: \"{{ root }}/{{ app }}\"\nlogdir: \"{{ workdir }}/logs\"\n",
            )],
            &[],
        );
        assert_eq!(v.resolve("w1", "logdir").unwrap(), json!("/srv/shop/logs"));
        assert_eq!(v.resolve("w2", "logdir").unwrap(), json!("/srv/blog/logs"));
    }

    #[test]
    fn single_expression_keeps_its_type_and_nested_values_are_templated() {
        let (_d, v) = load(
            "[web]\nw1\n",
            &[(
                "group_vars/all.yml",
                "ports: [80, 443]\nfirst: \"{{ ports }}\"\nconf:\n  listen: \"{{ ports[1] }}\"\n  name: \"x{{ ports | length }}\"\n",
            )],
            &[],
        );
        assert_eq!(v.resolve("w1", "first").unwrap(), json!([80, 443]));
        assert_eq!(
            v.resolve("w1", "conf").unwrap(),
            json!({"listen": 443, "name": "x2"})
        );
    }

    #[test]
    fn groups_reads_as_a_mapping_of_each_groups_hosts() {
        let (_d, v) = load(
            "[web]\nw1\nw2\n[db]\nd1\n[prod:children]\nweb\ndb\n",
            &[(
                "group_vars/all.yml",
                concat!(
                    "a: \"{{ groups | to_json }}\"\n",
                    "b: \"{{ 'web' in groups }} {{ 'nope' in groups }} {{ groups | length }}\"\n",
                    "c: \"{{ groups['nope'] | default(['x']) }}\"\n",
                    "d: \"{% for g in groups %}{{ g }}={{ groups[g] | length }};{% endfor %}\"\n",
                    "e: \"{{ groups.prod }}\"\n",
                ),
            )],
            &[],
        );
        let all = r#"{"all": ["w1", "w2", "d1"], "ungrouped": [], "web": ["w1", "w2"], "db": ["d1"], "prod": ["w1", "w2", "d1"]}"#;
        assert_eq!(v.resolve("w1", "a").unwrap(), json!(all));
        assert_eq!(v.resolve("d1", "b").unwrap(), json!("True False 5"));
        assert_eq!(v.resolve("w1", "c").unwrap(), json!(["x"]));
        assert_eq!(
            v.resolve("w2", "d").unwrap(),
            json!("all=3;ungrouped=0;web=2;db=1;prod=3;")
        );
        assert_eq!(v.resolve("w1", "e").unwrap(), json!(["w1", "w2", "d1"]));
    }

    #[test]
    fn a_cycle_names_the_chain_with_locations() {
        let (_d, v) = load(
            "[web]\nw1\n",
            &[(
                "group_vars/all.yml",
                "a: \"{{ b }}\"\nb: \"{{ c }}\"\nc: \"{{ a }}\"\n",
            )],
            &[],
        );
        let e = v.resolve("w1", "a").unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
        assert!(
            e.contains("a (")
                && e.contains("all.yml:1")
                && e.contains("b (")
                && e.contains("all.yml:2"),
            "{e}"
        );
        // a self-reference too
        let (_d, v) = load(
            "[web]\nw1\n",
            &[("group_vars/all.yml", "x: \"{{ x }}1\"\n")],
            &[],
        );
        assert!(
            v.resolve("w1", "x")
                .unwrap_err()
                .to_string()
                .contains("cycle")
        );
    }

    #[test]
    fn an_undefined_variable_names_it_and_where_it_is_used() {
        let (_d, v) = load(
            "[web]\nw1\n",
            &[(
                "group_vars/web.yml",
                "ok: 1\nurl: \"http://{{ server_nmae }}/\"\n",
            )],
            &[],
        );
        let e = v.resolve("w1", "url").unwrap_err().to_string();
        assert!(e.contains("server_nmae"), "{e}");
        assert!(e.contains("web.yml:2"), "{e}");
    }

    #[test]
    fn magic_variables_and_hostvars() {
        let (_d, v) = load(
            "[web]\nw1.example.org port=1\n[db]\nd1 port=5432\n[prod:children]\nweb\ndb\n",
            &[(
                "group_vars/web.yml",
                "db_port: \"{{ hostvars['d1'].port }}\"\nme: \"{{ inventory_hostname_short }}\"\n",
            )],
            &[],
        );
        assert_eq!(v.resolve("w1.example.org", "db_port").unwrap(), json!(5432));
        assert_eq!(v.resolve("w1.example.org", "me").unwrap(), json!("w1"));
        let ctx = v.context("w1.example.org");
        let groups = to_json(&ctx.get_attr("group_names").unwrap());
        assert_eq!(groups, json!(["prod", "web"]));
        let all = to_json(&ctx.get_attr("groups").unwrap());
        assert_eq!(all["prod"], json!(["w1.example.org", "d1"]));
    }

    #[test]
    fn extra_vars_win_and_keep_their_origin() {
        let (_d, v) = load(
            "[web]\nw1 port=1\n",
            &[("host_vars/w1.yml", "port: 2\n")],
            &["port=3"],
        );
        assert_eq!(v.resolve("w1", "port").unwrap(), json!("3"));
        let h = v.stack("w1").unwrap().history("port");
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].layer, Layer::InventoryHost);
        assert_eq!(h[1].layer, Layer::HostVars);
        assert!(matches!(&h[2].origin, Origin::CommandLine { arg } if arg == "port=3"));
    }

    #[test]
    fn child_groups_beat_parents_and_group_priority_reorders() {
        let inv = "[web]\nw1\n[prod:children]\nweb\n[zeta]\nw1\n[alpha]\nw1\n";
        let (_d, v) = load(
            inv,
            &[
                ("group_vars/prod.yml", "x: prod\n"),
                ("group_vars/web.yml", "x: web\ny: web\n"),
                ("group_vars/zeta.yml", "y: zeta\n"),
                ("group_vars/alpha.yml", "y: alpha\n"),
            ],
            &[],
        );
        assert_eq!(
            v.resolve("w1", "x").unwrap(),
            json!("web"),
            "child (depth 2) beats parent (depth 1)"
        );
        // alpha and zeta have depth 1, web depth 2: web wins; among depth 1, by name.
        assert_eq!(v.resolve("w1", "y").unwrap(), json!("web"));
        let (_d, v) = load(
            inv,
            &[
                ("group_vars/zeta.yml", "z: zeta\n"),
                ("group_vars/alpha.yml", "z: alpha\n"),
            ],
            &[],
        );
        assert_eq!(
            v.resolve("w1", "z").unwrap(),
            json!("zeta"),
            "same depth: later name wins"
        );
        let inv = format!("{inv}[alpha:vars]\nansible_group_priority=10\n");
        let (_d, v) = load(
            &inv,
            &[
                ("group_vars/zeta.yml", "z: zeta\n"),
                ("group_vars/alpha.yml", "z: alpha\n"),
            ],
            &[],
        );
        assert_eq!(
            v.resolve("w1", "z").unwrap(),
            json!("alpha"),
            "a higher ansible_group_priority wins"
        );
    }

    #[test]
    fn secrets_sit_above_host_vars_and_taint_what_is_made_of_them() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("hosts"), "[web]\nw1\n").unwrap();
        std::fs::create_dir_all(d.path().join("host_vars")).unwrap();
        std::fs::write(
            d.path().join("host_vars/w1.yml"),
            "db_password: from-host-vars\nurl: \"postgres://app:{{ db_password }}@db/app\"\nencoded: \"{{ db_password | b64encode }}\"\nplain: \"{{ 'not' ~ '-secret' }}\"\n",
        )
        .unwrap();
        let inv = Arc::new(crate::inventory::load(&d.path().join("hosts")).unwrap());
        let loc = crate::location::Location::new("environments/t/secrets.age", 1, Some(1));
        let mut secrets = FileVars::new();
        secrets.insert("db_password".into(), (json!("Taint-Test-Pw-1"), loc));
        crate::redact::register_json(&json!("Taint-Test-Pw-1"));
        let v = Vars::load_with_secrets(
            inv,
            &[d.path().to_path_buf()],
            &[],
            Arc::new(Templar::new()),
            Some(&secrets),
        )
        .unwrap();
        let s = v.stack("w1").unwrap();
        assert_eq!(s.get("db_password").unwrap().layer, Layer::Secrets);
        assert_eq!(s.history("db_password").len(), 2);
        assert_eq!(
            v.resolve("w1", "url").unwrap(),
            json!("postgres://app:Taint-Test-Pw-1@db/app")
        );
        let encoded = v.resolve("w1", "encoded").unwrap();
        let encoded = encoded.as_str().unwrap();
        assert_eq!(encoded, "VGFpbnQtVGVzdC1Qdy0x");
        assert_eq!(
            crate::redact::redact(encoded),
            "********",
            "derived value registered"
        );
        // a template rendered later, from a derived variable: still redacted
        let ctx = v.context("w1");
        let out = v
            .templar
            .render_str("u={{ url | upper }} p={{ plain }}", &ctx, None)
            .unwrap();
        assert_eq!(crate::redact::redact(&out), "u=******** p=not-secret");
    }

    /// `raw()` gives each host its stack's winners (built-in defaults left
    /// out), whatever its groups, at every layer: roles' defaults, the
    /// inventory's groups and host line, project and environment
    /// `group_vars/` and `host_vars/`, secrets and `-e`.
    #[test]
    fn raw_vars_are_each_stacks_winners() {
        let d = tempfile::tempdir().unwrap();
        let files = [
            (
                "hosts",
                "[web]\nw1 app=shop ansible_host=10.0.0.1\nw2\n[db]\nd1 role=x\nw2 role=db2\n[web:vars]\nrole=web\nport=1\n[all:vars]\nport=0\nz=1\n[top:children]\nweb\n[top:vars]\nport=2\nt=1\n",
            ),
            (
                "project/group_vars/all.yml",
                "app: none\nlist: [1, 2]\npv: 1\n",
            ),
            ("project/group_vars/db.yml", "pv: db\nt: 3\n"),
            ("project/host_vars/w2.yml", "pv: w2\nport: 22\n"),
            ("env/group_vars/all.yml", "app: env\n"),
            ("env/group_vars/web.yml", "port: 80\nextra_w: true\n"),
            ("env/group_vars/db.yml", "port: 5432\n"),
            ("env/host_vars/w1.yml", "port: 8080\napp: over\n"),
            ("env/host_vars/d1.yml", "ansible_host: 10.0.0.9\n"),
        ];
        for (p, c) in files {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, c).unwrap();
        }
        let inv = Arc::new(crate::inventory::load(&d.path().join("hosts")).unwrap());
        let extra = parse_extra_vars(&["z=from-e pv=e".into()], d.path()).unwrap();
        let loc = crate::location::Location::new("environments/t/secrets.age", 1, Some(1));
        let mut secrets = FileVars::new();
        secrets.insert("t".into(), (json!("from-secrets"), loc.clone()));
        let v = Vars::load_with_secrets(
            inv,
            &[d.path().join("project"), d.path().join("env")],
            &extra,
            Arc::new(Templar::new()),
            Some(&secrets),
        )
        .unwrap();
        let mut defaults = FileVars::new();
        defaults.insert("rd".into(), (json!(1), loc.clone()));
        defaults.insert("port".into(), (json!(-1), loc));
        for v in [v.clone(), v.with_role_defaults(vec![defaults])] {
            let mut raw = v.raw();
            let mut out = Vec::new();
            for host in v.inventory.hosts.keys() {
                let stack = v.stack(host).unwrap();
                let mut expected: Vec<(&str, &Json)> = stack
                    .names()
                    .filter_map(|n| {
                        let d = stack
                            .get(n)
                            .filter(|d| !matches!(d.layer, Layer::Magic | Layer::Config))?;
                        Some((n, &d.value))
                    })
                    .collect();
                expected.sort_by(|a, b| a.0.cmp(b.0));
                raw.host(host, &mut out);
                assert_eq!(out, expected, "{host}");
            }
            raw.host("w1", &mut out);
            assert!(out.contains(&("port", &json!(8080))), "{out:?}");
            assert!(out.contains(&("z", &json!("from-e"))), "{out:?}");
            raw.host("nope", &mut out);
            assert!(out.is_empty());
        }
    }
}
