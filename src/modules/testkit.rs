//! A real local host for module tests (compiled in tests only): a local
//! connection working in a temporary directory, and the module run as the
//! engine runs it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value as Json};

use crate::location::Location;
use crate::modules::{Args, HostEnv, Outcome, Spec};
use crate::template::Templar;
use crate::transport::{Connection, ConnectionSpec};

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
    /// Runs a protocol module with these (validated) arguments, as the
    /// engine does; returns the outcome and the number of execs.
    pub async fn run_module(
        &self,
        spec: &Spec,
        module: &dyn crate::modules::protocol::Module,
        args: Json,
        check: bool,
        diff: bool,
    ) -> (Outcome, usize) {
        let raw: Map<String, Json> = args.as_object().unwrap().clone();
        let args: Args = spec
            .validate(&raw, true)
            .unwrap_or_else(|e| panic!("bad args: {e}"));
        let env = self.env(check, diff);
        let o = match Self::apply(module, &args, &env).await {
            Ok(o) => o,
            // a task failure is a result to test; anything else is a bug here
            Err(f @ crate::modules::fail::Fail::Task(_)) => {
                crate::engine::apply::outcome(spec.name, f)
            }
            Err(e) => panic!("module error: {e}"),
        };
        let n = env.trace.lock().unwrap().len();
        (o, n)
    }

    /// The module run as the engine runs it (facts, decide, apply): the one
    /// place module tests reach into the engine.
    pub async fn apply(
        module: &dyn crate::modules::protocol::Module,
        args: &Args,
        env: &HostEnv<'_>,
    ) -> Result<Outcome, crate::modules::fail::Fail> {
        let cache = crate::engine::gather::FactCache::default();
        crate::engine::apply::run(module, args, env, &cache).await
    }
}

pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}
