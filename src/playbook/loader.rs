//! The loader's state: the errors found so far, the files being read (for
//! import cycles), what the current play has gathered, and the mapping entries
//! ([`Entry`], [`Kw`]) every part of the loader reads.
//!
//! Every problem is pushed to `Loader::errors` and parsing goes on with the next
//! task, so one load reports every problem; a task with a bad key is dropped
//! rather than guessed at, so one mistake does not cascade into others.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::types::{LoadError, Role, Task};
use crate::location::{Location, display_path};
use crate::yaml::Node;

pub(super) use crate::names::{is_identifier, nearest};

pub(super) fn did_you_mean(near: Option<(&str, usize)>) -> Option<String> {
    near.map(|(n, _)| format!("did you mean '{n}'?"))
}

pub(super) use crate::template::has_template;

pub(super) fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// One `key: value` of a mapping, the key normalised.
#[derive(Clone)]
pub(super) struct Entry<'a> {
    pub name: String,
    pub key: &'a Node,
    pub value: &'a Node,
}

impl Entry<'_> {
    pub fn loc(&self, file: &Path) -> Location {
        self.key.location(file)
    }
}

#[derive(Default)]
pub(super) struct Kw<'a>(pub Vec<Entry<'a>>);

impl<'a> Kw<'a> {
    pub fn get(&self, name: &str) -> Option<&Entry<'a>> {
        self.0.iter().find(|e| e.name == name)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Entry<'a>> {
        self.0.iter()
    }
    pub fn from_map(map: &'a [(Node, Node)]) -> Kw<'a> {
        Kw(map
            .iter()
            .map(|(k, v)| Entry {
                name: k.key_string(),
                key: k,
                value: v,
            })
            .collect())
    }
}

/// Where tasks are being read.
#[derive(Clone, Copy)]
pub(super) struct Cx<'a> {
    pub file: &'a Path,
    pub role: Option<&'a Arc<Role>>,
    pub handler: bool,
}

/// What one play has gathered so far.
#[derive(Default)]
pub(super) struct PlayState {
    pub playbook_dir: Option<PathBuf>,
    pub role_search: Vec<PathBuf>,
    /// Roles in execution order, each (directory, params) once.
    pub roles: Vec<Arc<Role>>,
    /// Handlers of the roles, once per role directory.
    pub handlers: Vec<Task>,
    pub handler_dirs: Vec<PathBuf>,
    /// Roles being expanded (canonical dir, name), for dependency cycles.
    pub role_stack: Vec<(PathBuf, String)>,
    /// Every static `notify` name and where it was written.
    pub notify: Vec<(String, Location)>,
    /// Handlers may come from a role included at run time: notify can't be checked.
    pub dynamic_handlers: bool,
    /// The play's `collections:` (short module names resolve through them).
    pub collections: Vec<String>,
    /// `module_defaults` in force (the play's, then enclosing blocks'), in order:
    /// (module name or `group/...`, arguments).
    pub module_defaults: Vec<(String, serde_json::Map<String, serde_json::Value>)>,
}

pub(super) struct Loader {
    pub errors: Vec<LoadError>,
    pub project_root: Option<PathBuf>,
    /// Files being read (canonical path, path as given), for import cycles.
    pub file_stack: Vec<(PathBuf, PathBuf)>,
    pub play: PlayState,
    /// `include_tasks` files already checked (file, role dir).
    pub checked: HashSet<(PathBuf, Option<PathBuf>)>,
    /// `include_role` roles already checked.
    pub checked_roles: HashSet<PathBuf>,
    /// What loads but may fail when reached (see [`super::Playbook::warnings`]).
    pub warnings: Vec<LoadError>,
    /// How many enclosing blocks or includes have a `when`: a role that
    /// `include_role` names may then be absent (resolved when reached).
    pub conditional: usize,
    /// A playbook given as text (an ad hoc task): its name and source, read
    /// instead of a file of that name.
    pub inline: Option<(PathBuf, String)>,
}

/// Beyond this many, more errors add nothing.
const MAX_ERRORS: usize = 50;

impl Loader {
    pub fn new(project_root: Option<&Path>) -> Loader {
        Loader {
            errors: Vec::new(),
            project_root: project_root.map(Path::to_path_buf),
            file_stack: Vec::new(),
            play: PlayState::default(),
            checked: HashSet::new(),
            checked_roles: HashSet::new(),
            warnings: Vec::new(),
            conditional: 0,
            inline: None,
        }
    }

    pub fn begin_play(&mut self, playbook_dir: Option<PathBuf>, role_search: Vec<PathBuf>) {
        self.play = PlayState {
            playbook_dir,
            role_search,
            ..Default::default()
        };
    }

    pub fn end_play(&mut self) -> PlayState {
        std::mem::take(&mut self.play)
    }

    pub fn finish<T>(self, value: T) -> Result<T, LoadError> {
        let mut errs: Vec<LoadError> = Vec::new();
        for e in self.errors {
            if !errs.contains(&e) {
                errs.push(e);
            }
        }
        if errs.is_empty() {
            return Ok(value);
        }
        let mut first = errs.remove(0);
        first.others = errs;
        Err(first)
    }

    /// Something that loads but fails if a host reaches it; once per place.
    pub fn warn(&mut self, location: Location, message: impl Into<String>) {
        let w = LoadError::new(location, message, None);
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    pub fn err(&mut self, location: Location, message: impl Into<String>, hint: Option<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(LoadError::new(location, message, hint));
        }
    }

    /// Reads a YAML file that is about to be expanded in place, refusing cycles.
    /// The caller must call [`Loader::leave`] after a `Some`.
    pub fn enter(&mut self, path: &Path, at: Option<&Location>) -> Option<Node> {
        let canon = canonical(path);
        if let Some(i) = self.file_stack.iter().position(|(c, _)| *c == canon) {
            let mut chain: Vec<String> = self.file_stack[i..]
                .iter()
                .map(|(_, p)| display_path(p))
                .collect();
            chain.push(display_path(path));
            self.err(
                at.cloned().unwrap_or_else(|| Location::file(path)),
                format!("import cycle: {}", chain.join(" -> ")),
                Some("a file cannot import itself, directly or through others; break the cycle (include_tasks with a condition can recurse at run time)".into()),
            );
            return None;
        }
        let parsed = match &self.inline {
            Some((name, source)) if name == path => crate::yaml::parse(source, path),
            _ => crate::yaml::parse_file(path),
        };
        match parsed {
            Ok(n) => {
                self.file_stack.push((canon, path.to_path_buf()));
                Some(n)
            }
            Err(e) => {
                self.errors.push(e.into());
                None
            }
        }
    }

    pub fn leave(&mut self) {
        self.file_stack.pop();
    }

    /// Runs `f` as a check of something loaded at run time: its roles and handlers
    /// are not part of the play, but its notify names are.
    pub fn scratch(&mut self, f: impl FnOnce(&mut Self)) {
        let fresh = PlayState {
            playbook_dir: self.play.playbook_dir.clone(),
            role_search: self.play.role_search.clone(),
            role_stack: self.play.role_stack.clone(),
            collections: self.play.collections.clone(),
            module_defaults: self.play.module_defaults.clone(),
            ..Default::default()
        };
        let saved = std::mem::replace(&mut self.play, fresh);
        f(self);
        let done = std::mem::replace(&mut self.play, saved);
        self.play.notify.extend(done.notify);
        self.play.dynamic_handlers |= done.dynamic_handlers || !done.handlers.is_empty();
    }
}
