//! The HTTP client opsctl itself uses on the controller (deploy webhooks,
//! `users add --key-url`): ureq with rustls, a global timeout and opsctl's
//! user agent.

use std::time::Duration;

/// An agent whose every request ends within `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .user_agent(concat!("opsctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Whether `url` is one this client fetches (http or https).
pub fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}
