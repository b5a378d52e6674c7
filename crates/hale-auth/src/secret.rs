//! Credentials: how they are made, stored and compared.
//!
//! Client secrets are long-lived and chosen once, so they are stored as argon2id hashes, which
//! make a stolen table expensive to attack. Codes and tokens are random 128- and 160-bit values,
//! looked up on every request, so a SHA-256 of them is enough to make a stolen table useless and
//! keeps the lookup an index seek. Every comparison of a secret runs in constant time.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `n` random bytes as lower-case hex.
fn random_hex(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    rand::rng().fill(bytes.as_mut_slice());
    hex::encode(bytes)
}

/// A client id: 32 lower-case hex characters, as 1up's.
pub fn new_client_id() -> String {
    random_hex(16)
}

/// A client secret: 32 letters and digits, as 1up's.
pub fn new_client_secret() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// An authorization code: 32 lower-case hex characters.
pub fn new_code() -> String {
    random_hex(16)
}

/// An access token: 40 lower-case hex characters.
pub fn new_access_token() -> String {
    random_hex(20)
}

/// A refresh token: 32 lower-case hex characters.
pub fn new_refresh_token() -> String {
    random_hex(16)
}

/// The argon2id PHC string of a client secret.
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .unwrap_or_else(|_| SaltString::from_b64("aGFsZWhhbGVoYWxlaGFsZQ").expect("a valid salt"));
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `secret` matches the argon2id PHC string `hash` (constant time in the secret).
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// The SHA-256 of a code or token, as stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A JSON Web Token of `claims`, signed with HMAC-SHA256 under `key` (RFC 7519, RFC 7515).
pub fn hs256_jwt(claims: &serde_json::Value, key: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = encode(&mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Whether two secrets are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_have_1up_shapes() {
        let hex32 = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(hex32(&new_client_id()));
        assert!(hex32(&new_code()));
        assert!(hex32(&new_refresh_token()));
        let access = new_access_token();
        assert!(access.len() == 40 && access.bytes().all(|b| b.is_ascii_hexdigit()));
        let secret = new_client_secret();
        assert!(secret.len() == 32 && secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(new_code(), new_code());
    }

    #[test]
    fn secrets_verify_only_against_their_own_hash() {
        let hash = hash_secret("correct horse");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify_secret("correct horse", &hash));
        assert!(!verify_secret("correct horsE", &hash));
        assert!(!verify_secret("correct horse", "not a hash"));
        assert_ne!(hash, hash_secret("correct horse"), "hashes are salted");
    }

    #[test]
    fn jwts_follow_rfc_7515s_hs256_example_shape() {
        // RFC 7515 appendix A.1's key and payload bytes differ from ours (it keeps line breaks
        // in the JSON), so this checks the structure and a signature computed independently.
        let jwt = hs256_jwt(&serde_json::json!({"sub": "1"}), b"key");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
        assert_eq!(parts[1], "eyJzdWIiOiIxIn0");
        // HMAC-SHA256("key", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0"), by
        // `openssl dgst -sha256 -hmac key -binary | base64url`.
        assert_eq!(parts[2], "pHaus62nD9DrNbTCRTVOOhnRbbXZnL031tfLEk_qP5s");
        assert_ne!(
            jwt,
            hs256_jwt(&serde_json::json!({"sub": "1"}), b"other key")
        );
    }

    #[test]
    fn token_hashes_are_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "samE"));
        assert!(!constant_time_eq("same", "same "));
    }
}
