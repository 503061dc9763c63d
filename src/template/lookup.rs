//! Ansible's `lookup()` and `query()` / `q()`: values from the controller, read
//! while templating, and the `with_<lookup>` loops (the engine calls
//! `query('<lookup>', *terms)`). Implemented: `dict`, `env`, `file`, `fileglob`,
//! `first_found`, `flattened`, `indexed_items`, `inventory_hostnames`,
//! `items`, `lines`, `list`, `nested`, `pipe`, `sequence`, `subelements`,
//! `together`, `vars`, `varnames`. Relative paths are looked up like Ansible's: the task's
//! role (`role_path`/<subdir>, `role_path`), then the playbook's directory
//! (`playbook_dir`/<subdir>, `playbook_dir`), where <subdir> is `files` (or,
//! for a `with_first_found` loop, `templates`/`vars` as the task's module
//! says: the engine passes it as `_subdir`).

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};

pub(crate) const PLUGINS: &[&str] = &[
    "dict",
    "env",
    "file",
    "fileglob",
    "first_found",
    "flattened",
    "indexed_items",
    "inventory_hostnames",
    "items",
    "lines",
    "list",
    "nested",
    "pipe",
    "sequence",
    "subelements",
    "together",
    "varnames",
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
fn pipe(plugin: &str, cmd: &str) -> Result<String, Error> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let max = super::limits::limits().max_output;
    let what = format!("lookup('{plugin}', '{cmd}')");
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("{what}: {e}")))?;
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
    let status = child.wait().map_err(|e| err(format!("{what}: {e}")))?;
    let stderr = errors.join().unwrap_or_default();
    read.map_err(|e| err(format!("{what}: {e}")))?;
    if stdout.len() > max {
        use super::limits::{OUTPUT_VAR, SIZE_MARK, bytes};
        return Err(err(format!(
            "{what} {SIZE_MARK} more than {} of output (the limit of {OUTPUT_VAR}): the command was stopped",
            bytes(max)
        )));
    }
    if !status.success() {
        return Err(err(format!(
            "{what} exited with {}: {}",
            status.code().unwrap_or(-1),
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
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

/// `lookup(name, terms...)`: one value, or the values joined by commas (Ansible's
/// default), or a list with `wantlist=True`.
fn lookup(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let wantlist: Option<bool> = kwargs.get("wantlist")?;
    let values = run(state, &name, &terms, &kwargs)?;
    let listy = matches!(
        short(&name),
        "items"
            | "list"
            | "nested"
            | "together"
            | "subelements"
            | "dict"
            | "indexed_items"
            | "flattened"
    );
    if wantlist == Some(true) || listy {
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

/// `ansible.builtin.nested` and `community.general.flattened` are `nested` and
/// `flattened`.
fn short(name: &str) -> &str {
    for prefix in ["ansible.builtin.", "ansible.legacy.", "community.general."] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest;
        }
    }
    name
}

/// Runs a lookup; `errors='ignore'` (or `'warn'`) turns its failure into no
/// values, as Ansible's generic lookup option does.
fn run(state: &State, name: &str, raw: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let errors: Option<String> = kwargs.get("errors")?;
    match errors.as_deref() {
        None | Some("strict") => run_plugin(state, name, raw, kwargs),
        Some("ignore" | "warn") => {
            let out = run_plugin(state, name, raw, kwargs);
            if out
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::UndefinedError)
            {
                return out;
            }
            Ok(out.unwrap_or_default())
        }
        Some(other) => Err(err(format!(
            "lookup('{name}'): errors='{other}' is not one of strict, warn, ignore"
        ))),
    }
}

fn run_plugin(
    state: &State,
    name: &str,
    raw: &[Value],
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    let subdir: Option<String> = kwargs.get("_subdir")?;
    let sub = subdir.as_deref().unwrap_or("files");
    let terms = flatten(raw);
    let out = match short(name) {
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
                let path = find(state, &t.to_string(), sub)
                    .ok_or_else(|| not_found(state, "file", &t.to_string(), sub))?;
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
                out.extend(
                    fileglob(state, &t.to_string(), sub)
                        .into_iter()
                        .map(Value::from),
                );
            }
            out
        }
        "first_found" => first_found(state, raw, kwargs, sub)?,
        "pipe" => {
            let mut out = Vec::new();
            for t in &terms {
                out.push(Value::from(pipe("pipe", &t.to_string())?.trim_end()));
            }
            out
        }
        "lines" => {
            let mut out = Vec::new();
            for t in &terms {
                out.extend(pipe("lines", &t.to_string())?.lines().map(Value::from));
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
        "varnames" => varnames(state, &terms)?,
        "items" => terms,
        "list" => raw.to_vec(),
        "flattened" => flattened(raw),
        "nested" => nested(raw)?,
        "together" => together(raw)?,
        "dict" => dict_items(raw)?,
        "indexed_items" => terms
            .into_iter()
            .enumerate()
            .map(|(i, v)| Value::from(vec![Value::from(i), v]))
            .collect(),
        "subelements" => subelements(raw)?,
        "sequence" => sequence(raw, kwargs)?,
        "inventory_hostnames" => inventory_hostnames(state, &terms)?,
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

/// `first_found`: the first file of `files` (in each of `paths`) that exists.
/// A term is a file name (split on `,` and `;`), a mapping with `files`,
/// `paths` and `skip`, or a list of those; `files`/`paths`/`skip` may also be
/// keyword arguments (the defaults of the string terms).
fn first_found(
    state: &State,
    raw: &[Value],
    kwargs: &Kwargs,
    sub: &str,
) -> Result<Vec<Value>, Error> {
    let kw_files: Option<Value> = kwargs.get("files")?;
    let kw_paths: Option<Value> = kwargs.get("paths")?;
    let kw_skip: Option<bool> = kwargs.get("skip")?;
    let mut skip = kw_skip.unwrap_or(false);
    let mut terms = raw.to_vec();
    if terms.is_empty()
        && let Some(f) = &kw_files
    {
        terms.push(f.clone());
    }
    let split = |v: Option<&Value>, seps: &[char]| -> Vec<String> {
        let Some(v) = v.filter(|v| !v.is_undefined() && !v.is_none()) else {
            return Vec::new();
        };
        let items = if v.kind() == ValueKind::Seq {
            v.try_iter().map(|i| i.collect()).unwrap_or_default()
        } else {
            vec![v.clone()]
        };
        items
            .iter()
            .flat_map(|i| {
                i.to_string()
                    .split(seps)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let kw_pathlist = split(kw_paths.as_ref(), &[',', ':', ';']);
    let mut candidates: Vec<String> = Vec::new();
    let mut pending: Vec<Value> = terms.into_iter().rev().collect();
    while let Some(term) = pending.pop() {
        let (files, paths) = match term.kind() {
            ValueKind::Map => {
                for key in term.try_iter()? {
                    let k = key.to_string();
                    if !["files", "paths", "skip"].contains(&k.as_str()) {
                        return Err(err(format!(
                            "lookup('first_found'): unknown option '{k}' (the options are files, paths and skip)"
                        )));
                    }
                }
                let s = term.get_attr("skip")?;
                if !s.is_undefined() && !s.is_none() {
                    skip = s.is_true();
                }
                (
                    split(Some(&term.get_attr("files")?), &[',', ';']),
                    split(Some(&term.get_attr("paths")?), &[',', ':', ';']),
                )
            }
            ValueKind::Seq => {
                let inner: Vec<Value> = term.try_iter()?.collect();
                pending.extend(inner.into_iter().rev());
                continue;
            }
            ValueKind::String => (split(Some(&term), &[',', ';']), kw_pathlist.clone()),
            _ => {
                return Err(err(format!(
                    "lookup('first_found'): a term is a file name, a list or a mapping with files and paths, found {term}"
                )));
            }
        };
        if paths.is_empty() {
            candidates.extend(files);
        } else {
            for d in &paths {
                candidates.extend(files.iter().map(|f| {
                    if Path::new(f).is_absolute() {
                        f.clone()
                    } else {
                        format!("{}/{f}", d.trim_end_matches('/'))
                    }
                }));
            }
        }
    }
    match candidates.iter().find_map(|c| find(state, c, sub)) {
        Some(p) => Ok(vec![Value::from(p.display().to_string())]),
        None if skip => Ok(vec![]),
        None => Err(err(format!(
            "lookup('first_found'): no file was found: none of {} exists (relative names searched in {}); add the file, or skip: true",
            if candidates.is_empty() {
                "(no files given)".to_string()
            } else {
                candidates.join(", ")
            },
            search_dirs(state, sub)
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn is_seq(v: &Value) -> bool {
    v.kind() == ValueKind::Seq
}

fn items_of(v: &Value) -> Vec<Value> {
    v.try_iter().map(|i| i.collect()).unwrap_or_default()
}

/// A term as a list: a list as it is, anything else a list of one.
fn listify(v: &Value) -> Vec<Value> {
    if is_seq(v) {
        items_of(v)
    } else {
        vec![v.clone()]
    }
}

/// `flattened`: every list flattened, recursively; a `None`/`null` string ends it.
fn flattened(terms: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for term in terms {
        let mut term = term.clone();
        while is_seq(&term) && term.len() == Some(1) {
            term = items_of(&term).remove(0);
        }
        if term.as_str().is_some_and(|s| s == "None" || s == "null") {
            break;
        }
        if is_seq(&term) {
            out.extend(flattened(&items_of(&term)));
        } else {
            out.push(term);
        }
    }
    out
}

/// `nested`: the product of the lists, each combination a flat list.
fn nested(terms: &[Value]) -> Result<Vec<Value>, Error> {
    let Some((first, rest)) = terms.split_first() else {
        return Err(err(
            "with_nested requires at least one element in the nested list".into(),
        ));
    };
    let mut result: Vec<Vec<Value>> = listify(first).into_iter().map(|x| flatten(&[x])).collect();
    for list in rest {
        let list = listify(list);
        let mut next = Vec::with_capacity(result.len() * list.len());
        for x in &result {
            for y in &list {
                let mut combo = x.clone();
                combo.extend(flatten(std::slice::from_ref(y)));
                next.push(combo);
            }
        }
        result = next;
    }
    Ok(result.into_iter().map(Value::from).collect())
}

/// `together`: the lists side by side, the shorter ones padded with None.
fn together(terms: &[Value]) -> Result<Vec<Value>, Error> {
    if terms.is_empty() {
        return Err(err(
            "with_together requires at least one element in each list".into(),
        ));
    }
    let lists: Vec<Vec<Value>> = terms.iter().map(listify).collect();
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..n)
        .map(|i| {
            let row: Vec<Value> = lists
                .iter()
                .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                .collect();
            Value::from(flatten(&row))
        })
        .collect())
}

/// `dict`: each mapping's entries as `{key, value}`.
fn dict_items(terms: &[Value]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        if t.kind() != ValueKind::Map {
            return Err(err(format!(
                "with_dict expects a dict, got {} ({t}); use loop with dict2items, or give a mapping",
                t.kind()
            )));
        }
        for k in t.try_iter()? {
            let v = t.get_item(&k)?;
            out.push(Value::from_pairs([
                (Value::from("key"), k),
                (Value::from("value"), v),
            ]));
        }
    }
    Ok(out)
}

/// `subelements`: `[list of mappings, "key.subkey", {skip_missing: bool}]` gives
/// `[element, subitem]` pairs (the element without the subkey, as Ansible).
fn subelements(terms: &[Value]) -> Result<Vec<Value>, Error> {
    let usage = || {
        err("subelements lookup expects a list of two or three items: a list (or mapping) of mappings, the name of the subkey, and optionally {skip_missing: true}".into())
    };
    if !(2..=3).contains(&terms.len()) {
        return Err(usage());
    }
    let path: Vec<String> = match terms[1].as_str() {
        Some(s) => s.split('.').map(String::from).collect(),
        None => return Err(usage()),
    };
    let elements: Vec<Value> = match terms[0].kind() {
        ValueKind::Seq => items_of(&terms[0]),
        ValueKind::Map => {
            if terms[0].get_attr("skipped").is_ok_and(|s| s.is_true()) {
                return Ok(vec![]);
            }
            terms[0]
                .try_iter()?
                .map(|k| terms[0].get_item(&k))
                .collect::<Result<_, _>>()?
        }
        _ => return Err(usage()),
    };
    let mut skip_missing = false;
    if let Some(flags) = terms.get(2) {
        if flags.kind() != ValueKind::Map {
            return Err(usage());
        }
        for k in flags.try_iter()? {
            if k.as_str() != Some("skip_missing") {
                return Err(err(format!(
                    "subelements: unknown flag '{k}' (the one flag is skip_missing)"
                )));
            }
            skip_missing = flags.get_item(&k)?.is_true();
        }
    }
    let mut out = Vec::new();
    'elements: for item0 in elements {
        if item0.kind() != ValueKind::Map {
            return Err(err(format!(
                "subelements lookup expects a dictionary, got '{item0}'"
            )));
        }
        if item0.get_attr("skipped").is_ok_and(|s| s.is_true()) {
            continue;
        }
        let mut sub = item0.clone();
        for (i, key) in path.iter().enumerate() {
            let v = sub.get_attr(key)?;
            if v.is_undefined() {
                if skip_missing {
                    continue 'elements;
                }
                return Err(err(format!(
                    "could not find '{key}' key in iterated item '{sub}' (add skip_missing: true to skip such items)"
                )));
            }
            let last = i + 1 == path.len();
            if !last {
                if v.kind() != ValueKind::Map {
                    if skip_missing {
                        continue 'elements;
                    }
                    return Err(err(format!(
                        "the key {key} should point to a dictionary, got '{v}'"
                    )));
                }
                sub = v;
                continue;
            }
            if !is_seq(&v) {
                return Err(err(format!(
                    "the key {key} should point to a list, got '{v}'"
                )));
            }
            // The element as Ansible gives it: the (first-level) subkey popped.
            let shown = if path.len() == 1 {
                let entries: Vec<(Value, Value)> = item0
                    .try_iter()?
                    .filter(|k| k.as_str() != Some(key.as_str()))
                    .map(|k| {
                        let v = item0.get_item(&k).unwrap_or_default();
                        (k, v)
                    })
                    .collect();
                Value::from_pairs(entries)
            } else {
                item0.clone()
            };
            for item1 in items_of(&v) {
                out.push(Value::from(vec![shown.clone(), item1]));
            }
        }
    }
    Ok(out)
}

/// A number as Python's `int(x, 0)` reads it (`0x` hex, `0o`/`0` octal).
fn py_int(v: &Value) -> Option<i64> {
    if let Ok(i) = i64::try_from(v.clone()) {
        return Some(i);
    }
    let s = v.as_str()?.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = s.to_ascii_lowercase();
    let n = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else {
        lower.parse().ok()?
    };
    Some(if neg { -n } else { n })
}

#[derive(Clone, Default)]
struct Seq {
    start: Option<i64>,
    end: Option<i64>,
    count: Option<i64>,
    stride: Option<i64>,
    format: Option<String>,
}

impl Seq {
    fn set(&mut self, key: &str, v: &Value, term: &str) -> Result<(), Error> {
        let num = || {
            py_int(v).ok_or_else(|| {
                err(format!(
                    "with_sequence: {key}={v} is not an integer (in '{term}')"
                ))
            })
        };
        match key {
            "start" => self.start = Some(num()?),
            "end" => self.end = Some(num()?),
            "count" => self.count = Some(num()?),
            "stride" => self.stride = Some(num()?),
            "format" => self.format = Some(v.to_string()),
            other => {
                return Err(err(format!(
                    "unrecognized arguments to with_sequence: '{other}' (use start, end, count, stride, format)"
                )));
            }
        }
        Ok(())
    }

    /// `[start-]end[/stride][:format]`
    fn shortcut(&mut self, term: &str) -> Option<()> {
        let (nums, format) = match term.split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (term, None),
        };
        let (range, stride) = match nums.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (nums, None),
        };
        let (start, end) = match range.split_once('-') {
            Some((a, b)) => (Some(a), b),
            None => (None, range),
        };
        let num = |s: &str| {
            let ok = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == 'x' || c == 'X');
            ok.then(|| py_int(&Value::from(s))).flatten()
        };
        self.end = Some(num(end)?);
        if let Some(s) = start {
            self.start = Some(num(s)?);
        }
        if let Some(s) = stride {
            self.stride = Some(num(s)?);
        }
        if let Some(f) = format {
            self.format = Some(f.to_string());
        }
        Some(())
    }

    fn generate(self, term: &str) -> Result<Vec<Value>, Error> {
        let mut start = self.start.unwrap_or(1);
        let mut stride = self.stride.unwrap_or(1);
        let format = self.format.unwrap_or_else(|| "%d".into());
        let end = match (self.count, self.end) {
            (None, None) => {
                return Err(err(format!(
                    "must specify count or end in with_sequence ('{term}')"
                )));
            }
            (Some(_), Some(_)) => {
                return Err(err(format!(
                    "can't specify both count and end in with_sequence ('{term}')"
                )));
            }
            (Some(0), None) => {
                start = 0;
                stride = 0;
                0
            }
            (Some(c), None) => start + c * stride - 1,
            (None, Some(e)) => e,
        };
        if stride > 0 && end < start {
            return Err(err(format!(
                "to count backwards make stride negative ('{term}')"
            )));
        }
        if stride < 0 && end > start {
            return Err(err(format!(
                "to count forward don't make stride negative ('{term}')"
            )));
        }
        if format.matches('%').count() != 1 {
            return Err(err(format!("bad formatting string: {format}")));
        }
        let mut out = Vec::new();
        if stride == 0 {
            return Ok(out);
        }
        let max = super::limits::limits().max_output;
        let mut i = start;
        while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
            out.push(Value::from(printf_int(&format, i)?));
            if out.len() > max {
                return Err(err(format!(
                    "with_sequence '{term}' gives more than {max} items"
                )));
            }
            i += stride;
        }
        Ok(out)
    }
}

/// `sequence`: numbers from `start` to `end` (or `count` of them) by `stride`,
/// each formatted with `format` (printf-style); terms are `k=v` strings,
/// `[start-]end[/stride][:format]` shortcuts or mappings, keyword arguments
/// the defaults.
fn sequence(terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let mut base = Seq::default();
    for key in ["start", "end", "count", "stride", "format"] {
        let v: Option<Value> = kwargs.get(key)?;
        if let Some(v) = v {
            base.set(key, &v, "keyword arguments")?;
        }
    }
    let mut terms = terms.to_vec();
    if terms.is_empty() {
        terms.push(Value::from(""));
    }
    let mut out = Vec::new();
    for term in flatten(&terms) {
        let mut seq = base.clone();
        let shown = term.to_string();
        if term.kind() == ValueKind::Map {
            for k in term.try_iter()? {
                seq.set(&k.to_string(), &term.get_item(&k)?, &shown)?;
            }
        } else if shown.contains('=') {
            for part in shown.split_whitespace() {
                let Some((k, v)) = part.split_once('=') else {
                    return Err(err(format!(
                        "with_sequence: '{part}' is not key=value (in '{shown}')"
                    )));
                };
                seq.set(k, &Value::from(v), &shown)?;
            }
        } else if !shown.trim().is_empty() && seq.shortcut(shown.trim()).is_none() {
            return Err(err(format!(
                "with_sequence: cannot parse '{shown}': write start=1 end=10 stride=1 format=%d, or [start-]end[/stride][:format]"
            )));
        }
        out.extend(seq.generate(&shown)?);
    }
    Ok(out)
}

/// Python's `format % i` for one integer conversion (`%d`, `%05d`, `%x`...).
fn printf_int(format: &str, i: i64) -> Result<String, Error> {
    let (before, rest) = format.split_once('%').unwrap_or((format, ""));
    let conv_at = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| err(format!("bad formatting string: {format}")))?;
    let (spec, after) = rest.split_at(conv_at);
    let conv = after.chars().next().unwrap_or('d');
    let after = &after[1..];
    let left = spec.contains('-');
    let zero = spec.starts_with('0') || spec.contains("+0") || spec.contains(" 0");
    let plus = spec.contains('+');
    let width: usize = spec
        .trim_start_matches(['-', '+', ' ', '0', '#'])
        .split('.')
        .next()
        .unwrap_or("")
        .parse()
        .unwrap_or(0);
    let digits = match conv {
        'd' | 'i' | 'u' | 's' => i.unsigned_abs().to_string(),
        'x' => format!("{:x}", i.unsigned_abs()),
        'X' => format!("{:X}", i.unsigned_abs()),
        'o' => format!("{:o}", i.unsigned_abs()),
        'f' | 'F' => format!("{:.6}", i.unsigned_abs() as f64),
        other => {
            return Err(err(format!(
                "bad formatting string: {format} (conversion '%{other}' is not for integers)"
            )));
        }
    };
    let sign = if i < 0 {
        "-"
    } else if plus {
        "+"
    } else {
        ""
    };
    let body_len = sign.len() + digits.len();
    let pad = width.saturating_sub(body_len);
    let body = if left {
        format!("{sign}{digits}{}", " ".repeat(pad))
    } else if zero {
        format!("{sign}{}{digits}", "0".repeat(pad))
    } else {
        format!("{}{sign}{digits}", " ".repeat(pad))
    };
    Ok(format!("{before}{body}{after}"))
}

/// `inventory_hostnames`: the hosts matching host patterns, from the run's
/// `groups`, with Ansible's pattern rules.
fn inventory_hostnames(state: &State, terms: &[Value]) -> Result<Vec<Value>, Error> {
    let groups = state
        .lookup("groups")
        .filter(|g| g.kind() == ValueKind::Map)
        .ok_or_else(|| {
            err("lookup('inventory_hostnames'): no inventory (groups is undefined)".into())
        })?;
    let mut inv = crate::inventory::Inventory::empty("groups");
    for g in groups.try_iter()? {
        let name = g.to_string();
        let hosts: Vec<String> = items_of(&groups.get_item(&g)?)
            .iter()
            .map(|h| h.to_string())
            .collect();
        for h in &hosts {
            inv.hosts
                .entry(h.clone())
                .or_insert_with(|| crate::inventory::Host {
                    name: h.clone(),
                    vars: Default::default(),
                    location: crate::location::Location::new("groups", 0, None),
                });
        }
        let group = inv
            .groups
            .entry(name.clone())
            .or_insert_with(|| crate::inventory::Group {
                name: name.clone(),
                hosts: Vec::new(),
                children: Vec::new(),
                vars: Default::default(),
                location: None,
                priority: 1,
            });
        group.hosts = hosts;
        group.children.clear();
    }
    let pattern = terms
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let hosts = inv
        .select(&pattern)
        .map_err(|e| err(format!("lookup('inventory_hostnames', '{pattern}'): {e}")))?;
    Ok(hosts.into_iter().map(Value::from).collect())
}

/// `varnames`: for each term, a Python regular expression searched in every
/// variable name of the host (its inventory and play variables, facts,
/// registered results, magic variables), the names that match in name order.
/// Ansible walks its variables dictionary, whose order is its merge order; the
/// names are sorted here so a play reads them the same on every run.
fn varnames(state: &State, terms: &[Value]) -> Result<Vec<Value>, Error> {
    let globals: std::collections::HashSet<&str> = state.env().globals().map(|g| g.0).collect();
    let names: Vec<String> = state
        .known_variables()
        .into_iter()
        .filter(|n| !globals.contains(n.as_ref()))
        .map(|n| n.into_owned())
        .collect();
    let mut out = Vec::new();
    for t in terms {
        let Some(term) = t.as_str() else {
            return Err(err(format!(
                "lookup('varnames', {t}): Invalid setting identifier, \"{t}\" is not a string, it is a {}",
                t.kind()
            )));
        };
        let re = super::pyregex::PyRegex::new(term, false, false).map_err(|e| {
            err(format!(
                "lookup('varnames', '{term}'): Unable to use \"{term}\" as a search parameter: {}",
                e.detail().unwrap_or("not a regular expression")
            ))
        })?;
        out.extend(
            names
                .iter()
                .filter(|n| re.is_match(n))
                .map(|n| Value::from(n.as_str())),
        );
    }
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
fn fileglob(state: &State, pattern: &str, sub: &str) -> Vec<String> {
    let p = Path::new(pattern);
    let (dir, file_pat) = match (p.parent(), p.file_name()) {
        (Some(d), Some(f)) => (d.to_path_buf(), f.to_string_lossy().into_owned()),
        _ => return vec![],
    };
    let dirs: Vec<PathBuf> = if p.is_absolute() {
        vec![dir]
    } else {
        search_dirs(state, sub)
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
    fn varnames_searches_the_variable_names() {
        let ctx = minijinja::context! {
            ssh_server_ports => [22], ssh_client_port => 22, sshd_path => "/usr/sbin/sshd",
            other => 1, my_ssh_x => 2,
        };
        assert_eq!(
            render("{{ query('varnames', '^ssh_') }}", ctx.clone()).unwrap(),
            "['ssh_client_port', 'ssh_server_ports']"
        );
        // a Python search (anywhere in the name), each term in turn, joined by lookup()
        assert_eq!(
            render(
                "{{ lookup('ansible.builtin.varnames', 'ssh_x$', '^oth') }}",
                ctx.clone()
            )
            .unwrap(),
            "my_ssh_x,other"
        );
        // template functions are not variables; {% set %} names are
        assert_eq!(
            render(
                "{% set range_ = 1 %}{{ q('varnames', 'range|lookup') }}",
                ctx.clone()
            )
            .unwrap(),
            "['range_']"
        );
        assert_eq!(
            render("{{ q('varnames', 'nomatch') }}", ctx.clone()).unwrap(),
            "[]"
        );
        let bad = render("{{ q('varnames', '(') }}", ctx.clone()).unwrap_err();
        assert!(
            bad.contains("Unable to use \"(\" as a search parameter"),
            "{bad}"
        );
        let bad = render("{{ q('varnames', 3) }}", ctx).unwrap_err();
        assert!(bad.contains("is not a string"), "{bad}");
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

    #[test]
    fn loop_lookups_like_ansible() {
        let ctx = minijinja::context! {
            users => Value::from(minijinja::value::Serde(serde_json::json!([
                {"name": "ann", "keys": ["k1", "k2"], "opts": {"shell": "/bin/sh"}},
                {"name": "bob", "keys": ["k3"]},
                {"name": "cy"},
            ]))),
        };
        let r = |src: &str| render(src, ctx.clone());
        assert_eq!(
            r("{{ query('nested', ['a', 'b'], [1, 2]) | tojson }}").unwrap(),
            r#"[["a", 1], ["a", 2], ["b", 1], ["b", 2]]"#
        );
        assert_eq!(
            r("{{ query('together', ['a', 'b', 'c'], [1, 2]) | tojson }}").unwrap(),
            r#"[["a", 1], ["b", 2], ["c", null]]"#
        );
        assert_eq!(
            r("{{ query('flattened', [1, [2, [3, [4]]]], [[5]], 'x') | tojson }}").unwrap(),
            r#"[1, 2, 3, 4, 5, "x"]"#
        );
        assert_eq!(
            r("{{ query('community.general.flattened', [1, [2]], 'None', 3) | tojson }}").unwrap(),
            r#"[1, 2]"#
        );
        assert_eq!(
            r("{{ query('indexed_items', 'a', ['b'], 'c') | tojson }}").unwrap(),
            r#"[[0, "a"], [1, "b"], [2, "c"]]"#
        );
        assert_eq!(
            r("{{ query('dict', {'a': 1, 'b': 2}) | tojson }}").unwrap(),
            r#"[{"key": "a", "value": 1}, {"key": "b", "value": 2}]"#
        );
        // subelements: the element without the subkey, then each subitem.
        let e = r("{{ query('subelements', users, 'keys') }}").unwrap_err();
        assert!(e.contains("could not find 'keys' key"), "{e}");
        assert_eq!(
            r("{{ query('subelements', users, 'keys', {'skip_missing': True}) | map('last') | join(',') }}")
                .unwrap(),
            "k1,k2,k3"
        );
        assert_eq!(
            r("{% for u, k in query('subelements', users, 'keys', {'skip_missing': True}) %}{{ u.name }}:{{ 'keys' in u }}:{{ k }} {% endfor %}")
                .unwrap(),
            "ann:False:k1 ann:False:k2 bob:False:k3 "
        );
        assert!(
            r("{{ query('subelements', users) }}")
                .unwrap_err()
                .contains("two or three items")
        );
        let e = r("{{ lookup('dict', [1]) }}").unwrap_err();
        assert!(e.contains("with_dict expects a dict"), "{e}");
    }

    #[test]
    fn sequence_forms() {
        let ctx = minijinja::context! {};
        let r = |src: &str| render(src, ctx.clone());
        assert_eq!(
            r("{{ query('sequence', 'start=1 end=5') | join(',') }}").unwrap(),
            "1,2,3,4,5"
        );
        assert_eq!(
            r("{{ query('sequence', 'start=0 end=32 stride=8 format=host%02d') | join(',') }}")
                .unwrap(),
            "host00,host08,host16,host24,host32"
        );
        assert_eq!(
            r("{{ query('sequence', 'count=3 start=10 stride=2') | join(',') }}").unwrap(),
            "10,12,14"
        );
        assert_eq!(
            r("{{ query('sequence', '4-8/2:x%d') | join(',') }}").unwrap(),
            "x4,x6,x8"
        );
        assert_eq!(
            r("{{ query('sequence', start=5, end=1, stride=-2) | join(',') }}").unwrap(),
            "5,3,1"
        );
        assert_eq!(
            r("{{ query('sequence', {'start': 0, 'end': '0x0a', 'stride': 5, 'format': '%x'}) | join(',') }}")
                .unwrap(),
            "0,5,a"
        );
        assert_eq!(
            r("{{ query('sequence', 'count=0') | length }}").unwrap(),
            "0"
        );
        assert!(
            r("{{ query('sequence', 'start=5 end=1') }}")
                .unwrap_err()
                .contains("make stride negative")
        );
        assert!(
            r("{{ query('sequence', 'start=1') }}")
                .unwrap_err()
                .contains("count or end")
        );
        assert!(
            r("{{ query('sequence', 'end=3 bogus=1') }}")
                .unwrap_err()
                .contains("unrecognized arguments")
        );
        assert_eq!(printf_int("%5d|", 42).unwrap(), "   42|");
        assert_eq!(printf_int("%-4d|", 7).unwrap(), "7   |");
        assert_eq!(printf_int("%03d", -7).unwrap(), "-07");
    }

    #[test]
    fn first_found_forms_and_subdir() {
        let d = tempfile::tempdir().unwrap();
        let role = d.path().join("roles/web");
        std::fs::create_dir_all(role.join("vars")).unwrap();
        std::fs::create_dir_all(d.path().join("files/os")).unwrap();
        std::fs::write(role.join("vars/Debian.yml"), "").unwrap();
        std::fs::write(d.path().join("files/os/default.yml"), "").unwrap();
        let ctx = minijinja::context! {
            role_path => role.display().to_string(),
            playbook_dir => d.path().display().to_string(),
        };
        let r = |src: &str| render(src, ctx.clone());
        let found = |src: &str| {
            let out = r(src).unwrap();
            out.strip_prefix(&d.path().display().to_string())
                .map(String::from)
                .unwrap_or(out)
        };
        // dict form: files x paths, in order; list of names, paths as a string
        assert_eq!(
            found(
                "{{ lookup('first_found', {'files': ['Ubuntu.yml', 'default.yml'], 'paths': ['os']}) }}"
            ),
            "/files/os/default.yml"
        );
        assert_eq!(
            found("{{ lookup('first_found', ['nope.yml', 'default.yml'], paths='other:os') }}"),
            "/files/os/default.yml"
        );
        assert_eq!(
            found("{{ lookup('first_found', 'x.yml,os/default.yml') }}"),
            "/files/os/default.yml"
        );
        // the with_ loop of include_vars searches vars/
        assert_eq!(
            found("{{ query('first_found', 'Debian.yml', _subdir='vars') | first }}"),
            "/roles/web/vars/Debian.yml"
        );
        assert_eq!(
            r("{{ query('first_found', {'files': ['none.yml'], 'skip': True}) | length }}")
                .unwrap(),
            "0"
        );
        let e = r("{{ lookup('first_found', files=['none.yml'], paths=['p']) }}").unwrap_err();
        assert!(e.contains("none of p/none.yml exists"), "{e}");
        assert_eq!(
            r("{{ lookup('first_found', 'none.yml', errors='ignore') }}|").unwrap(),
            "|"
        );
        let e = r("{{ lookup('first_found', {'file': ['x']}) }}").unwrap_err();
        assert!(e.contains("unknown option 'file'"), "{e}");
    }

    #[test]
    fn lines_and_inventory_hostnames() {
        let ctx = minijinja::context! {
            groups => Value::from(minijinja::value::Serde(serde_json::json!({
                "all": ["web1", "web2", "db1"],
                "ungrouped": [],
                "web": ["web1", "web2"],
                "db": ["db1"],
            }))),
        };
        let r = |src: &str| render(src, ctx.clone());
        assert_eq!(
            r("{{ query('lines', 'printf \"a\\nb\\n\"') | join('|') }}").unwrap(),
            "a|b"
        );
        assert_eq!(
            r("{{ query('inventory_hostnames', 'all:!db') | join(',') }}").unwrap(),
            "web1,web2"
        );
        assert_eq!(
            r("{{ query('inventory_hostnames', 'db', 'web[0]') | join(',') }}").unwrap(),
            "db1,web1"
        );
        assert_eq!(
            r("{{ lookup('inventory_hostnames', 'web') }}").unwrap(),
            "web1,web2"
        );
    }
}
