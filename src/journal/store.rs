//! `.opsctl/runs/` in the project: one JSON-lines file per run (`ID.jsonl`) and
//! `index.jsonl`, one line when a run starts and one when it ends. Both are
//! append-only; pruning (keep the newest `runs_keep` runs) rewrites the index
//! under a `flock` on `.lock`, so two opsctl commands of one project can finish
//! at the same time.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// Default number of runs kept (`OPSCTL_RUNS_KEEP` overrides it).
pub const DEFAULT_KEEP: usize = 200;

/// The number of runs to keep: `OPSCTL_RUNS_KEEP`, else [`DEFAULT_KEEP`].
pub fn runs_keep() -> std::result::Result<usize, String> {
    match std::env::var("OPSCTL_RUNS_KEEP") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                format!("OPSCTL_RUNS_KEEP={v} is not a number of runs (1 or more); set e.g. OPSCTL_RUNS_KEEP=200")
            }),
        _ => Ok(DEFAULT_KEEP),
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

/// A run as the index knows it: its start line merged with its end line.
#[derive(Debug, Clone)]
pub struct Summary {
    pub id: String,
    pub fields: serde_json::Map<String, Json>,
}

impl Summary {
    pub fn str(&self, k: &str) -> Option<&str> {
        self.fields.get(k).and_then(Json::as_str)
    }
    pub fn u64(&self, k: &str) -> Option<u64> {
        self.fields.get(k).and_then(Json::as_u64)
    }
    pub fn finished(&self) -> bool {
        self.fields.contains_key("exit")
    }
}

impl Store {
    pub fn new(project_root: &Path) -> Store {
        Store {
            dir: project_root.join(".opsctl").join("runs"),
        }
    }

