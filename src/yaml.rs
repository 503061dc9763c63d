//! YAML loading with positions, behind one module so the YAML crate can change.
//!
//! Every YAML file opsctl reads (inventories, vars files, playbooks) goes through
//! [`parse`], which yields a [`Node`] tree where each node knows its line and
//! column. Loaders use the positions to name `file:line:col` in their errors.
//! YAML 1.1 booleans (`yes`, `on`) and legacy octal (`0644`) are read as Ansible's
//! PyYAML reads them; duplicate keys are errors.

use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use serde_saphyr::Spanned;

use crate::location::Location;

/// A YAML node with its 1-based line and column.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in file order; keys are nodes too (their position is where the key was written).
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax or structure error, with the file and position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct YamlError {
    pub location: Location,
    pub message: String,
}

/// What serde-saphyr says of a quoted scalar's continuation line indented
/// no deeper than its key, which PyYAML (and so Ansible) accepts.
const QUOTED_INDENT: &str = "invalid indentation in multiline quoted scalar";

/// Parses one YAML document. An empty document is `Null`.
///
/// PyYAML does not check the indentation of a quoted scalar's continuation
/// lines; serde-saphyr does. Such a line is indented one column deeper than
/// the line before it and the document parsed again: a continuation line's
/// leading white space is not part of a quoted scalar's value, and the line
/// numbers stay the same.
pub fn parse(source: &str, file: &Path) -> Result<Node, YamlError> {
    let mut repaired: Option<String> = None;
    for _ in 0..1000 {
        let text = repaired.as_deref().unwrap_or(source);
        match parse_strict(text, file) {
            Err(e) if e.message.contains(QUOTED_INDENT) && e.location.line >= 2 => {
                let mut lines: Vec<&str> = text.split('\n').collect();
                let at = e.location.line - 1;
                let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
                // the error may point past the last line (at the end of the text)
                let Some(prev) = lines
                    .get(..at)
                    .and_then(|b| b.iter().rev().find(|l| !l.trim().is_empty()))
                else {
                    return Err(e);
                };
                let want = indent(prev) + 1;
                let Some(line) = lines.get(at) else {
                    return Err(e);
                };
                if indent(line) >= want {
                    return Err(e);
                }
                let fixed = format!("{}{}", " ".repeat(want - indent(line)), line);
                lines[at] = &fixed;
                repaired = Some(lines.join("\n"));
            }
            other => return other,
        }
    }
    parse_strict(source, file)
}

fn parse_strict(source: &str, file: &Path) -> Result<Node, YamlError> {
    // YAML 1.2 booleans first (so `y`/`n` stay strings), then PyYAML's extra
    // 1.1 spellings (yes/no/on/off) are applied to unquoted scalars below.
    // serde-saphyr's budget guards against alias bombs and deep nesting; its
    // node and event counts grow with the input, so a large plain file (a
    // 100,000-host inventory) is not refused for its size alone.
    let scale = source.len().saturating_mul(2);
    let options = serde_saphyr::options! {
        legacy_octal_numbers: true,
        strict_booleans: true,
        // `.inf`, `-.Inf`, `.nan` are floats, as PyYAML reads them
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        budget: serde_saphyr::budget! {
            max_nodes: scale.max(250_000),
            max_events: scale.max(1_000_000),
            max_total_scalar_bytes: source.len().max(64 << 20),
        },
    };
    if source.trim().is_empty() || source.lines().all(is_blank_or_comment) {
        return Ok(Node {
            value: NodeValue::Null,
            line: 1,
            column: 1,
        });
    }
    match serde_saphyr::from_str_with_options::<Spanned<NodeValue>>(source, options) {
        Ok(sp) => {
            let mut node = Node::from_spanned(sp);
            let lines: Vec<&str> = source.lines().collect();
            pyyaml_booleans(&mut node, &lines);
            if source.contains("!vault") {
                vault_values(&mut node, &lines, file)?;
            }
            Ok(node)
        }
        Err(err) => {
            let (line, column) = err
                .location()
                .map(|l| (l.line() as usize, Some(l.column() as usize)))
                .unwrap_or((0, None));
            Err(YamlError {
                location: Location::new(file, line, column),
                message: format!("invalid YAML: {}", clean_message(&err.to_string())),
            })
        }
    }
}

