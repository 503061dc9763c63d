//! The variables a template is rendered with, as the template layer sees them:
//! names resolved lazily, one at a time, by a [`Variables`] (the vars layer
//! implements it for a host's precedence stack), wrapped in a [`LazyContext`]
//! object. The template layer knows nothing more of where the values come
//! from, and never walks a `LazyContext` to register secrets (that would
//! resolve every variable).

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value};

/// Variables resolved by name when a template reads them.
pub trait Variables: fmt::Debug + Send + Sync + 'static {
    /// The value of `name`, `None` when it is not defined (an error value when
    /// resolving it failed).
    fn get(&self, name: &str) -> Option<Value>;
    /// Every name a template can read.
    fn names(&self) -> Vec<Value>;
}

/// A template context whose variables resolve lazily ([`Variables`]).
#[derive(Debug)]
pub struct LazyContext(Box<dyn Variables>);

impl LazyContext {
    /// The context as a template value.
    pub fn value(vars: impl Variables) -> Value {
        Value::from_object(LazyContext(Box::new(vars)))
    }

    /// Is `value` a lazy context?
    pub fn is(value: &Value) -> bool {
        value.downcast_object_ref::<LazyContext>().is_some()
    }
}

impl Object for LazyContext {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.names())
    }
}
