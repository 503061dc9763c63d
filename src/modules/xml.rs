//! xml (community.general.xml): read or change the nodes of an XML file that
//! an XPath 1.0 expression selects (sxd-document and sxd-xpath).
//!
//! On the module protocol: the file is a path read whole; Rust parses it,
//! evaluates `xpath` (with `namespaces`), and changes the document as
//! Ansible's module does: `state: absent` removes the matches (or their
//! `attribute`), `value` sets their text (or `attribute`), `set_children`
//! replaces their children, `add_children` appends (every run, as Ansible's),
//! a missing simple path (`/a/b[@k='v']/c`) is created. The file is written,
//! never in check mode, only when the document changed (as Ansible's, it is
//! then written whole again: `<?xml version="1.0" encoding="UTF-8"?>`, quotes
//! normalised; `pretty_print` re-indents it). `count`, `print_match` and
//! `content` only read. Registers `count`, `matches`, `actions`.

use serde_json::{Value as Json, json};
use sxd_document::dom::{ChildOfElement, Document, Element};
use sxd_xpath::nodeset::Node;
use sxd_xpath::{Context, Factory, Value};

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::remote_file::{FType, Req};
use super::sysconf::{text_file_plan, text_req};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static XML: Spec = Spec {
    mutually_exclusive: &[&["value", "set_children", "add_children", "count", "content"]],
    ..Spec::new(
        "xml",
        &[
            ArgSpec::new("path", Kind::Str)
                .aliases(&["dest", "file"])
                .required(),
            ArgSpec::new("xpath", Kind::Str),
            ArgSpec::new("namespaces", Kind::Dict),
            ArgSpec::new("state", Kind::Choice(&["present", "absent"])).aliases(&["ensure"]),
            ArgSpec::new("value", Kind::Any),
            ArgSpec::new("attribute", Kind::Str),
            ArgSpec::new("add_children", Kind::Any),
            ArgSpec::new("set_children", Kind::Any),
            ArgSpec::new("count", Kind::Bool),
            ArgSpec::new("print_match", Kind::Bool),
            ArgSpec::new("pretty_print", Kind::Bool),
            ArgSpec::new("content", Kind::Choice(&["attribute", "text"])),
            ArgSpec::new("input_type", Kind::Choice(&["yaml", "xml"])),
            ArgSpec::new("backup", Kind::Bool),
            // Ansible's, not implemented here: accepted so the playbook loads,
            // and the task fails if a host reaches it with one of them set.
            ArgSpec::new("xmlstring", Kind::Str),
            ArgSpec::new("insertbefore", Kind::Bool),
            ArgSpec::new("insertafter", Kind::Bool),
            ArgSpec::new("strip_cdata_tags", Kind::Bool),
        ],
    )
};

pub struct Xml;

/// Arguments of Ansible's xml that opsctl knows but does not implement.
const NOT_IMPLEMENTED: &[&str] = &[
    "xmlstring",
    "insertbefore",
    "insertafter",
    "strip_cdata_tags",
];

/// Is this argument given, with a value that asks for something?
fn set(args: &Args, name: &str) -> bool {
    match args.get(name) {
        None | Some(Json::Null) | Some(Json::Bool(false)) => false,
        Some(_) => true,
    }
}

fn req(args: &Args) -> Req {
    text_req(args.str("path").unwrap_or_default())
}

/// A scalar argument as Ansible turns it into text (`true` is `true`...).
fn text_value(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// The children arguments (`add_children`, `set_children`): a list of element
/// names, or of one-key mappings `{name: text}` / `{name: {attr: v, '+value':
/// text, '_': [children]}}`.
#[derive(Debug, Clone, PartialEq)]
struct Child {
    name: String,
    attrs: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<Child>,
}

fn children_arg(v: &Json, arg: &str) -> Result<Vec<Child>, String> {
    let list = match v {
        Json::Array(l) => l.clone(),
        other => vec![other.clone()],
    };
    list.iter().map(|c| child(c, arg)).collect()
}

fn child(v: &Json, arg: &str) -> Result<Child, String> {
    match v {
        Json::String(s) => Ok(Child {
            name: s.clone(),
            attrs: vec![],
            text: None,
            children: vec![],
        }),
        Json::Object(m) if m.len() == 1 => {
            let (name, value) = m
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v))
                .unwrap_or_default();
            match value {
                Json::Object(a) => {
                    let mut c = Child {
                        name,
                        attrs: vec![],
                        text: None,
                        children: vec![],
                    };
                    for (k, v) in a {
                        match k.as_str() {
                            "_" => c.children = children_arg(v, arg)?,
                            "+value" => c.text = Some(text_value(v)),
                            _ => c.attrs.push((k.clone(), text_value(v))),
                        }
                    }
                    Ok(c)
                }
                other => Ok(Child {
                    name,
                    attrs: vec![],
                    text: Some(text_value(other)),
                    children: vec![],
                }),
            }
        }
        Json::Object(_) => Err(format!(
            "{arg}: Can only create children from hashes with one key"
        )),
        other => Err(format!(
            "{arg}: '{other}' is not an element name or a mapping"
        )),
    }
}

