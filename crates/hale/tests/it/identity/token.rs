//! `/oauth2/token` and how FHIR requests authenticate: codes and refresh tokens, rotation and
//! family revocation, RFC 6749 errors, 401 OperationOutcomes with `WWW-Authenticate`, and the
//! three ways to present credentials.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::{Client, create_user, exchange, post_form, user};
use crate::support::{ADMIN_TOKEN, Http, TestApp, key_order, patient};

fn grant(client: &Client, fields: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut form = client.form();
    form.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
    form
}

async fn refresh(http: &Http, client: &Client, refresh_token: &str) -> crate::support::Reply {
    let form = grant(
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    );
    post_form(http, Method::POST, "/oauth2/token", &form).await
}

/// Whether `http`'s credentials read Patients (200) or are refused (401).
async fn status_of_search(http: &Http) -> u16 {
    http.get("/r4/Patient").await.status
}

#[tokio::test]
async fn a_code_becomes_1ups_token_answer_once_on_both_token_paths() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "tokens").await;
    for path in ["/oauth2/token", "/fhir/oauth2/token"] {
        let (_, code) = create_user(&app, &client, &format!("u{}", path.len())).await;
        let form = grant(
            &client,
            &[("grant_type", "authorization_code"), ("code", &code)],
        );
        let reply = post_form(&app, Method::POST, path, &form).await;
        reply.expect(200);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let body = reply.json();
        assert_eq!(
            key_order(&body),
            [
                "access_token",
                "refresh_token",
                "token_type",
                "expires_in",
                "scope"
            ]
        );
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 7200);
        assert_eq!(body["scope"], "user/*.*");
        assert_eq!(body["access_token"].as_str().unwrap().len(), 40);
        assert_eq!(body["refresh_token"].as_str().unwrap().len(), 32);
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(status_of_search(&app.as_bearer(token)).await, 200);

        // A second exchange of the same code is a replay: refused, and the tokens it gave are
        // revoked (RFC 6749 §4.1.2).
        let again = post_form(&app, Method::POST, path, &form).await;
        again.expect(400);
        assert_eq!(again.json()["error"], "invalid_grant");
        assert_eq!(status_of_search(&app.as_bearer(token)).await, 401);
    }
}

#[tokio::test]
async fn codes_of_another_client_wrong_secrets_and_unknown_grants_get_rfc_6749_errors() {
    let app = TestApp::start().await;
    let mine = Client::register(&app, "mine").await;
    let theirs = Client::register(&app, "theirs").await;
    let (_, code) = create_user(&app, &mine, "u").await;
    let stolen = grant(
        &theirs,
        &[("grant_type", "authorization_code"), ("code", &code)],
    );
    let reply = post_form(&app, Method::POST, "/oauth2/token", &stolen).await;
    reply.expect(400);
    assert_eq!(reply.json()["error"], "invalid_grant");
    // The rightful client can still use it.
    exchange(&app, &mine, &code).await;

    let mut wrong_secret = grant(
        &mine,
        &[("grant_type", "authorization_code"), ("code", "x")],
    );
    wrong_secret[1].1 = "wrong".into();
    let reply = post_form(&app, Method::POST, "/oauth2/token", &wrong_secret).await;
    reply.expect(401);
    assert_eq!(reply.json()["error"], "invalid_client");
    assert!(reply.header("www-authenticate").is_some());

    let reply = post_form(
        &app,
        Method::POST,
        "/oauth2/token",
        &grant(&mine, &[("grant_type", "password")]),
    )
    .await;
    reply.expect(400);
    assert_eq!(reply.json()["error"], "unsupported_grant_type");
    let reply = post_form(
        &app,
        Method::POST,
        "/oauth2/token",
        &grant(&mine, &[("code", "x")]),
    )
    .await;
    reply.expect(400);
    assert_eq!(reply.json()["error"], "invalid_request");
    let reply = post_form(
        &app,
        Method::POST,
        "/oauth2/token",
        &grant(
            &mine,
            &[
                ("grant_type", "authorization_code"),
                ("code", "0123456789abcdef0123456789abcdef"),
            ],
        ),
    )
    .await;
    reply.expect(400);
    assert_eq!(reply.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_its_whole_family() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "refresh").await;
    let (_, code) = create_user(&app, &client, "u").await;
    let first = exchange(&app, &client, &code).await;
    let reply = refresh(&app, &client, first["refresh_token"].as_str().unwrap()).await;
    reply.expect(200);
    let second: Value = reply.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    for tokens in [&first, &second] {
        let http = app.as_bearer(tokens["access_token"].as_str().unwrap());
        assert_eq!(status_of_search(&http).await, 200);
    }
    // The rotated-out token again: someone copied it. Everything of the family dies.
    let replay = refresh(&app, &client, first["refresh_token"].as_str().unwrap()).await;
    replay.expect(400);
    assert_eq!(replay.json()["error"], "invalid_grant");
    for tokens in [&first, &second] {
        let http = app.as_bearer(tokens["access_token"].as_str().unwrap());
        assert_eq!(status_of_search(&http).await, 401);
    }
    refresh(&app, &client, second["refresh_token"].as_str().unwrap())
        .await
        .expect(400);
    // Another client cannot use a refresh token either.
    let (_, code) = create_user(&app, &client, "v").await;
    let fresh = exchange(&app, &client, &code).await;
    let other = Client::register(&app, "other").await;
    refresh(&app, &other, fresh["refresh_token"].as_str().unwrap())
        .await
        .expect(400);
    refresh(&app, &client, fresh["refresh_token"].as_str().unwrap())
        .await
        .expect(200);
}

