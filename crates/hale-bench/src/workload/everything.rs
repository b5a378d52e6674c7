//! W5, [`$everything`](https://hl7.org/fhir/R4/patient-operation-everything.html):
//! `GET /r4/Patient/{id}/$everything?_count=1000` of random patients, over [`CONNECTIONS`]
//! keep-alive connections, for a fixed time after a warm-up, with a user's bearer token.
//!
//! The data is W1's (the Synthea folder or hale-synth Bundles), POSTed untimed by the same code as
//! W1 but as the bench user ([`Owner::User`]), so that every resource is that user's own and
//! every statement carries the user's scope. One timed request is one first page (up to 1000
//! match entries, plus the referenced Practitioners, Organizations and Locations the first page
//! may add as `include` entries); the figure is first pages per second, and resources per second
//! is that times the page's match entries.
//!
//! Correctness, in every run:
//!
//! - **the sweep**, untimed, before the loop: every loaded patient's `$everything` is walked from
//!   its first page to its last through the `next` links ([`walk`]), and each walk is checked:
//!   every page `200`, a `searchset` Bundle, the same `total` on every page; the distinct match
//!   entries are as many as `total`; no (type, id) is a match twice across pages; matches come in
//!   (type, id) order; the Patient is one of them; `include` entries only on the first page and
//!   only of the types the operation includes; every match is a resource of the patient's own
//!   Bundle; and every resource of that Bundle is a match (Synthea's Medications are referenced
//!   by the patient's MedicationRequests, its Devices name the Patient and are referenced by its
//!   Provenance, and every other resource of a patient Bundle is in the Patient's compartment);
//! - **the loop**: every answer `200`, a `searchset` Bundle, whose `total` (read from the head of
//!   the body, where Hale writes it) is the one the sweep saw for that patient.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use hyper::{StatusCode, Uri};
use serde::Deserialize;

use crate::client::{self, Answer, Connection};
use crate::report::RunChecks;
use crate::server::BenchServer;
use crate::workload::ingest::{CreatedByBundle, Owner};
use crate::workload::read::{LoadRun, splitmix64};
use crate::workload::search::shapes::{check_head, prefix_text};

/// Concurrent connections of the timed loop.
pub const CONNECTIONS: usize = 8;

/// `_count` of every request.
pub const PAGE_COUNT: usize = 1000;

/// The types `$everything` may add as `include` entries (on its first page only).
pub const INCLUDE_TYPES: &[&str] = &["Location", "Organization", "Practitioner"];

/// Pages one walk follows at most, so that a server whose `next` links never end cannot hang
/// the harness.
pub const MAX_PAGES: u64 = 100_000;

/// The owner W5 loads its data as.
pub const OWNER: Owner = Owner::User;

/// One loaded patient: its id and every resource its Bundle created.
#[derive(Clone, Debug)]
pub struct PatientRecord {
    /// The Patient's id.
    pub id: String,
    /// The Bundle it came from, for messages.
    pub bundle: String,
    /// (type, id) of every resource its Bundle created, the Patient included.
    pub created: HashSet<(String, String)>,
}

/// The patients of a load: one per patient Bundle that created exactly one Patient.
pub fn patients(bundles: &[CreatedByBundle]) -> Vec<PatientRecord> {
    bundles
        .iter()
        .filter(|b| b.patient_bundle)
        .filter_map(|b| {
            let mut ids = b
                .created
                .iter()
                .filter(|t| t.resource_type == "Patient")
                .map(|t| t.id.clone());
            let id = ids.next()?;
            if ids.next().is_some() {
                return None;
            }
            Some(PatientRecord {
                id,
                bundle: b.name.clone(),
                created: b
                    .created
                    .iter()
                    .map(|t| (t.resource_type.clone(), t.id.clone()))
                    .collect(),
            })
        })
        .collect()
}

