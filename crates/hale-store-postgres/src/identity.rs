//! [`hale_auth::IdentityStore`] for PostgreSQL: apps, users, codes, tokens, grants and rate
//! windows in the tables of `migrations/0002_identity_jobs.sql`.
//!
//! The SQLite store makes a read-then-write atomic by running it on its one writer thread. Here
//! any number of processes write at once, so each such operation holds its own guarantee inside
//! the database, and it holds across processes because it is the database's:
//!
//! - Redeeming a code or a refresh token is one transaction that starts by locking the code's or
//!   the token's row (`SELECT … FOR UPDATE`); both follow one function, [`redeem`]. Racing redemptions of one code wait for that lock
//!   in turn; under `READ COMMITTED` the locking read then returns the row as the winner committed
//!   it, so exactly one finds it unused and issues a pair, and every later one sees a replay and
//!   revokes the family the winner recorded on the row.
//! - Revocation is a flag on the family, which every token lookup joins, so a rotation racing a
//!   revocation of its family adds tokens that are revoked with it.
//! - Creating a user is `INSERT … ON CONFLICT DO NOTHING`: PostgreSQL waits for a racing insert
//!   of the same `(app, app_user_id)` to commit, so exactly one creates it. Its id comes from a
//!   sequence, which never hands a number out twice. A rename that races another rename to the
//!   same name meets the unique index, and is answered [`UserWrite::Taken`].
//! - Counting a call is one upsert (`ON CONFLICT … DO UPDATE SET calls = calls + 1 RETURNING`),
//!   applied to the row under its lock, so every call across processes is counted once and sees
//!   its own count.
//!
//! Whether an app is disabled is read without a lock: a redemption racing `disable_app` may
//! still store its tokens, but every token lookup joins the app, so they never work.

use hale_auth::{
    App, AppCredentials, AppUser, IdentityStore, NewApp, NewCode, NewTokens, PermissionGrant,
    Redeemed, TokenStatus, UserFilter, UserWrite,
};
use hale_store::{Grant, StoreError};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::sql::{execute, get, query, query_opt};
use crate::{PgStore, backend};

use deadpool_postgres::GenericClient;

/// The columns [`app_from_row`] reads, in its order.
const APP_COLUMNS: &str = "id, client_id, name, redirect_uris, disabled, created_at";

/// The columns [`user_from_row`] reads, in its order.
const USER_COLUMNS: &str = "oneup_user_id, app, app_user_id, active";

/// A whole-record grant's patient in `permission_grant`, whose key cannot hold NULL usefully; no
/// Patient id is empty, so it cannot be mistaken for one.
const WHOLE_RECORD: &str = "";

fn app_from_row(row: &Row) -> Result<App, StoreError> {
    let redirect_uris: String = get(row, 3)?;
    Ok(App {
        id: get(row, 0)?,
        client_id: get(row, 1)?,
        name: get(row, 2)?,
        redirect_uris: serde_json::from_str(&redirect_uris)
            .map_err(|e| StoreError::Backend(format!("an app's redirect URIs: {e}")))?,
        disabled: get(row, 4)?,
        created_at: get(row, 5)?,
    })
}

fn user_from_row(row: &Row) -> Result<AppUser, StoreError> {
    Ok(AppUser {
        oneup_user_id: get(row, 0)?,
        app: get(row, 1)?,
        app_user_id: get(row, 2)?,
        active: get(row, 3)?,
    })
}

/// Whether the app with id `app` exists and is disabled; an app that does not exist counts as
/// disabled, since nothing of it may be used.
async fn app_disabled(client: &impl GenericClient, app: i64) -> Result<bool, StoreError> {
    let row = query_opt(client, "SELECT disabled FROM app WHERE id = $1", &[&app]).await?;
    row.map_or(Ok(true), |row| get(&row, 0))
}

/// Stores an access and a refresh token in `family`.
async fn insert_tokens(
    client: &impl GenericClient,
    app: i64,
    user: i64,
    family: i64,
    tokens: &NewTokens,
) -> Result<(), StoreError> {
    execute(
        client,
        "INSERT INTO token (hash, kind, app, \"user\", family, issued_at, expires_at) \
         VALUES ($1, 'access', $3, $4, $5, $6, $7), ($2, 'refresh', $3, $4, $5, $6, $8)",
        &[
            &tokens.access_hash,
            &tokens.refresh_hash,
            &app,
            &user,
            &family,
            &tokens.issued_at,
            &tokens.access_expires_at,
            &tokens.refresh_expires_at,
        ],
    )
    .await?;
    Ok(())
}

