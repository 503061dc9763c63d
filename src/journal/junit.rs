//! `--junit FILE`: the run as a JUnit XML report (the schema Jenkins and GitLab
//! read, tests/fixtures/junit/junit-10.xsd): one `testsuite` per host, one
//! `testcase` per task on that host. A failed task is a `failure` with its
//! message, an unreachable host an `error`, a skipped task `skipped`; with
//! `--fail-on-change` a changed task is a `failure` too (drift).

use std::fmt::Write as _;

use super::view::RunView;

/// Escapes text for XML content and attribute values; drops characters XML 1.0
/// cannot carry (control characters other than tab, CR, LF).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes element content: like [`escape`], but newlines stay newlines.
pub fn escape_text(s: &str) -> String {
    escape(s)
        .replace("&#10;", "\n")
        .replace("&#13;", "")
        .replace("&#9;", "\t")
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// The report. `fail_on_change`: changed tasks are failures.
pub fn render(run: &RunView, fail_on_change: bool) -> String {
    let results = run.results();
    let hosts = run.hosts();
    let mut suites = String::new();
    let (mut all_tests, mut all_failures, mut all_errors, mut all_ms) =
        (0usize, 0usize, 0usize, 0u64);
    let timestamp = run
        .h("start")
        .map(|s| {
            s.trim_end_matches('Z')
                .split('.')
                .next()
                .unwrap_or(s)
                .to_string()
        })
        .unwrap_or_default();
    let what = match (run.h("command"), run.h("env")) {
        (Some(c), Some(e)) => format!("opsctl {c} --env {e}"),
        (Some(c), None) => format!("opsctl {c}"),
        _ => "opsctl".into(),
    };
    for (n, host) in hosts.iter().enumerate() {
        let mine: Vec<_> = results.iter().filter(|r| &r.host == host).collect();
        let (mut failures, mut errors, mut skipped, mut ms) = (0usize, 0usize, 0usize, 0u64);
        let mut cases = String::new();
        for r in &mine {
            ms += r.duration_ms;
            let mut body = String::new();
            let msg = r.msg.clone().unwrap_or_default();
            match r.status.as_str() {
                "failed" if r.is_failure() => {
                    failures += 1;
                    let _ = write!(
                        body,
                        "<failure type=\"failed\" message=\"{}\">{}</failure>",
                        escape(&first_line(&msg)),
                        escape_text(&detail(r))
                    );
                }
                "unreachable" => {
                    errors += 1;
                    let _ = write!(
                        body,
                        "<error type=\"unreachable\" message=\"{}\">{}</error>",
                        escape(&first_line(&msg)),
                        escape_text(&msg)
                    );
                }
                "skipped" => {
                    skipped += 1;
                    let _ = write!(
                        body,
                        "<skipped message=\"{}\"/>",
                        escape(if msg.is_empty() { "skipped" } else { &msg })
                    );
                }
                "changed" if fail_on_change => {
                    failures += 1;
                    let _ = write!(
                        body,
                        "<failure type=\"changed\" message=\"changed (drift; --fail-on-change)\">{}</failure>",
                        escape_text(&detail(r))
                    );
                }
                _ => {}
            }
            let mut out = String::new();
            if r.status == "failed" && r.ignored {
                out.push_str("failed, ignored (ignore_errors)\n");
            }
            if r.rescued {
                out.push_str("failed, rescued by the block's rescue\n");
            }
            if r.status == "changed" {
                out.push_str("changed\n");
            }
            for (label, diff) in &r.diffs {
                let _ = writeln!(out, "--- {label}\n{diff}");
            }
            if !out.is_empty() {
                let _ = write!(body, "<system-out>{}</system-out>", escape_text(&out));
            }
            let name = match &r.location {
                Some(l) => format!("{} ({l})", r.title()),
                None => r.title(),
            };
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
                escape(host),
                escape(&name),
                secs(r.duration_ms)
            );
            if body.is_empty() {
                cases.push_str("/>\n");
            } else {
                let _ = writeln!(cases, ">{body}</testcase>");
            }
        }
        all_tests += mine.len();
        all_failures += failures;
        all_errors += errors;
        all_ms += ms;
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\" hostname=\"{}\" id=\"{n}\" package=\"{}\">",
            escape(host),
            mine.len(),
            secs(ms),
            escape(&timestamp),
            escape(host),
            escape(&what)
        );
        let _ = writeln!(
            suites,
            "    <properties>\n      <property name=\"opsctl.run\" value=\"{}\"/>\n      <property name=\"opsctl.command\" value=\"{}\"/>\n    </properties>",
            escape(run.id()),
            escape(run.h("command_line").unwrap_or(""))
        );
        suites.push_str(&cases);
        suites.push_str("  </testsuite>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"{all_errors}\" time=\"{}\">\n{suites}</testsuites>\n",
        escape(&format!("{what} (run {})", run.id())),
        secs(all_ms)
    )
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or("").trim();
    if l.chars().count() > 200 {
        format!("{}...", l.chars().take(200).collect::<String>())
    } else {
        l.to_string()
    }
}

fn detail(r: &super::view::TaskResult) -> String {
    let mut s = String::new();
    if let Some(loc) = &r.location {
        let _ = writeln!(s, "task: {} ({loc})", r.title());
    }
    if let Some(m) = &r.msg {
        let _ = writeln!(s, "{m}");
    }
    for (item, status, msg) in &r.items {
        if status == "failed" || status == "changed" {
            let _ = writeln!(
                s,
                "item {item}: {status}{}",
                msg.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_skips_and_errors() {
        let v = RunView::from_lines(vec![
            json!({"type": "run", "id": "r1", "command": "run", "env": "staging", "start": "2026-01-05T10:00:00.000Z"}),
            json!({"type": "task", "host": "web1", "task": "a <b>", "status": "failed", "msg": "exit 1: \"no\"\nmore", "duration_ms": 1500, "file": "p.yml", "line": 4}),
            json!({"type": "task", "host": "web1", "task": "c", "status": "skipped"}),
            json!({"type": "task", "host": "web2", "task": "a <b>", "status": "changed", "duration_ms": 20}),
            json!({"type": "task", "host": "web3", "task": "Gathering Facts", "status": "unreachable", "msg": "ssh: refused"}),
        ]);
        let x = render(&v, false);
        assert!(x.contains("<testsuites name=\"opsctl run --env staging (run r1)\" tests=\"4\" failures=\"1\" errors=\"1\""));
        assert!(x.contains("name=\"a &lt;b&gt; (p.yml:4)\" time=\"1.500\"><failure type=\"failed\" message=\"exit 1: &quot;no&quot;\">"));
        assert!(x.contains("<skipped message=\"skipped\"/>"));
        assert!(x.contains("<error type=\"unreachable\" message=\"ssh: refused\">"));
        assert!(render(&v, true).contains("failures=\"2\""));
        assert_eq!(escape("a\u{1}b"), "ab");
    }
}
