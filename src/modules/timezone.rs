//! timezone (community.general.timezone): the system time zone and whether
//! the hardware clock keeps UTC or local time.
//!
//! On the module protocol: whether systemd runs the host is a typed fact
//! (`Need::Init`); the zone (`/etc/localtime`'s link, `/etc/timezone`), the
//! zone file's existence and `/etc/adjtime` are a probe. The change, never in
//! check mode, runs `timedatectl set-timezone` / `set-local-rtc` under
//! systemd, or links `/etc/localtime` to the zone file, writes
//! `/etc/timezone` and the third line of `/etc/adjtime` on a host without
//! it. The diff is Ansible's (`name`, `hwclock` before and after).

use serde_json::json;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::sysconf::{b64_field, probe_fields, script_plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static TIMEZONE: Spec = Spec {
    required_one_of: &[&["name", "hwclock"]],
    ..Spec::new(
        "timezone",
        &[
            ArgSpec::new("name", Kind::Str),
            ArgSpec::new("hwclock", Kind::Choice(&["local", "UTC"])).aliases(&["rtc"]),
        ],
    )
};

pub struct Timezone;

const ZONEINFO: &str = "/usr/share/zoneinfo/";

fn zone(args: &Args) -> Result<Option<String>, Fail> {
    let Some(n) = args.str("name").map(str::trim) else {
        return Ok(None);
    };
    if n.is_empty()
        || n.starts_with('/')
        || n.split('/').any(|c| c == ".." || c.is_empty())
        || n.contains(char::is_whitespace)
    {
        return fail::bad_args(format!(
            "name: '{n}' is not a time zone name (such as Europe/Paris or UTC)"
        ));
    }
    Ok(Some(n.to_string()))
}

fn probe(zone: Option<&str>) -> String {
    let mut s = format!(
        "# opsctl timezone: read\n{}{}{}",
        b64_field("link", "readlink /etc/localtime"),
        b64_field("tzfile", "cat /etc/timezone"),
        b64_field("adjtime", "cat /etc/adjtime"),
    );
    s.push_str("[ -e /etc/timezone ] && echo has_tzfile=1\ncommand -v timedatectl >/dev/null 2>&1 && echo timedatectl=1\n");
    if let Some(z) = zone {
        s.push_str(&format!(
            "[ -f {} ] && echo zone_ok=1\n",
            shell_quote(&format!("{ZONEINFO}{z}"))
        ));
    }
    s
}

/// The zone a `/etc/localtime` link names.
fn zone_of_link(link: &str) -> Option<String> {
    let l = link.trim();
    let at = l.find("zoneinfo/")?;
    Some(l[at + "zoneinfo/".len()..].to_string())
}

/// `UTC` or `local`, from `/etc/adjtime` (UTC when absent, as the kernel assumes).
fn hwclock_of(adjtime: &str) -> &'static str {
    match adjtime.lines().nth(2).map(str::trim) {
        Some("LOCAL") => "local",
        _ => "UTC",
    }
}

impl Module for Timezone {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        let z = zone(args)?;
        Ok(vec![Need::Init, Need::Probe(probe(z.as_deref()))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let z = zone(args)?;
        let hw = args.str("hwclock");
        let systemd = facts.sys.init()?.systemd;
        let p = probe_fields(
            &facts.probe(&probe(z.as_deref()))?.stdout,
            &["link", "tzfile", "adjtime"],
        );
        let link_zone = p.get("link").and_then(|l| zone_of_link(l));
        let tzfile = p
            .get("tzfile")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let cur_zone = link_zone
            .clone()
            .or(tzfile.clone())
            .unwrap_or_else(|| "n/a".into());
        let adjtime = p.get("adjtime").cloned().unwrap_or_default();
        let cur_hw = hwclock_of(&adjtime);
        if let Some(z) = &z
            && !p.contains_key("zone_ok")
        {
            return fail::fail(format!(
                "given timezone \"{z}\" is not available: {ZONEINFO}{z} does not exist (is tzdata installed? apt: name=tzdata)"
            ));
        }
        let use_timedatectl = systemd && p.contains_key("timedatectl");
        let zone_change = z.as_ref().is_some_and(|z| {
            link_zone.as_deref() != Some(z.as_str())
                || (p.contains_key("has_tzfile") && tzfile.as_deref() != Some(z.as_str()))
        });
        let hw_change = hw.is_some_and(|h| h != cur_hw);
        let after_zone = z.clone().unwrap_or_else(|| cur_zone.clone());
        let after_hw = hw.unwrap_or(cur_hw);
        let mut o = Outcome::ok();
        if !zone_change && !hw_change {
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(format!("time zone {after_zone}, hardware clock {after_hw}"));
        if ctx.diff {
            o.diffs.push(Diff::new(
                "timezone",
                format!("name: {cur_zone}\nhwclock: {cur_hw}\n"),
                format!("name: {after_zone}\nhwclock: {after_hw}\n"),
            ));
        }
        o.data.insert(
            "diff".into(),
            json!({
                "before": {"name": cur_zone, "hwclock": cur_hw},
                "after": {"name": after_zone, "hwclock": after_hw},
            }),
        );
        let mut s = String::from("# opsctl timezone: set\n");
        if zone_change {
            let q = shell_quote(&after_zone);
            if use_timedatectl {
                s.push_str(&format!("timedatectl set-timezone {q} || exit 1\n"));
            } else {
                s.push_str(&format!(
                    "ln -sfn {} /etc/localtime.opsctl && mv -fT /etc/localtime.opsctl /etc/localtime || exit 1\n",
                    shell_quote(&format!("{ZONEINFO}{after_zone}"))
                ));
            }
            s.push_str(&format!(
                "if [ -e /etc/timezone ] || [ {} = 0 ]; then printf '%s\\n' {q} > /etc/timezone || exit 1; fi\n",
                u8::from(use_timedatectl)
            ));
        }
        if hw_change {
            if use_timedatectl {
                let yes = if after_hw == "local" { "yes" } else { "no" };
                s.push_str(&format!("timedatectl set-local-rtc {yes} || exit 1\n"));
            } else {
                let word = if after_hw == "local" { "LOCAL" } else { "UTC" };
                s.push_str(&format!(
                    "if [ -f /etc/adjtime ]; then sed -i '3s/.*/{word}/' /etc/adjtime; else printf '0.0 0 0.0\\n0\\n{word}\\n' > /etc/adjtime; fi || exit 1\n"
                ));
            }
        }
        Ok(script_plan(o, s, None))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_links_and_adjtime() {
        assert_eq!(
            super::zone_of_link("/usr/share/zoneinfo/Europe/Paris\n").as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(
            super::zone_of_link("../usr/share/zoneinfo/UTC").as_deref(),
            Some("UTC")
        );
        assert_eq!(super::hwclock_of("0.0 0 0.0\n0\nLOCAL\n"), "local");
        assert_eq!(super::hwclock_of(""), "UTC");
    }
}
