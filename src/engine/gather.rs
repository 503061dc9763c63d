//! Gathering facts: the needs of one or more tasks, answered in ONE exec.
//!
//! Requests of the same kind are merged: every path, epoch and host question
//! goes into one manifest of the remote file interpreter (paths into one
//! `stat` and one `sha256sum` for all of them, content inline: see
//! `remote_file::probe_ops`), each directory listing and each
//! module probe into a section of the same script. A boundary line with the exit
//! status closes each section's stdout, another one its stderr (the exec's own
//! stderr: no temporary files on the host).
//!
//! [`FactCache`] keeps what was gathered for a host until anything changes it:
//! a fact read before a change is never used after it.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::modules::HostEnv;
use crate::modules::content;
use crate::modules::fail::{self, Fail};
use crate::modules::gitfacts;
use crate::modules::protocol::{self, Facts, GitReq, Need};
use crate::modules::remote_file::{self, Op, Req};
use crate::modules::sysfacts;
use crate::transport::Output;

/// How many tasks a read-ahead covers: at the start of a play, after a change
/// threw the rest of a read-ahead away, and at most. The window doubles each
/// time a whole read-ahead was used: a no-change run of up to 16 tasks sends
/// one exec; a run that changes everything reads ahead once (a task that
/// changed the host is followed by a task that reads alone).
const START_WINDOW: usize = 16;
const FIRST_WINDOW: usize = 4;
const MAX_WINDOW: usize = 32;

/// What was gathered on one host, under the become user and environment it was
/// gathered with.
pub struct FactCache {
    inner: Mutex<Cached>,
    window: std::sync::atomic::AtomicUsize,
    /// The execs of a read-ahead, shown (`-v`) by the first task that uses it.
    trace: Mutex<Vec<(String, Output)>>,
}

#[derive(Default)]
struct Cached {
    key: String,
    facts: Facts,
    /// Needs read ahead and not yet used by a task.
    unused: HashSet<Need>,
}

impl Default for FactCache {
    fn default() -> FactCache {
        FactCache {
            inner: Mutex::default(),
            window: START_WINDOW.into(),
            trace: Mutex::default(),
        }
    }
}