/// The first page's request of `patient_id` with `_count=count`.
pub fn first_page_uri(patient_id: &str, count: usize) -> anyhow::Result<Uri> {
    Ok(Uri::try_from(format!(
        "/r4/Patient/{patient_id}/$everything?_count={count}"
    ))?)
}

/// A page, as much of it as the checks read.
#[derive(Deserialize)]
struct PageWire {
    #[serde(rename = "resourceType", default)]
    resource_type: String,
    #[serde(rename = "type", default)]
    bundle_type: String,
    total: Option<u64>,
    #[serde(default)]
    link: Vec<LinkWire>,
    #[serde(default)]
    entry: Vec<EntryWire>,
}

#[derive(Deserialize)]
struct LinkWire {
    #[serde(default)]
    relation: String,
    #[serde(default)]
    url: String,
}

#[derive(Deserialize)]
struct EntryWire {
    resource: Option<ResourceWire>,
    search: Option<SearchWire>,
}

#[derive(Deserialize)]
struct ResourceWire {
    #[serde(rename = "resourceType", default)]
    resource_type: String,
    #[serde(default)]
    id: String,
}

#[derive(Deserialize)]
struct SearchWire {
    #[serde(default)]
    mode: String,
}

/// What kind of thing a walk found wrong, so that each lands in its own check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A page: its status, body, Bundle type, total, entries, size or `next` link.
    Page,
    /// The total against the distinct match entries, or against what the data says.
    Total,
    /// A (type, id) that is a match twice.
    Duplicate,
    /// A match that sorts before the one before it.
    Order,
    /// An `include` entry after the first page or of another type.
    Include,
    /// The Patient missing from its own `$everything`.
    Patient,
}

/// What walking one patient's `$everything` from the first page to the last saw.
#[derive(Debug, Default)]
pub struct Walk {
    /// Pages fetched (answered, whatever the answer).
    pub pages: u64,
    /// Whether the walk reached a page without a `next` link, every page on the way answered
    /// and parsed.
    pub completed: bool,
    /// The first page's `total`.
    pub total: Option<u64>,
    /// Match entries over all pages.
    pub matches: u64,
    /// The distinct (type, id) of the match entries.
    pub distinct: HashSet<(String, String)>,
    /// Match entries whose (type, id) was a match before.
    pub duplicates: u64,
    /// Match entries that sort before the match entry before them.
    pub out_of_order: u64,
    /// `include` entries over all pages.
    pub includes: u64,
    /// `include` entries on pages after the first.
    pub includes_after_first_page: u64,
    /// `include` entries of a type not in [`INCLUDE_TYPES`].
    pub includes_of_other_types: u64,
    /// Entries that are neither `match` nor `include`, or have no resource.
    pub other_entries: u64,
    /// Pages holding more match entries than `_count`.
    pub oversized_pages: u64,
    /// Match entries on the first page.
    pub first_page_matches: u64,
    /// `include` entries on the first page.
    pub first_page_includes: u64,
    /// Body bytes of the first page.
    pub first_page_bytes: u64,
    /// The most match entries on one page.
    pub largest_page_matches: u64,
    /// Body bytes over all pages.
    pub bytes: u64,
    /// What was wrong, each naming the request: the first few of each kind.
    pub problems: Vec<(ProblemKind, String)>,
    /// How many things were wrong in all.
    pub n_problems: u64,
    last_match: Option<(String, String)>,
}

impl Walk {
    fn problem(&mut self, kind: ProblemKind, text: String) {
        self.n_problems += 1;
        if self.problems.iter().filter(|(k, _)| *k == kind).count() < 3 {
            self.problems.push((kind, text));
        }
    }

