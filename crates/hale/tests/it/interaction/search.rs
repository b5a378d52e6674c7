//! The [search interaction](https://hl7.org/fhir/R4/search.html) over HTTP: every parameter type
//! through the whole stack, paging by absolute links while others write, totals, includes,
//! chains, compartments, system search, POST `_search`, strict and lenient handling, sorting and
//! summaries. The store's own contract suite checks each matching rule against a brute-force
//! oracle; these tests check what a client sees.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Http, PREFIXES, Reply, TestApp, id_of, link, unique};

/// The ids of the `match` entries of a searchset, in order.
fn matches(bundle: &Value) -> Vec<String> {
    entries(bundle, "match")
}

/// The `Type/id` of the entries with the given `search.mode`.
fn entries(bundle: &Value, mode: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap_or_else(|| panic!("a searchset always has entry: {bundle}"))
        .iter()
        .filter(|e| e["search"]["mode"] == mode)
        .map(|e| {
            let r = &e["resource"];
            if mode == "match" {
                id_of(r)
            } else {
                format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), id_of(r))
            }
        })
        .collect()
}

/// GET on an absolute URL that this server wrote.
async fn follow(http: &Http, url: &str) -> Reply {
    let base = http.url("");
    assert!(url.starts_with(&base), "{url} is not absolute on {base}");
    http.get(&url[base.len()..]).await
}

/// Every match of a search, following `next` links; asserts each page's size and no duplicates.
async fn all_pages(http: &Http, path: &str, count: usize) -> (Vec<String>, Vec<Value>) {
    let mut bundle = http.get(path).await.resource(200);
    let mut ids = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = matches(&bundle);
        assert!(page.len() <= count, "page larger than _count: {bundle}");
        ids.extend(page);
        let next = link(&bundle, "next");
        pages.push(bundle);
        match next {
            Some(url) => bundle = follow(http, &url).await.resource(200),
            None => break,
        }
    }
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates across pages: {ids:?}");
    (ids, pages)
}

fn person(family: &str, given: &str, gender: &str, birth: &str, tag: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "meta": {"tag": [{"system": "urn:hale-it:tag", "code": tag}]},
        "identifier": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": "urn:hale-it:mrn", "value": format!("{family}-{given}")
        }],
        "name": [{"family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth,
        "text": {"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{given} {family}, a <b>patient</b></div>")}
    })
}

fn vital(subject: &str, code: &str, value: f64, date: &str, encounter: Option<&str>) -> Value {
    let mut observation = json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": "Heart rate"},
        "subject": {"reference": subject},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"}
    });
    if let Some(encounter) = encounter {
        observation["encounter"] = json!({"reference": encounter});
    }
    observation
}

/// A small clinical data set: three patients, an encounter, five observations.
struct Fixture {
    tag: String,
    ana: String,
    bob: String,
    cyd: String,
    encounter: String,
    observations: Vec<String>,
}

