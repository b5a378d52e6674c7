//! The contract test-suite every identity backend must pass (see [`crate::IdentityStore`]).
//!
//! Each check takes a fresh, empty store. A backend runs them all with
//! [`identity_contract_tests!`](crate::identity_contract_tests), giving an async expression that
//! opens a fresh store; the macro writes one `#[tokio::test]` per check. Times are chosen by the
//! checks (the store is given `now` by its caller), so expiry is tested to the second without
//! waiting.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    missing_docs,
    reason = "test code: a failed expectation should stop the test loudly"
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use hale_store::Grant;

use crate::model::{
    App, AppUser, NewApp, NewCode, NewTokens, PermissionGrant, Redeemed, TokenStatus,
};
use crate::secret::token_hash;
use crate::store::{IdentityStore, UserFilter, UserWrite};

/// When the checks' codes and tokens are minted.
const T0: i64 = 1_000_000;
/// Seconds a code of these checks can be redeemed.
const CODE_TTL: i64 = 60;
/// Seconds an access token of these checks lives.
const ACCESS_TTL: i64 = 100;
/// Seconds a refresh token of these checks lives.
const REFRESH_TTL: i64 = 1_000;
/// The scope every code of these checks asks for.
const SCOPE: &str = "user/*.*";

async fn app(store: &dyn IdentityStore, client_id: &str, name: &str) -> App {
    store
        .create_app(NewApp {
            client_id: client_id.to_owned(),
            secret_hash: format!("$argon2id$secret-of-{client_id}"),
            name: name.to_owned(),
            redirect_uris: vec![format!("https://{name}.example/callback")],
            created_at: T0,
        })
        .await
        .unwrap()
}

async fn user(store: &dyn IdentityStore, app: &App, app_user_id: &str) -> AppUser {
    match store.create_user(app.id, app_user_id).await.unwrap() {
        UserWrite::Done(user) => user,
        other => panic!("creating {app_user_id}: {other:?}"),
    }
}

fn only_oneup_user_id(oneup_user_id: i64) -> UserFilter {
    UserFilter {
        oneup_user_id: Some(oneup_user_id),
        ..UserFilter::default()
    }
}

fn only_app_user_id(app_user_id: &str) -> UserFilter {
    UserFilter {
        app_user_id: Some(app_user_id.to_owned()),
        ..UserFilter::default()
    }
}

/// Stores a code named `name` for `user`, minted at `T0`, and returns its hash.
async fn code(store: &dyn IdentityStore, app: &App, user: &AppUser, name: &str) -> String {
    let hash = token_hash(&format!("code {name}"));
    store
        .put_code(NewCode {
            hash: hash.clone(),
            app: app.id,
            user: user.oneup_user_id,
            scope: SCOPE.to_owned(),
            created_at: T0,
            expires_at: T0 + CODE_TTL,
        })
        .await
        .unwrap();
    hash
}

/// A token pair named `name`, issued at `now`.
fn tokens(name: &str, now: i64) -> NewTokens {
    NewTokens {
        access_hash: access(name),
        access_expires_at: now + ACCESS_TTL,
        refresh_hash: refresh(name),
        refresh_expires_at: now + REFRESH_TTL,
        issued_at: now,
    }
}

/// The hash of the access token of the pair named `name`.
fn access(name: &str) -> String {
    token_hash(&format!("access {name}"))
}

/// The hash of the refresh token of the pair named `name`.
fn refresh(name: &str) -> String {
    token_hash(&format!("refresh {name}"))
}

fn issued(user: &AppUser) -> Redeemed {
    Redeemed::Issued {
        user: user.oneup_user_id,
        scope: SCOPE.to_owned(),
    }
}

/// A valid status of `user`, with the expiry left out ([`status`] leaves it out too; the
/// expiry is checked where it matters).
fn valid(app: &App, user: &AppUser) -> TokenStatus {
    TokenStatus::Valid {
        app: app.id,
        user: user.oneup_user_id,
        expires_at: 0,
    }
}

/// Redeems `code` at `T0` for a pair named `name`, which must be issued.
async fn redeem(store: &dyn IdentityStore, app: &App, user: &AppUser, code: &str, name: &str) {
    let redeemed = store
        .redeem_code(code, app.id, T0, tokens(name, T0))
        .await
        .unwrap();
    assert_eq!(redeemed, issued(user), "redeeming for {name}");
}

/// Whom the access token of the pair named `name` acts for at time `now`.
async fn status(store: &dyn IdentityStore, name: &str, now: i64) -> TokenStatus {
    match store
        .access_token(&access(name), now, "r4")
        .await
        .unwrap()
        .0
    {
        TokenStatus::Valid { app, user, .. } => TokenStatus::Valid {
            app,
            user,
            expires_at: 0,
        },
        other => other,
    }
}

