//! Content negotiation: Hale reads and writes FHIR JSON only, and says so precisely otherwise.

use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// The FHIR JSON media type Hale answers with.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// Picks the response format from `_format` (which wins, as the spec says) or `Accept`.
pub fn response_format(headers: &HeaderMap, format_param: Option<&str>) -> Result<(), ApiError> {
    if let Some(format) = format_param {
        return match format {
            "json" | "application/json" | "application/fhir+json" | "application/json+fhir" => {
                Ok(())
            }
            other => Err(ApiError::NotAcceptable(format!("_format={other}"))),
        };
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|part| {
        let media = part.split(';').next().unwrap_or("").trim();
        matches!(
            media,
            "" | "*/*"
                | "application/*"
                | "application/json"
                | "application/fhir+json"
                | "application/json+fhir"
                | "text/json"
        )
    });
    if acceptable {
        Ok(())
    } else {
        Err(ApiError::NotAcceptable(format!("Accept: {accept}")))
    }
}

/// The media type of `Content-Type`, lower case and without parameters; none without the header.
pub fn content_media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    Some(
        value
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Checks that a request body is JSON (or, with `patch`, a JSON Patch).
pub fn request_content_type(headers: &HeaderMap, patch: bool) -> Result<(), ApiError> {
    let Some(media) = content_media_type(headers) else {
        return Ok(());
    };
    let ok = if patch {
        matches!(
            media.as_str(),
            "application/json-patch+json" | "application/json"
        )
    } else {
        matches!(
            media.as_str(),
            "application/fhir+json" | "application/json" | "application/json+fhir" | "text/json"
        )
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(media))
    }
}