fn make<'d>(doc: Document<'d>, c: &Child) -> Element<'d> {
    let e = doc.create_element(c.name.as_str());
    for (k, v) in &c.attrs {
        e.set_attribute_value(k.as_str(), v);
    }
    if let Some(t) = &c.text {
        e.set_text(t);
    }
    for sub in &c.children {
        e.append_child(make(doc, sub));
    }
    e
}

/// An element as a `Child`, to compare it with one asked for (whitespace
/// between elements ignored).
fn as_child(e: Element) -> Child {
    let mut text = String::new();
    let mut children = vec![];
    for c in e.children() {
        match c {
            ChildOfElement::Element(x) => children.push(as_child(x)),
            ChildOfElement::Text(t) => text.push_str(t.text()),
            _ => {}
        }
    }
    let mut attrs: Vec<(String, String)> = e
        .attributes()
        .iter()
        .map(|a| (a.name().local_part().to_string(), a.value().to_string()))
        .collect();
    attrs.sort();
    let text = text.trim();
    Child {
        name: e.name().local_part().to_string(),
        attrs,
        text: (!text.is_empty()).then(|| text.to_string()),
        children,
    }
}

fn normalized(c: &Child) -> Child {
    let mut c = c.clone();
    c.attrs.sort();
    c.text = c
        .text
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    c.children = c.children.iter().map(normalized).collect();
    c
}

fn elements(e: Element) -> Vec<Element> {
    e.children()
        .into_iter()
        .filter_map(|c| c.element())
        .collect()
}

/// What a match prints (`print_match`, `matches`): an element's name, an
/// attribute as `name=value`, text as it is.
fn describe(n: &Node) -> String {
    match n {
        Node::Element(e) => e.name().local_part().to_string(),
        Node::Attribute(a) => format!("{}={}", a.name().local_part(), a.value()),
        other => other.string_value(),
    }
}

fn select<'d>(doc: Document<'d>, ctx: &Context<'d>, xpath: &str) -> Result<Vec<Node<'d>>, String> {
    let x = Factory::new()
        .build(xpath)
        .map_err(|e| format!("Syntax error in xpath expression: {xpath} ({e})"))?
        .ok_or_else(|| format!("Syntax error in xpath expression: {xpath} (empty)"))?;
    match x.evaluate(ctx, doc.root()) {
        Ok(Value::Nodeset(ns)) => Ok(ns.document_order()),
        Ok(_) => Err(format!(
            "xpath {xpath} does not select nodes (a number, string or boolean)"
        )),
        Err(e) => Err(format!("xpath {xpath}: {e}")),
    }
}

/// One step of a path the module may create: a name and `[@k='v']` tests.
type Step = (String, Vec<(String, String)>);

fn steps(xpath: &str) -> Option<Vec<Step>> {
    let rest = xpath.strip_prefix('/')?;
    let mut out = vec![];
    for seg in rest.split('/') {
        let (name, mut preds) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "_-.:".contains(c))
        {
            return None;
        }
        let mut attrs = vec![];
        while !preds.is_empty() {
            let end = preds.find(']')?;
            let p = preds[1..end].trim().strip_prefix('@')?;
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))?;
            attrs.push((k.trim().to_string(), v.to_string()));
            preds = &preds[end + 1..];
        }
        out.push((name.to_string(), attrs));
    }
    Some(out)
}

/// Creates what is missing of a simple absolute path; the elements it ends at.
fn create_path<'d>(doc: Document<'d>, xpath: &str) -> Result<Vec<Node<'d>>, String> {
    let cannot = || {
        format!(
            "xpath {xpath} selects nothing, and opsctl creates only simple paths (/a/b[@k='v']/c)"
        )
    };
    let steps = steps(xpath).ok_or_else(cannot)?;
    let root_el = doc.root().children().into_iter().find_map(|c| c.element());
    let Some(mut cur) = root_el else {
        return Err(cannot());
    };
    let (first, first_attrs) = &steps[0];
    let matches = |e: Element, name: &str, attrs: &[(String, String)]| {
        e.name().local_part() == name
            && attrs
                .iter()
                .all(|(k, v)| e.attribute_value(k.as_str()) == Some(v.as_str()))
    };
    if !matches(cur, first, first_attrs) {
        return Err(cannot());
    }
    for (name, attrs) in &steps[1..] {
        cur = match elements(cur).into_iter().find(|e| matches(*e, name, attrs)) {
            Some(e) => e,
            None => {
                let e = doc.create_element(name.as_str());
                for (k, v) in attrs {
                    e.set_attribute_value(k.as_str(), v);
                }
                cur.append_child(e);
                e
            }
        };
    }
    Ok(vec![Node::Element(cur)])
}

