//! ping: the host answers (a real round trip: opsctl's `sh` runs there, as
//! the task's become user when it becomes) with `ping: pong` (or `data`), as
//! Ansible's ping module; `data: crash` fails, as there. Read-only.

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static PING: Spec = Spec::new("ping", &[ArgSpec::new("data", Kind::Str)]);

/// `ping` on the module protocol.
pub struct Ping;

impl Module for Ping {
    fn needs(&self, _: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Host])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        facts.host()?;
        let data = args.str("data").unwrap_or("pong").to_string();
        if data == "crash" {
            return fail::fail("boom (data=crash asks ping to fail)");
        }
        Ok(Plan::Done(Outcome::ok().with("ping", data)))
    }
}
