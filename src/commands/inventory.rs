//! `opsctl inventory --graph | --list`: the inventory as `ansible-inventory` shows it.

use indexmap::IndexMap;

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
    // borrowed unless --limit restricts it (a copy of 100,000 hosts costs)
    let restricted: Inventory;
    let inventory: &Inventory = match &args.limit {
        Some(p) => {
            restricted = restrict(&loaded.inventory, &loaded.select(Some(p))?);
            &restricted
        }
        None => &loaded.inventory,
    };
    if args.graph {
        if let Some(g) = &args.group
            && !inventory.groups.contains_key(g)
        {
            let known: Vec<&str> = inventory.groups.keys().map(String::as_str).collect();
            return Err(Error::new(format!("no group '{g}' in the inventory"))
                .hint(format!("groups: {}", known.join(", "))));
        }
        let text = inventory.graph(args.group.as_deref());
        printer.result(text.trim_end_matches('\n'));
        return Ok(Exit::Success);
    }
    if args.group.is_some() {
        return Err(
            Error::new("a GROUP argument goes with --graph").hint("opsctl inventory --graph GROUP")
        );
    }
    let mut hostvars = IndexMap::new();
    for host in inventory.hosts.keys() {
        hostvars.insert(
            host.clone(),
            serde_json::Value::Object(loaded.vars.raw(host).into_iter().collect()),
        );
    }
    let doc = inventory.list_json(hostvars);
    // Byte for byte what ansible-inventory prints (4-space indent, sorted keys).
    printer.result(&crate::inventory::export::to_ansible_json(&doc));
    Ok(Exit::Success)
}

/// The inventory with only `hosts` kept (groups keep their structure).
fn restrict(inv: &Inventory, hosts: &[String]) -> Inventory {
    let keep: std::collections::HashSet<&str> = hosts.iter().map(String::as_str).collect();
    let mut out = inv.clone();
    out.hosts.retain(|h, _| keep.contains(h.as_str()));
    for g in out.groups.values_mut() {
        g.hosts.retain(|h| keep.contains(h.as_str()));
    }
    out
}
