//! Bounds on `~`, `+` and `*` inside one template.
//!
//! minijinja has no hook on its operators, so a value doubled in a loop
//! (`{% set ns.s = ns.s ~ ns.s %}`), in 40 `{% set %}` lines or in a recursive
//! macro would grow until memory runs out. Before a template (or an
//! expression) is compiled, its source is parsed with minijinja's own parser
//! and every binary `~`, `+` and `*` is rewritten, in place, from `A ~ B` to
//! `(A)|__opsctl_left ~ (B)|__opsctl_concat`:
//!
//! * `__opsctl_left` remembers its value (on a per-render stack) and returns it
//!   unchanged; `__opsctl_concat` (`__opsctl_add`, `__opsctl_mul`) takes that
//!   value back and, with its own, checks what the operator would build against
//!   the output bound ([`super::limits`]) BEFORE minijinja builds it;
//! * the operator itself is still minijinja's: results, type errors and strict
//!   undefined errors (with the undefined expression they name) are exactly
//!   what they were; the filters pass undefined values through untouched;
//! * only the characters around operands are inserted, never a newline, so
//!   every line number stays; text in strings, comments and raw blocks is not
//!   an operator in the parse and stays as it is;
//! * a source without `~`, `+` or `*` is not parsed; a source the parser
//!   refuses is left alone (compiling it reports the syntax error); rewritten
//!   sources are cached (the same role template renders for every host).
//!
//! Checked: `~` the displayed length of both sides (bytes, against
//! `OPSCTL_TEMPLATE_MAX_OUTPUT`); `+` of two strings their length, of two lists
//! their items (at most [`super::limits::MAX_ITEMS`]); `*` of a string and a
//! count the repeated length, of a list and a count its items.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::machinery::{parse, parse_expr};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

use super::limits;

pub const LEFT: &str = "__opsctl_left";
const CONCAT: &str = "__opsctl_concat";
const ADD: &str = "__opsctl_add";
const MUL: &str = "__opsctl_mul";

thread_local! {
    /// Left operands waiting for their right operand (innermost last).
    static LEFTS: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

/// Runs one render with its own stack of left operands (renders nest: a lazy
/// variable renders while another template renders; one that fails midway
/// leaves nothing behind for the outer one).
pub fn scope<T>(f: impl FnOnce() -> T) -> T {
    let outer = LEFTS.with(|l| std::mem::take(&mut *l.borrow_mut()));
    let out = f();
    LEFTS.with(|l| *l.borrow_mut() = outer);
    out
}

/// Registers the filters the rewritten source calls.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter(LEFT, |v: Value| {
        LEFTS.with(|l| l.borrow_mut().push(v.clone()));
        v
    });
    env.add_filter(CONCAT, |right: Value| -> Result<Value, Error> {
        check_concat(&take_left(), &right)?;
        Ok(right)
    });
    env.add_filter(ADD, |right: Value| -> Result<Value, Error> {
        check_add(&take_left(), &right)?;
        Ok(right)
    });
    env.add_filter(MUL, |right: Value| -> Result<Value, Error> {
        check_mul(&take_left(), &right)?;
        Ok(right)
    });
}

fn take_left() -> Value {
    LEFTS
        .with(|l| l.borrow_mut().pop())
        .unwrap_or(Value::UNDEFINED)
}

/// `a ~ b`: both sides as they display.
fn check_concat(left: &Value, right: &Value) -> Result<(), Error> {
    let max = limits::limits().max_output;
    let len = |v: &Value| limits::display_len(v, max).map_or(u128::MAX, |n| n as u128);
    limits::check_size("`~`", len(left).saturating_add(len(right)))
}

