//! `opsctl secrets diff --env E [REV]`: which variables of an environment's
//! secrets were added, removed or changed since a git revision (default HEAD);
//! `opsctl secrets git-diff ...`: the same between the two files git hands an
//! external diff driver (`.gitattributes`: `secrets.age diff=opsctl-secrets`).
//! Values stay redacted unless `--values`, which shows them to their owner.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};

use super::{SecretsEnv, no_file, store};
use crate::error::{Error, Exit, Result};
use crate::printer::{Printer, Style};
use crate::secrets::{self, IdentityOpts, Store};

/// What changed in one variable (dotted path for nested maps).
#[derive(Debug, PartialEq)]
pub(super) enum Change {
    Added(Json),
    Removed(Json),
    Changed(Json, Json),
}

/// Variables as dotted paths to their leaf values (a map's entries, not the map).
fn flatten(prefix: &str, v: &Json, out: &mut BTreeMap<String, Json>) {
    match v {
        Json::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn leaves(vars: &secrets::SecretVars) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for (k, (v, _)) in vars {
        flatten(k, v, &mut out);
    }
    out
}

pub(super) fn compare(
    old: &BTreeMap<String, Json>,
    new: &BTreeMap<String, Json>,
) -> Vec<(String, Change)> {
    let mut out = Vec::new();
    for (k, v) in old {
        match new.get(k) {
            None => out.push((k.clone(), Change::Removed(v.clone()))),
            Some(n) if n != v => out.push((k.clone(), Change::Changed(v.clone(), n.clone()))),
            Some(_) => {}
        }
    }
    for (k, v) in new {
        if !old.contains_key(k) {
            out.push((k.clone(), Change::Added(v.clone())));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The variables of age ciphertext `bytes` (`None`: the file did not exist).
fn decrypt(
    store: &Store,
    bytes: Option<Vec<u8>>,
    opts: &IdentityOpts,
) -> Result<BTreeMap<String, Json>> {
    let Some(bytes) = bytes else {
        return Ok(BTreeMap::new());
    };
    let plain = secrets::decrypt_bytes(store, bytes, opts)?;
    let vars = secrets::parse_plaintext(store, &plain.bytes)?;
    Ok(leaves(&vars))
}

/// `opsctl secrets diff --env E [REV] [--values]`.
pub fn diff(
    project: Option<PathBuf>,
    a: &SecretsEnv,
    rev: Option<&str>,
    values: bool,
    printer: &Printer,
) -> Result<Exit> {
    let (store, env, opts) = store(project, a)?;
    let rev = rev.unwrap_or("HEAD");
    let old_bytes = git_show(&store.dir, rev, &store.shown)?;
    let new_bytes = if store.exists() {
        Some(
            std::fs::read(&store.file)
                .map_err(|e| Error::new(format!("cannot read {}: {e}", store.shown)))?,
        )
    } else if old_bytes.is_none() {
        return Err(no_file(&store, &env));
    } else {
        None
    };
    let old_store = Store {
        shown: format!("{} at {rev}", store.shown),
        ..store.clone()
    };
    let old = decrypt(&old_store, old_bytes, &opts)?;
    let new = decrypt(&store, new_bytes, &opts)?;
    report(
        &format!("{} ({rev} -> working copy)", store.shown),
        &old,
        &new,
        values,
        printer,
    )
}

/// `opsctl secrets git-diff PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE`:
/// git's external diff driver protocol (`/dev/null` for a side that does not exist).
pub fn git_diff(args: &[PathBuf], a: &SecretsEnv, values: bool, printer: &Printer) -> Result<Exit> {
    let [path, old_file, _, _, new_file, _, _] = args else {
        return Err(Error::new(format!(
            "git-diff takes the 7 arguments git passes an external diff driver, not {}",
            args.len()
        ))
        .hint("set it up with `git config diff.opsctl-secrets.command 'opsctl secrets git-diff'` and `secrets.age diff=opsctl-secrets` in .gitattributes (docs/secrets.md)"));
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let shown = crate::location::display_path(path);
    let read = |f: &Path| -> Result<Option<Vec<u8>>> {
        if f == Path::new("/dev/null") {
            return Ok(None);
        }
        std::fs::read(f)
            .map(Some)
            .map_err(|e| Error::new(format!("cannot read {}: {e}", f.display())))
    };
    let store = |side: &str| Store {
        shown: format!("{shown} ({side})"),
        ..Store::new(dir, &crate::location::display_path(dir))
    };
    let opts = IdentityOpts {
        file: a.identity.clone(),
    };
    let old = decrypt(&store("old"), read(old_file)?, &opts)?;
    let new = decrypt(&store("new"), read(new_file)?, &opts)?;
    report(&shown, &old, &new, values, printer)
}

/// The file at `rev` (`None` when it did not exist then), read with git in `dir`.
fn git_show(dir: &Path, rev: &str, shown: &str) -> Result<Option<Vec<u8>>> {
    if rev.starts_with('-') {
        return Err(Error::new(format!("'{rev}' is not a git revision")));
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["show", &format!("{rev}:./{}", secrets::FILE)])
        .output()
        .map_err(|e| Error::new(format!("cannot run git: {e}")).hint("install git"))?;
    if out.status.success() {
        return Ok(Some(out.stdout));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("does not exist in") || err.contains("exists on disk, but not in") {
        return Ok(None);
    }
    Err(Error::new(format!(
        "cannot read {shown} at {rev} from git: {}",
        err.trim()
    ))
    .hint("give a revision git knows (a commit, branch or tag), inside the project's repository"))
}

fn report(
    title: &str,
    old: &BTreeMap<String, Json>,
    new: &BTreeMap<String, Json>,
    values: bool,
    printer: &Printer,
) -> Result<Exit> {
    let changes = compare(old, new);
    let count = |f: fn(&Change) -> bool| changes.iter().filter(|(_, c)| f(c)).count();
    let added = count(|c| matches!(c, Change::Added(_)));
    let removed = count(|c| matches!(c, Change::Removed(_)));
    let changed = count(|c| matches!(c, Change::Changed(..)));
    let unchanged = new.len() - added - changed;
    let show = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    if printer.is_json() {
        for (k, c) in &changes {
            let (what, old, new) = match c {
                Change::Added(n) => ("added", None, Some(n)),
                Change::Removed(o) => ("removed", Some(o), None),
                Change::Changed(o, n) => ("changed", Some(o), Some(n)),
            };
            let mut o = json!({"name": k, "change": what});
            if values {
                o["old"] = json!(old);
                o["new"] = json!(new);
                // `--values`: the owner asked to see them.
                printer.reveal(&o.to_string());
            } else {
                printer.json(&o);
            }
        }
        return Ok(Exit::Success);
    }
    printer.result(title);
    for (k, c) in &changes {
        let (mark, style, what) = match c {
            Change::Added(_) => ("+", Style::Ok, "added"),
            Change::Removed(_) => ("-", Style::Failed, "removed"),
            Change::Changed(..) => ("~", Style::Changed, "changed"),
        };
        let head = format!("  {} {k}", printer.paint(mark, style));
        if values {
            let v = match c {
                Change::Added(n) => show(n),
                Change::Removed(o) => show(o),
                Change::Changed(o, n) => format!("{} -> {}", show(o), show(n)),
            };
            printer.reveal(&format!("{head}: {v}"));
        } else {
            printer.result(&format!("{head} ({what})"));
        }
    }
    printer.result(&format!(
        "{added} added, {removed} removed, {changed} changed, {unchanged} unchanged{}",
        if values || changes.is_empty() {
            ""
        } else {
            " (values hidden; --values shows them)"
        }
    ));
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_maps_compare_by_their_leaves() {
        let mut old = BTreeMap::new();
        flatten("db", &json!({"password": "a", "user": "app"}), &mut old);
        flatten("token", &json!("t"), &mut old);
        flatten("gone", &json!([1, 2]), &mut old);
        let mut new = BTreeMap::new();
        flatten("db", &json!({"password": "b", "user": "app"}), &mut new);
        flatten("token", &json!("t"), &mut new);
        flatten("new_key", &json!({}), &mut new);
        assert_eq!(
            compare(&old, &new),
            vec![
                (
                    "db.password".to_string(),
                    Change::Changed(json!("a"), json!("b"))
                ),
                ("gone".to_string(), Change::Removed(json!([1, 2]))),
                ("new_key".to_string(), Change::Added(json!({}))),
            ]
        );
    }
}
