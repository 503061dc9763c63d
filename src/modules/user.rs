//! user and group: local accounts, with useradd/usermod/userdel and
//! groupadd/groupmod/groupdel, on the module protocol.
//!
//! The facts are typed and merged with the other tasks' (`sysfacts`): one
//! `getent passwd` and one `getent group` for every account of the next tasks;
//! then, for an existing user, its primary group, whether its home directories
//! exist (the file interpreter's batch), and only when asked a probe of its
//! supplementary groups (`id -Gn`), shadow entry and ssh key. Rust decides
//! ([`decide_user`], [`decide_group`]); the change (never in check mode) runs
//! only the needed commands and reads the account back. A password hash never
//! appears in a script, an output, a diff or a result: it travels on stdin to
//! `chpasswd`; the probe prints only the sha256 of the shadow field, compared
//! with the sha256 of the wanted hash; results and diffs say
//! `NOT_LOGGING_PASSWORD`.

use std::collections::BTreeSet;

use serde_json::json;

use super::attrs;
use super::content;
use super::fail::{self, Fail};
use super::paths;
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan};
use super::remote_file::{self, FType, HostInfo, Req};
use super::sysfacts;
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static USER: Spec = Spec::new(
    "user",
    &[
        ArgSpec::new("name", Kind::Str)
            .required()
            .aliases(&["user"]),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("uid", Kind::Int),
        ArgSpec::new("group", Kind::Str),
        ArgSpec::new("groups", Kind::List),
        ArgSpec::new("append", Kind::Bool),
        ArgSpec::new("shell", Kind::Str),
        ArgSpec::new("home", Kind::Str),
        ArgSpec::new("create_home", Kind::Bool).aliases(&["createhome"]),
        ArgSpec::new("move_home", Kind::Bool),
        ArgSpec::new("skeleton", Kind::Str),
        ArgSpec::new("system", Kind::Bool),
        ArgSpec::new("password", Kind::Str),
        ArgSpec::new("update_password", Kind::Choice(&["always", "on_create"])),
        ArgSpec::new("password_lock", Kind::Bool),
        ArgSpec::new("comment", Kind::Str),
        ArgSpec::new("remove", Kind::Bool),
        ArgSpec::new("force", Kind::Bool),
        ArgSpec::new("non_unique", Kind::Bool),
        ArgSpec::new("password_expire_max", Kind::Int),
        ArgSpec::new("password_expire_min", Kind::Int),
        ArgSpec::new("password_expire_warn", Kind::Int),
        ArgSpec::new("expires", Kind::Any),
        ArgSpec::new("generate_ssh_key", Kind::Bool),
        ArgSpec::new("ssh_key_type", Kind::Str),
        ArgSpec::new("ssh_key_bits", Kind::Int),
        ArgSpec::new("ssh_key_file", Kind::Str),
        ArgSpec::new("ssh_key_comment", Kind::Str),
        ArgSpec::new("ssh_key_passphrase", Kind::Str),
    ],
);

pub static GROUP: Spec = Spec::new(
    "group",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("gid", Kind::Int),
        ArgSpec::new("system", Kind::Bool),
        ArgSpec::new("non_unique", Kind::Bool),
        ArgSpec::new("force", Kind::Bool),
    ],
);

pub const HIDDEN: &str = "NOT_LOGGING_PASSWORD";

/// Account and group names: what useradd accepts without `--badname`.
fn valid_account(n: &str) -> bool {
    let body = n.strip_suffix('$').unwrap_or(n);
    !body.is_empty()
        && body.len() <= 32
        && !body.starts_with('-')
        && !body.chars().all(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn account_arg(args: &Args, key: &str) -> Result<Option<String>, Fail> {
    match args.string(key) {
        Some(n) if valid_account(n.trim()) => Ok(Some(n.trim().to_string())),
        Some(n) => fail::bad_args(format!("{key}: '{n}' is not a valid user or group name")),
        None => Ok(None),
    }
}

/// A field of /etc/passwd must not hold `:` or a newline.
fn field_arg(args: &Args, key: &str) -> Result<Option<String>, Fail> {
    match args.string(key) {
        Some(v) if v.contains([':', '\n']) => {
            fail::bad_args(format!("{key} must not contain ':' or a newline"))
        }
        other => Ok(other),
    }
}

/// A `group`/`groups` entry: a name, or a numeric gid.
fn group_ref_ok(g: &str) -> bool {
    valid_account(g) || (!g.is_empty() && g.chars().all(|c| c.is_ascii_digit()))
}

// ---------------------------------------------------------------------------
// Probe (shared by user and group)

pub use super::sysfacts::{GroupEnt, PasswdEnt, parse_group, parse_passwd};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct UserState {
    host: HostInfo,
    passwd: Option<PasswdEnt>,
    /// Primary group name, then the others (`id -Gn`).
    groups: Vec<String>,
    /// The groups asked about (`group`, `groups`), as found.
    group_ents: Vec<GroupEnt>,
    home_exists: bool,
    /// The `home` asked exists (when it differs from the current one).
    want_home_exists: bool,
    password_match: Option<bool>,
    locked: bool,
    ssh_key_exists: bool,
    /// The shadow entry's aging fields: min, max, warn, expire (days).
    aging: Option<[String; 4]>,
    ssh_public_key: Option<String>,
    ssh_fingerprint: Option<String>,
}

impl UserState {
    fn group(&self, want: &str) -> Option<&GroupEnt> {
        self.group_ents
            .iter()
            .find(|g| attrs::id_matches(want, &g.name, g.gid))
    }
}

fn parse_user_probe(out: &str) -> UserState {
    let mut st = UserState::default();
    for line in out.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "uid" => st.host.uid = v.trim().parse().unwrap_or(u32::MAX),
            "user" => st.host.user = v.trim().to_string(),
            "passwd" => st.passwd = parse_passwd(v),
            "groups" => st.groups = v.split_whitespace().map(str::to_string).collect(),
            "grp" => st.group_ents.extend(parse_group(v)),
            "home_exists" => st.home_exists = v == "1",
            "want_home_exists" => st.want_home_exists = v == "1",
            "password_match" => st.password_match = Some(v == "1"),
            "locked" => st.locked = v == "1",
            "ssh_key_exists" => st.ssh_key_exists = v == "1",
            "aging" => {
                let f: Vec<String> = v.trim().split(':').map(str::to_string).collect();
                if f.len() == 4 {
                    st.aging = Some([f[0].clone(), f[1].clone(), f[2].clone(), f[3].clone()]);
                }
            }
            "ssh_pub" => st.ssh_public_key = Some(v.trim().to_string()),
            "ssh_fp" => st.ssh_fingerprint = Some(v.trim().to_string()),
            _ => {}
        }
    }
    st
}

