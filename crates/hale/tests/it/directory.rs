//! The provider directory: 1up's system search (`/api/search`, `/api/systems/{zip}`,
//! `/api/all-systems`, `/api/clinical/{id}`) and `connect/system/clinical`, over a directory of
//! the 194 hospitals of synthea-120 (real US hospital names and addresses; the fixture's
//! `make-synthea-hospitals.py` says how it was made), and `hale directory import`.

use std::collections::{BTreeSet, HashMap};

use reqwest::Method;
use serde_json::{Value, json};

use crate::identity::{Client, create_user, exchange, post_form};
use crate::support::{ADMIN_TOKEN, Http, ServerProcess, TestApp, key_order, run_hale};

/// The 194 hospitals as a `hale directory import` list.
const HOSPITALS: &str = include_str!("../fixtures/directory/synthea-hospitals.json");

/// The contract's 401 body of system search.
const TOKEN_ERROR: &str = "An error occurred when processing the access token.";

/// Payers beside the hospitals, for the system type filter.
fn payers() -> String {
    json!([
        {"id": "5001", "name": "Bay State Health Plan", "type": "PayerPatientAccess",
         "fhir_base_url": "https://fhir.baystate-plan.example/r4",
         "authorize_url": "https://auth.baystate-plan.example/authorize",
         "locations": [{"address_line": "1 Plan Way", "city": "Boston", "state": "MA", "postal_code": "02110"}]},
        {"id": "5002", "name": "Bay State Health Plan Exchange", "type": "Payer2Payer",
         "fhir_base_url": "https://p2p.baystate-plan.example/r4"},
        {"id": "5003", "name": "Pilgrim Mutual", "type": "PayerPatientAccess",
         "fhir_base_url": "https://fhir.pilgrim.example/r4", "logo": "https://pilgrim.example/logo.png",
         "locations": [{"address_line": "3 Harbor Rd", "city": "Kittery", "state": "ME", "postal_code": "03904"}]},
        {"id": "plan-x", "name": "Hospital Workers Union Plan", "type": "Payer2Payer",
         "fhir_base_url": "https://fhir.hwup.example/r4", "status": "suspended"}
    ])
    .to_string()
}

fn hospitals() -> Vec<Value> {
    serde_json::from_str(HOSPITALS).expect("the fixture is JSON")
}

