//! The layer order of the house (docs/architecture.md), checked on the source:
//! data flows one way, cli -> commands -> engine -> modules -> transport, and
//! the pure loaders sit below the engine. Every `crate::<layer>` path outside
//! comments (in `use` lines and in code) is an edge; an edge against the order
//! fails unless [`ALLOWED`] lists it with why.

use std::path::{Path, PathBuf};

/// Layers that must not reach `above`: (layers, the layers above them).
const RULES: &[(&[&str], &[&str])] = &[
    (
        &[
            "modules",
            "transport",
            "inventory",
            "vars",
            "template",
            "playbook",
            "secrets",
            "git",
        ],
        &["engine", "commands", "cli"],
    ),
    (&["engine"], &["commands", "cli"]),
    // The transport knows nothing of what it carries.
    (
        &["transport"],
        &[
            "modules",
            "playbook",
            "vars",
            "inventory",
            "template",
            "secrets",
        ],
    ),
    // What the commands share (the deploy lock's hosts, what a command loads)
    // sits below them: no command imports another, nothing below reaches up.
    (&["deploy", "session"], &["commands", "cli"]),
    (&["commands"], &["cli"]),
    // vars uses templates; a template knows its variables only through
    // `template::Variables`.
    (&["template"], &["vars"]),
];

/// Edges against the order that exist today: (a file, or a directory ending
/// in `/`, under src/; the layer it reaches; why). An entry that matches no
/// edge any more fails the test: remove it. None is left: module tests that
/// run a module as the engine does live in the engine (`engine/module_tests/`),
/// and module decisions are tested as data (`tests/fixtures/modules/`).
const ALLOWED: &[(&str, &str, &str)] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer of a file: its directory under src/, or its name (`cli.rs`).
fn layer_of(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// The first identifier after `crate::` at each occurrence; for a group
/// (`crate::{a::b, c}`), the first identifier of each of its items.
fn crate_edges(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `my_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        out.push(ident(&group[j..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out
}

/// The code of a file without its comments (`//` to the end of a line; the
/// rare `//` inside a string literal only hides the rest of that line).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn allowed(rel: &str, target: &str) -> Option<usize> {
    ALLOWED.iter().position(|(place, to, _)| {
        *to == target
            && if place.ends_with('/') {
                rel.starts_with(place)
            } else {
                rel == *place
            }
    })
}

/// Every file under src/ (relative to it, sorted) with the layers its code
/// reaches by `crate::` paths.
fn edges_by_file() -> Vec<(String, Vec<String>)> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    assert!(files.len() > 50, "src/ has only {} files", files.len());
    files
        .iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            let mut edges = crate_edges(&code_of(&std::fs::read_to_string(path).unwrap()));
            edges.sort();
            edges.dedup();
            (rel, edges)
        })
        .collect()
}

#[test]
fn layers_import_only_downwards() {
    let mut wrong = Vec::new();
    let mut used = vec![false; ALLOWED.len()];
    for (rel, edges) in edges_by_file() {
        let layer = layer_of(&rel);
        let above: Vec<&str> = RULES
            .iter()
            .filter(|(layers, _)| layers.contains(&layer))
            .flat_map(|(_, above)| above.iter().copied())
            .collect();
        for target in edges.iter().filter(|e| above.contains(&e.as_str())) {
            match allowed(&rel, target) {
                Some(i) => used[i] = true,
                None => wrong.push(format!("src/{rel} uses crate::{target}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order (docs/architecture.md): move the shared \
         type down, or pass it in from above:\n  {}",
        wrong.join("\n  ")
    );
    let stale: Vec<String> = ALLOWED
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|((place, to, _), _)| format!("src/{place} -> crate::{to}"))
        .collect();
    assert!(
        stale.is_empty(),
        "these edges are gone: remove them from ALLOWED in tests/integration/house.rs:\n  {}",
        stale.join("\n  ")
    );
}

/// What cli.rs hands the parsed arguments to, and reports with.
const CLI_REACHES: &[&str] = &["commands", "error", "printer"];

/// cli is the top layer: no file under src/ reaches it (lib.rs only
/// re-exports `cli::main` for main.rs), and cli.rs reaches nothing but
/// [`CLI_REACHES`].
#[test]
fn cli_is_the_top_layer() {
    let mut wrong = Vec::new();
    for (rel, edges) in edges_by_file() {
        if rel == "cli.rs" {
            for e in edges.iter().filter(|e| !CLI_REACHES.contains(&e.as_str())) {
                wrong.push(format!(
                    "src/cli.rs uses crate::{e}: cli converts its arguments into a \
                     commands::Invocation and reaches only {CLI_REACHES:?}"
                ));
            }
        } else if edges.iter().any(|e| e == "cli") {
            wrong.push(format!(
                "src/{rel} uses crate::cli: nothing reaches the top layer"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn edges_are_read_from_paths_and_groups() {
    assert_eq!(crate_edges("use crate::engine::gather;"), ["engine"]);
    assert_eq!(
        crate_edges("use crate::{cli::Args, modules::{self, Spec},\n    vars};"),
        ["cli", "modules", "vars"]
    );
    assert_eq!(
        crate_edges("let c = crate::engine::gather::FactCache::default();"),
        ["engine"]
    );
    assert!(crate_edges("$crate::x; other_crate::engine").is_empty());
    assert_eq!(
        code_of("use a; // crate::engine\n//! crate::cli"),
        "use a; \n"
    );
    assert_eq!(layer_of("cli.rs"), "cli");
    assert_eq!(layer_of("modules/remote_file/mod.rs"), "modules");
}