// ---------------------------------------------------------------------------
// user

#[derive(Debug, Clone, Default)]
struct UserWant {
    name: String,
    present: bool,
    uid: Option<i64>,
    group: Option<String>,
    /// `None`: not managed; `Some(empty)`: no supplementary groups.
    groups: Option<Vec<String>>,
    append: bool,
    shell: Option<String>,
    home: Option<String>,
    create_home: bool,
    move_home: bool,
    skeleton: Option<String>,
    system: bool,
    password: Option<String>,
    update_always: bool,
    password_lock: Option<bool>,
    comment: Option<String>,
    remove: bool,
    force: bool,
    non_unique: bool,
    ssh_key: Option<SshKey>,
    /// Password aging to set: min, max, warn days, and the account's
    /// expiry (days since the epoch; `-1`: never), as `chage` takes them.
    aging: [Option<i64>; 4],
}

impl UserWant {
    fn ages(&self) -> bool {
        self.aging.iter().any(Option::is_some)
    }
}

/// `expires` (epoch seconds, as Ansible; negative: never) as days.
fn expire_days(v: &serde_json::Value) -> Result<i64, String> {
    let secs = match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("expires must be a number of seconds since the epoch, got {v}"))?;
    Ok(if secs < 0.0 {
        -1
    } else {
        (secs / 86400.0).floor() as i64
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SshKey {
    kind: String,
    bits: Option<i64>,
    /// Relative to the home directory unless absolute.
    file: String,
    /// Default: `ansible-generated on <hostname>`, as Ansible's.
    comment: Option<String>,
    /// A secret: on the change's stdin, to ssh-keygen through `SSH_ASKPASS`.
    passphrase: Option<Hidden>,
}

/// A secret string whose Debug shows nothing.
#[derive(Clone, Default, PartialEq, Eq)]
struct Hidden(String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(hidden)")
    }
}

impl UserWant {
    fn from_args(args: &Args) -> Result<UserWant, Fail> {
        let name = account_arg(args, "name")?.unwrap_or_default();
        let group = match args.string("group") {
            Some(g) if !group_ref_ok(g.trim()) => {
                return fail::bad_args(format!("group: '{g}' is not a valid group name"));
            }
            g => g.map(|g| g.trim().to_string()),
        };
        let groups = if args.get("groups").is_some() {
            let list: Vec<String> = args
                .strings("groups")
                .iter()
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect();
            if let Some(bad) = list.iter().find(|g| !group_ref_ok(g)) {
                return fail::bad_args(format!("groups: '{bad}' is not a valid group name"));
            }
            Some(list)
        } else {
            None
        };
        let uid = args.int("uid");
        if uid.is_some_and(|u| !(0..=i64::from(u32::MAX - 1)).contains(&u)) {
            return fail::bad_args("uid must be a number from 0 to 4294967294");
        }
        let password = args.string("password");
        if password.as_deref().is_some_and(|p| p.contains([':', '\n'])) {
            return fail::bad_args(
                "password must be a crypt hash (it cannot contain ':' or a newline); make one with the password_hash filter",
            );
        }
        let ssh_key = if args.bool_or("generate_ssh_key", false) {
            let kind = args.string("ssh_key_type").unwrap_or_else(|| "rsa".into());
            if !["rsa", "ed25519", "ecdsa", "dsa"].contains(&kind.as_str()) {
                return fail::bad_args(format!(
                    "ssh_key_type: '{kind}' is not one of rsa, ed25519, ecdsa, dsa"
                ));
            }
            let file = args
                .string("ssh_key_file")
                .unwrap_or_else(|| format!(".ssh/id_{kind}"));
            Some(SshKey {
                bits: args.int("ssh_key_bits"),
                file,
                comment: args.string("ssh_key_comment"),
                passphrase: super::crypto::passphrase(args, "ssh_key_passphrase")?.map(Hidden),
                kind,
            })
        } else {
            None
        };
        Ok(UserWant {
            name,
            present: args.str("state") != Some("absent"),
            uid,
            group,
            groups,
            append: args.bool_or("append", false),
            shell: field_arg(args, "shell")?,
            home: field_arg(args, "home")?,
            create_home: args.bool_or("create_home", true),
            move_home: args.bool_or("move_home", false),
            skeleton: args.string("skeleton"),
            system: args.bool_or("system", false),
            password,
            update_always: args.str("update_password") != Some("on_create"),
            password_lock: args.bool("password_lock"),
            comment: field_arg(args, "comment")?,
            remove: args.bool_or("remove", false),
            force: args.bool_or("force", false),
            non_unique: args.bool_or("non_unique", false),
            ssh_key,
            aging: [
                args.int("password_expire_min"),
                args.int("password_expire_max"),
                args.int("password_expire_warn"),
                match args.get("expires") {
                    Some(v) => Some(expire_days(v).map_err(Fail::Args)?),
                    None => None,
                },
            ],
        })
    }

    /// Every group named by `group` and `groups`.
    fn group_refs(&self) -> Vec<String> {
        let mut v: Vec<String> = self.group.iter().cloned().collect();
        for g in self.groups.iter().flatten() {
            if !v.contains(g) {
                v.push(g.clone());
            }
        }
        v
    }
}

/// What to run for a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct UserPlan {
    /// The useradd/usermod/userdel command words.
    command: Option<Vec<String>>,
    set_password: bool,
    lock: Option<bool>,
    create_home: bool,
    ssh_key: bool,
    /// `chage` arguments (password aging, account expiry).
    chage: Vec<String>,
    /// For the diff and the message: `(field, before, after)`.
    changes: Vec<(String, String, String)>,
}

impl UserPlan {
    fn any(&self) -> bool {
        self.command.is_some()
            || self.set_password
            || self.lock.is_some()
            || self.create_home
            || self.ssh_key
            || !self.chage.is_empty()
    }
}

const AGING: [(&str, &str); 4] = [
    ("password_expire_min", "-m"),
    ("password_expire_max", "-M"),
    ("password_expire_warn", "-W"),
    ("expires", "-E"),
];

/// The `chage` arguments for the aging asked that differs from the shadow
/// entry's (`None`: a new user, every field asked).
fn chage_args(
    w: &UserWant,
    have: Option<&[String; 4]>,
    changes: &mut Vec<(String, String, String)>,
) -> Vec<String> {
    let mut v = Vec::new();
    for (i, (field, flag)) in AGING.iter().enumerate() {
        let Some(want) = w.aging[i] else {
            continue;
        };
        let before = have.map(|h| h[i].clone()).unwrap_or_default();
        // an empty shadow field is "no value" (-1 for chage)
        let same = match before.as_str() {
            "" => want == -1,
            b => b.parse::<i64>().ok() == Some(want),
        };
        if have.is_some() && same {
            continue;
        }
        v.extend([flag.to_string(), want.to_string()]);
        changes.push((field.to_string(), before, want.to_string()));
    }
    v
}

