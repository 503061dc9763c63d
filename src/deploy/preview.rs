//! The pure parts of preview environments (`opsctl deploy --preview`, `opsctl
//! previews`): a preview's name made DNS-safe, lifetimes, the names derived from
//! it, and the records `opsctl-previews list` prints (roles/app/files/opsctl-previews).

use std::collections::BTreeMap;

/// A preview's name from a branch (or what the user gave): lowercase, `[a-z0-9-]`
/// (any other run of characters becomes one `-`), no `-` at either end, at most
/// 63 characters (a DNS label). `None` when nothing is left.
pub fn dns_safe(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut s = out.trim_matches('-').to_string();
    s.truncate(63);
    let s = s.trim_end_matches('-').to_string();
    (!s.is_empty()).then_some(s)
}

/// `3d 4h`, `5h 12m`, `40m`, or `expired` (for a number of seconds left).
pub fn human_left(secs: i64) -> String {
    if secs <= 0 {
        return "expired".into();
    }
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{}m", m.max(1)),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// The PostgreSQL database of a preview: `<db_name>_preview_<name>` with `-` as
/// `_`, at most 63 bytes (PostgreSQL's limit).
pub fn database_name(main: &str, name: &str) -> String {
    let mut s = format!("{main}_preview_{}", name.replace('-', "_"));
    s.truncate(63);
    s
}

/// The compose project of a compose app's preview (docs/compose.md):
/// `<compose_project>-preview-<name>` (each release's stack is that, then
/// `-RELEASE_ID`), in what compose and docker accept for a project and an image
/// name: lowercase `[a-z0-9_-]`, other characters dropped. Never a prefix of
/// the main app's release projects (`<compose_project>-RELEASE_ID`, which start
/// with a digit after the `-`).
pub fn compose_project(main: &str, name: &str) -> String {
    let main: String = main
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    let main = main.trim_start_matches(['-', '_']);
    format!(
        "{}-preview-{name}",
        if main.is_empty() { "app" } else { main }
    )
}

/// One preview as `opsctl-previews list` printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub git_ref: String,
    pub commit: String,
    pub url: String,
    pub release: String,
    pub removeat: i64,
    pub fields: BTreeMap<String, String>,
}

/// The records of `opsctl-previews list` output (`@@preview` then KEY=VALUE lines).
pub fn parse_list(out: &str) -> Vec<Record> {
    let mut records = Vec::new();
    for chunk in out.split("@@preview").skip(1) {
        let fields: BTreeMap<String, String> = chunk
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        records.push(Record {
            name: get("NAME"),
            git_ref: get("REF"),
            commit: get("COMMIT"),
            url: get("URL"),
            release: get("RELEASE"),
            removeat: get("REMOVEAT").parse().unwrap_or(0),
            fields,
        });
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(
            dns_safe("feature/Login_Page").as_deref(),
            Some("feature-login-page")
        );
        assert_eq!(dns_safe("--x..y--").as_deref(), Some("x-y"));
        assert_eq!(dns_safe("ÉTÉ-2024").as_deref(), Some("t-2024"));
        assert_eq!(dns_safe("///"), None);
        assert_eq!(dns_safe(""), None);
        let long = dns_safe(&format!("{}-{}", "a".repeat(62), "b".repeat(10))).unwrap();
        assert_eq!(long, "a".repeat(62), "63 at most, no '-' at the end");
    }

    #[test]
    fn left() {
        assert_eq!(human_left(-5), "expired");
        assert_eq!(human_left(30), "1m");
        assert_eq!(human_left(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
        assert_eq!(human_left(5 * 3600 + 12 * 60), "5h 12m");
    }

    #[test]
    fn databases() {
        assert_eq!(database_name("app", "feature-x"), "app_preview_feature_x");
        assert_eq!(database_name("app", &"a".repeat(63)).len(), 63);
    }

    #[test]
    fn compose_projects() {
        assert_eq!(compose_project("app", "feature-x"), "app-preview-feature-x");
        assert_eq!(compose_project("My.Shop", "x"), "myshop-preview-x");
        assert_eq!(compose_project("--", "x"), "app-preview-x");
        // Not a release of the main app: what follows its project and '-' is
        // not a release id.
        let p = compose_project("app", "x");
        assert!(!crate::deploy::is_release_id(&p["app-".len()..]));
    }

    #[test]
    fn list_records() {
        let out = "@@preview\nNAME=a\nREF=feature/a\nURL=https://a.p.test\nREMOVEAT=100\nCOMMIT=abc\nRELEASE=r1\n@@preview\nNAME=b\nREMOVEAT=x\nCOMMIT=\nRELEASE=\n";
        let r = parse_list(out);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].name.as_str(), r[0].git_ref.as_str(), r[0].removeat),
            ("a", "feature/a", 100)
        );
        assert_eq!(
            (r[1].name.as_str(), r[1].commit.as_str(), r[1].removeat),
            ("b", "", 0)
        );
        assert!(parse_list("").is_empty());
    }
}
