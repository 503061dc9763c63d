//! wait_for_connection: wait until the host answers over opsctl's transport,
//! as Ansible's (`delay`, `sleep`, `timeout`, `connect_timeout`). Runs on the
//! controller: the plan is an `Action::Reconnect` (run by `engine::local`):
//! new connections made as the task's own is (user, key, ProxyCommand, host
//! key checking), each running `echo pong`, until one answers. Applied in
//! check mode too, since it changes nothing. Registers `elapsed` (seconds).

use super::fail::{self, Fail};
use super::protocol::{
    Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Plan, Reconnect,
};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static WAIT_FOR_CONNECTION: Spec = Spec::new(
    "wait_for_connection",
    &[
        ArgSpec::new("connect_timeout", Kind::Int),
        ArgSpec::new("delay", Kind::Int),
        ArgSpec::new("sleep", Kind::Int),
        ArgSpec::new("timeout", Kind::Int),
    ],
);

pub struct WaitForConnection;

impl Module for WaitForConnection {
    fn needs(&self, _: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![])
    }

    /// The host may come and go meanwhile: read nothing ahead past it.
    fn predictable(&self, _: &Args) -> bool {
        false
    }

    fn decide(&self, args: &Args, _: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let arg = |name: &str, default: i64| fail::non_negative(args, name, default);
        let r = Reconnect {
            delay: arg("delay", 0)?,
            sleep: arg("sleep", 1)?.max(1),
            timeout: arg("timeout", 600)?,
            connect_timeout: arg("connect_timeout", 5)?.max(1),
        };
        Ok(Plan::Change(Box::new(Change {
            outcome: Outcome::ok(),
            action: Action::Reconnect(r),
            in_check: InCheck::Apply,
        })))
    }

    fn applied(
        &self,
        _: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        match result {
            Applied::Reconnected(d) => Ok(planned.with("elapsed", d.as_secs())),
            _ => Ok(planned),
        }
    }
}