#[tokio::test]
async fn expired_codes_and_tokens_are_refused() {
    let app = TestApp::builder()
        .auth(hale_auth::AuthConfig {
            access_ttl: 2,
            code_ttl: 2,
            ..hale_auth::AuthConfig::default()
        })
        .start()
        .await;
    let client = Client::register(&app, "expiry").await;
    let (_, code) = create_user(&app, &client, "u").await;
    let tokens = exchange(&app, &client, &code).await;
    // Used once while valid, so the server remembers it; expiry must still end it.
    let bearer = app.as_bearer(tokens["access_token"].as_str().unwrap());
    assert_eq!(status_of_search(&bearer).await, 200);
    let (_, late_code) = create_user(&app, &client, "v").await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let reply = app
        .as_bearer(tokens["access_token"].as_str().unwrap())
        .get("/r4/Patient")
        .await;
    let outcome = reply.outcome(401, "login");
    assert!(
        crate::support::mentions(&outcome, "token expired"),
        "{outcome}"
    );
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let form = grant(
        &client,
        &[("grant_type", "authorization_code"), ("code", &late_code)],
    );
    let reply = post_form(&app, Method::POST, "/oauth2/token", &form).await;
    reply.expect(400);
    assert_eq!(reply.json()["error"], "invalid_grant");
    // The refresh token outlives the access token.
    refresh(&app, &client, tokens["refresh_token"].as_str().unwrap())
        .await
        .expect(200);
}