fn decide_user(w: &UserWant, st: &UserState) -> Result<UserPlan, String> {
    let mut plan = UserPlan::default();
    let name = &w.name;
    let Some(pw) = &st.passwd else {
        if !w.present {
            return Ok(plan);
        }
        // useradd
        let mut cmd: Vec<String> = vec!["useradd".into()];
        if let Some(uid) = w.uid {
            cmd.extend(["-u".into(), uid.to_string()]);
            if w.non_unique {
                cmd.push("-o".into());
            }
        }
        // A group unknown now is passed on as given, as Ansible's check mode does
        // for a new user: an earlier task may create it (useradd says so if not).
        if let Some(g) = &w.group {
            let g = st.group(g).map_or(g.clone(), |ent| ent.name.clone());
            cmd.extend(["-g".into(), g]);
        } else if st.group(name).is_some() {
            // useradd would refuse to create a group of the same name
            cmd.extend(["-g".into(), name.clone()]);
        }
        if let Some(groups) = &w.groups {
            let mut names: Vec<String> = Vec::new();
            for g in groups {
                let n = st.group(g).map_or(g.clone(), |ent| ent.name.clone());
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            if !names.is_empty() {
                cmd.extend(["-G".into(), names.join(",")]);
            }
        }
        if let Some(c) = &w.comment {
            cmd.extend(["-c".into(), c.clone()]);
        }
        if let Some(h) = &w.home {
            cmd.extend(["-d".into(), h.clone()]);
        }
        if let Some(s) = &w.shell {
            cmd.extend(["-s".into(), s.clone()]);
        }
        if w.system {
            cmd.push("-r".into());
        }
        if w.create_home {
            cmd.push("-m".into());
            if let Some(k) = &w.skeleton {
                cmd.extend(["-k".into(), k.clone()]);
            }
        } else {
            cmd.push("-M".into());
        }
        cmd.extend(["--".into(), name.clone()]);
        plan.command = Some(cmd);
        plan.set_password = w.password.is_some();
        plan.lock = w.password_lock.filter(|l| *l);
        plan.ssh_key = w.ssh_key.is_some();
        plan.chage = chage_args(w, None, &mut plan.changes);
        plan.changes
            .push(("state".into(), "absent".into(), "present".into()));
        return Ok(plan);
    };
    if !w.present {
        let mut cmd: Vec<String> = vec!["userdel".into()];
        if w.remove {
            cmd.push("-r".into());
        }
        if w.force {
            cmd.push("-f".into());
        }
        cmd.extend(["--".into(), name.clone()]);
        plan.command = Some(cmd);
        plan.changes
            .push(("state".into(), "present".into(), "absent".into()));
        return Ok(plan);
    }
    // usermod
    let mut args: Vec<String> = Vec::new();
    let mut change = |field: &str, before: String, after: String| {
        plan.changes.push((field.to_string(), before, after));
    };
    if let Some(uid) = w.uid
        && uid != i64::from(pw.uid)
    {
        args.extend(["-u".into(), uid.to_string()]);
        if w.non_unique {
            args.push("-o".into());
        }
        change("uid", pw.uid.to_string(), uid.to_string());
    }
    let primary_now = st.groups.first().cloned().unwrap_or_default();
    let mut primary_after = primary_now.clone();
    if let Some(g) = &w.group {
        let Some(ent) = st.group(g) else {
            return Err(format!("Group {g} does not exist"));
        };
        if ent.gid != pw.gid {
            args.extend(["-g".into(), ent.name.clone()]);
            change("group", primary_now.clone(), ent.name.clone());
        }
        primary_after = ent.name.clone();
    }
    if let Some(groups) = &w.groups {
        let wanted: BTreeSet<String> = resolve_groups(groups, st)?
            .into_iter()
            .filter(|g| *g != primary_after)
            .collect();
        let current: BTreeSet<String> = st
            .groups
            .iter()
            .skip(1)
            .filter(|g| **g != primary_after)
            .cloned()
            .collect();
        let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        if w.append {
            let missing: BTreeSet<String> = wanted.difference(&current).cloned().collect();
            if !missing.is_empty() {
                args.extend(["-a".into(), "-G".into(), join(&missing)]);
                let after: BTreeSet<String> = current.union(&missing).cloned().collect();
                change("groups", join(&current), join(&after));
            }
        } else if wanted != current {
            args.extend(["-G".into(), join(&wanted)]);
            change("groups", join(&current), join(&wanted));
        }
    }
    if let Some(c) = &w.comment
        && *c != pw.comment
    {
        args.extend(["-c".into(), c.clone()]);
        change("comment", pw.comment.clone(), c.clone());
    }
    let mut home = pw.home.clone();
    if let Some(h) = &w.home
        && h.trim_end_matches('/') != pw.home.trim_end_matches('/')
    {
        args.extend(["-d".into(), h.clone()]);
        if w.move_home {
            args.push("-m".into());
        }
        change("home", pw.home.clone(), h.clone());
        home = h.clone();
    }
    if let Some(s) = &w.shell
        && *s != pw.shell
    {
        args.extend(["-s".into(), s.clone()]);
        change("shell", pw.shell.clone(), s.clone());
    }
    if !args.is_empty() {
        let mut cmd = vec!["usermod".to_string()];
        cmd.extend(args);
        cmd.extend(["--".into(), name.clone()]);
        plan.command = Some(cmd);
    }
    if w.password.is_some() && w.update_always && st.password_match != Some(true) {
        plan.set_password = true;
        plan.changes.push((
            "password".into(),
            HIDDEN.into(),
            format!("{HIDDEN} (changed)"),
        ));
    }
    plan.chage = chage_args(w, st.aging.as_ref(), &mut plan.changes);
    match w.password_lock {
        Some(true) if !st.locked => {
            plan.lock = Some(true);
            plan.changes
                .push(("password_lock".into(), "no".into(), "yes".into()));
        }
        Some(false) if st.locked => {
            plan.lock = Some(false);
            plan.changes
                .push(("password_lock".into(), "yes".into(), "no".into()));
        }
        _ => {}
    }
    let home_moved = w.move_home && home != pw.home;
    let exists_after = if home == pw.home {
        st.home_exists
    } else {
        st.want_home_exists
    };
    if w.create_home && !home_moved && !exists_after {
        // the home directory is missing (or a new one without move_home)
        plan.create_home = true;
        plan.changes.push((
            format!("home directory {home}"),
            "absent".into(),
            "directory".into(),
        ));
    }
    if w.ssh_key.is_some() && !st.ssh_key_exists {
        plan.ssh_key = true;
        plan.changes
            .push(("ssh key".into(), "absent".into(), "generated".into()));
    }
    Ok(plan)
}

/// Group references (names or gids) as names; unknown ones are an error.
fn resolve_groups(groups: &[String], st: &UserState) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for g in groups {
        match st.group(g) {
            Some(ent) => {
                if !out.contains(&ent.name) {
                    out.push(ent.name.clone());
                }
            }
            None => return Err(format!("Group {g} does not exist")),
        }
    }
    Ok(out)
}

