//! Modules run as the engine runs them, on a real host (compiled in tests
//! only): a local connection working in a temporary directory, the module's
//! facts gathered, its decision taken and its change applied by
//! [`apply::run`](super::apply::run). These tests check what a change does to
//! a real filesystem (contents, modes, links, backups, what check mode leaves
//! alone, how many execs it takes); what a module decides from its facts is
//! tested as data in `tests/fixtures/modules/` (`modules/fixtures.rs`).
//! They live in the engine because only the engine may run a module: the
//! modules layer never imports it (tests/integration/house.rs).

mod blockinfile;
mod copy;
mod fetch;
mod file;
mod lineinfile;
mod pause;
mod ping;
mod remote_file;
mod replace;
mod slurp;
mod stat;
mod template;
mod wait_for;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value as Json};

use super::gather::FactCache;
use crate::location::Location;
use crate::modules::fail::Fail;
use crate::modules::protocol::Module;
use crate::modules::{Args, Diff, HostEnv, Outcome, Spec};
use crate::template::Templar;
use crate::transport::{Connection, ConnectionSpec};

/// A real local host in a temporary directory; `files/` is the task's
/// search path.
pub struct Kit {
    pub dir: tempfile::TempDir,
    pub conn: Connection,
    pub search: Vec<PathBuf>,
    pub location: Location,
    pub vars: minijinja::Value,
    pub templar: Templar,
}

pub async fn kit() -> Kit {
    kit_with_vars(serde_json::json!({})).await
}

pub async fn kit_with_vars(vars: Json) -> Kit {
    let dir = tempfile::tempdir().unwrap();
    let spec = ConnectionSpec::local("localhost");
    let conn = Connection::open(&spec).await.unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    Kit {
        search: vec![files],
        location: Location::new(dir.path().join("tasks.yml"), 1, None),
        vars: minijinja::Value::from(minijinja::value::Serde(vars)),
        templar: Templar::new(),
        conn,
        dir,
    }
}

impl Kit {
    pub fn env(&self, check: bool, diff: bool) -> HostEnv<'_> {
        HostEnv {
            host: "localhost",
            conn: &self.conn,
            check,
            diff,
            become_user: None,
            environment: &[],
            search: &self.search,
            location: &self.location,
            vars: &self.vars,
            templar: &self.templar,
            trace: Mutex::new(vec![]),
            deadline: None,
        }
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn p(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }
    /// A module to run on this host, as a task would.
    pub fn task<'a>(&'a self, spec: &'a Spec, module: &'a dyn Module) -> Task<'a> {
        Task {
            kit: self,
            spec,
            module,
        }
    }

    /// The module run as the engine runs it (facts, decide, apply), with a
    /// fresh fact cache.
    pub async fn apply(
        module: &dyn Module,
        args: &Args,
        env: &HostEnv<'_>,
    ) -> Result<Outcome, Fail> {
        super::apply::run(module, args, env, &FactCache::default()).await
    }
}

/// A module on a [`Kit`]'s host.
pub struct Task<'a> {
    kit: &'a Kit,
    spec: &'a Spec,
    module: &'a dyn Module,
}

impl Task<'_> {
    /// Runs the module with these arguments (validated as the engine does)
    /// in check mode or not, with `--diff` or not; returns the outcome and
    /// the number of execs.
    pub async fn run(&self, args: Json, check: bool, diff: bool) -> (Outcome, usize) {
        let raw: Map<String, Json> = args.as_object().unwrap().clone();
        let args: Args = self
            .spec
            .validate(&raw, true)
            .unwrap_or_else(|e| panic!("bad args: {e}"));
        let env = self.kit.env(check, diff);
        let o = match Kit::apply(self.module, &args, &env).await {
            Ok(o) => o,
            // a task failure is a result to test; anything else is a bug here
            Err(f @ Fail::Task(_)) => super::apply::outcome(self.spec.name, f),
            Err(e) => panic!("module error: {e}"),
        };
        let n = env.trace.lock().unwrap().len();
        (o, n)
    }

    /// Runs the module for real (not in check mode, no `--diff`).
    pub async fn apply(&self, args: Json) -> (Outcome, usize) {
        self.run(args, false, false).await
    }

    /// An edit of the file `rel` just made with `args`, run again: nothing
    /// changes, in one exec, no diff; then the file drifts to `drifted` and
    /// check mode reports the diff back to `want` and leaves the file alone.
    pub async fn again_then_drift(&self, args: &Json, rel: &str, drifted: &str, want: &str) {
        let (o, n) = self.run(args.clone(), false, true).await;
        assert!(!o.changed && n == 1 && o.diffs.is_empty(), "{o:?}");
        self.kit.write(rel, drifted);
        let (o, _) = self.run(args.clone(), true, true).await;
        assert!(o.changed);
        assert_eq!(o.diffs, vec![Diff::new(self.kit.p(rel), drifted, want)]);
        assert_eq!(self.kit.read(rel), drifted);
    }
}

/// The task failed with a message that says `part`.
pub fn failed_with(o: &Outcome, part: &str) {
    assert!(
        o.failed && o.msg.as_deref().is_some_and(|m| m.contains(part)),
        "{o:?}"
    );
}

pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}