    fn ensure_dir(&self) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
    }

    pub fn run_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.jsonl"))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.jsonl")
    }

    /// Creates the file of a new run (mode 0600); fails if it exists.
    pub fn create(&self, id: &str) -> io::Result<File> {
        self.ensure_dir()?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.run_path(id))
    }

    /// Holds the store's lock while `f` runs.
    fn locked<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.ensure_dir()?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir.join(".lock"))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)?;
        let r = f();
        let _ = rustix::fs::flock(&lock, rustix::fs::FlockOperation::Unlock);
        r
    }

    /// Appends one line to the index.
    pub fn append_index(&self, line: &Json) -> io::Result<()> {
        self.locked(|| {
            let mut f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(self.index_path())?;
            f.write_all(format!("{line}\n").as_bytes())
        })
    }

    /// Rewrites the run's file and the index with every line passed through
    /// `f` (used to redact secrets registered after a line was written).
    pub fn rewrite(&self, id: &str, f: &dyn Fn(&str) -> String) -> io::Result<()> {
        self.locked(|| {
            for path in [self.run_path(id), self.index_path()] {
                let Ok(text) = fs::read_to_string(&path) else {
                    continue;
                };
                let new: String = text.lines().map(|l| f(l) + "\n").collect();
                if new != text {
                    write_atomic(&path, &new)?;
                }
            }
            Ok(())
        })
    }

    /// Keeps the newest `keep` runs: removes older run files and their index
    /// lines. Returns how many runs were removed.
    pub fn prune(&self, keep: usize) -> io::Result<usize> {
        self.locked(|| {
            let mut ids = self.run_ids()?;
            if ids.len() <= keep {
                return Ok(0);
            }
            let drop: Vec<String> = ids.drain(..ids.len() - keep).collect();
            for id in &drop {
                match fs::remove_file(self.run_path(id)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            let text = fs::read_to_string(self.index_path()).unwrap_or_default();
            let kept: String = text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<Json>(l)
                        .ok()
                        .and_then(|v| v.get("id").and_then(Json::as_str).map(String::from))
                        .is_some_and(|id| ids.contains(&id))
                })
                .map(|l| format!("{l}\n"))
                .collect();
            write_atomic(&self.index_path(), &kept)?;
            Ok(drop.len())
        })
    }

    /// Ids of the run files, oldest first (ids sort in time order).
    pub fn run_ids(&self) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = match fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".jsonl").map(String::from))
                .filter(|n| n != "index")
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        ids.sort();
        Ok(ids)
    }

    /// Every run of the index, oldest first (start and end lines merged). A run
    /// whose file is gone is left out; a run without an end line is unfinished.
    pub fn summaries(&self) -> Result<Vec<Summary>> {
        let path = self.index_path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::new(format!(
                    "cannot read {}: {e}",
                    crate::location::display_path(&path)
                )));
            }
        };
        let mut runs: IndexMap<String, Summary> = IndexMap::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| {
                Error::new(format!(
                    "cannot read {}: {e}",
                    crate::location::display_path(&path)
                ))
            })?;
            // A line cut short by a crash is skipped; the run file still has it all.
            let Ok(Json::Object(m)) = serde_json::from_str::<Json>(&line) else {
                continue;
            };
            let Some(id) = m.get("id").and_then(Json::as_str).map(String::from) else {
                continue;
            };
            let s = runs.entry(id.clone()).or_insert_with(|| Summary {
                id,
                fields: serde_json::Map::new(),
            });
            for (k, v) in m {
                s.fields.insert(k, v);
            }
        }
        let mut out: Vec<Summary> = runs
            .into_values()
            .filter(|s| self.run_path(&s.id).is_file())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// `last`, a full id or a unique prefix of one.
    pub fn resolve(&self, which: &str) -> Result<String> {
        let ids = self.run_ids().map_err(|e| {
            Error::new(format!(
                "cannot read {}: {e}",
                crate::location::display_path(&self.dir)
            ))
        })?;
        if ids.is_empty() {
            return Err(Error::new(format!(
                "no run recorded yet in {}",
                crate::location::display_path(&self.dir)
            ))
            .hint("every opsctl command that touches hosts (run, provision, deploy, ping...) records one"));
        }
        if which == "last" {
            return Ok(ids.last().cloned().unwrap_or_default());
        }
        if ids.iter().any(|i| i == which) {
            return Ok(which.to_string());
        }
        let matching: Vec<&String> = ids.iter().filter(|i| i.starts_with(which)).collect();
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::new(format!(
                "no run {which} in {}",
                crate::location::display_path(&self.dir)
            ))
            .hint("`opsctl runs` lists the recorded runs; `last` is the newest")),
            many => Err(Error::new(format!(
                "run id {which} is ambiguous: {} runs start with it ({}, ...)",
                many.len(),
                many[0]
            ))
            .hint("give more of the id")),
        }
    }

    /// The lines of a run's file, in order. A last line cut short (a crash
    /// while writing) is dropped.
    pub fn load(&self, id: &str) -> Result<Vec<Json>> {
        let path = self.run_path(id);
        let text = fs::read_to_string(&path).map_err(|e| {
            Error::new(format!(
                "cannot read {}: {e}",
                crate::location::display_path(&path)
            ))
        })?;
        let mut out = Vec::new();
        let n = text.lines().count();
        for (i, line) in text.lines().enumerate() {
            match serde_json::from_str::<Json>(line) {
                Ok(v) => out.push(v),
                Err(_) if i + 1 == n => {}
                Err(e) => {
                    return Err(Error::new(format!(
                        "{}:{}:{}: not a journal line: {e}",
                        crate::location::display_path(&path),
                        i + 1,
                        e.column()
                    ))
                    .hint("the file was edited or damaged; remove it to forget that run"));
                }
            }
        }
        Ok(out)
    }
}

fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prune_keeps_the_newest_runs_and_their_index_lines() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        for i in 0..5 {
            let id = format!("20260101-00000{i}-abcd");
            writeln!(
                s.create(&id).unwrap(),
                "{}",
                json!({"type": "run", "id": id})
            )
            .unwrap();
            s.append_index(&json!({"id": id, "command": "run"}))
                .unwrap();
            s.append_index(&json!({"id": id, "exit": 0})).unwrap();
        }
        assert_eq!(s.prune(3).unwrap(), 2);
        assert_eq!(s.prune(3).unwrap(), 0);
        let ids: Vec<String> = s.summaries().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            [
                "20260101-000002-abcd",
                "20260101-000003-abcd",
                "20260101-000004-abcd"
            ]
        );
        assert!(!s.run_path("20260101-000000-abcd").exists());
        let index = fs::read_to_string(s.index_path()).unwrap();
        assert_eq!(index.lines().count(), 6);
        assert_eq!(s.resolve("last").unwrap(), "20260101-000004-abcd");
        assert_eq!(
            s.resolve("20260101-000003").unwrap(),
            "20260101-000003-abcd"
        );
        assert!(s.resolve("2026").is_err());
        assert!(s.resolve("nope").is_err());
    }

    #[test]
    fn a_line_cut_short_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let mut f = s.create("x").unwrap();
        write!(f, "{}\n{{\"type\": \"ta", json!({"type": "run"})).unwrap();
        assert_eq!(s.load("x").unwrap().len(), 1);
    }
}
