//! Route templates (`/posts`, `/posts/{id}`, `/files/{*path}`) and how a request finds its rule.

use http::Method;

pub(crate) use crate::core::route::Template;

/// The routes of a layer: exact paths first, then templates in the order given.
#[derive(Clone, Debug, Default)]
pub(crate) struct Routes {
    exact: Vec<(Template, Method, usize)>,
    templates: Vec<(Template, Method, usize)>,
}

impl Routes {
    /// Whether `method` on `template` is already routed.
    pub(crate) fn contains(&self, method: &Method, template: &str) -> bool {
        self.exact
            .iter()
            .chain(&self.templates)
            .any(|(t, m, _)| m == method && t.as_str() == template)
    }

    pub(crate) fn push(&mut self, template: Template, method: Method, rule: usize) {
        if template.is_exact() {
            self.exact.push((template, method, rule));
        } else {
            self.templates.push((template, method, rule));
        }
    }

    /// The rule of `method` on the route template `matched` (axum's `MatchedPath`).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn by_template(&self, method: &Method, matched: &str) -> Option<usize> {
        self.exact
            .iter()
            .chain(&self.templates)
            .find(|(t, m, _)| m == method && t.as_str() == matched)
            .map(|(_, _, rule)| *rule)
    }

    /// The rule of `method` on the request path `path`.
    pub(crate) fn by_path(&self, method: &Method, path: &str) -> Option<usize> {
        if let Some((_, _, rule)) = self
            .exact
            .iter()
            .find(|(t, m, _)| m == method && t.as_str() == path)
        {
            return Some(*rule);
        }
        self.templates
            .iter()
            .find(|(t, m, _)| m == method && t.matches(path))
            .map(|(_, _, rule)| *rule)
    }
}
