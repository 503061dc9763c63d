//! What Ansible knows: the names of the modules, filters, tests and lookups of
//! ansible.builtin and of the usual collections, shipped as data
//! (`src/compat/*.txt`, regenerated from the real packages by
//! `make compat-names`), and the one rule that classifies a name a playbook
//! uses: implemented by opsctl, known to Ansible but not implemented (a
//! warning at load, a failure only when a host reaches it), or unknown (a load
//! error with the nearest name).
//!
//! What opsctl implements is read from the code, never listed here: modules
//! from [`crate::modules::find`], filters and tests from the template
//! environment ([`crate::template::Templar`]), lookups from
//! [`crate::template::lookup_names`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

use crate::modules::{self, ModuleDef};

const MODULES: &str = include_str!("modules.txt");
const FILTERS: &str = include_str!("filters.txt");
const TESTS: &str = include_str!("tests.txt");
const LOOKUPS: &str = include_str!("lookups.txt");
const GROUPS: &str = include_str!("groups.txt");
const REDIRECTS: &str = include_str!("redirects.txt");

/// ansible-core's routing of a short name of `kind` (`yum` -> `ansible.builtin.dnf`,
/// `ufw` -> `community.general.ufw`, `json_query` -> `community.general.json_query`).
pub fn redirect(kind: Kind, short: &str) -> Option<&'static str> {
    static MAP: OnceLock<std::collections::HashMap<(Kind, &'static str), &'static str>> =
        OnceLock::new();
    let map = MAP.get_or_init(|| {
        let mut m = std::collections::HashMap::new();
        for line in REDIRECTS.lines().filter(|l| !l.starts_with('#')) {
            let mut it = line.split(' ');
            let (Some(k), Some(name), Some(target)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let kind = match k {
                "module" => Kind::Module,
                "filter" => Kind::Filter,
                "test" => Kind::Test,
                "lookup" => Kind::Lookup,
                _ => continue,
            };
            m.insert((kind, name), target);
        }
        m
    });
    map.get(&(kind, short)).copied()
}

/// The short names ansible-core routes, of `kind`.
fn redirected(kind: Kind) -> &'static [&'static str] {
    static CELLS: [OnceLock<Vec<&'static str>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let (i, word) = match kind {
        Kind::Module => (0, "module "),
        Kind::Filter => (1, "filter "),
        Kind::Test => (2, "test "),
        Kind::Lookup => (3, "lookup "),
    };
    CELLS[i].get_or_init(|| {
        REDIRECTS
            .lines()
            .filter_map(|l| l.strip_prefix(word))
            .filter_map(|l| l.split(' ').next())
            .collect()
    })
}

pub mod scan;

/// The collections whose names are shipped, besides ansible.builtin.
pub const COLLECTIONS: &[&str] = &[
    "community.general",
    "ansible.posix",
    "community.postgresql",
    "community.crypto",
    "community.docker",
    "community.mysql",
];

/// ansible.builtin's "modules" the loader reads as task keywords.
const CONTROL: &[&str] = &[
    "import_playbook",
    "import_tasks",
    "include_tasks",
    "import_role",
    "include_role",
    "meta",
];

/// The kinds of plugins a playbook names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Module,
    Filter,
    Test,
    Lookup,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Filter => "filter",
            Kind::Test => "test",
            Kind::Lookup => "lookup",
        }
    }
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Module => "modules",
            Kind::Filter => "filters",
            Kind::Test => "tests",
            Kind::Lookup => "lookups",
        }
    }
}

/// Ansible's names of one kind: FQCNs, and the short names they answer to.
pub struct Known {
    /// Every FQCN (`ansible.builtin.copy`, `community.general.ufw`).
    pub fqcns: BTreeSet<&'static str>,
    /// Short name -> its FQCNs (ansible.builtin first).
    pub short: BTreeMap<&'static str, Vec<&'static str>>,
}

fn parse(text: &'static str) -> Known {
    let mut fqcns = BTreeSet::new();
    let mut short: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        fqcns.insert(line);
        if let Some((_, s)) = split_fqcn(line) {
            let v = short.entry(s).or_default();
            if line.starts_with("ansible.builtin.") {
                v.insert(0, line);
            } else {
                v.push(line);
            }
        }
    }
    Known { fqcns, short }
}

/// Ansible's names of `kind`.
pub fn known(kind: Kind) -> &'static Known {
    static CELLS: [OnceLock<Known>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let (i, text) = match kind {
        Kind::Module => (0, MODULES),
        Kind::Filter => (1, FILTERS),
        Kind::Test => (2, TESTS),
        Kind::Lookup => (3, LOOKUPS),
    };
    CELLS[i].get_or_init(|| parse(text))
}

