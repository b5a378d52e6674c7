//! Checks of Patient records ([`ResourceStore::record`], [`crate::WriteTx::record_members`] and
//! [`crate::WriteTx::purge`]): the members in type and id order, paging, totals, filters, the
//! directory, scopes, and erasing.
//!
//! The fixture: Alice's Patient `p` with two Observations (one dated 2019, one 2021, both naming
//! Practitioner `dr`), a MedicationRequest for Medication `m1`, and Device `d1` that names `p`;
//! Bob's Observation in `p`'s compartment and Bob's Medication `bob-m` that Alice's second
//! MedicationRequest names; Alice's Patient `q` with an Observation naming `dr` and Organization
//! `org`; and operator Practitioner `dr`.

use std::sync::Arc;

use hale_fhir::Instant;
use hale_search::index::IndexEntry;

use super::R4;
use super::property::{ALICE, BOB};
use super::search::{add_in as add, reference};
use crate::{
    RecordPageRequest, RecordQuery, ResourceStore, Scope, StoreError, WriteDecision, write_with,
};

const YEAR_2019: (i64, i64) = (1_546_300_800_000_000, 1_577_836_799_999_999);
const YEAR_2021: (i64, i64) = (1_609_459_200_000_000, 1_640_995_199_999_999);

fn date((low, high): (i64, i64)) -> IndexEntry {
    IndexEntry::Date {
        code: "date",
        low,
        high,
    }
}

async fn write_fixture(s: &dyn ResourceStore) {
    add(s, None, "Practitioner", "dr", vec![], &[]).await;
    add(s, Some(ALICE), "Organization", "org", vec![], &[]).await;
    add(s, Some(ALICE), "Patient", "p", vec![], &["p"]).await;
    for (id, year) in [("o2019", YEAR_2019), ("o2021", YEAR_2021)] {
        let index = vec![
            reference("subject", "Patient/p"),
            reference("performer", "Practitioner/dr"),
            date(year),
        ];
        add(s, Some(ALICE), "Observation", id, index, &["p"]).await;
    }
    add(s, Some(ALICE), "Medication", "m1", vec![], &[]).await;
    add(s, Some(BOB), "Medication", "bob-m", vec![], &[]).await;
    for (id, medication) in [("mr1", "Medication/m1"), ("mr2", "Medication/bob-m")] {
        let index = vec![
            reference("subject", "Patient/p"),
            reference("medication", medication),
        ];
        add(s, Some(ALICE), "MedicationRequest", id, index, &["p"]).await;
    }
    let device = vec![reference("patient", "Patient/p")];
    add(s, Some(ALICE), "Device", "d1", device, &[]).await;
    let bobs = vec![reference("subject", "Patient/p")];
    add(s, Some(BOB), "Observation", "bob-o", bobs, &["p"]).await;
    add(s, Some(ALICE), "Patient", "q", vec![], &["q"]).await;
    let index = vec![
        reference("subject", "Patient/q"),
        reference("performer", "Practitioner/dr"),
        reference("performer", "Organization/org"),
    ];
    add(s, Some(ALICE), "Observation", "oq", index, &["q"]).await;
}

fn query(patient: Option<&str>) -> RecordQuery {
    RecordQuery {
        fhir_version: R4,
        patient: patient.map(str::to_owned),
        types: Vec::new(),
        since: None,
        care: None,
    }
}

/// Every member of `query` under `scope` as `Type/id`, read `per_page` at a time by position,
/// checked against the first page's total and against reading them by offset.
async fn members(s: &dyn ResourceStore, scope: &Scope, query: &RecordQuery) -> Vec<String> {
    let key = |hit: &crate::Hit| format!("{}/{}", hit.resource.resource_type, hit.resource.id);
    let per_page = 2;
    let mut page = RecordPageRequest {
        limit: per_page,
        total: true,
        ..RecordPageRequest::default()
    };
    let first = s.record(scope, query, &page).await.unwrap();
    let total = first.total.unwrap();
    let mut found: Vec<String> = first.hits.iter().map(key).collect();
    let mut last = first.hits.last().map(|h| h.position.clone());
    page.total = false;
    page.horizon = Some(first.horizon);
    while let Some(after) = last {
        page.after = Some(after);
        let next = s.record(scope, query, &page).await.unwrap();
        assert!(next.total.is_none() && next.directory.is_empty());
        found.extend(next.hits.iter().map(key));
        last = (next.hits.len() == per_page)
            .then(|| next.hits.last().map(|h| h.position.clone()))
            .flatten();
    }
    assert_eq!(found.len() as u64, total, "the total of {query:?}");
    let mut by_offset = Vec::new();
    for offset in (0..found.len()).step_by(3) {
        let page = RecordPageRequest {
            limit: 3,
            offset,
            ..RecordPageRequest::default()
        };
        let read = s.record(scope, query, &page).await.unwrap();
        by_offset.extend(read.hits.iter().map(key));
    }
    assert_eq!(by_offset, found, "by offset, {query:?}");
    found
}

