//! The start of a host's play: connect, gather facts and the pending
//! handlers in one exec, set the play's variables and read its vars_files.

use super::*;

impl<'e, 'a> HostRun<'e, 'a> {
    /// Connects, gathers facts and reads pending handlers (one exec), and sets the
    /// play's variables.
    pub(super) async fn start(&mut self) -> Flow {
        let conn = match self.eng.conns.get(&self.spec).await {
            Ok(c) => c,
            Err(e) => {
                let msg = match e.hint() {
                    Some(h) => format!("{e} (hint: {h})"),
                    None => e.to_string(),
                };
                report_simple(
                    self.eng,
                    &self.host,
                    "connect",
                    &self.play.location,
                    Status::Unreachable,
                    &msg,
                );
                return Flow::Unreachable;
            }
        };
        self.conn = Some(conn.clone());
        // Ansible's magic variables for the run's mode.
        for (name, value) in [
            ("ansible_check_mode", json!(self.eng.opts.check)),
            ("ansible_diff_mode", json!(self.eng.opts.diff)),
            ("omit", json!(crate::modules::args::OMIT)),
        ] {
            self.scope.set(
                name,
                Definition {
                    value,
                    origin: Origin::Builtin {
                        what: "magic variables".into(),
                    },
                    layer: Layer::Facts,
                },
            );
        }
        // Play vars (templated lazily, like every variable).
        for v in &self.play.vars {
            self.scope
                .set(&v.name, def(&v.value, &v.location, Layer::PlayVars));
        }
        let gather = match &self.play.gather_facts {
            None => true,
            Some(v) => self.truthy(v, &self.play.location).unwrap_or(true),
        };
        let become_user = self.become_user(None);
        let cmd = RemoteCommand {
            script: facts::script(gather),
            stdin: None,
            no_become: become_user.is_none(),
            become_user,
        };
        let started = Instant::now();
        match conn.run(&cmd).await {
            Ok(out) if out.success() => {
                let (f, pending) = facts::parse(&out.stdout_str(), gather);
                for (k, v) in f {
                    self.scope.set(
                        k,
                        Definition {
                            value: v,
                            origin: Origin::Builtin {
                                what: "facts".into(),
                            },
                            layer: Layer::Facts,
                        },
                    );
                }
                self.had_pending = !pending.is_empty();
                let handlers = self.all_handlers();
                let (ours, theirs): (Vec<String>, Vec<String>) = pending
                    .into_iter()
                    .partition(|name| handlers.iter().any(|h| handler_matches(h, name)));
                self.notified.extend(ours);
                self.foreign_pending = theirs;
                if gather {
                    let loc = self.play.location.clone();
                    self.report(
                        "Gathering Facts",
                        None,
                        &loc,
                        Status::Ok,
                        None,
                        &[],
                        started,
                        false,
                        false,
                        &[],
                    );
                }
            }
            Ok(out) => {
                let msg = format!(
                    "gathering facts failed (exit {:?}): {}",
                    out.rc,
                    out.stderr_str().trim()
                );
                report_simple(
                    self.eng,
                    &self.host,
                    "Gathering Facts",
                    &self.play.location,
                    Status::Failed,
                    &msg,
                );
                return Flow::Failed;
            }
            Err(e) => {
                let status = if matches!(e, crate::transport::TransportError::Disconnected { .. }) {
                    Status::Unreachable
                } else {
                    Status::Failed
                };
                let msg = match e.hint() {
                    Some(h) => format!("{e} (hint: {h})"),
                    None => e.to_string(),
                };
                report_simple(
                    self.eng,
                    &self.host,
                    "Gathering Facts",
                    &self.play.location,
                    status,
                    &msg,
                );
                return if status == Status::Unreachable {
                    Flow::Unreachable
                } else {
                    Flow::Failed
                };
            }
        }
        // vars_files: read now (their paths may use variables), at their layer.
        for (path, loc) in &self.play.vars_files {
            if let Err(e) = self.vars_file(path, loc) {
                report_simple(self.eng, &self.host, "vars_files", loc, Status::Failed, &e);
                return Flow::Failed;
            }
        }
        Flow::Continue
    }

    /// Reads one of the play's vars_files (its path templated) into the scope.
    fn vars_file(&mut self, path: &str, loc: &Location) -> Result<(), String> {
        let ctx = self.context(None, &[]);
        let p = self
            .eng
            .loaded
            .vars
            .templar
            .render_str(path, &ctx, Some(loc))
            .map_err(|e| e.to_string())?;
        let full = if Path::new(&p).is_absolute() {
            PathBuf::from(&p)
        } else {
            self.eng.playbook_dir.join(&p)
        };
        let vars = crate::yaml::parse_file(&full)
            .and_then(|n| n.to_var_map(&full))
            .map_err(|e| e.to_string())?;
        for (k, (v, l)) in vars {
            self.scope.set(k, def(&v, &l, Layer::PlayVarsFiles));
        }
        Ok(())
    }
}