/// `ns.coll.name` -> (`ns.coll`, `name`).
pub fn split_fqcn(name: &str) -> Option<(&str, &str)> {
    let mut it = name.splitn(3, '.');
    let (ns, coll, short) = (it.next()?, it.next()?, it.next()?);
    if ns.is_empty() || coll.is_empty() || short.is_empty() || short.contains('.') {
        return None;
    }
    Some((&name[..ns.len() + 1 + coll.len()], short))
}

/// `ansible.legacy.x` is `ansible.builtin.x`.
fn canonical(name: &str) -> String {
    match name.strip_prefix("ansible.legacy.") {
        Some(rest) => format!("ansible.builtin.{rest}"),
        None => name.to_string(),
    }
}

/// What a name a playbook uses is.
#[derive(Debug, Clone, PartialEq)]
pub enum Name<T> {
    /// opsctl implements it.
    Implemented(T),
    /// Ansible has it (the FQCN it resolves to); opsctl does not implement it.
    Known(String),
    /// No plugin of that kind has this name: the nearest name, if any.
    Unknown(Option<String>),
}

/// Classifies a module name. `collections` is the play's or role's
/// `collections:` keyword (short names resolve through it); `local` are module
/// names a role ships in its `library/` (known, never implemented).
pub fn module(name: &str, collections: &[String], local: &[String]) -> Name<&'static ModuleDef> {
    let known = known(Kind::Module);
    match split_fqcn(name) {
        Some((coll, short)) => {
            let fqcn = canonical(name);
            if known.fqcns.contains(fqcn.as_str()) {
                return match modules::find(short) {
                    Some(def) => Name::Implemented(def),
                    None => Name::Known(fqcn),
                };
            }
            if coll == "ansible.builtin" || coll == "ansible.legacy" {
                return match redirect(Kind::Module, short) {
                    Some(target) => module(target, collections, local),
                    None => Name::Unknown(nearest_module(name)),
                };
            }
            let ours = COLLECTIONS.contains(&coll);
            match nearest_module(name) {
                // A collection opsctl has no list of: Ansible may know it.
                None if !ours => Name::Known(fqcn),
                near => Name::Unknown(near),
            }
        }
        None => {
            if let Some(def) = modules::find(name) {
                return Name::Implemented(def);
            }
            if local.iter().any(|l| l == name) {
                return Name::Known(name.to_string());
            }
            if let Some(target) = redirect(Kind::Module, name)
                && collections.is_empty()
            {
                return module(target, collections, local);
            }
            if let Some(fqcns) = known.short.get(name) {
                // The play's collections first, as Ansible searches them.
                let pick = collections
                    .iter()
                    .find_map(|c| fqcns.iter().find(|f| f.starts_with(&format!("{c}."))))
                    .or(fqcns.first());
                return Name::Known(pick.map_or_else(|| name.to_string(), |s| s.to_string()));
            }
            // A collection of the `collections:` keyword that opsctl has no list
            // of may hold it; the name is not a typo of a known one.
            let foreign = collections
                .iter()
                .find(|c| c.as_str() != "ansible.builtin" && !COLLECTIONS.contains(&c.as_str()));
            match foreign {
                Some(c) => Name::Known(format!("{c}.{name}")),
                None => Name::Unknown(nearest_module(name)),
            }
        }
    }
}

/// The nearest module name: opsctl's, then Ansible's (short or FQCN, as written).
fn nearest_module(name: &str) -> Option<String> {
    let known = known(Kind::Module);
    let implemented = modules::names();
    if name.contains('.') {
        crate::names::nearest_name(name, known.fqcns.iter().copied()).map(str::to_string)
    } else {
        crate::names::nearest_name(
            name,
            implemented
                .iter()
                .copied()
                .chain(known.short.keys().copied())
                .chain(redirected(Kind::Module).iter().copied()),
        )
        .map(str::to_string)
    }
}

/// Does the action group `group` (of `module_defaults: {group/<group>: ...}`;
/// a short group name resolves through `collections`) hold module `def`?
pub fn group_has(group: &str, collections: &[String], def: &ModuleDef) -> bool {
    let names: Vec<String> = if group.contains('.') {
        vec![group.to_string()]
    } else {
        collections.iter().map(|c| format!("{c}.{group}")).collect()
    };
    GROUPS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(g, _)| names.iter().any(|n| n == g))
        .any(|(_, member)| {
            matches!(module(member, &[], &[]), Name::Implemented(d) if d.spec.name == def.spec.name)
        })
}

