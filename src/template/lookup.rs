//! Ansible's `lookup()` and `query()` / `q()`: values from the controller, read
//! while templating. Implemented: `env`, `file`, `fileglob`, `first_found`, `pipe`,
//! `vars`, `items`/`list`. Relative paths are looked up like Ansible's: the task's
//! role (`role_path`/files, `role_path`), then the playbook's directory
//! (`playbook_dir`/files, `playbook_dir`).

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Rest};
use minijinja::{Error, ErrorKind, State, Value};

const PLUGINS: &[&str] = &[
    "env",
    "file",
    "fileglob",
    "first_found",
    "items",
    "list",
    "pipe",
    "vars",
];

/// The lookup plugins implemented (`lookup()`, `query()`, `with_<name>`).
pub fn names() -> &'static [&'static str] {
    PLUGINS
}

pub fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

/// Stderr kept of a `pipe` command (for its error message); the rest is read and dropped.
const PIPE_STDERR_KEPT: u64 = 64 << 10;

/// Runs a `pipe` command, reading at most the output bound from its stdout: a
/// command that prints more is killed (the child we started) and is an error.
fn pipe(cmd: &str) -> Result<std::process::Output, Error> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let max = super::limits::limits().max_output;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("lookup('pipe', '{cmd}'): {e}")))?;
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = (&mut stderr).take(PIPE_STDERR_KEPT).read_to_end(&mut kept);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        kept
    });
    let mut stdout = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("piped")
        .take(max as u64 + 1)
        .read_to_end(&mut stdout);
    if read.is_ok() && stdout.len() > max {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| err(format!("lookup('pipe', '{cmd}'): {e}")))?;
    let stderr = errors.join().unwrap_or_default();
    read.map_err(|e| err(format!("lookup('pipe', '{cmd}'): {e}")))?;
    if stdout.len() > max {
        use super::limits::{OUTPUT_VAR, SIZE_MARK, bytes};
        return Err(err(format!(
            "lookup('pipe', '{cmd}') {SIZE_MARK} more than {} of output (the limit of {OUTPUT_VAR}): the command was stopped",
            bytes(max)
        )));
    }
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// A `file` lookup reads files no larger than the output bound.
fn check_file_size(path: &Path) -> Result<(), Error> {
    match std::fs::metadata(path) {
        Ok(m) => super::limits::check_size(
            &format!("lookup('file', '{}')", path.display()),
            m.len() as u128,
        ),
        Err(_) => Ok(()), // reading it reports the error
    }
}