    /// The problems of `kind`.
    pub fn problems_of(&self, kind: ProblemKind) -> Vec<String> {
        self.problems
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, text)| text.clone())
            .collect()
    }

    /// Checks one answer, records its entries, and returns the origin-form request of the next
    /// page if there is one and the walk can go on.
    fn add_page(&mut self, page_idx: u64, uri: &Uri, count: usize, answer: &Answer) -> Option<Uri> {
        self.pages += 1;
        self.bytes += answer.body.len() as u64;
        if answer.status != StatusCode::OK {
            self.problem(
                ProblemKind::Page,
                format!(
                    "GET {uri}: expected 200, got {} {}",
                    answer.status,
                    prefix_text(&answer.body)
                ),
            );
            return None;
        }
        let page: PageWire = match serde_json::from_slice(&answer.body) {
            Ok(page) => page,
            Err(e) => {
                self.problem(
                    ProblemKind::Page,
                    format!(
                        "GET {uri}: the body is not a Bundle ({e}): {}",
                        prefix_text(&answer.body)
                    ),
                );
                return None;
            }
        };
        if page.resource_type != "Bundle" || page.bundle_type != "searchset" {
            self.problem(
                ProblemKind::Page,
                format!(
                    "GET {uri}: expected a searchset Bundle, got resourceType {:?}, type {:?}",
                    page.resource_type, page.bundle_type
                ),
            );
        }
        match (self.total, page.total) {
            (_, None) => self.problem(
                ProblemKind::Page,
                format!("GET {uri}: the Bundle has no total"),
            ),
            (None, Some(total)) => self.total = Some(total),
            (Some(first), Some(total)) if first != total => self.problem(
                ProblemKind::Total,
                format!(
                    "GET {uri}: total {total} on page {}, but {first} on the first page",
                    page_idx + 1
                ),
            ),
            _ => {}
        }
        let mut page_matches = 0u64;
        for entry in &page.entry {
            let mode = entry.search.as_ref().map_or("", |s| s.mode.as_str());
            let Some(resource) = &entry.resource else {
                self.other_entries += 1;
                self.problem(
                    ProblemKind::Page,
                    format!("GET {uri}: an entry without a resource (mode {mode:?})"),
                );
                continue;
            };
            match mode {
                "match" => {
                    page_matches += 1;
                    let key = (resource.resource_type.clone(), resource.id.clone());
                    if let Some(last) = &self.last_match
                        && key < *last
                    {
                        self.out_of_order += 1;
                        let text = format!(
                            "GET {uri}: match {}/{} comes after {}/{}; expected (type, id) order",
                            key.0, key.1, last.0, last.1
                        );
                        self.problem(ProblemKind::Order, text);
                    }
                    self.last_match = Some(key.clone());
                    if !self.distinct.insert(key) {
                        self.duplicates += 1;
                        self.problem(
                            ProblemKind::Duplicate,
                            format!(
                                "GET {uri}: {}/{} is a match again (page {}); expected each once",
                                resource.resource_type,
                                resource.id,
                                page_idx + 1
                            ),
                        );
                    }
                }
                "include" => {
                    self.includes += 1;
                    if page_idx == 0 {
                        self.first_page_includes += 1;
                    } else {
                        self.includes_after_first_page += 1;
                        self.problem(ProblemKind::Include, format!(
                            "GET {uri}: include entry {}/{} on page {}; expected includes on the first page only",
                            resource.resource_type,
                            resource.id,
                            page_idx + 1
                        ));
                    }
                    if !INCLUDE_TYPES.contains(&resource.resource_type.as_str()) {
                        self.includes_of_other_types += 1;
                        self.problem(
                            ProblemKind::Include,
                            format!(
                                "GET {uri}: include entry {}/{}; expected only {}",
                                resource.resource_type,
                                resource.id,
                                INCLUDE_TYPES.join(", ")
                            ),
                        );
                    }
                }
                other => {
                    self.other_entries += 1;
                    self.problem(ProblemKind::Page, format!(
                        "GET {uri}: an entry {}/{} with search.mode {other:?}; expected match or include",
                        resource.resource_type, resource.id
                    ));
                }
            }
        }
        self.matches += page_matches;
        self.largest_page_matches = self.largest_page_matches.max(page_matches);
        if page_matches > count as u64 {
            self.oversized_pages += 1;
            self.problem(
                ProblemKind::Page,
                format!(
                    "GET {uri}: {page_matches} match entries; expected at most _count = {count}"
                ),
            );
        }
        if page_idx == 0 {
            self.first_page_matches = page_matches;
            self.first_page_bytes = answer.body.len() as u64;
        }
        let next = page
            .link
            .iter()
            .find(|l| l.relation == "next")
            .map(|l| l.url.as_str());
        let Some(next) = next else {
            self.completed = true;
            return None;
        };
        match origin_form(next) {
            Ok(next) => Some(next),
            Err(e) => {
                self.problem(
                    ProblemKind::Page,
                    format!("GET {uri}: the next link {next:?}: {e:#}"),
                );
                None
            }
        }
    }

    /// Checks what only the whole walk can tell, for the Patient `patient_id` whose
    /// `$everything` should hold `expected` match entries when the caller knows how many.
    fn finish(&mut self, patient_id: &str, expected: Option<u64>) {
        let what = format!("Patient/{patient_id}/$everything");
        if !self.completed {
            if self.pages >= MAX_PAGES {
                self.problem(
                    ProblemKind::Page,
                    format!("{what}: still a next link after {MAX_PAGES} pages"),
                );
            }
            return;
        }
        match self.total {
            Some(total) if total != self.distinct.len() as u64 => self.problem(
                ProblemKind::Total,
                format!(
                    "{what}: total {total}, but {} distinct match entries over {} pages",
                    self.distinct.len(),
                    self.pages
                ),
            ),
            _ => {}
        }
        if let Some(expected) = expected {
            if self.total != Some(expected) {
                self.problem(
                    ProblemKind::Total,
                    format!("{what}: total {:?}, expected {expected}", self.total),
                );
            }
            if self.distinct.len() as u64 != expected {
                self.problem(
                    ProblemKind::Total,
                    format!(
                        "{what}: {} distinct match entries, expected {expected}",
                        self.distinct.len()
                    ),
                );
            }
        }
        if !self
            .distinct
            .contains(&("Patient".to_owned(), patient_id.to_owned()))
        {
            self.problem(
                ProblemKind::Patient,
                format!("{what}: the Patient itself is not a match entry"),
            );
        }
    }
}

