//! `/user-management/v1/user` and `/user-management/v1/user/auth-code`: 1up's JSON byte for
//! byte, credentials from every transport, per-client users, and the hourly rate.

use reqwest::Method;
use serde_json::json;

use super::{Client, create_user, post_form};
use crate::support::TestApp;

const USERS: &str = "/user-management/v1/user";
const AUTH_CODE: &str = "/user-management/v1/user/auth-code";

fn is_hex32(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[tokio::test]
async fn create_answers_1ups_exact_json_and_a_second_create_is_this_user_already_exists() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "shapes").await;
    let mut form = client.form();
    form.push(("app_user_id", "alice".into()));
    let reply = post_form(&app, Method::POST, USERS, &form).await;
    reply.expect(200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    let code = body["code"].as_str().unwrap().to_owned();
    assert!(is_hex32(&code), "{code}");
    let id = body["oneup_user_id"]
        .as_i64()
        .expect("oneup_user_id is a JSON integer");
    assert_eq!(
        reply.text(),
        format!(
            r#"{{"success":true,"code":"{code}","oneup_user_id":{id},"app_user_id":"alice","active":true}}"#
        )
    );
    let again = post_form(&app, Method::POST, USERS, &form).await;
    again.expect(400);
    assert_eq!(
        again.text(),
        r#"{"success":false,"error":"this user already exists"}"#
    );
}

#[tokio::test]
async fn list_finds_users_by_either_id_and_answers_an_empty_entry_for_no_match() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "list").await;
    let (alice, _) = create_user(&app, &client, "alice").await;
    let (bob, _) = create_user(&app, &client, "bob").await;
    let http = app.anonymous();
    let list = |query: String| {
        let http = http.clone();
        let client = client.clone();
        async move {
            let reply = http
                .send(
                    http.request(Method::GET, &format!("{USERS}?{query}"))
                        .header("client_id", &client.client_id)
                        .header("client_secret", &client.client_secret),
                )
                .await;
            reply.expect(200);
            reply.text()
        }
    };
    assert_eq!(
        list(String::new()).await,
        format!(
            r#"{{"success":true,"entry":[{{"oneup_user_id":{alice},"app_user_id":"alice","active":true}},{{"oneup_user_id":{bob},"app_user_id":"bob","active":true}}]}}"#
        )
    );
    assert_eq!(
        list("app_user_id=bob".into()).await,
        format!(
            r#"{{"success":true,"entry":[{{"oneup_user_id":{bob},"app_user_id":"bob","active":true}}]}}"#
        )
    );
    assert_eq!(
        list(format!("oneup_user_id={alice}")).await,
        format!(
            r#"{{"success":true,"entry":[{{"oneup_user_id":{alice},"app_user_id":"alice","active":true}}]}}"#
        )
    );
    assert_eq!(
        list("app_user_id=nobody".into()).await,
        r#"{"success":true,"entry":[]}"#
    );
}

#[tokio::test]
async fn credentials_and_parameters_come_from_the_query_a_form_a_json_body_or_headers() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "transports").await;
    let http = app.anonymous();
    // Query string on a POST (1upwebapp, the SDK).
    let reply = http
        .send(http.request(
            Method::POST,
            &format!(
                "{USERS}?client_id={}&client_secret={}&app_user_id=q",
                client.client_id, client.client_secret
            ),
        ))
        .await;
    reply.expect(200);
    // A JSON body (rknizzle, the Next.js client), with the misspelt `secret`.
    let reply = http
        .send(http.request(Method::POST, USERS).json(&json!({
            "client_id": client.client_id, "secret": client.client_secret, "app_user_id": "j"
        })))
        .await;
    reply.expect(200);
    // Headers plus a form (current docs, mindlogger).
    let reply = http
        .send(
            http.request(Method::POST, AUTH_CODE)
                .header("client_id", &client.client_id)
                .header("client_secret", &client.client_secret)
                .form(&[("app_user_id", "j")]),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.json()["app_user_id"], "j");
    // The same name with two values is refused, not guessed.
    let reply = http
        .send(
            http.request(Method::POST, &format!("{USERS}?app_user_id=x"))
                .header("client_id", &client.client_id)
                .header("client_secret", &client.client_secret)
                .form(&[("app_user_id", "y")]),
        )
        .await;
    reply.expect(400);
    assert_eq!(
        reply.text(),
        r#"{"success":false,"error":"app_user_id was given two different values"}"#
    );
}

