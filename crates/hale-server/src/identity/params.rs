//! The parameters of the user-management and token endpoints, merged from wherever a client
//! put them: the query string, a form or JSON body, the `client_id` / `client_secret` headers,
//! and HTTP Basic client authentication. Real 1up clients use every one of these (contract §0),
//! often two at once; a name given twice with different values is refused rather than guessed.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use serde_json::Value;

use crate::AppState;

/// The largest body these endpoints read; their parameters are a few short strings.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why the parameters could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    /// One name was given two different values.
    #[error("{0} was given two different values")]
    Conflict(String),
    /// The body could not be read.
    #[error("{0}")]
    Body(String),
}

/// The merged parameters.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// The value of `name`, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Adds a value under its canonical name; the same value again is fine, another is not.
    fn insert(&mut self, name: &str, value: String) -> Result<(), ParamError> {
        let name = canonical(name);
        match self.0.get(name) {
            Some(existing) if *existing != value => Err(ParamError::Conflict(name.to_owned())),
            Some(_) => Ok(()),
            None => {
                self.0.insert(name.to_owned(), value);
                Ok(())
            }
        }
    }

    fn add_headers(&mut self, headers: &HeaderMap) -> Result<(), ParamError> {
        for name in ["client_id", "client_secret", "clientid", "clientsecret"] {
            if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
                self.insert(name, value.trim().to_owned())?;
            }
        }
        // RFC 6749 §2.3.1: client credentials in HTTP Basic, each form-urlencoded first.
        if let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            && let Some((scheme, encoded)) = value.trim().split_once(' ')
            && scheme.eq_ignore_ascii_case("basic")
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| ParamError::Body("the Basic credentials are not base64".into()))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| ParamError::Body("the Basic credentials have no ':'".into()))?;
            let unescape = |s: &str| {
                form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            self.insert("client_id", unescape(id))?;
            self.insert("client_secret", unescape(secret))?;
        }
        Ok(())
    }

    fn add_pairs<'a>(
        &mut self,
        pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    ) -> Result<(), ParamError> {
        for (name, value) in pairs {
            self.insert(&name, value.into_owned())?;
        }
        Ok(())
    }

    fn add_body(&mut self, headers: &HeaderMap, body: &[u8]) -> Result<(), ParamError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let media = crate::negotiate::content_media_type(headers).unwrap_or_default();
        let looks_like_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if media.ends_with("json") || (media.is_empty() && looks_like_json) {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| ParamError::Body(format!("the body is not valid JSON: {e}")))?;
            let Value::Object(object) = value else {
                return Err(ParamError::Body("the JSON body must be an object".into()));
            };
            for (name, value) in object {
                let text = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => continue,
                    Value::Array(_) | Value::Object(_) => {
                        return Err(ParamError::Body(format!(
                            "the body's {name} must be a string, a number or a boolean"
                        )));
                    }
                };
                self.insert(&name, text)?;
            }
            Ok(())
        } else {
            self.add_pairs(form_urlencoded::parse(body))
        }
    }
}

/// The one name of a parameter that clients spell several ways.
fn canonical(name: &str) -> &str {
    match name {
        "secret" | "clientsecret" => "client_secret",
        "clientid" => "client_id",
        other => other,
    }
}

/// [`Params`], or the reason they could not be read, as an extractor: the endpoints render the
/// failure in their own error shape.
pub struct Merged(pub Result<Params, ParamError>);

impl FromRequest<AppState> for Merged {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request<Body>, _state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let mut params = Params::default();
        let result = async {
            params.add_pairs(form_urlencoded::parse(
                parts.uri.query().unwrap_or("").as_bytes(),
            ))?;
            params.add_headers(&parts.headers)?;
            let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
                .await
                .map_err(|_| {
                    ParamError::Body(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
                })?;
            params.add_body(&parts.headers, &body)?;
            Ok(())
        }
        .await;
        Ok(Merged(result.map(|()| params)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(query: &str, headers: &[(&str, &str)], body: &str) -> Result<Params, ParamError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let mut params = Params::default();
        params.add_pairs(form_urlencoded::parse(query.as_bytes()))?;
        params.add_headers(&map)?;
        params.add_body(&map, body.as_bytes())?;
        Ok(params)
    }

    #[test]
    fn every_transport_merges_into_one_set() {
        let p = merged(
            "app_user_id=a%20b",
            &[("client_id", "cid"), ("content-type", "application/json")],
            r#"{"secret":"s","oneup_user_id":42,"active":true,"x":null}"#,
        )
        .unwrap();
        assert_eq!(p.get("app_user_id"), Some("a b"));
        assert_eq!(p.get("client_id"), Some("cid"));
        assert_eq!(p.get("client_secret"), Some("s"));
        assert_eq!(p.get("oneup_user_id"), Some("42"));
        assert_eq!(p.get("active"), Some("true"));
        assert_eq!(p.get("x"), None);
    }

    #[test]
    fn a_form_body_without_content_type_is_read_as_a_form() {
        let p = merged("", &[], "grant_type=authorization_code&code=c1").unwrap();
        assert_eq!(p.get("grant_type"), Some("authorization_code"));
        assert_eq!(p.get("code"), Some("c1"));
    }

    #[test]
    fn basic_credentials_are_client_credentials() {
        // "my%20id:s:ecret" -> id "my id", secret "s:ecret".
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20id:s:ecret");
        let p = merged("", &[("authorization", &format!("Basic {encoded}"))], "").unwrap();
        assert_eq!(p.get("client_id"), Some("my id"));
        assert_eq!(p.get("client_secret"), Some("s:ecret"));
    }

    #[test]
    fn the_same_value_twice_is_fine_and_two_values_are_refused() {
        assert!(merged("client_id=a", &[("client_id", "a")], "").is_ok());
        let err = merged("client_id=a", &[("client_id", "b")], "")
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "client_id was given two different values");
        let err = merged("secret=a", &[], "client_secret=b").err().unwrap();
        assert_eq!(
            err.to_string(),
            "client_secret was given two different values"
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let json = [("content-type", "application/json")];
        assert!(merged("", &json, "{not json").is_err());
        assert!(merged("", &json, "[1]").is_err());
        assert!(merged("", &json, r#"{"a":[1]}"#).is_err());
    }
}