/// Records the checks of one walk in `checks`, each named after `name_prefix`: pages, totals,
/// duplicates, order, the Patient and includes. W5-mem checks its one big walk this way; the
/// sweep tallies the same kinds over many patients.
pub fn record_walk_checks(walk: &Walk, name_prefix: &str, checks: &mut RunChecks) {
    let detail = |kind: ProblemKind, fine: String| {
        let problems = walk.problems_of(kind);
        if problems.is_empty() {
            fine
        } else {
            problems.join("; ")
        }
    };
    let page_problems = walk.problems_of(ProblemKind::Page);
    checks.check(
        &format!("{name_prefix}: every page 200, a searchset Bundle with a total, match or include entries, the last without a next link"),
        walk.completed && page_problems.is_empty(),
        if page_problems.is_empty() && !walk.completed {
            "the walk did not complete".into()
        } else {
            detail(ProblemKind::Page, format!("{} pages", walk.pages))
        },
    );
    for (kind, name, fine) in [
        (
            ProblemKind::Total,
            "total = distinct match entries = the patient's resources, the same on every page",
            format!(
                "total {}, {} distinct match entries",
                walk.total.map_or("none".into(), |t| t.to_string()),
                walk.distinct.len()
            ),
        ),
        (
            ProblemKind::Duplicate,
            "no (type, id) is a match twice across pages",
            format!("{} matches, {} distinct", walk.matches, walk.distinct.len()),
        ),
        (
            ProblemKind::Order,
            "match entries in (type, id) order",
            "in order".into(),
        ),
        (
            ProblemKind::Patient,
            "the Patient is a match entry",
            "yes".into(),
        ),
        (
            ProblemKind::Include,
            "include entries on the first page only, Practitioner, Organization or Location",
            format!("{} include entries", walk.includes),
        ),
    ] {
        let detail = if walk.completed {
            detail(kind, fine)
        } else {
            "the walk did not complete".into()
        };
        checks.check(
            &format!("{name_prefix}: {name}"),
            walk.completed && walk.problems_of(kind).is_empty(),
            detail,
        );
    }
}