#[tokio::test]
async fn fhir_requests_without_valid_credentials_are_401_operation_outcomes() {
    let app = TestApp::start().await;
    for prefix in ["/r4", "/fhir/r4"] {
        let anonymous = app.anonymous();
        let reply = anonymous.get(&format!("{prefix}/Patient")).await;
        reply.outcome(401, "login");
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer realm=\"hale\"")
        );
        for credentials in [
            vec![(
                "authorization",
                "Bearer 0123456789abcdef0123456789abcdef01234567",
            )],
            vec![("authorization", "Bearer ")],
            vec![("authorization", "Basic dXNlcjpwYXNz")],
            vec![("authorization", "Bearer a b c")],
            vec![
                ("client_id", "x"),
                ("client_secret", "y"),
                ("x-oneup-user-id", "client"),
            ],
            vec![("client_id", "x")],
        ] {
            let http = app.with_credentials(&credentials);
            let reply = http.get(&format!("{prefix}/Patient/x")).await;
            reply.outcome(401, "login");
            assert!(reply.header("www-authenticate").is_some());
        }
        let reply = anonymous
            .get(&format!("{prefix}/Patient?access_token=not-a-token"))
            .await;
        reply.outcome(401, "login");
        // Discovery needs no credentials.
        anonymous
            .get(&format!("{prefix}/metadata"))
            .await
            .expect(200);
        anonymous
            .get(&format!("{prefix}/.well-known/smart-configuration"))
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_works_and_is_not_repeated_in_links() {
    let app = TestApp::start().await;
    for i in 0..3 {
        app.create("/r4", &patient(&format!("q{i}"))).await;
    }
    let client = Client::register(&app, "query").await;
    let (_, code) = create_user(&app, &client, "u").await;
    let tokens = exchange(&app, &client, &code).await;
    let token = tokens["access_token"].as_str().unwrap();
    let reply = app
        .anonymous()
        .get(&format!("/r4/Patient?_count=2&access_token={token}"))
        .await;
    let bundle = reply.resource(200);
    assert_eq!(
        bundle["total"], 3,
        "operator data is readable by every user"
    );
    let text = bundle.to_string();
    assert!(
        !text.contains(token),
        "the token leaked into the Bundle: {text}"
    );
}

#[tokio::test]
async fn client_headers_act_as_one_user_or_as_the_whole_client() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "headers").await;
    let (alice, alice_http) = user(&app, &client, "alice").await;
    let (_, bob_http) = user(&app, &client, "bob").await;
    let a = alice_http.create("/r4", &patient("alice-p")).await;
    let b = bob_http.create("/r4", &patient("bob-p")).await;
    let as_alice = app.as_client(&client.client_id, &client.client_secret, &alice.to_string());
    let as_client = app.as_client(&client.client_id, &client.client_secret, "client");
    let ids = |bundle: Value| -> Vec<String> {
        let mut ids: Vec<String> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mine = ids(as_alice.get("/r4/Patient").await.resource(200));
    assert_eq!(mine, vec![a["id"].as_str().unwrap().to_owned()]);
    let all = ids(as_client.get("/r4/Patient").await.resource(200));
    let mut expected = vec![
        a["id"].as_str().unwrap().to_owned(),
        b["id"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(all, expected);
    // A user of another client, a wrong secret, or a non-numeric id: 401, never that user's data.
    let other = Client::register(&app, "other").await;
    let stranger = app.as_client(&other.client_id, &other.client_secret, &alice.to_string());
    stranger.get("/r4/Patient").await.outcome(401, "login");
    let wrong = app.as_client(&client.client_id, "wrong-secret", &alice.to_string());
    wrong.get("/r4/Patient").await.outcome(401, "login");
    let garbled = app.as_client(&client.client_id, &client.client_secret, "alice");
    garbled.get("/r4/Patient").await.outcome(401, "login");
    // Rotating the secret ends the old one at once.
    let new_secret = app
        .identity
        .rotate_secret(&client.client_id)
        .await
        .unwrap()
        .unwrap();
    as_alice.get("/r4/Patient").await.outcome(401, "login");
    app.as_client(&client.client_id, &new_secret, "client")
        .get("/r4/Patient")
        .await
        .expect(200);
}

#[tokio::test]
async fn the_operator_token_sees_everything_and_discovery_names_the_token_endpoint() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "op").await;
    let (_, alice) = user(&app, &client, "alice").await;
    let created = alice.create("/r4", &patient("alice-op")).await;
    let id = created["id"].as_str().unwrap();
    app.as_bearer(ADMIN_TOKEN)
        .get(&format!("/r4/Patient/{id}"))
        .await
        .expect(200);
    let smart = app
        .anonymous()
        .get("/r4/.well-known/smart-configuration")
        .await;
    smart.expect(200);
    let smart = smart.json();
    let token_endpoint = format!("{}/oauth2/token", app.base_url);
    assert_eq!(smart["token_endpoint"], token_endpoint.as_str());
    assert!(
        smart["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "refresh_token")
    );
    let metadata = app.anonymous().get("/fhir/r4/metadata").await.resource(200);
    let security = &metadata["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    assert_eq!(security["extension"][0]["extension"][0]["url"], "token");
    assert_eq!(
        security["extension"][0]["extension"][0]["valueUri"],
        token_endpoint.as_str()
    );
}

/// Decodes a JWT's payload after checking its HS256 signature under `key`, independently of
/// the server's code.
fn verified_claims(jwt: &str, key: &str) -> Value {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signing_input, signature) = jwt.rsplit_once('.').expect("a JWS compact serialization");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&b64.decode(signature).expect("a base64url signature"))
        .expect("the ID token is signed with the client secret");
    let (header, payload) = signing_input.split_once('.').unwrap();
    let header: Value = serde_json::from_slice(&b64.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn an_openid_code_adds_an_id_token_signed_with_the_client_secret() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "openid").await;
    let mut form = client.form();
    form.extend([
        ("app_user_id", "oidc".to_owned()),
        ("scope", "openid user/*.*".to_owned()),
    ]);
    let created = post_form(&app, Method::POST, "/user-management/v1/user", &form)
        .await
        .json();
    let code = created["code"].as_str().unwrap();
    let user = created["oneup_user_id"].as_i64().unwrap();
    let tokens = exchange(&app, &client, code).await;
    assert_eq!(tokens["scope"], "user/*.* openid");
    let claims = verified_claims(tokens["id_token"].as_str().unwrap(), &client.client_secret);
    assert_eq!(claims["iss"], app.base_url.as_str());
    assert_eq!(claims["sub"], user.to_string());
    assert_eq!(claims["aud"], client.client_id.as_str());
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    let refreshed = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap())
        .await
        .json();
    verified_claims(
        refreshed["id_token"].as_str().unwrap(),
        &client.client_secret,
    );
    // Without openid there is no ID token at all.
    let (_, plain) = create_user(&app, &client, "plain").await;
    let tokens = exchange(&app, &client, &plain).await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
    assert_eq!(tokens["scope"], "user/*.*");
}