/// The user as text, for `--diff`: only the fields asked about.
fn user_text(w: &UserWant, st: &UserState, plan: Option<&UserPlan>) -> String {
    let changed = |field: &str| -> Option<String> {
        plan.and_then(|p| {
            p.changes
                .iter()
                .find(|(f, _, _)| f == field)
                .map(|(_, _, a)| a.clone())
        })
    };
    let exists = st.passwd.is_some();
    let present_after = match plan {
        Some(_) => w.present,
        None => exists,
    };
    if !present_after {
        return "state: absent\n".into();
    }
    let pw = st.passwd.clone().unwrap_or_default();
    let new = !exists;
    let mut s = String::from("state: present\n");
    let mut line = |field: &str, now: String, wanted: Option<String>| {
        let v = changed(field).or(if new { wanted } else { Some(now) });
        if let Some(v) = v {
            s.push_str(&format!("{field}: {v}\n"));
        }
    };
    line(
        "uid",
        pw.uid.to_string(),
        w.uid.map(|u| u.to_string()).or(Some("(next free)".into())),
    );
    line(
        "group",
        st.groups.first().cloned().unwrap_or_default(),
        Some(w.group.clone().unwrap_or_else(|| w.name.clone())),
    );
    if w.groups.is_some() {
        let now = st
            .groups
            .iter()
            .skip(1)
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        line("groups", now, w.groups.as_ref().map(|g| g.join(",")));
    }
    line(
        "home",
        pw.home.clone(),
        Some(
            w.home
                .clone()
                .unwrap_or_else(|| format!("/home/{}", w.name)),
        ),
    );
    line(
        "shell",
        pw.shell.clone(),
        w.shell.clone().or(Some("(default)".into())),
    );
    if w.comment.is_some() {
        line("comment", pw.comment.clone(), w.comment.clone());
    }
    if w.password.is_some() {
        s.push_str(&format!(
            "password: {}\n",
            changed("password").unwrap_or_else(|| HIDDEN.into())
        ));
    }
    if w.password_lock.is_some() {
        let locked =
            changed("password_lock").unwrap_or_else(|| if st.locked { "yes" } else { "no" }.into());
        s.push_str(&format!("password_lock: {locked}\n"));
    }
    for (i, (field, _)) in AGING.iter().enumerate() {
        if w.aging[i].is_some() {
            let now = st.aging.as_ref().map(|a| a[i].clone()).unwrap_or_default();
            s.push_str(&format!("{field}: {}\n", changed(field).unwrap_or(now)));
        }
    }
    s
}

fn user_change_script(w: &UserWant, plan: &UserPlan) -> String {
    let mut s = format!("# opsctl user: change {}\n", w.name);
    s.push_str(&format!("n={}\n", shell_quote(&w.name)));
    s.push_str("fail() { echo \"failed=$1\"; exit 0; }\n");
    // The password hash, if sent, is the first line of stdin.
    if plan.set_password {
        s.push_str("IFS= read -r hash || :\n");
    }
    // then the ssh key's passphrase, kept in a variable (never on an argv)
    let key_pass = plan.ssh_key && w.ssh_key.as_ref().is_some_and(|k| k.passphrase.is_some());
    if key_pass {
        s.push_str("IFS= read -r kp || :\n");
    }
    if let Some(cmd) = &plan.command {
        let words: Vec<String> = cmd.iter().map(|w| shell_quote(w)).collect();
        let verb = &cmd[0];
        s.push_str(&format!(
            "o=$({} 2>&1) || {{ r=$?; printf '%s\\n' \"$o\" | sed 's/^/out=/'; fail '{verb} (rc '$r')'; }}\n",
            words.join(" ")
        ));
    }
    if plan.set_password {
        s.push_str(
            "o=$(printf '%s:%s\\n' \"$n\" \"$hash\" | chpasswd -e 2>&1) || { printf '%s\\n' \"$o\" | sed 's/^/out=/'; fail chpasswd; }\n",
        );
    }
    if !plan.chage.is_empty() {
        let words: Vec<String> = plan.chage.iter().map(|w| shell_quote(w)).collect();
        s.push_str(&format!(
            "o=$(chage {} -- \"$n\" 2>&1) || {{ printf '%s\\n' \"$o\" | sed 's/^/out=/'; fail chage; }}\n",
            words.join(" ")
        ));
    }
    match plan.lock {
        Some(true) => s.push_str("usermod -L -- \"$n\" >/dev/null 2>&1 || fail 'usermod -L'\n"),
        Some(false) => s.push_str("usermod -U -- \"$n\" >/dev/null 2>&1 || fail 'usermod -U'\n"),
        None => {}
    }
    if w.present {
        s.push_str("pw=$(getent passwd -- \"$n\") || fail 'the user is missing after useradd'\n");
        s.push_str(
            "home=$(printf '%s\\n' \"$pw\" | cut -d: -f6); u=$(printf '%s\\n' \"$pw\" | cut -d: -f3); g=$(printf '%s\\n' \"$pw\" | cut -d: -f4)\n",
        );
    }
    if plan.create_home {
        let skel = w.skeleton.clone().unwrap_or_else(|| "/etc/skel".into());
        s.push_str(&format!(
            "if [ ! -d \"$home\" ]; then\n\
             \x20 hm=$(sed -n 's/^HOME_MODE[[:space:]]\\{{1,\\}}\\([0-7]*\\).*/\\1/p' /etc/login.defs 2>/dev/null | head -n 1)\n\
             \x20 um=$(sed -n 's/^UMASK[[:space:]]\\{{1,\\}}\\([0-7]*\\).*/\\1/p' /etc/login.defs 2>/dev/null | head -n 1)\n\
             \x20 [ -n \"$hm\" ] || hm=$(printf '%o' $(( 0777 & ~0${{um:-022}} )))\n\
             \x20 mkdir -p -- \"$home\" || fail 'mkdir home'\n\
             \x20 [ -d {skel} ] && cp -a {skel}/. \"$home\"/\n\
             \x20 chown -R \"$u:$g\" \"$home\" && chmod \"$hm\" \"$home\" || fail 'chown home'\n\
             fi\n",
            skel = shell_quote(&skel)
        ));
    }
    if plan.ssh_key
        && let Some(k) = &w.ssh_key
    {
        let bits = k.bits.map(|b| format!(" -b {b}")).unwrap_or_default();
        let comment = match &k.comment {
            Some(c) => shell_quote(c),
            None => "\"ansible-generated on $(hostname)\"".to_string(),
        };
        s.push_str(&format!(
            "f={file}; case $f in /*) ;; *) f=\"$home/$f\" ;; esac\n\
             d=$(dirname -- \"$f\")\n\
             if [ ! -d \"$d\" ]; then mkdir -p -- \"$d\" && chmod 0700 \"$d\" && chown \"$u:$g\" \"$d\" || fail 'mkdir ssh dir'; fi\n\
             if [ ! -f \"$f\" ]; then\n\
             \x20 {keygen} || {{ printf '%s\\n' \"$o\" | sed 's/^/out=/'; fail ssh-keygen; }}\n\
             \x20 chown \"$u:$g\" \"$f\" \"$f.pub\"\n\
             fi\n\
             echo \"ssh_key_exists=1\"; echo \"ssh_pub=$(cat \"$f.pub\")\"; echo \"ssh_fp=$(ssh-keygen -l -f \"$f.pub\" 2>/dev/null)\"\n",
            keygen = if key_pass {
                format!(
                    "t=$(mktemp -d) || fail mktemp\n{ap}\x20 o=$(printf '%s\\n%s\\n' \"$kp\" \"$kp\" | {env} ssh-keygen -q -t {kind}{bits} -C {comment} -f \"$f\" 2>&1); r=$?; rm -rf -- \"$t\"; [ $r = 0 ]",
                    ap = super::crypto::askpass_lines("t"),
                    env = super::crypto::askpass_env("t"),
                    kind = shell_quote(&k.kind),
                )
            } else {
                format!(
                    "o=$(ssh-keygen -q -t {kind}{bits} -N '' -C {comment} -f \"$f\" < /dev/null 2>&1)",
                    kind = shell_quote(&k.kind),
                )
            },
            file = shell_quote(&k.file),
        ));
    }
    if w.present {
        s.push_str("echo \"passwd=$pw\"; echo \"groups=$(id -Gn -- \"$n\")\"\n");
        s.push_str("[ -d \"$home\" ] && echo home_exists=1\n");
    }
    s.push_str("exit 0\n");
    s
}

