//! debug, set_fact, assert and fail: modules that only look at variables. They
//! never touch the host, so they run the same in check mode.

use serde_json::{Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

/// A module decided on the controller alone: no facts, no change.
pub struct Pure(pub fn(&Args, &Ctx) -> Result<Outcome, Fail>);

impl Module for Pure {
    fn needs(&self, _: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(Vec::new())
    }
    fn decide(&self, args: &Args, _: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        (self.0)(args, ctx).map(Plan::Done)
    }
}

pub static RUN_DEBUG: Pure = Pure(debug);
pub static RUN_SET_FACT: Pure = Pure(set_fact);
pub static RUN_ASSERT: Pure = Pure(assert);
pub static RUN_FAIL: Pure = Pure(fail);

pub static DEBUG: Spec = Spec {
    mutually_exclusive: &[&["msg", "var"]],
    ..Spec::new(
        "debug",
        &[
            ArgSpec::new("msg", Kind::Any),
            ArgSpec::new("var", Kind::Str),
            ArgSpec::new("verbosity", Kind::Int),
        ],
    )
};

pub static SET_FACT: Spec = Spec {
    any_args: true,
    ..Spec::new("set_fact", &[ArgSpec::new("cacheable", Kind::Bool)])
};

pub static ASSERT: Spec = Spec::new(
    "assert",
    &[
        ArgSpec::new("that", Kind::Any).required(),
        ArgSpec::new("fail_msg", Kind::Any).aliases(&["msg"]),
        ArgSpec::new("success_msg", Kind::Any),
        ArgSpec::new("quiet", Kind::Bool),
    ],
);

pub static FAIL: Spec = Spec {
    ..Spec::new("fail", &[ArgSpec::new("msg", Kind::Any)])
};

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn debug(args: &Args, env: &Ctx) -> Result<Outcome, Fail> {
    {
        let mut o = Outcome::ok();
        o.print = true;
        if let Some(var) = args.str("var") {
            // `var` is an expression (a name, `x.y`, `x | length`...).
            let v = env
                .templar
                .eval_expr(var, env.vars, Some(env.location))
                .map_err(|e| Fail::Args(e.to_string()))?;
            let v = if v.is_undefined() {
                json!("VARIABLE IS NOT DEFINED!")
            } else {
                crate::vars::to_json(&v)
            };
            o.msg = Some(format!("{var} = {v}"));
            o.data.insert(var.to_string(), v);
        } else {
            let msg = args.get("msg").cloned().unwrap_or(json!("Hello world!"));
            o.msg = Some(text(&msg));
            o.data.insert("msg".into(), msg);
        }
        Ok(o)
    }
}

fn set_fact(args: &Args, _: &Ctx) -> Result<Outcome, Fail> {
    {
        let mut facts = args.values.clone();
        facts.remove("cacheable");
        if facts.is_empty() {
            return fail::bad_args(
                "set_fact needs at least one variable: `set_fact: {name: value}`",
            );
        }
        // `cacheable: true` puts the facts in the fact cache (as Ansible's
        // memory cache: kept for the run; `meta: clear_facts` drops them).
        Ok(Outcome::ok()
            .with("ansible_facts", Json::Object(facts))
            .with("_ansible_facts_cacheable", args.bool_or("cacheable", false)))
    }
}

fn assert(args: &Args, env: &Ctx) -> Result<Outcome, Fail> {
    {
        let that: Vec<String> = match args.get("that") {
            Some(Json::Array(a)) => a.iter().map(text).collect(),
            Some(v) => vec![text(v)],
            None => vec![],
        };
        for cond in &that {
            let v = env
                .templar
                .eval_expr(cond, env.vars, Some(env.location))
                .map_err(|e| Fail::Args(format!("that: {cond}: {e}")))?;
            if !v.is_true() {
                let msg = args
                    .get("fail_msg")
                    .map(text)
                    .unwrap_or_else(|| format!("Assertion failed: {cond}"));
                return Ok(Outcome::failed(msg)
                    .with("assertion", cond.as_str())
                    .with("evaluated_to", false));
            }
        }
        let mut o = Outcome::ok();
        if !args.bool_or("quiet", false) {
            o.msg = Some(
                args.get("success_msg")
                    .map(text)
                    .unwrap_or_else(|| "All assertions passed".into()),
            );
        }
        Ok(o)
    }
}

fn fail(args: &Args, _: &Ctx) -> Result<Outcome, Fail> {
    {
        Ok(Outcome::failed(
            args.get("msg")
                .map(text)
                .unwrap_or_else(|| "Failed as requested from task".into()),
        ))
    }
}
