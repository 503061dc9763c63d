//! The files opsctl writes for a user to own and edit: a new environment's
//! inventory, group_vars and recipients (`opsctl env new`, `opsctl init`), and a
//! new project's `.gitignore`. Pure text; the commands write it.

use crate::error::{Error, Result};

/// A valid environment name: a letter or digit, then letters, digits, `-`, `_`.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(Error::new(format!(
            "'{name}' is not a valid environment name"
        ))
        .hint("use letters, digits, '-' and '_' (starting with a letter or digit), e.g. `opsctl env new preprod`"))
    }
}

pub fn hosts(name: &str) -> String {
    format!(
        "# The {name} environment. Replace the address and user with your server's.\n\
         # Ansible INI inventory: [group], then one host per line with its variables.\n\
         [web]\n\
         web-{name} ansible_host={name}.example.org ansible_user=deploy\n"
    )
}

pub fn group_vars(name: &str) -> String {
    format!(
        "# Variables of the {name} environment (its web hosts).\n\
         # Every variable is documented in docs/stack.md and roles/<role>/README.md.\n\
         # The git ref `opsctl deploy --env {name}` deploys by default.\n\
         git_version: master\n\
         server_name: {name}.example.org\n\
         ansible_become: true\n\
         # roles/certbot: a Let's Encrypt certificate for server_name (webroot, renewed weekly).\n\
         tls_enabled: true\n\
         acme_email: \"\"  # the ACME account e-mail (optional); put your team's address\n\
         # The app (roles/app/README.md). `opsctl deploy` pushes a `git archive` of the\n\
         # repository at app_src (relative to the project root; \"\" = the project's own\n\
         # repository) with the app in app_subdir; or set deploy_strategy: git and\n\
         # git_repo for the hosts to clone it.\n\
         # app_src: ../myapp\n\
         # app_subdir: \"\"\n"
    )
}

/// A new project's `.gitignore`: what opsctl writes that is not reviewed in git.
pub fn gitignore() -> &'static str {
    "# the run journal and controller state of opsctl\n\
     /.opsctl/\n\
     # an edit of secrets whose YAML was invalid, kept encrypted for the next `opsctl secrets edit`\n\
     *.age.draft\n"
}

/// A copied group_vars file: a header naming its origin, and `server_name` replaced
/// by a placeholder so the new environment never points at the old one's server.
pub fn copy_group_vars(text: &str, name: &str, origin: &str) -> String {
    let mut out =
        format!("# Copied from {origin} by `opsctl env new {name}`: review every value.\n");
    for line in text.lines() {
        if line.starts_with("server_name:") {
            out.push_str(&format!("server_name: {name}.example.org\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

pub fn recipients(name: &str, from: Option<(&str, &str)>) -> String {
    let mut out = format!(
        "# Who can decrypt environments/{name}/secrets.age: one public key per line, an\n\
         # age key (age1...) or an SSH key (ssh-ed25519 / ssh-rsa), with a comment naming\n\
         # its owner, e.g.\n\
         #   age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p  # Alice\n\
         # `opsctl secrets keygen` makes an age key. After a change here, run\n\
         # `opsctl secrets rekey --env {name}`.\n"
    );
    if let Some((origin, text)) = from {
        out.push_str(&format!("# Copied from {origin}:\n"));
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if !line.trim().is_empty() {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["preprod", "eu-1", "a", "test_2"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "a/b", "..", ".hidden", "a b", "é"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn copied_group_vars_get_a_placeholder_server_name() {
        let out = copy_group_vars(
            "git_version: staging\nserver_name: staging.example.org\nx: 1\n",
            "preprod",
            "environments/staging/group_vars/web.yml",
        );
        assert!(out.starts_with(
            "# Copied from environments/staging/group_vars/web.yml by `opsctl env new preprod`"
        ));
        assert!(out.contains("\nserver_name: preprod.example.org\n"));
        assert!(out.contains("git_version: staging\n") && out.contains("x: 1\n"));
        assert!(!out.contains("staging.example.org\n"));
    }

    #[test]
    fn recipients_keep_keys_not_comments() {
        let out = recipients(
            "p",
            Some(("environments/s/recipients", "# team\nage1abc  # Alice\n\n")),
        );
        assert!(out.contains("\nage1abc  # Alice\n"));
        assert!(!out.contains("# team"));
        assert!(out.contains("opsctl secrets rekey --env p"));
    }
}
