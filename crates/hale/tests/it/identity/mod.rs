//! The 1up developer API and authentication: user management, the token endpoint, the ways a
//! FHIR request authenticates, and the flows real 1up clients run (contract Part B §16).

mod flows;
mod isolation;
mod token;
mod user_management;

use reqwest::Method;
use serde_json::Value;

use crate::support::{Http, Reply, TestApp};

/// A registered developer app, as `hale apps create` prints it.
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
}

impl Client {
    /// Registers an app on `app`'s server (as the CLI does, through the identity service).
    pub async fn register(app: &TestApp, name: &str) -> Client {
        let (registered, client_secret) = app
            .identity
            .create_app(name, Vec::new())
            .await
            .expect("registering an app");
        Client {
            client_id: registered.client_id,
            client_secret,
        }
    }

    /// The form fields of its credentials.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        vec![
            ("client_id", self.client_id.clone()),
            ("client_secret", self.client_secret.clone()),
        ]
    }
}

/// Sends a form body to `path` without FHIR credentials.
pub async fn post_form(http: &Http, method: Method, path: &str, form: &[(&str, String)]) -> Reply {
    let anonymous = http.anonymous();
    anonymous
        .send(anonymous.request(method, path).form(form))
        .await
}

/// Creates a user of `client` over HTTP and returns its `oneup_user_id` and first code.
pub async fn create_user(http: &Http, client: &Client, app_user_id: &str) -> (i64, String) {
    let mut form = client.form();
    form.push(("app_user_id", app_user_id.to_owned()));
    let reply = post_form(http, Method::POST, "/user-management/v1/user", &form).await;
    reply.expect(200);
    let body = reply.json();
    (
        body["oneup_user_id"]
            .as_i64()
            .expect("an integer oneup_user_id"),
        body["code"].as_str().expect("a code").to_owned(),
    )
}

/// Exchanges a code at `/oauth2/token` and returns the token answer.
pub async fn exchange(http: &Http, client: &Client, code: &str) -> Value {
    let mut form = client.form();
    form.push(("grant_type", "authorization_code".into()));
    form.push(("code", code.to_owned()));
    let reply = post_form(http, Method::POST, "/oauth2/token", &form).await;
    reply.expect(200);
    reply.json()
}

/// A new user of `client` with an access token: its `oneup_user_id` and an [`Http`] that sends
/// the token.
pub async fn user(http: &Http, client: &Client, app_user_id: &str) -> (i64, Http) {
    let (id, code) = create_user(http, client, app_user_id).await;
    let tokens = exchange(http, client, &code).await;
    let token = tokens["access_token"].as_str().expect("an access token");
    (id, http.as_bearer(token))
}
