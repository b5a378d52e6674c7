//! The request body, read whole up to the configured limit; a larger body is a 413
//! OperationOutcome rather than axum's plain-text rejection.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;

use crate::AppState;
use crate::error::ApiError;

/// A request body within the size limit.
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_body_bytes;
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        axum::body::to_bytes(req.into_body(), limit)
            .await
            .map(RawBody)
            .map_err(|_| ApiError::PayloadTooLarge(limit))
    }
}