/// Classifies a filter, test or lookup name. `implemented` says whether opsctl
/// has a plugin of that name (read from the template environment).
pub fn plugin(kind: Kind, name: &str, implemented: impl Fn(&str) -> bool) -> Name<()> {
    if implemented(name) {
        return Name::Implemented(());
    }
    let known = known(kind);
    let fqcn = canonical(name);
    if let Some((coll, short)) = split_fqcn(&fqcn) {
        if coll == "ansible.builtin" && implemented(short) {
            return Name::Implemented(());
        }
        if known.fqcns.contains(fqcn.as_str()) {
            return Name::Known(fqcn);
        }
        let ours = coll == "ansible.builtin" || COLLECTIONS.contains(&coll);
        let near = crate::names::nearest_name(&fqcn, known.fqcns.iter().copied());
        return match near {
            None if !ours => Name::Known(fqcn),
            near => Name::Unknown(near.map(str::to_string)),
        };
    }
    // Short names are ansible.builtin's, or routed by ansible-core to a
    // collection (collections' other plugins need their FQCN).
    let builtin = format!("ansible.builtin.{name}");
    if known.fqcns.contains(builtin.as_str()) {
        return Name::Known(builtin);
    }
    if let Some(target) = redirect(kind, name) {
        let short = split_fqcn(target).map_or(target, |(_, s)| s);
        return if implemented(target) || implemented(short) {
            Name::Implemented(())
        } else {
            Name::Known(target.to_string())
        };
    }
    let shorts: Vec<&str> = known
        .short
        .iter()
        .filter(|(_, f)| f.iter().any(|f| f.starts_with("ansible.builtin.")))
        .map(|(s, _)| *s)
        .chain(redirected(kind).iter().copied())
        .collect();
    Name::Unknown(crate::names::nearest_name(name, shorts).map(str::to_string))
}

/// Does the template environment have a filter / test of this name?
pub fn has_filter_or_test(env: &minijinja::Environment<'_>, kind: Kind, name: &str) -> bool {
    let Ok(tmpl) = env.template_from_str("") else {
        return false;
    };
    let mut state = tmpl.new_state();
    let err = match kind {
        Kind::Filter => state.apply_filter(name, &[]).err(),
        Kind::Test => state.perform_test(name, &[]).err(),
        _ => return false,
    };
    match err {
        None => true,
        Some(e) => !matches!(
            e.kind(),
            minijinja::ErrorKind::UnknownFilter | minijinja::ErrorKind::UnknownTest
        ),
    }
}

/// Registers the FQCNs of the filters and tests opsctl has under their short
/// name (`ansible.builtin.to_json`, `community.general.json_query`), as
/// Ansible resolves both: each alias evaluates the short one.
pub fn register_fqcn_aliases(env: &mut minijinja::Environment<'static>) {
    use minijinja::value::{Kwargs, Rest};
    use minijinja::{State, Value};
    for kind in [Kind::Filter, Kind::Test] {
        let aliases: Vec<(String, String)> = known(kind)
            .fqcns
            .iter()
            .filter_map(|f| {
                let (_, short) = split_fqcn(f)?;
                (!has_filter_or_test(env, kind, f) && has_filter_or_test(env, kind, short))
                    .then(|| (f.to_string(), short.to_string()))
            })
            .collect();
        for (fqcn, short) in aliases {
            let op = if kind == Kind::Filter { "|" } else { "is" };
            let call = move |state: &State, v: Value, a: Rest<Value>, k: Kwargs| {
                // the keyword arguments go on to the short one (marked used here)
                let keys: Vec<String> = k.args().map(str::to_string).collect();
                let mut kw = Vec::new();
                for key in keys {
                    let value: Value = k.get(&key)?;
                    kw.push((key, value));
                }
                let expr = if kw.is_empty() {
                    format!("v {op} {short}(*a)")
                } else {
                    format!("v {op} {short}(*a, **k)")
                };
                let k = Value::from(kw.into_iter().collect::<BTreeMap<String, Value>>());
                state
                    .env()
                    .compile_expression(&expr)?
                    .eval(minijinja::context! { v => v, a => a.0, k => k })
            };
            match kind {
                Kind::Filter => env.add_filter(fqcn, call),
                _ => env.add_test(
                    fqcn,
                    move |state: &State, v: Value, a: Rest<Value>, k: Kwargs| {
                        call(state, v, a, k).map(|r| r.is_true())
                    },
                ),
            }
        }
    }
}