/// `ansible.builtin.env` is `env`.
fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// `lookup(name, terms...)`: one value, or the values joined by commas (Ansible's
/// default), or a list with `wantlist=True`.
fn lookup(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let wantlist: Option<bool> = kwargs.get("wantlist")?;
    let values = run(state, &name, &terms, &kwargs)?;
    if wantlist == Some(true) || matches!(short_name(&name), "items" | "list") {
        return Ok(Value::from(values));
    }
    Ok(match values.len() {
        1 => values.into_iter().next().unwrap_or_default(),
        _ => Value::from(
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    })
}

/// `query(name, terms...)` / `q(...)`: always a list.
fn query(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let _: Option<bool> = kwargs.get("wantlist")?;
    Ok(Value::from(run(state, &name, &terms, &kwargs)?))
}

fn run(state: &State, name: &str, terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let terms = flatten(terms);
    let name = short_name(name);
    let out = match name {
        "env" => {
            let default: Option<Value> = kwargs.get("default")?;
            terms
                .iter()
                .map(|t| match std::env::var(t.to_string()) {
                    Ok(v) => Value::from(v),
                    Err(_) => default.clone().unwrap_or_else(|| Value::from("")),
                })
                .collect()
        }
        "file" => {
            let rstrip: Option<bool> = kwargs.get("rstrip")?;
            let lstrip: Option<bool> = kwargs.get("lstrip")?;
            let mut out = Vec::new();
            for t in &terms {
                let path = find(state, &t.to_string(), "files")
                    .ok_or_else(|| not_found(state, "file", &t.to_string(), "files"))?;
                check_file_size(&path)?;
                let text = crate::yaml::read_text(&path)
                    .map_err(|e| err(format!("lookup('file'): {}", e)))?;
                let mut s = text.as_str();
                if rstrip.unwrap_or(true) {
                    s = s.trim_end();
                }
                if lstrip.unwrap_or(false) {
                    s = s.trim_start();
                }
                out.push(Value::from(s));
            }
            out
        }
        "fileglob" => {
            let mut out = Vec::new();
            for t in &terms {
                out.extend(fileglob(state, &t.to_string()).into_iter().map(Value::from));
            }
            out
        }
        "first_found" => {
            let files: Option<Value> = kwargs.get("files")?;
            let paths: Option<Value> = kwargs.get("paths")?;
            let skip: Option<bool> = kwargs.get("skip")?;
            let mut names: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
            if let Some(f) = files {
                names.extend(flatten(&[f]).iter().map(|v| v.to_string()));
            }
            let dirs: Vec<String> = paths
                .map(|p| flatten(&[p]).iter().map(|v| v.to_string()).collect())
                .unwrap_or_default();
            let mut candidates = Vec::new();
            for n in &names {
                if dirs.is_empty() || Path::new(n).is_absolute() {
                    candidates.push(n.clone());
                } else {
                    candidates.extend(dirs.iter().map(|d| format!("{d}/{n}")));
                }
            }
            match candidates.iter().find_map(|c| find(state, c, "files")) {
                Some(p) => vec![Value::from(p.display().to_string())],
                None if skip == Some(true) => vec![],
                None => {
                    return Err(err(format!(
                        "lookup('first_found'): none of {} exists (searched {})",
                        candidates.join(", "),
                        search_dirs(state, "files")
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        "pipe" => {
            let mut out = Vec::new();
            for t in &terms {
                let cmd = t.to_string();
                let o = pipe(&cmd)?;
                if !o.status.success() {
                    return Err(err(format!(
                        "lookup('pipe', '{cmd}') exited with {}: {}",
                        o.status.code().unwrap_or(-1),
                        String::from_utf8_lossy(&o.stderr).trim()
                    )));
                }
                out.push(Value::from(
                    String::from_utf8_lossy(&o.stdout).trim_end().to_string(),
                ));
            }
            out
        }
        "vars" => {
            let default: Option<Value> = kwargs.get("default")?;
            let mut out = Vec::new();
            for t in &terms {
                let name = t.to_string();
                match state.lookup(&name).filter(|v| !v.is_undefined()) {
                    Some(v) => out.push(v),
                    None => match &default {
                        Some(d) => out.push(d.clone()),
                        None => {
                            return Err(Error::new(
                                ErrorKind::UndefinedError,
                                format!("lookup('vars', '{name}'): '{name}' is undefined"),
                            ));
                        }
                    },
                }
            }
            out
        }
        "items" | "list" => terms,
        other => {
            use crate::compat::{Kind, Name, plugin};
            if let Name::Known(fqcn) = plugin(Kind::Lookup, other, |_| false) {
                return Err(err(format!(
                    "opsctl does not implement the lookup '{other}' ({fqcn}); opsctl has: {}",
                    PLUGINS.join(", ")
                )));
            }
            let near = crate::names::nearest_name(other, PLUGINS.iter().copied());
            return Err(err(format!(
                "unknown lookup plugin '{other}'{}; opsctl has: {}",
                near.map(|n| format!(" (did you mean '{n}'?)"))
                    .unwrap_or_default(),
                PLUGINS.join(", ")
            )));
        }
    };
    kwargs.assert_all_used()?;
    Ok(out)
}

fn err(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// Terms as given, with lists spread (`lookup('file', ['a', 'b'])`).
fn flatten(terms: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in terms {
        if t.kind() == minijinja::value::ValueKind::Seq
            && let Ok(it) = t.try_iter()
        {
            out.extend(it);
            continue;
        }
        out.push(t.clone());
    }
    out
}

fn var_path(state: &State, name: &str) -> Option<PathBuf> {
    state
        .lookup(name)
        .filter(|v| !v.is_undefined() && !v.is_none())
        .map(|v| PathBuf::from(v.to_string()))
}

/// Ansible's search order for a relative path of a lookup.
fn search_dirs(state: &State, sub: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["role_path", "playbook_dir"] {
        if let Some(d) = var_path(state, var) {
            dirs.push(d.join(sub));
            dirs.push(d);
        }
    }
    if dirs.is_empty() {
        dirs.push(std::env::current_dir().unwrap_or_default());
    }
    dirs.dedup();
    dirs
}

fn find(state: &State, name: &str, sub: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    search_dirs(state, sub)
        .into_iter()
        .map(|d| d.join(p))
        .find(|c| c.is_file())
}

fn not_found(state: &State, plugin: &str, name: &str, sub: &str) -> Error {
    err(format!(
        "lookup('{plugin}'): could not find {name} (searched {})",
        search_dirs(state, sub)
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Files (not directories) matching a pattern with `*`, `?` and `[...]` in its
/// last component; a relative pattern is looked up in the `files` search path,
/// and the first directory with matches wins (as Ansible's fileglob does).
fn fileglob(state: &State, pattern: &str) -> Vec<String> {
    let p = Path::new(pattern);
    let (dir, file_pat) = match (p.parent(), p.file_name()) {
        (Some(d), Some(f)) => (d.to_path_buf(), f.to_string_lossy().into_owned()),
        _ => return vec![],
    };
    let dirs: Vec<PathBuf> = if p.is_absolute() {
        vec![dir]
    } else {
        search_dirs(state, "files")
            .into_iter()
            .map(|d| d.join(&dir))
            .collect()
    };
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut found: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_file())
            .filter(|e| wildcard(&file_pat, &e.file_name().to_string_lossy()))
            .map(|e| e.path().display().to_string())
            .collect();
        if !found.is_empty() {
            found.sort();
            return found;
        }
    }
    vec![]
}

/// fnmatch: `*`, `?`, `[abc]`, `[!abc]`, `[a-z]`.
fn wildcard(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(2).position(|&c| c == ']').map(|i| i + 2) else {
                    return t.first() == Some(&'[') && go(&p[1..], &t[1..]);
                };
                let Some(&c) = t.first() else { return false };
                let (neg, set) = match p[1] {
                    '!' | '^' => (true, &p[2..end]),
                    _ => (false, &p[1..end]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[end + 1..], &t[1..])
            }
            Some(&c) => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Templar;

    fn render(src: &str, ctx: Value) -> Result<String, String> {
        let t = Templar::new();
        t.env().render_str(src, ctx).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*.conf", "a.conf"));
        assert!(!wildcard("*.conf", "a.conf.bak"));
        assert!(wildcard("site-?.j2", "site-a.j2"));
        assert!(wildcard("[a-c]x", "bx"));
        assert!(!wildcard("[!a-c]x", "bx"));
    }

    #[test]
    fn file_fileglob_and_first_found_search_role_then_playbook() {
        let d = tempfile::tempdir().unwrap();
        let role = d.path().join("roles/web");
        std::fs::create_dir_all(role.join("files")).unwrap();
        std::fs::write(role.join("files/key.pub"), "ssh-ed25519 AAA me\n\n").unwrap();
        std::fs::write(d.path().join("motd"), "hello\n").unwrap();
        std::fs::write(role.join("files/a.conf"), "").unwrap();
        std::fs::write(role.join("files/b.conf"), "").unwrap();
        let ctx = minijinja::context! {
            role_path => role.display().to_string(),
            playbook_dir => d.path().display().to_string(),
        };
        assert_eq!(
            render(
                "{{ lookup('file', 'key.pub') }}|{{ lookup('file', 'motd') }}",
                ctx.clone()
            )
            .unwrap(),
            "ssh-ed25519 AAA me|hello"
        );
        let globbed = render(
            "{{ query('fileglob', '*.conf') | map('basename') | join(',') }}",
            ctx.clone(),
        )
        .unwrap();
        assert_eq!(globbed, "a.conf,b.conf");
        assert!(
            render(
                "{{ lookup('first_found', ['nope.yml', 'motd']) }}",
                ctx.clone()
            )
            .unwrap()
            .ends_with("/motd")
        );
        let e = render("{{ lookup('file', 'missing.txt') }}", ctx.clone()).unwrap_err();
        assert!(
            e.contains("could not find missing.txt") && e.contains("roles/web/files"),
            "{e}"
        );
    }

    #[test]
    fn env_pipe_vars_items_and_unknown() {
        let ctx = minijinja::context! { a => 1, b => "x" };
        assert_eq!(
            render(
                "{{ lookup('env', 'OPSCTL_SURELY_UNSET_VAR', default='d') }}",
                ctx.clone()
            )
            .unwrap(),
            "d"
        );
        assert_eq!(
            render("{{ lookup('pipe', 'echo hi; echo') }}", ctx.clone()).unwrap(),
            "hi"
        );
        assert!(
            render("{{ lookup('pipe', 'exit 3') }}", ctx.clone())
                .unwrap_err()
                .contains("exited with 3")
        );
        assert_eq!(
            render("{{ lookup('vars', 'b') }}", ctx.clone()).unwrap(),
            "x"
        );
        assert_eq!(
            render("{{ q('items', [1, 2], 3) | length }}", ctx.clone()).unwrap(),
            "3"
        );
        assert_eq!(
            render(
                "{{ lookup('env', 'HOME', 'HOME', wantlist=True) | length }}",
                ctx.clone()
            )
            .unwrap(),
            "2"
        );
        let e = render("{{ lookup('fil', 'x') }}", ctx).unwrap_err();
        assert!(e.contains("did you mean 'file'"), "{e}");
    }
}
