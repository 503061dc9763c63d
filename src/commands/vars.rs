//! `opsctl vars HOST [NAME]`: a host's variables, and for each where the winning
//! value was set and what it overrode.

use serde_json::{Value as Json, json};

use super::Loaded;
use crate::error::{Error, Exit, Result};
use crate::printer::{Printer, Style};
use crate::vars::{Definition, VarsError};

/// `opsctl vars HOST [NAME]`.
#[derive(Debug, Clone)]
pub struct VarsOptions {
    /// The host (its inventory name).
    pub host: String,
    /// Only this variable, with every definition it overrode.
    pub name: Option<String>,
}

pub fn run(loaded: &Loaded, args: VarsOptions, printer: &Printer) -> Result<Exit> {
    let host = &args.host;
    if !loaded.inventory.hosts.contains_key(host) {
        let near = crate::names::near(host, loaded.inventory.hosts.keys().map(String::as_str), 3);
        let mut e = Error::new(format!(
            "unknown host '{host}' in {}",
            crate::location::display_path(&loaded.target.inventory)
        ));
        if !near.is_empty() {
            e = e.hint(format!("did you mean {}?", near.join(", ")));
        }
        return Err(e.hint("`opsctl inventory --graph` lists the hosts"));
    }
    let stack = loaded
        .vars
        .stack(host)
        .expect("every inventory host has a stack");
    let names: Vec<String> = match &args.name {
        Some(n) => {
            if stack.get(n).is_none() && !crate::vars::MAGIC.contains(&n.as_str()) {
                let near = crate::names::near(n, stack.names(), 3);
                let mut e = Error::new(format!("host {host} has no variable '{n}'"));
                if !near.is_empty() {
                    e = e.hint(format!("did you mean {}?", near.join(", ")));
                }
                return Err(e.hint(format!("`opsctl vars {host}` lists its variables")));
            }
            vec![n.clone()]
        }
        None => {
            let mut v: Vec<String> = stack.names().map(str::to_string).collect();
            v.sort();
            v
        }
    };
    let detailed = args.name.is_some();
    let mut doc = serde_json::Map::new();
    if !printer.is_json() {
        let at = loaded.inventory.hosts[host].location.to_string();
        printer.line(&printer.paint(&format!("# {host} ({at})"), Style::Dim));
    }
    for name in &names {
        let resolved = loaded.vars.resolve(host, name);
        let history = stack.history(name);
        if crate::runner::BECOME_PASSWORD_VARS.contains(&name.as_str()) {
            // A become password is a secret even when given with -e or in
            // plain group_vars: its values (and the `-e` origin) are masked.
            let values = history
                .iter()
                .map(|d| &d.value)
                .chain(resolved.as_ref().ok());
            for v in values {
                if let Json::String(s) = v {
                    crate::redact::register(s);
                }
            }
        }
        if printer.is_json() {
            doc.insert(name.clone(), entry_json(&resolved, history));
        } else {
            print_entry(printer, name, &resolved, history, detailed);
        }
    }
    if printer.is_json() {
        printer.json(&json!({"host": host, "vars": doc}));
    }
    Ok(Exit::Success)
}

fn entry_json(resolved: &Result<Json, VarsError>, history: &[Definition]) -> Json {
    let mut e = serde_json::Map::new();
    match resolved {
        Ok(v) => e.insert("value".into(), v.clone()),
        Err(err) => e.insert("error".into(), Json::String(err.to_string())),
    };
    if let Some((win, rest)) = history.split_last() {
        e.insert("raw".into(), win.value.clone());
        e.insert("origin".into(), Json::String(win.origin.to_string()));
        e.insert("layer".into(), Json::String(win.layer.describe().into()));
        let over: Vec<Json> = rest
            .iter()
            .rev()
            .map(|d| json!({"value": d.value, "origin": d.origin.to_string(), "layer": d.layer.describe()}))
            .collect();
        e.insert("overrides".into(), Json::Array(over));
    } else {
        e.insert("origin".into(), Json::String("built into opsctl".into()));
    }
    Json::Object(e)
}

fn print_entry(
    printer: &Printer,
    name: &str,
    resolved: &Result<Json, VarsError>,
    history: &[Definition],
    detailed: bool,
) {
    let value = match resolved {
        Ok(v) => v.to_string(),
        Err(e) => printer.paint(
            &format!("<cannot resolve: {}>", unresolved_reason(e)),
            Style::Failed,
        ),
    };
    let Some((win, rest)) = history.split_last() else {
        printer.result(&format!("{name} = {value}"));
        printer.line(&printer.paint("    built into opsctl", Style::Dim));
        return;
    };
    if !detailed {
        let mut note = format!("{} ({})", win.origin, win.layer.describe());
        if let Some(prev) = rest.last() {
            note.push_str(&format!(", overrides {}", prev.origin));
        }
        printer.result(&format!(
            "{name} = {value}  {}",
            printer.paint(&format!("# {note}"), Style::Dim)
        ));
        return;
    }
    printer.result(&format!("{name} = {value}"));
    if crate::template::has_template(&win.value) {
        printer.line(&format!("    template: {}", win.value));
    }
    printer.line(&format!(
        "    set at {} ({})",
        win.origin,
        win.layer.describe()
    ));
    for d in rest.iter().rev() {
        printer.line(&format!(
            "    overrides {} at {} ({})",
            d.value,
            d.origin,
            d.layer.describe()
        ));
    }
}

/// Why a value cannot be shown yet, in words: facts are the usual reason.
fn unresolved_reason(e: &VarsError) -> String {
    let s = e.to_string();
    const FACTS: &[&str] = &[
        "ansible_env",
        "ansible_facts",
        "ansible_user_id",
        "ansible_hostname",
        "ansible_fqdn",
        "ansible_distribution",
    ];
    if let Some(f) = FACTS.iter().find(|f| s.contains(&format!("'{f}"))) {
        return format!("uses {f}, a fact gathered from the host when a play runs");
    }
    s
}
