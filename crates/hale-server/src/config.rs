//! Settings of the HTTP layer.

/// Settings of the HTTP layer; every field has a default that needs no configuration.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The base of every absolute URL Hale writes, without a trailing slash
    /// (`http://127.0.0.1:8080`).
    pub public_url: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Page size of search and history when `_count` is absent.
    pub default_count: usize,
    /// Largest `_count` honoured.
    pub max_count: usize,
    /// Largest `_count` honoured by Patient `$everything`, whose clients fetch whole records.
    pub max_everything_count: usize,
    /// Most resources one bulk export file holds.
    pub export_max_per_file: usize,
    /// Largest `_skip` accepted; 1up clients page by offset up to 9990.
    pub max_skip: usize,
    /// Most resources `_include` / `_revinclude` may add to one search page.
    pub max_included: usize,
    /// The key that signs search paging cursors; every process serving one database needs the
    /// same key for cursors to work across them.
    pub cursor_key: crate::cursor::CursorKey,
    /// Longest time one request may take before it is answered with 503.
    pub request_timeout: std::time::Duration,
    /// How often, at most, a process asks the store whether the provider directory changed.
    pub directory_refresh: std::time::Duration,
}

impl HttpConfig {
    /// Defaults for a server reachable at `public_url`.
    pub fn new(public_url: impl Into<String>) -> Self {
        HttpConfig {
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            max_body_bytes: 64 * 1024 * 1024,
            default_count: 10,
            max_count: 1000,
            max_everything_count: 10_000,
            export_max_per_file: 100_000,
            max_skip: 9990,
            max_included: 10_000,
            cursor_key: crate::cursor::CursorKey::random(),
            request_timeout: std::time::Duration::from_secs(60),
            directory_refresh: std::time::Duration::from_secs(1),
        }
    }
}