async fn revoke_family(client: &impl GenericClient, family: i64) -> Result<(), StoreError> {
    execute(
        client,
        "UPDATE token_family SET revoked = TRUE WHERE id = $1",
        &[&family],
    )
    .await?;
    Ok(())
}

/// What can be redeemed for a token pair. Both follow one rule: the first valid redemption
/// marks the credential and stores the pair in its family, and presenting a marked one again is
/// a replay that revokes the family.
#[derive(Clone, Copy)]
enum Credential {
    /// An authorization code ([`IdentityStore::redeem_code`]); it starts a family.
    Code,
    /// A refresh token ([`IdentityStore::redeem_refresh`]); the pair joins its family.
    Refresh,
}

impl Credential {
    /// Locks the credential with hash `$1` and reads its app, user, scope, expiry, whether it
    /// was redeemed, its family (none for an unused code) and whether that family is revoked.
    fn lock_sql(self) -> &'static str {
        match self {
            Credential::Code => {
                "SELECT app, \"user\", scope, expires_at, used, family, FALSE \
                 FROM auth_code WHERE hash = $1 FOR UPDATE"
            }
            Credential::Refresh => {
                "SELECT t.app, t.\"user\", f.scope, t.expires_at, t.rotated, t.family, f.revoked \
                 FROM token t JOIN token_family f ON f.id = t.family \
                 WHERE t.hash = $1 AND t.kind = 'refresh' FOR UPDATE OF t"
            }
        }
    }

    /// Marks the credential with hash `$1` redeemed, into family `$2`.
    fn mark_sql(self) -> &'static str {
        match self {
            Credential::Code => "UPDATE auth_code SET used = TRUE, family = $2 WHERE hash = $1",
            Credential::Refresh => {
                "UPDATE token SET rotated = TRUE WHERE hash = $1 AND family = $2"
            }
        }
    }
}

/// The credential `kind` with hash `hash`, redeemed for `app` at `now`, inside a transaction
/// that this locks the credential's row in first.
async fn redeem(
    tx: &impl GenericClient,
    kind: Credential,
    hash: &str,
    app: i64,
    now: i64,
    tokens: &NewTokens,
) -> Result<Redeemed, StoreError> {
    let Some(row) = query_opt(tx, kind.lock_sql(), &[&hash]).await? else {
        return Ok(Redeemed::Invalid);
    };
    let (of_app, user, scope, expires_at): (i64, i64, String, i64) =
        (get(&row, 0)?, get(&row, 1)?, get(&row, 2)?, get(&row, 3)?);
    let (redeemed, family, revoked): (bool, Option<i64>, bool) =
        (get(&row, 4)?, get(&row, 5)?, get(&row, 6)?);
    // Another app presenting a credential, even a used one, learns nothing from the answer and
    // changes nothing: only the app it was issued to can tell a replay.
    if of_app != app || revoked || app_disabled(tx, app).await? {
        return Ok(Redeemed::Invalid);
    }
    // A redeemed credential is a replay even after it expired: the tokens issued for it may
    // still live, and RFC 6749 §4.1.2 (codes) and §10.4 (refresh tokens) ask to revoke them.
    if redeemed {
        if let Some(family) = family {
            revoke_family(tx, family).await?;
        }
        return Ok(Redeemed::Replayed);
    }
    if now >= expires_at {
        return Ok(Redeemed::Invalid);
    }
    let family = match family {
        Some(family) => family,
        None => {
            let row = query_opt(
                tx,
                "INSERT INTO token_family (app, \"user\", scope) VALUES ($1, $2, $3) RETURNING id",
                &[&app, &user, &scope],
            )
            .await?;
            row.map_or_else(|| Err(no_row("token_family")), |row| get(&row, 0))?
        }
    };
    execute(tx, kind.mark_sql(), &[&hash, &family]).await?;
    insert_tokens(tx, app, user, family, tokens).await?;
    Ok(Redeemed::Issued { user, scope })
}

