//! include_vars: variables from YAML/JSON files on the controller, as
//! Ansible's `include_vars` reads them (`file` or the free form, or every file
//! of a `dir` filtered by `files_matching`, `ignore_files`, `extensions` and
//! `depth`), optionally under one `name`. Relative paths are looked up in the
//! task's search path with `vars/` first (the role's `vars/`, the role, then
//! the task file's and the playbook's `vars/` and directories). It never
//! touches the host: the result is decided on the controller alone, the same
//! in check mode, and the engine sets the variables at the `include_vars`
//! precedence level.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use super::builtin::Pure;
use super::fail::{self, Fail};
use super::protocol::Ctx;
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static RUN_INCLUDE_VARS: Pure = Pure(include_vars);

pub static INCLUDE_VARS: Spec = Spec {
    free_form: true,
    mutually_exclusive: &[&["file", "dir", "_raw_params"]],
    required_one_of: &[&["file", "dir"]],
    ..Spec::new(
        "include_vars",
        &[
            ArgSpec::new("file", Kind::Str),
            ArgSpec::new("dir", Kind::Str),
            ArgSpec::new("name", Kind::Str),
            ArgSpec::new("files_matching", Kind::Str),
            ArgSpec::new("ignore_files", Kind::List),
            ArgSpec::new("extensions", Kind::List),
            ArgSpec::new("depth", Kind::Int),
            ArgSpec::new("ignore_unknown_extensions", Kind::Bool),
            ArgSpec::new("hash_behaviour", Kind::Choice(&["replace", "merge"])),
        ],
    )
};

/// The files of a `dir`, sorted as Ansible walks them (directories in name
/// order, top down; files in name order), at most `depth` levels deep (0: all).
pub fn dir_files(root: &Path, depth: i64) -> Vec<PathBuf> {
    fn walk(dir: &Path, level: i64, depth: i64, out: &mut Vec<(PathBuf, Vec<PathBuf>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files.push(p);
            }
        }
        files.sort();
        dirs.sort();
        out.push((dir.to_path_buf(), files));
        if depth == 0 || level < depth {
            for d in dirs {
                walk(&d, level + 1, depth, out);
            }
        }
    }
    let mut roots = Vec::new();
    walk(root, 1, depth, &mut roots);
    // Ansible sorts the (root, dirs, files) walk by root path.
    roots.sort_by(|a, b| a.0.cmp(&b.0));
    roots.into_iter().flat_map(|(_, files)| files).collect()
}

/// Is `name` one to load? `Err` for a file whose extension is not allowed
/// (unless `ignore_unknown` says to skip such files).
pub(crate) fn selected(
    name: &str,
    matching: Option<&crate::template::pyregex::PyRegex>,
    ignore: &[crate::template::pyregex::PyRegex],
    extensions: &[String],
    ignore_unknown: bool,
) -> Result<bool, String> {
    if matching.is_some_and(|m| !m.is_match(name)) {
        return Ok(false);
    }
    if ignore.iter().any(|r| r.is_match(name)) {
        return Ok(false);
    }
    if !valid_extension(name, extensions) {
        if ignore_unknown {
            return Ok(false);
        }
        return Err(format!(
            "{name} does not have a valid extension: {} (or set ignore_unknown_extensions: true)",
            extensions.join(", ")
        ));
    }
    Ok(true)
}

fn valid_extension(name: &str, extensions: &[String]) -> bool {
    let ext = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    extensions.iter().any(|e| e.trim_start_matches('.') == ext)
}

