//! Batched probes: the read-only first command of several consecutive tasks,
//! sent to a host in ONE exec instead of one exec each.
//!
//! Every module first reads the host's state (its probe), then decides. When a
//! host reaches a run of tasks whose modules start with a pure probe, the engine
//! asks each module which command it would run first (the module runs in
//! "record" mode: its first command is captured, not sent), sends all of them in
//! one script, and keeps each output under the exact command line and stdin. A
//! module that then sends exactly that command gets the stored output without a
//! round trip. Any other command (a change, a probe that was not predicted) empties
//! the store first, so an output is only ever used if nothing ran on the host
//! since it was read: a wrong prediction costs a round trip, never a wrong result.
//!
//! Reading ahead pays when tasks find nothing to do (a re-run: 11 tasks, 2 execs
//! instead of 11); when they change things, each change throws the rest of the
//! batch away. So a host reads ahead only after a task that changed nothing, over a
//! window that starts at 4 tasks and doubles while whole batches are used.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value as Json};

use super::gather::{batch_script, boundary, parse};
use crate::transport::{Connection, Output, RemoteCommand, TransportError};

/// Modules whose first command only reads the host.
const PROBE_FIRST: &[&str] = &[
    "file",
    "copy",
    "template",
    "lineinfile",
    "blockinfile",
    "replace",
    "stat",
    "slurp",
    "apt",
    "package",
    "service",
    "systemd",
    "user",
    "group",
    "authorized_key",
    "cron",
    "git",
];

/// Can this task's first command be read ahead of time? (Arguments as written;
/// templated values do not change the answer.)
pub fn eligible(module: &str, args: &Map<String, Json>) -> bool {
    match module {
        // the probe of service/systemd runs `daemon-reload` when asked to
        "service" | "systemd" => {
            !args.contains_key("daemon_reload") && !args.contains_key("daemon-reload")
        }
        // without creates/removes, the first command IS the command
        "command" | "shell" => args.contains_key("creates") || args.contains_key("removes"),
        m => PROBE_FIRST.contains(&m),
    }
}

/// What a module in record mode captured: the command it would have sent first.
#[derive(Default)]
pub struct Recorder {
    pub first: Mutex<Option<RemoteCommand>>,
}

/// How many tasks a read-ahead covers at first and at most. The window doubles
/// each time a whole batch was used, and falls back after a change made the rest
/// of a batch useless: a no-change run sends few execs, a run that changes
/// everything probes each task about twice, not once per later task.
const FIRST_WINDOW: usize = 4;
const MAX_WINDOW: usize = 32;

/// Outputs read ahead, by exact command line and stdin.
pub struct Probes {
    outputs: Mutex<HashMap<(String, Vec<u8>), Output>>,
    window: std::sync::atomic::AtomicUsize,
}

impl Default for Probes {
    fn default() -> Probes {
        Probes {
            outputs: Mutex::default(),
            window: FIRST_WINDOW.into(),
        }
    }
}

