//! `opsctl inventory --graph | --list`: the inventory as `ansible-inventory` shows it.

use std::collections::HashSet;

use rustc_hash::FxBuildHasher;

use super::Loaded;
use crate::error::{Error, Exit, Result};
use crate::inventory::Inventory;
use crate::printer::Printer;

/// `opsctl inventory`: `--graph` (from `group`) or `--list`, within `--limit`.
#[derive(Debug, Clone)]
pub struct InventoryOptions {
    pub limit: Option<String>,
    pub graph: bool,
    pub list: bool,
    pub group: Option<String>,
}

pub fn run(loaded: &Loaded, args: InventoryOptions, printer: &Printer) -> Result<Exit> {
    let inventory: &Inventory = &loaded.inventory;
    // --limit: the hosts kept, unless it selects every host
    let mut selected: Option<HashSet<&str, FxBuildHasher>> = None;
    // `@file` parts: the hosts listed in the file
    let limit = args
        .limit
        .as_deref()
        .map(crate::session::limit_files)
        .transpose()?;
    if let Some(p) = &limit {
        let hosts = inventory.select_names(p)?;
        if hosts.is_empty() {
            // the error (no host in the inventory, or none matched)
            loaded.select(Some(p))?;
        }
        // selected hosts are distinct hosts of the inventory: as many as it
        // has means all of them
        if hosts.len() < inventory.hosts.len() {
            selected = Some(hosts.into_iter().collect());
        }
    }
    let keep = selected.as_ref().map(|s| move |h: &str| s.contains(h));
    if args.graph {
        if let Some(g) = &args.group
            && !inventory.groups.contains_key(g)
        {
            let known: Vec<&str> = inventory.groups.keys().map(String::as_str).collect();
            return Err(Error::new(format!("no group '{g}' in the inventory"))
                .hint(format!("groups: {}", known.join(", "))));
        }
        let within = |h: &str| keep.as_ref().is_none_or(|k| k(h));
        if printer.is_json() {
            let tree = inventory.graph_tree_within(args.group.as_deref(), within);
            printer.json(&serde_json::json!({ "graph": tree }));
        } else {
            let text = inventory.graph_within(args.group.as_deref(), within);
            printer.result(text.trim_end_matches('\n'));
        }
        return Ok(Exit::Success);
    }
    if args.group.is_some() {
        return Err(
            Error::new("a GROUP argument goes with --graph").hint("opsctl inventory --graph GROUP")
        );
    }
    // Byte for byte what ansible-inventory prints (4-space indent, sorted keys).
    let mut raw = loaded.vars.raw();
    let text = inventory.list_text(
        keep.as_ref().map(|k| k as &dyn Fn(&str) -> bool),
        |host, out| raw.host(host, out),
    );
    if printer.is_json() {
        // The same document, on one line.
        let doc: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::new(format!("the inventory's JSON does not parse: {e}")))?;
        printer.json(&doc);
    } else {
        printer.result(&text);
    }
    Ok(Exit::Success)
}