async fn directory(s: &dyn ResourceStore, scope: &Scope, query: &RecordQuery) -> Vec<String> {
    let page = RecordPageRequest {
        limit: 1,
        directory: true,
        ..RecordPageRequest::default()
    };
    let read = s.record(scope, query, &page).await.unwrap();
    read.directory
        .iter()
        .map(|r| format!("{}/{}", r.resource_type, r.id))
        .collect()
}

/// A record is the Patient, its compartment, and the Medications and Devices it references or
/// that name it, in type and id order; its directory is what it references of the rest.
pub async fn record_members_in_order(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    write_fixture(s).await;
    let p = query(Some("p"));
    assert_eq!(
        members(s, &Scope::All, &p).await,
        [
            "Device/d1",
            "Medication/bob-m",
            "Medication/m1",
            "MedicationRequest/mr1",
            "MedicationRequest/mr2",
            "Observation/bob-o",
            "Observation/o2019",
            "Observation/o2021",
            "Patient/p",
        ]
    );
    assert_eq!(directory(s, &Scope::All, &p).await, ["Practitioner/dr"]);
    assert_eq!(
        directory(s, &Scope::All, &query(Some("q"))).await,
        ["Organization/org", "Practitioner/dr"]
    );
    // Every Patient's record: each resource once.
    let every = members(s, &Scope::All, &query(None)).await;
    assert_eq!(every.len(), 11);
    assert!(every.contains(&"Observation/oq".to_owned()));
}

/// Nothing outside the scope is a member or brings one in: not Bob's Observation, not Bob's
/// Medication that Alice's request names.
pub async fn record_keeps_to_the_scope(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    write_fixture(s).await;
    let alice = Scope::user(ALICE);
    assert_eq!(
        members(s, &alice, &query(Some("p"))).await,
        [
            "Device/d1",
            "Medication/m1",
            "MedicationRequest/mr1",
            "MedicationRequest/mr2",
            "Observation/o2019",
            "Observation/o2021",
            "Patient/p",
        ]
    );
    let bob = Scope::user(BOB);
    // Bob's view of `p`'s compartment (the engine refuses it first, since `p` is not his).
    assert_eq!(
        members(s, &bob, &query(Some("p"))).await,
        ["Observation/bob-o"]
    );
    assert_eq!(members(s, &bob, &query(None)).await, Vec::<String>::new());
    assert_eq!(members(s, &alice, &query(None)).await.len(), 9);
}

/// `_type`, `_since` and the date of care narrow the members; undated ones stay.
pub async fn record_filters(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    write_fixture(s).await;
    let mut observations = query(Some("p"));
    observations.types = vec!["Observation".into(), "Patient".into()];
    assert_eq!(
        members(s, &Scope::user(ALICE), &observations).await,
        ["Observation/o2019", "Observation/o2021", "Patient/p"]
    );
    let mut care = query(Some("p"));
    care.care = Some((YEAR_2021.0, i64::MAX));
    let found = members(s, &Scope::user(ALICE), &care).await;
    assert!(!found.contains(&"Observation/o2019".to_owned()));
    assert!(found.contains(&"Observation/o2021".to_owned()));
    assert!(found.contains(&"Patient/p".to_owned()), "undated stays");
    let mut since = query(Some("p"));
    since.since = Some(Instant(i64::MAX - 1));
    assert!(members(s, &Scope::All, &since).await.is_empty());
}

