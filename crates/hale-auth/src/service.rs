//! The rules of identity over an [`IdentityStore`]: who a request is, what it may see, and how
//! codes and tokens are minted, exchanged and rotated.

use std::collections::HashMap;
use std::sync::Arc;

use hale_store::{Scope, StoreError};
use parking_lot::Mutex;
use serde::Serialize;

use crate::model::{
    App, AppUser, NewApp, NewCode, NewTokens, PermissionGrant, Redeemed, TokenStatus,
};
use crate::secret;
use crate::store::{IdentityStore, UserFilter, UserWrite};

/// The lifetimes and limits of identity; every field has 1up's value as its default.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Seconds an authorization code may wait to be redeemed (1up: 7200).
    pub code_ttl: i64,
    /// Seconds an access token lives (1up: 7200).
    pub access_ttl: i64,
    /// Seconds a refresh token lives (90 days).
    pub refresh_ttl: i64,
    /// User-management calls one client may make per rate window (1up: 300).
    pub rate_limit: u64,
    /// The rate window in seconds (1up: an hour).
    pub rate_window: i64,
    /// The operator's bearer token (`HALE_ADMIN_TOKEN`); none means no operator over HTTP.
    pub admin_token: Option<String>,
    /// The `iss` of ID tokens: the server's public base URL.
    pub issuer: String,
    /// Seconds a verified access token (with its user's grants) is remembered, so that a
    /// request costs no store read; 0 turns it off. Revoking, disabling and granting through
    /// this process forget at once; through another process sharing the database, within this.
    pub token_cache_ttl: i64,
    /// Seconds a verified client secret is remembered, so that client headers on every request
    /// do not pay for argon2 each time; rotating or disabling on this process forgets at once.
    pub client_cache_ttl: i64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            code_ttl: 7200,
            access_ttl: 7200,
            refresh_ttl: 90 * 24 * 3600,
            rate_limit: 300,
            rate_window: 3600,
            admin_token: None,
            issuer: String::new(),
            token_cache_ttl: 5,
            client_cache_ttl: 60,
        }
    }
}

/// The time, in Unix seconds; tests move it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// Whom a request acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The operator: everything, and operator-owned writes.
    Operator,
    /// Every user of one app (client headers with `x-oneup-user-id: client`).
    App {
        /// The app's id.
        app: i64,
    },
    /// One user of one app (a bearer token, or client headers with the user's id).
    User {
        /// The app's id.
        app: i64,
        /// The user's `oneup_user_id`.
        user: i64,
    },
}

/// Why an identity operation failed. `hale-server` maps each variant once to a status and the
/// body of the endpoint that failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A required parameter is missing or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// No client credentials were given.
    #[error("client_id and client_secret are required")]
    MissingClient,
    /// The client credentials are wrong, or the app is disabled.
    #[error("the client credentials are not valid")]
    InvalidClient,
    /// No such user in the client's app.
    #[error("this user does not exist")]
    UserNotFound,
    /// The `app_user_id` is taken in the client's app.
    #[error("this user already exists")]
    UserExists,
    /// The client made more user-management calls than its rate allows.
    #[error("rate limit exceeded: at most {limit} calls per {window} seconds")]
    RateLimited {
        /// The calls allowed per window.
        limit: u64,
        /// The window in seconds.
        window: i64,
        /// Seconds until the next window.
        retry_after: i64,
    },
    /// The code or refresh token is unknown, expired, used, revoked or of another client.
    #[error("{0}")]
    InvalidGrant(String),
    /// The grant type is neither `authorization_code` nor `refresh_token`.
    #[error("unsupported grant_type {0:?}")]
    UnsupportedGrantType(String),
    /// A data request carried no credentials.
    #[error("authentication is required: send Authorization: Bearer <access_token>")]
    MissingCredentials,
    /// The access token's lifetime is over.
    #[error("token expired: the access token is no longer valid; refresh it")]
    ExpiredToken,
    /// The access token is unknown or revoked, or the credentials are not valid.
    #[error("the access token is not valid")]
    InvalidToken,
    /// The principal may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The token endpoint's answer, in 1up's key order.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    /// The new access token.
    pub access_token: String,
    /// The new refresh token.
    pub refresh_token: String,
    /// Always `bearer`, lower case as 1up answers.
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// The granted scope.
    pub scope: String,
    /// An OpenID Connect ID token, when the code was minted with the `openid` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// An app, its fresh secret, one of its users and a token pair, from