fn failure(out: &str) -> Option<String> {
    let step = out.lines().find_map(|l| l.strip_prefix("failed="))?;
    let detail: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("out="))
        .filter(|l| !l.trim().is_empty())
        .collect();
    Some(if detail.is_empty() {
        format!("{step} failed")
    } else {
        format!("{step} failed: {}", detail.join(" | "))
    })
}

fn user_fields(res: &mut Outcome, w: &UserWant, st: &UserState) {
    res.data.insert("name".into(), json!(w.name));
    res.data.insert(
        "state".into(),
        json!(if w.present { "present" } else { "absent" }),
    );
    if !w.present {
        res.data.insert("force".into(), json!(w.force));
        res.data.insert("remove".into(), json!(w.remove));
        return;
    }
    if let Some(pw) = &st.passwd {
        res.data.insert("uid".into(), json!(pw.uid));
        res.data.insert("group".into(), json!(pw.gid));
        res.data.insert("comment".into(), json!(pw.comment));
        res.data.insert("home".into(), json!(pw.home));
        res.data.insert("shell".into(), json!(pw.shell));
    }
    if w.groups.is_some() {
        let groups: Vec<String> = st.groups.iter().skip(1).cloned().collect();
        res.data.insert("groups".into(), json!(groups.join(",")));
    }
    res.data.insert("system".into(), json!(w.system));
    res.data.insert("create_home".into(), json!(w.create_home));
    res.data.insert("move_home".into(), json!(w.move_home));
    res.data.insert("append".into(), json!(w.append));
    if w.password.is_some() {
        res.data.insert("password".into(), json!(HIDDEN));
    }
    if let Some(k) = &w.ssh_key {
        let file = if k.file.starts_with('/') {
            k.file.clone()
        } else {
            paths::join(
                &st.passwd
                    .as_ref()
                    .map(|p| p.home.clone())
                    .unwrap_or_default(),
                &k.file,
            )
        };
        res.data.insert("ssh_key_file".into(), json!(file));
        if let Some(p) = &st.ssh_public_key {
            res.data.insert("ssh_public_key".into(), json!(p));
        }
        if let Some(f) = &st.ssh_fingerprint {
            res.data.insert("ssh_fingerprint".into(), json!(f));
        }
    }
}

// ---------------------------------------------------------------------------
// group

#[derive(Debug, Clone, Default)]
struct GroupWant {
    name: String,
    present: bool,
    gid: Option<i64>,
    system: bool,
    non_unique: bool,
    force: bool,
}

impl GroupWant {
    fn from_args(args: &Args) -> Result<GroupWant, Fail> {
        let gid = args.int("gid");
        if gid.is_some_and(|g| !(0..=i64::from(u32::MAX - 1)).contains(&g)) {
            return fail::bad_args("gid must be a number from 0 to 4294967294");
        }
        Ok(GroupWant {
            name: account_arg(args, "name")?.unwrap_or_default(),
            present: args.str("state") != Some("absent"),
            gid,
            system: args.bool_or("system", false),
            non_unique: args.bool_or("non_unique", false),
            force: args.bool_or("force", false),
        })
    }
}

/// The groupadd/groupmod/groupdel command, if one is needed.
fn decide_group(w: &GroupWant, current: Option<&GroupEnt>) -> Option<Vec<String>> {
    let name = w.name.clone();
    match (current, w.present) {
        (None, false) => None,
        (Some(_), false) => {
            let mut c = vec!["groupdel".to_string()];
            if w.force {
                c.push("-f".into());
            }
            c.extend(["--".into(), name]);
            Some(c)
        }
        (None, true) => {
            let mut c = vec!["groupadd".to_string()];
            if let Some(g) = w.gid {
                c.extend(["-g".into(), g.to_string()]);
                if w.non_unique {
                    c.push("-o".into());
                }
            }
            if w.system {
                c.push("-r".into());
            }
            c.extend(["--".into(), name]);
            Some(c)
        }
        (Some(ent), true) => match w.gid {
            Some(g) if g != i64::from(ent.gid) => {
                let mut c = vec!["groupmod".to_string(), "-g".into(), g.to_string()];
                if w.non_unique {
                    c.push("-o".into());
                }
                c.extend(["--".into(), name]);
                Some(c)
            }
            _ => None,
        },
    }
}