/// What to do about a YAML error.
pub fn hint(e: &YamlError) -> Option<String> {
    if e.message.starts_with("the file is not valid UTF-8") {
        return Some(UTF8_HINT.into());
    }
    e.message
        .starts_with("invalid YAML")
        .then(|| "fix the YAML at that position (indentation, quoting, a missing ':' or ']'); a value with ': ' or '{{' must be quoted".into())
}

/// Reads and parses a YAML file.
pub fn parse_file(file: &Path) -> Result<Node, YamlError> {
    let source = read_text(file)?;
    if crate::secrets::vault_keys::is_vault(&source) {
        return parse_vault_file(&source, file);
    }
    parse(&source, file)
}

// Ansible Vault content, read in place (crate::secrets::vault_keys holds the
// command's vault passwords). Decrypted values are secrets: registered for
// redaction before anything can print them.

/// A whole vault-encrypted file: decrypted in memory, parsed, and every
/// scalar of it registered as a secret. A YAML error inside names the file
/// and line but never quotes the decrypted text.
fn parse_vault_file(source: &str, file: &Path) -> Result<Node, YamlError> {
    let shown = crate::location::display_path(file);
    let plain =
        crate::secrets::vault_keys::decrypt_text(source, "this file").map_err(|e| YamlError {
            location: Location::file(file),
            message: vault_message(e),
        })?;
    let text = std::str::from_utf8(&plain).map_err(|e| YamlError {
        location: Location::file(file),
        message: format!(
            "(decrypted) the content is not UTF-8 text (byte {})",
            e.valid_up_to()
        ),
    })?;
    let node = parse(text, file).map_err(|e| YamlError {
        message: format!(
            "(decrypted) {}",
            crate::secrets::scrub_yaml_message(&e.message, text)
        ),
        ..e
    })?;
    register_vault_values(&node.to_json(), &shown);
    Ok(node)
}

/// The error's message and what to do, in one line (a YamlError has no hints).
fn vault_message(e: crate::secrets::SecretsError) -> String {
    match e.hints.first() {
        Some(h) => format!("{}: {h}", e.message),
        None => e.message,
    }
}

fn register_vault_values(value: &Json, shown: &str) {
    let short = crate::redact::register_json(value);
    if !short.is_empty() {
        crate::printer::defer_warning(format!(
            "{shown}: {} decrypted value(s) shorter than {} characters or one of opsctl's own words (true, failed...) are not redacted from output",
            short.len(),
            crate::redact::MIN_LEN
        ));
    }
}