/// Recursive merge (Ansible's `combine_vars` with hash_behaviour=merge).
pub fn merge(into: &mut Json, from: Json) {
    match (into, from) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(old) => merge(old, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn regex(what: &str, pattern: &str) -> Result<crate::template::pyregex::PyRegex, Fail> {
    crate::template::pyregex::PyRegex::new(pattern, false, false)
        .map_err(|e| Fail::Args(format!("{what}: '{pattern}' is not a valid regex: {e}")))
}

/// The first of `search` holding `rel` (absolute paths as they are).
fn find(search: &[PathBuf], rel: &str, dir: bool) -> Result<PathBuf, Fail> {
    if dir {
        super::find_in(search, rel, "dir", Path::is_dir)
    } else {
        super::find_in(search, rel, "file", Path::is_file)
    }
}

fn load(path: &Path) -> Result<Map<String, Json>, Fail> {
    let node = crate::yaml::parse_file(path).map_err(|e| Fail::Args(e.to_string()))?;
    if matches!(node.value, crate::yaml::NodeValue::Null) {
        return Ok(Map::new());
    }
    let vars = node
        .to_var_map(path)
        .map_err(|e| Fail::Args(e.to_string()))?;
    Ok(vars.into_iter().map(|(k, (v, _))| (k, v)).collect())
}

fn include_vars(args: &Args, ctx: &Ctx) -> Result<Outcome, Fail> {
    let merge_hashes = args.str("hash_behaviour") == Some("merge");
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(dir) = args.str("dir") {
        let root = find(ctx.search, dir, true)?;
        let matching = args
            .str("files_matching")
            .map(|p| regex("files_matching", p))
            .transpose()?;
        let ignore = args
            .strings("ignore_files")
            .iter()
            .map(|p| regex("ignore_files", &format!("{p}$")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut extensions = args.strings("extensions");
        if extensions.is_empty() {
            extensions = vec!["json".into(), "yaml".into(), "yml".into()];
        }
        let ignore_unknown = args.bool_or("ignore_unknown_extensions", false);
        // A role's vars/main.yml is the role's own: never included again.
        let role_main = ctx
            .vars
            .get_attr("role_path")
            .ok()
            .and_then(|v| v.as_str().map(|p| Path::new(p).join("vars/main.yml")));
        for f in dir_files(&root, args.int("depth").unwrap_or(0)) {
            if role_main.as_deref() == Some(f.as_path()) {
                continue;
            }
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if selected(
                &name,
                matching.as_ref(),
                &ignore,
                &extensions,
                ignore_unknown,
            )
            .map_err(Fail::Args)?
            {
                files.push(f);
            }
        }
    } else {
        let Some(file) = args.str("file").or_else(|| args.raw_params()) else {
            return fail::bad_args("include_vars needs a file (or file:, or dir:)");
        };
        files.push(find(ctx.search, file.trim(), false)?);
    }
    let mut vars = Json::Object(Map::new());
    for f in &files {
        let loaded = load(f)?;
        if merge_hashes {
            merge(&mut vars, Json::Object(loaded));
        } else if let Json::Object(m) = &mut vars {
            m.extend(loaded);
        }
    }
    let Json::Object(mut vars) = vars else {
        unreachable!("built as an object")
    };
    if merge_hashes && args.str("name").is_none() {
        // As Ansible: merged into the values the variables already have.
        for (k, v) in vars.iter_mut() {
            if let Ok(old) = ctx.vars.get_attr(k)
                && !old.is_undefined()
            {
                let mut base = crate::vars::to_json(&old);
                merge(&mut base, v.take());
                *v = base;
            }
        }
    }
    let facts = match args.str("name") {
        Some(n) => {
            let mut m = Map::new();
            m.insert(n.to_string(), Json::Object(vars));
            m
        }
        None => vars,
    };
    let shown: Vec<Json> = files
        .iter()
        .map(|f| Json::String(f.display().to_string()))
        .collect();
    Ok(Outcome::ok()
        .with("ansible_facts", Json::Object(facts))
        .with("ansible_included_var_files", Json::Array(shown)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_walk_is_sorted_and_bounded_by_depth() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b.yml", "a.yml", "sub/c.yml", "sub/deeper/d.yml", "0.txt"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x: 1\n").unwrap();
        }
        let names = |depth| -> Vec<String> {
            dir_files(d.path(), depth)
                .iter()
                .map(|p| p.strip_prefix(d.path()).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            names(0),
            ["0.txt", "a.yml", "b.yml", "sub/c.yml", "sub/deeper/d.yml"]
        );
        assert_eq!(names(1), ["0.txt", "a.yml", "b.yml"]);
        assert_eq!(names(2), ["0.txt", "a.yml", "b.yml", "sub/c.yml"]);
    }

    #[test]
    fn selection_by_regex_ignore_and_extension() {
        let exts: Vec<String> = vec!["yml".into(), "yaml".into(), "json".into()];
        let m = regex("files_matching", "^web").unwrap();
        let ign = vec![regex("ignore_files", "secret.yml$").unwrap()];
        assert_eq!(selected("web.yml", Some(&m), &ign, &exts, false), Ok(true));
        assert_eq!(selected("db.yml", Some(&m), &ign, &exts, false), Ok(false));
        assert_eq!(
            selected("web-secret.yml", Some(&m), &ign, &exts, false),
            Ok(false)
        );
        assert!(
            selected("web.txt", Some(&m), &ign, &exts, false)
                .unwrap_err()
                .contains("valid extension")
        );
        assert_eq!(selected("web.txt", Some(&m), &ign, &exts, true), Ok(false));
    }

    #[test]
    fn merge_is_recursive_and_replaces_leaves() {
        let mut a = serde_json::json!({"app": {"port": 1, "name": "x"}, "l": [1]});
        merge(
            &mut a,
            serde_json::json!({"app": {"port": 2, "tls": true}, "l": [2]}),
        );
        assert_eq!(
            a,
            serde_json::json!({"app": {"port": 2, "name": "x", "tls": true}, "l": [2]})
        );
    }
}
