//! group_by: the host put in the group `key` (under `parents`) of the run's
//! inventory, for the later plays of the run. Decided on the controller
//! alone; the engine grows the inventory.

use serde_json::json;

use super::builtin::Pure;
use super::fail::{self, Fail};
use super::protocol::Ctx;
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static RUN_GROUP_BY: Pure = Pure(group_by);

pub static GROUP_BY: Spec = Spec::new(
    "group_by",
    &[
        ArgSpec::new("key", Kind::Str).required(),
        ArgSpec::new("parents", Kind::List),
    ],
);

fn group_by(args: &Args, ctx: &Ctx) -> Result<Outcome, Fail> {
    let key = args.str("key").map(str::trim).unwrap_or_default();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return fail::bad_args(format!(
            "group_by: key '{key}' is not a group name (no spaces; e.g. key: os_{{{{ ansible_distribution }}}})"
        ));
    }
    let mut parents = args.strings("parents");
    if parents.is_empty() {
        parents.push("all".into());
    }
    let mut o = Outcome::changed().with(
        "add_group",
        json!({"group": key, "parent_groups": parents, "host": ctx.host}),
    );
    o.msg = Some(format!("{} in group {key}", ctx.host));
    Ok(o)
}