impl FactCache {
    /// How many tasks the next read-ahead may cover.
    pub fn window(&self) -> usize {
        self.window.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_window(&self, n: usize) {
        self.window.store(
            n.clamp(FIRST_WINDOW, MAX_WINDOW),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Nothing is known (a read-ahead is worth sending).
    pub fn is_empty(&self) -> bool {
        self.inner.lock().unwrap().unused.is_empty()
    }

    /// The host changed (or may have): forget everything.
    pub fn clear(&self) {
        let mut c = self.inner.lock().unwrap();
        if !c.unused.is_empty() {
            self.set_window(FIRST_WINDOW);
        }
        *c = Cached::default();
    }

    /// The needs not answered yet under `key`.
    pub fn missing(&self, key: &str, needs: &[Need]) -> Vec<Need> {
        let c = self.inner.lock().unwrap();
        let mut seen = HashSet::new();
        needs
            .iter()
            .filter(|n| c.key != key || !c.facts.has(n))
            .filter(|n| seen.insert(*n))
            .cloned()
            .collect()
    }

    /// Adds answers gathered under `key` (replacing answers of another key).
    pub fn add(&self, key: &str, facts: Facts, needs: &[Need], ahead: bool) {
        let mut c = self.inner.lock().unwrap();
        if c.key != key {
            *c = Cached {
                key: key.to_string(),
                ..Default::default()
            };
        }
        c.facts.merge(facts);
        if ahead {
            c.unused.extend(needs.iter().cloned());
        }
    }

    /// Runs `f` on the facts of `key`, marking `needs` as used.
    pub fn with<T>(&self, key: &str, needs: &[Need], f: impl FnOnce(&Facts) -> T) -> T {
        let mut c = self.inner.lock().unwrap();
        if c.key != key {
            return f(&Facts::default());
        }
        let had = !c.unused.is_empty();
        for n in needs {
            c.unused.remove(n);
        }
        if had && c.unused.is_empty() {
            self.set_window(self.window() * 2);
        }
        f(&c.facts)
    }
}

// --- the trace of a read-ahead ---

impl FactCache {
    /// Keeps the execs of a read-ahead for the task that uses it first.
    pub fn keep_trace(&self, entries: Vec<(String, Output)>) {
        let mut t = self.trace.lock().unwrap();
        t.extend(
            entries
                .into_iter()
                .map(|(script, out)| (format!("(read ahead) {script}"), out)),
        );
    }

    /// The execs of read-aheads not shown yet.
    pub fn take_trace(&self) -> Vec<(String, Output)> {
        std::mem::take(&mut *self.trace.lock().unwrap())
    }
}

/// The become user and environment facts are read with: facts read under one
/// key answer only tasks of the same key.
pub fn context_key(become_user: Option<&str>, environment: &[(String, String)]) -> String {
    let mut k = become_user.unwrap_or("-").to_string();
    for (n, v) in environment {
        k.push('\n');
        k.push_str(n);
        k.push('=');
        k.push_str(v);
    }
    k
}

/// Answers `needs` in one exec on the task's host, as its become user, with its
/// environment. The script and its output go to the task's trace (`-v`).
pub async fn gather(env: &HostEnv<'_>, needs: &[Need]) -> Result<Facts, Fail> {
    let (secret, needs): (Vec<&Need>, Vec<&Need>) = needs
        .iter()
        .partition(|n| matches!(n, Need::SecretProbe(_)));
    let needs: Vec<Need> = needs.into_iter().cloned().collect();
    let mut facts = if needs.is_empty() {
        Facts::default()
    } else {
        gather_one(env, &needs).await?
    };
    for n in secret {
        if let Need::SecretProbe(p) = n {
            let out = env.run_stdin(&p.script, Some(p.stdin.clone())).await?;
            facts.secret_probes.insert(p.clone(), out);
        }
    }
    Ok(facts)
}

/// The needs but secret probes, in one exec.
async fn gather_one(env: &HostEnv<'_>, needs: &[Need]) -> Result<Facts, Fail> {
    let mut g = Gathering::plan(needs);
    let boundary = boundary();
    let (script, stdin) = g.script(&boundary);
    let cmd = env.command(&script, stdin);
    let out = env.conn.run(&cmd).await?;
    env.trace.lock().unwrap().push((
        format!("(facts: {} needs in one exec)\n{script}", needs.len()),
        out.clone(),
    ));
    let Some(outputs) = parse(&boundary, &out.stdout, &out.stderr, g.sections.len()) else {
        return fail::fail(format!(
            "reading the host's state failed (rc {}): {}",
            out.rc.map(|r| r.to_string()).unwrap_or("signal".into()),
            out.stderr_str().trim()
        ));
    };
    g.answers(outputs)
}

/// How a set of needs becomes one script.
struct Gathering {
    /// Shell code before the sections.
    prelude: String,
    /// Sections of the script, in order.
    sections: Vec<Section>,
    /// The interpreter's manifest (section 0): a here-document in the script,
    /// else the exec's stdin.
    manifest: Option<Vec<Op>>,
    /// Which probe each manifest item answers, in item order.
    items: Vec<Req>,
    epochs: Vec<String>,
    /// (path, section) of each listing; (script, section) of each probe.
    trees: Vec<(String, usize)>,
    probes: Vec<(String, usize)>,
    /// System facts (packages, units, accounts, crontabs): one section per kind.
    sys: Vec<(sysfacts::Section, usize)>,
    /// The git working copies, read in one section (which, if any).
    gits: Vec<GitReq>,
    git_section: Option<usize>,
}

impl Gathering {
    /// The one script, and the exec's stdin: none when the interpreter's
    /// manifest can go into the script as a here-document (then a long script
    /// can go on stdin itself: `transport::script_on_stdin`).
    fn script(&mut self, boundary: &str) -> (String, Option<Vec<u8>>) {
        let mut manifest = self.manifest.as_ref().map(|ops| remote_file::manifest(ops));
        if let Some(m) = &manifest
            && heredoc_safe(m, boundary)
            && self.sections[0].stdin.is_none()
        {
            self.sections[0].stdin = manifest.take();
        }
        let script = batch_script(boundary, &self.prelude, &self.sections, manifest.is_some());
        (script, manifest)
    }

    fn plan(needs: &[Need]) -> Gathering {
        let mut g = Gathering {
            prelude: String::new(),
            sections: Vec::new(),
            manifest: None,
            items: Vec::new(),
            epochs: Vec::new(),
            trees: Vec::new(),
            probes: Vec::new(),
            sys: Vec::new(),
            gits: Vec::new(),
            git_section: None,
        };
        let mut reqs = Vec::new();
        let mut any_file = false;
        for n in needs {
            match n {
                Need::Host => any_file = true,
                Need::Path(r) => {
                    any_file = true;
                    reqs.push(r.clone());
                }
                Need::Epoch(t) => {
                    any_file = true;
                    g.epochs.push(t.clone());
                }
                // a system need answered by stats (apt's clock and lists)
                n => {
                    for r in sysfacts::paths_of(n) {
                        any_file = true;
                        if !reqs.contains(&r) {
                            reqs.push(r);
                        }
                    }
                }
            }
        }
        if any_file {
            // a probe per odd path, one batch per `follow` for the rest
            let (mut ops, order) = remote_file::probe_ops(&reqs);
            g.items = order.into_iter().map(|i| reqs[i].clone()).collect();
            ops.extend(g.epochs.iter().cloned().map(Op::Epoch));
            g.sections
                .push(Section::shared(remote_file::reader(), None));
            g.manifest = Some(ops);
        }
        for n in needs {
            match n {
                Need::Tree(p) => {
                    g.trees.push((p.clone(), g.sections.len()));
                    let ops = vec![Op::List(p.clone())];
                    g.sections.push(Section::shared(
                        remote_file::reader(),
                        Some(remote_file::manifest(&ops)),
                    ));
                }
                Need::Probe(s) => {
                    g.probes.push((s.clone(), g.sections.len()));
                    g.sections.push(if s.starts_with(protocol::SHARED_SHELL) {
                        Section::shared(s.clone(), None)
                    } else {
                        Section::own(s.clone(), None)
                    });
                }
                _ => {}
            }
        }
        let sys = sysfacts::plan(needs);
        if g.manifest.is_some() {
            g.prelude = sysfacts::sums_also(&sys);
        }
        for (section, code) in sys {
            g.sys.push((section, g.sections.len()));
            g.sections.push(Section::shared(code, None));
        }
        g.plan_gits(needs);
        g
    }

    fn answers(self, outputs: Vec<Output>) -> Result<Facts, Fail> {
        let mut facts = Facts::default();
        if let Some(ops) = &self.manifest {
            let run = remote_file::interpret(&outputs[0], ops)?;
            if run.items.len() != self.items.len() {
                return fail::fail(format!(
                    "{} paths probed, {} answered",
                    self.items.len(),
                    run.items.len()
                ));
            }
            for (req, st) in self.items.into_iter().zip(run.items.iter().cloned()) {
                facts.paths.insert(req, st);
            }
            for t in self.epochs {
                let v = run
                    .extra(&format!("epoch_{t}"))
                    .and_then(|v| v.trim().parse().ok());
                facts.epochs.insert(t, v);
            }
            facts.host = Some(run.host);
        }
        for (path, i) in self.trees {
            let ops = vec![Op::List(path.clone())];
            let run = remote_file::interpret(&outputs[i], &ops)?;
            facts.trees.insert(path, run.items);
        }
        for (script, i) in self.probes {
            facts.probes.insert(script, outputs[i].clone());
        }
        for (section, i) in self.sys {
            sysfacts::answer(section, &outputs[i], &mut facts.sys)?;
        }
        sysfacts::answer_paths(&mut facts.sys, &facts.paths);
        if let Some(i) = self.git_section {
            facts.gits = gitfacts::parse(&self.gits, &outputs[i])?;
        }
        Ok(facts)
    }
}

// --- deploy modules: git working copies, all in one section ---

impl Gathering {
    fn plan_gits(&mut self, needs: &[Need]) {
        for n in needs {
            if let Need::GitHead(r) = n
                && !self.gits.contains(r)
            {
                self.gits.push(r.clone());
            }
        }
        if !self.gits.is_empty() {
            self.git_section = Some(self.sections.len());
            self.sections
                .push(Section::shared(gitfacts::script(&self.gits), None));
        }
    }
}

/// Can this stdin go into a here-document? (Text, ending with a newline, without
/// the delimiter line.)
pub fn heredoc_safe(stdin: &[u8], delimiter: &str) -> bool {
    let Ok(text) = std::str::from_utf8(stdin) else {
        return false;
    };
    text.ends_with('\n') && !text.contains('\0') && !text.lines().any(|l| l == delimiter)
}

pub(super) fn boundary() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!("{nanos}-{}-{:p}", std::process::id(), &nanos);
    let digest = content::sha256_hex(seed.as_bytes());
    format!("OPSCTL{}", &digest[..24])
}

/// A section of the gathering script.
#[derive(Debug, Clone)]
pub(super) struct Section {
    pub code: String,
    /// Its stdin, as a here-document.
    pub stdin: Option<Vec<u8>>,
    /// Runs in the script's own shell, as a function (no process), instead of
    /// a subshell of its own. Only for code written to that contract
    /// ([`protocol::SHARED_SHELL`]): it ends with `return`, never `exit`; it
    /// sets every variable before it reads one; it leaves the shell as it found
    /// it (no `cd`, `set -o`/`-f`, `IFS`, `trap`, `umask` or `export`).
    pub shared: bool,
}

impl Section {
    pub fn own(code: String, stdin: Option<Vec<u8>>) -> Section {
        Section {
            code,
            stdin,
            shared: false,
        }
    }

    pub fn shared(code: String, stdin: Option<Vec<u8>>) -> Section {
        Section {
            code,
            stdin,
            shared: true,
        }
    }
}

/// One script: each section in a subshell, or in the script's own shell as a
/// function when it is [`Section::shared`] (each subshell is a process: about
/// 0.3 ms of the host's CPU), with its stdin (a here-document; the exec's own
/// stdin for the first section without one, else /dev/null). Its stdout is
/// closed by a boundary line carrying the exit status; its stderr goes to the
/// exec's stderr, closed by a boundary line there too (after a first one that
/// separates what the login shell or sudo said before the script ran). No
/// temporary directory, no process but the sections' own.
pub(super) fn batch_script(
    b: &str,
    prelude: &str,
    sections: &[Section],
    first_reads_stdin: bool,
) -> String {
    let mut s = format!("printf '{b}-err\\n' >&2\n{prelude}");
    for (i, sec) in sections.iter().enumerate() {
        let code = &sec.code;
        let body = if sec.shared {
            s.push_str(&format!("opsctl_s{i}() {{\n{code}\n}}\n"));
            format!("opsctl_s{i}")
        } else if code.contains('\n') {
            format!("(\n{code}\n)")
        } else {
            code.clone()
        };
        match &sec.stdin {
            Some(data) => {
                let text = String::from_utf8_lossy(data);
                s.push_str(&format!("{body} <<'{b}'\n{text}{b}\n"));
            }
            None if i == 0 && first_reads_stdin => s.push_str(&format!("{body}\n")),
            None => s.push_str(&format!("{body} </dev/null\n")),
        }
        s.push_str(&format!(
            "printf '\\n{b} %s\\n' \"$?\"; printf '\\n{b}-err\\n' >&2\n"
        ));
    }
    s
}

/// Splits the batch's stdout and stderr back into one output per section;
/// `None` when they are not what the script prints.
pub(super) fn parse(b: &str, stdout: &[u8], stderr: &[u8], n: usize) -> Option<Vec<Output>> {
    let mut outs = Vec::with_capacity(n);
    let mut rest = stdout;
    let marker = format!("\n{b} ");
    for _ in 0..n {
        let at = find(rest, marker.as_bytes())?;
        let body = rest[..at].to_vec();
        rest = &rest[at + marker.len()..];
        let nl = rest.iter().position(|&c| c == b'\n')?;
        let rc: i32 = std::str::from_utf8(&rest[..nl]).ok()?.trim().parse().ok()?;
        rest = &rest[nl + 1..];
        outs.push(Output {
            // a command killed by a signal reports 128+N; treat it as such
            rc: (rc < 128).then_some(rc),
            stdout: body,
            stderr: Vec::new(),
        });
    }
    if !rest.is_empty() {
        return None;
    }
    // stderr: what came before the script, "B-err\n", then each section's
    // stderr followed by "\nB-err\n"
    let start = format!("{b}-err\n");
    let at = find(stderr, start.as_bytes())?;
    if at > 0 && stderr[at - 1] != b'\n' {
        return None;
    }
    let mut rest = &stderr[at + start.len()..];
    let end = format!("\n{b}-err\n");
    for out in &mut outs {
        let at = find(rest, end.as_bytes())?;
        out.stderr = rest[..at].to_vec();
        rest = &rest[at + end.len()..];
    }
    Some(outs)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `bin` directory under `root` with a `cmd` that logs each call (one
    /// line in the returned file) before it runs the real one.
    fn counted(root: &std::path::Path, cmd: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = root.join("bin");
        std::fs::create_dir(&dir).unwrap();
        let log = root.join("calls");
        let real = [format!("/usr/bin/{cmd}"), format!("/bin/{cmd}")]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap();
        let wrapper = dir.join(cmd);
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho x >> '{}'\nexec {real} \"$@\"\n",
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, log)
    }

    /// A link's target comes with the batch's one `stat` (`%N`), its real path
    /// from `cd -P` for a directory, else from one `readlink -f` for both
    /// batches of a read (links followed and not), counted by a `readlink`
    /// first on PATH; an op between the batches (it may change the link) makes
    /// the second batch read it again. Both answers are the real ones.
    #[test]
    fn a_link_in_both_batches_is_read_once() {
        use crate::modules::remote_file::{FType, Req};
        let t = tempfile::tempdir().unwrap();
        let (dir, log) = counted(t.path(), "readlink");
        let target = t.path().join("target");
        std::fs::create_dir(&target).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let l = link.to_str().unwrap();
        let batch = |follow: bool| Op::Batch {
            reqs: vec![Req::new(l).follow(follow)],
            follow,
        };
        let run = |ops: &[Op]| {
            let _ = std::fs::remove_file(&log);
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(
                    // a gathering's reader; the whole interpreter for a write op
                    if ops.iter().all(|o| matches!(o, Op::Batch { .. })) {
                        format!("f() {{\n{}\n}}\nf", remote_file::reader())
                    } else {
                        remote_file::interpreter(None)
                    },
                )
                .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin
                        .take()
                        .unwrap()
                        .write_all(&remote_file::manifest(ops))?;
                    c.wait_with_output()
                })
                .unwrap();
            let out = Output {
                rc: out.status.code(),
                stdout: out.stdout,
                stderr: Vec::new(),
            };
            let items = remote_file::interpret(&out, ops).unwrap().items;
            let calls = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .count();
            (items, calls)
        };
        let (items, calls) = run(&[batch(false), batch(true)]);
        assert_eq!(calls, 0);
        assert_eq!(
            (items[0].kind, items[1].kind),
            (FType::Link, FType::Directory)
        );
        for st in &items {
            assert!(st.is_link);
            assert_eq!(st.link_target.as_deref(), target.to_str());
            assert_eq!(st.realpath.as_deref(), target.to_str());
        }
        let between = Op::Chmod {
            path: target.to_str().unwrap().into(),
            mode: 0o755,
        };
        let (items, calls) = run(&[batch(false), between.clone(), batch(true)]);
        assert_eq!((calls, items.len()), (0, 2));
        // a link to a file, through a link to a directory: `readlink -f`
        let file = target.join("f");
        std::fs::write(&file, "x").unwrap();
        let flink = t.path().join("flink");
        std::os::unix::fs::symlink("link/f", &flink).unwrap();
        let fl = flink.to_str().unwrap();
        let fbatch = |follow: bool| Op::Batch {
            reqs: vec![Req::new(fl).follow(follow)],
            follow,
        };
        let (items, calls) = run(&[fbatch(false), fbatch(true)]);
        assert_eq!(calls, 1);
        let (_, calls) = run(&[fbatch(false), between.clone(), fbatch(true)]);
        assert_eq!(calls, 2);
        assert_eq!((items[0].kind, items[1].kind), (FType::Link, FType::File));
        for st in &items {
            assert_eq!(st.link_target.as_deref(), Some("link/f"));
            assert_eq!(st.realpath.as_deref(), file.to_str());
        }
    }

