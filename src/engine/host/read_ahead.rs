//! Reading ahead: the facts that the next tasks of a host need, gathered in
//! one exec before the first of them runs (see `engine::gather`).

use super::item::Prepared;
use super::*;
use crate::engine::gather;
use crate::modules::protocol::{self, Need};

impl<'e, 'a> HostRun<'e, 'a> {
    /// Reads ahead, in one exec: the facts that the next tasks need. Stops at
    /// the first task whose needs cannot be known yet (a loop, delegation, a condition or argument that needs a result still
    /// to come...) or that will change the host whatever it finds. The play's
    /// pending handlers, not read yet, are read in the same exec when it runs
    /// as the play's user with its home.
    pub(super) async fn read_ahead(
        &mut self,
        tasks: &[Task],
        block_vars: &[VarEntry],
        inherited_when: &[String],
    ) {
        let Some(conn) = self.conn.clone() else {
            return;
        };
        if self.last_changed {
            return;
        }
        let opts = self.eng.opts;
        let mut needs: Vec<Need> = Vec::new();
        let mut first: Option<Prepared> = None;
        let window = self.facts.window();
        for task in tasks.iter().take(window) {
            let Action::Module { def: module, args } = &task.action else {
                break;
            };
            if !self.started
                || task.loop_.is_some()
                || task.delegate_to.is_some()
                || task.remote_user.is_some()
                || task.run_once.is_some()
                || task.until.is_some()
            {
                break;
            }
            if !tags_match(&task.tags, &opts.tags, &opts.skip_tags) {
                continue;
            }
            let mut when = inherited_when.to_vec();
            when.extend(task.when.iter().cloned());
            // what cannot be known now ends the read-ahead
            let prepared = match self.prepare(task, module, args, block_vars, &when, Scope::new()) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(_) => break,
            };
            if let Some(f) = &first
                && (f.become_user != prepared.become_user || f.environment != prepared.environment)
            {
                break;
            }
            let env = prepared.env(self, &conn);
            let Some(n) = crate::engine::apply::needs(module.module, &prepared.args, &env) else {
                break;
            };
            needs.extend(n);
            let predictable = module.module.predictable(&prepared.args);
            drop(env);
            if first.is_none() {
                first = Some(prepared);
            }
            if !predictable {
                break;
            }
        }
        let Some(p) = &first else {
            return;
        };
        // builtins only, written for the gathering's own shell
        let script = format!("{}{}", protocol::SHARED_SHELL, facts::pending_read());
        let pending = Need::Probe(script.clone());
        let with_pending = self.pending_unread
            && p.become_user == self.become_user(None)
            && !p
                .environment
                .iter()
                .any(|(k, _)| k == "HOME" || k == "XDG_STATE_HOME");
        if with_pending {
            needs.push(pending.clone());
        }
        if needs.is_empty() {
            return;
        }
        let env = p.env(self, &conn);
        crate::engine::apply::read_ahead(&env, &self.facts, &needs).await;
        if !with_pending {
            return;
        }
        let key = gather::context_key(env.become_user, env.environment);
        drop(env);
        let read = self.facts.with(&key, std::slice::from_ref(&pending), |f| {
            f.probes
                .get(&script)
                .filter(|o| o.success())
                .map(|o| facts::pending_names(&o.stdout_str()))
        });
        // not read (the exec failed): `ensure_pending` reads it alone later
        if let Some(names) = read {
            self.take_pending(names);
        }
    }
}
