//! Reading ahead: the facts that the next tasks of a host need, gathered in
//! one exec before the first of them runs (see `engine::gather`).

use super::item::Prepared;
use super::*;

impl<'e, 'a> HostRun<'e, 'a> {
    /// Reads ahead, in one exec: the facts that the next tasks need. Stops at
    /// the first task whose needs cannot be known yet (a loop, delegation, a condition or argument that needs a result still
    /// to come...) or that will change the host whatever it finds.
    pub(super) async fn read_ahead(
        &self,
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
        let mut needs: Vec<crate::modules::protocol::Need> = Vec::new();
        let mut first: Option<Prepared> = None;
        let window = self.facts.window();
        for task in tasks.iter().take(window) {
            let Action::Module { def: module, args } = &task.action else {
                break;
            };
            if !self.started
                || task.loop_.is_some()
                || task.delegate_to.is_some()
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
        if let Some(p) = &first
            && !needs.is_empty()
        {
            let env = p.env(self, &conn);
            crate::engine::apply::read_ahead(&env, &self.facts, &needs).await;
        }
    }
}