    /// The real path of a link to a directory, read with `cd -P`/`pwd -P`, is
    /// `readlink -f`'s: through relative links, `..`, a chain of links; a
    /// directory that cannot be entered and a dangling link go to readlink.
    #[test]
    fn a_link_to_a_directory_has_readlink_s_real_path() {
        use std::os::unix::fs::symlink;
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let real = base.join("releases/r1");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::create_dir_all(base.join("shut/in")).unwrap();
        symlink("releases/r1", base.join("rel")).unwrap();
        symlink("./releases/../releases/r1/", base.join("dots")).unwrap();
        symlink(base.join("rel"), base.join("chain")).unwrap();
        symlink(base.join("shut/in"), base.join("shut_link")).unwrap();
        symlink("nowhere/at/all", base.join("dangling")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(base.join("shut"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        for name in ["rel", "dots", "chain", "shut_link", "dangling"] {
            let p = base.join(name);
            let p = p.to_str().unwrap();
            let sh = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!(
                    "{}if opsctl_real \"$1\"; then echo rc=0; printf '%s\\n' \"$rp\"; else echo \"rc=$?\"; fi",
                    &remote_file::SCRIPT[..remote_file::SCRIPT.find("opsctl_probe() {").unwrap()]
                ))
                .arg("sh")
                .arg(p)
                .output()
                .unwrap();
            let rl = std::process::Command::new("readlink")
                .args(["-f", "--", p])
                .output()
                .unwrap();
            let want = format!(
                "rc={}\n{}",
                rl.status.code().unwrap(),
                String::from_utf8_lossy(&rl.stdout)
            );
            assert_eq!(String::from_utf8_lossy(&sh.stdout), want, "{name}");
        }
        std::fs::set_permissions(base.join("shut"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }

    /// A gathering run by a real `/bin/sh` on this machine, as `gather_one`
    /// sends it (the manifest in the script, or on stdin when it cannot be).
    fn gather_here(needs: &[Need]) -> (String, Facts) {
        gather_with_path(needs, &std::env::var("PATH").unwrap_or_default())
    }

    fn gather_with_path(needs: &[Need], path: &str) -> (String, Facts) {
        let mut g = Gathering::plan(needs);
        let b = boundary();
        let (script, m) = g.script(&b);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&m.unwrap_or_default())?;
                c.wait_with_output()
            })
            .unwrap();
        let outs = parse(&b, &out.stdout, &out.stderr, g.sections.len()).expect("parsed");
        (script, g.answers(outs).unwrap())
    }

    /// On a host without systemd, the files the units section hashes go into
    /// the file batch's one `sha256sum` (counted by a `sha256sum` first on
    /// PATH); the units read the same as with their own.
    #[test]
    fn units_hash_with_the_file_batch_without_systemd() {
        if std::path::Path::new("/run/systemd/system").exists() {
            eprintln!("skipped: systemd runs here, the units hash nothing");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (dir, log) = counted(t.path(), "sha256sum");
        let f = t.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", dir.display());
        let unit = Need::Unit {
            scope: "system".into(),
            name: "procps".into(),
        };
        let file = Need::Path(Req::new(f.to_str().unwrap()));
        let calls = || {
            let n = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .count();
            let _ = std::fs::remove_file(&log);
            n
        };
        let (alone_script, alone) = gather_with_path(std::slice::from_ref(&unit), &path);
        assert_eq!(calls(), 1, "{alone_script}");
        let (script, both) = gather_with_path(&[file.clone(), unit.clone()], &path);
        assert_eq!(calls(), 1, "{script}");
        assert!(script.contains("opsctl_also="), "{script}");
        assert_eq!(
            format!("{:?}", both.sys.units),
            format!("{:?}", alone.sys.units)
        );
        assert!(
            both.paths[&Req::new(f.to_str().unwrap())]
                .sha256()
                .is_some()
        );
    }

    /// apt's state: the clock (the mtime of `/proc/self/`, no `date`) is
    /// between a reading before and one after; the lists' age is the stamp's
    /// mtime, else the lists directory's, read in the same `stat` as the
    /// other paths: one `stat` in the whole script.
    #[test]
    fn apt_s_clock_and_lists_come_with_the_other_paths() {
        use std::time::{SystemTime, UNIX_EPOCH};
        let secs = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
        };
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, "x").unwrap();
        let needs = [
            Need::AptState,
            Need::Path(Req::new(f.to_str().unwrap())),
            Need::AptState,
        ];
        let before = secs();
        let (script, facts) = gather_here(&needs);
        let after = secs();
        assert_eq!(script.matches("stat --printf").count(), 1, "{script}");
        let apt = facts.sys.apt().unwrap();
        // procfs stamps the inode with the kernel's coarse clock, which may
        // lag the precise one by a tick: a second boundary can fall between
        assert!(
            before - 1 <= apt.now && apt.now <= after,
            "{before} {apt:?} {after}"
        );
        let mtime = |p: &str| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(p).ok().map(|m| m.mtime())
        };
        let want = mtime("/var/lib/apt/periodic/update-success-stamp")
            .or_else(|| mtime("/var/lib/apt/lists"));
        assert_eq!(apt.cache_mtime, want);
        assert!(facts.paths.contains_key(&Req::new(f.to_str().unwrap())));
    }

    /// The script run by a real `/bin/sh`: each section's stdout, stderr and exit
    /// status come back apart, whatever the login shell said before it.
    #[test]
    fn batch_script_splits_back_into_sections() {
        let b = boundary();
        let own =
            |code: &str, stdin: Option<&[u8]>| Section::own(code.into(), stdin.map(<[u8]>::to_vec));
        let sections = vec![
            own("read -r l; echo \"got $l\"; echo warn >&2", None),
            own(
                "printf 'no newline'; printf 'err no newline' >&2\nexit 3",
                None,
            ),
            own("cat", Some(b"line 1\nline 2\n")),
            own(
                &format!("echo '{b}-err'; echo x >&2; sh -c 'kill -9 $$'"),
                None,
            ),
            own("true", None),
            // in the script's own shell: its status, its output, no stdin
            Section::shared(
                "x=shared\nset -- a b\necho \"$x $#\"; echo e >&2\ncat\nreturn 4".into(),
                None,
            ),
            Section::shared(
                "echo \"still $x $#\"\nwhile read -r l; do echo \"$l\"; done\nfalse".into(),
                Some(b"in\n".to_vec()),
            ),
        ];
        let script = batch_script(&b, "", &sections, true);
        assert!(!script.contains("mktemp"), "{script}");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("echo 'said before' >&2\n{script}"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b"manifest\n")?;
                c.wait_with_output()
            })
            .unwrap();
        let outs = parse(&b, &out.stdout, &out.stderr, sections.len()).expect("parsed");
        let mut got: Vec<(Option<i32>, String, String)> = outs
            .iter()
            .map(|o| (o.rc, o.stdout_str(), o.stderr_str()))
            .collect();
        // after it, the shell's own word on the killed process ("Killed")
        assert!(got[3].2.starts_with("x\n"), "{got:?}");
        got[3].2.truncate(2);
        let s = |x: &str| x.to_string();
        assert_eq!(
            got,
            vec![
                (Some(0), s("got manifest\n"), s("warn\n")),
                (Some(3), s("no newline"), s("err no newline")),
                (Some(0), s("line 1\nline 2\n"), s("")),
                (None, format!("{b}-err\n"), s("x\n")),
                (Some(0), s(""), s("")),
                (Some(4), s("shared 2\n"), s("e\n")),
                (Some(1), s("still shared 0\nin\n"), s("")),
            ]
        );
        // two of the seven sections are functions of the script's shell
        assert_eq!(script.matches("() {\n").count(), 2, "{script}");
        // a script that did not run to its end is not taken for one that did
        assert!(parse(&b, &out.stdout, &out.stderr, sections.len() + 1).is_none());
        let cut = &out.stderr[..out.stderr.len() - 3];
        assert!(parse(&b, &out.stdout, cut, sections.len()).is_none());
        assert!(parse(&b, &out.stdout, b"", sections.len()).is_none());
    }
}