async fn fixture(http: &Http) -> Fixture {
    let tag = unique("tag");
    let ana = id_of(
        &http
            .create(
                "/r4",
                &person("Álvarez", "Ana", "female", "1985-03-02", &tag),
            )
            .await,
    );
    let bob = id_of(
        &http
            .create("/r4", &person("Brown", "Bob", "male", "1992-11-20", &tag))
            .await,
    );
    let cyd = id_of(
        &http
            .create(
                "/r4",
                &person("Brownell", "Cyd", "other", "2001-07-14", &tag),
            )
            .await,
    );
    let encounter = id_of(
        &http
            .create(
                "/r4",
                &json!({"resourceType": "Encounter", "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                    "subject": {"reference": format!("Patient/{bob}")},
                    "period": {"start": "2010-05-01T10:00:00Z", "end": "2010-05-03T10:00:00Z"}}),
            )
            .await,
    );
    let mut observations = Vec::new();
    for (subject, code, value, date, enc) in [
        (&ana, "8867-4", 72.0, "2019-12-31T23:30:00Z", None),
        (&ana, "8867-4", 120.0, "2020-06-01T08:00:00Z", None),
        (
            &bob,
            "8867-4",
            99.6,
            "2010-05-02T09:00:00Z",
            Some(&encounter),
        ),
        (
            &bob,
            "8480-6",
            135.0,
            "2010-05-02T09:05:00+02:00",
            Some(&encounter),
        ),
        (&cyd, "8480-6", 101.0, "2021", None),
    ] {
        let enc = enc.map(|e| format!("Encounter/{e}"));
        observations.push(id_of(
            &http
                .create(
                    "/r4",
                    &vital(
                        &format!("Patient/{subject}"),
                        code,
                        value,
                        date,
                        enc.as_deref(),
                    ),
                )
                .await,
        ));
    }
    Fixture {
        tag,
        ana,
        bob,
        cyd,
        encounter,
        observations,
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parameter_type_matches_through_the_server() {
    let app = TestApp::start().await;
    let f = fixture(&app).await;
    let o = &f.observations;
    let tag = format!("_tag=urn:hale-it:tag%7C{}", f.tag);
    let cases: Vec<(String, Vec<&String>)> = vec![
        // string: prefix, accents and case folded; :exact; :contains
        (format!("Patient?{tag}&family=alvarez"), vec![&f.ana]),
        (format!("Patient?{tag}&family=BROWN"), vec![&f.bob, &f.cyd]),
        (format!("Patient?{tag}&family:exact=Brown"), vec![&f.bob]),
        (format!("Patient?{tag}&family:contains=owne"), vec![&f.cyd]),
        (format!("Patient?{tag}&name=cy,an"), vec![&f.ana, &f.cyd]),
        // token: code, system|code, :not, :of-type, :text, :missing
        (format!("Patient?{tag}&gender=male"), vec![&f.bob]),
        (
            format!("Patient?{tag}&gender:not=male"),
            vec![&f.ana, &f.cyd],
        ),
        (
            format!(
                "Patient?{tag}&identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203%7CMR%7CBrown-Bob"
            ),
            vec![&f.bob],
        ),
        (
            "Observation?code=http://loinc.org%7C8480-6".into(),
            vec![&o[3], &o[4]],
        ),
        ("Observation?code:text=heart".into(), o.iter().collect()),
        (
            "Observation?encounter:missing=true".into(),
            vec![&o[0], &o[1], &o[4]],
        ),
        // date: prefixes, partial dates, zones (09:05+02:00 is 07:05Z)
        (format!("Patient?{tag}&birthdate=1992"), vec![&f.bob]),
        (
            format!("Patient?{tag}&birthdate=gt1990-01-01"),
            vec![&f.bob, &f.cyd],
        ),
        (
            format!("Patient?{tag}&birthdate=le1992-11-20"),
            vec![&f.ana, &f.bob],
        ),
        ("Observation?date=2020".into(), vec![&o[1]]),
        (
            "Observation?date=ge2020&date=lt2021-06".into(),
            vec![&o[1], &o[4]],
        ),
        ("Observation?date=eb2011".into(), vec![&o[2], &o[3]]),
        ("Observation?date=2010-05-02T07:05:00Z".into(), vec![&o[3]]),
        // quantity and number: precision ranges, prefixes, units
        ("Observation?value-quantity=100".into(), vec![&o[2]]),
        (
            "Observation?value-quantity=gt100".into(),
            vec![&o[1], &o[3], &o[4]],
        ),
        (
            "Observation?value-quantity=le99.6%7Chttp://unitsofmeasure.org%7C/min".into(),
            vec![&o[0], &o[2]],
        ),
        // reference: id, Type/id, absolute URL, :Type, chains, :missing
        (
            format!("Observation?subject=Patient/{}", f.ana),
            vec![&o[0], &o[1]],
        ),
        (format!("Observation?patient={}", f.cyd), vec![&o[4]]),
        (
            format!("Observation?subject:Patient={}", f.cyd),
            vec![&o[4]],
        ),
        (
            format!("Observation?subject={}/r4/Patient/{}", app.url(""), f.cyd),
            vec![&o[4]],
        ),
        (
            "Observation?subject:Patient.gender=female".into(),
            vec![&o[0], &o[1]],
        ),
        (
            "Observation?encounter:Encounter.subject:Patient.family=brown".into(),
            vec![&o[2], &o[3]],
        ),
        // composite
        (
            "Observation?code-value-quantity=http://loinc.org%7C8480-6$gt110".into(),
            vec![&o[3]],
        ),
        // _id, _has, full text
        (
            format!("Patient?_id={},{}", f.ana, f.cyd),
            vec![&f.ana, &f.cyd],
        ),
        (
            format!("Patient?{tag}&_has:Observation:patient:code=8480-6"),
            vec![&f.bob, &f.cyd],
        ),
        (
            format!("Patient?{tag}&_has:Observation:subject:_has:Provenance:target:agent=x"),
            vec![],
        ),
        (format!("Patient?{tag}&_text=ana"), vec![&f.ana]),
        (format!("Patient?{tag}&_content=brownell"), vec![&f.cyd]),
    ];
    for (query, expected) in cases {
        for prefix in PREFIXES {
            let bundle = app
                .get(&format!("{prefix}/{query}&_count=100"))
                .await
                .resource(200);
            assert_eq!(bundle["type"], "searchset");
            let expected: Vec<String> = expected.iter().map(|s| (*s).clone()).collect();
            assert_eq!(
                sorted(matches(&bundle)),
                sorted(expected.clone()),
                "{prefix}/{query}"
            );
            assert_eq!(bundle["total"], expected.len(), "{prefix}/{query}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quantities_compare_as_written_without_a_unit_and_canonically_with_one() {
    let app = TestApp::start().await;
    let weight = |value: f64, code: &str| {
        json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "valueQuantity": {"value": value, "unit": code, "system": "http://unitsofmeasure.org", "code": code}})
    };
    let kilos = id_of(&app.create("/r4", &weight(70.0, "kg")).await);
    let pounds = id_of(&app.create("/r4", &weight(154.0, "[lb_av]")).await);
    let grams = id_of(&app.create("/r4", &weight(69_500.0, "g")).await);
    let search = |q: &str| format!("/r4/Observation?code=29463-7&value-quantity={q}");
    let found = |bundle: Value| sorted(matches(&bundle));
    // Without a unit, values compare as written: only 154 and 69,500 are above 100.
    assert_eq!(
        found(app.get(&search("gt100")).await.resource(200)),
        sorted(vec![pounds.clone(), grams.clone()])
    );
    // In a UCUM unit, every mass compares in grams: 70 kg = 70,000 g, 154 lb = 69,853 g.
    assert_eq!(
        found(
            app.get(&search("gt69.6%7Chttp://unitsofmeasure.org%7Ckg"))
                .await
                .resource(200)
        ),
        sorted(vec![kilos.clone(), pounds.clone()])
    );
    assert_eq!(
        found(
            app.get(&search("70%7Chttp://unitsofmeasure.org%7Ckg"))
                .await
                .resource(200)
        ),
        sorted(vec![kilos.clone(), pounds.clone(), grams.clone()]),
        "70 kg means [69.5, 70.5) kg"
    );
    // Sorting uses the values as written.
    let by_value = app
        .get("/r4/Observation?code=29463-7&_sort=value-quantity")
        .await
        .resource(200);
    assert_eq!(matches(&by_value), vec![kilos, pounds, grams]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_follows_absolute_links_without_gaps_or_duplicates_while_others_write() {
    let app = TestApp::start().await;
    let tag = unique("page");
    let mut created = Vec::new();
    for i in 0..25 {
        let patient = person("Pager", &format!("P{i:02}"), "female", "1990-01-01", &tag);
        created.push(id_of(&app.create("/r4", &patient).await));
    }
    let path = format!("/r4/Patient?_tag=urn:hale-it:tag%7C{tag}&_count=10");
    let first = app.get(&path).await.resource(200);
    assert_eq!(first["total"], 25);
    assert_eq!(matches(&first).len(), 10);
    assert!(link(&first, "previous").is_none());
    assert!(
        link(&first, "self")
            .unwrap()
            .starts_with(&app.url("/r4/Patient?"))
    );
    // Writes between pages: a new match and an update of a resource on a later page.
    app.create(
        "/r4",
        &person("Pager", "Late", "female", "1990-01-01", &tag),
    )
    .await;
    let mut ids = matches(&first);
    let second = follow(&app, &link(&first, "next").expect("a next link"))
        .await
        .resource(200);
    assert_eq!(
        second["total"], 25,
        "the total keeps the first page's horizon"
    );
    ids.extend(matches(&second));
    let third = follow(&app, &link(&second, "next").expect("a next link"))
        .await
        .resource(200);
    ids.extend(matches(&third));
    assert!(
        link(&third, "next").is_none(),
        "the last page has no next link"
    );
    assert_eq!(ids, created, "creation order, each once");
    // previous goes back to the second page.
    let back = follow(&app, &link(&third, "previous").expect("a previous link"))
        .await
        .resource(200);
    assert_eq!(matches(&back), matches(&second));
    // _skip pages by offset, as 1up clients do.
    // A new search sees the patient created meanwhile, after the others.
    let skipped = app.get(&format!("{path}&_skip=20")).await.resource(200);
    assert_eq!(skipped["total"], 26);
    assert_eq!(matches(&skipped)[..5], created[20..]);
    assert_eq!(matches(&skipped).len(), 6);
    // Every page size pages through everything once.
    for count in [1, 7, 25, 100] {
        let (all, _) = all_pages(
            &app,
            &format!(
                "/r4/Patient?_tag=urn:hale-it:tag%7C{tag}&_count={count}&_sort=-birthdate,given"
            ),
            count,
        )
        .await;
        assert_eq!(all.len(), 26, "_count={count}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_are_opaque_signed_and_bound_to_their_search() {
    let app = TestApp::start().await;
    let tag = unique("cursor");
    for i in 0..3 {
        app.create(
            "/r4",
            &person("Cursor", &format!("C{i}"), "male", "1990-01-01", &tag),
        )
        .await;
    }
    let path = format!("/r4/Patient?_tag=urn:hale-it:tag%7C{tag}&_count=1");
    let next = link(&app.get(&path).await.resource(200), "next").unwrap();
    let cursor = next.split("_cursor=").nth(1).unwrap().to_owned();
    // The same cursor on another search, or altered, is refused with a 400 naming it.
    let other = format!("/r4/Patient?gender=male&_count=1&_cursor={cursor}");
    let outcome = app.get(&other).await.outcome(400, "invalid");
    assert!(outcome.to_string().contains("_cursor"));
    let altered = next.replace("_cursor=", "_cursor=x");
    follow(&app, &altered).await.outcome(400, "invalid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_summaries_and_elements() {
    let app = TestApp::start().await;
    let f = fixture(&app).await;
    let tag = format!("_tag=urn:hale-it:tag%7C{}", f.tag);
    let none = app
        .get(&format!("/r4/Patient?{tag}&_total=none"))
        .await
        .resource(200);
    assert!(none.get("total").is_none());
    assert_eq!(matches(&none).len(), 3);
    let count = app
        .get(&format!("/r4/Patient?{tag}&_summary=count"))
        .await
        .resource(200);
    assert_eq!(count["total"], 3);
    assert_eq!(
        count["entry"],
        json!([]),
        "entry is present even when empty"
    );
    let empty = app
        .get("/r4/Patient?family=nobody-has-this-name")
        .await
        .resource(200);
    assert_eq!(empty["total"], 0);
    assert_eq!(empty["entry"], json!([]));
    // _summary=true keeps summary elements only and marks the resource SUBSETTED.
    let summary = app
        .get(&format!("/r4/Patient?_id={}&_summary=true", f.ana))
        .await
        .resource(200);
    let resource = &summary["entry"][0]["resource"];
    assert!(resource.get("text").is_none());
    assert_eq!(resource["gender"], "female");
    assert!(resource["meta"]["tag"].to_string().contains("SUBSETTED"));
    let data = app
        .get(&format!("/r4/Patient?_id={}&_summary=data", f.ana))
        .await
        .resource(200);
    assert!(data["entry"][0]["resource"].get("text").is_none());
    assert!(data["entry"][0]["resource"].get("name").is_some());
    let elements = app
        .get(&format!("/r4/Patient?_id={}&_elements=gender", f.ana))
        .await
        .resource(200);
    let resource = &elements["entry"][0]["resource"];
    assert_eq!(resource["gender"], "female");
    assert!(resource.get("name").is_none());
    assert_eq!(resource["id"], f.ana.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn includes_and_revincludes_are_marked_deduplicated_and_not_counted() {
    let app = TestApp::start().await;
    let f = fixture(&app).await;
    let bundle = app
        .get("/r4/Observation?code=8867-4&_include=Observation:subject&_count=100")
        .await
        .resource(200);
    assert_eq!(bundle["total"], 3);
    assert_eq!(matches(&bundle).len(), 3);
    assert_eq!(
        sorted(entries(&bundle, "include")),
        sorted(vec![
            format!("Patient/{}", f.ana),
            format!("Patient/{}", f.bob)
        ]),
        "each patient once"
    );
    let typed = app
        .get("/r4/Observation?code=8480-6&_include=Observation:encounter:Encounter&_include=Observation:subject:Group")
        .await
        .resource(200);
    assert_eq!(
        entries(&typed, "include"),
        vec![format!("Encounter/{}", f.encounter)]
    );
    let star = app
        .get("/r4/Observation?code=8480-6&_include=*")
        .await
        .resource(200);
    assert_eq!(entries(&star, "include").len(), 3, "{star}");
    let rev = app
        .get(&format!(
            "/r4/Patient?_id={}&_revinclude=Observation:subject",
            f.bob
        ))
        .await
        .resource(200);
    assert_eq!(rev["total"], 1);
    assert_eq!(entries(&rev, "include").len(), 2);
    // :iterate follows the included Encounter's own references.
    let iterate = app
        .get(&format!(
            "/r4/Observation?_id={}&_include=Observation:encounter&_include:iterate=Encounter:subject",
            f.observations[3]
        ))
        .await
        .resource(200);
    assert_eq!(
        sorted(entries(&iterate, "include")),
        sorted(vec![
            format!("Encounter/{}", f.encounter),
            format!("Patient/{}", f.bob)
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn includes_beyond_the_limit_are_too_costly_rather_than_unbounded() {
    let app = TestApp::builder().max_included(2).start().await;
    let f = fixture(&app).await;
    // Two included resources fit; Ana's and Bob's Patients and Bob's Encounter do not.
    let fits = app
        .get("/r4/Observation?code=8867-4&_include=Observation:subject")
        .await
        .resource(200);
    assert_eq!(entries(&fits, "include").len(), 2);
    let outcome = app
        .get("/r4/Observation?_include=Observation:subject&_include=Observation:encounter")
        .await
        .outcome(400, "too-costly");
    assert!(
        outcome
            .to_string()
            .contains("_revinclude query have exceeded inner query limit")
    );
    // The same search in smaller pages works.
    let small = app
        .get(&format!(
            "/r4/Observation?_id={}&_include=Observation:subject&_include=Observation:encounter",
            f.observations[3]
        ))
        .await
        .resource(200);
    assert_eq!(entries(&small, "include").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compartment_system_and_post_searches() {
    let app = TestApp::start().await;
    let f = fixture(&app).await;
    let o = &f.observations;
    let compartment = app
        .get(&format!("/r4/Patient/{}/Observation?code=8867-4", f.bob))
        .await
        .resource(200);
    assert_eq!(matches(&compartment), vec![o[2].clone()]);
    let everything = app
        .get(&format!("/fhir/r4/Patient/{}/Observation", f.ana))
        .await
        .resource(200);
    assert_eq!(
        sorted(matches(&everything)),
        sorted(vec![o[0].clone(), o[1].clone()])
    );
    let system = app
        .get(&format!(
            "/r4?_type=Patient,Encounter&_id={},{}",
            f.cyd, f.encounter
        ))
        .await
        .resource(200);
    assert_eq!(
        sorted(matches(&system)),
        sorted(vec![f.cyd.clone(), f.encounter.clone()])
    );
    let posted = app
        .send(
            app.request(Method::POST, "/r4/Patient/_search?_count=100")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!(
                    "_tag=urn:hale-it:tag%7C{}&gender=male,other",
                    f.tag
                )),
        )
        .await
        .resource(200);
    assert_eq!(
        sorted(matches(&posted)),
        sorted(vec![f.bob.clone(), f.cyd.clone()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorting_on_several_keys_and_directions() {
    let app = TestApp::start().await;
    let f = fixture(&app).await;
    let tag = format!("_tag=urn:hale-it:tag%7C{}", f.tag);
    let by = |sort: &str| format!("/r4/Patient?{tag}&_sort={sort}");
    assert_eq!(
        matches(&app.get(&by("birthdate")).await.resource(200)),
        vec![f.ana.clone(), f.bob.clone(), f.cyd.clone()]
    );
    assert_eq!(
        matches(&app.get(&by("-birthdate")).await.resource(200)),
        vec![f.cyd.clone(), f.bob.clone(), f.ana.clone()]
    );
    assert_eq!(
        matches(&app.get(&by("-family,given")).await.resource(200)),
        vec![f.cyd.clone(), f.bob.clone(), f.ana.clone()]
    );
    let observations = app
        .get("/r4/Observation?_sort=code,-value-quantity")
        .await
        .resource(200);
    let o = &f.observations;
    assert_eq!(
        matches(&observations),
        vec![
            o[3].clone(),
            o[4].clone(),
            o[1].clone(),
            o[2].clone(),
            o[0].clone()
        ]
    );
    let by_id = app.get(&by("_id")).await.resource(200);
    let mut ids = vec![f.ana.clone(), f.bob.clone(), f.cyd.clone()];
    ids.sort();
    assert_eq!(matches(&by_id), ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_parameters_are_reported_leniently_refused_strictly_and_bad_values_always() {
    let app = TestApp::start().await;
    fixture(&app).await;
    let lenient = app
        .get("/r4/Patient?gender=male&frobnicate=1")
        .await
        .resource(200);
    assert_eq!(lenient["total"], 1);
    let outcome = lenient["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("an outcome entry names the ignored parameter");
    assert!(outcome["resource"].to_string().contains("frobnicate"));
    let strict = app
        .send(
            app.request(Method::GET, "/r4/Patient?gender=male&frobnicate=1")
                .header("Prefer", "handling=strict"),
        )
        .await;
    assert!(
        strict
            .outcome(400, "not-supported")
            .to_string()
            .contains("frobnicate")
    );
    for (query, param) in [
        ("Patient?birthdate=yesterday", "birthdate"),
        ("Observation?value-quantity=lots", "value-quantity"),
        ("Patient?_count=ten", "_count"),
        ("Patient?_skip=-1", "_skip"),
        ("Patient?_sort=gender&_total=maybe", "_total"),
        ("Observation?subject=NotAType/1", "subject"),
    ] {
        let outcome = app
            .get(&format!("/r4/{query}"))
            .await
            .outcome(400, "invalid");
        assert!(outcome.to_string().contains(param), "{query}: {outcome}");
    }
    app.get("/r4/Patient?_skip=9991")
        .await
        .outcome(400, "invalid");
    app.get("/r4/Patient?_skip=9990").await.resource(200);
}