/// An absolute `next` link as the origin-form request a connection sends (`/r4/…?…`).
pub(crate) fn origin_form(url: &str) -> anyhow::Result<Uri> {
    let uri = Uri::try_from(url).context("not a URI")?;
    anyhow::ensure!(
        uri.scheme().is_some() && uri.authority().is_some(),
        "not an absolute URL"
    );
    let path_and_query = uri.path_and_query().context("no path")?.as_str();
    Ok(Uri::try_from(path_and_query)?)
}

/// Walks `$everything` of `patient_id` with `_count=count` from the first page through every
/// `next` link, checking each page, and calls `after_page` with the number of pages so far after
/// each one. `expected` is the number of match entries the patient's data says there are, when
/// the caller knows it.
pub async fn walk(
    connection: &mut Connection,
    patient_id: &str,
    count: usize,
    expected: Option<u64>,
    mut after_page: impl FnMut(u64),
) -> Walk {
    let mut walk = Walk::default();
    let mut uri = match first_page_uri(patient_id, count) {
        Ok(uri) => uri,
        Err(e) => {
            walk.problem(ProblemKind::Page, format!("Patient/{patient_id}: {e:#}"));
            return walk;
        }
    };
    for page_idx in 0..MAX_PAGES {
        let answer = match connection.get(uri.clone()).await {
            Ok(answer) => answer,
            Err(e) => {
                walk.problem(
                    ProblemKind::Page,
                    format!("GET {uri}: the request failed: {e:#}"),
                );
                break;
            }
        };
        let next = walk.add_page(page_idx, &uri, count, &answer);
        after_page(page_idx + 1);
        match next {
            Some(next) => uri = next,
            None => break,
        }
    }
    walk.finish(patient_id, expected);
    walk
}

/// One patient of the timed loop, as the sweep found it.
#[derive(Clone, Debug)]
pub struct PatientPlan {
    /// The first page's request.
    pub uri: Uri,
    /// The patient's id.
    pub id: String,
    /// The `total` its first page must carry.
    pub total: u64,
    /// Match entries on its first page.
    pub first_page_matches: u64,
}

/// What one sweep saw, beyond its checks.
#[derive(Clone, Debug, Default)]
pub struct SweepStats {
    /// Patients walked.
    pub patients: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Match entries over all walks.
    pub matches: u64,
    /// `include` entries (all on first pages).
    pub includes: u64,
    /// The largest `total`.
    pub largest_total: u64,
    /// Patients whose `$everything` takes more than one page.
    pub multi_page_patients: u64,
    /// Match entries over all walks, by type.
    pub matches_by_type: BTreeMap<String, u64>,
    /// Seconds the sweep took.
    pub seconds: f64,
}

/// Tallies a check over many patients: how many failed, and the first failures' descriptions.
#[derive(Default)]
struct Tally {
    failed: u64,
    samples: Vec<String>,
}

impl Tally {
    fn fail(&mut self, samples: impl IntoIterator<Item = String>) {
        self.failed += 1;
        for sample in samples {
            if self.samples.len() < 3 {
                self.samples.push(sample);
            }
        }
    }

    fn record(&self, checks: &mut RunChecks, name: &str, of: u64) {
        let detail = if self.samples.is_empty() {
            format!("{} of {of} patients failed", self.failed)
        } else {
            format!(
                "{} of {of} patients failed; {}",
                self.failed,
                self.samples.join("; ")
            )
        };
        checks.check(name, self.failed == 0, detail);
    }
}