/// [`Identity::provision`].
#[derive(Clone, Debug)]
pub struct Provisioned {
    /// The app.
    pub app: App,
    /// Its client secret, new.
    pub client_secret: String,
    /// The user.
    pub user: AppUser,
    /// A fresh token pair of the user.
    pub tokens: TokenResponse,
}

/// How a user is named in a user-management call.
#[derive(Clone, Debug)]
pub enum UserRef {
    /// By the server-wide id.
    OneupUserId(i64),
    /// By the app's own name.
    AppUserId(String),
}

/// A verified client secret, remembered for [`AuthConfig::client_cache_ttl`].
struct CachedClient {
    secret_hash: String,
    app: App,
    verified_at: i64,
}

/// The hash an unknown client's secret is checked against: of a random secret nobody knows.
static UNKNOWN_CLIENT_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| secret::hash_secret(&secret::new_client_secret()));

/// A verified access token, remembered for [`AuthConfig::token_cache_ttl`].
struct CachedToken {
    scope: Scope,
    expires_at: i64,
    verified_at: i64,
}

/// The most access tokens remembered at once; beyond, the memory starts over.
const MAX_CACHED_TOKENS: usize = 65_536;

/// The scope every token grants.
const USER_SCOPE: &str = "user/*.*";

/// The scope a code is minted with: every token grants `user/*.*`; asking for `openid` adds an
/// ID token to the token answers.
fn granted_scope(requested: Option<&str>) -> String {
    let openid = requested.is_some_and(|r| r.split_whitespace().any(|s| s == "openid"));
    if openid {
        format!("{USER_SCOPE} openid")
    } else {
        USER_SCOPE.to_owned()
    }
}

/// The rules of identity.
pub struct Identity {
    store: Arc<dyn IdentityStore>,
    config: AuthConfig,
    clock: Arc<dyn Clock>,
    clients: Mutex<HashMap<String, CachedClient>>,
    /// Verified access tokens by (SHA-256, FHIR version).
    tokens: Mutex<HashMap<(String, String), CachedToken>>,
}

impl Identity {
    /// Identity over `store` with the system clock.
    pub fn new(store: Arc<dyn IdentityStore>, config: AuthConfig) -> Self {
        Identity::with_clock(store, config, Arc::new(SystemClock))
    }

