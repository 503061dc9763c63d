//! Running a module of the protocol on a host: gather its facts (from the
//! read-ahead when they are there), let it decide, and apply its change unless
//! the task is in check mode (unless it changes nothing: `InCheck::Apply`).
//! This is the one place where check mode is enforced for protocol modules.
//! Host actions run on the host; controller actions in `engine::local`.

use super::gather::{self, FactCache, context_key};
use super::local;
use crate::modules::fail::{self, Fail};
use crate::modules::protocol::{Action, Applied, Ctx, InCheck, Module, Need, Plan};
use crate::modules::remote_file;
use crate::modules::{Args, HostEnv, Outcome};
use crate::transport::TransportError;

/// How many times a module may ask for more facts before it is a bug.
const MAX_READS: usize = 4;

/// The controller-side context of a task's module.
pub fn ctx<'a>(env: &'a HostEnv<'a>) -> Ctx<'a> {
    Ctx {
        host: env.host,
        diff: env.diff,
        search: env.search,
        location: env.location,
        vars: env.vars,
        templar: env.templar,
    }
}

/// The needs of a task, for a read-ahead (`None`: its arguments are bad, the
/// task will say so when it runs).
pub fn needs(m: &dyn Module, args: &Args, env: &HostEnv<'_>) -> Option<Vec<Need>> {
    m.needs(args, &ctx(env)).ok()
}

/// Gathers `needs` of the next tasks in one exec, ahead of running them.
pub async fn read_ahead(env: &HostEnv<'_>, cache: &FactCache, needs: &[Need]) {
    let key = context_key(env.become_user, env.environment);
    let missing = cache.missing(&key, needs);
    if missing.is_empty() {
        return;
    }
    // A failure here costs nothing but the read-ahead: each task reads again.
    if let Ok(facts) = gather::gather(env, &missing).await {
        cache.add(&key, facts, &missing, true);
        cache.keep_trace(std::mem::take(&mut *env.trace.lock().unwrap()));
    }
}

/// Runs `m` with `args` on the task's host. `Err`: why it stopped, which
/// [`outcome`] turns into the task's result.
pub async fn run(
    m: &dyn Module,
    args: &Args,
    env: &HostEnv<'_>,
    cache: &FactCache,
) -> Result<Outcome, Fail> {
    let ctx = ctx(env);
    let key = context_key(env.become_user, env.environment);
    let mut needs = m.needs(args, &ctx)?;
    for _ in 0..MAX_READS {
        let missing = cache.missing(&key, &needs);
        if !missing.is_empty() {
            let facts = gather::gather(env, &missing).await?;
            cache.add(&key, facts, &missing, false);
        }
        let plan = cache.with(&key, &needs, |facts| m.decide(args, facts, &ctx));
        env.trace.lock().unwrap().extend(cache.take_trace());
        let plan = plan?;
        let change = match plan {
            Plan::Done(o) => return Ok(o),
            Plan::More(more) => {
                needs.extend(more);
                continue;
            }
            Plan::Change(c) => c,
        };
        if env.check {
            match change.in_check {
                InCheck::Changed => return Ok(change.outcome),
                InCheck::Skipped(msg) => {
                    let mut o = change.outcome;
                    o.changed = false;
                    o.skipped = true;
                    o.msg = Some(msg);
                    return Ok(o);
                }
                // changes nothing: runs in check mode too
                InCheck::Apply => {}
            }
        }
        // The host is about to change: nothing read before may be used after.
        cache.clear();
        let result = match &change.action {
            Action::Script { script, stdin } => {
                Applied::Script(env.run_stdin(script, stdin.clone()).await?)
            }
            Action::Files { ops, validate } => {
                Applied::Files(remote_file::run_ops(env, ops, validate.as_deref()).await?)
            }
            Action::WriteLocal { path, content } => {
                local::write_atomic(path, content)?;
                Applied::WroteLocal
            }
            Action::Pause(p) => Applied::Paused(local::pause(p).await?),
            Action::Reconnect(r) => Applied::Reconnected(local::reconnect(env.conn, r).await?),
            Action::Rsync(r) => local::rsync(env, r).await?,
            Action::Reboot(r) => Applied::Rebooted(local::reboot(env, r).await?),
            Action::Ship { images, tags } => local::ship(env, images, tags).await?,
        };
        return m.applied(args, change.outcome, result, &ctx);
    }
    fail::bad_args(format!(
        "internal error: the module asked for more facts {MAX_READS} times"
    ))
}

/// The one place where a module's [`Fail`] becomes the task's result: a task
/// failure fails with its message, bad arguments with the module's name
/// before it, a transport error with its hint (and the host unreachable when
/// the connection is gone).
pub fn outcome(module: &str, f: Fail) -> Outcome {
    match f {
        Fail::Task(msg) => Outcome::failed(msg),
        Fail::Args(msg) => Outcome::failed(format!("{module}: {msg}")),
        Fail::Transport(e) => {
            let mut o = Outcome::failed(match e.hint() {
                Some(h) => format!("{e} (hint: {h})"),
                None => e.to_string(),
            });
            o.unreachable = matches!(e, TransportError::Disconnected { .. });
            o
        }
    }
}
