//! Ansible's INI inventory format (the `ini` inventory plugin), which is not INI:
//! `[group]` sections of host lines `name k=v k2="v 2"` (split like Python's
//! shlex, values typed like `ast.literal_eval`), `[group:vars]` lines `k=v` (the
//! value typed the same way since Ansible 2.19), and `[group:children]` lists.

use std::path::Path;
use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;

use super::{
    Builder, InventoryError, VAR_NAME_HINT, VarDef, pyliteral, pyshlex, range, valid_var_name,
};
use crate::location::{Location, SharedPath};

static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").unwrap());
static GROUPNAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").unwrap());

const SECTION_HINT: &str = "a section header is [group], [group:vars] or [group:children]";

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Vars,
    Children,
}

struct Pending {
    line: usize,
    column: usize,
    state: State,
    parents: Vec<String>,
}

/// Python's `str.splitlines()` line boundaries.
pub(crate) fn py_splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some(&(j, '\n')) = iter.peek()
            {
                iter.next();
                end = j + 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

pub(crate) fn parse_into(b: &mut Builder, source: &str, file: &Path) -> Result<(), InventoryError> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    // one path shared by every location (one per host and variable)
    let file = &SharedPath::from(file);
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;

    for (idx, raw) in py_splitlines(source).into_iter().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        // Column (1-based, in characters) of a char offset inside `line`.
        let lead = raw.chars().count() - raw.trim_start().chars().count();
        let col = |offset: usize| lead + offset + 1;
        let loc = |offset: usize| Location::new(file, lineno, Some(col(offset)));
        let err = |offset: usize, msg: String| InventoryError::new(loc(offset), msg);

        if line.starts_with('[') {
            if let Some(m) = SECTION.captures(line) {
                let name = m[1].to_string();
                let new_state = match m.get(2).map(|t| t.as_str()) {
                    None | Some("hosts") => State::Hosts,
                    Some("vars") => State::Vars,
                    Some("children") => State::Children,
                    Some(other) => {
                        let at = m
                            .get(2)
                            .map(|t| line[..t.start()].chars().count())
                            .unwrap_or(0);
                        return Err(err(
                            at,
                            format!("section [{name}:{other}] has unknown type '{other}'"),
                        )
                        .with_hint(SECTION_HINT));
                    }
                };
                group = name;
                state = new_state;
                if !b.has_group(&group) {
                    if state == State::Vars && !pending.contains_key(&group) {
                        pending.insert(
                            group.clone(),
                            Pending {
                                line: lineno,
                                column: col(1),
                                state,
                                parents: Vec::new(),
                            },
                        );
                    }
                    b.add_group(&group, loc(1));
                }
                if state != State::Vars
                    && let Some(p) = pending.get(&group)
                {
                    if p.state == State::Children {
                        add_pending_children(b, &group, &mut pending).map_err(|m| {
                            err(1, m).with_hint(
                                "a group cannot contain itself, directly or through its children",
                            )
                        })?;
                    } else {
                        pending.shift_remove(&group);
                    }
                }
                continue;
            }
            // Like Ansible, a line that is not a header and does not end with ']' is a
            // host line (`[fe80::1]:22`, `[1:3].example.com`); when its first word is
            // not a valid host either, it was meant as a header.
            let first = line.split_whitespace().next().unwrap_or("");
            if line.ends_with(']')
                || (state == State::Hosts && range::expand_hostpattern(first).is_err())
            {
                return Err(bad_section(line, &loc));
            }
        }

        match state {
            State::Hosts => host_line(b, line, &group, file, lineno, lead)?,
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(
                        0,
                        format!("expected name=value in [{group}:vars], got: {line}"),
                    )
                    .with_hint(format!(
                        "each line of [{group}:vars] sets one variable: name=value"
                    )));
                };
                let key = k.trim();
                if !valid_var_name(key) {
                    return Err(err(
                        0,
                        format!("invalid variable name {key:?} in [{group}:vars]"),
                    )
                    .with_hint(VAR_NAME_HINT));
                }
                let v_offset =
                    k.chars().count() + 1 + (v.chars().count() - v.trim_start().chars().count());
                let value = pyliteral::ini_value(v.trim()).map_err(|e| {
                    err(v_offset, format!("invalid value for {key}: {}", e.message))
                        .with_hint(QUOTE_HINT)
                })?;
                b.set_group_var(
                    &group,
                    key,
                    VarDef {
                        value,
                        location: loc(0),
                    },
                )?;
            }
            State::Children => {
                let Some(m) = GROUPNAME.captures(line) else {
                    return Err(err(
                        0,
                        format!("expected a group name in [{group}:children], got: {line}"),
                    )
                    .with_hint(format!(
                        "list one group name per line in [{group}:children]"
                    )));
                };
                let child = m[1].to_string();
                if !b.has_group(&child) {
                    match pending.get_mut(&child) {
                        Some(p) => p.parents.push(group.clone()),
                        None => {
                            pending.insert(
                                child,
                                Pending {
                                    line: lineno,
                                    column: col(0),
                                    state: State::Children,
                                    parents: vec![group.clone()],
                                },
                            );
                        }
                    }
                } else {
                    b.add_child(&group, &child).map_err(|m| {
                        err(0, m).with_hint(
                            "a group cannot contain itself, directly or through its children",
                        )
                    })?;
                }
            }
        }
    }

    if let Some((name, p)) = pending.into_iter().next() {
        let location = Location::new(file, p.line, Some(p.column));
        return Err(match p.state {
            State::Vars => InventoryError::new(
                location,
                format!("section [{name}:vars] is for group '{name}', which is not defined"),
            )
            .with_hint(format!(
                "declare the group with a [{name}] section (it can be empty), or fix the name"
            )),
            _ => {
                let parent = p.parents.last().cloned().unwrap_or_default();
                InventoryError::new(location, format!("section [{parent}:children] includes undefined group '{name}'"))
                    .with_hint(format!(
                        "declare it with a [{name}] section (it can be empty, and can come later in the file), or remove it from [{parent}:children]"
                    ))
            }
        });
    }
    Ok(())
}