/// Apps get distinct ids, read back as stored, and are listed in the order they were created
/// (not by name, client id or creation time, which are equal here).
pub async fn apps_are_listed_in_creation_order(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    assert!(s.apps().await.unwrap().is_empty());
    let zeta = app(s, "c3", "zeta").await;
    let alpha = app(s, "c1", "alpha").await;
    let mu = app(s, "c2", "mu").await;
    assert_eq!(zeta.client_id, "c3");
    assert_eq!(zeta.name, "zeta");
    assert_eq!(zeta.redirect_uris, vec!["https://zeta.example/callback"]);
    assert!(!zeta.disabled);
    assert_eq!(zeta.created_at, T0);
    let ids: BTreeSet<i64> = [zeta.id, alpha.id, mu.id].into();
    assert_eq!(ids.len(), 3, "app ids are distinct");
    assert_eq!(s.apps().await.unwrap(), vec![zeta, alpha, mu]);
    let many = app(s, "c4", "many").await;
    let uris = vec![
        "https://a.example/cb".to_owned(),
        "http://localhost:8080/x?y=\"z\"".to_owned(),
    ];
    let listed = s
        .create_app(NewApp {
            client_id: "c5".into(),
            secret_hash: "h".into(),
            name: "uris".into(),
            redirect_uris: uris.clone(),
            created_at: T0 + 1,
        })
        .await
        .unwrap();
    assert_eq!(listed.redirect_uris, uris);
    let all = s.apps().await.unwrap();
    assert_eq!(all[3], many);
    assert_eq!(all[4], listed, "redirect URIs read back in order");
}

/// Credentials are found by client id with the current secret hash; replacing the secret
/// replaces the hash, and unknown client ids are reported as such.
pub async fn app_credentials_follow_the_secret(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let first = app(s, "client-a", "a").await;
    let other = app(s, "client-b", "b").await;
    let credentials = s.app_credentials("client-a").await.unwrap().unwrap();
    assert_eq!(credentials.app, first);
    assert_eq!(credentials.secret_hash, "$argon2id$secret-of-client-a");
    assert!(s.app_credentials("client-z").await.unwrap().is_none());
    assert!(s.set_app_secret("client-a", "$argon2id$new").await.unwrap());
    assert!(!s.set_app_secret("client-z", "$argon2id$new").await.unwrap());
    let credentials = s.app_credentials("client-a").await.unwrap().unwrap();
    assert_eq!(credentials.secret_hash, "$argon2id$new");
    assert_eq!(credentials.app, first);
    let untouched = s.app_credentials("client-b").await.unwrap().unwrap();
    assert_eq!(untouched.secret_hash, "$argon2id$secret-of-client-b");
    assert_eq!(untouched.app, other);
}

