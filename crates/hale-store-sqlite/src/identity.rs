//! [`hale_auth::IdentityStore`] for SQLite: apps, users, codes, tokens, grants and rate windows in
//! the tables of `migrations/0006_identity.sql`.
//!
//! Every write is a [`Work::Raw`] closure on the writer thread, so identity shares the group
//! commit of resource writes and is durable when the call returns. An operation that reads and
//! then writes (redeeming a code or a refresh token, renaming a user) runs whole inside one
//! closure: the writer runs one closure at a time, so no other write can slip between the check
//! and the change, and two racing redemptions of one code cannot both succeed. Reads that change
//! nothing go to the reader pool.

use std::sync::Arc;

use hale_auth::{
    App, AppCredentials, AppUser, IdentityStore, NewApp, NewCode, NewTokens, PermissionGrant,
    Redeemed, TokenStatus, UserFilter, UserWrite,
};
use hale_store::{Grant, StoreError};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::write::Work;
use crate::{SqliteStore, backend};

/// The columns [`app_from_row`] reads, in its order.
const APP_COLUMNS: &str = "id, client_id, name, redirect_uris, disabled, created_at";

/// The columns [`user_from_row`] reads, in its order.
const USER_COLUMNS: &str = "oneup_user_id, app, app_user_id, active";

/// A whole-record grant's patient in `permission_grant`, whose key cannot hold NULL usefully; no
/// Patient id is empty, so it cannot be mistaken for one.
const WHOLE_RECORD: &str = "";

impl SqliteStore {
    /// Runs `work` on the writer's connection inside its transaction and returns its value once
    /// the transaction has committed. An error rolls back what `work` wrote and nothing else.
    /// Export jobs (`jobs.rs`) write through it too.
    pub(crate) async fn write_identity<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        // `Work::Raw` reports only success or failure, so the value travels beside it and is
        // taken only after `submit` says the transaction committed.
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        self.writer
            .submit(Work::Raw(Box::new(move |conn, _params| {
                *out.lock() = Some(work(conn)?);
                Ok(())
            })))
            .await?;
        let value = slot.lock().take();
        value.ok_or_else(|| StoreError::Backend("the writer committed without running".into()))
    }
}

fn app_from_row(row: &Row<'_>) -> rusqlite::Result<App> {
    let redirect_uris: String = row.get(3)?;
    Ok(App {
        id: row.get(0)?,
        client_id: row.get(1)?,
        name: row.get(2)?,
        redirect_uris: serde_json::from_str(&redirect_uris).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
        })?,
        disabled: row.get(4)?,
        created_at: row.get(5)?,
    })
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<AppUser> {
    Ok(AppUser {
        oneup_user_id: row.get(0)?,
        app: row.get(1)?,
        app_user_id: row.get(2)?,
        active: row.get(3)?,
    })
}