    /// Identity with another clock.
    pub fn with_clock(
        store: Arc<dyn IdentityStore>,
        config: AuthConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Identity {
            store,
            config,
            clock,
            clients: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Registers an app and returns it with its client secret, which is shown only now.
    pub async fn create_app(
        &self,
        name: &str,
        redirect_uris: Vec<String>,
    ) -> Result<(App, String), AuthError> {
        if name.trim().is_empty() {
            return Err(AuthError::InvalidRequest("an app needs a name".into()));
        }
        let client_secret = secret::new_client_secret();
        let secret_hash = hash_off_thread(client_secret.clone()).await?;
        let app = self
            .store
            .create_app(NewApp {
                client_id: secret::new_client_id(),
                secret_hash,
                name: name.to_owned(),
                redirect_uris,
                created_at: self.clock.now(),
            })
            .await?;
        Ok((app, client_secret))
    }

    /// Every app.
    pub async fn apps(&self) -> Result<Vec<App>, AuthError> {
        Ok(self.store.apps().await?)
    }

    /// Gives an app a new client secret (returned once); the old one stops working at once.
    /// `None` when there is no such app.
    pub async fn rotate_secret(&self, client_id: &str) -> Result<Option<String>, AuthError> {
        let client_secret = secret::new_client_secret();
        let secret_hash = hash_off_thread(client_secret.clone()).await?;
        self.clients.lock().remove(client_id);
        let changed = self.store.set_app_secret(client_id, &secret_hash).await?;
        Ok(changed.then_some(client_secret))
    }

    /// Disables an app; false when there is no such app.
    pub async fn disable_app(&self, client_id: &str) -> Result<bool, AuthError> {
        self.clients.lock().remove(client_id);
        self.tokens.lock().clear();
        Ok(self.store.disable_app(client_id).await?)
    }

    /// Working credentials for the app named `app_name` and its user `app_user_id`, creating
    /// either when missing, through the same code exchange a client makes. Secrets are shown
    /// only once, so an existing app gets a new one. For the demo and the benchmarks.
    pub async fn provision(
        &self,
        app_name: &str,
        app_user_id: &str,
    ) -> Result<Provisioned, AuthError> {
        let existing = self
            .apps()
            .await?
            .into_iter()
            .find(|a| a.name == app_name && !a.disabled);
        let (app, client_secret) = match existing {
            Some(app) => {
                let secret = self
                    .rotate_secret(&app.client_id)
                    .await?
                    .ok_or(AuthError::InvalidClient)?;
                (app, secret)
            }
            None => self.create_app(app_name, Vec::new()).await?,
        };
        let (user, code) = match self.create_user(&app, app_user_id, None).await {
            Err(AuthError::UserExists) => {
                self.auth_code(&app, &UserRef::AppUserId(app_user_id.to_owned()), None)
                    .await?
            }
            other => other?,
        };
        let tokens = self.exchange_code(&app, &client_secret, &code).await?;
        Ok(Provisioned {
            app,
            client_secret,
            user,
            tokens,
        })
    }

    /// The app whose credentials these are, if they are valid and the app is enabled.
    pub async fn authenticate_client(
        &self,
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> Result<App, AuthError> {
        let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
            return Err(AuthError::MissingClient);
        };
        let now = self.clock.now();
        // The cache keys on a SHA-256 of the presented secret, so it holds no secret itself.
        let presented = secret::token_hash(client_secret);
        if let Some(cached) = self.clients.lock().get(client_id)
            && now - cached.verified_at < self.config.client_cache_ttl
            && secret::constant_time_eq(&cached.secret_hash, &presented)
        {
            return Ok(cached.app.clone());
        }
        let credentials = self.store.app_credentials(client_id).await?;
        // An unknown client_id costs the same argon2 verification as a known one, so that the
        // answer's timing does not tell which client ids exist.
        let hash = credentials
            .as_ref()
            .map_or_else(|| UNKNOWN_CLIENT_HASH.clone(), |c| c.secret_hash.clone());
        let secret_text = client_secret.to_owned();
        let matches =
            tokio::task::spawn_blocking(move || secret::verify_secret(&secret_text, &hash))
                .await
                .unwrap_or(false);
        let Some(credentials) = credentials.filter(|c| matches && !c.app.disabled) else {
            return Err(AuthError::InvalidClient);
        };
        self.clients.lock().insert(
            client_id.to_owned(),
            CachedClient {
                secret_hash: presented,
                app: credentials.app.clone(),
                verified_at: now,
            },
        );
        Ok(credentials.app)
    }

    /// The enabled app whose public client id is `client_id`, without a secret: for requests that
    /// name their app beside a user's access token (the connect flow), where the token proves
    /// who is asking and the client id only has to agree with it.
    pub async fn app_by_client_id(&self, client_id: &str) -> Result<Option<App>, AuthError> {
        Ok(self
            .store
            .app_credentials(client_id)
            .await?
            .map(|c| c.app)
            .filter(|app| !app.disabled))
    }

    /// Counts one user-management call of `app`; beyond the rate, [`AuthError::RateLimited`].
    pub async fn count_call(&self, app: &App) -> Result<(), AuthError> {
        let now = self.clock.now();
        let window_len = self.config.rate_window.max(1);
        let window = now - now.rem_euclid(window_len);
        let calls = self.store.count_call(app.id, window).await?;
        if calls > self.config.rate_limit {
            return Err(AuthError::RateLimited {
                limit: self.config.rate_limit,
                window: window_len,
                retry_after: window + window_len - now,
            });
        }
        Ok(())
    }

    /// The app's users that match `filter`.
    pub async fn users(&self, app: &App, filter: &UserFilter) -> Result<Vec<AppUser>, AuthError> {
        Ok(self.store.users(app.id, filter).await?)
    }

    /// Creates a user and mints its first authorization code, with the requested `scope`.
    pub async fn create_user(
        &self,
        app: &App,
        app_user_id: &str,
        scope: Option<&str>,
    ) -> Result<(AppUser, String), AuthError> {
        check_app_user_id(app_user_id)?;
        match self.store.create_user(app.id, app_user_id).await? {
            UserWrite::Done(user) => {
                let code = self.mint_code(app, &user, scope).await?;
                Ok((user, code))
            }
            UserWrite::Taken => Err(AuthError::UserExists),
            UserWrite::NotFound => Err(AuthError::UserNotFound),
        }
    }

    /// Changes a user's `app_user_id`, the only thing about a user that changes.
    pub async fn rename_user(
        &self,
        app: &App,
        oneup_user_id: i64,
        app_user_id: &str,
    ) -> Result<AppUser, AuthError> {
        check_app_user_id(app_user_id)?;
        match self
            .store
            .rename_user(app.id, oneup_user_id, app_user_id)
            .await?
        {
            UserWrite::Done(user) => Ok(user),
            UserWrite::Taken => Err(AuthError::UserExists),
            UserWrite::NotFound => Err(AuthError::UserNotFound),
        }
    }

    /// The user of `app` named by `user`.
    async fn find_user(&self, app: i64, user: &UserRef) -> Result<AppUser, AuthError> {
        let filter = match user {
            UserRef::OneupUserId(id) => UserFilter {
                oneup_user_id: Some(*id),
                ..UserFilter::default()
            },
            UserRef::AppUserId(name) => UserFilter {
                app_user_id: Some(name.clone()),
                ..UserFilter::default()
            },
        };
        self.store
            .users(app, &filter)
            .await?
            .into_iter()
            .next()
            .ok_or(AuthError::UserNotFound)
    }

    /// Mints a new authorization code for an existing user, with the requested `scope`.
    pub async fn auth_code(
        &self,
        app: &App,
        user: &UserRef,
        scope: Option<&str>,
    ) -> Result<(AppUser, String), AuthError> {
        let user = self.find_user(app.id, user).await?;
        let code = self.mint_code(app, &user, scope).await?;
        Ok((user, code))
    }

    async fn mint_code(
        &self,
        app: &App,
        user: &AppUser,
        scope: Option<&str>,
    ) -> Result<String, AuthError> {
        let code = secret::new_code();
        let now = self.clock.now();
        self.store
            .put_code(NewCode {
                hash: secret::token_hash(&code),
                app: app.id,
                user: user.oneup_user_id,
                scope: granted_scope(scope),
                created_at: now,
                expires_at: now + self.config.code_ttl,
            })
            .await?;
        Ok(code)
    }

    /// The `authorization_code` grant: a valid code of this client becomes a token pair, once.
    /// `client_secret` is the secret the client just authenticated with; it signs the ID token.
    pub async fn exchange_code(
        &self,
        app: &App,
        client_secret: &str,
        code: &str,
    ) -> Result<TokenResponse, AuthError> {
        let (tokens, response) = self.new_tokens();
        let redeemed = self
            .store
            .redeem_code(&secret::token_hash(code), app.id, self.clock.now(), tokens)
            .await?;
        self.answer(
            redeemed,
            response,
            app,
            client_secret,
            "the authorization code is not valid: unknown, expired, or issued to another client",
            "the authorization code was already used; the tokens issued for it are revoked",
        )
    }

    /// The `refresh_token` grant: a valid refresh token of this client is rotated into a new
    /// pair; presenting a rotated-out token revokes its whole family.
    pub async fn refresh(
        &self,
        app: &App,
        client_secret: &str,
        refresh_token: &str,
    ) -> Result<TokenResponse, AuthError> {
        let (tokens, response) = self.new_tokens();
        let redeemed = self
            .store
            .redeem_refresh(
                &secret::token_hash(refresh_token),
                app.id,
                self.clock.now(),
                tokens,
            )
            .await?;
        self.answer(
            redeemed,
            response,
            app,
            client_secret,
            "the refresh token is not valid: unknown, expired, revoked, or issued to another client",
            "the refresh token was already used; every token of its family is now revoked",
        )
    }

    /// The token answer of a redemption: the new tokens with the grant's scope (and an ID token
    /// for `openid`), or why there are none.
    fn answer(
        &self,
        redeemed: Redeemed,
        mut response: TokenResponse,
        app: &App,
        client_secret: &str,
        invalid: &str,
        replayed: &str,
    ) -> Result<TokenResponse, AuthError> {
        match redeemed {
            Redeemed::Issued { user, scope } => {
                if scope.split_whitespace().any(|s| s == "openid") {
                    let now = self.clock.now();
                    // OpenID Connect Core §10.1: a confidential client's ID token may be signed
                    // with HS256 keyed by its client secret, which the client can verify.
                    response.id_token = Some(secret::hs256_jwt(
                        &serde_json::json!({
                            "iss": self.config.issuer,
                            "sub": user.to_string(),
                            "aud": app.client_id,
                            "iat": now,
                            "exp": now + self.config.access_ttl,
                        }),
                        client_secret.as_bytes(),
                    ));
                }
                response.scope = scope;
                Ok(response)
            }
            Redeemed::Invalid => Err(AuthError::InvalidGrant(invalid.to_owned())),
            Redeemed::Replayed => {
                // A family was revoked; which remembered tokens were in it is not known here.
                self.tokens.lock().clear();
                Err(AuthError::InvalidGrant(replayed.to_owned()))
            }
        }
    }

    fn new_tokens(&self) -> (NewTokens, TokenResponse) {
        let now = self.clock.now();
        let (access, refresh) = (secret::new_access_token(), secret::new_refresh_token());
        let tokens = NewTokens {
            access_hash: secret::token_hash(&access),
            access_expires_at: now + self.config.access_ttl,
            refresh_hash: secret::token_hash(&refresh),
            refresh_expires_at: now + self.config.refresh_ttl,
            issued_at: now,
        };
        let response = TokenResponse {
            access_token: access,
            refresh_token: refresh,
            token_type: "bearer",
            expires_in: self.config.access_ttl,
            scope: USER_SCOPE.to_owned(),
            id_token: None,
        };
        (tokens, response)
    }

    /// What the bearer of `token` (the operator's token, or a user's access token) may read under
    /// `fhir_version`, in one read of the store at most.
    pub async fn bearer(&self, token: &str, fhir_version: &str) -> Result<Scope, AuthError> {
        if let Some(admin) = &self.config.admin_token
            && secret::constant_time_eq(admin, token)
        {
            return Ok(Scope::All);
        }
        let now = self.clock.now();
        let key = (secret::token_hash(token), fhir_version.to_owned());
        if let Some(cached) = self.tokens.lock().get(&key)
            && now - cached.verified_at < self.config.token_cache_ttl
        {
            if now >= cached.expires_at {
                return Err(AuthError::ExpiredToken);
            }
            return Ok(cached.scope.clone());
        }
        let (status, grants) = self.store.access_token(&key.0, now, fhir_version).await?;
        match status {
            TokenStatus::Valid {
                app,
                user,
                expires_at,
            } => {
                let scope = Scope::User { app, user, grants };
                if self.config.token_cache_ttl > 0 {
                    let mut tokens = self.tokens.lock();
                    if tokens.len() >= MAX_CACHED_TOKENS {
                        tokens.clear();
                    }
                    tokens.insert(
                        key,
                        CachedToken {
                            scope: scope.clone(),
                            expires_at,
                            verified_at: now,
                        },
                    );
                }
                Ok(scope)
            }
            TokenStatus::Expired => Err(AuthError::ExpiredToken),
            TokenStatus::Invalid => Err(AuthError::InvalidToken),
        }
    }

    /// The principal of client headers: `x-oneup-user-id: client` is the whole app, a number is
    /// that user of the app.
    pub async fn client_principal(
        &self,
        client_id: &str,
        client_secret: &str,
        oneup_user_id: &str,
    ) -> Result<Principal, AuthError> {
        let app = match self
            .authenticate_client(Some(client_id), Some(client_secret))
            .await
        {
            Ok(app) => app,
            Err(AuthError::InvalidClient | AuthError::MissingClient) => {
                return Err(AuthError::InvalidToken);
            }
            Err(e) => return Err(e),
        };
        let oneup_user_id = oneup_user_id.trim();
        if oneup_user_id == "client" {
            return Ok(Principal::App { app: app.id });
        }
        let user: i64 = oneup_user_id.parse().map_err(|_| {
            AuthError::InvalidRequest(
                "x-oneup-user-id must be a oneup_user_id or \"client\"".into(),
            )
        })?;
        match self.find_user(app.id, &UserRef::OneupUserId(user)).await {
            Ok(user) => Ok(Principal::User {
                app: app.id,
                user: user.oneup_user_id,
            }),
            // A user of another app is as unknown as no user at all.
            Err(AuthError::UserNotFound) => Err(AuthError::InvalidToken),
            Err(e) => Err(e),
        }
    }

    /// What `principal` may read under `fhir_version`.
    pub async fn scope(
        &self,
        principal: &Principal,
        fhir_version: &str,
    ) -> Result<Scope, AuthError> {
        Ok(match principal {
            Principal::Operator => Scope::All,
            Principal::App { app } => Scope::App(*app),
            Principal::User { app, user } => Scope::User {
                app: *app,
                user: *user,
                grants: self.store.grants(*app, *user, fhir_version).await?,
            },
        })
    }

    /// Grants (or revokes) `grantee` read access to the caller's record of `patient` (or to
    /// everything the caller owns, when `patient` is none). The caller must be a user, and the
    /// grantee another user of the same app. Returns whether anything changed.
    pub async fn set_grant(
        &self,
        principal: &Principal,
        fhir_version: &str,
        patient: Option<String>,
        grantee: i64,
        granted: bool,
    ) -> Result<bool, AuthError> {
        let Principal::User { app, user } = principal else {
            return Err(AuthError::Forbidden(
                "only a user's access token can grant access to its records".into(),
            ));
        };
        if grantee == *user {
            return Err(AuthError::InvalidRequest(
                "a user cannot grant access to itself".into(),
            ));
        }
        self.find_user(*app, &UserRef::OneupUserId(grantee)).await?;
        self.tokens.lock().clear();
        Ok(self
            .store
            .set_grant(
                PermissionGrant {
                    app: *app,
                    owner: *user,
                    grantee,
                    fhir_version: fhir_version.to_owned(),
                    patient,
                },
                granted,
            )
            .await?)
    }
}

/// `app_user_id` is the app's free-form name for a user: required, at most 255 characters.
fn check_app_user_id(app_user_id: &str) -> Result<(), AuthError> {
    if app_user_id.is_empty() {
        return Err(AuthError::InvalidRequest("app_user_id is required".into()));
    }
    if app_user_id.len() > 255 || app_user_id.chars().any(char::is_control) {
        return Err(AuthError::InvalidRequest(
            "app_user_id must be at most 255 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// argon2 takes tens of milliseconds of CPU by design; it runs where it cannot stall the async
/// workers.
async fn hash_off_thread(client_secret: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || secret::hash_secret(&client_secret))
        .await
        .map_err(|e| AuthError::Store(StoreError::Backend(format!("hashing a secret: {e}"))))
}
