//! The storage interface of identity. Backends (`hale-store-sqlite`, later PostgreSQL) implement
//! [`IdentityStore`] next to their `ResourceStore`; [`crate::contract`] is the test suite each
//! must pass. Every method that changes two things changes them in one transaction, and every
//! write is durable when the call returns.

use crate::model::{
    App, AppCredentials, AppUser, NewApp, NewCode, NewTokens, PermissionGrant, Redeemed,
    TokenStatus,
};
use hale_store::{Grant, StoreError};

/// Which users [`IdentityStore::users`] lists.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Only the user with this `app_user_id`.
    pub app_user_id: Option<String>,
    /// Only the user with this `oneup_user_id`.
    pub oneup_user_id: Option<i64>,
}

/// The outcome of creating or renaming a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserWrite {
    /// Done; the user as it now is.
    Done(AppUser),
    /// Another user of the app already has this `app_user_id`.
    Taken,
    /// No such user in the app (renaming only).
    NotFound,
}

/// The storage interface of identity.
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Stores a new app and returns it with its id.
    async fn create_app(&self, app: NewApp) -> Result<App, StoreError>;
    /// Every app, in creation order.
    async fn apps(&self) -> Result<Vec<App>, StoreError>;
    /// An app and its secret hash, by client id (disabled apps too).
    async fn app_credentials(&self, client_id: &str) -> Result<Option<AppCredentials>, StoreError>;
    /// Replaces an app's secret hash; false when there is no such app.
    async fn set_app_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool, StoreError>;
    /// Disables an app: its credentials, codes and tokens stop working. False when there is no
    /// such app.
    async fn disable_app(&self, client_id: &str) -> Result<bool, StoreError>;

    /// Creates a user of `app` with a new server-wide `oneup_user_id`, unless `app_user_id` is
    /// taken in that app.
    async fn create_user(&self, app: i64, app_user_id: &str) -> Result<UserWrite, StoreError>;
    /// The users of `app` that match `filter`, by `oneup_user_id`.
    async fn users(&self, app: i64, filter: &UserFilter) -> Result<Vec<AppUser>, StoreError>;
    /// Changes a user's `app_user_id`, unless another user of the app has it.
    async fn rename_user(
        &self,
        app: i64,
        oneup_user_id: i64,
        app_user_id: &str,
    ) -> Result<UserWrite, StoreError>;

    /// Stores a freshly minted authorization code.
    async fn put_code(&self, code: NewCode) -> Result<(), StoreError>;
    /// Redeems the code with hash `code_hash` for `app` at time `now`: when it is valid (known,
    /// of `app`, not expired, unused, app enabled) marks it used and stores `tokens` in a new
    /// family; a code already used revokes every token issued for it ([`Redeemed::Replayed`]).
    async fn redeem_code(
        &self,
        code_hash: &str,
        app: i64,
        now: i64,
        tokens: NewTokens,
    ) -> Result<Redeemed, StoreError>;
    /// Redeems a refresh token the same way: a valid one (of `app`, not expired, not revoked,
    /// not yet rotated) is marked rotated and `tokens` join its family; a rotated one revokes the
    /// whole family ([`Redeemed::Replayed`]).
    async fn redeem_refresh(
        &self,
        refresh_hash: &str,
        app: i64,
        now: i64,
        tokens: NewTokens,
    ) -> Result<Redeemed, StoreError>;
    /// Whom the access token with hash `access_hash` acts for at time `now` and, when it is
    /// valid, what other users granted that user under `fhir_version` (as [`Self::grants`]):
    /// one read, because every request with a bearer token needs both.
    async fn access_token(
        &self,
        access_hash: &str,
        now: i64,
        fhir_version: &str,
    ) -> Result<(TokenStatus, Vec<Grant>), StoreError>;

    /// Grants (or, with `granted = false`, revokes) read access. Granting twice is one grant.
    /// Returns whether anything changed.
    async fn set_grant(&self, grant: PermissionGrant, granted: bool) -> Result<bool, StoreError>;
    /// What other users of `app` granted `grantee` under `fhir_version`.
    async fn grants(
        &self,
        app: i64,
        grantee: i64,
        fhir_version: &str,
    ) -> Result<Vec<Grant>, StoreError>;

    /// Counts one call of `app` in the rate window starting at `window` and returns the calls
    /// in that window so far, this one included. Windows before `window` may be forgotten.
    async fn count_call(&self, app: i64, window: i64) -> Result<u64, StoreError>;
}
