//! pause: wait a number of seconds or minutes, or for the operator to press
//! Enter, as Ansible's `pause`. Runs on the controller, no exec on the host:
//! the plan is an `Action::Pause` (run by `engine::local`), applied in check
//! mode too since it changes nothing.
//!
//! A prompt waits for input only on an interactive terminal: with `CI` set or
//! no TTY on stdin, a prompt without a duration returns at once with a
//! warning, and a prompt with a duration just sleeps. The prompt is asked once
//! per task and its answer given to every host (Ansible runs pause once too).

use std::time::SystemTime;

use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Change, Ctx, Facts, InCheck, Module, Need, Pause, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static PAUSE: Spec = Spec {
    mutually_exclusive: &[&["minutes", "seconds"]],
    ..Spec::new(
        "pause",
        &[
            ArgSpec::new("seconds", Kind::Int),
            ArgSpec::new("minutes", Kind::Int),
            ArgSpec::new("prompt", Kind::Str),
            ArgSpec::new("echo", Kind::Bool),
        ],
    )
};

pub struct PauseModule;

fn stamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

impl Module for PauseModule {
    fn needs(&self, _: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![])
    }

    /// The operator may change the host while it waits: read nothing ahead.
    fn predictable(&self, _: &Args) -> bool {
        false
    }

    fn decide(&self, args: &Args, _: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let seconds = match (args.int("seconds"), args.int("minutes")) {
            (Some(s), _) if s < 0 => return fail::bad_args("seconds must not be negative"),
            (_, Some(m)) if m < 0 => return fail::bad_args("minutes must not be negative"),
            (Some(s), _) => Some(s as u64),
            (_, Some(m)) => Some(m as u64 * 60),
            _ => None,
        };
        let echo = args.bool_or("echo", true);
        Ok(Plan::Change(Box::new(Change {
            outcome: Outcome::ok().with("echo", echo),
            action: Action::Pause(Pause {
                seconds,
                prompt: args.string("prompt"),
                echo,
                key: ctx.location.to_string(),
            }),
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
        let Applied::Paused(p) = result else {
            return Ok(planned);
        };
        let mut o = planned.with("start", stamp(p.start));
        o = match p.seconds {
            _ if p.not_asked => {
                o.print = true;
                o.with("stdout", "Paused for 0 seconds")
                    .msg("not waiting for input: no terminal (or CI is set); continuing")
            }
            Some(s) => o.with("stdout", format!("Paused for {s} seconds")),
            None => o.with(
                "stdout",
                format!("Paused for {:.2} minutes", p.elapsed.as_secs_f64() / 60.0),
            ),
        };
        Ok(o.with("user_input", p.user_input)
            .with("stop", stamp(p.stop))
            .with("delta", p.elapsed.as_secs_f64().round() as u64))
    }
}