fn group_text(present: bool, gid: Option<String>) -> String {
    match (present, gid) {
        (false, _) => "state: absent\n".into(),
        (true, Some(g)) => format!("state: present\ngid: {g}\n"),
        (true, None) => "state: present\n".into(),
    }
}

// ---------------------------------------------------------------------------
// user on the protocol

/// `user`: reads the passwd entry and every group named (merged with the other
/// tasks' accounts), then what depends on the entry: the primary group, the
/// home directories, and only when asked the supplementary groups, the shadow
/// entry and the ssh key.
pub struct User;

/// `group`: reads the group's entry (merged with the other tasks' groups).
pub struct Group;

/// Groups to read: those asked, and one named like the user.
fn user_needs(w: &UserWant) -> Vec<Need> {
    let mut refs = w.group_refs();
    if !refs.contains(&w.name) {
        refs.push(w.name.clone());
    }
    let mut v = vec![Need::Passwd(w.name.clone())];
    v.extend(refs.into_iter().map(Need::Group));
    if let Some(h) = w.home.as_deref().filter(|h| !h.is_empty()) {
        v.push(Need::Path(dir_req(h)));
    }
    // the probe needs the home only for a relative key file
    if w.ssh_key.as_ref().is_none_or(|k| k.file.starts_with('/'))
        && let Some(p) = extra_probe(w, "")
    {
        v.push(Need::Probe(p));
    }
    v
}

/// Is this a directory (links followed)?
fn dir_req(path: &str) -> Req {
    let mut r = Req::new(path).follow(true);
    r.sums.clear();
    r
}

/// The read-only probe of what has no typed fact (supplementary groups, the
/// shadow entry, the ssh key), if the task asks about any of it. The password
/// hash never goes to the host for this: the probe prints the sha256 of the
/// shadow field, compared here with the sha256 of the wanted hash.
fn extra_probe(w: &UserWant, home: &str) -> Option<String> {
    let mut s = String::new();
    if w.groups.is_some() {
        s.push_str("echo \"groups=$(id -Gn -- \"$n\")\"\n");
    }
    if w.password.is_some() || w.password_lock.is_some() {
        s.push_str("sh=$(getent shadow -- \"$n\" | cut -d: -f2)\n");
        s.push_str("case $sh in '!'*) echo locked=1 ;; esac\n");
    }
    if w.ages() {
        s.push_str("echo \"aging=$(getent shadow -- \"$n\" | cut -d: -f4,5,6,8)\"\n");
    }
    if w.password.is_some() {
        s.push_str(
            "[ -n \"$sh\" ] && echo \"shadow_sum=$(printf '%s' \"$sh\" | sha256sum | cut -d' ' -f1)\"\n",
        );
    }
    if let Some(k) = &w.ssh_key {
        s.push_str(&format!(
            "home={}\nf={}; case $f in /*) ;; *) f=\"$home/$f\" ;; esac\n",
            shell_quote(home),
            shell_quote(&k.file)
        ));
        s.push_str(
            "if [ -f \"$f\" ]; then echo ssh_key_exists=1; [ -f \"$f.pub\" ] && echo \"ssh_pub=$(cat \"$f.pub\")\" && echo \"ssh_fp=$(ssh-keygen -l -f \"$f.pub\" 2>/dev/null)\"; fi\n",
        );
    }
    (!s.is_empty()).then(|| {
        format!(
            "# opsctl user: probe {}\nn={}\n{s}exit 0",
            w.name,
            shell_quote(&w.name)
        )
    })
}

/// The user's state from the facts, or what to read first.
fn user_state(w: &UserWant, facts: &Facts) -> Result<Result<UserState, Vec<Need>>, Fail> {
    let mut st = UserState::default();
    for r in user_needs(w).iter() {
        if let Need::Group(g) = r
            && let Some(ent) = facts.sys.group(g)?
            && !st.group_ents.contains(ent)
        {
            st.group_ents.push(ent.clone());
        }
    }
    let Some(pw) = facts.sys.passwd(&w.name)? else {
        return Ok(Ok(st));
    };
    st.passwd = Some(pw.clone());
    let home = if w.ssh_key.as_ref().is_none_or(|k| k.file.starts_with('/')) {
        ""
    } else {
        pw.home.as_str()
    };
    let probe = extra_probe(w, home);
    if let Some(p) = probe.clone().map(Need::Probe)
        && !facts.has(&p)
    {
        return Ok(Err(vec![p]));
    }
    st.home_exists = pw.home_is_dir;
    if let Some(h) = w.home.as_deref().filter(|h| !h.is_empty()) {
        st.want_home_exists = facts.path(&dir_req(h))?.kind == FType::Directory;
    }
    st.groups = vec![pw.group_name.clone().unwrap_or_else(|| pw.gid.to_string())];
    if let Some(p) = probe {
        let text = facts.probe(&p)?.stdout_str();
        let found = parse_user_probe(&text);
        if w.groups.is_some() {
            st.groups = found.groups;
        }
        st.locked = found.locked;
        st.ssh_key_exists = found.ssh_key_exists;
        st.aging = found.aging;
        st.ssh_public_key = found.ssh_public_key;
        st.ssh_fingerprint = found.ssh_fingerprint;
        if let Some(want) = &w.password {
            let have = text.lines().find_map(|l| l.strip_prefix("shadow_sum="));
            st.password_match =
                Some(have.is_some_and(|h| h.trim() == content::sha256_hex(want.as_bytes())));
        }
    }
    Ok(Ok(st))
}