/// A server with the hospitals and payers, a client, and a user of it with a token.
async fn directory_app() -> (TestApp, Client, Http, String) {
    let app = TestApp::builder()
        .directory(HOSPITALS)
        .directory(&payers())
        .start()
        .await;
    let client = Client::register(&app, "directory").await;
    let (_, code) = create_user(&app, &client, "finder").await;
    let tokens = exchange(&app, &client, &code).await;
    let token = tokens["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let as_user = app.as_bearer(&token);
    (app, client, as_user, token)
}

/// Folded words, as a person reads them: lower case, apostrophes dropped, split elsewhere.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('\'', "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The ids of the listed systems where every word of `query` starts a word of the name, a
/// street line or the city: what a search without typos must find.
fn prefix_matches(systems: &[Value], query: &str) -> BTreeSet<String> {
    let query = words(query);
    systems
        .iter()
        .filter(|s| {
            let mut text = vec![s["name"].as_str().unwrap_or("").to_owned()];
            for location in s["locations"].as_array().into_iter().flatten() {
                for line in location["address_line"].as_array().into_iter().flatten() {
                    text.push(line.as_str().unwrap_or("").to_owned());
                }
                text.push(location["city"].as_str().unwrap_or("").to_owned());
            }
            let system_words: Vec<String> = text.iter().flat_map(|t| words(t)).collect();
            query
                .iter()
                .all(|q| system_words.iter().any(|w| w.starts_with(q.as_str())))
        })
        .map(|s| s["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The `Type/id` of every entry of a Bundle.
fn entry_keys(bundle: &Value) -> BTreeSet<String> {
    bundle["entry"]
        .as_array()
        .expect("a Bundle's entries")
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap_or(""),
                e["resource"]["id"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// The id of an item as text (1up's ids are JSON numbers).
fn id_text(item: &Value) -> String {
    match item {
        Value::Object(o) => id_text(&o["id"]),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("an id, not {other}"),
    }
}

/// Every page of `/api/search?query=…` (20 at a time by `offset`), checked for size and
/// duplicates, in order.
async fn all_pages(http: &Http, query: &str, extra: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut seen = BTreeSet::new();
    for page in 0.. {
        let path = format!("/api/search?query={query}&offset={}{extra}", page * 20);
        let items = http.get(&path).await.expect(200).json();
        let items = items.as_array().expect("an array").clone();
        assert!(items.len() <= 20, "{path}: {} items", items.len());
        for item in &items {
            assert!(seen.insert(id_text(item)), "{path}: {item} again");
        }
        let last = items.len() < 20;
        all.extend(items);
        if last {
            break;
        }
    }
    all
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(id_text).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_search_finds_hospitals_by_word_prefix_and_city() {
    let (_app, _client, as_user, _) = directory_app().await;
    let mut systems = hospitals();
    systems.extend(serde_json::from_str::<Vec<Value>>(&payers()).unwrap());
    let first = as_user
        .get("/api/search?query=mount%20aub")
        .await
        .expect(200)
        .json();
    // The hospital named so, then a practice on Mount Auburn Street: a name match ranks above an
    // address match.
    assert_eq!(ids(first.as_array().unwrap()), ["1001", "1085"]);
    assert_eq!(
        first[1]["address"],
        "300 MOUNT AUBURN ST, CAMBRIDGE, MA 02238-5211"
    );
    assert_eq!(
        first[0],
        json!({
            "id": 1001,
            "name": "MOUNT AUBURN HOSPITAL",
            "address": "330 MOUNT AUBURN STREET, CAMBRIDGE, MA 02138",
            "fhirVersion": "FHIR R4 4.0.1",
            "ehr": "Epic",
            "resourceUrl": "https://fhir.mount-auburn-hospital-1.example/api/FHIR/R4",
            "logo": format!("{}/api/logo/health-system-default.svg", as_user.url("").trim_end_matches('/')),
        })
    );
    // The default logo is a real image.
    let logo = as_user
        .anonymous()
        .get("/api/logo/health-system-default.svg")
        .await;
    logo.expect(200);
    assert_eq!(logo.header("content-type"), Some("image/svg+xml"));

    // Every system whose words the query's words start is found; with words of four letters
    // or more, typos may find more (BOLTON for "boston"), with shorter ones nothing else.
    for query in [
        "worcester",
        "WORCESTER",
        "boston",
        "cambridge",
        "general hosp",
        "medical center",
        "mount",
    ] {
        let found: BTreeSet<String> = ids(&all_pages(&as_user, query, "").await)
            .into_iter()
            .collect();
        let expected = prefix_matches(&systems, query);
        assert!(!expected.is_empty(), "query {query:?} has matches");
        assert!(
            found.is_superset(&expected),
            "query {query:?}: {found:?} ⊇ {expected:?}"
        );
    }
    for query in ["st", "mt aub", "st eli", "ann", "bay"] {
        let found: BTreeSet<String> =
            ids(&all_pages(&as_user, &query.replace(' ', "%20"), "").await)
                .into_iter()
                .collect();
        let expected = prefix_matches(&systems, query);
        assert!(!expected.is_empty(), "query {query:?} has matches");
        assert_eq!(found, expected, "query {query:?}");
    }
    // A name match ranks above a city match: "Boston" hospitals named so come first.
    let boston = all_pages(&as_user, "boston", "").await;
    let named: Vec<bool> = boston
        .iter()
        .map(|s| {
            s["name"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("boston")
        })
        .collect();
    assert!(named[0], "{boston:?}");
    assert!(named.windows(2).all(|w| w[0] >= w[1]), "{named:?}");
    // Apostrophes and accents fold away.
    let anne = as_user
        .get("/api/search?query=saint%20annes")
        .await
        .expect(200)
        .json();
    assert_eq!(anne[0]["name"], "SAINT ANNE'S HOSPITAL");
    let accented = as_user
        .get("/api/search?query=h%C3%B4pital%20s%C3%A4int%20ann")
        .await
        .expect(200)
        .json();
    assert_eq!(accented[0]["name"], "SAINT ANNE'S HOSPITAL");
    let apostrophe = as_user
        .get("/api/search?query=saint%20anne's")
        .await
        .expect(200)
        .json();
    assert_eq!(apostrophe[0]["name"], "SAINT ANNE'S HOSPITAL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_typo_per_word_still_finds_the_system() {
    let (_app, _client, as_user, _) = directory_app().await;
    let systems = hospitals();
    let by_name: HashMap<String, String> = systems
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (typed, name) in [
        ("massachusets general", "MASSACHUSETTS GENERAL HOSPITAL"),
        ("masachusetts genral", "MASSACHUSETTS GENERAL HOSPITAL"),
        ("mount aubrun", "MOUNT AUBURN HOSPITAL"),
        ("sturdy memorail", "STURDY MEMORIAL HOSPITAL"),
        ("cape cod hopsital", "CAPE COD HOSPITAL"),
        ("lawrence generel", "LAWRENCE GENERAL HOSPITAL"),
    ] {
        let found = ids(&all_pages(&as_user, &typed.replace(' ', "%20"), "").await);
        assert!(
            found.contains(&by_name[name]),
            "{typed:?} finds {name}: {found:?}"
        );
    }
    // A city typed with a typo finds every hospital of the city.
    let exact: BTreeSet<String> = prefix_matches(&systems, "worcester");
    let typo: BTreeSet<String> = ids(&all_pages(&as_user, "worcestr", "").await)
        .into_iter()
        .collect();
    assert!(typo.is_superset(&exact), "{typo:?} ⊇ {exact:?}");
    // Exact matches come before typo matches.
    let mixed = all_pages(&as_user, "general", "").await;
    let exact_general = prefix_matches(&systems, "general");
    let positions: Vec<bool> = ids(&mixed)
        .iter()
        .map(|id| exact_general.contains(id))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] >= w[1]), "{positions:?}");
    // Two typos in one word are too many; short words get none.
    assert_eq!(
        as_user
            .get("/api/search?query=mssachustts")
            .await
            .expect(200)
            .json(),
        json!([])
    );
    assert_eq!(
        as_user.get("/api/search?query=xt").await.expect(200).json(),
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_everything_are_alphabetical_without_gaps_or_duplicates() {
    let (_app, _client, as_user, _) = directory_app().await;
    let all = all_pages(&as_user, "", "").await;
    assert_eq!(all.len(), 194 + 4);
    let names: Vec<String> = all
        .iter()
        .map(|s| words(s["name"].as_str().unwrap()).join(" "))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Offsets that are not multiples of 20 work too (clients add the page's length).
    let from_7 = as_user.get("/api/search?offset=7").await.expect(200).json();
    assert_eq!(ids(from_7.as_array().unwrap()), ids(&all[7..27]));
    // all-systems is the same list at once.
    let every = as_user.get("/api/all-systems").await.expect(200).json();
    assert_eq!(ids(every.as_array().unwrap()), ids(&all));
    let hospitals_only = as_user
        .get("/api/all-systems?system_type=HealthSystem")
        .await
        .expect(200)
        .json();
    assert_eq!(hospitals_only.as_array().unwrap().len(), 194);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_come_from_the_query_a_form_or_json_and_filter_by_type() {
    let (app, _client, as_user, _) = directory_app().await;
    let by_get = as_user
        .get("/api/search?query=bay%20state&system_type=PayerPatientAccess")
        .await
        .expect(200)
        .json();
    assert_eq!(ids(by_get.as_array().unwrap()), ["5001"]);
    let form = as_user
        .send(as_user.request(Method::POST, "/api/search").form(&[
            ("query", "bay state"),
            ("system_type", "PayerPatientAccess"),
        ]))
        .await;
    form.expect(200);
    assert_eq!(form.json(), by_get);
    let body = as_user
        .send(
            as_user
                .request(Method::POST, "/api/search")
                .json(&json!({"query": "bay state", "system_type": "PayerPatientAccess"})),
        )
        .await;
    assert_eq!(body.expect(200).json(), by_get);
    // Query string parameters on a POST without a body, as mindlogger sends them.
    let bare = as_user
        .send(as_user.request(
            Method::POST,
            "/api/search?query=bay%20state&system_type=Payer2Payer",
        ))
        .await;
    assert_eq!(ids(bare.expect(200).json().as_array().unwrap()), ["5002"]);
    // Payers of either kind; the hospitals are health systems.
    let p2p = as_user
        .get("/api/all-systems?system_type=Payer2Payer")
        .await
        .expect(200)
        .json();
    assert_eq!(ids(p2p.as_array().unwrap()), ["5002", "plan-x"]);
    let hospital_plan = as_user
        .get("/api/search?query=hospital%20workers")
        .await
        .expect(200)
        .json();
    assert_eq!(
        hospital_plan[0]["id"], "plan-x",
        "a non-numeric id is a string"
    );
    let pilgrim = as_user
        .get("/api/search?query=pilgrim")
        .await
        .expect(200)
        .json();
    assert_eq!(pilgrim[0]["logo"], "https://pilgrim.example/logo.png");
    // The operator's token works too.
    let operator = app.as_bearer(ADMIN_TOKEN);
    assert_eq!(
        operator
            .get("/api/search?query=pilgrim")
            .await
            .expect(200)
            .json(),
        pilgrim
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_bad_parameters_get_the_contract_json() {
    let (app, _client, as_user, token) = directory_app().await;
    let unauthorized = json!({"success": false, "message": TOKEN_ERROR});
    for (http, path) in [
        (app.anonymous(), "/api/search?query=boston"),
        (app.as_bearer("not-a-token"), "/api/search?query=boston"),
        (
            app.anonymous(),
            "/api/search?query=boston&access_token=not-a-token",
        ),
        (app.as_bearer("not-a-token"), "/api/systems/02138"),
        (app.as_bearer("not-a-token"), "/api/all-systems"),
        (app.as_bearer("not-a-token"), "/api/clinical/1001"),
        (
            app.with_credentials(&[("authorization", "Basic eDp5")]),
            "/api/search",
        ),
    ] {
        let reply = http.get(path).await;
        reply.expect(401);
        assert_eq!(reply.json(), unauthorized, "{path}");
    }
    // The token as a query parameter works.
    let by_param = app
        .anonymous()
        .get(&format!("/api/search?query=pilgrim&access_token={token}"))
        .await;
    assert_eq!(
        ids(by_param.expect(200).json().as_array().unwrap()),
        ["5003"]
    );
    for (path, needle) in [
        (
            "/api/search?query=St.%20Anne",
            "only letters, digits, spaces and '",
        ),
        (
            "/api/search?query=boston%25",
            "only letters, digits, spaces and '",
        ),
        (
            "/api/search?query=a-b",
            "only letters, digits, spaces and '",
        ),
        ("/api/search?offset=-20", "offset"),
        ("/api/search?offset=x", "offset"),
        ("/api/search?system_type=Clinic", "system_type"),
        ("/api/systems/0213", "zip code"),
        ("/api/systems/02138-12", "zip code"),
    ] {
        let reply = as_user.get(path).await;
        reply.expect(400);
        let body = reply.json();
        assert_eq!(body["success"], false, "{path}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(needle),
            "{path}: {body}"
        );
    }
}

/// The distance in km between two points.
fn km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6371.0 * 2.0 * a.sqrt().asin()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_search_lists_the_nearest_systems_first() {
    let (_app, _client, as_user, _) = directory_app().await;
    let systems = hospitals();
    let position: HashMap<String, (f64, f64)> = systems
        .iter()
        .map(|s| {
            let l = &s["locations"][0];
            (
                s["id"].as_str().unwrap().to_owned(),
                (
                    l["latitude"].as_f64().unwrap(),
                    l["longitude"].as_f64().unwrap(),
                ),
            )
        })
        .collect();
    // 02138 is Mount Auburn Hospital's zip (and four other places').
    let mount_auburn = position["1001"];
    let mut distances = Vec::new();
    for offset in [0, 20, 40] {
        let page = as_user
            .get(&format!("/api/systems/02138?offset={offset}"))
            .await
            .expect(200)
            .json();
        for item in page.as_array().unwrap() {
            distances.push(km(mount_auburn, position[&id_text(item)]));
        }
    }
    assert_eq!(distances.len(), 60);
    // The zip's place is the mean of the directory's places in 02138, all within 50 m.
    assert!(distances[0] < 0.05, "{distances:?}");
    // Nearest first (the server's flat-earth distance agrees with the great circle this close).
    assert!(
        distances.windows(2).all(|w| w[0] <= w[1] + 0.5),
        "{distances:?}"
    );
    assert!(distances[59] < 30.0, "{distances:?}");
    let plus4 = as_user
        .get("/api/systems/02138-1234")
        .await
        .expect(200)
        .json();
    let first = as_user.get("/api/systems/02138").await.expect(200).json();
    assert_eq!(plus4, first);
    // Query and type filter the nearest.
    let near_query = as_user
        .get("/api/systems/02138?query=general")
        .await
        .expect(200)
        .json();
    assert!(
        near_query
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"].as_str().unwrap().contains("GENERAL"))
    );
    // Where no system has a position, systems sharing the zip's 3-digit area stand in: the
    // payer at 03904 has none, and no hospital is in 039xx.
    let area = as_user.get("/api/systems/03901").await.expect(200).json();
    assert_eq!(ids(area.as_array().unwrap()), ["5003"]);
    let unknown = as_user.get("/api/systems/99999").await.expect(200).json();
    assert_eq!(unknown, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_lists_systems_to_a_client_in_any_transport() {
    let (app, client, _, _) = directory_app().await;
    let expected_first = json!({
        "id": 1003,
        "name": "LAWRENCE GENERAL HOSPITAL",
    });
    let query = format!(
        "/connect/system/clinical?client_id={}&client_secret={}&query=lawrence%20general",
        client.client_id, client.client_secret
    );
    let reply = app.anonymous().get(&query).await;
    let items = reply.expect(200).json();
    let item = &items[0];
    assert_eq!(item["id"], expected_first["id"]);
    assert_eq!(item["name"], expected_first["name"]);
    assert_eq!(
        key_order(item),
        [
            "id",
            "name",
            "resource_url",
            "logo",
            "api_version",
            "status",
            "ehr",
            "locations"
        ]
    );
    assert_eq!(item["api_version"], "FHIR R4 4.0.1");
    assert_eq!(item["status"], "connection_working");
    let location = &item["locations"][0];
    assert_eq!(
        location,
        &json!({"name": "LAWRENCE GENERAL HOSPITAL",
                "address": {"line": ["ONE GENERAL STREET"], "city": "LAWRENCE", "postalCode": "01842", "state": "MA"}})
    );
    // Form body, JSON body and the clientid/clientsecret spellings answer the same.
    let form = post_form(
        &app,
        Method::POST,
        "/connect/system/clinical",
        &[
            ("clientid", client.client_id.clone()),
            ("clientsecret", client.client_secret.clone()),
            ("query", "lawrence general".into()),
        ],
    )
    .await;
    assert_eq!(form.expect(200).json(), items);
    let anonymous = app.anonymous();
    let json_body = anonymous
        .send(
            anonymous
                .request(Method::POST, "/connect/system/clinical")
                .json(&json!({
            "client_id": client.client_id, "client_secret": client.client_secret,
            "query": "lawrence general"})),
        )
        .await;
    assert_eq!(json_body.expect(200).json(), items);
    // systemType filters; without a query, every system of the type.
    let payers = anonymous
        .get(&format!(
            "/connect/system/clinical?client_id={}&client_secret={}&systemType=Payer2Payer",
            client.client_id, client.client_secret
        ))
        .await
        .expect(200)
        .json();
    assert_eq!(ids(payers.as_array().unwrap()), ["5002", "plan-x"]);
    assert_eq!(payers[1]["status"], "connection_disabled");
    let all = anonymous
        .get(&format!(
            "/connect/system/clinical?client_id={}&client_secret={}",
            client.client_id, client.client_secret
        ))
        .await
        .expect(200)
        .json();
    assert_eq!(all.as_array().unwrap().len(), 198);
    // Wrong or missing credentials.
    for path in [
        format!(
            "/connect/system/clinical?client_id={}&client_secret=wrong",
            client.client_id
        ),
        "/connect/system/clinical".to_owned(),
    ] {
        let reply = anonymous.get(&path).await;
        reply.expect(401);
        assert_eq!(reply.json()["success"], false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_a_system_redirects_with_a_state_hale_can_verify() {
    let (app, client, as_user, token) = directory_app().await;
    let path = format!(
        "/connect/system/clinical/1001?client_id={}&access_token={token}",
        client.client_id
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reply = no_redirects.get(app.url(&path)).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 302);
    let location = reply.headers()["location"].to_str().unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some("https://auth.mount-auburn-hospital-1.example/oauth2/authorize")
    );
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(
        query["aud"],
        "https://fhir.mount-auburn-hospital-1.example/api/FHIR/R4"
    );
    assert_eq!(query["redirect_uri"], app.url("/connect/callback"));
    assert!(query["scope"].contains("patient/*.read"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let state = hale_server::directory::connect::ConnectState::verify(
        &app.cursor_key,
        &query["state"],
        now,
    )
    .expect("the state verifies");
    assert_eq!(state.system, "1001");
    let me = app
        .identity
        .bearer(&token, "r4")
        .await
        .expect("the token is valid");
    let hale_store::Scope::User {
        app: app_id, user, ..
    } = me
    else {
        panic!("a user's scope");
    };
    assert_eq!((state.app, state.user), (app_id, user));

    // The JSON variant names the same system and a URL with a fresh state.
    let bearer = format!("Bearer {token}");
    let reply = app
        .with_credentials(&[
            ("authorization", &bearer),
            ("x-client-id", &client.client_id),
        ])
        .get("/api/clinical/1001?sendRedirectUrlAsResponse=true")
        .await;
    let body = reply.expect(200).json();
    assert_eq!(body["system_id"], "1001");
    assert_eq!(body["system_name"], "MOUNT AUBURN HOSPITAL");
    assert!(body["authorization_url"].as_str().unwrap().starts_with(
        "https://auth.mount-auburn-hospital-1.example/oauth2/authorize?response_type=code"
    ));

    // Refusals.
    let other = Client::register(&app, "other").await;
    let cases = [
        (
            format!(
                "/connect/system/clinical/1001?client_id={}&access_token={token}",
                other.client_id
            ),
            401,
        ),
        (
            format!(
                "/connect/system/clinical/1001?client_id={}&access_token=nope",
                client.client_id
            ),
            401,
        ),
        (
            format!("/connect/system/clinical/1001?access_token={token}"),
            400,
        ),
        (
            format!(
                "/connect/system/clinical/424242?client_id={}&access_token={token}",
                client.client_id
            ),
            404,
        ),
        // 5002 publishes no authorize URL.
        (
            format!(
                "/connect/system/clinical/5002?client_id={}&access_token={token}",
                client.client_id
            ),
            409,
        ),
    ];
    for (path, status) in cases {
        let reply = no_redirects.get(app.url(&path)).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), status, "{path}");
        let body: Value = reply.json().await.unwrap();
        assert_eq!(body["success"], false, "{path}");
    }
    let mismatch = app
        .with_credentials(&[
            ("authorization", &bearer),
            ("x-client-id", &other.client_id),
        ])
        .get("/api/clinical/1001")
        .await;
    mismatch.expect(401);
    // Without X-Client-Id the token alone says who asks.
    as_user.get("/api/clinical/1001").await.expect(200);
    // The operator is no user: there is no record to connect to.
    app.as_bearer(ADMIN_TOKEN)
        .get("/api/clinical/1001")
        .await
        .expect(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_is_fhir_that_everyone_reads_and_the_operator_changes() {
    let (app, _client, as_user, _) = directory_app().await;
    let organization = as_user.get("/r4/Organization/1001").await.resource(200);
    assert_eq!(organization["name"], "MOUNT AUBURN HOSPITAL");
    assert_eq!(organization["endpoint"][0]["reference"], "Endpoint/1001");
    let endpoint = as_user.get("/r4/Endpoint/1001").await.resource(200);
    assert_eq!(
        endpoint["address"],
        "https://fhir.mount-auburn-hospital-1.example/api/FHIR/R4"
    );
    assert_eq!(endpoint["connectionType"]["code"], "hl7-fhir-rest");
    let location = as_user.get("/r4/Location/1001-1").await.resource(200);
    assert_eq!(
        location["managingOrganization"]["reference"],
        "Organization/1001"
    );
    // FHIR search reaches it: the Organizations with an endpoint, with their Locations.
    let bundle = as_user
        .get("/r4/Organization?name=mount%20auburn&_revinclude=Location:organization&_include=Organization:endpoint")
        .await
        .resource(200);
    let found = entry_keys(&bundle);
    assert!(
        found.is_superset(&BTreeSet::from([
            "Organization/1001".to_owned(),
            "Endpoint/1001".to_owned(),
            "Location/1001-1".to_owned()
        ])),
        "{found:?}"
    );
    // Users may not change it.
    let mut renamed = organization.clone();
    renamed["name"] = json!("MOUNT AUBURN MEDICAL");
    as_user
        .put("/r4/Organization/1001", &renamed)
        .await
        .expect(403);
    // The operator may, and search sees the change.
    app.as_bearer(ADMIN_TOKEN)
        .put("/r4/Organization/1001", &renamed)
        .await
        .expect(200);
    let after = as_user
        .get("/api/search?query=mount%20auburn%20medical")
        .await
        .expect(200)
        .json();
    assert_eq!(after[0]["name"], "MOUNT AUBURN MEDICAL");
    // A deleted Endpoint takes its system out of the directory.
    app.as_bearer(ADMIN_TOKEN).delete("/r4/Endpoint/1001").await;
    let gone = as_user
        .get("/api/search?query=mount%20auburn%20medical")
        .await
        .expect(200)
        .json();
    assert_eq!(gone, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hale_directory_import_loads_lists_and_fhir_and_updates_in_place() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let csv = dir.path().join("systems.csv");
    std::fs::write(
        &csv,
        "name,type,fhir_base_url,ehr,authorize_url,location_name,address_line1,city,state,postal_code,latitude,longitude\n\
         Quabbin Valley Hospital,HealthSystem,https://fhir.quabbin.example/r4,Epic,https://auth.quabbin.example/authorize,Main,1 Reservoir Rd,Belchertown,MA,01007,42.28,-72.40\n\
         Quabbin Valley Hospital,HealthSystem,https://fhir.quabbin.example/r4,Epic,https://auth.quabbin.example/authorize,Annex,9 Dam St,Ware,MA,01082,42.26,-72.24\n\
         Nashoba Health Plan,PayerPatientAccess,https://fhir.nashoba.example/r4,,,,,,,,,\n",
    )
    .unwrap();
    let data_arg = data.to_str().unwrap();
    let first = run_hale([
        "directory",
        "import",
        "--data-dir",
        data_arg,
        "--json",
        csv.to_str().unwrap(),
    ]);
    assert!(first.status.success(), "{}", first.stderr);
    let summary: Value = serde_json::from_str(first.stdout.trim()).expect("a JSON summary");
    assert_eq!(summary["systems_created"], 2);
    assert_eq!(summary["resources"], 2 + 2 + 2);
    // Again with one location fewer and a new name: the same ids, updated, the annex removed.
    let json_list = dir.path().join("systems.json");
    std::fs::write(
        &json_list,
        json!([{"name": "Quabbin Valley Medical Center", "fhir_base_url": "https://fhir.quabbin.example/r4",
                "authorize_url": "https://auth.quabbin.example/authorize",
                "locations": [{"name": "Main", "address_line": "1 Reservoir Rd", "city": "Belchertown",
                               "state": "MA", "postal_code": "01007"}]}])
        .to_string(),
    )
    .unwrap();
    let second = run_hale([
        "directory",
        "import",
        "--data-dir",
        data_arg,
        "--json",
        json_list.to_str().unwrap(),
    ]);
    assert!(second.status.success(), "{}", second.stderr);
    let summary: Value = serde_json::from_str(second.stdout.trim()).unwrap();
    assert_eq!(
        (
            summary["systems_created"].as_u64(),
            summary["systems_updated"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(summary["locations_removed"], 1);
    // A FHIR Bundle loads as it is.
    let bundle = dir.path().join("bundle.json");
    std::fs::write(
        &bundle,
        json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Organization", "id": "fhir-org", "name": "Wachusett Clinic",
                          "endpoint": [{"reference": "Endpoint/fhir-ep"}]}},
            {"resource": {"resourceType": "Endpoint", "id": "fhir-ep", "status": "active",
                          "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
                          "payloadType": [{"text": "any"}], "address": "https://fhir.wachusett.example/r4"}}]})
        .to_string(),
    )
    .unwrap();
    let third = run_hale([
        "directory",
        "import",
        "--data-dir",
        data_arg,
        bundle.to_str().unwrap(),
    ]);
    assert!(third.status.success(), "{}", third.stderr);
    // A bad list is refused with the row, and writes nothing.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"name": "Ok", "fhir_base_url": "https://ok.example"}, {"name": "No URL", "fhir_base_url": "ftp://x"}]"#).unwrap();
    let refused = run_hale([
        "directory",
        "import",
        "--data-dir",
        data_arg,
        bad.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("system 2"), "{}", refused.stderr);

    let server = ServerProcess::start(&data, &[]).await;
    let operator = server.as_bearer(ADMIN_TOKEN);
    let all = operator.get("/api/all-systems").await.expect(200).json();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Nashoba Health Plan",
            "Quabbin Valley Medical Center",
            "Wachusett Clinic"
        ]
    );
    let quabbin = &all[1];
    assert_eq!(quabbin["address"], "1 Reservoir Rd, Belchertown, MA 01007");
    assert_eq!(quabbin["ehr"], "", "the second list names no EHR");
    let ids: Vec<String> = all.as_array().unwrap().iter().map(id_text).collect();
    assert_eq!(ids[..2], ["2", "1"]);
    operator.get("/r4/Location/1-2").await.expect(410);
}

/// The Da Vinci Plan-Net examples load through `hale directory import` as FHIR NDJSON; the one
/// Organization among them (Hale's additions) with a FHIR REST Endpoint becomes a system, the
/// payer whose only Endpoint is a portal (`rest-non-fhir`) does not, and all of them are readable
/// FHIR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_net_examples_load_through_hale_directory_import() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan-net");
    let data = dir.path().join("data");
    let loaded = run_hale([
        "directory".as_ref(),
        "import".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        fixtures.join("examples.ndjson").as_os_str(),
        fixtures.join("hale-additions.ndjson").as_os_str(),
    ]);
    assert!(loaded.status.success(), "{}", loaded.stderr);
    assert!(
        loaded.stderr.contains("55 resources written"),
        "{}",
        loaded.stderr
    );
    let server = ServerProcess::start(&data, &[]).await;
    let operator = server.as_bearer(ADMIN_TOKEN);
    let systems = operator.get("/api/all-systems").await.expect(200).json();
    assert_eq!(
        systems,
        json!([{"id": "hale-clinic", "name": "Hospital outpatient clinic", "address": "",
                "fhirVersion": "", "ehr": "",
                "resourceUrl": "https://fhir.hospital.example/r4",
                "logo": format!("{}/api/logo/health-system-default.svg", server.base_url)}])
    );
    // The guide's payer and its portal Endpoint (not FHIR) are there, but no system.
    let acme = operator.get("/r4/Organization/Acme").await.resource(200);
    assert_eq!(acme["name"], "Acme of CT");
    let portal = operator
        .get("/r4/Endpoint/AcmeOfCTPortalEndpoint")
        .await
        .resource(200);
    assert_eq!(portal["connectionType"]["code"], "rest-non-fhir");
    let bundle = operator
        .get("/r4/Organization?_id=Hospital&_revinclude=Endpoint:organization&_revinclude=Location:organization")
        .await
        .resource(200);
    let found = entry_keys(&bundle);
    let expected: BTreeSet<String> = [
        "Organization/Hospital",
        "Endpoint/hale-endpoint",
        "Location/HospLoc1",
        "Location/HospLoc2",
        "Location/hale-wing",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(found, expected);
}
