//! The [history interaction](https://hl7.org/fhir/R4/http.html#history) at instance, type and
//! system level, with `_count`, `_since` and `next` paging.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::{Http, PREFIXES, TestApp, id_of, observation, patient, unique};

/// Most pages a test follows; more means the `next` links loop.
const MAX_PAGES: usize = 50;

/// The absolute `link` of `relation`, if any.
fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)?["url"]
        .as_str()
        .map(str::to_owned)
}

/// `(Type/id, version)` of a history entry, read from its `fullUrl` and `response.etag`.
fn entry_key(entry: &Value) -> (String, u64) {
    let full_url = entry["fullUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("an entry without fullUrl: {entry}"));
    let mut parts = full_url.rsplit('/');
    let id = parts.next().unwrap_or("");
    let resource_type = parts.next().unwrap_or("");
    let etag = entry["response"]["etag"]
        .as_str()
        .unwrap_or_else(|| panic!("an entry without response.etag: {entry}"));
    let version = etag
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .unwrap_or_else(|_| panic!("etag {etag:?}"));
    (format!("{resource_type}/{id}"), version)
}

/// Follows `next` links from `path` and returns every page, checking each link's prefix.
async fn all_pages(http: &Http, prefix: &str, path: &str) -> Vec<Value> {
    let mut pages = vec![http.get(path).await.resource(200)];
    while let Some(next) = pages.last().and_then(|page| link(page, "next")) {
        let expected = format!("{}{prefix}/", http.base_url);
        assert!(
            next.starts_with(&expected),
            "next link {next} does not echo {expected}"
        );
        assert!(
            pages.len() < MAX_PAGES,
            "more than {MAX_PAGES} pages: the next links do not end"
        );
        pages.push(
            http.get(next.trim_start_matches(&http.base_url))
                .await
                .resource(200),
        );
    }
    pages
}

/// The entries of all pages, asserting that none repeats and each page holds at most `count`.
fn entries_without_duplicates(pages: &[Value], count: usize) -> Vec<Value> {
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for page in pages {
        assert_eq!(page["resourceType"], "Bundle");
        assert_eq!(page["type"], "history");
        let on_page = page["entry"].as_array().cloned().unwrap_or_default();
        assert!(
            on_page.len() <= count,
            "a page holds {} entries for _count={count}",
            on_page.len()
        );
        for entry in on_page {
            assert!(
                seen.insert(entry_key(&entry)),
                "{:?} appears twice across pages",
                entry_key(&entry)
            );
            entries.push(entry);
        }
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_history_lists_every_version_newest_first() {
    let app = TestApp::start().await;
    for prefix in PREFIXES {
        let created = app.create(prefix, &patient(&unique("history"))).await;
        let id = id_of(&created);
        let path = format!("{prefix}/Patient/{id}");
        let mut changed = created.clone();
        changed["active"] = json!(false);
        app.put(&path, &changed).await.expect(200);
        app.patch(
            &path,
            &json!([{"op": "add", "path": "/gender", "value": "other"}]),
        )
        .await
        .expect(200);
        app.delete(&path).await.expect(200);

        let history = app.get(&format!("{path}/_history")).await.resource(200);
        assert_eq!(history["type"], "history");
        assert_eq!(history["total"], 4);
        let self_link = link(&history, "self").expect("a self link");
        assert!(
            self_link.starts_with(&format!("{}{prefix}/Patient/{id}/_history", app.base_url)),
            "self link {self_link}"
        );
        let entries = history["entry"].as_array().expect("entries");
        let methods: Vec<&str> = entries
            .iter()
            .map(|e| e["request"]["method"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(methods, ["DELETE", "PATCH", "PUT", "POST"]);
        let versions: Vec<u64> = entries.iter().map(|e| entry_key(e).1).collect();
        assert_eq!(versions, [4, 3, 2, 1]);
        for entry in entries {
            assert_eq!(
                entry["fullUrl"],
                format!("{}{prefix}/Patient/{id}", app.base_url)
            );
            assert!(
                entry["response"]["status"]
                    .as_str()
                    .is_some_and(|s| s.starts_with('2')),
                "{entry}"
            );
        }
        assert!(
            entries[0].get("resource").is_none(),
            "a deletion carries no resource: {}",
            entries[0]
        );
        assert_eq!(entries[1]["resource"]["gender"], "other");
        assert_eq!(
            entries[3]["resource"], created,
            "the first version is as created"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_history_pages_with_count_and_next_links_without_duplicates() {
    let app = TestApp::start().await;
    let mut expected = HashSet::new();
    for n in 0..4 {
        let created = app.create("/r4", &patient(&unique("type-history"))).await;
        let id = id_of(&created);
        expected.insert((format!("Patient/{id}"), 1));
        if n % 2 == 0 {
            let mut changed = created.clone();
            changed["active"] = json!(false);
            app.put(&format!("/r4/Patient/{id}"), &changed)
                .await
                .expect(200);
            expected.insert((format!("Patient/{id}"), 2));
        }
    }
    // Another type stays out of the Patient history.
    app.create("/r4", &observation("Patient/x", &unique("other-type")))
        .await;

    for prefix in PREFIXES {
        let pages = all_pages(&app, prefix, &format!("{prefix}/Patient/_history?_count=2")).await;
        assert!(
            pages.len() >= 3,
            "6 versions at 2 per page need 3 pages, got {}",
            pages.len()
        );
        assert_eq!(pages[0]["total"], 6);
        let entries = entries_without_duplicates(&pages, 2);
        let got: HashSet<(String, u64)> = entries.iter().map(entry_key).collect();
        assert_eq!(got, expected);
        let instants: Vec<&str> = entries
            .iter()
            .map(|e| e["response"]["lastModified"].as_str().unwrap_or(""))
            .collect();
        assert!(
            instants.windows(2).all(|w| w[0] >= w[1]),
            "history is newest first: {instants:?}"
        );
        // A page with fewer entries than _count is the last one.
        for page in &pages {
            if page["entry"].as_array().map_or(0, Vec::len) < 2 {
                assert!(
                    link(page, "next").is_none(),
                    "a short page has no next link: {page}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_history_covers_every_type_and_pages() {
    let app = TestApp::start().await;
    let mut expected = HashSet::new();
    for _ in 0..3 {
        let subject = app.create("/r4", &patient(&unique("system-history"))).await;
        let subject_id = id_of(&subject);
        expected.insert((format!("Patient/{subject_id}"), 1));
        let obs = app
            .create(
                "/r4",
                &observation(&format!("Patient/{subject_id}"), &unique("obs")),
            )
            .await;
        expected.insert((format!("Observation/{}", id_of(&obs)), 1));
    }
    for prefix in PREFIXES {
        let first = app.get(&format!("{prefix}/_history")).await.resource(200);
        assert_eq!(first["total"], 6);
        let pages = all_pages(&app, prefix, &format!("{prefix}/_history?_count=4")).await;
        let got: HashSet<(String, u64)> = entries_without_duplicates(&pages, 4)
            .iter()
            .map(entry_key)
            .collect();
        assert_eq!(got, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_stay_stable_while_others_write() {
    let app = TestApp::start().await;
    let mut before = HashSet::new();
    for _ in 0..4 {
        before.insert((
            format!(
                "Patient/{}",
                id_of(&app.create("/r4", &patient(&unique("stable"))).await)
            ),
            1,
        ));
    }
    let first = app.get("/r4/Patient/_history?_count=2").await.resource(200);
    let next = link(&first, "next").expect("a next link");
    // New versions written between pages must not shift the pages already handed out.
    for _ in 0..3 {
        app.create("/r4", &patient(&unique("stable-later"))).await;
    }
    let mut pages = vec![
        first,
        app.get(next.trim_start_matches(&app.base_url))
            .await
            .resource(200),
    ];
    while let Some(next) = pages.last().and_then(|page| link(page, "next")) {
        assert!(pages.len() < MAX_PAGES, "the next links do not end");
        pages.push(
            app.get(next.trim_start_matches(&app.base_url))
                .await
                .resource(200),
        );
    }
    let got: HashSet<(String, u64)> = entries_without_duplicates(&pages, 2)
        .iter()
        .map(entry_key)
        .collect();
    assert_eq!(
        got, before,
        "the pages list exactly the versions that existed when paging began"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_since_keeps_the_versions_at_or_after_the_instant() {
    let app = TestApp::start().await;
    let mut written = Vec::new();
    for _ in 0..5 {
        let created = app.create("/r4", &patient(&unique("since"))).await;
        written.push((
            format!("Patient/{}", id_of(&created)),
            created["meta"]["lastUpdated"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        ));
    }
    let since = written[2].1.clone();
    let expected: HashSet<String> = written
        .iter()
        .filter(|(_, at)| *at >= since)
        .map(|(key, _)| key.clone())
        .collect();
    for prefix in PREFIXES {
        for path in [
            format!("{prefix}/Patient/_history?_since={since}"),
            format!("{prefix}/_history?_since={since}&_count=100"),
        ] {
            let bundle = app.get(&path).await.resource(200);
            let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
            let got: HashSet<String> = entries.iter().map(|e| entry_key(e).0).collect();
            assert!(
                got.is_superset(&expected),
                "{path}: {got:?} misses some of {expected:?}"
            );
            for entry in &entries {
                let at = entry["response"]["lastModified"].as_str().unwrap_or("");
                assert!(
                    at >= since.as_str(),
                    "{path}: a version at {at} is before _since={since}"
                );
            }
        }
        // The first resource was written before the instant (unless within the same millisecond).
        if written[0].1 < since {
            let instance = app
                .get(&format!(
                    "{prefix}/{}/_history?_since={since}",
                    written[0].0
                ))
                .await
                .resource(200);
            assert!(
                instance["entry"].as_array().is_none_or(Vec::is_empty),
                "an older version is filtered out: {instance}"
            );
        }
        let future = app
            .get(&format!("{prefix}/_history?_since=2999-01-01T00:00:00Z"))
            .await
            .resource(200);
        assert_eq!(future["total"], 0);
        assert!(
            future["entry"].as_array().is_none_or(Vec::is_empty),
            "nothing is newer than the future: {future}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_with_bad_parameters_or_unknown_targets_fails_precisely() {
    let app = TestApp::start().await;
    let id = id_of(&app.create("/r4", &patient(&unique("history-errors"))).await);
    for prefix in PREFIXES {
        app.get(&format!("{prefix}/Patient/{id}/_history?_count=many"))
            .await
            .outcome(400, "value");
        app.get(&format!("{prefix}/_history?_count=-1"))
            .await
            .outcome(400, "value");
        app.get(&format!("{prefix}/Patient/_history?_since=yesterday"))
            .await
            .outcome(400, "value");
        app.get(&format!("{prefix}/Patient/unknown-id/_history"))
            .await
            .outcome(404, "not-found");
        app.get(&format!("{prefix}/NotAType/_history"))
            .await
            .outcome(404, "not-supported");
    }
}