/// Walks every patient's `$everything` through all its pages, untimed, over one connection, and
/// checks each walk; returns the checks, what the timed loop needs of each patient, and what
/// the sweep saw.
pub fn sweep(
    server: &BenchServer,
    patients: &[PatientRecord],
    client: &tokio::runtime::Runtime,
) -> anyhow::Result<(RunChecks, Vec<PatientPlan>, SweepStats)> {
    let target = server.user_target();
    let started = std::time::Instant::now();
    let walks = client.block_on(async {
        let mut connection = Connection::open(&target).await?;
        let mut walks = Vec::with_capacity(patients.len());
        for patient in patients {
            walks.push(walk(&mut connection, &patient.id, PAGE_COUNT, None, |_| {}).await);
        }
        Ok::<_, anyhow::Error>(walks)
    })?;
    let mut stats = SweepStats {
        seconds: started.elapsed().as_secs_f64(),
        ..SweepStats::default()
    };
    let mut pages_ok = Tally::default();
    let mut total_ok = Tally::default();
    let mut once = Tally::default();
    let mut ordered = Tally::default();
    let mut patient_in = Tally::default();
    let mut includes_ok = Tally::default();
    let mut own_only = Tally::default();
    let mut all_of_bundle = Tally::default();
    let mut plans = Vec::with_capacity(patients.len());
    for (patient, walk) in patients.iter().zip(&walks) {
        let what = format!("Patient/{}/$everything", patient.id);
        stats.patients += 1;
        stats.pages += walk.pages;
        stats.matches += walk.matches;
        stats.includes += walk.includes;
        for (resource_type, _) in &walk.distinct {
            *stats
                .matches_by_type
                .entry(resource_type.clone())
                .or_default() += 1;
        }
        stats.largest_total = stats.largest_total.max(walk.total.unwrap_or(0));
        if walk.pages > 1 {
            stats.multi_page_patients += 1;
        }
        // A walk that did not complete fails the page check, with the problem that stopped it.
        let page_problems = walk.problems_of(ProblemKind::Page);
        if !walk.completed || !page_problems.is_empty() {
            pages_ok.fail(page_problems);
        }
        for (kind, tally) in [
            (ProblemKind::Total, &mut total_ok),
            (ProblemKind::Duplicate, &mut once),
            (ProblemKind::Order, &mut ordered),
            (ProblemKind::Patient, &mut patient_in),
            (ProblemKind::Include, &mut includes_ok),
        ] {
            let problems = walk.problems_of(kind);
            if !problems.is_empty() {
                tally.fail(problems);
            }
        }
        let foreign: Vec<&(String, String)> = walk
            .distinct
            .iter()
            .filter(|key| !patient.created.contains(*key))
            .collect();
        if !foreign.is_empty() {
            let mut sample: Vec<String> = foreign
                .iter()
                .take(3)
                .map(|(t, id)| format!("{t}/{id}"))
                .collect();
            sample.sort();
            own_only.fail([format!(
                "{what}: {} match entries not created by its Bundle {}, such as {}",
                foreign.len(),
                patient.bundle,
                sample.join(", ")
            )]);
        }
        if walk.completed {
            let mut missing: BTreeMap<&str, u64> = BTreeMap::new();
            for key in patient
                .created
                .iter()
                .filter(|key| !walk.distinct.contains(*key))
            {
                *missing.entry(key.0.as_str()).or_default() += 1;
            }
            if !missing.is_empty() {
                let by_type: Vec<String> =
                    missing.iter().map(|(t, n)| format!("{n} {t}")).collect();
                all_of_bundle.fail([format!(
                    "{what}: missing {} of its Bundle {} (expected every resource it created)",
                    by_type.join(", "),
                    patient.bundle
                )]);
            }
        }
        if let (true, Some(total)) = (walk.completed, walk.total) {
            plans.push(PatientPlan {
                uri: first_page_uri(&patient.id, PAGE_COUNT)?,
                id: patient.id.clone(),
                total,
                first_page_matches: walk.first_page_matches,
            });
        }
    }
    let n = patients.len() as u64;
    let mut checks = RunChecks::default();
    checks.check(
        "sweep: patients walked",
        n > 0,
        format!(
            "{n} patients, {} pages, {} matches, {} includes, in {:.1} s",
            stats.pages, stats.matches, stats.includes, stats.seconds
        ),
    );
    pages_ok.record(
        &mut checks,
        "sweep: every page 200, a searchset Bundle with a total, match or include entries, the last without a next link",
        n,
    );
    total_ok.record(
        &mut checks,
        "sweep: distinct match entries = total, the same on every page",
        n,
    );
    once.record(
        &mut checks,
        "sweep: no (type, id) is a match twice across pages",
        n,
    );
    ordered.record(&mut checks, "sweep: match entries in (type, id) order", n);
    patient_in.record(&mut checks, "sweep: the Patient is a match entry", n);
    includes_ok.record(
        &mut checks,
        "sweep: include entries on the first page only, Practitioner, Organization or Location",
        n,
    );
    own_only.record(
        &mut checks,
        "sweep: every match entry is a resource of the patient's own Bundle",
        n,
    );
    all_of_bundle.record(
        &mut checks,
        "sweep: every resource of the patient's Bundle is a match entry",
        n,
    );
    Ok((checks, plans, stats))
}

