//! `opsctl runs report ID --html FILE`: one run as a single self-contained HTML
//! page (inline CSS and a few lines of inline JS, no network asset): the run's
//! facts, its failures first, a hosts x tasks grid with durations, then every
//! result with its message, loop items and diffs. Works with JS off too (the
//! details are `<details>` elements; JS only adds the filter and opens the
//! details a grid cell links to).

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::junit::{escape, escape_text};
use super::time;
use super::view::{RunView, TaskResult};

const CSS: &str = r#"
:root { --ok:#1a7f37; --changed:#9a6700; --failed:#cf222e; --skipped:#6e7781; --unreachable:#8250df; --bg:#fff; --fg:#1f2328; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; padding: 1.2em 2em 3em; max-width: 1400px; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.1em; margin: 1.6em 0 .5em; border-bottom: 1px solid var(--line); padding-bottom: .2em; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: .1em .6em; border-radius: 1em; color: #fff; font-weight: 600; vertical-align: middle; }
.b-ok { background: var(--ok); } .b-failed, .b-error, .b-interrupted, .b-unfinished { background: var(--failed); } .b-unreachable { background: var(--unreachable); }
table { border-collapse: collapse; }
table.facts td { padding: .15em 1em .15em 0; vertical-align: top; } table.facts td:first-child { color: #57606a; white-space: nowrap; }
table.grid { margin-top: .5em; } table.grid th, table.grid td { border: 1px solid var(--line); padding: .25em .5em; text-align: left; }
table.grid th.host { writing-mode: horizontal-tb; white-space: nowrap; }
table.grid td.task { max-width: 40em; } table.grid td.task small { color: #57606a; display: block; }
td.cell { white-space: nowrap; text-align: center; } td.cell a { color: inherit; text-decoration: none; font-weight: 600; } td.cell small { display: block; font-weight: normal; opacity: .8; }
.s-ok { background: #dafbe1; } .s-changed { background: #fff8c5; } .s-failed { background: #ffebe9; color: var(--failed); } .s-skipped { background: #f6f8fa; color: var(--skipped); } .s-unreachable { background: #fbefff; color: var(--unreachable); } .s-none { background: repeating-linear-gradient(45deg,#fff,#fff 4px,#f6f8fa 4px,#f6f8fa 8px); }
.s-rescued, .s-ignored { background: #fff1e5; color: var(--changed); }
.failures { border: 1px solid var(--failed); border-radius: 6px; padding: .6em 1em; background: #fff5f5; }
.failures li { margin: .3em 0; }
details { border: 1px solid var(--line); border-radius: 6px; margin: .35em 0; padding: .3em .8em; }
details[open] { background: #f6f8fa; } summary { cursor: pointer; }
pre { white-space: pre-wrap; word-break: break-word; margin: .4em 0; padding: .5em; background: #fff; border: 1px solid var(--line); border-radius: 4px; }
.add { color: var(--ok); } .del { color: var(--failed); } .hunk { color: #8250df; }
.muted { color: #57606a; } .err { color: var(--failed); white-space: pre-wrap; }
label.filter { margin-left: 1em; font-weight: normal; font-size: .9em; }
"#;

const JS: &str = r#"
(function () {
  "use strict";
  var box = document.getElementById("only-interesting");
  var rows = document.querySelectorAll("table.grid tbody tr");
  function apply() {
    for (var i = 0; i < rows.length; i++) {
      var quiet = rows[i].getAttribute("data-interesting") !== "1";
      rows[i].style.display = box.checked && quiet ? "none" : "";
    }
  }
  if (box) { box.addEventListener("change", apply); apply(); }
  function openTarget() {
    var id = window.location.hash.slice(1);
    var el = id ? document.getElementById(id) : null;
    if (el && el.tagName === "DETAILS") { el.open = true; el.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.body.setAttribute("data-ready", "1");
})();
"#;

fn status_class(r: &TaskResult) -> (&'static str, &'static str) {
    match r.status.as_str() {
        "ok" => ("s-ok", "ok"),
        "changed" => ("s-changed", "changed"),
        "failed" if r.rescued => ("s-rescued", "rescued"),
        "failed" if r.ignored => ("s-ignored", "ignored"),
        "failed" => ("s-failed", "FAILED"),
        "skipped" => ("s-skipped", "skipped"),
        _ => ("s-unreachable", "UNREACHABLE"),
    }
}

fn diff_html(diff: &str) -> String {
    let mut out = String::new();
    for l in diff.lines() {
        let class = if l.starts_with("+++") || l.starts_with("---") {
            "muted"
        } else if l.starts_with('+') {
            "add"
        } else if l.starts_with('-') {
            "del"
        } else if l.starts_with("@@") {
            "hunk"
        } else {
            ""
        };
        if class.is_empty() {
            let _ = writeln!(out, "{}", escape_text(l));
        } else {
            let _ = writeln!(out, "<span class=\"{class}\">{}</span>", escape_text(l));
        }
    }
    out
}

fn fact(out: &mut String, k: &str, v: &str) {
    let _ = writeln!(out, "<tr><td>{}</td><td>{v}</td></tr>", escape(k));
}

/// The page.
pub fn render(run: &RunView) -> String {
    let h = &run.header;
    let s = |p: &str| h.pointer(p).and_then(Json::as_str);
    let results = run.results();
    let hosts = run.hosts();
    let status = run.status_word();
    let mut b = String::new();
    let _ = write!(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>opsctl run {id}: {status}</title>\n<style>{CSS}</style></head>\n<body>\n",
        id = escape(run.id()),
        status = escape(&status)
    );
    let _ = writeln!(
        b,
        "<h1>opsctl {} <span class=\"mono\">{}</span> <span class=\"badge b-{}\" id=\"run-status\">{}</span></h1>",
        escape(run.h("command").unwrap_or("run")),
        escape(run.id()),
        escape(status.split_whitespace().next().unwrap_or("")),
        escape(&match run.exit() {
            Some(0) | None => status.clone(),
            Some(c) => format!("{status} (exit {c})"),
        })
    );
    // Facts.
    let mut f = String::new();
    let start = run.h("start").and_then(time::parse_iso);
    let took = run
        .end
        .as_ref()
        .and_then(|e| e.get("duration_ms"))
        .and_then(Json::as_u64)
        .map(time::duration)
        .unwrap_or_else(|| "did not finish".into());
    fact(
        &mut f,
        "started",
        &format!(
            "{} UTC, took {}",
            escape(&start.map(time::short).unwrap_or_default()),
            escape(&took)
        ),
    );
    fact(
        &mut f,
        "command",
        &format!(
            "<code>{}</code>",
            escape(run.h("command_line").unwrap_or(""))
        ),
    );
    let mut target = format!("env <b>{}</b>", escape(run.h("env").unwrap_or("-")));
    if let Some(i) = run.h("inventory") {
        let _ = write!(target, ", inventory <code>{}</code>", escape(i));
    }
    let _ = write!(
        target,
        ", limit <code>{}</code>",
        escape(run.h("limit").unwrap_or("-"))
    );
    if h.get("check").and_then(Json::as_bool) == Some(true) {
        target.push_str(", <b>check mode</b>");
    }
    fact(&mut f, "target", &target);
    let who = match (s("/user/git_name"), s("/user/git_email")) {
        (Some(n), Some(e)) => format!(" ({n} &lt;{e}&gt;)", n = escape(n), e = escape(e)),
        (Some(n), None) => format!(" ({})", escape(n)),
        _ => String::new(),
    };
    fact(
        &mut f,
        "by",
        &format!(
            "{}{who} on {}",
            escape(s("/user/local").unwrap_or("?")),
            escape(run.h("controller").unwrap_or("?"))
        ),
    );
    if let Some(ci) = h.get("ci").filter(|c| !c.is_null()) {
        let provider = ci.get("provider").and_then(Json::as_str).unwrap_or("ci");
        let job = ci.get("job_id").and_then(Json::as_str).unwrap_or("");
        let v = match ci.get("job_url").and_then(Json::as_str) {
            // Only http(s) links are made clickable.
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
                format!(
                    "{} job {} <a href=\"{u}\">{u}</a>",
                    escape(provider),
                    escape(job),
                    u = escape(u)
                )
            }
            _ => format!("{} job {}", escape(provider), escape(job)),
        };
        fact(&mut f, "ci", &v);
    }
    if let Some(p) = h.get("project").filter(|p| !p.is_null()) {
        let root = p.get("root").and_then(Json::as_str).unwrap_or("?");
        let v = match p.get("commit").and_then(Json::as_str) {
            Some(c) => format!(
                "<code>{}</code> at <code>{}</code>{}{}",
                escape(root),
                escape(c),
                p.get("branch")
                    .and_then(Json::as_str)
                    .map(|b| format!(" ({})", escape(b)))
                    .unwrap_or_default(),
                if p.get("dirty").and_then(Json::as_bool) == Some(true) {
                    ", <b>with uncommitted changes</b>"
                } else {
                    ""
                }
            ),
            None => format!("<code>{}</code> (not a git repository)", escape(root)),
        };
        fact(&mut f, "project", &v);
    }
    if let Some(d) = run.deploy() {
        let g = |k: &str| d.get(k).and_then(Json::as_str).unwrap_or("?");
        fact(
            &mut f,
            "deployed",
            &format!(
                "<code>{}</code> = <code>{}</code> (release <code>{}</code>)",
                escape(g("ref")),
                escape(g("commit")),
                escape(g("release"))
            ),
        );
    }
    let totals = run.totals();
    fact(
        &mut f,
        "totals",
        &escape(
            &totals
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    );
    let _ = writeln!(b, "<table class=\"facts\">{f}</table>");
    if let Some(e) = run
        .end
        .as_ref()
        .and_then(|e| e.get("error"))
        .and_then(Json::as_str)
    {
        let _ = writeln!(
            b,
            "<p class=\"err\" id=\"run-error\">{}</p>",
            escape_text(e)
        );
    }
    // Ids of the detailed results, by position in `results`.
    let rid = |i: usize| format!("r{i}");
    // Failures first.
    let failed: Vec<(usize, &TaskResult)> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_failure() || r.status == "unreachable")
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            b,
            "<h2>Failures</h2>\n<ul class=\"failures\" id=\"failures\">"
        );
        for (i, r) in &failed {
            let _ = writeln!(
                b,
                "<li class=\"failed-task\"><b>{}</b>: <a href=\"#{}\">{}</a>{}{}</li>",
                escape(&r.host),
                rid(*i),
                escape(&r.title()),
                r.location
                    .as_deref()
                    .map(|l| format!(" <span class=\"muted mono\">({})</span>", escape(l)))
                    .unwrap_or_default(),
                r.msg
                    .as_deref()
                    .map(|m| format!(
                        ": <span class=\"err\">{}</span>",
                        escape_text(m.lines().next().unwrap_or(""))
                    ))
                    .unwrap_or_default()
            );
        }
        b.push_str("</ul>\n");
    }
    // The grid: one row per task (in the order tasks first ran), one column per host.
    let mut rows: IndexMap<(usize, String, String, usize), IndexMap<String, usize>> =
        IndexMap::new();
    let mut seen: IndexMap<(String, usize, String, String), usize> = IndexMap::new();
    for (i, r) in results.iter().enumerate() {
        let loc = r.location.clone().unwrap_or_default();
        let n = seen
            .entry((r.host.clone(), r.play, r.title(), loc.clone()))
            .and_modify(|n| *n += 1)
            .or_insert(0);
        rows.entry((r.play, r.title(), loc, *n))
            .or_default()
            .insert(r.host.clone(), i);
    }
    let _ = writeln!(
        b,
        "<h2>Hosts &times; tasks <label class=\"filter\"><input type=\"checkbox\" id=\"only-interesting\"> only rows with a change or a failure</label></h2>"
    );
    b.push_str("<table class=\"grid\"><thead><tr><th>task</th>");
    for host in &hosts {
        let _ = write!(b, "<th class=\"host\">{}</th>", escape(host));
    }
    b.push_str("</tr></thead>\n<tbody>\n");
    for ((_, title, loc, _), cells) in &rows {
        let interesting = cells
            .values()
            .any(|&i| results[i].status != "ok" && results[i].status != "skipped");
        let _ = write!(
            b,
            "<tr data-interesting=\"{}\"><td class=\"task\">{}{}</td>",
            u8::from(interesting),
            escape(title),
            if loc.is_empty() {
                String::new()
            } else {
                format!("<small class=\"mono\">{}</small>", escape(loc))
            }
        );
        for host in &hosts {
            match cells.get(host) {
                Some(&i) => {
                    let r = &results[i];
                    let (class, word) = status_class(r);
                    let tip = r
                        .msg
                        .as_deref()
                        .map(|m| format!(" title=\"{}\"", escape(m)))
                        .unwrap_or_default();
                    let _ = write!(
                        b,
                        "<td class=\"cell {class}\"{tip}><a href=\"#{}\">{word}</a><small>{}</small></td>",
                        rid(i),
                        escape(&time::duration(r.duration_ms))
                    );
                }
                None => {
                    b.push_str("<td class=\"cell s-none\" title=\"did not run on this host\"></td>")
                }
            }
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</tbody></table>\n");
    // Every result, per host.
    b.push_str("<h2>Results per host</h2>\n");
    for host in &hosts {
        let _ = writeln!(b, "<h3>{}</h3>", escape(host));
        for (i, r) in results.iter().enumerate().filter(|(_, r)| &r.host == host) {
            let (class, word) = status_class(r);
            let open = if r.is_failure() || r.status == "unreachable" {
                " open"
            } else {
                ""
            };
            let _ = write!(
                b,
                "<details id=\"{}\"{open}><summary><span class=\"{class}\">{word}</span> {} {} <span class=\"muted\">{}</span></summary>",
                rid(i),
                escape(&r.title()),
                r.location
                    .as_deref()
                    .map(|l| format!("<span class=\"muted mono\">({})</span>", escape(l)))
                    .unwrap_or_default(),
                escape(&time::duration(r.duration_ms))
            );
            if let Some(m) = &r.msg {
                let _ = write!(b, "<pre>{}</pre>", escape_text(m));
            }
            if !r.items.is_empty() {
                b.push_str("<ul>");
                for (item, st, msg) in &r.items {
                    let _ = write!(
                        b,
                        "<li><code>{}</code>: {}{}</li>",
                        escape(item),
                        escape(st),
                        msg.as_deref()
                            .map(|m| format!(": {}", escape(m)))
                            .unwrap_or_default()
                    );
                }
                b.push_str("</ul>");
            }
            for (label, diff) in &r.diffs {
                let _ = write!(
                    b,
                    "<div class=\"muted\">diff: {}</div><pre>{}</pre>",
                    escape(label),
                    diff_html(diff)
                );
            }
            if r.msg.is_none() && r.items.is_empty() && r.diffs.is_empty() {
                b.push_str("<div class=\"muted\">no message</div>");
            }
            b.push_str("</details>\n");
        }
    }
    let warnings = run.warnings();
    if !warnings.is_empty() {
        b.push_str("<h2>Warnings</h2><ul>");
        for (host, msg) in warnings {
            let _ = write!(b, "<li><b>{}</b>: {}</li>", escape(&host), escape(&msg));
        }
        b.push_str("</ul>\n");
    }
    let recap = run.recap();
    if !recap.is_empty() {
        b.push_str("<h2>Recap</h2><table class=\"grid\" id=\"recap\"><thead><tr><th>host</th><th>ok</th><th>changed</th><th>failed</th><th>skipped</th><th>unreachable</th><th>rescued</th><th>ignored</th></tr></thead><tbody>");
        for (host, c) in &recap {
            let n = |k: &str| c.get(k).copied().unwrap_or(0);
            let _ = write!(b, "<tr><td>{}</td>", escape(host));
            for k in crate::redact::COUNT_NAMES {
                let _ = write!(b, "<td>{}</td>", n(k));
            }
            b.push_str("</tr>");
        }
        b.push_str("</tbody></table>\n");
    }
    let _ = write!(
        b,
        "<p class=\"muted\">opsctl {} &middot; run journal <code>.opsctl/runs/{}.jsonl</code></p>\n<script>{JS}</script>\n</body></html>\n",
        escape(run.h("opsctl").unwrap_or("")),
        escape(run.id())
    );
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_everything_and_links_failures() {
        let v = RunView::from_lines(vec![
            json!({"type": "run", "id": "r1", "command": "run", "command_line": "opsctl run <x>"}),
            json!({"type": "task", "host": "web1", "task": "<script>alert(1)</script>", "status": "failed", "msg": "bad & worse"}),
            json!({"type": "task", "host": "web2", "task": "t", "status": "changed", "diff": [{"label": "f", "unified": "-a\n+b\n"}]}),
            json!({"type": "end", "exit": 2, "status": "failed"}),
        ]);
        let page = render(&v);
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("class=\"failed-task\"><b>web1</b>: <a href=\"#r0\">"));
        assert!(page.contains("<span class=\"add\">+b</span>"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no network asset"
        );
    }
}