/// The members erasing sees, what of them others need, and a purge that leaves nothing behind.
pub async fn record_erase(store: Arc<dyn ResourceStore>) {
    let s = store.as_ref();
    write_fixture(s).await;
    let erasable = write_with(s, |tx| {
        let found = tx.record_members(R4, "p");
        (WriteDecision::Rollback, found)
    })
    .await
    .unwrap()
    .unwrap();
    let mut seen: Vec<(String, bool)> = erasable
        .iter()
        .map(|m| (format!("{}/{}", m.resource_type, m.id), m.shared))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Device/d1".to_owned(), false),
            ("Medication/bob-m".to_owned(), false),
            ("Medication/m1".to_owned(), false),
            ("MedicationRequest/mr1".to_owned(), false),
            ("MedicationRequest/mr2".to_owned(), false),
            ("Observation/bob-o".to_owned(), false),
            ("Observation/o2019".to_owned(), false),
            ("Observation/o2021".to_owned(), false),
            ("Patient/p".to_owned(), false),
            // `q`'s Observation names the Practitioner too.
            ("Practitioner/dr".to_owned(), true),
        ]
    );
    let purged: Result<(), StoreError> = write_with(s, |tx| {
        let result = ["o2021", "o2019"]
            .iter()
            .try_for_each(|id| tx.purge(R4, "Observation", id));
        (WriteDecision::Commit, result)
    })
    .await
    .unwrap();
    purged.unwrap();
    for id in ["o2019", "o2021"] {
        assert!(
            s.read(&Scope::All, R4, "Observation", id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.vread(&Scope::All, R4, "Observation", id, 1)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(
        members(s, &Scope::user(ALICE), &query(Some("p"))).await,
        [
            "Device/d1",
            "Medication/m1",
            "MedicationRequest/mr1",
            "MedicationRequest/mr2",
            "Patient/p",
        ]
    );
    // The Practitioner is no longer named by `p`'s record, so erasing `q`'s would take it.
    let history = s
        .history(
            &Scope::All,
            &crate::HistoryQuery {
                fhir_version: R4,
                resource_type: Some("Observation".into()),
                id: None,
                since: None,
                count: 100,
                before_seq: None,
            },
        )
        .await
        .unwrap();
    assert!(history.versions.iter().all(|v| !v.id.starts_with("o20")));
    // Rows are never reused: purging the newest resource and writing another gives it a row
    // after the purged one's.
    let row_of = |page: crate::RecordPage, id: &str| {
        page.hits
            .iter()
            .find(|h| h.resource.id == id)
            .map(|h| h.position.row)
    };
    let everything = RecordPageRequest {
        limit: 100,
        ..RecordPageRequest::default()
    };
    let q = query(Some("q"));
    let newest = row_of(s.record(&Scope::All, &q, &everything).await.unwrap(), "oq").unwrap();
    let purged: Result<(), StoreError> = write_with(s, |tx| {
        (WriteDecision::Commit, tx.purge(R4, "Observation", "oq"))
    })
    .await
    .unwrap();
    purged.unwrap();
    add(s, Some(ALICE), "Observation", "later", vec![], &["q"]).await;
    let page = s.record(&Scope::All, &q, &everything).await.unwrap();
    assert_eq!(row_of(page.clone(), "oq"), None);
    assert!(row_of(page, "later").unwrap() > newest);
}

/// What bulk export reads with: `ReferencedFrom` (what the Patients' compartments reference, in
/// scope), `All` inside `Any`, and the cuts of a query's rows into runs.
pub async fn export_criteria_and_cuts(store: Arc<dyn ResourceStore>) {
    use hale_search::query::{Criterion, SearchQuery};
    let s = store.as_ref();
    write_fixture(s).await;
    let ids = |found: Vec<crate::StoredResource>| {
        let mut ids: Vec<String> = found.into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    };
    let referenced = |resource_type: &'static str, patients: &[&str]| {
        SearchQuery::new(
            resource_type,
            vec![Criterion::ReferencedFrom {
                patients: patients.iter().map(|p| (*p).to_owned()).collect(),
            }],
        )
    };
    let all = Scope::All;
    let alice = Scope::user(ALICE);
    let found = s
        .find(&all, R4, &referenced("Medication", &["p"]), 10)
        .await;
    assert_eq!(ids(found.unwrap()), ["bob-m", "m1"]);
    let found = s
        .find(&alice, R4, &referenced("Medication", &["p"]), 10)
        .await;
    assert_eq!(
        ids(found.unwrap()),
        ["m1"],
        "Bob's Medication is not Alice's"
    );
    let found = s
        .find(&all, R4, &referenced("Practitioner", &["p", "q"]), 10)
        .await;
    assert_eq!(ids(found.unwrap()), ["dr"]);
    let found = s
        .find(&all, R4, &referenced("Organization", &["p"]), 10)
        .await;
    assert!(
        found.unwrap().is_empty(),
        "only q's record names the Organization"
    );
    // Any of two conjunctions.
    let in_p = || Criterion::Compartment {
        patient_id: "p".into(),
    };
    let in_q = || Criterion::Compartment {
        patient_id: "q".into(),
    };
    let either = SearchQuery::new(
        "Observation",
        vec![Criterion::Any(vec![
            Criterion::All(vec![in_p(), in_q()]),
            Criterion::All(vec![in_q()]),
        ])],
    );
    assert_eq!(ids(s.find(&all, R4, &either, 10).await.unwrap()), ["oq"]);
    // Cuts: four Observations in runs of three.
    let observations = SearchQuery::new("Observation", Vec::new());
    let horizon = s.horizon().await.unwrap();
    let (count, cuts) = s.cuts(&all, R4, &observations, horizon, 3).await.unwrap();
    assert_eq!(count, 4);
    assert_eq!(cuts.len(), 1);
    let page = s
        .search(
            &all,
            R4,
            &observations,
            &crate::PageRequest {
                limit: 10,
                horizon: Some(cuts[0]),
                ..crate::PageRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.hits.len(), 3, "the first run ends at the cut");
    let (count, _) = s.cuts(&alice, R4, &observations, horizon, 3).await.unwrap();
    assert_eq!(count, 3, "Bob's Observation is not Alice's");
}