impl PgStore {
    /// Redeems a credential in a transaction of its own (see [`redeem`]).
    async fn redeem(
        &self,
        kind: Credential,
        hash: &str,
        app: i64,
        now: i64,
        tokens: NewTokens,
    ) -> Result<Redeemed, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let redeemed = redeem(&tx, kind, hash, app, now, &tokens).await?;
        // A replay commits too, so that the revocation it wrote holds; an invalid redemption
        // wrote nothing, and committing it only releases the lock.
        tx.commit().await.map_err(backend)?;
        Ok(redeemed)
    }
}

/// A statement with `RETURNING` that returned nothing, which cannot happen.
fn no_row(table: &str) -> StoreError {
    StoreError::Backend(format!("an insert into {table} returned no row"))
}

#[async_trait::async_trait]
impl IdentityStore for PgStore {
    async fn create_app(&self, app: NewApp) -> Result<App, StoreError> {
        let redirect_uris = serde_json::to_string(&app.redirect_uris)
            .map_err(|e| StoreError::Backend(format!("encoding redirect URIs: {e}")))?;
        let client = self.client().await?;
        let row = query_opt(
            &client,
            &format!(
                "INSERT INTO app (client_id, secret_hash, name, redirect_uris, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING {APP_COLUMNS}"
            ),
            &[
                &app.client_id,
                &app.secret_hash,
                &app.name,
                &redirect_uris,
                &app.created_at,
            ],
        )
        .await?;
        row.map_or_else(|| Err(no_row("app")), |row| app_from_row(&row))
    }

    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        let client = self.client().await?;
        let rows = query(
            &client,
            &format!("SELECT {APP_COLUMNS} FROM app ORDER BY id"),
            &[],
        )
        .await?;
        rows.iter().map(app_from_row).collect()
    }

    async fn app_credentials(&self, client_id: &str) -> Result<Option<AppCredentials>, StoreError> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            &format!("SELECT {APP_COLUMNS}, secret_hash FROM app WHERE client_id = $1"),
            &[&client_id],
        )
        .await?;
        row.map(|row| {
            Ok(AppCredentials {
                app: app_from_row(&row)?,
                secret_hash: get(&row, 6)?,
            })
        })
        .transpose()
    }

    async fn set_app_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n_changed = execute(
            &client,
            "UPDATE app SET secret_hash = $2 WHERE client_id = $1",
            &[&client_id, &secret_hash],
        )
        .await?;
        Ok(n_changed > 0)
    }

    async fn disable_app(&self, client_id: &str) -> Result<bool, StoreError> {
        // Codes and tokens are not touched: every redemption and token lookup checks the app, so
        // the one flag stops them all at once.
        let client = self.client().await?;
        let n_changed = execute(
            &client,
            "UPDATE app SET disabled = TRUE WHERE client_id = $1",
            &[&client_id],
        )
        .await?;
        Ok(n_changed > 0)
    }

    async fn create_user(&self, app: i64, app_user_id: &str) -> Result<UserWrite, StoreError> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            &format!(
                "INSERT INTO app_user (app, app_user_id) VALUES ($1, $2) \
                 ON CONFLICT (app, app_user_id) DO NOTHING RETURNING {USER_COLUMNS}"
            ),
            &[&app, &app_user_id],
        )
        .await?;
        Ok(match row {
            Some(row) => UserWrite::Done(user_from_row(&row)?),
            None => UserWrite::Taken,
        })
    }

    async fn users(&self, app: i64, filter: &UserFilter) -> Result<Vec<AppUser>, StoreError> {
        let client = self.client().await?;
        let rows = query(
            &client,
            &format!(
                "SELECT {USER_COLUMNS} FROM app_user WHERE app = $1 \
                 AND ($2::TEXT IS NULL OR app_user_id = $2) \
                 AND ($3::BIGINT IS NULL OR oneup_user_id = $3) \
                 ORDER BY oneup_user_id"
            ),
            &[&app, &filter.app_user_id, &filter.oneup_user_id],
        )
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn rename_user(
        &self,
        app: i64,
        oneup_user_id: i64,
        app_user_id: &str,
    ) -> Result<UserWrite, StoreError> {
        let client = self.client().await?;
        // The name taken by another user is answered first, as the SQLite store does, so a
        // missing user renamed to a taken name is `Taken` in both.
        let holder = query_opt(
            &client,
            "SELECT oneup_user_id FROM app_user WHERE app = $1 AND app_user_id = $2",
            &[&app, &app_user_id],
        )
        .await?;
        if let Some(holder) = holder
            && get::<i64>(&holder, 0)? != oneup_user_id
        {
            return Ok(UserWrite::Taken);
        }
        let sql = format!(
            "UPDATE app_user SET app_user_id = $3 WHERE app = $1 AND oneup_user_id = $2 \
             RETURNING {USER_COLUMNS}"
        );
        let statement = client.prepare_cached(&sql).await.map_err(backend)?;
        // Another process may have taken the name since the check; the unique index tells.
        match client
            .query_opt(&statement, &[&app, &oneup_user_id, &app_user_id])
            .await
        {
            Ok(Some(row)) => Ok(UserWrite::Done(user_from_row(&row)?)),
            Ok(None) => Ok(UserWrite::NotFound),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(UserWrite::Taken),
            Err(e) => Err(backend(e)),
        }
    }

    async fn put_code(&self, code: NewCode) -> Result<(), StoreError> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO auth_code (hash, app, \"user\", scope, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &code.hash,
                &code.app,
                &code.user,
                &code.scope,
                &code.created_at,
                &code.expires_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        app: i64,
        now: i64,
        tokens: NewTokens,
    ) -> Result<Redeemed, StoreError> {
        self.redeem(Credential::Code, code_hash, app, now, tokens)
            .await
    }

    async fn redeem_refresh(
        &self,
        refresh_hash: &str,
        app: i64,
        now: i64,
        tokens: NewTokens,
    ) -> Result<Redeemed, StoreError> {
        self.redeem(Credential::Refresh, refresh_hash, app, now, tokens)
            .await
    }

    async fn access_token(
        &self,
        access_hash: &str,
        now: i64,
        fhir_version: &str,
    ) -> Result<(TokenStatus, Vec<Grant>), StoreError> {
        let client = self.client().await?;
        let status = token_status(&client, access_hash, now).await?;
        let grants = match status {
            TokenStatus::Valid { app, user, .. } => {
                grants_of(&client, app, user, fhir_version).await?
            }
            TokenStatus::Expired | TokenStatus::Invalid => Vec::new(),
        };
        Ok((status, grants))
    }

    async fn set_grant(&self, grant: PermissionGrant, granted: bool) -> Result<bool, StoreError> {
        let sql = if granted {
            "INSERT INTO permission_grant (app, grantee, fhir_version, owner, patient) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM permission_grant WHERE app = $1 AND grantee = $2 \
             AND fhir_version = $3 AND owner = $4 AND patient = $5"
        };
        let patient = grant.patient.as_deref().unwrap_or(WHOLE_RECORD);
        let client = self.client().await?;
        let n_changed = execute(
            &client,
            sql,
            &[
                &grant.app,
                &grant.grantee,
                &grant.fhir_version,
                &grant.owner,
                &patient,
            ],
        )
        .await?;
        Ok(n_changed > 0)
    }

    async fn grants(
        &self,
        app: i64,
        grantee: i64,
        fhir_version: &str,
    ) -> Result<Vec<Grant>, StoreError> {
        let client = self.client().await?;
        grants_of(&client, app, grantee, fhir_version).await
    }

    async fn count_call(&self, app: i64, window: i64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        // One statement: the upsert counts the call under the window row's lock, and the
        // earlier windows, which will never be counted again, go in the same step.
        let row = query_opt(
            &client,
            "WITH counted AS ( \
                 INSERT INTO rate_window (app, window_start, calls) VALUES ($1, $2, 1) \
                 ON CONFLICT (app, window_start) DO UPDATE SET calls = rate_window.calls + 1 \
                 RETURNING calls), \
             pruned AS (DELETE FROM rate_window WHERE app = $1 AND window_start < $2) \
             SELECT calls FROM counted",
            &[&app, &window],
        )
        .await?;
        let calls: i64 = row.map_or_else(|| Err(no_row("rate_window")), |row| get(&row, 0))?;
        Ok(calls.max(0) as u64)
    }
}