/// A disabled app is still found (flagged), but its codes, refresh tokens and access tokens are
/// all invalid; other apps are unaffected.
pub async fn disabled_app_refuses_codes_and_tokens(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let (alice, bob) = (user(s, &a, "alice").await, user(s, &b, "bob").await);
    let redeemed = code(s, &a, &alice, "redeemed").await;
    redeem(s, &a, &alice, &redeemed, "a1").await;
    let pending = code(s, &a, &alice, "pending").await;
    let of_b = code(s, &b, &bob, "b").await;
    redeem(s, &b, &bob, &of_b, "b1").await;

    assert!(s.disable_app("client-a").await.unwrap());
    assert!(
        s.disable_app("client-a").await.unwrap(),
        "disabling twice still names an app"
    );
    assert!(!s.disable_app("client-z").await.unwrap());

    let credentials = s.app_credentials("client-a").await.unwrap().unwrap();
    assert!(credentials.app.disabled);
    let listed = s.apps().await.unwrap();
    assert!(listed[0].disabled);
    assert!(!listed[1].disabled);

    assert_eq!(status(s, "a1", T0).await, TokenStatus::Invalid);
    assert_eq!(
        s.redeem_code(&pending, a.id, T0, tokens("a2", T0))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
    assert_eq!(status(s, "a2", T0).await, TokenStatus::Invalid);
    assert_eq!(
        s.redeem_refresh(&refresh("a1"), a.id, T0, tokens("a3", T0))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
    assert_eq!(status(s, "a3", T0).await, TokenStatus::Invalid);

    assert_eq!(status(s, "b1", T0).await, valid(&b, &bob));
    assert_eq!(
        s.redeem_refresh(&refresh("b1"), b.id, T0, tokens("b2", T0))
            .await
            .unwrap(),
        issued(&bob)
    );
}

/// `oneup_user_id`s are unique across the server, and an `app_user_id` is unique only within
/// its app.
pub async fn user_ids_are_unique(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let alice_a = user(s, &a, "alice").await;
    let alice_b = user(s, &b, "alice").await;
    let carol_a = user(s, &a, "carol").await;
    assert_eq!(alice_a.app, a.id);
    assert_eq!(alice_a.app_user_id, "alice");
    assert!(alice_a.active);
    assert_eq!(alice_b.app, b.id);
    let ids: BTreeSet<i64> = [
        alice_a.oneup_user_id,
        alice_b.oneup_user_id,
        carol_a.oneup_user_id,
    ]
    .into();
    assert_eq!(ids.len(), 3, "oneup_user_ids are server-wide");
    assert_eq!(
        s.create_user(a.id, "alice").await.unwrap(),
        UserWrite::Taken
    );
    assert_eq!(
        s.create_user(b.id, "alice").await.unwrap(),
        UserWrite::Taken
    );
    assert_eq!(
        s.users(a.id, &UserFilter::default()).await.unwrap(),
        vec![alice_a.clone(), carol_a.clone()],
        "a refused user leaves no row"
    );
    // Case matters: the app's names are its own, compared exactly.
    let upper = user(s, &a, "ALICE").await;
    assert!(!ids.contains(&upper.oneup_user_id));
}

/// Many concurrent creations of one name make one user; the others are told it is taken.
pub async fn concurrent_user_creation_makes_one_user(store: Arc<dyn IdentityStore>) {
    let a = app(store.as_ref(), "client-a", "a").await;
    let app_id = a.id;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.create_user(app_id, "same").await.unwrap()
        }));
    }
    let mut done = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            UserWrite::Done(user) => done.push(user),
            UserWrite::Taken => {}
            UserWrite::NotFound => panic!("creating a user never reports NotFound"),
        }
    }
    assert_eq!(done.len(), 1);
    assert_eq!(
        store.users(a.id, &UserFilter::default()).await.unwrap(),
        done
    );
}