/// The names opsctl implements, for the compatibility report: modules from the
/// registry; filters and tests among Ansible's known names that the template
/// environment has; lookups from the lookup plugin.
pub fn implemented(kind: Kind) -> BTreeSet<String> {
    match kind {
        Kind::Module => modules::names().into_iter().map(String::from).collect(),
        Kind::Lookup => crate::template::lookup_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Kind::Filter | Kind::Test => {
            let templar = crate::template::Templar::new();
            let known = known(kind);
            let mut names: HashSet<&str> = known.short.keys().copied().collect();
            names.extend(known.fqcns.iter().copied());
            names
                .into_iter()
                .filter(|n| has_filter_or_test(templar.env(), kind, n))
                .map(String::from)
                .collect()
        }
    }
}

/// docs/compatibility.md: what opsctl implements of Ansible's modules,
/// filters, tests and lookups, and what it knows but does not implement,
/// generated from the same data and code the loader uses (a test keeps the
/// file equal to it; `make docs` rewrites it).
pub fn reference() -> String {
    let mut s = String::from(
        "# Ansible compatibility\n\n\
         Generated by `opsctl::compat::reference()` (`make docs` rewrites this file; a test keeps it \
         equal) from the names of Ansible's plugins shipped in `src/compat/*.txt` (regenerated from \
         the real packages by `make compat-names`) and from what opsctl implements, read from the \
         code: the module registry, the template environment's filters and tests, the lookup \
         plugins.\n\n\
         When a playbook is loaded, every module name of a task and every filter, test and lookup of \
         the templates in task arguments and conditions (and in `template:` sources) is one of:\n\n\
         - **implemented**: it runs;\n\
         - **known, not implemented** (ansible.builtin or ",
    );
    s.push_str(&COLLECTIONS.join(", "));
    s.push_str(
        "; a role's `library/` or plugin directories): the playbook loads with one warning per \
         place (`file:line:col`) before the run, and the task fails with `opsctl does not implement \
         NAME (file:line)` only if a host reaches it. `--strict` makes these errors.\n\
         - **unknown** to Ansible: a load error naming the nearest name.\n\n",
    );
    s.push_str(
        "| kind | Ansible's names | implemented | known, not implemented |\n|---|---|---|---|\n",
    );
    let kinds = [Kind::Module, Kind::Filter, Kind::Test, Kind::Lookup];
    let mut sections = String::new();
    for kind in kinds {
        let (done, todo) = split(kind);
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            kind.plural(),
            known(kind).fqcns.len(),
            done.len(),
            todo.len()
        ));
        sections.push_str(&format!("\n## {}\n\n", capitalised(kind.plural())));
        sections.push_str(&format!("Implemented ({}): ", done.len()));
        sections.push_str(&code_list(&done));
        sections.push_str("\n\nKnown, not implemented, by collection:\n\n");
        let mut by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for f in &todo {
            if let Some((c, short)) = split_fqcn(f) {
                by.entry(c).or_default().push(short);
            }
        }
        for (c, names) in by {
            sections.push_str(&format!(
                "- **{c}** ({}): {}\n",
                names.len(),
                names.join(", ")
            ));
        }
    }
    s.push_str(&sections);
    s.push('\n');
    s.push_str(include_str!("migrating.md"));
    s.push('\n');
    s.push_str(include_str!("public_roles.md"));
    s
}

fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn code_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ansible's names of `kind` split into implemented (as opsctl names them:
/// the FQCNs a module answers to; the short names of filters, tests and
/// lookups) and known-but-not-implemented FQCNs.
fn split(kind: Kind) -> (Vec<String>, Vec<String>) {
    let known = known(kind);
    let mut done = BTreeSet::new();
    let mut todo = Vec::new();
    match kind {
        Kind::Module => {
            for f in &known.fqcns {
                let short = split_fqcn(f).map_or(*f, |(_, s)| s);
                if f.starts_with("ansible.builtin.") && CONTROL.contains(&short) {
                    done.insert(format!("{f} (task keyword)"));
                    continue;
                }
                match module(f, &[], &[]) {
                    Name::Implemented(d) => {
                        done.insert(format!("{f} ({})", d.spec.name));
                    }
                    _ => todo.push(f.to_string()),
                }
            }
        }
        _ => {
            let have = implemented(kind);
            for f in &known.fqcns {
                let short = split_fqcn(f).map_or(*f, |(_, s)| s);
                let builtin = f.starts_with("ansible.builtin.");
                if builtin && have.contains(short) {
                    done.insert(short.to_string());
                } else if have.contains(*f) {
                    done.insert(f.to_string());
                } else {
                    todo.push(f.to_string());
                }
            }
        }
    }
    (done.into_iter().collect(), todo)
}

#[cfg(test)]
mod tests;