/// What one timed run measured.
pub struct EverythingRun {
    /// Requests per second, latencies and checks.
    pub load: LoadRun,
    /// Match entries per second: each answered first page's match entries, as the sweep counted
    /// them, per second of the window.
    pub resources_per_sec: f64,
}

/// The timed loop: first pages of random patients among `plans`, for `duration` after `warmup`.
pub fn measure(
    server: &BenchServer,
    plans: &[PatientPlan],
    client: &tokio::runtime::Runtime,
    warmup: Duration,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<EverythingRun> {
    anyhow::ensure!(
        !plans.is_empty(),
        "W5 has no patient to ask for: the sweep found none whose walk completed"
    );
    let plans = Arc::new(plans.to_vec());
    let (plans_next, plans_check) = (plans.clone(), plans.clone());
    let matches_answered = Arc::new(AtomicU64::new(0));
    let matches_check = matches_answered.clone();
    let next = move |task: usize, request: u64| {
        let r = splitmix64(seed ^ ((task as u64) << 40) ^ request);
        let idx = (r % plans_next.len() as u64) as usize;
        (plans_next[idx].uri.clone(), idx)
    };
    let check = move |idx: usize, answer: &Answer| {
        let plan = &plans_check[idx];
        let problem = quick_check(plan, answer);
        if problem.is_none() {
            matches_check.fetch_add(plan.first_page_matches, Ordering::Relaxed);
        }
        problem
    };
    let result = client.block_on(client::closed_loop(
        server.user_target(),
        CONNECTIONS,
        warmup,
        duration,
        next,
        check,
    ))?;
    let resources_per_sec =
        matches_answered.load(Ordering::Relaxed) as f64 / result.window.as_secs_f64().max(1e-9);
    Ok(EverythingRun {
        load: LoadRun::from_loop(&result),
        resources_per_sec,
    })
}

/// The loop's check: status, `searchset` and the total, from the head of the body, so that the
/// load generator leaves the CPUs to the server.
fn quick_check(plan: &PatientPlan, answer: &Answer) -> Option<String> {
    check_head(
        &format!("GET {}", plan.uri),
        answer,
        |total| total == plan.total,
        || format!("{} (as the sweep walked it)", plan.total),
    )
}

/// Summary figures of the plans, for the report: the mean first page's match entries.
pub fn mean_first_page_matches(plans: &[PatientPlan]) -> f64 {
    if plans.is_empty() {
        return 0.0;
    }
    plans
        .iter()
        .map(|p| p.first_page_matches as f64)
        .sum::<f64>()
        / plans.len() as f64
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::workload::search::shapes::head_total;

    fn answer(body: &str) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn entry(resource_type: &str, id: &str, mode: &str) -> String {
        format!(
            r#"{{"fullUrl":"http://h/r4/{resource_type}/{id}","resource":{{"resourceType":"{resource_type}","id":"{id}"}},"search":{{"mode":"{mode}"}}}}"#
        )
    }

    fn page(total: u64, next: Option<&str>, entries: &[String]) -> Answer {
        let link = next.map_or(String::new(), |n| {
            format!(r#","link":[{{"relation":"self","url":"http://h/x"}},{{"relation":"next","url":"{n}"}}]"#)
        });
        answer(&format!(
            r#"{{"resourceType":"Bundle","id":"b","type":"searchset","total":{total}{link},"entry":[{}]}}"#,
            entries.join(",")
        ))
    }

    #[test]
    fn a_correct_walk_has_no_problems() {
        let uri = Uri::from_static("/r4/Patient/p/$everything?_count=2");
        let mut walk = Walk::default();
        let first = page(
            3,
            Some("http://127.0.0.1:9/r4/Patient/p/$everything?_count=2&_cursor=abc"),
            &[
                entry("Encounter", "e1", "match"),
                entry("Observation", "o1", "match"),
                entry("Practitioner", "pr", "include"),
            ],
        );
        let next = walk.add_page(0, &uri, 2, &first);
        assert_eq!(
            next.map(|u| u.to_string()).as_deref(),
            Some("/r4/Patient/p/$everything?_count=2&_cursor=abc")
        );
        let second = page(3, None, &[entry("Patient", "p", "match")]);
        assert!(walk.add_page(1, &uri, 2, &second).is_none());
        walk.finish("p", Some(3));
        assert!(walk.completed);
        assert_eq!(walk.problems, Vec::new());
        assert_eq!(
            (
                walk.matches,
                walk.first_page_matches,
                walk.first_page_includes
            ),
            (3, 2, 1)
        );
        assert_eq!(head_total(&first.body), Some(3));
    }

    #[test]
    fn duplicates_disorder_late_includes_and_wrong_totals_are_problems() {
        let uri = Uri::from_static("/r4/Patient/p/$everything?_count=2");
        let mut walk = Walk::default();
        let first = page(
            4,
            Some("http://h/r4/Patient/p/$everything?_cursor=1"),
            &[
                entry("Observation", "o1", "match"),
                entry("Encounter", "e1", "match"),
            ],
        );
        walk.add_page(0, &uri, 2, &first);
        let second = page(
            4,
            None,
            &[
                entry("Observation", "o1", "match"),
                entry("Organization", "org", "include"),
            ],
        );
        walk.add_page(1, &uri, 2, &second);
        walk.finish("p", None);
        assert_eq!(walk.out_of_order, 1);
        assert_eq!(walk.duplicates, 1);
        assert_eq!(walk.includes_after_first_page, 1);
        // total 4 but two distinct matches, and no Patient.
        assert_eq!(walk.problems_of(ProblemKind::Total).len(), 1);
        assert_eq!(walk.problems_of(ProblemKind::Patient).len(), 1);
        assert_eq!(walk.problems_of(ProblemKind::Page), Vec::<String>::new());
    }

    #[test]
    fn next_links_must_be_absolute() {
        assert!(origin_form("/r4/Patient/p/$everything?_cursor=1").is_err());
        assert_eq!(
            origin_form("http://127.0.0.1:1/r4/Patient/p/$everything?_cursor=1")
                .map(|u| u.to_string())
                .ok()
                .as_deref(),
            Some("/r4/Patient/p/$everything?_cursor=1")
        );
    }
}