/// Inline `!vault |` values: each becomes its decrypted text (a string, as
/// in Ansible), registered as a secret. The tag is found in the source just
/// before the value (the YAML crate drops tags).
fn vault_values(node: &mut Node, lines: &[&str], file: &Path) -> Result<(), YamlError> {
    match &mut node.value {
        NodeValue::Str(s) if tagged_vault(lines, node.line, node.column) => {
            let at = Location::new(file, node.line, Some(node.column));
            if !crate::secrets::vault_keys::is_vault(s) {
                return Err(YamlError {
                    location: at,
                    message: "a !vault value must be an Ansible Vault text ($ANSIBLE_VAULT;1.1;AES256 then hex lines), as `ansible-vault encrypt_string` prints it".into(),
                });
            }
            let shown = at.to_string();
            let plain =
                crate::secrets::vault_keys::decrypt_text(s, "this !vault value").map_err(|e| {
                    YamlError {
                        location: at.clone(),
                        message: vault_message(e),
                    }
                })?;
            let text = String::from_utf8(plain.to_vec()).map_err(|_| YamlError {
                location: at.clone(),
                message: "(decrypted) the !vault value is not UTF-8 text".into(),
            })?;
            register_vault_values(&Json::String(text.clone()), &shown);
            *s = text;
        }
        NodeValue::Seq(items) => {
            for n in items {
                vault_values(n, lines, file)?;
            }
        }
        NodeValue::Map(entries) => {
            for (_, v) in entries {
                vault_values(v, lines, file)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Is the scalar at `line:column` (1-based) written with a `!vault` tag? The
/// text before it, up to the previous lines for a block scalar (`!vault |`),
/// must end with the tag.
fn tagged_vault(lines: &[&str], line: usize, column: usize) -> bool {
    let Some(text) = lines.get(line.wrapping_sub(1)) else {
        return false;
    };
    let cut = text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    let mut before = text[..cut].trim_end().to_string();
    let mut back = line.saturating_sub(1);
    // a block scalar's content starts on the line after `key: !vault |`
    while before.is_empty() && back > 0 {
        back -= 1;
        before = lines[back].trim_end().to_string();
        let block = before
            .trim_end_matches(|c: char| c.is_ascii_digit() || "+-".contains(c))
            .trim_end();
        if let Some(b) = block.strip_suffix(['|', '>']) {
            before = b.trim_end().to_string();
        } else if !before.is_empty() {
            return false;
        }
    }
    before.ends_with("!vault")
}

/// Reads a text file that must be UTF-8 (a YAML file, an inventory, a template).
/// Invalid UTF-8 is an error at `file:line:column` of the first bad byte, with
/// the byte's value and offset.
pub fn read_text(file: &Path) -> Result<String, YamlError> {
    let bytes = std::fs::read(file).map_err(|e| YamlError {
        location: Location::file(file),
        message: format!("cannot read file: {e}"),
    })?;
    decode_utf8(bytes, file)
}

/// The text of a file's bytes, or an error naming the first byte that is not
/// UTF-8: its line and column (in characters), its value and its byte offset.
pub fn decode_utf8(bytes: Vec<u8>, file: &Path) -> Result<String, YamlError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..offset];
        let line_start = before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        // the valid prefix of the line is UTF-8: count its characters
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        YamlError {
            location: Location::new(file, line, Some(column)),
            message: format!(
                "the file is not valid UTF-8: byte 0x{:02X} at byte offset {offset}",
                bytes[offset]
            ),
        }
    })
}