fn is_list(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// The items of a list, counted up to one past the limit when it does not
/// know its length.
fn items(v: &Value) -> u128 {
    match v.len() {
        Some(n) => n as u128,
        None => v
            .try_iter()
            .map_or(0, |it| it.take(limits::MAX_ITEMS + 1).count() as u128),
    }
}

/// `a + b`: two strings, or two lists (what minijinja concatenates).
fn check_add(left: &Value, right: &Value) -> Result<(), Error> {
    if let (Some(a), Some(b)) = (left.as_str(), right.as_str()) {
        return limits::check_size("`+`", a.len() as u128 + b.len() as u128);
    }
    if is_list(left) && is_list(right) {
        return limits::check_items("`+`", items(left).saturating_add(items(right)));
    }
    Ok(())
}

/// `a * n`: a string or a list repeated.
fn check_mul(left: &Value, right: &Value) -> Result<(), Error> {
    let (what, n) = if left.as_str().is_some() || (is_list(left) && right.as_usize().is_some()) {
        (left, right)
    } else {
        (right, left)
    };
    let Some(n) = n.as_usize() else {
        return Ok(());
    };
    if let Some(s) = what.as_str() {
        return limits::check_size("`*`", (s.len() as u128).saturating_mul(n as u128));
    }
    if is_list(what) && what.len().is_some() {
        return limits::check_items("`*`", items(what).saturating_mul(n as u128));
    }
    Ok(())
}

/// Can the source hold an operator this module rewrites? (Cheap: most
/// templates and values hold none.)
fn may_have_operator(source: &str) -> bool {
    source.bytes().any(|b| matches!(b, b'~' | b'+' | b'*'))
}

const CACHE_ENTRIES: usize = 2048;
const CACHE_BYTES: usize = 32 << 20;

#[derive(Default)]
struct Cache {
    /// Rewritten templates and expressions by their source.
    templates: HashMap<String, Option<Arc<str>>>,
    expressions: HashMap<String, Option<Arc<str>>>,
    bytes: usize,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

/// The template `source` with its operators rewritten, `None` when there is
/// nothing to rewrite or it does not parse.
pub fn rewrite_template(source: &str, syntax: &SyntaxConfig) -> Option<Arc<str>> {
    cached(false, source, || {
        let ast = parse(source, "<template>", syntax.clone()).ok()?;
        let mut edits = Edits::new(source);
        edits.stmt(&ast, 0)?;
        let out = edits.apply()?;
        parse(&out, "<template>", syntax.clone()).ok()?;
        Some(out)
    })
}

/// The expression `source` (`when:`, a lone `{{ }}`) with its operators
/// rewritten, `None` when there is nothing to rewrite or it does not parse.
pub fn rewrite_expression(source: &str) -> Option<Arc<str>> {
    cached(true, source, || {
        let ast = parse_expr(source).ok()?;
        let mut edits = Edits::new(source);
        edits.expr(&ast, 0)?;
        let out = edits.apply()?;
        parse_expr(&out).ok()?;
        Some(out)
    })
}

fn cached(
    expression: bool,
    source: &str,
    make: impl FnOnce() -> Option<String>,
) -> Option<Arc<str>> {
    if !may_have_operator(source) {
        return None;
    }
    {
        let cache = CACHE.lock().ok()?;
        let map = if expression {
            &cache.expressions
        } else {
            &cache.templates
        };
        if let Some(hit) = map.get(source) {
            return hit.clone();
        }
    }
    let made: Option<Arc<str>> = make().map(Arc::from);
    if let Ok(mut cache) = CACHE.lock() {
        let size = source.len() + made.as_ref().map_or(0, |s| s.len());
        let entries = cache.templates.len() + cache.expressions.len();
        if entries >= CACHE_ENTRIES || cache.bytes + size > CACHE_BYTES {
            *cache = Cache::default();
        }
        cache.bytes += size;
        let map = if expression {
            &mut cache.expressions
        } else {
            &mut cache.templates
        };
        map.insert(source.to_string(), made.clone());
    }
    made
}

/// Text inserted at a byte offset of the source.
struct Edit {
    at: usize,
    /// Closing text goes before opening text at the same offset.
    closes: bool,
    depth: usize,
    text: &'static str,
}

struct Edits<'s> {
    source: &'s str,
    edits: Vec<Edit>,
}

impl<'s> Edits<'s> {
    fn new(source: &'s str) -> Edits<'s> {
        Edits {
            source,
            edits: Vec::new(),
        }
    }

    fn apply(mut self) -> Option<String> {
        if self.edits.is_empty() {
            return None;
        }
        // at one offset: closings first (innermost first), then openings
        // (outermost first)
        self.edits.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then(b.closes.cmp(&a.closes))
                .then(if a.closes {
                    b.depth.cmp(&a.depth)
                } else {
                    a.depth.cmp(&b.depth)
                })
        });
        let extra: usize = self.edits.iter().map(|e| e.text.len()).sum();
        let mut out = String::with_capacity(self.source.len() + extra);
        let mut from = 0;
        for e in &self.edits {
            out.push_str(self.source.get(from..e.at)?);
            out.push_str(e.text);
            from = e.at;
        }
        out.push_str(&self.source[from..]);
        Some(out)
    }

    fn push(&mut self, at: usize, closes: bool, depth: usize, text: &'static str) {
        self.edits.push(Edit {
            at,
            closes,
            depth,
            text,
        });
    }

    fn stmts(&mut self, body: &[Stmt<'_>], depth: usize) -> Option<()> {
        body.iter().try_for_each(|s| self.stmt(s, depth))
    }

    fn exprs<'a>(
        &mut self,
        exprs: impl IntoIterator<Item = &'a Expr<'a>>,
        depth: usize,
    ) -> Option<()> {
        exprs.into_iter().try_for_each(|e| self.expr(e, depth))
    }

    fn args(&mut self, args: &[CallArg<'_>], depth: usize) -> Option<()> {
        args.iter().try_for_each(|a| match a {
            CallArg::Pos(e)
            | CallArg::Kwarg(_, e)
            | CallArg::PosSplat(e)
            | CallArg::KwargSplat(e) => self.expr(e, depth),
        })
    }

    fn call(&mut self, call: &ast::Call<'_>, depth: usize) -> Option<()> {
        self.expr(&call.expr, depth)?;
        self.args(&call.args, depth)
    }

    fn macro_decl(&mut self, m: &ast::Macro<'_>, depth: usize) -> Option<()> {
        self.exprs(&m.defaults, depth)?;
        self.stmts(&m.body, depth)
    }

    fn stmt(&mut self, stmt: &Stmt<'_>, depth: usize) -> Option<()> {
        match stmt {
            Stmt::Template(t) => self.stmts(&t.children, depth),
            Stmt::EmitExpr(e) => self.expr(&e.expr, depth),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => Some(()),
            Stmt::ForLoop(f) => {
                self.expr(&f.iter, depth)?;
                if let Some(e) = &f.filter_expr {
                    self.expr(e, depth)?;
                }
                self.stmts(&f.body, depth)?;
                self.stmts(&f.else_body, depth)
            }
            Stmt::IfCond(i) => {
                self.expr(&i.expr, depth)?;
                self.stmts(&i.true_body, depth)?;
                self.stmts(&i.false_body, depth)
            }
            Stmt::WithBlock(w) => {
                for (_, value) in &w.assignments {
                    self.expr(value, depth)?;
                }
                self.stmts(&w.body, depth)
            }
            Stmt::Set(s) => {
                self.expr(&s.target, depth)?;
                self.expr(&s.expr, depth)
            }
            Stmt::SetBlock(s) => {
                if let Some(f) = &s.filter {
                    self.expr(f, depth)?;
                }
                self.stmts(&s.body, depth)
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled, depth)?;
                self.stmts(&a.body, depth)
            }
            Stmt::FilterBlock(f) => {
                self.expr(&f.filter, depth)?;
                self.stmts(&f.body, depth)
            }
            Stmt::Block(b) => self.stmts(&b.body, depth),
            Stmt::Import(i) => self.expr(&i.expr, depth),
            Stmt::FromImport(i) => self.expr(&i.expr, depth),
            Stmt::Extends(e) => self.expr(&e.name, depth),
            Stmt::Include(i) => self.expr(&i.name, depth),
            Stmt::Macro(m) => self.macro_decl(m, depth),
            Stmt::CallBlock(c) => {
                self.call(&c.call, depth)?;
                self.macro_decl(&c.macro_decl, depth)
            }
            Stmt::Do(d) => self.call(&d.call, depth),
        }
    }

    fn expr(&mut self, expr: &Expr<'_>, depth: usize) -> Option<()> {
        match expr {
            Expr::Var(_) | Expr::Const(_) => Some(()),
            Expr::Slice(s) => {
                self.expr(&s.expr, depth)?;
                self.exprs([&s.start, &s.stop, &s.step].into_iter().flatten(), depth)
            }
            Expr::UnaryOp(u) => self.expr(&u.expr, depth),
            Expr::BinOp(b) => {
                let check = match b.op {
                    ast::BinOpKind::Concat => Some((b'~', ")|__opsctl_concat")),
                    ast::BinOpKind::Add => Some((b'+', ")|__opsctl_add")),
                    ast::BinOpKind::Mul => Some((b'*', ")|__opsctl_mul")),
                    _ => None,
                };
                let inner = depth + usize::from(check.is_some());
                self.expr(&b.left, inner)?;
                self.expr(&b.right, inner)?;
                if let Some((op, close)) = check {
                    self.operator(b.span(), end_of(&b.left), op, close, depth)?;
                }
                Some(())
            }
            Expr::Compare(c) => {
                self.expr(&c.expr, depth)?;
                self.exprs(c.ops.iter().map(|o| &o.expr), depth)
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr, depth)?;
                self.expr(&i.true_expr, depth)?;
                self.exprs(&i.false_expr, depth)
            }
            Expr::Filter(f) => {
                self.exprs(&f.expr, depth)?;
                self.args(&f.args, depth)
            }
            Expr::Test(t) => {
                self.expr(&t.expr, depth)?;
                self.args(&t.args, depth)
            }
            Expr::GetAttr(g) => self.expr(&g.expr, depth),
            Expr::GetItem(g) => {
                self.expr(&g.expr, depth)?;
                self.expr(&g.subscript_expr, depth)
            }
            Expr::Call(c) => self.call(c, depth),
            Expr::List(l) => self.exprs(&l.items, depth),
            Expr::Tuple(t) => self.exprs(&t.items, depth),
            Expr::Map(m) => {
                self.exprs(&m.keys, depth)?;
                self.exprs(&m.values, depth)
            }
        }
    }

    /// `A op B` spanning `span`, `A` ending at `left_end`: becomes
    /// `(A)|__opsctl_left op (B)|close`. The operator is the first character
    /// after `A` that is not blank or a closing bracket; anything else there
    /// and the whole source is left as it is.
    fn operator(
        &mut self,
        span: minijinja::machinery::Span,
        left_end: usize,
        op: u8,
        close: &'static str,
        depth: usize,
    ) -> Option<()> {
        let bytes = self.source.as_bytes();
        let (start, end) = (span.start_offset as usize, span.end_offset as usize);
        let mut at = left_end;
        while at < end
            && (bytes[at].is_ascii_whitespace() || matches!(bytes[at], b')' | b']' | b'}'))
        {
            at += 1;
        }
        if at >= end || bytes[at] != op || bytes.get(at + 1) == Some(&op) || start >= at {
            return None;
        }
        self.push(start, false, depth, "(");
        self.push(at, true, depth, ")|__opsctl_left");
        self.push(at + 1, false, depth, "(");
        self.push(end, true, depth, close);
        Some(())
    }
}

/// Where an expression's text ends (its last token).
fn end_of(expr: &Expr<'_>) -> usize {
    let span = match expr {
        Expr::Var(s) => s.span(),
        Expr::Const(s) => s.span(),
        Expr::Slice(s) => s.span(),
        Expr::UnaryOp(s) => s.span(),
        Expr::BinOp(s) => s.span(),
        Expr::Compare(s) => s.span(),
        Expr::IfExpr(s) => s.span(),
        Expr::Filter(s) => s.span(),
        Expr::Test(s) => s.span(),
        Expr::GetAttr(s) => s.span(),
        Expr::GetItem(s) => s.span(),
        Expr::Call(s) => s.span(),
        Expr::List(s) => s.span(),
        Expr::Tuple(s) => s.span(),
        Expr::Map(s) => s.span(),
    };
    span.end_offset as usize
}
