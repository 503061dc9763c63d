//! The start of a host's play: connect, gather facts and the pending
//! handlers in one exec, set the play's variables and read its vars_files.
//! A play without gathered facts sends nothing at its start: the pending
//! handlers are read with the first gather exec (`read_ahead`), else alone
//! before handlers are flushed or saved (`ensure_pending`).

use super::*;

impl<'e, 'a> HostRun<'e, 'a> {
    /// Opens (or reuses) the host's connection; when it cannot, reports the
    /// host unreachable (as task `what` at `loc`).
    pub(super) async fn connect(&mut self, what: &str, loc: &Location) -> Option<Arc<Connection>> {
        match self.eng.conns.get(&self.spec).await {
            Ok(c) => {
                self.conn = Some(c.clone());
                Some(c)
            }
            Err(e) => {
                let msg = match e.hint() {
                    Some(h) => format!("{e} (hint: {h})"),
                    None => e.to_string(),
                };
                report_simple(self.eng, &self.host, what, loc, Status::Unreachable, &msg);
                None
            }
        }
    }

    /// Connects, gathers facts and reads pending handlers (one exec; none without
    /// facts: see `ensure_pending`), and sets the play's variables.
    pub(super) async fn start(&mut self) -> Flow {
        let loc = self.play.location.clone();
        let Some(conn) = self.connect("connect", &loc).await else {
            return Flow::Unreachable;
        };
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
        if !gather {
            self.pending_unread = true;
            return self.read_vars_files();
        }
        let g = facts::Gather {
            subset: &self.play.gather_subset,
            fact_path: self.play.fact_path.as_deref(),
            timeout: self.play.gather_timeout,
        };
        let cmd = self.play_command(facts::script(g), None);
        let started = Instant::now();
        match conn.run(&cmd).await {
            Ok(out) if out.success() => {
                let (f, pending) = facts::parse(&out.stdout_str(), g);
                for (k, v) in f {
                    let d = Definition {
                        value: v,
                        origin: Origin::Builtin {
                            what: "facts".into(),
                        },
                        layer: Layer::Facts,
                    };
                    // Gathered facts stay for later plays (the fact cache).
                    self.eng.keep(
                        &self.host,
                        super::super::Kept {
                            name: k.clone(),
                            def: d.clone(),
                            cached: true,
                        },
                    );
                    self.scope.set(k, d);
                }
                self.take_pending(pending);
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
        self.read_vars_files()
    }

    /// The play's vars_files: read now (their paths may use variables), at their layer.
    fn read_vars_files(&mut self) -> Flow {
        for (alternatives, loc) in &self.play.vars_files {
            if let Err(e) = self.vars_file(alternatives, loc) {
                report_simple(self.eng, &self.host, "vars_files", loc, Status::Failed, &e);
                return Flow::Failed;
            }
        }
        Flow::Continue
    }

    /// Reads one of the play's vars_files (the first of its alternatives that
    /// exists, each path templated) into the scope.
    fn vars_file(&mut self, alternatives: &[String], loc: &Location) -> Result<(), String> {
        let ctx = self.context(None, &[]);
        let mut looked = Vec::new();
        for path in alternatives {
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
            if alternatives.len() > 1 && !full.is_file() {
                looked.push(crate::location::display_path(&full));
                continue;
            }
            let vars = crate::yaml::parse_file(&full)
                .and_then(|n| n.to_var_map(&full))
                .map_err(|e| e.to_string())?;
            for (k, (v, l)) in vars {
                self.scope.set(k, def(&v, &l, Layer::PlayVarsFiles));
            }
            return Ok(());
        }
        Err(format!(
            "none of the vars files exists (looked at {}); add one, or fix the names",
            looked.join(", ")
        ))
    }
}