/// What to do about a file that is not UTF-8.
pub const UTF8_HINT: &str = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE`), or fix the byte at that position";

/// PyYAML (and so Ansible) reads unquoted yes/no/on/off in three casings as
/// booleans, and numbers only in YAML 1.1's forms: `1e3`, `0o17` and `09` are
/// strings there. Scalars are re-typed here from their source text.
fn pyyaml_booleans(node: &mut Node, lines: &[&str]) {
    let raw = |n: &Node| -> Option<String> {
        let line = lines.get(n.line.wrapping_sub(1))?;
        let start = line
            .char_indices()
            .nth(n.column.saturating_sub(1))
            .map(|(i, _)| i)?;
        Some(
            line[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !",]}#".contains(*c))
                .collect(),
        )
    };
    match &mut node.value {
        NodeValue::Str(s) => {
            let s = s.clone();
            // only a plain scalar is resolved: its source text is the string
            // itself (not quoted, not `!!str`-tagged, not a block scalar)
            let plain =
                raw(node).as_deref() == Some(s.as_str()) && !after_block_indicator(node, lines);
            if plain && let Some(v) = pyyaml_plain(&s) {
                node.value = v;
            }
        }
        NodeValue::Int(_) | NodeValue::Float(_) => {
            if let Some(text) = raw(node)
                && !text.is_empty()
                && !text.starts_with(['!', '*', '&'])
                && !pyyaml_number(&text)
            {
                node.value = NodeValue::Str(text);
            }
        }
        NodeValue::Seq(items) => items.iter_mut().for_each(|n| pyyaml_booleans(n, lines)),
        NodeValue::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, v)| pyyaml_booleans(v, lines)),
        _ => {}
    }
}

/// Is the node tagged (`!!str yes`), or the first line of a block scalar
/// (`key: |` or `>-` on the line above)?
fn after_block_indicator(node: &Node, lines: &[&str]) -> bool {
    let Some(line) = lines.get(node.line.wrapping_sub(1)) else {
        return false;
    };
    let before: String = line.chars().take(node.column.saturating_sub(1)).collect();
    // a tagged scalar (`!!str yes`) is not resolved either
    if before
        .split_whitespace()
        .last()
        .is_some_and(|w| w.starts_with('!'))
    {
        return true;
    }
    let indicator = |t: &str| {
        let t = t.trim_end();
        let body = t.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
        (body.ends_with('|') || body.ends_with('>'))
            && body[..body.len() - 1]
                .chars()
                .last()
                .is_none_or(|c| c.is_whitespace() || c == ':' || c == '-')
    };
    if indicator(&before) {
        return true;
    }
    if !before.trim().is_empty() && before.trim() != "-" {
        return false;
    }
    lines[..node.line.saturating_sub(1)]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| indicator(l.split(" #").next().unwrap_or(l)))
}

/// A plain scalar the YAML 1.2 reader left a string, as PyYAML's 1.1
/// resolvers read it: yes/no/on/off in three casings, sexagesimal numbers
/// (`1:30` is 90), `0b101`, numbers with `_`, `.inf`/`.nan`.
fn pyyaml_plain(s: &str) -> Option<NodeValue> {
    match s {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(NodeValue::Bool(true)),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(NodeValue::Bool(false)),
        _ => {}
    }
    if !pyyaml_number(s) {
        return None;
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let sign = |v: f64| if neg { -v } else { v };
    let body = body.replace('_', "");
    match body.as_str() {
        ".inf" | ".Inf" | ".INF" => return Some(NodeValue::Float(sign(f64::INFINITY))),
        ".nan" | ".NaN" | ".NAN" => return Some(NodeValue::Float(f64::NAN)),
        _ => {}
    }
    let int = |digits: &str, radix: u32| {
        i64::from_str_radix(digits, radix)
            .ok()
            .map(|v| NodeValue::Int(if neg { -v } else { v }))
    };
    if let Some(b) = body.strip_prefix("0b") {
        return int(b, 2);
    }
    if let Some(h) = body.strip_prefix("0x") {
        return int(h, 16);
    }
    if body.contains(':') {
        // base 60: 1:30 = 90, 1:30.5 = 90.5
        let mut acc = 0f64;
        for part in body.split(':') {
            acc = acc * 60.0 + part.parse::<f64>().ok()?;
        }
        if body.contains('.') {
            return Some(NodeValue::Float(sign(acc)));
        }
        return Some(NodeValue::Int(if neg { -(acc as i64) } else { acc as i64 }));
    }
    if body.len() > 1 && body.starts_with('0') && body.chars().all(|c| c.is_ascii_digit()) {
        return int(&body[1..], 8);
    }
    if body.chars().all(|c| c.is_ascii_digit()) {
        return int(&body, 10);
    }
    body.parse::<f64>().ok().map(|v| NodeValue::Float(sign(v)))
}

/// PyYAML's YAML 1.1 int and float resolvers.
fn pyyaml_number(text: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(concat!(
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
            r"|[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ))
        .expect("valid regex")
    });
    re.is_match(text)
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t == "---"
}

/// serde-saphyr renders errors with a snippet and its own "at line X column Y";
/// we print the position ourselves, so keep just the first meaningful line.
fn clean_message(raw: &str) -> String {
    let first = raw
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid YAML");
    let first = first.strip_prefix("error:").unwrap_or(first).trim();
    // "line 3 column 6: illegal placement..." -> "illegal placement..."
    let first = match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, rest)) if pos.contains("column") => rest,
        _ => first,
    };
    match first.find(" at line ") {
        Some(i) => first[..i].trim_end_matches(',').to_string(),
        None => first.to_string(),
    }
}

impl Node {
    fn from_spanned(sp: Spanned<NodeValue>) -> Node {
        Node {
            value: sp.value,
            line: sp.referenced.line() as usize,
            column: sp.referenced.column() as usize,
        }
    }

    pub fn location(&self, file: &Path) -> Location {
        Location::new(file, self.line, Some(self.column))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// Looks a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_string() == key)
            .map(|(_, v)| v)
    }

    /// A mapping key as text (`1` and `true` keys become "1" and "True", as Python's str()).
    pub fn key_string(&self) -> String {
        match &self.value {
            NodeValue::Str(s) => s.clone(),
            NodeValue::Null => "None".into(),
            NodeValue::Bool(true) => "True".into(),
            NodeValue::Bool(false) => "False".into(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Seq(_) | NodeValue::Map(_) => self.to_json().to_string(),
        }
    }

    /// A short name of the node's type, for error messages ("a mapping", "a string").
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// The node as plain data, positions dropped.
    pub fn to_json(&self) -> Json {
        match &self.value {
            NodeValue::Null => Json::Null,
            NodeValue::Bool(b) => Json::Bool(*b),
            NodeValue::Int(i) => Json::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Json::Number)
                .unwrap_or(Json::Null),
            NodeValue::Str(s) => Json::String(s.clone()),
            NodeValue::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    map.insert(k.key_string(), v.to_json());
                }
                Json::Object(map)
            }
        }
    }

    /// A mapping of variables (`name: value`) with the position of each name.
    /// Null documents are empty; anything else than a mapping is an error.
    pub fn to_var_map(&self, file: &Path) -> Result<IndexMap<String, (Json, Location)>, YamlError> {
        let mut out = IndexMap::new();
        match &self.value {
            NodeValue::Null => {}
            NodeValue::Map(entries) => {
                for (k, v) in entries {
                    // A string that starts on a later line (a block scalar `|`
                    // or `>`, or a value under its key) is placed where its
                    // text starts, so a template error's line is the line of
                    // the template's text.
                    let at = match &v.value {
                        NodeValue::Str(_) if v.line > k.line => v.location(file),
                        _ => k.location(file),
                    };
                    out.insert(k.key_string(), (v.to_json(), at));
                }
            }
            _ => {
                return Err(YamlError {
                    location: self.location(file),
                    message: format!(
                        "expected a mapping of variables (name: value), found {}",
                        self.kind_name()
                    ),
                });
            }
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Spanned::<NodeValue>::deserialize(deserializer).map(Node::from_spanned)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<NodeValue, E> {
        Ok(NodeValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeValue, D::Error> {
        NodeValue::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<NodeValue, E> {
        Ok(NodeValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NodeValue, E> {
        Ok(NodeValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NodeValue, E> {
        Ok(i64::try_from(v)
            .map(NodeValue::Int)
            .unwrap_or(NodeValue::Float(v as f64)))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<NodeValue, E> {
        Ok(i64::try_from(v)
            .map(NodeValue::Int)
            .unwrap_or(NodeValue::Float(v as f64)))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<NodeValue, E> {
        Ok(i64::try_from(v)
            .map(NodeValue::Int)
            .unwrap_or(NodeValue::Float(v as f64)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NodeValue, E> {
        Ok(NodeValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<NodeValue, E> {
        Ok(NodeValue::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeValue, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            entries.push((k, v));
        }
        Ok(NodeValue::Map(entries))
    }
}

/// Paths of YAML files in a vars directory entry: `name.yml`, `name.yaml`, `name.json`,
/// `name` (a file), or every such file inside `name/` (sorted), as Ansible's host_group_vars.
pub fn vars_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for ext in ["", ".yml", ".yaml", ".json"] {
        let p = dir.join(format!("{name}{ext}"));
        if p.is_file() {
            out.push(p);
        }
    }
    let sub = dir.join(name);
    if sub.is_dir() {
        let mut files: Vec<PathBuf> = walk_files(&sub)
            .into_iter()
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !n.starts_with('.')
                    && (n.ends_with(".yml")
                        || n.ends_with(".yaml")
                        || n.ends_with(".json")
                        || !n.contains('.'))
            })
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk_files(&p));
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_scalar_var_is_placed_where_its_text_starts() {
        let src = "a: 1\nb: |\n  x\n  {{ y }}\nc: \"{{ z }}\"\nd:\n  \"{{ w }}\"\n";
        let vars = parse(src, Path::new("v.yml"))
            .unwrap()
            .to_var_map(Path::new("v.yml"))
            .unwrap();
        let line = |k: &str| vars[k].1.line;
        assert_eq!((line("a"), line("b"), line("c"), line("d")), (1, 3, 5, 7));
    }

    #[test]
    fn quoted_scalar_continuation_lines_need_no_indentation_as_in_pyyaml() {
        let src = "- set_fact:\n    a: \"{{\n      (x +\n        y)\n    }}\"\n    b: 'one\n    two'\n  when: true\n";
        let n = parse(src, Path::new("t.yml")).unwrap();
        assert_eq!(
            n.to_json(),
            serde_json::json!([{"set_fact": {"a": "{{ (x + y) }}", "b": "one two"}, "when": true}])
        );
        // positions are those of the file as written
        let NodeValue::Seq(items) = &n.value else {
            panic!()
        };
        assert_eq!(items[0].line, 1);
        // a real indentation error is still one
        let e = parse("a:\n  b: 1\n c: 2\n", Path::new("t.yml")).unwrap_err();
        assert!(e.message.starts_with("invalid YAML"), "{e}");
    }

    fn p(s: &str) -> Node {
        parse(s, Path::new("t.yml")).unwrap()
    }

    #[test]
    fn positions_of_keys_and_values() {
        let n = p("a: 1\nb:\n  c: [x, y]\n");
        let m = n.as_map().unwrap();
        assert_eq!(m[0].0.line, 1);
        assert_eq!(m[1].0.line, 2);
        let c = n.get("b").unwrap().get("c").unwrap();
        assert_eq!(c.line, 3);
        assert_eq!(c.to_json(), serde_json::json!(["x", "y"]));
    }

    #[test]
    fn ansible_scalars() {
        let n = p(
            "a: yes\nb: 0644\nc: '0644'\nd: ~\ne: 1.5\nf: on\ng: 'yes'\nh: y\ni: [No, \"off\", n]\n",
        );
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": true, "b": 420, "c": "0644", "d": null, "e": 1.5, "f": true,
                "g": "yes", "h": "y", "i": [false, "off", "n"]})
        );
    }

    #[test]
    fn numbers_as_pyyaml_reads_them() {
        let n =
            p("a: 1e3\nb: 0o17\nc: 09\nd: 1.5e+3\ne: 0x1F\nf: 017\ng: [1e3, 2]\nh: -3\ni: 1_000\n");
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": "1e3", "b": "0o17", "c": "09", "d": 1500.0, "e": 31, "f": 15, "g": ["1e3", 2], "h": -3, "i": 1000})
        );
    }

    #[test]
    fn yaml_1_1_as_pyyaml() {
        let n = p(concat!(
            "a: yes\n",
            "b: !!str yes\n",
            "c: >\n  yes\n",
            "d: |-\n  on\n",
            "e: 'yes'\n",
            "f: \"no\"\n",
            "g: 1:30\n",
            "h: -1:00:01\n",
            "i: 1:30.5\n",
            "j: 0b101\n",
            "k: 0x1_F\n",
            "l: 1_000\n",
            "m: 0o17\n",
            "n: [.inf, -.Inf]\n",
            "o: !!str 1:30\n",
            "p: '1:30'\n",
            "q: 12:75\n",
            "r: Off\n",
            "s:\n  - >-\n    NO\n  - NO\n",
            "t: 1_000.5\n",
        ));
        let j = n.to_json();
        assert_eq!(j["a"], true);
        assert_eq!(j["b"], "yes");
        assert_eq!(j["c"], "yes\n");
        assert_eq!(j["d"], "on");
        assert_eq!(j["e"], "yes");
        assert_eq!(j["f"], "no");
        assert_eq!(j["g"], 90);
        assert_eq!(j["h"], -3601);
        assert_eq!(j["i"], 90.5);
        assert_eq!(j["j"], 5);
        assert_eq!(j["k"], 31);
        assert_eq!(j["l"], 1000);
        assert_eq!(j["m"], "0o17");
        assert_eq!(j["o"], "1:30");
        assert_eq!(j["p"], "1:30");
        assert_eq!(j["q"], "12:75");
        assert_eq!(j["r"], false);
        assert_eq!(j["s"], serde_json::json!(["NO", false]));
        assert_eq!(j["t"], 1000.5);
        let NodeValue::Map(m) = &n.value else {
            panic!()
        };
        let inf = &m.iter().find(|(k, _)| k.as_str() == Some("n")).unwrap().1;
        let NodeValue::Seq(v) = &inf.value else {
            panic!()
        };
        assert_eq!(v[0].value, NodeValue::Float(f64::INFINITY));
        assert_eq!(v[1].value, NodeValue::Float(f64::NEG_INFINITY));
        assert_eq!(
            pyyaml_plain(".nan").map(|v| matches!(v, NodeValue::Float(f) if f.is_nan())),
            Some(true)
        );
    }

    #[test]
    fn merge_keys() {
        let n = p("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n");
        assert_eq!(
            n.get("other").unwrap().to_json(),
            serde_json::json!({"x": 1, "y": 2})
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("a: 1\nb: [1, 2\nc: 3\n", Path::new("bad.yml")).unwrap_err();
        assert!(e.location.line >= 2, "{e}");
        assert!(e.to_string().starts_with("bad.yml:"), "{e}");
        assert!(e.message.starts_with("invalid YAML: "), "{e}");
        assert!(
            !e.message.contains("line "),
            "position is printed once: {e}"
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\na: 2\n", Path::new("dup.yml")).unwrap_err();
        assert_eq!(e.location.line, 2, "{e}");
    }

    #[test]
    fn empty_is_null() {
        assert!(p("").is_null());
        assert!(p("# only a comment\n---\n").is_null());
    }

    proptest::proptest! {
        /// Whatever the bytes, parsing returns a value or a positioned error.
        #[test]
        fn never_panics(src in "(?s).{0,200}") {
            let _ = parse(&src, Path::new("f.yml"));
        }

        /// Mutations of a realistic vars file never panic either.
        #[test]
        fn mutated_vars_never_panic(cut in 0usize..120, insert in "[ :\\-\\[\\]{}'\"#&*!|>%@`\n\t]{0,3}") {
            let base = "app: catalogage\nports: [80, 443]\nenv:\n  HOME: /root\n  list:\n    - a\n    - {b: 1}\nmulti: |\n  x\n  y\n";
            let cut = cut.min(base.len());
            let src = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
            let _ = parse(&src, Path::new("f.yml"));
        }
    }

    #[test]
    fn var_map_rejects_lists() {
        let e = parse("- a\n- b\n", Path::new("v.yml"))
            .unwrap()
            .to_var_map(Path::new("v.yml"))
            .unwrap_err();
        assert!(e.message.contains("expected a mapping"), "{e}");
    }
}