/// Whether the app with id `app` exists and is disabled; an app that does not exist counts as
/// disabled, since nothing of it may be used.
fn app_disabled(conn: &Connection, app: i64) -> Result<bool, StoreError> {
    let disabled: Option<bool> = conn
        .prepare_cached("SELECT disabled FROM app WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([app], |row| row.get(0)).optional())
        .map_err(backend)?;
    Ok(disabled.unwrap_or(true))
}

/// Stores an access and a refresh token in `family`.
fn insert_tokens(
    conn: &Connection,
    app: i64,
    user: i64,
    family: i64,
    tokens: &NewTokens,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO token (hash, kind, app, user, family, issued_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(backend)?;
    for (hash, kind, expires_at) in [
        (&tokens.access_hash, "access", tokens.access_expires_at),
        (&tokens.refresh_hash, "refresh", tokens.refresh_expires_at),
    ] {
        stmt.execute(params![
            hash,
            kind,
            app,
            user,
            family,
            tokens.issued_at,
            expires_at
        ])
        .map_err(backend)?;
    }
    Ok(())
}

fn revoke_family(conn: &Connection, family: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE token_family SET revoked = 1 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute([family]))
        .map_err(backend)?;
    Ok(())
}

/// The code with hash `code_hash`, redeemed for `app` at `now` (see
/// [`IdentityStore::redeem_code`]). Runs on the writer.
fn redeem_code(
    conn: &Connection,
    code_hash: &str,
    app: i64,
    now: i64,
    tokens: &NewTokens,
) -> Result<Redeemed, StoreError> {
    let code: Option<(i64, i64, String, i64, bool, Option<i64>)> = conn
        .prepare_cached(
            "SELECT app, user, scope, expires_at, used, family FROM auth_code WHERE hash = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([code_hash], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((code_app, user, scope, expires_at, used, family)) = code else {
        return Ok(Redeemed::Invalid);
    };
    // Another app presenting a code, even a used one, learns nothing from the answer and changes
    // nothing: only the app the code was minted for can tell a replay.
    if code_app != app || app_disabled(conn, app)? {
        return Ok(Redeemed::Invalid);
    }
    // A used code is a replay even after it expired: the tokens issued for it may still live,
    // and RFC 6749 §4.1.2 asks to revoke them.
    if used {
        if let Some(family) = family {
            revoke_family(conn, family)?;
        }
        return Ok(Redeemed::Replayed);
    }
    if now >= expires_at {
        return Ok(Redeemed::Invalid);
    }
    let family: i64 = conn
        .prepare_cached(
            "INSERT INTO token_family (app, user, scope) VALUES (?1, ?2, ?3) RETURNING id",
        )
        .and_then(|mut stmt| stmt.query_row(params![app, user, scope], |row| row.get(0)))
        .map_err(backend)?;
    conn.prepare_cached("UPDATE auth_code SET used = 1, family = ?2 WHERE hash = ?1")
        .and_then(|mut stmt| stmt.execute(params![code_hash, family]))
        .map_err(backend)?;
    insert_tokens(conn, app, user, family, tokens)?;
    Ok(Redeemed::Issued { user, scope })
}

/// The refresh token with hash `refresh_hash`, redeemed for `app` at `now` (see
/// [`IdentityStore::redeem_refresh`]). Runs on the writer.
fn redeem_refresh(
    conn: &Connection,
    refresh_hash: &str,
    app: i64,
    now: i64,
    tokens: &NewTokens,
) -> Result<Redeemed, StoreError> {
    let token: Option<(i64, i64, i64, i64, bool, bool, String)> = conn
        .prepare_cached(
            "SELECT t.app, t.user, t.family, t.expires_at, t.rotated, f.revoked, f.scope \
             FROM token t JOIN token_family f ON f.id = t.family \
             WHERE t.hash = ?1 AND t.kind = 'refresh'",
        )
        .and_then(|mut stmt| {
            stmt.query_row([refresh_hash], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((token_app, user, family, expires_at, rotated, revoked, scope)) = token else {
        return Ok(Redeemed::Invalid);
    };
    if token_app != app || revoked || app_disabled(conn, app)? {
        return Ok(Redeemed::Invalid);
    }
    // As with codes, a rotated token presented again is a replay even after it expired: its
    // family's newer tokens may still live.
    if rotated {
        revoke_family(conn, family)?;
        return Ok(Redeemed::Replayed);
    }
    if now >= expires_at {
        return Ok(Redeemed::Invalid);
    }
    conn.prepare_cached("UPDATE token SET rotated = 1 WHERE hash = ?1")
        .and_then(|mut stmt| stmt.execute([refresh_hash]))
        .map_err(backend)?;
    insert_tokens(conn, app, user, family, tokens)?;
    Ok(Redeemed::Issued { user, scope })
}

#[async_trait::async_trait]
impl IdentityStore for SqliteStore {
    async fn create_app(&self, app: NewApp) -> Result<App, StoreError> {
        let redirect_uris = serde_json::to_string(&app.redirect_uris)
            .map_err(|e| StoreError::Backend(format!("encoding redirect URIs: {e}")))?;
        self.write_identity(move |conn| {
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO app (client_id, secret_hash, name, redirect_uris, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            app.client_id,
                            app.secret_hash,
                            app.name,
                            redirect_uris,
                            app.created_at
                        ],
                        |row| row.get(0),
                    )
                })
                .map_err(backend)?;
            Ok(App {
                id,
                client_id: app.client_id,
                name: app.name,
                redirect_uris: app.redirect_uris,
                disabled: false,
                created_at: app.created_at,
            })
        })
        .await
    }

    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {APP_COLUMNS} FROM app ORDER BY id"))
                .map_err(backend)?;
            let apps = stmt.query_map([], app_from_row).map_err(backend)?;
            apps.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn app_credentials(&self, client_id: &str) -> Result<Option<AppCredentials>, StoreError> {
        let client_id = client_id.to_owned();
        self.with_reader(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {APP_COLUMNS}, secret_hash FROM app WHERE client_id = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([client_id], |row| {
                    Ok(AppCredentials {
                        app: app_from_row(row)?,
                        secret_hash: row.get(6)?,
                    })
                })
                .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn set_app_secret(&self, client_id: &str, secret_hash: &str) -> Result<bool, StoreError> {
        let (client_id, secret_hash) = (client_id.to_owned(), secret_hash.to_owned());
        self.write_identity(move |conn| {
            conn.prepare_cached("UPDATE app SET secret_hash = ?2 WHERE client_id = ?1")
                .and_then(|mut stmt| stmt.execute([client_id, secret_hash]))
                .map(|n_changed| n_changed > 0)
                .map_err(backend)
        })
        .await
    }

    async fn disable_app(&self, client_id: &str) -> Result<bool, StoreError> {
        let client_id = client_id.to_owned();
        // Codes and tokens are not touched: every redemption and token lookup checks the app, so
        // the one flag stops them all at once.
        self.write_identity(move |conn| {
            conn.prepare_cached("UPDATE app SET disabled = 1 WHERE client_id = ?1")
                .and_then(|mut stmt| stmt.execute([client_id]))
                .map(|n_changed| n_changed > 0)
                .map_err(backend)
        })
        .await
    }

    async fn create_user(&self, app: i64, app_user_id: &str) -> Result<UserWrite, StoreError> {
        let app_user_id = app_user_id.to_owned();
        self.write_identity(move |conn| {
            let user = conn
                .prepare_cached(&format!(
                    "INSERT INTO app_user (app, app_user_id) VALUES (?1, ?2) \
                     ON CONFLICT (app, app_user_id) DO NOTHING RETURNING {USER_COLUMNS}"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row(params![app, app_user_id], user_from_row)
                        .optional()
                })
                .map_err(backend)?;
            Ok(user.map_or(UserWrite::Taken, UserWrite::Done))
        })
        .await
    }

    async fn users(&self, app: i64, filter: &UserFilter) -> Result<Vec<AppUser>, StoreError> {
        let filter = filter.clone();
        self.with_reader(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM app_user WHERE app = ?1 \
                     AND (?2 IS NULL OR app_user_id = ?2) AND (?3 IS NULL OR oneup_user_id = ?3) \
                     ORDER BY oneup_user_id"
                ))
                .map_err(backend)?;
            let users = stmt
                .query_map(
                    params![app, filter.app_user_id, filter.oneup_user_id],
                    user_from_row,
                )
                .map_err(backend)?;
            users.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn rename_user(
        &self,
        app: i64,
        oneup_user_id: i64,
        app_user_id: &str,
    ) -> Result<UserWrite, StoreError> {
        let app_user_id = app_user_id.to_owned();
        self.write_identity(move |conn| {
            let holder: Option<i64> = conn
                .prepare_cached(
                    "SELECT oneup_user_id FROM app_user WHERE app = ?1 AND app_user_id = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![app, app_user_id], |row| row.get(0))
                        .optional()
                })
                .map_err(backend)?;
            if holder.is_some_and(|holder| holder != oneup_user_id) {
                return Ok(UserWrite::Taken);
            }
            let user = conn
                .prepare_cached(&format!(
                    "UPDATE app_user SET app_user_id = ?3 WHERE app = ?1 AND oneup_user_id = ?2 \
                     RETURNING {USER_COLUMNS}"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row(params![app, oneup_user_id, app_user_id], user_from_row)
                        .optional()
                })
                .map_err(backend)?;
            Ok(user.map_or(UserWrite::NotFound, UserWrite::Done))
        })
        .await
    }

    async fn put_code(&self, code: NewCode) -> Result<(), StoreError> {
        self.write_identity(move |conn| {
            conn.prepare_cached(
                "INSERT INTO auth_code (hash, app, user, scope, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    code.hash,
                    code.app,
                    code.user,
                    code.scope,
                    code.created_at,
                    code.expires_at
                ])
            })
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        app: i64,
        now: i64,
        tokens: NewTokens,
    ) -> Result<Redeemed, StoreError> {
        let code_hash = code_hash.to_owned();
        // A replay returns Ok, not Err, so that the revocation it wrote commits.
        self.write_identity(move |conn| redeem_code(conn, &code_hash, app, now, &tokens))
            .await
    }

    async fn redeem_refresh(
        &self,
        refresh_hash: &str,
        app: i64,
        now: i64,
        tokens: NewTokens,
    ) -> Result<Redeemed, StoreError> {
        let refresh_hash = refresh_hash.to_owned();
        // A replay returns Ok, not Err, so that the revocation it wrote commits.
        self.write_identity(move |conn| redeem_refresh(conn, &refresh_hash, app, now, &tokens))
            .await
    }

    async fn access_token(
        &self,
        access_hash: &str,
        now: i64,
        fhir_version: &str,
    ) -> Result<(TokenStatus, Vec<Grant>), StoreError> {
        let (access_hash, fhir_version) = (access_hash.to_owned(), fhir_version.to_owned());
        self.with_reader(move |conn| {
            let status = token_status(conn, &access_hash, now)?;
            let grants = match status {
                TokenStatus::Valid { app, user, .. } => grants_of(conn, app, user, &fhir_version)?,
                TokenStatus::Expired | TokenStatus::Invalid => Vec::new(),
            };
            Ok((status, grants))
        })
        .await
    }

    async fn set_grant(&self, grant: PermissionGrant, granted: bool) -> Result<bool, StoreError> {
        self.write_identity(move |conn| {
            let sql = if granted {
                "INSERT INTO permission_grant (app, grantee, fhir_version, owner, patient) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM permission_grant WHERE app = ?1 AND grantee = ?2 \
                 AND fhir_version = ?3 AND owner = ?4 AND patient = ?5"
            };
            let patient = grant.patient.as_deref().unwrap_or(WHOLE_RECORD);
            conn.prepare_cached(sql)
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        grant.app,
                        grant.grantee,
                        grant.fhir_version,
                        grant.owner,
                        patient
                    ])
                })
                .map(|n_changed| n_changed > 0)
                .map_err(backend)
        })
        .await
    }

    async fn grants(
        &self,
        app: i64,
        grantee: i64,
        fhir_version: &str,
    ) -> Result<Vec<Grant>, StoreError> {
        let fhir_version = fhir_version.to_owned();
        self.with_reader(move |conn| grants_of(conn, app, grantee, &fhir_version))
            .await
    }

    async fn count_call(&self, app: i64, window: i64) -> Result<u64, StoreError> {
        self.write_identity(move |conn| {
            let calls: i64 = conn
                .prepare_cached(
                    "INSERT INTO rate_window (app, window_start, calls) VALUES (?1, ?2, 1) \
                     ON CONFLICT (app, window_start) DO UPDATE SET calls = calls + 1 \
                     RETURNING calls",
                )
                .and_then(|mut stmt| stmt.query_row(params![app, window], |row| row.get(0)))
                .map_err(backend)?;
            // Earlier windows will never be counted again, so the table keeps only the current.
            conn.prepare_cached("DELETE FROM rate_window WHERE app = ?1 AND window_start < ?2")
                .and_then(|mut stmt| stmt.execute(params![app, window]))
                .map_err(backend)?;
            Ok(calls.max(0) as u64)
        })
        .await
    }
}