const QUOTE_HINT: &str = "quote the value to keep it a string, e.g. key=\"'...'\"";

fn add_pending_children(
    b: &mut Builder,
    group: &str,
    pending: &mut IndexMap<String, Pending>,
) -> Result<(), String> {
    let parents = pending
        .get(group)
        .map(|p| p.parents.clone())
        .unwrap_or_default();
    for parent in parents {
        b.add_child(&parent, group)?;
        if pending
            .get(&parent)
            .is_some_and(|p| p.state == State::Children)
        {
            add_pending_children(b, &parent, pending)?;
        }
    }
    pending.shift_remove(group);
    Ok(())
}

/// Says what is wrong with a line that starts like a section header but is not one.
fn bad_section(line: &str, loc: &dyn Fn(usize) -> Location) -> InventoryError {
    let chars: Vec<char> = line.chars().collect();
    let close = chars.iter().position(|&c| c == ']');
    let (at, msg) = match close {
        None => (
            chars.len(),
            format!("section header {line} has no closing ']'"),
        ),
        Some(close) => {
            let inner = &chars[1..close];
            if let Some(ws) = inner.iter().position(|c| c.is_whitespace()) {
                (ws + 1, format!("section header {line} contains a space"))
            } else if inner.is_empty() || inner[0] == ':' {
                (1, format!("section header {line} has no group name"))
            } else if let Some(colon) = inner.iter().position(|&c| c == ':') {
                (
                    colon + 2,
                    format!("section header {line} has an invalid type after ':'"),
                )
            } else {
                let after = close
                    + 1
                    + chars[close + 1..]
                        .iter()
                        .take_while(|c| c.is_whitespace())
                        .count();
                (
                    after,
                    format!("unexpected text after section header: {line}"),
                )
            }
        }
    };
    InventoryError::new(loc(at), msg).with_hint(format!("{SECTION_HINT}; comments start with #"))
}

fn host_line(
    b: &mut Builder,
    line: &str,
    group: &str,
    file: &SharedPath,
    lineno: usize,
    lead: usize,
) -> Result<(), InventoryError> {
    let loc = |offset: usize| Location::new(file, lineno, Some(lead + offset + 1));
    let tokens = pyshlex::split(line).map_err(|e| {
        let what = if e.message == "No closing quotation" {
            "a quote is not closed"
        } else {
            "a line cannot end with '\\'"
        };
        InventoryError::new(loc(e.offset), format!("cannot split host line: {what}"))
            .with_hint("quote values containing spaces and close every quote: key=\"a b\"")
    })?;
    let Some(first) = tokens.first() else {
        return Ok(());
    };
    let hostpattern = first.text.as_str();
    let host_loc = loc(first.start);
    if hostpattern.is_empty() {
        return Err(InventoryError::new(host_loc, "empty host name"));
    }
    if hostpattern.contains('=') {
        return Err(InventoryError::new(
            host_loc,
            format!("a host line must start with the host name, got {hostpattern:?}"),
        )
        .with_hint("write `name key=value ...`, e.g. `web1 ansible_host=10.0.0.1`"));
    }
    let (names, port) = range::expand_hostpattern(hostpattern).map_err(|e| {
        let mut err = InventoryError::new(loc(first.start + e.offset), e.message);
        err.hint = e.hint;
        err
    })?;
    if hostpattern.trim().ends_with(':') && port.is_none() {
        return Err(InventoryError::new(
            loc(first.start + hostpattern.chars().count() - 1),
            format!("invalid host {hostpattern:?}: a host name cannot end with ':'"),
        )
        .with_hint("':' introduces a port: write host:2222, or remove the ':'"));
    }
    if names.iter().any(|n| n.trim() == "---") {
        return Err(InventoryError::new(
            host_loc,
            "'---' is not a host name: this looks like a YAML file",
        )
        .with_hint("name YAML inventories with a .yml extension"));
    }
    let mut vars: Vec<(String, VarDef)> = Vec::new();
    for t in &tokens[1..] {
        let tloc = loc(t.start);
        let Some((k, v)) = t.text.split_once('=') else {
            return Err(InventoryError::new(tloc, format!("expected key=value host variable, got: {:?}", t.text))
                .with_hint("host variables are key=value; quote values with spaces (key=\"a b\"); comments start with #"));
        };
        if !valid_var_name(k) {
            return Err(
                InventoryError::new(tloc, format!("invalid variable name {k:?}"))
                    .with_hint(VAR_NAME_HINT),
            );
        }
        let value = pyliteral::ini_value(v).map_err(|e| {
            InventoryError::new(
                tloc.clone(),
                format!("invalid value for {k}: {}", e.message),
            )
            .with_hint(QUOTE_HINT)
        })?;
        vars.push((
            k.to_string(),
            VarDef {
                value,
                location: tloc,
            },
        ));
    }
    b.add_hosts(names, group, port, &host_loc, vars);
    Ok(())
}