/// Whom an access token acts for at `now`.
async fn token_status(
    client: &impl GenericClient,
    access_hash: &str,
    now: i64,
) -> Result<TokenStatus, StoreError> {
    let token = query_opt(
        client,
        "SELECT t.app, t.\"user\", t.expires_at, f.revoked OR a.disabled \
         FROM token t JOIN token_family f ON f.id = t.family JOIN app a ON a.id = t.app \
         WHERE t.hash = $1 AND t.kind = 'access'",
        &[&access_hash],
    )
    .await?;
    let Some(token) = token else {
        return Ok(TokenStatus::Invalid);
    };
    let (app, user, expires_at, refused): (i64, i64, i64, bool) = (
        get(&token, 0)?,
        get(&token, 1)?,
        get(&token, 2)?,
        get(&token, 3)?,
    );
    Ok(if refused {
        TokenStatus::Invalid
    } else if now >= expires_at {
        TokenStatus::Expired
    } else {
        TokenStatus::Valid {
            app,
            user,
            expires_at,
        }
    })
}

/// What other users of `app` granted `grantee` under `fhir_version`.
async fn grants_of(
    client: &impl GenericClient,
    app: i64,
    grantee: i64,
    fhir_version: &str,
) -> Result<Vec<Grant>, StoreError> {
    let rows = query(
        client,
        "SELECT owner, patient FROM permission_grant \
         WHERE app = $1 AND grantee = $2 AND fhir_version = $3 ORDER BY owner, patient",
        &[&app, &grantee, &fhir_version],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let patient: String = get(row, 1)?;
            Ok(Grant {
                owner: get(row, 0)?,
                patient: (patient != WHOLE_RECORD).then_some(patient),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hale_auth::{IdentityStore, NewApp, NewCode, NewTokens, Redeemed, UserWrite};

    use crate::testing::{fresh_database, fresh_store, store_at};

    hale_auth::identity_contract_tests!({
        let Some(store) = fresh_store().await else {
            return;
        };
        Arc::new(store) as Arc<dyn IdentityStore>
    });

    /// Two processes (two stores, each with its own pool, on one database) redeeming one code
    /// twenty times at once issue exactly one token pair; every other redemption is a replay.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_redemptions_across_processes_issue_once() {
        let Some(url) = fresh_database().await else {
            return;
        };
        let (first, second) = (store_at(&url).await, store_at(&url).await);
        let app = first
            .create_app(NewApp {
                client_id: "client-a".into(),
                secret_hash: "$argon2id$secret".into(),
                name: "a".into(),
                redirect_uris: Vec::new(),
                created_at: 0,
            })
            .await
            .unwrap();
        let UserWrite::Done(alice) = second.create_user(app.id, "alice").await.unwrap() else {
            panic!("alice exists already");
        };
        first
            .put_code(NewCode {
                hash: "code".into(),
                app: app.id,
                user: alice.oneup_user_id,
                scope: "user/*.*".into(),
                created_at: 0,
                expires_at: 60,
            })
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for idx in 0..20 {
            let store = if idx % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tasks.push(tokio::spawn(async move {
                let tokens = NewTokens {
                    access_hash: format!("access {idx}"),
                    access_expires_at: 100,
                    refresh_hash: format!("refresh {idx}"),
                    refresh_expires_at: 1_000,
                    issued_at: 1,
                };
                store.redeem_code("code", app.id, 1, tokens).await.unwrap()
            }));
        }
        let (mut n_issued, mut n_replayed) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Redeemed::Issued { user, .. } => {
                    assert_eq!(user, alice.oneup_user_id);
                    n_issued += 1;
                }
                Redeemed::Replayed => n_replayed += 1,
                Redeemed::Invalid => panic!("a redemption of a valid code was invalid"),
            }
        }
        assert_eq!((n_issued, n_replayed), (1, 19));
        // Only the winner's pair was stored (one family, two tokens).
        let client = first.client().await.unwrap();
        let counts = client
            .query_one(
                "SELECT (SELECT count(*) FROM token), (SELECT count(*) FROM token_family)",
                &[],
            )
            .await
            .unwrap();
        assert_eq!((counts.get::<_, i64>(0), counts.get::<_, i64>(1)), (2, 1));
    }
}