impl Module for User {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(user_needs(&UserWant::from_args(args)?))
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = UserWant::from_args(args)?;
        let st = match user_state(&w, facts)? {
            Ok(st) => st,
            Err(more) => return Ok(Plan::More(more)),
        };
        let plan = decide_user(&w, &st).map_err(Fail::Task)?;
        if !plan.any() {
            let mut res = Outcome::ok();
            user_fields(&mut res, &w, &st);
            return Ok(Plan::Done(res));
        }
        let msg = plan
            .changes
            .iter()
            .map(|(f, b, a)| format!("{f}: {b} -> {a}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut res = Outcome::changed().msg(msg);
        if ctx.diff {
            let before = user_text(&w, &st, None);
            let predicted = user_text(&w, &st, Some(&plan));
            res.diffs
                .push(Diff::new(format!("user {}", w.name), before, predicted));
        }
        user_fields(&mut res, &w, &st);
        let mut lines = String::new();
        if plan.set_password
            && let Some(p) = &w.password
        {
            lines.push_str(&format!("{p}\n"));
        }
        if plan.ssh_key
            && let Some(Hidden(p)) = w.ssh_key.as_ref().and_then(|k| k.passphrase.as_ref())
        {
            lines.push_str(&format!("{p}\n"));
        }
        let stdin = (!lines.is_empty()).then(|| lines.into_bytes());
        let change = user_change_script(&w, &plan);
        let (head, rest) = change.split_once('\n').unwrap_or_default();
        let script = format!("{head}\n{}{rest}", sysfacts::root_guard());
        Ok(Plan::change(res, Action::Script { script, stdin }))
    }

    fn applied(
        &self,
        args: &Args,
        mut planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let w = UserWant::from_args(args)?;
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        let text = out.stdout_str();
        if let Some(host) = sysfacts::not_root(&text) {
            return fail::fail(format!(
                "changing user {} needs root{}",
                w.name,
                remote_file::become_hint(&host)
            ));
        }
        if let Some(f) = failure(&text) {
            return fail::fail(format!("user {}: {f}", w.name));
        }
        if !out.success() {
            return fail::fail(format!(
                "user {}: the change failed: {}",
                w.name,
                out.stderr_str().trim()
            ));
        }
        if w.present {
            user_fields(&mut planned, &w, &parse_user_probe(&text));
        }
        Ok(planned)
    }
}

impl Module for Group {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Group(GroupWant::from_args(args)?.name)])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = GroupWant::from_args(args)?;
        let current = facts.sys.group(&w.name)?.filter(|g| g.name == w.name);
        let Some(cmd) = decide_group(&w, current) else {
            let mut res = Outcome::ok();
            group_fields(&mut res, &w, current.map(|g| g.gid));
            return Ok(Plan::Done(res));
        };
        let before = group_text(current.is_some(), current.map(|g| g.gid.to_string()));
        let after = group_text(
            w.present,
            w.gid
                .map(|g| g.to_string())
                .or(current.map(|g| g.gid.to_string()))
                .or(Some("(next free)".into())),
        );
        let mut res = Outcome::changed().msg(format!("{} {}", cmd[0], w.name));
        if ctx.diff {
            res.diffs
                .push(Diff::new(format!("group {}", w.name), before, after));
        }
        group_fields(
            &mut res,
            &w,
            w.gid.map(|g| g as u32).or(current.map(|g| g.gid)),
        );
        let words: Vec<String> = cmd.iter().map(|c| shell_quote(c)).collect();
        let script = format!(
            "# opsctl group: change {name}\n{guard}{cmd} 2>&1 || exit $?\ngetent group -- {q} | sed 's/^/grp=/'\nexit 0\n",
            name = w.name,
            guard = sysfacts::root_guard(),
            cmd = words.join(" "),
            q = shell_quote(&w.name)
        );
        Ok(Plan::change(
            res,
            Action::Script {
                script,
                stdin: None,
            },
        ))
    }

    fn applied(
        &self,
        args: &Args,
        mut planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let w = GroupWant::from_args(args)?;
        let Applied::Script(out) = result else {
            return Ok(planned);
        };
        let verb = planned
            .msg
            .as_deref()
            .and_then(|m| m.split(' ').next())
            .unwrap_or("group")
            .to_string();
        let text = out.stdout_str();
        if let Some(host) = sysfacts::not_root(&text) {
            return fail::fail(format!(
                "{verb} {} needs root{}",
                w.name,
                remote_file::become_hint(&host)
            ));
        }
        if !out.success() {
            return fail::fail(format!(
                "{verb} {} failed (rc {}): {}",
                w.name,
                out.rc.map(|r| r.to_string()).unwrap_or("signal".into()),
                text.trim()
            ));
        }
        let now = parse_user_probe(&text);
        let gid = now.group_ents.first().map(|g| g.gid);
        if let Some(d) = planned.diffs.first_mut() {
            d.after = group_text(w.present, gid.map(|g| g.to_string()));
        }
        group_fields(&mut planned, &w, gid);
        Ok(planned)
    }
}