/// Whom an access token acts for at `now`.
fn token_status(conn: &Connection, access_hash: &str, now: i64) -> Result<TokenStatus, StoreError> {
    let token: Option<(i64, i64, i64, bool, bool)> = conn
        .prepare_cached(
            "SELECT t.app, t.user, t.expires_at, f.revoked, a.disabled \
             FROM token t JOIN token_family f ON f.id = t.family JOIN app a ON a.id = t.app \
             WHERE t.hash = ?1 AND t.kind = 'access'",
        )
        .and_then(|mut stmt| {
            stmt.query_row([access_hash], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .optional()
        })
        .map_err(backend)?;
    Ok(match token {
        None => TokenStatus::Invalid,
        Some((_, _, _, revoked, disabled)) if revoked || disabled => TokenStatus::Invalid,
        Some((_, _, expires_at, _, _)) if now >= expires_at => TokenStatus::Expired,
        Some((app, user, expires_at, _, _)) => TokenStatus::Valid {
            app,
            user,
            expires_at,
        },
    })
}

/// What other users of `app` granted `grantee` under `fhir_version`.
fn grants_of(
    conn: &Connection,
    app: i64,
    grantee: i64,
    fhir_version: &str,
) -> Result<Vec<Grant>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT owner, patient FROM permission_grant \
             WHERE app = ?1 AND grantee = ?2 AND fhir_version = ?3 ORDER BY owner, patient",
        )
        .map_err(backend)?;
    let grants = stmt
        .query_map(params![app, grantee, fhir_version], |row| {
            let patient: String = row.get(1)?;
            Ok(Grant {
                owner: row.get(0)?,
                patient: (patient != WHOLE_RECORD).then_some(patient),
            })
        })
        .map_err(backend)?;
    grants.collect::<Result<Vec<_>, _>>().map_err(backend)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hale_auth::IdentityStore;

    /// A fresh store in a temporary folder of its own. The folder is kept (not deleted when this
    /// function returns), because the store outlives it and `Arc<dyn IdentityStore>` has no room
    /// for its guard.
    fn fresh_identity() -> Arc<dyn IdentityStore> {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir.keep(),
            Err(e) => panic!("making a temporary folder: {e}"),
        };
        match crate::SqliteStore::open(crate::SqliteConfig::new(dir.join("hale.db"))) {
            Ok(store) => Arc::new(store),
            Err(e) => panic!("opening a fresh store: {e}"),
        }
    }

    hale_auth::identity_contract_tests!(fresh_identity());
}
