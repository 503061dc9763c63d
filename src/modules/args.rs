//! Module argument specs and their validation (Ansible's `argument_spec`).
//!
//! The same [`Spec::validate`] runs when a playbook is loaded (values that are
//! still templates are not type-checked yet) and after templating at run time.
//! Errors name the argument and, through the caller, the task's file:line.

use serde_json::{Map, Value as Json};

/// The value of Ansible's `omit` variable: a module argument that templates
/// to it is dropped before validation, as if it were not given.
pub const OMIT: &str = "__omit_place_holder__opsctl__";

/// The type of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text; numbers and booleans are converted, as Ansible does.
    Str,
    /// `true/false/yes/no/on/off/1/0`.
    Bool,
    Int,
    /// A list; a string is split on commas (`name: nginx,git`).
    List,
    Dict,
    /// A file mode: octal (0644, "0644", "644") or symbolic ("u=rw,g=r,o=r").
    Mode,
    /// A file mode, or `preserve` (copy: the source file's mode).
    ModeOrPreserve,
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// Anything.
    Any,
}

#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub required: bool,
}

impl ArgSpec {
    pub const fn new(name: &'static str, kind: Kind) -> ArgSpec {
        ArgSpec {
            name,
            aliases: &[],
            kind,
            required: false,
        }
    }
    pub const fn required(mut self) -> ArgSpec {
        self.required = true;
        self
    }
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> ArgSpec {
        self.aliases = aliases;
        self
    }
}