/// Browser apps on other origins can call Hale with a bearer token: preflights are answered
/// without credentials, and answers carry `Access-Control-Allow-Origin`.
#[tokio::test]
async fn browser_apps_on_other_origins_pass_cors() {
    let app = TestApp::start().await;
    let anonymous = app.anonymous();
    let preflight = anonymous
        .send(
            anonymous
                .request(Method::OPTIONS, "/r4/Patient")
                .header("origin", "https://app.example")
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization"),
        )
        .await;
    assert!(
        preflight.status < 300,
        "preflight status {}",
        preflight.status
    );
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let reply = app
        .send(
            app.request(Method::GET, "/r4/Patient")
                .header("origin", "https://app.example"),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
}

/// Disabling an app ends everything it issued: access tokens, refresh tokens and client
/// headers, at once.
#[tokio::test]
async fn a_disabled_apps_tokens_and_headers_stop_working() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "to-disable").await;
    let (alice, _) = create_user(&app, &client, "alice").await;
    let (_, code) = create_user(&app, &client, "bob").await;
    let tokens = exchange(&app, &client, &code).await;
    let bearer = app.as_bearer(tokens["access_token"].as_str().unwrap());
    let headers = app.as_client(&client.client_id, &client.client_secret, &alice.to_string());
    assert_eq!(status_of_search(&bearer).await, 200);
    assert_eq!(status_of_search(&headers).await, 200);
    assert!(app.identity.disable_app(&client.client_id).await.unwrap());
    assert_eq!(status_of_search(&bearer).await, 401);
    assert_eq!(status_of_search(&headers).await, 401);
    let reply = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await;
    reply.expect(401);
    assert_eq!(reply.json()["error"], "invalid_client");
}