fn group_fields(res: &mut Outcome, w: &GroupWant, gid: Option<u32>) {
    res.data.insert("name".into(), json!(w.name));
    res.data.insert(
        "state".into(),
        json!(if w.present { "present" } else { "absent" }),
    );
    if w.present {
        if let Some(g) = gid {
            res.data.insert("gid".into(), json!(g));
        }
        res.data.insert("system".into(), json!(w.system));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(name: &str) -> UserWant {
        UserWant {
            name: name.into(),
            present: true,
            create_home: true,
            update_always: true,
            ..Default::default()
        }
    }

    const EXISTING: &str = "uid=0\nuser=root\ngrp=deploy:x:1000:\ngrp=sudo:x:27:deploy\ngrp=www-data:x:33:\npasswd=deploy:x:1000:1000:Deploy:/home/deploy:/bin/bash\ngroups=deploy sudo\nhome_exists=1\n";

    #[test]
    fn parses_the_probe() {
        let st = parse_user_probe(EXISTING);
        let pw = st.passwd.clone().unwrap();
        assert_eq!(
            (pw.uid, pw.gid, pw.home.as_str()),
            (1000, 1000, "/home/deploy")
        );
        assert_eq!(st.groups, vec!["deploy", "sudo"]);
        assert_eq!(st.group_ents.len(), 3);
        assert_eq!(st.group("33").unwrap().name, "www-data");
        assert!(st.home_exists);
    }

    #[test]
    fn new_user_gets_useradd_with_the_options_asked() {
        let st = parse_user_probe("uid=0\ngrp=sudo:x:27:\n");
        let w = UserWant {
            uid: Some(1500),
            groups: Some(vec!["sudo".into()]),
            shell: Some("/bin/bash".into()),
            comment: Some("App user".into()),
            system: true,
            password: Some("$6$salt$hash".into()),
            ..want("app")
        };
        let plan = decide_user(&w, &st).unwrap();
        assert_eq!(
            plan.command.unwrap(),
            [
                "useradd",
                "-u",
                "1500",
                "-G",
                "sudo",
                "-c",
                "App user",
                "-s",
                "/bin/bash",
                "-r",
                "-m",
                "--",
                "app"
            ]
        );
        assert!(plan.set_password);
        // a group named like the user already exists: use it
        let st = parse_user_probe("uid=0\ngrp=app:x:1001:\n");
        let plan = decide_user(&want("app"), &st).unwrap();
        assert_eq!(
            plan.command.unwrap(),
            ["useradd", "-g", "app", "-m", "--", "app"]
        );
        // A group unknown now may come from an earlier task (check mode on a fresh
        // host): passed on by name, useradd refuses it if it still does not exist.
        let plan = decide_user(
            &UserWant {
                group: Some("nogroup2".into()),
                groups: Some(vec!["later".into()]),
                ..want("app")
            },
            &st,
        )
        .unwrap();
        assert_eq!(
            plan.command.unwrap(),
            [
                "useradd", "-g", "nogroup2", "-G", "later", "-m", "--", "app"
            ]
        );
    }

    #[test]
    fn existing_user_changes_only_what_differs() {
        let st = parse_user_probe(EXISTING);
        let same = UserWant {
            uid: Some(1000),
            shell: Some("/bin/bash".into()),
            groups: Some(vec!["sudo".into()]),
            comment: Some("Deploy".into()),
            ..want("deploy")
        };
        assert_eq!(decide_user(&same, &st).unwrap(), UserPlan::default());
        let w = UserWant {
            shell: Some("/bin/sh".into()),
            groups: Some(vec!["www-data".into()]),
            ..want("deploy")
        };
        let plan = decide_user(&w, &st).unwrap();
        assert_eq!(
            plan.command.unwrap(),
            ["usermod", "-G", "www-data", "-s", "/bin/sh", "--", "deploy"]
        );
        // append only adds
        let w = UserWant {
            groups: Some(vec!["www-data".into(), "sudo".into()]),
            append: true,
            ..want("deploy")
        };
        let plan = decide_user(&w, &st).unwrap();
        assert_eq!(
            plan.command.unwrap(),
            ["usermod", "-a", "-G", "www-data", "--", "deploy"]
        );
        assert_eq!(
            plan.changes,
            vec![("groups".into(), "sudo".into(), "sudo,www-data".into())]
        );
        // groups: [] removes every supplementary group
        let w = UserWant {
            groups: Some(vec![]),
            ..want("deploy")
        };
        assert_eq!(
            decide_user(&w, &st).unwrap().command.unwrap(),
            ["usermod", "-G", "", "--", "deploy"]
        );
    }

    #[test]
    fn passwords_compare_on_the_host_and_stay_hidden() {
        let mut st = parse_user_probe(EXISTING);
        st.password_match = Some(true);
        let w = UserWant {
            password: Some("$6$salt$hash".into()),
            ..want("deploy")
        };
        assert!(!decide_user(&w, &st).unwrap().any());
        st.password_match = Some(false);
        let plan = decide_user(&w, &st).unwrap();
        assert!(plan.set_password && plan.command.is_none());
        let text = user_text(&w, &st, Some(&plan));
        assert!(
            text.contains("password: NOT_LOGGING_PASSWORD (changed)"),
            "{text}"
        );
        assert!(!text.contains("$6$"));
        let script = user_change_script(&w, &plan);
        assert!(!script.contains("$6$salt"), "{script}");
        let probe = extra_probe(&w, "/home/deploy").unwrap();
        assert!(!probe.contains("$6$salt"), "{probe}");
        // on_create leaves an existing password
        let w = UserWant {
            update_always: false,
            ..w
        };
        assert!(!decide_user(&w, &st).unwrap().any());
    }

    #[test]
    fn absent_and_home() {
        let st = parse_user_probe(EXISTING);
        let w = UserWant {
            present: false,
            remove: true,
            ..want("deploy")
        };
        assert_eq!(
            decide_user(&w, &st).unwrap().command.unwrap(),
            ["userdel", "-r", "--", "deploy"]
        );
        let none = parse_user_probe("uid=0\n");
        assert!(!decide_user(&w, &none).unwrap().any());
        // a missing home directory is created
        let st = parse_user_probe(&EXISTING.replace("home_exists=1\n", ""));
        let plan = decide_user(&want("deploy"), &st).unwrap();
        assert!(plan.create_home && plan.command.is_none());
        let plan = decide_user(
            &UserWant {
                create_home: false,
                ..want("deploy")
            },
            &st,
        )
        .unwrap();
        assert!(!plan.any());
    }

    #[test]
    fn diff_text_shows_fields() {
        let st = parse_user_probe(EXISTING);
        let w = UserWant {
            shell: Some("/bin/sh".into()),
            ..want("deploy")
        };
        let plan = decide_user(&w, &st).unwrap();
        assert_eq!(
            user_text(&w, &st, None),
            "state: present\nuid: 1000\ngroup: deploy\nhome: /home/deploy\nshell: /bin/bash\n"
        );
        assert_eq!(
            user_text(&w, &st, Some(&plan)),
            "state: present\nuid: 1000\ngroup: deploy\nhome: /home/deploy\nshell: /bin/sh\n"
        );
        let none = parse_user_probe("uid=0\n");
        assert_eq!(user_text(&w, &none, None), "state: absent\n");
    }

    #[test]
    fn names_are_checked() {
        for ok in ["deploy", "www-data", "a.b", "svc_1", "machine$"] {
            assert!(valid_account(ok), "{ok}");
        }
        for bad in ["", "-x", "1234", "a b", "a:b", "a/b"] {
            assert!(!valid_account(bad), "{bad}");
        }
    }

    #[test]
    fn group_decisions() {
        let w = GroupWant {
            name: "app".into(),
            present: true,
            gid: Some(1500),
            ..Default::default()
        };
        assert_eq!(
            decide_group(&w, None).unwrap(),
            ["groupadd", "-g", "1500", "--", "app"]
        );
        let ent = parse_group("app:x:1500:").unwrap();
        assert_eq!(decide_group(&w, Some(&ent)), None);
        let ent2 = parse_group("app:x:1400:a,b").unwrap();
        assert_eq!(ent2.members, vec!["a", "b"]);
        assert_eq!(
            decide_group(&w, Some(&ent2)).unwrap(),
            ["groupmod", "-g", "1500", "--", "app"]
        );
        let gone = GroupWant {
            present: false,
            ..w
        };
        assert_eq!(
            decide_group(&gone, Some(&ent)).unwrap(),
            ["groupdel", "--", "app"]
        );
        assert_eq!(decide_group(&gone, None), None);
    }
}

#[cfg(test)]
mod ssh_key_passphrase_tests {
    use super::*;

    #[test]
    fn the_key_passphrase_is_on_stdin_and_not_in_the_script() {
        let raw = serde_json::json!({"name": "deploy", "generate_ssh_key": true,
            "ssh_key_passphrase": "n0t-on-argv", "password": "$6$salt$hash"});
        let args = USER.validate(raw.as_object().unwrap(), true).unwrap();
        let w = UserWant::from_args(&args).unwrap();
        assert!(!format!("{w:?}").contains("n0t-on-argv"));
        let plan = UserPlan {
            ssh_key: true,
            set_password: true,
            ..Default::default()
        };
        let script = user_change_script(&w, &plan);
        assert!(!script.contains("n0t-on-argv"));
        // the hash first, then the passphrase
        let hash = script.find("read -r hash").unwrap();
        let kp = script.find("read -r kp").unwrap();
        assert!(hash < kp);
    }
}
