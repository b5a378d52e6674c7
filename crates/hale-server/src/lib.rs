//! Hale's HTTP layer: axum routing, extractors, authentication ([`auth`]), the 1up developer API
//! ([`identity`]), the provider directory ([`directory`]), the jobs of asynchronous Bulk Data export ([`export`]), content negotiation,
//! the one mapping of errors to status and OperationOutcome ([`error`]), the CapabilityStatement,
//! and the operational endpoints (`/healthz`, `/readyz`, `/metrics`).
//!
//! Only this crate knows HTTP status codes. Handlers (one module per interaction under
//! [`interaction`]) extract, call one `hale-engine` function, and render.
#![warn(missing_docs)]

pub mod auth;
pub mod body;
pub mod config;
pub mod cursor;
pub mod directory;
pub mod error;
pub mod export;
pub mod identity;
pub mod interaction;
pub mod metrics;
pub mod negotiate;
pub mod request;
pub mod response;
pub mod routes;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hale_engine::Engine;
use hale_fhir::outcome::{Issue, IssueType};

pub use config::HttpConfig;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The interactions over the store.
    pub engine: Engine,
    /// Apps, users, tokens and grants.
    pub identity: Arc<hale_auth::Identity>,
    /// HTTP settings.
    pub config: Arc<HttpConfig>,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Asynchronous Bulk Data export: its jobs and files; none where it is not set up, where
    /// kick-offs that ask for it are refused and job URLs are not found.
    pub exports: Option<Arc<export::Exports>>,
    /// The provider directory in memory.
    pub directory: Arc<directory::DirectoryCache>,
}

impl AppState {
    /// State over an engine and an identity service with the given settings.
    pub fn new(engine: Engine, identity: Arc<hale_auth::Identity>, config: HttpConfig) -> Self {
        let directory = Arc::new(directory::DirectoryCache::new(
            engine.store().clone(),
            config.directory_refresh,
        ));
        AppState {
            engine,
            identity,
            directory,
            config: Arc::new(config),
            metrics: Arc::new(metrics::Metrics::default()),
            exports: None,
        }
    }

    /// The same state with asynchronous export over `exports`.
    pub fn with_exports(mut self, exports: Arc<export::Exports>) -> Self {
        self.exports = Some(exports);
        self
    }
}

/// The whole application: FHIR at `/{ver}/…` and `/fhir/{ver}/…`, and the operational endpoints.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The application with `extra` routes behind the same middleware; the benchmark harness uses it
/// to measure a fixed route through the same stack as the FHIR routes.
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let fhir = routes::fhir_router();
    let timeout = state.config.request_timeout;
    extra
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
        .merge(identity::router())
        .merge(directory::router())
        .merge(fhir.clone())
        .nest("/fhir", fhir)
        .fallback(unknown_path)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        // Browser apps call Hale from their own origins with bearer tokens in a header (not
        // cookies), so any origin may; the CapabilityStatement says `cors: true`. Preflights
        // are answered here, before authentication.
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods(tower_http::cors::Any)
                .allow_headers(tower_http::cors::Any)
                .expose_headers([
                    header::LOCATION,
                    header::ETAG,
                    header::LAST_MODIFIED,
                    header::CONTENT_LOCATION,
                    header::WWW_AUTHENTICATE,
                ]),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn(
            move |req: Request, next: Next| async move {
                match tokio::time::timeout(timeout, next.run(req)).await {
                    Ok(response) => response,
                    Err(_) => error::ApiError::Timeout.into_response(),
                }
            },
        ))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.engine.store().ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
        }
    }
}

async fn metrics_endpoint(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn unknown_path(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::UnknownPath(uri.path().to_owned())
}

async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    state
        .metrics
        .record(&method, response.status().as_u16(), started.elapsed());
    response
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error::outcome_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        &[Issue::error(
            IssueType::Exception,
            "an internal error occurred",
        )],
    )
}
