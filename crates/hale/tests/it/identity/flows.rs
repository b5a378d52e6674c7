//! What real 1up clients do, replayed step by step (contract Part B §16): they must work
//! against Hale unchanged.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::Value;

use super::Client;
use crate::support::{Http, TestApp, patient};

/// Follows `next` links from `first` with the same credentials, collecting every id; asserts
/// that the pages add up to `total` without repeats.
async fn page_through(http: &Http, first: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut url = first.to_owned();
    let mut total = None;
    for _ in 0..100 {
        let bundle = http.get(&url).await.resource(200);
        total.get_or_insert(bundle["total"].as_u64().expect("a total"));
        for entry in bundle["entry"].as_array().expect("entry is always present") {
            ids.push(entry["resource"]["id"].as_str().unwrap().to_owned());
        }
        match crate::support::link(&bundle, "next") {
            Some(next) => {
                assert!(next.starts_with("http://"), "next is absolute: {next}");
                url = next;
            }
            None => break,
        }
    }
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a resource repeated across pages");
    assert_eq!(
        Some(ids.len() as u64),
        total,
        "the pages add up to the total"
    );
    ids
}

/// 1uphealth/1upwebapp: every user-management call with credentials in the query string; on
/// "this user already exists" it asks for an auth code; the token comes from the legacy
/// `/fhir/oauth2/token` with query parameters; FHIR under `/fhir/r4` with a bearer token.
#[tokio::test]
async fn the_1upwebapp_flow_works_with_everything_in_the_query_string() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "1upwebapp").await;
    let http = app.anonymous();
    let creds = format!(
        "client_id={}&client_secret={}",
        client.client_id, client.client_secret
    );
    let create = || {
        http.send(http.request(
            Method::POST,
            &format!("/user-management/v1/user?app_user_id=webapp-user&{creds}"),
        ))
    };
    assert_eq!(create().await.json()["success"], true);
    let again = create().await.json();
    assert_eq!(again["error"], "this user already exists");
    let code = http
        .send(http.request(
            Method::POST,
            &format!("/user-management/v1/user/auth-code?app_user_id=webapp-user&{creds}"),
        ))
        .await
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = http
        .send(http.request(
            Method::POST,
            &format!("/fhir/oauth2/token?{creds}&code={code}&grant_type=authorization_code"),
        ))
        .await
        .json();
    let user = app.as_bearer(tokens["access_token"].as_str().unwrap());
    for i in 0..3 {
        user.create("/fhir/r4", &patient(&format!("webapp-{i}")))
            .await;
    }
    let bundle = user.get("/fhir/r4/Patient").await.resource(200);
    let entries = bundle["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries[0]["fullUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/fhir/r4/Patient/", app.base_url))
    );
}

/// ChildMindInstitute/mindlogger-backend-refactor: headers for user management with
/// `app_user_id` in the query; `GET user` → `entry[0].oneup_user_id`; tokens by form at
/// `/oauth2/token`, keeping the new refresh token; then FHIR with client headers and
/// `x-oneup-user-id: "<int>"`, following absolute `next` links with the same headers.
#[tokio::test]
async fn the_mindlogger_flow_works_with_headers_and_follows_next_links() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "mindlogger").await;
    let http = app.anonymous();
    let with_headers = |method: Method, path: &str| {
        http.request(method, path)
            .header("client_id", &client.client_id)
            .header("client_secret", &client.client_secret)
    };
    let app_user_id = "3f786850e387550fdab836ed7e6dc881de23001b";
    let created = http
        .send(with_headers(
            Method::POST,
            &format!("/user-management/v1/user?app_user_id={app_user_id}"),
        ))
        .await;
    assert!(matches!(created.status, 200 | 201));
    let code = created.json()["code"].as_str().unwrap().to_owned();
    let found = http
        .send(with_headers(
            Method::GET,
            &format!("/user-management/v1/user?app_user_id={app_user_id}"),
        ))
        .await
        .json();
    let oneup_user_id = found["entry"][0]["oneup_user_id"].as_i64().unwrap();
    let token_form = |grant: &[(&str, &str)]| {
        let mut form: Vec<(String, String)> = vec![
            ("client_id".into(), client.client_id.clone()),
            ("client_secret".into(), client.client_secret.clone()),
        ];
        form.extend(
            grant
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        form
    };
    let tokens = http
        .send(
            http.request(Method::POST, "/oauth2/token")
                .form(&token_form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                ])),
        )
        .await
        .json();
    let refreshed = http
        .send(
            http.request(Method::POST, "/oauth2/token")
                .form(&token_form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ])),
        )
        .await
        .json();
    assert_eq!(refreshed["token_type"], "bearer");
    let user = app.as_bearer(refreshed["access_token"].as_str().unwrap());
    let mut created_ids = Vec::new();
    for i in 0..7 {
        created_ids.push(
            user.create("/r4", &patient(&format!("ml-{i}"))).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let headers = app.as_client(
        &client.client_id,
        &client.client_secret,
        &oneup_user_id.to_string(),
    );
    let mut ids = page_through(&headers, "/r4/Patient?_count=3").await;
    ids.sort();
    created_ids.sort();
    assert_eq!(ids, created_ids);
}

/// MaxMazzone/oneuphealthapi: the token in the query string, paging by `_skip` and `total`.
#[tokio::test]
async fn a_query_string_token_pages_by_skip() {
    let app = TestApp::start().await;
    let client = Client::register(&app, "skip").await;
    let (_, user) = super::user(&app, &client, "skipper").await;
    for i in 0..5 {
        user.create("/r4", &patient(&format!("skip-{i}"))).await;
    }
    let token = user
        .credentials
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_owned();
    let anonymous = app.anonymous();
    let mut seen = HashSet::new();
    let mut skip = 0;
    loop {
        let bundle: Value = anonymous
            .get(&format!(
                "/r4/Patient?_count=2&_skip={skip}&access_token={token}"
            ))
            .await
            .resource(200);
        let total = bundle["total"].as_u64().unwrap();
        assert_eq!(total, 5);
        for entry in bundle["entry"].as_array().unwrap() {
            assert!(seen.insert(entry["resource"]["id"].as_str().unwrap().to_owned()));
        }
        skip += 2;
        if skip as u64 >= total {
            break;
        }
    }
    assert_eq!(seen.len(), 5);
}