#[tokio::test]
async fn auth_code_mints_fresh_codes_for_a_known_user_and_404s_an_unknown_one() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "codes").await;
    let (id, first) = create_user(&app, &client, "carol").await;
    for by in [
        ("oneup_user_id", id.to_string()),
        ("app_user_id", "carol".to_owned()),
    ] {
        let mut form = client.form();
        form.push((by.0, by.1));
        let reply = post_form(&app, Method::POST, AUTH_CODE, &form).await;
        reply.expect(200);
        let body = reply.json();
        let code = body["code"].as_str().unwrap().to_owned();
        assert!(is_hex32(&code) && code != first);
        assert_eq!(
            reply.text(),
            format!(
                r#"{{"success":true,"code":"{code}","oneup_user_id":{id},"app_user_id":"carol","active":true}}"#
            )
        );
    }
    let mut form = client.form();
    form.push(("app_user_id", "nobody".into()));
    let reply = post_form(&app, Method::POST, AUTH_CODE, &form).await;
    reply.expect(404);
    assert_eq!(
        reply.text(),
        r#"{"success":false,"error":"this user does not exist"}"#
    );
    let reply = post_form(&app, Method::POST, AUTH_CODE, &client.form()).await;
    reply.expect(400);
    assert_eq!(reply.json()["success"], false);
}

#[tokio::test]
async fn update_changes_only_the_app_user_id() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "rename").await;
    let (id, _) = create_user(&app, &client, "dave").await;
    create_user(&app, &client, "erin").await;
    let mut form = client.form();
    form.extend([
        ("oneup_user_id", id.to_string()),
        ("app_user_id", "david".into()),
    ]);
    let reply = post_form(&app, Method::PUT, USERS, &form).await;
    reply.expect(200);
    assert_eq!(
        reply.text(),
        format!(r#"{{"success":true,"oneup_user_id":{id},"app_user_id":"david","active":true}}"#)
    );
    let mut taken = client.form();
    taken.extend([
        ("oneup_user_id", id.to_string()),
        ("app_user_id", "erin".into()),
    ]);
    let reply = post_form(&app, Method::PUT, USERS, &taken).await;
    reply.expect(400);
    assert_eq!(
        reply.text(),
        r#"{"success":false,"error":"this user already exists"}"#
    );
    let mut unknown = client.form();
    unknown.extend([
        ("oneup_user_id", "999999".into()),
        ("app_user_id", "x".into()),
    ]);
    post_form(&app, Method::PUT, USERS, &unknown)
        .await
        .expect(404);
}

#[tokio::test]
async fn a_client_sees_and_codes_only_its_own_users_and_an_app_user_id_is_per_client() {
    let app = TestApp::start().await;
    let one = Client::register(&app, "one").await;
    let two = Client::register(&app, "two").await;
    let (first, _) = create_user(&app, &one, "same-name").await;
    let (second, _) = create_user(&app, &two, "same-name").await;
    assert_ne!(
        first, second,
        "the same app_user_id in two clients is two users"
    );
    let mut form = two.form();
    form.push(("oneup_user_id", first.to_string()));
    let reply = post_form(&app, Method::POST, AUTH_CODE, &form).await;
    reply.expect(404);
    let http = app.anonymous();
    let reply = http
        .send(
            http.request(Method::GET, &format!("{USERS}?oneup_user_id={first}"))
                .header("client_id", &two.client_id)
                .header("client_secret", &two.client_secret),
        )
        .await;
    assert_eq!(reply.text(), r#"{"success":true,"entry":[]}"#);
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_401_in_the_contracts_json() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "creds").await;
    let wrong = [
        ("client_id", client.client_id.clone()),
        ("client_secret", "not-the-secret".to_owned()),
        ("app_user_id", "x".to_owned()),
    ];
    let reply = post_form(&app, Method::POST, USERS, &wrong).await;
    reply.expect(401);
    assert_eq!(reply.json()["success"], false);
    let reply = post_form(&app, Method::POST, USERS, &[("app_user_id", "x".into())]).await;
    reply.expect(401);
    assert_eq!(
        reply.text(),
        r#"{"success":false,"error":"client_id and client_secret are required"}"#
    );
    // The disabled app's right secret no longer works.
    app.identity.disable_app(&client.client_id).await.unwrap();
    let mut form = client.form();
    form.push(("app_user_id", "x".into()));
    post_form(&app, Method::POST, USERS, &form)
        .await
        .expect(401);
}

#[tokio::test]
async fn more_calls_than_the_rate_allows_are_429_per_client() {
    let app = TestApp::builder()
        .auth(hale_auth::AuthConfig {
            rate_limit: 3,
            ..hale_auth::AuthConfig::default()
        })
        .start()
        .await;
    let busy = Client::register(&app, "busy").await;
    let calm = Client::register(&app, "calm").await;
    for _ in 0..3 {
        post_form(&app, Method::GET, USERS, &busy.form())
            .await
            .expect(200);
    }
    let reply = post_form(&app, Method::GET, USERS, &busy.form()).await;
    reply.expect(429);
    assert_eq!(reply.json()["success"], false);
    let retry_after: i64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    post_form(&app, Method::GET, USERS, &calm.form())
        .await
        .expect(200);
}