/// Re-indents a document: whitespace between elements replaced by two spaces
/// per level (lxml's pretty_print).
fn pretty(e: Element, level: usize) {
    let kids = e.children();
    let only_elements = kids.iter().all(|c| match c {
        ChildOfElement::Text(t) => t.text().trim().is_empty(),
        _ => true,
    });
    if !only_elements || !kids.iter().any(|c| c.element().is_some()) {
        return;
    }
    for c in &kids {
        if let ChildOfElement::Text(t) = c {
            t.remove_from_parent();
        }
    }
    let doc = e.document();
    for c in e.children() {
        e.append_child(doc.create_text(&format!("\n{}", "  ".repeat(level + 1))));
        e.remove_child(c);
        e.append_child(c);
        if let ChildOfElement::Element(x) = c {
            pretty(x, level + 1);
        }
    }
    e.append_child(doc.create_text(&format!("\n{}", "  ".repeat(level))));
}

fn serialize(doc: &Document) -> Result<String, String> {
    let mut out = Vec::new();
    sxd_document::writer::Writer::new()
        .set_single_quotes(false)
        .set_write_encoding(true)
        .format_document(doc, &mut out)
        .map_err(|e| e.to_string())?;
    let mut s = String::from_utf8(out).map_err(|e| e.to_string())?;
    // the declaration on a line of its own, as lxml writes it
    if let Some(i) = s.find("?>")
        && !s[i + 2..].starts_with('\n')
    {
        s.insert(i + 2, '\n');
    }
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// The edit: the new text when the document changed, and the result's data.
fn edit(text: &str, args: &Args, path: &str) -> Result<(Option<String>, Outcome), String> {
    let package = sxd_document::parser::parse(text)
        .map_err(|e| format!("Error while parsing document: {path} ({e:?})"))?;
    let doc = package.as_document();
    let mut ctx = Context::new();
    if let Some(Json::Object(ns)) = args.get("namespaces") {
        for (prefix, uri) in ns {
            ctx.set_namespace(prefix, &text_value(uri));
        }
    }
    let mut o = Outcome::ok();
    let xpath = args.str("xpath").unwrap_or("/*");
    let mut found = select(doc, &ctx, xpath)?;
    if args.bool_or("count", false) {
        o = o.with("count", found.len());
    }
    if args.bool_or("print_match", false) {
        let m: Vec<String> = found.iter().map(describe).collect();
        o.msg = Some(format!("selected nodes: {}", m.join(", ")));
        o = o.with("matches", m);
    }
    if let Some(kind) = args.str("content") {
        let m: Vec<Json> = found
            .iter()
            .filter_map(|n| n.element())
            .map(|e| {
                let name = e.name().local_part().to_string();
                if kind == "text" {
                    json!({ name: as_child(e).text.unwrap_or_default() })
                } else {
                    let a: serde_json::Map<String, Json> = e
                        .attributes()
                        .iter()
                        .map(|a| (a.name().local_part().to_string(), json!(a.value())))
                        .collect();
                    json!({ name: a })
                }
            })
            .collect();
        o = o.with("count", m.len()).with("matches", m);
        return Ok((None, o));
    }
    if args.bool_or("count", false) && args.get("value").is_none() {
        return Ok((None, o));
    }
    let absent = args.str("state") == Some("absent");
    let attribute = args.str("attribute");
    let value = args.get("value").map(text_value);
    let mut changed = false;
    let mut actions = vec![];
    if absent {
        for n in &found {
            match (n, attribute) {
                (Node::Element(e), Some(a)) if e.attribute(a).is_some() => {
                    e.remove_attribute(a);
                    changed = true;
                }
                (Node::Element(_), Some(_)) => {}
                (Node::Element(e), None) => {
                    e.remove_from_parent();
                    changed = true;
                }
                (Node::Attribute(a), _) => {
                    a.remove_from_parent();
                    changed = true;
                }
                (Node::Text(t), _) => {
                    t.remove_from_parent();
                    changed = true;
                }
                _ => {}
            }
        }
        actions.push(json!({"xpath": xpath, "state": "absent"}));
    } else {
        if found.is_empty() {
            found = create_path(doc, xpath)?;
            changed = true;
        }
        let set = args
            .get("set_children")
            .map(|v| children_arg(v, "set_children"))
            .transpose()?;
        let add = args
            .get("add_children")
            .map(|v| children_arg(v, "add_children"))
            .transpose()?;
        for n in &found {
            match n {
                Node::Element(e) => {
                    if let (Some(a), Some(v)) = (attribute, &value) {
                        if e.attribute_value(a) != Some(v.as_str()) {
                            e.set_attribute_value(a, v);
                            changed = true;
                        }
                    } else if let (Some(a), None) = (attribute, &value) {
                        if e.attribute(a).is_none() {
                            e.set_attribute_value(a, "");
                            changed = true;
                        }
                    } else if let Some(v) = &value {
                        let has: String = e
                            .children()
                            .iter()
                            .filter_map(|c| c.text().map(|t| t.text().to_string()))
                            .collect();
                        let only_text = e.children().iter().all(|c| c.text().is_some());
                        if has != *v || !only_text {
                            e.set_text(v);
                            changed = true;
                        }
                    }
                    if let Some(want) = &set {
                        let have: Vec<Child> = elements(*e).into_iter().map(as_child).collect();
                        let want_n: Vec<Child> = want.iter().map(normalized).collect();
                        if have != want_n {
                            e.clear_children();
                            for c in want {
                                e.append_child(make(doc, c));
                            }
                            changed = true;
                        }
                    }
                    if let Some(add) = &add {
                        for c in add {
                            e.append_child(make(doc, c));
                            changed = true;
                        }
                    }
                }
                Node::Attribute(a) => {
                    if let Some(v) = &value
                        && a.value() != v.as_str()
                        && let Some(p) = a.parent()
                    {
                        p.set_attribute_value(a.name(), v);
                        changed = true;
                    }
                }
                Node::Text(t) => {
                    if let Some(v) = &value
                        && t.text() != v.as_str()
                    {
                        t.set_text(v);
                        changed = true;
                    }
                }
                _ => {}
            }
        }
        actions.push(json!({"xpath": xpath, "state": "present"}));
    }
    o = o.with("actions", actions);
    if !changed {
        return Ok((None, o));
    }
    if args.bool_or("pretty_print", false)
        && let Some(root) = doc.root().children().into_iter().find_map(|c| c.element())
    {
        pretty(root, 0);
    }
    Ok((Some(serialize(&doc)?), o))
}

impl Module for Xml {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Host, Need::Path(req(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let xml_input = args.str("input_type") == Some("xml");
        if let Some(name) = NOT_IMPLEMENTED
            .iter()
            .find(|n| set(args, n))
            .or(xml_input.then_some(&"input_type: xml"))
        {
            return fail::fail(format!(
                "opsctl's xml does not implement `{name}` yet (write the file with copy or \
                 template, or use value/set_children/add_children)"
            ));
        }
        if args
            .get("value")
            .is_some_and(|v| v.is_array() || v.is_object())
        {
            return fail::bad_args("value must be a string, a number or a boolean");
        }
        let host = facts.host()?;
        let st = facts.path(&req(args))?.clone();
        if st.kind != FType::File {
            return Err(Fail::Task(format!(
                "The target XML source '{}' does not exist.",
                st.path
            )));
        }
        let text = super::sysconf::text_of(&st);
        let (new, data) = edit(&text, args, &st.path).map_err(Fail::Task)?;
        let Some(new) = new else {
            return Ok(Plan::Done(data));
        };
        let mut plan = text_file_plan(&st, host, &new, args.bool_or("backup", false), ctx.diff)?;
        if let Some(o) = plan.outcome_mut() {
            o.data.extend(data.data);
            o.msg = data.msg.or(o.msg.take());
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<business type=\"bar\">\n  <name>Tasty Beverage Co.</name>\n  <beers>\n    <beer>Rochefort 10</beer>\n    <beer>St. Bernardus Abbot 12</beer>\n  </beers>\n  <rating subjective=\"true\">10</rating>\n  <website>\n    <mobilefriendly/>\n    <address>http://tastybeverageco.com</address>\n  </website>\n</business>\n";

    fn args(v: Json) -> Args {
        XML.validate(v.as_object().unwrap(), true).unwrap()
    }

    fn run(text: &str, v: Json) -> (Option<String>, Outcome) {
        edit(text, &args(v), "f.xml").unwrap()
    }

    #[test]
    fn sets_values_and_attributes_once() {
        let (new, _) = run(
            DOC,
            json!({"path": "f", "xpath": "/business/rating", "value": 11}),
        );
        let new = new.unwrap();
        assert!(
            new.contains("<rating subjective=\"true\">11</rating>"),
            "{new}"
        );
        assert!(
            new.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<business"),
            "{new}"
        );
        assert_eq!(
            run(
                &new,
                json!({"path": "f", "xpath": "/business/rating", "value": "11"})
            )
            .0,
            None
        );
        let a = json!({"path": "f", "xpath": "/business/rating", "attribute": "subjective", "value": false});
        let (new2, _) = run(&new, a.clone());
        assert!(new2.unwrap().contains("subjective=\"false\""));
        // the same value: no change
        assert_eq!(
            run(
                DOC,
                json!({"path": "f", "xpath": "/business/@type", "value": "bar"})
            )
            .0,
            None
        );
    }

    #[test]
    fn removes_counts_and_prints() {
        let (new, _) = run(
            DOC,
            json!({"path": "f", "xpath": "/business/beers/beer[1]", "state": "absent"}),
        );
        let new = new.unwrap();
        assert!(!new.contains("Rochefort"));
        assert_eq!(
            run(
                &new,
                json!({"path": "f", "xpath": "//beer[.='Rochefort 10']", "state": "absent"})
            )
            .0,
            None
        );
        let (none, o) = run(DOC, json!({"path": "f", "xpath": "//beer", "count": true}));
        assert!(none.is_none());
        assert_eq!(o.data["count"], json!(2));
        let (_, o) = run(
            DOC,
            json!({"path": "f", "xpath": "//beer", "print_match": true}),
        );
        assert_eq!(o.data["matches"], json!(["beer", "beer"]));
        let (_, o) = run(
            DOC,
            json!({"path": "f", "xpath": "/business/rating", "content": "attribute"}),
        );
        assert_eq!(
            o.data["matches"],
            json!([{"rating": {"subjective": "true"}}])
        );
        let (_, o) = run(
            DOC,
            json!({"path": "f", "xpath": "/business/name", "content": "text"}),
        );
        assert_eq!(o.data["matches"], json!([{"name": "Tasty Beverage Co."}]));
    }

    #[test]
    fn children_set_added_and_paths_created() {
        let set = json!({"path": "f", "xpath": "/business/beers",
            "set_children": [{"beer": "Orval"}, {"beer": {"+value": "Westmalle", "abv": "9.5"}}]});
        let (new, _) = run(DOC, set.clone());
        let new = new.unwrap();
        assert!(
            new.contains("<beers><beer>Orval</beer><beer abv=\"9.5\">Westmalle</beer></beers>"),
            "{new}"
        );
        assert_eq!(run(&new, set).0, None);
        let add = json!({"path": "f", "xpath": "/business/website", "add_children": ["phone"]});
        assert!(run(DOC, add).0.unwrap().contains("<phone/>"));
        let (new, _) = run(
            DOC,
            json!({"path": "f", "xpath": "/business/owner[@kind='person']/name", "value": "Ann"}),
        );
        let new = new.unwrap();
        assert!(
            new.contains("<owner kind=\"person\"><name>Ann</name></owner>"),
            "{new}"
        );
        let pretty = run(
            DOC,
            json!({"path": "f", "xpath": "/business/owner", "value": "x", "pretty_print": true}),
        )
        .0
        .unwrap();
        assert!(
            pretty.contains("\n  <owner>x</owner>\n</business>"),
            "{pretty}"
        );
    }

    #[test]
    fn namespaces_and_errors() {
        let doc = "<a xmlns:x=\"urn:x\"><x:b>1</x:b></a>";
        let (new, _) = run(
            doc,
            json!({"path": "f", "xpath": "/a/y:b", "namespaces": {"y": "urn:x"}, "value": "2"}),
        );
        assert!(new.unwrap().contains(">2</x:b>"));
        let e = edit(
            doc,
            &args(json!({"path": "f", "xpath": "/a/[", "value": "2"})),
            "f",
        )
        .unwrap_err();
        assert!(e.contains("Syntax error in xpath expression"), "{e}");
        let e = edit(
            doc,
            &args(json!({"path": "f", "xpath": "count(/a)", "value": "2"})),
            "f",
        )
        .unwrap_err();
        assert!(e.contains("does not select nodes"), "{e}");
        let e = edit("<a>", &args(json!({"path": "f", "xpath": "/a"})), "f.xml").unwrap_err();
        assert!(e.contains("Error while parsing document: f.xml"), "{e}");
    }
}
