//! Settings of the HTTP layer.

/// Settings of the HTTP layer; every field has a default that needs no configuration.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The base of every absolute URL Hale writes, without a trailing slash
    /// (`http://127.0.0.1:8080`).
    pub public_url: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Page size of history when `_count` is absent.
    pub default_count: usize,
    /// Largest `_count` honoured.
    pub max_count: usize,
    /// Longest time one request may take before it is answered with 503.
    pub request_timeout: std::time::Duration,
}

impl HttpConfig {
    /// Defaults for a server reachable at `public_url`.
    pub fn new(public_url: impl Into<String>) -> Self {
        HttpConfig {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            max_body_bytes: 64 * 1024 * 1024,
            default_count: 10,
            max_count: 1000,
            request_timeout: std::time::Duration::from_secs(60),
        }
    }
}