/// `users` filters by `app_user_id`, by `oneup_user_id`, by both or by neither, orders by
/// `oneup_user_id`, and never shows another app's users.
pub async fn users_are_filtered_within_their_app(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let zed = user(s, &a, "zed").await;
    let bob_b = user(s, &b, "bob").await;
    let amy = user(s, &a, "amy").await;
    let bob_a = user(s, &a, "bob").await;
    assert!(zed.oneup_user_id < amy.oneup_user_id && amy.oneup_user_id < bob_a.oneup_user_id);

    let everyone = UserFilter::default();
    assert_eq!(
        s.users(a.id, &everyone).await.unwrap(),
        vec![zed.clone(), amy.clone(), bob_a.clone()]
    );
    assert_eq!(s.users(b.id, &everyone).await.unwrap(), vec![bob_b.clone()]);
    assert!(
        s.users(a.id + b.id + 1000, &everyone)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        s.users(a.id, &only_app_user_id("bob")).await.unwrap(),
        vec![bob_a.clone()]
    );
    assert!(
        s.users(a.id, &only_app_user_id("nobody"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.users(a.id, &only_oneup_user_id(amy.oneup_user_id))
            .await
            .unwrap(),
        vec![amy.clone()]
    );
    assert!(
        s.users(a.id, &only_oneup_user_id(bob_b.oneup_user_id))
            .await
            .unwrap()
            .is_empty(),
        "another app's user is unknown"
    );
    let both = |app_user_id: &str, oneup_user_id: i64| UserFilter {
        app_user_id: Some(app_user_id.to_owned()),
        oneup_user_id: Some(oneup_user_id),
    };
    assert_eq!(
        s.users(a.id, &both("zed", zed.oneup_user_id))
            .await
            .unwrap(),
        vec![zed.clone()]
    );
    assert!(
        s.users(a.id, &both("zed", amy.oneup_user_id))
            .await
            .unwrap()
            .is_empty(),
        "both filters must hold"
    );
    assert!(
        s.users(b.id, &both("bob", bob_a.oneup_user_id))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Renaming changes only the `app_user_id`, frees the old name, and refuses names taken in the
/// app and users of other apps.
pub async fn rename_user_keeps_names_unique(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let alice = user(s, &a, "alice").await;
    let bob = user(s, &a, "bob").await;
    let carol_b = user(s, &b, "carol").await;

    let renamed = AppUser {
        app_user_id: "alicia".into(),
        ..alice.clone()
    };
    assert_eq!(
        s.rename_user(a.id, alice.oneup_user_id, "alicia")
            .await
            .unwrap(),
        UserWrite::Done(renamed.clone())
    );
    assert_eq!(
        s.users(a.id, &only_app_user_id("alicia")).await.unwrap(),
        vec![renamed.clone()]
    );
    assert!(
        s.users(a.id, &only_app_user_id("alice"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.rename_user(a.id, alice.oneup_user_id, "alicia")
            .await
            .unwrap(),
        UserWrite::Done(renamed.clone()),
        "renaming to the current name is a no-op"
    );
    assert_eq!(
        s.rename_user(a.id, alice.oneup_user_id, "bob")
            .await
            .unwrap(),
        UserWrite::Taken
    );
    assert_eq!(
        s.rename_user(a.id, alice.oneup_user_id, "carol")
            .await
            .unwrap(),
        UserWrite::Done(AppUser {
            app_user_id: "carol".into(),
            ..alice.clone()
        }),
        "another app's names do not count"
    );
    assert_eq!(
        s.rename_user(a.id, carol_b.oneup_user_id + bob.oneup_user_id + 1000, "x")
            .await
            .unwrap(),
        UserWrite::NotFound
    );
    assert_eq!(
        s.rename_user(a.id, carol_b.oneup_user_id, "x")
            .await
            .unwrap(),
        UserWrite::NotFound,
        "another app's user is unknown"
    );
    assert_eq!(
        s.users(b.id, &UserFilter::default()).await.unwrap(),
        vec![carol_b]
    );
    let new_alice = user(s, &a, "alice").await;
    assert_ne!(new_alice.oneup_user_id, alice.oneup_user_id);
    assert_eq!(
        s.users(a.id, &only_oneup_user_id(bob.oneup_user_id))
            .await
            .unwrap(),
        vec![bob],
        "the user refused a name keeps its own"
    );
}

/// A code redeems once, for its user and scope; redeeming it again is a replay that revokes the
/// tokens issued the first time and issues nothing.
pub async fn code_redeems_once(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let a = app(s, "client-a", "a").await;
    let alice = user(s, &a, "alice").await;
    let c = code(s, &a, &alice, "c").await;
    let other = code(s, &a, &alice, "other").await;
    redeem(s, &a, &alice, &c, "first").await;
    redeem(s, &a, &alice, &other, "unrelated").await;
    assert_eq!(status(s, "first", T0 + 1).await, valid(&a, &alice));

    assert_eq!(
        s.redeem_code(&c, a.id, T0 + 1, tokens("second", T0 + 1))
            .await
            .unwrap(),
        Redeemed::Replayed
    );
    assert_eq!(status(s, "first", T0 + 1).await, TokenStatus::Invalid);
    assert_eq!(status(s, "second", T0 + 1).await, TokenStatus::Invalid);
    assert_eq!(
        s.redeem_refresh(&refresh("first"), a.id, T0 + 1, tokens("third", T0 + 1))
            .await
            .unwrap(),
        Redeemed::Invalid,
        "the refresh token issued for a replayed code is revoked"
    );
    assert_eq!(status(s, "third", T0 + 1).await, TokenStatus::Invalid);
    assert_eq!(
        status(s, "unrelated", T0 + 1).await,
        valid(&a, &alice),
        "only the replayed code's tokens are revoked"
    );
    assert_eq!(
        s.redeem_code(&c, a.id, T0 + 2, tokens("fourth", T0 + 2))
            .await
            .unwrap(),
        Redeemed::Replayed,
        "a used code stays used"
    );
}

/// A replayed code also revokes the tokens its family got later by refreshing.
pub async fn code_replay_revokes_refreshed_tokens(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let a = app(s, "client-a", "a").await;
    let alice = user(s, &a, "alice").await;
    let c = code(s, &a, &alice, "c").await;
    redeem(s, &a, &alice, &c, "first").await;
    assert_eq!(
        s.redeem_refresh(&refresh("first"), a.id, T0 + 1, tokens("refreshed", T0 + 1))
            .await
            .unwrap(),
        issued(&alice)
    );
    assert_eq!(
        s.redeem_code(&c, a.id, T0 + 2, tokens("again", T0 + 2))
            .await
            .unwrap(),
        Redeemed::Replayed
    );
    assert_eq!(status(s, "refreshed", T0 + 2).await, TokenStatus::Invalid);
    assert_eq!(
        s.redeem_refresh(&refresh("refreshed"), a.id, T0 + 2, tokens("x", T0 + 2))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
}

/// Many concurrent redemptions of one code issue tokens once; every other one is a replay.
pub async fn concurrent_redemptions_issue_once(store: Arc<dyn IdentityStore>) {
    let a = app(store.as_ref(), "client-a", "a").await;
    let alice = user(store.as_ref(), &a, "alice").await;
    let c = code(store.as_ref(), &a, &alice, "c").await;
    let app_id = a.id;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (store, c) = (store.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let name = format!("pair {i}");
            let redeemed = store
                .redeem_code(&c, app_id, T0, tokens(&name, T0))
                .await
                .unwrap();
            (name, redeemed)
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let n_issued = outcomes
        .iter()
        .filter(|(_, redeemed)| *redeemed == issued(&alice))
        .count();
    assert_eq!(n_issued, 1);
    for (name, redeemed) in outcomes {
        assert!(
            redeemed == issued(&alice) || redeemed == Redeemed::Replayed,
            "{name}: {redeemed:?}"
        );
        // Every redemption after the winner's was a replay, which revoked the winner's tokens;
        // the replays' own tokens were never stored.
        assert_eq!(
            status(store.as_ref(), &name, T0).await,
            TokenStatus::Invalid,
            "{name}"
        );
    }
}

/// A code is redeemable until the second it expires, not from then on.
pub async fn expired_code_is_invalid(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let a = app(s, "client-a", "a").await;
    let alice = user(s, &a, "alice").await;
    let late = code(s, &a, &alice, "late").await;
    let just_in_time = code(s, &a, &alice, "just in time").await;
    let expires_at = T0 + CODE_TTL;
    assert_eq!(
        s.redeem_code(&late, a.id, expires_at, tokens("late", expires_at))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
    assert_eq!(
        s.redeem_code(&late, a.id, expires_at + 5000, tokens("later", expires_at))
            .await
            .unwrap(),
        Redeemed::Invalid,
        "an expired code is not used by a failed attempt, so this is no replay"
    );
    assert_eq!(status(s, "late", expires_at).await, TokenStatus::Invalid);
    let now = expires_at - 1;
    assert_eq!(
        s.redeem_code(&just_in_time, a.id, now, tokens("in time", now))
            .await
            .unwrap(),
        issued(&alice)
    );
    assert_eq!(status(s, "in time", now).await, valid(&a, &alice));
}

/// A code presented by another app is invalid and stays redeemable by its own app; an unknown
/// code is invalid. Neither stores the tokens offered.
pub async fn code_of_another_app_or_unknown_is_invalid(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let alice = user(s, &a, "alice").await;
    let c = code(s, &a, &alice, "c").await;
    assert_eq!(
        s.redeem_code(&c, b.id, T0, tokens("stolen", T0))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
    assert_eq!(status(s, "stolen", T0).await, TokenStatus::Invalid);
    assert_eq!(
        s.redeem_code(&token_hash("never minted"), a.id, T0, tokens("unknown", T0))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
    assert_eq!(status(s, "unknown", T0).await, TokenStatus::Invalid);
    redeem(s, &a, &alice, &c, "own").await;
    assert_eq!(status(s, "own", T0).await, valid(&a, &alice));
    assert_eq!(
        s.redeem_code(&c, b.id, T0, tokens("stolen later", T0))
            .await
            .unwrap(),
        Redeemed::Invalid,
        "another app presenting a used code learns nothing and revokes nothing"
    );
    assert_eq!(status(s, "own", T0).await, valid(&a, &alice));
}

/// An access token is valid until the second it expires and expired from then on (told apart
/// from an unknown one); unknown hashes and refresh tokens are not access tokens.
pub async fn access_token_expires(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let alice = user(s, &a, "alice").await;
    let bob = user(s, &b, "bob").await;
    let c = code(s, &a, &alice, "c").await;
    redeem(s, &a, &alice, &c, "alice").await;
    let c = code(s, &b, &bob, "c of b").await;
    redeem(s, &b, &bob, &c, "bob").await;
    assert_eq!(status(s, "alice", T0).await, valid(&a, &alice));
    assert_eq!(status(s, "bob", T0).await, valid(&b, &bob));
    assert_eq!(
        status(s, "alice", T0 + ACCESS_TTL - 1).await,
        valid(&a, &alice)
    );
    assert_eq!(
        status(s, "alice", T0 + ACCESS_TTL).await,
        TokenStatus::Expired
    );
    assert_eq!(
        status(s, "alice", T0 + REFRESH_TTL * 10).await,
        TokenStatus::Expired
    );
    assert_eq!(status(s, "nobody", T0).await, TokenStatus::Invalid);
    assert_eq!(
        s.access_token(&refresh("alice"), T0, "r4").await.unwrap().0,
        TokenStatus::Invalid,
        "a refresh token is no bearer token"
    );
}

/// A refresh token rotates into a new pair of the same family, for the same user and scope; the
/// access token issued before stays valid until it expires.
pub async fn refresh_rotates_tokens(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let a = app(s, "client-a", "a").await;
    let alice = user(s, &a, "alice").await;
    let c = code(s, &a, &alice, "c").await;
    redeem(s, &a, &alice, &c, "1").await;
    let t1 = T0 + 10;
    assert_eq!(
        s.redeem_refresh(&refresh("1"), a.id, t1, tokens("2", t1))
            .await
            .unwrap(),
        issued(&alice)
    );
    assert_eq!(status(s, "1", t1).await, valid(&a, &alice));
    assert_eq!(status(s, "2", t1).await, valid(&a, &alice));
    assert_eq!(
        status(s, "1", T0 + ACCESS_TTL).await,
        TokenStatus::Expired,
        "rotation does not extend the old access token"
    );
    assert_eq!(
        status(s, "2", T0 + ACCESS_TTL).await,
        valid(&a, &alice),
        "the new access token has its own lifetime"
    );
    let t2 = T0 + 20;
    assert_eq!(
        s.redeem_refresh(&refresh("2"), a.id, t2, tokens("3", t2))
            .await
            .unwrap(),
        issued(&alice)
    );
    assert_eq!(status(s, "3", t2).await, valid(&a, &alice));
    assert_eq!(status(s, "1", t2).await, valid(&a, &alice));
}

/// Presenting a rotated refresh token again revokes every token of its family (every access
/// token and the newest refresh token) and issues nothing; other families are untouched.
pub async fn refresh_reuse_revokes_family(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let a = app(s, "client-a", "a").await;
    let alice = user(s, &a, "alice").await;
    let c = code(s, &a, &alice, "c").await;
    redeem(s, &a, &alice, &c, "1").await;
    let other = code(s, &a, &alice, "other").await;
    redeem(s, &a, &alice, &other, "other family").await;
    for (old, new) in [("1", "2"), ("2", "3")] {
        assert_eq!(
            s.redeem_refresh(&refresh(old), a.id, T0, tokens(new, T0))
                .await
                .unwrap(),
            issued(&alice)
        );
    }
    assert_eq!(
        s.redeem_refresh(&refresh("1"), a.id, T0 + 1, tokens("stolen", T0 + 1))
            .await
            .unwrap(),
        Redeemed::Replayed
    );
    for name in ["1", "2", "3", "stolen"] {
        assert_eq!(
            status(s, name, T0 + 1).await,
            TokenStatus::Invalid,
            "{name}"
        );
    }
    assert_eq!(
        s.redeem_refresh(&refresh("3"), a.id, T0 + 1, tokens("4", T0 + 1))
            .await
            .unwrap(),
        Redeemed::Invalid,
        "the newest refresh token of a revoked family"
    );
    assert_eq!(status(s, "4", T0 + 1).await, TokenStatus::Invalid);
    assert_eq!(
        s.redeem_refresh(&refresh("stolen"), a.id, T0 + 1, tokens("5", T0 + 1))
            .await
            .unwrap(),
        Redeemed::Invalid,
        "the replay stored no refresh token"
    );
    assert_eq!(status(s, "other family", T0 + 1).await, valid(&a, &alice));
    assert_eq!(
        s.redeem_refresh(&refresh("other family"), a.id, T0 + 1, tokens("6", T0 + 1))
            .await
            .unwrap(),
        issued(&alice)
    );
}

/// A refresh token is usable until the second it expires; an expired attempt changes nothing.
pub async fn expired_refresh_is_invalid(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let a = app(s, "client-a", "a").await;
    let alice = user(s, &a, "alice").await;
    let c = code(s, &a, &alice, "c").await;
    redeem(s, &a, &alice, &c, "1").await;
    let expires_at = T0 + REFRESH_TTL;
    assert_eq!(
        s.redeem_refresh(&refresh("1"), a.id, expires_at, tokens("late", expires_at))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
    assert_eq!(status(s, "late", expires_at).await, TokenStatus::Invalid);
    let now = expires_at - 1;
    assert_eq!(
        s.redeem_refresh(&refresh("1"), a.id, now, tokens("in time", now))
            .await
            .unwrap(),
        issued(&alice),
        "the expired attempt neither rotated nor revoked the token"
    );
}

/// A refresh token presented by another app is invalid and stays usable by its own app.
pub async fn refresh_of_another_app_is_invalid(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let alice = user(s, &a, "alice").await;
    let c = code(s, &a, &alice, "c").await;
    redeem(s, &a, &alice, &c, "1").await;
    assert_eq!(
        s.redeem_refresh(&refresh("1"), b.id, T0, tokens("stolen", T0))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
    assert_eq!(status(s, "stolen", T0).await, TokenStatus::Invalid);
    assert_eq!(
        s.redeem_refresh(&token_hash("never issued"), a.id, T0, tokens("x", T0))
            .await
            .unwrap(),
        Redeemed::Invalid
    );
    assert_eq!(
        s.redeem_refresh(&refresh("1"), a.id, T0, tokens("2", T0))
            .await
            .unwrap(),
        issued(&alice)
    );
    assert_eq!(status(s, "1", T0).await, valid(&a, &alice));
}

fn grant(app: &App, owner: &AppUser, grantee: &AppUser, patient: Option<&str>) -> PermissionGrant {
    PermissionGrant {
        app: app.id,
        owner: owner.oneup_user_id,
        grantee: grantee.oneup_user_id,
        fhir_version: "r4".into(),
        patient: patient.map(str::to_owned),
    }
}

async fn grants_of(
    store: &dyn IdentityStore,
    app: &App,
    grantee: &AppUser,
    ver: &str,
) -> BTreeSet<(i64, Option<String>)> {
    let grants: Vec<Grant> = store
        .grants(app.id, grantee.oneup_user_id, ver)
        .await
        .unwrap();
    let n_grants = grants.len();
    let set: BTreeSet<_> = grants.into_iter().map(|g| (g.owner, g.patient)).collect();
    assert_eq!(set.len(), n_grants, "no grant is listed twice");
    set
}

/// Granting twice is one grant and revoking twice revokes once; each call says whether it
/// changed anything.
pub async fn grants_are_set_once(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let a = app(s, "client-a", "a").await;
    let (alice, bob) = (user(s, &a, "alice").await, user(s, &a, "bob").await);
    let whole = grant(&a, &alice, &bob, None);
    let one = grant(&a, &alice, &bob, Some("p1"));
    assert!(!s.set_grant(whole.clone(), false).await.unwrap());
    assert!(s.set_grant(whole.clone(), true).await.unwrap());
    assert!(!s.set_grant(whole.clone(), true).await.unwrap());
    assert!(s.set_grant(one.clone(), true).await.unwrap());
    assert!(!s.set_grant(one.clone(), true).await.unwrap());
    assert_eq!(
        grants_of(s, &a, &bob, "r4").await,
        [
            (alice.oneup_user_id, None),
            (alice.oneup_user_id, Some("p1".to_owned()))
        ]
        .into()
    );
    assert!(s.set_grant(whole.clone(), false).await.unwrap());
    assert!(!s.set_grant(whole.clone(), false).await.unwrap());
    assert_eq!(
        grants_of(s, &a, &bob, "r4").await,
        [(alice.oneup_user_id, Some("p1".to_owned()))].into(),
        "revoking the whole-record grant leaves the per-patient one"
    );
    assert!(s.set_grant(one.clone(), false).await.unwrap());
    assert!(grants_of(s, &a, &bob, "r4").await.is_empty());
    assert!(
        s.set_grant(whole, true).await.unwrap(),
        "a revoked grant can be given again"
    );
}

/// `grants` lists only what was granted to that grantee, in that app, under that FHIR version.
pub async fn grants_are_per_app_grantee_and_version(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let (alice, bob, carol) = (
        user(s, &a, "alice").await,
        user(s, &a, "bob").await,
        user(s, &a, "carol").await,
    );
    let (dave_b, erin_b) = (user(s, &b, "dave").await, user(s, &b, "erin").await);
    let r5 = PermissionGrant {
        fhir_version: "r5".into(),
        ..grant(&a, &alice, &bob, Some("p9"))
    };
    let other_app = grant(&b, &dave_b, &erin_b, None);
    for g in [
        grant(&a, &alice, &bob, None),
        grant(&a, &alice, &bob, Some("p1")),
        grant(&a, &carol, &bob, Some("p2")),
        grant(&a, &alice, &carol, None),
        grant(&a, &bob, &alice, Some("p3")),
        r5,
        other_app,
    ] {
        assert!(s.set_grant(g.clone(), true).await.unwrap(), "{g:?}");
    }
    let p = |id: &str| Some(id.to_owned());
    assert_eq!(
        grants_of(s, &a, &bob, "r4").await,
        [
            (alice.oneup_user_id, None),
            (alice.oneup_user_id, p("p1")),
            (carol.oneup_user_id, p("p2")),
        ]
        .into()
    );
    assert_eq!(
        grants_of(s, &a, &bob, "r5").await,
        [(alice.oneup_user_id, p("p9"))].into()
    );
    assert_eq!(
        grants_of(s, &b, &erin_b, "r4").await,
        [(dave_b.oneup_user_id, None)].into()
    );
    assert!(
        grants_of(s, &a, &erin_b, "r4").await.is_empty(),
        "grants are listed only for the app they were made in"
    );
    assert!(grants_of(s, &b, &bob, "r4").await.is_empty());
    assert_eq!(
        grants_of(s, &a, &carol, "r4").await,
        [(alice.oneup_user_id, None)].into()
    );
    assert_eq!(
        grants_of(s, &a, &alice, "r4").await,
        [(bob.oneup_user_id, p("p3"))].into()
    );
    assert!(grants_of(s, &a, &dave_b, "r4").await.is_empty());
    let listed = s.grants(a.id, bob.oneup_user_id, "r4").await.unwrap();
    assert!(listed.contains(&Grant {
        owner: alice.oneup_user_id,
        patient: None
    }));
    // A valid access token brings its user's grants for the version asked; others none.
    let bobs_code = code(s, &a, &bob, "bob").await;
    redeem(s, &a, &bob, &bobs_code, "bob").await;
    let (status, with_token) = s.access_token(&access("bob"), T0, "r4").await.unwrap();
    assert_eq!(
        status,
        TokenStatus::Valid {
            app: a.id,
            user: bob.oneup_user_id,
            expires_at: T0 + ACCESS_TTL,
        },
        "a valid token reports when it expires"
    );
    assert_eq!(with_token, listed);
    let (_, in_r5) = s.access_token(&access("bob"), T0, "r5").await.unwrap();
    assert_eq!(in_r5.len(), 1, "the r5 grant only: {in_r5:?}");
    let (status, none) = s.access_token(&access("nobody"), T0, "r4").await.unwrap();
    assert_eq!((status, none), (TokenStatus::Invalid, Vec::new()));
}

/// Calls are counted per app and window; a new window starts again at one, and moving one app
/// to a new window leaves other apps' counts alone.
pub async fn count_call_counts_per_app_and_window(store: Arc<dyn IdentityStore>) {
    let s = store.as_ref();
    let (a, b) = (app(s, "client-a", "a").await, app(s, "client-b", "b").await);
    let (w0, w1, w2) = (3_600, 7_200, 10_800);
    for expected in 1..=3 {
        assert_eq!(s.count_call(a.id, w0).await.unwrap(), expected);
    }
    assert_eq!(s.count_call(b.id, w0).await.unwrap(), 1);
    assert_eq!(s.count_call(a.id, w1).await.unwrap(), 1);
    assert_eq!(s.count_call(a.id, w1).await.unwrap(), 2);
    assert_eq!(s.count_call(b.id, w0).await.unwrap(), 2);
    assert_eq!(s.count_call(a.id, w2).await.unwrap(), 1);
    assert_eq!(s.count_call(b.id, w2).await.unwrap(), 1);
    assert_eq!(s.count_call(a.id, w2).await.unwrap(), 2);
}

/// Many concurrent calls in one window are each counted once.
pub async fn concurrent_calls_are_all_counted(store: Arc<dyn IdentityStore>) {
    let app_id = app(store.as_ref(), "client-a", "a").await.id;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.count_call(app_id, 0).await.unwrap()
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<u64>>());
}

/// Writes one test per contract check for an identity backend. `$open` is an async expression
/// that returns a fresh `Arc<dyn IdentityStore>`.
#[macro_export]
macro_rules! identity_contract_tests {
    ($open:expr) => {
        $crate::identity_contract_tests!(@each $open;
            apps_are_listed_in_creation_order, app_credentials_follow_the_secret,
            disabled_app_refuses_codes_and_tokens, user_ids_are_unique,
            concurrent_user_creation_makes_one_user, users_are_filtered_within_their_app,
            rename_user_keeps_names_unique, code_redeems_once, code_replay_revokes_refreshed_tokens,
            concurrent_redemptions_issue_once, expired_code_is_invalid,
            code_of_another_app_or_unknown_is_invalid, access_token_expires, refresh_rotates_tokens,
            refresh_reuse_revokes_family, expired_refresh_is_invalid,
            refresh_of_another_app_is_invalid, grants_are_set_once,
            grants_are_per_app_grantee_and_version, count_call_counts_per_app_and_window,
            concurrent_calls_are_all_counted);
    };
    (@each $open:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store = $open;
                $crate::contract::$name(store).await;
            }
        )*
    };
}
