//! The records of identity: apps, their users, codes, tokens and grants, as the store keeps them.
//! Times are Unix seconds.

/// A developer app (an OAuth client). Its secret is stored only as an argon2id hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// The server's numeric id of the app; resources its users create carry it as their owner.
    pub id: i64,
    /// The public client id: 32 lower-case hex characters.
    pub client_id: String,
    /// A name for people.
    pub name: String,
    /// Redirect URIs registered for the app.
    pub redirect_uris: Vec<String>,
    /// A disabled app's credentials and tokens are refused.
    pub disabled: bool,
    /// When the app was created.
    pub created_at: i64,
}

/// An app and the hash of its current client secret, for authenticating the client.
#[derive(Clone, Debug)]
pub struct AppCredentials {
    /// The app.
    pub app: App,
    /// The argon2id PHC string of the client secret.
    pub secret_hash: String,
}

/// What [`crate::IdentityStore::create_app`] stores.
#[derive(Clone, Debug)]
pub struct NewApp {
    /// The public client id.
    pub client_id: String,
    /// The argon2id PHC string of the client secret.
    pub secret_hash: String,
    /// A name for people.
    pub name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// The creation time.
    pub created_at: i64,
}

/// A user of an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppUser {
    /// The server-wide numeric user id (`oneup_user_id`).
    pub oneup_user_id: i64,
    /// The app the user belongs to.
    pub app: i64,
    /// The app's own name for the user, unique within the app.
    pub app_user_id: String,
    /// Whether the user is active (always true today; 1up reports it).
    pub active: bool,
}

/// A freshly minted authorization code, stored by its hash.
#[derive(Clone, Debug)]
pub struct NewCode {
    /// SHA-256 (hex) of the code.
    pub hash: String,
    /// The app the code was minted for; only it may redeem the code.
    pub app: i64,
    /// The user the code stands for.
    pub user: i64,
    /// The scope asked for when the code was minted (space-separated).
    pub scope: String,
    /// When the code was minted.
    pub created_at: i64,
    /// When the code stops being redeemable.
    pub expires_at: i64,
}

/// An access and a refresh token to store together (by their hashes), in one family.
#[derive(Clone, Debug)]
pub struct NewTokens {
    /// SHA-256 (hex) of the access token.
    pub access_hash: String,
    /// When the access token expires.
    pub access_expires_at: i64,
    /// SHA-256 (hex) of the refresh token.
    pub refresh_hash: String,
    /// When the refresh token expires.
    pub refresh_expires_at: i64,
    /// When they were issued.
    pub issued_at: i64,
}

/// The outcome of redeeming a code or a refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// The code or token was valid; it is now used, and the new tokens are stored in its family.
    Issued {
        /// The user the tokens act for.
        user: i64,
        /// The scope of the grant.
        scope: String,
    },
    /// Unknown, expired, revoked, of another app, or of a disabled app: nothing changed.
    Invalid,
    /// Already used once: this is a replay, so every token of its family is now revoked.
    Replayed,
}

/// Whom a valid access token acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// The token is valid.
    Valid {
        /// The app.
        app: i64,
        /// The user.
        user: i64,
        /// When the token expires.
        expires_at: i64,
    },
    /// The token was valid but its lifetime is over.
    Expired,
    /// Unknown, revoked, or of a disabled app.
    Invalid,
}

/// A read grant between two users of one app, for one FHIR version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionGrant {
    /// The app both users belong to.
    pub app: i64,
    /// The grantor, whose data is shared.
    pub owner: i64,
    /// The grantee, who may now read it.
    pub grantee: i64,
    /// The FHIR version of the Patient (`r4`).
    pub fhir_version: String,
    /// The Patient whose record is shared, or none for everything the grantor owns.
    pub patient: Option<String>,
}