/// A module's interface.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    /// Other names of the module (`systemd_service` for `systemd`).
    pub aliases: &'static [&'static str],
    pub args: &'static [ArgSpec],
    /// Takes a free-form string (`command: ls -l`), stored as `_raw_params`.
    pub free_form: bool,
    pub mutually_exclusive: &'static [&'static [&'static str]],
    /// At least one of each group must be given.
    pub required_one_of: &'static [&'static [&'static str]],
    /// Any argument name is accepted (set_fact's variables).
    pub any_args: bool,
}

impl Spec {
    pub const fn new(name: &'static str, args: &'static [ArgSpec]) -> Spec {
        Spec {
            name,
            aliases: &[],
            args,
            free_form: false,
            mutually_exclusive: &[],
            required_one_of: &[],
            any_args: false,
        }
    }

    fn find(&self, key: &str) -> Option<&ArgSpec> {
        self.args
            .iter()
            .find(|a| a.name == key || a.aliases.contains(&key))
    }

    /// Validates and normalises arguments: aliases become canonical names, values
    /// are coerced to their kind. With `final_ = false` (load time), values holding
    /// `{{ }}` are kept as they are and not type-checked.
    pub fn validate(&self, raw: &Map<String, Json>, final_: bool) -> Result<Args, String> {
        let values = self.by_name(raw, final_, true)?;
        self.check_values(values, final_)
    }

    /// Only the names of `raw` (load time): an unknown argument, one given
    /// twice, a free-form string to a module that takes none. What passes here
    /// and fails [`Spec::validate`] is a wrong value (or a missing argument):
    /// Ansible reports those only when a host reaches the task.
    pub fn validate_names(&self, raw: &Map<String, Json>) -> Result<(), String> {
        self.by_name(raw, false, false).map(|_| ())
    }

    /// The arguments under their canonical names, values coerced (`coerce`).
    fn by_name(
        &self,
        raw: &Map<String, Json>,
        final_: bool,
        coerce_values: bool,
    ) -> Result<Map<String, Json>, String> {
        let mut values = Map::new();
        for (key, value) in raw {
            if key == "_raw_params" && self.free_form {
                values.insert(key.clone(), value.clone());
                continue;
            }
            if self.any_args && self.find(key).is_none() {
                // A templated name (set_fact's `"{{ n }}_port"`) is checked once templated.
                let later = !final_ && crate::template::is_template(key);
                if !crate::vars::is_identifier(key) && !later {
                    return Err(format!("'{key}' is not a valid variable name"));
                }
                values.insert(key.clone(), value.clone());
                continue;
            }
            let Some(spec) = self.find(key) else {
                let mut names: Vec<&str> = self.args.iter().map(|a| a.name).collect();
                names.sort();
                let near = crate::names::nearest_name(key, names.iter().copied());
                let hint = match near {
                    Some(n) => format!("did you mean '{n}'? "),
                    None => String::new(),
                };
                if key == "_raw_params" {
                    return Err(format!(
                        "{} takes no free-form argument; give its arguments as a mapping (valid: {})",
                        self.name,
                        names.join(", ")
                    ));
                }
                return Err(format!(
                    "unknown argument '{key}' for {}: {hint}valid arguments: {}",
                    self.name,
                    names.join(", ")
                ));
            };
            if values.contains_key(spec.name) {
                return Err(format!(
                    "argument '{}' is given twice (as '{key}' and an alias)",
                    spec.name
                ));
            }
            let templated = !final_ && holds_template(value);
            let v = if templated || value.is_null() || !coerce_values {
                value.clone()
            } else {
                coerce(spec, value)?
            };
            values.insert(spec.name.to_string(), v);
        }
        Ok(values)
    }

    /// Required arguments, exclusions and alternatives of normalised `values`.
    fn check_values(&self, values: Map<String, Json>, final_: bool) -> Result<Args, String> {
        for a in self.args.iter().filter(|a| a.required) {
            if values.get(a.name).is_none_or(Json::is_null) {
                return Err(format!("{} needs the argument '{}'", self.name, a.name));
            }
        }
        for group in self.mutually_exclusive {
            // at load time a templated value may yet be `omit`ted: Ansible
            // checks exclusions once templated (`executable: "{{ x |
            // default(omit) }}"` beside `virtualenv` is valid)
            let given: Vec<&str> = group
                .iter()
                .copied()
                .filter(|k| {
                    values
                        .get(*k)
                        .is_some_and(|v| !v.is_null() && (final_ || !holds_template(v)))
                })
                .collect();
            if given.len() > 1 {
                return Err(format!(
                    "arguments {} are mutually exclusive",
                    given
                        .iter()
                        .map(|g| format!("'{g}'"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
        }
        for group in self.required_one_of {
            let any = group
                .iter()
                .any(|k| values.get(*k).is_some_and(|v| !v.is_null()));
            let raw_ok = self.free_form && values.contains_key("_raw_params");
            if !any && !raw_ok {
                return Err(format!("{} needs one of: {}", self.name, group.join(", ")));
            }
        }
        Ok(Args { values })
    }
}

fn holds_template(v: &Json) -> bool {
    match v {
        Json::String(s) => crate::template::is_template(s),
        Json::Array(a) => a.iter().any(holds_template),
        Json::Object(m) => m.values().any(holds_template),
        _ => false,
    }
}

fn coerce(spec: &ArgSpec, v: &Json) -> Result<Json, String> {
    let bad = |what: &str| format!("argument '{}' must be {what}, got {}", spec.name, short(v));
    Ok(match spec.kind {
        Kind::Any => v.clone(),
        Kind::Str => match v {
            Json::String(_) => v.clone(),
            Json::Number(n) => Json::String(n.to_string()),
            Json::Bool(b) => Json::String(if *b { "True" } else { "False" }.into()),
            _ => return Err(bad("a string")),
        },
        Kind::Bool => Json::Bool(
            crate::runner::as_bool(v).ok_or_else(|| bad("a boolean (yes/no, true/false)"))?,
        ),
        Kind::Int => match v {
            Json::Number(n) if n.is_i64() || n.is_u64() => v.clone(),
            Json::String(s) => Json::from(s.trim().parse::<i64>().map_err(|_| bad("an integer"))?),
            _ => return Err(bad("an integer")),
        },
        Kind::List => match v {
            Json::Array(_) => v.clone(),
            Json::String(s) => Json::Array(
                s.split(',')
                    .map(|p| Json::String(p.trim().to_string()))
                    .filter(|p| p != "")
                    .collect(),
            ),
            Json::Number(_) | Json::Bool(_) => Json::Array(vec![v.clone()]),
            _ => return Err(bad("a list")),
        },
        Kind::Dict => match v {
            Json::Object(_) => v.clone(),
            _ => return Err(bad("a mapping")),
        },
        Kind::ModeOrPreserve if v.as_str() == Some("preserve") => v.clone(),
        Kind::Mode | Kind::ModeOrPreserve => match v {
            Json::Number(n) if n.as_u64().is_some_and(|m| m <= 0o7777) => v.clone(),
            Json::String(s) if parse_mode_str(s).is_some() => v.clone(),
            _ => return Err(bad("a file mode such as '0644' or 'u=rw,g=r,o=r'")),
        },
        Kind::Choice(choices) => {
            let s = match v {
                Json::String(s) => s.clone(),
                Json::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
                other => other.to_string(),
            };
            if !choices.contains(&s.as_str()) {
                return Err(format!(
                    "argument '{}' must be one of {}, got {}",
                    spec.name,
                    choices.join(", "),
                    short(v)
                ));
            }
            Json::String(s)
        }
    })
}

/// Checks the syntax of a string mode: octal digits or symbolic clauses.
fn parse_mode_str(s: &str) -> Option<()> {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 5 && s.chars().all(|c| c.is_digit(8)) {
        return Some(());
    }
    let clause = regex::Regex::new(r"^[ugoa]*([-+=][rwxXstugo]*)+$").ok()?;
    s.split(',').all(|c| clause.is_match(c)).then_some(())
}

fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(57).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

/// Validated arguments, by canonical name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub values: Map<String, Json>,
}

impl Args {
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.values.get(name).filter(|v| !v.is_null())
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Json::as_str)
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.str(name).map(str::to_string)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Json::as_bool)
    }
    pub fn bool_or(&self, name: &str, default: bool) -> bool {
        self.bool(name).unwrap_or(default)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Json::as_i64)
    }
    /// A list argument as strings.
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Json::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect(),
            Some(Json::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
    /// The free-form string (`command: ls -l`).
    pub fn raw_params(&self) -> Option<&str> {
        self.str("_raw_params")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static SPEC: Spec = Spec {
        mutually_exclusive: &[&["content", "src"]],
        required_one_of: &[&["content", "src"]],
        ..Spec::new(
            "copy",
            &[
                ArgSpec::new("dest", Kind::Str)
                    .required()
                    .aliases(&["path"]),
                ArgSpec::new("content", Kind::Str),
                ArgSpec::new("src", Kind::Str),
                ArgSpec::new("mode", Kind::Mode),
                ArgSpec::new("backup", Kind::Bool),
                ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
            ],
        )
    };

    fn m(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn aliases_and_coercion() {
        let a = SPEC
            .validate(
                &m(json!({"path": "/x", "content": 12, "backup": "yes", "mode": 420})),
                true,
            )
            .unwrap();
        assert_eq!(a.str("dest"), Some("/x"));
        assert_eq!(a.str("content"), Some("12"));
        assert_eq!(a.bool("backup"), Some(true));
        assert_eq!(a.int("mode"), Some(420));
    }

    #[test]
    fn errors_name_the_argument() {
        let e = SPEC
            .validate(&m(json!({"dest": "/x", "contnet": "a"})), true)
            .unwrap_err();
        assert!(
            e.contains("unknown argument 'contnet'") && e.contains("did you mean 'content'"),
            "{e}"
        );
        let e = SPEC
            .validate(&m(json!({"content": "a"})), true)
            .unwrap_err();
        assert!(e.contains("needs the argument 'dest'"), "{e}");
        let e = SPEC
            .validate(&m(json!({"dest": "/x", "content": "a", "src": "b"})), true)
            .unwrap_err();
        assert!(e.contains("mutually exclusive"), "{e}");
        let e = SPEC.validate(&m(json!({"dest": "/x"})), true).unwrap_err();
        assert!(e.contains("needs one of: content, src"), "{e}");
        let e = SPEC
            .validate(
                &m(json!({"dest": "/x", "content": "a", "mode": "rw"})),
                true,
            )
            .unwrap_err();
        assert!(e.contains("file mode"), "{e}");
        let e = SPEC
            .validate(
                &m(json!({"dest": "/x", "content": "a", "state": "gone"})),
                true,
            )
            .unwrap_err();
        assert!(e.contains("one of present, absent"), "{e}");
    }

    #[test]
    fn templates_are_checked_only_at_run_time() {
        let raw = m(json!({"dest": "/x", "content": "a", "backup": "{{ do_backup }}"}));
        assert!(SPEC.validate(&raw, false).is_ok());
        let raw = m(json!({"dest": "/x", "content": "a", "backup": "maybe"}));
        assert!(SPEC.validate(&raw, false).is_err());
    }

    #[test]
    fn modes() {
        for ok in ["0644", "644", "u=rw,g=r,o=r", "a+x", "u+rwX,go-w"] {
            assert!(parse_mode_str(ok).is_some(), "{ok}");
        }
        for bad in ["rw", "0999", "u=rw;g=r", ""] {
            assert!(parse_mode_str(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn exclusions_wait_for_omitted_templates() {
        let raw = m(json!({"dest": "/x", "content": "{{ c | default(omit) }}", "src": "a"}));
        assert!(SPEC.validate(&raw, false).is_ok());
        let raw = m(json!({"dest": "/x", "content": "a", "src": "b"}));
        assert!(SPEC.validate(&raw, false).is_err());
    }
}
