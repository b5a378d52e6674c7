//! Search paging cursors: opaque to clients, signed so they cannot be forged or moved to another
//! query, and self-contained so any Hale process sharing the key can continue a search.
//!
//! A cursor is `base64url(payload) . base64url(HMAC-SHA256(key, payload ‖ query))`, where
//! `payload` is a small JSON document (direction, sort key values, row, horizon, first total) and
//! `query` the search's parameters without the cursor. Signing the query with the payload means
//! a cursor taken from one search is refused by another, whose sort keys it would misplace.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hale_store::{Position, SortValue};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Where a cursor resumes.
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    /// `true` for a `previous` link: the page before `position`.
    pub backwards: bool,
    /// The position to resume from.
    pub position: Position,
    /// The first page's horizon.
    pub horizon: i64,
    /// The first page's total, for `_total=estimate`.
    pub total: Option<u64>,
}

/// Signs and checks cursors with one key.
#[derive(Clone)]
pub struct CursorKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// A key from secret bytes (at least 32 of them, from a random source).
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        CursorKey { key: key.into() }
    }

    /// A random key, good for one process's lifetime.
    pub fn random() -> Self {
        CursorKey::new(rand::random::<[u8; 32]>().to_vec())
    }

    fn mac(&self, payload: &[u8], query: &str) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(payload);
        mac.update(b"\n");
        mac.update(query.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// `payload` signed: `base64url(payload) . base64url(HMAC)`, for other opaque tokens this
    /// server issues (bulk export file URLs); `purpose` keeps a token of one kind from passing
    /// for another.
    pub fn sign(&self, payload: &[u8], purpose: &str) -> String {
        let mac = self.mac(payload, purpose);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// The payload of a token [`CursorKey::sign`] made for `purpose` with this key.
    pub fn verify(&self, text: &str, purpose: &str) -> Option<Vec<u8>> {
        let (payload, mac) = text.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let mut check = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        check.update(&payload);
        check.update(b"\n");
        check.update(purpose.as_bytes());
        // verify_slice compares in constant time.
        check.verify_slice(&mac).ok()?;
        Some(payload)
    }

    /// The cursor text for `cursor` in the search with parameters `query`.
    pub fn encode(&self, cursor: &Cursor, query: &str) -> String {
        let keys: Vec<Value> = cursor
            .position
            .keys
            .iter()
            .map(|k| match k {
                SortValue::Int(i) => json!({"i": i}),
                SortValue::Real(f) => json!({"f": f}),
                SortValue::Text(s) => json!({"s": s}),
            })
            .collect();
        let payload = json!({
            "b": cursor.backwards,
            "k": keys,
            "r": cursor.position.row,
            "h": cursor.horizon,
            "t": cursor.total,
        })
        .to_string();
        self.sign(payload.as_bytes(), query)
    }

    /// The cursor in `text`, if this key signed it for the search with parameters `query`.
    pub fn decode(&self, text: &str, query: &str) -> Option<Cursor> {
        let payload = self.verify(text, query)?;
        let value: Value = serde_json::from_slice(&payload).ok()?;
        let keys = value
            .get("k")?
            .as_array()?
            .iter()
            .map(|k| {
                let object = k.as_object()?;
                if let Some(i) = object.get("i") {
                    i.as_i64().map(SortValue::Int)
                } else if let Some(f) = object.get("f") {
                    f.as_f64().map(SortValue::Real)
                } else {
                    object
                        .get("s")?
                        .as_str()
                        .map(|s| SortValue::Text(s.to_owned()))
                }
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Cursor {
            backwards: value.get("b")?.as_bool()?,
            position: Position {
                keys,
                row: value.get("r")?.as_i64()?,
            },
            horizon: value.get("h")?.as_i64()?,
            total: value.get("t").and_then(Value::as_u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            backwards: false,
            position: Position {
                keys: vec![
                    SortValue::Int(-5),
                    SortValue::Real(1.5),
                    SortValue::Text("smith \u{10FFFF}".into()),
                ],
                row: 42,
            },
            horizon: 99,
            total: Some(7),
        }
    }

    #[test]
    fn round_trips() {
        let key = CursorKey::new(vec![7; 32]);
        let text = key.encode(&cursor(), "name=smith");
        assert_eq!(key.decode(&text, "name=smith"), Some(cursor()));
    }

    #[test]
    fn refuses_other_queries_keys_and_tampering() {
        let key = CursorKey::new(vec![7; 32]);
        let text = key.encode(&cursor(), "name=smith");
        assert_eq!(key.decode(&text, "name=jones"), None);
        assert_eq!(
            CursorKey::new(vec![8; 32]).decode(&text, "name=smith"),
            None
        );
        let (payload, mac) = text.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap()
                .replace("42", "43"),
        );
        assert_eq!(key.decode(&format!("{forged}.{mac}"), "name=smith"), None);
        assert_eq!(key.decode("garbage", "name=smith"), None);
        assert_eq!(key.decode("a.b", "name=smith"), None);
    }
}