#[cfg(test)]
mod vault_tests {
    use super::*;
    use crate::secrets::{vault, vault_keys};

    const PW: &str = "yaml-vault-test-password";

    fn keys() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("pw");
        std::fs::write(&f, PW).unwrap();
        let k = vault_keys::read(&[vault_keys::VaultId::file(f, "--vault-password-file")]).unwrap();
        vault_keys::install(k);
    }

    fn indented(text: &str, by: &str) -> String {
        text.lines().map(|l| format!("{by}{l}\n")).collect()
    }

    #[test]
    fn inline_vault_values_are_decrypted_and_redacted() {
        keys();
        let enc = vault::encrypt(b"Inline-Secret-4711", PW.as_bytes(), &[9; 32], None);
        let src = format!(
            "db_password: !vault |\n{}plain: visible\nlist:\n  - !vault |\n{}  - x\n",
            indented(&enc, "  "),
            indented(&enc, "      ")
        );
        let n = parse(&src, Path::new("g.yml")).unwrap();
        assert_eq!(
            n.get("db_password").unwrap().as_str(),
            Some("Inline-Secret-4711")
        );
        assert_eq!(n.get("plain").unwrap().as_str(), Some("visible"));
        let list = n.get("list").unwrap().as_seq().unwrap();
        assert_eq!(list[0].as_str(), Some("Inline-Secret-4711"));
        assert_eq!(
            crate::redact::redact("pw=Inline-Secret-4711"),
            "pw=********"
        );
        // a flow scalar with the tag on the same line
        let one_line = enc.trim_end().replace('\n', "\\n");
        let n = parse(&format!("k: !vault \"{one_line}\"\n"), Path::new("g.yml")).unwrap();
        assert_eq!(n.get("k").unwrap().as_str(), Some("Inline-Secret-4711"));
        // without the tag, the text is a plain string (as in Ansible)
        let n = parse(&format!("k: \"{one_line}\"\n"), Path::new("g.yml")).unwrap();
        assert!(
            n.get("k")
                .unwrap()
                .as_str()
                .unwrap()
                .starts_with("$ANSIBLE_VAULT")
        );
    }

    #[test]
    fn a_whole_vault_file_and_its_errors() {
        keys();
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("vault.yml");
        let enc = vault::encrypt(
            b"api_token: Whole-File-Token-99\nport: 5432\n",
            PW.as_bytes(),
            &[1; 32],
            None,
        );
        std::fs::write(&f, &enc).unwrap();
        let n = parse_file(&f).unwrap();
        assert_eq!(
            n.get("api_token").unwrap().as_str(),
            Some("Whole-File-Token-99")
        );
        assert_eq!(n.get("port").unwrap().line, 2);
        assert_eq!(crate::redact::redact("t Whole-File-Token-99"), "t ********");
        // wrong password: names the file, never a password
        let other = vault::encrypt(b"a: b\n", b"another-password", &[2; 32], None);
        std::fs::write(&f, &other).unwrap();
        let e = parse_file(&f).unwrap_err();
        assert!(e.message.contains("HMAC mismatch"), "{}", e.message);
        assert!(e.to_string().contains("vault.yml"), "{e}");
        assert!(!e.to_string().contains(PW) && !e.to_string().contains("another-password"));
        // bad YAML inside: the line, not the text
        let bad = vault::encrypt(
            b"ok: 1\nk: [Unclosed-Secret-Text\n",
            PW.as_bytes(),
            &[3; 32],
            None,
        );
        std::fs::write(&f, &bad).unwrap();
        let e = parse_file(&f).unwrap_err();
        assert!(e.message.starts_with("(decrypted)"), "{}", e.message);
        assert!(!e.message.contains("Unclosed-Secret-Text"), "{}", e.message);
        // a !vault tag on something that is not vault text
        let e = parse("k: !vault hello\n", Path::new("g.yml")).unwrap_err();
        assert_eq!(e.location.line, 1);
        assert!(
            e.message.contains("must be an Ansible Vault text"),
            "{}",
            e.message
        );
    }
}