impl Probes {
    /// How many tasks the next read-ahead may cover.
    pub fn window(&self) -> usize {
        self.window.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_window(&self, n: usize) {
        self.window.store(
            n.clamp(FIRST_WINDOW, MAX_WINDOW),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn is_empty(&self) -> bool {
        self.outputs.lock().unwrap().is_empty()
    }

    /// The stored output of this exact command (used once); else the store is
    /// emptied, because the caller is about to run something live.
    pub fn take(&self, line: &str, stdin: Option<&[u8]>) -> Option<Output> {
        let mut m = self.outputs.lock().unwrap();
        let key = (line.to_string(), stdin.unwrap_or_default().to_vec());
        let hit = m.remove(&key);
        if hit.is_none() {
            if !m.is_empty() {
                self.set_window(FIRST_WINDOW);
            }
            m.clear();
        } else if m.is_empty() {
            self.set_window(self.window() * 2);
        }
        hit
    }

    pub fn clear(&self) {
        let mut m = self.outputs.lock().unwrap();
        if !m.is_empty() {
            self.set_window(FIRST_WINDOW);
        }
        m.clear();
    }

    /// Runs `commands` (lines as `Connection::line` makes them, with their stdin)
    /// in one exec and stores each output. Returns how many were stored.
    pub async fn fetch(
        &self,
        conn: &Connection,
        commands: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<usize, TransportError> {
        let boundary = boundary();
        let script = batch_script(&boundary, &commands, false);
        let cmd = RemoteCommand {
            script,
            stdin: None,
            become_user: None,
            no_become: true,
        };
        let out = conn.run(&cmd).await?;
        let Some(outputs) = parse(&boundary, &out.stdout, commands.len()) else {
            return Ok(0);
        };
        let mut m = self.outputs.lock().unwrap();
        m.clear();
        for ((line, stdin), o) in commands.into_iter().zip(outputs) {
            m.insert((line, stdin.unwrap_or_default()), o);
        }
        Ok(m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::gather::heredoc_safe;
    use crate::transport::{ConnectionSpec, RemoteCommand};

    #[test]
    fn eligibility() {
        let none = Map::new();
        assert!(eligible("file", &none));
        assert!(eligible("apt", &none));
        assert!(!eligible("command", &none));
        assert!(!eligible("debug", &none));
        let mut creates = Map::new();
        creates.insert("creates".into(), Json::from("/x"));
        assert!(eligible("shell", &creates));
        let mut reload = Map::new();
        reload.insert("daemon_reload".into(), Json::from(true));
        assert!(!eligible("systemd", &reload));
    }

    #[test]
    fn heredoc_rules() {
        assert!(heredoc_safe(b"a\nb\n", "B"));
        assert!(!heredoc_safe(b"a\nb", "B"));
        assert!(!heredoc_safe(b"a\nB\n", "B"));
        assert!(!heredoc_safe(&[0xff, b'\n'], "B"));
    }

    /// The batch gives every command exactly what running it alone gives: stdout
    /// (including a missing final newline and binary bytes), stderr, exit status
    /// and stdin.
    #[tokio::test]
    async fn batch_outputs_equal_single_runs() {
        let conn = Connection::open(&ConnectionSpec::local("localhost"))
            .await
            .unwrap();
        let scripts: Vec<(&str, Option<&[u8]>)> = vec![
            ("echo one; echo two", None),
            ("printf 'no newline'", None),
            ("echo out; echo err >&2; exit 3", None),
            (
                "cat; echo done",
                Some(b"line 1\nline '2' $HOME\n".as_slice()),
            ),
            ("printf '\\377\\000x'", None),
            ("true", None),
            ("echo e1 >&2; echo e2 >&2", None),
        ];
        let mut commands = vec![];
        let mut expected = vec![];
        for (script, stdin) in &scripts {
            let cmd = RemoteCommand {
                script: script.to_string(),
                stdin: stdin.map(<[u8]>::to_vec),
                become_user: None,
                no_become: true,
            };
            let (line, _) = conn.line(&cmd);
            expected.push(conn.run(&cmd).await.unwrap());
            commands.push((line, cmd.stdin.clone()));
        }
        let probes = Probes::default();
        assert_eq!(
            probes.fetch(&conn, commands.clone()).await.unwrap(),
            scripts.len()
        );
        for ((line, stdin), want) in commands.iter().zip(&expected) {
            let got = probes.take(line, stdin.as_deref()).expect("stored");
            assert_eq!(&got, want, "{line}");
        }
        assert!(probes.is_empty());
    }

    #[tokio::test]
    async fn a_miss_empties_the_store() {
        let conn = Connection::open(&ConnectionSpec::local("localhost"))
            .await
            .unwrap();
        let probes = Probes::default();
        let cmds = vec![
            ("/bin/sh -c 'echo a'".to_string(), None),
            ("/bin/sh -c 'echo b'".to_string(), None),
        ];
        probes.fetch(&conn, cmds).await.unwrap();
        assert!(probes.take("/bin/sh -c 'echo c'", None).is_none());
        assert!(
            probes.take("/bin/sh -c 'echo b'", None).is_none(),
            "emptied by the miss"
        );
        assert_eq!(probes.window(), FIRST_WINDOW);
        let cmds = vec![
            ("/bin/sh -c 'echo a'".to_string(), None),
            ("/bin/sh -c 'echo b'".to_string(), None),
        ];
        probes.fetch(&conn, cmds).await.unwrap();
        probes.take("/bin/sh -c 'echo a'", None).unwrap();
        probes.take("/bin/sh -c 'echo b'", None).unwrap();
        assert_eq!(
            probes.window(),
            2 * FIRST_WINDOW,
            "a batch fully used widens the next"
        );
    }
}
