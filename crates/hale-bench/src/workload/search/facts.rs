//! What W4 knows of the loaded data before any timing: the values its query parameters are drawn
//! from, and the answers its searches must give.
//!
//! Both come from one pass over the current resources of the six types the mix touches, read
//! straight from the database (the `resource` and `history` tables, which the SQLite and the
//! PostgreSQL stores lay out alike) and parsed with serde, not through the server: the expected answers must not come from the code under test. A total
//! is known exactly where the matching rule is beyond doubt (a reference and a code, a chain to a
//! gender or a medication code, a date before or after a day); where the server may reasonably
//! match more (a name prefix, full text), W4 checks bounds and the matches themselves instead.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use anyhow::Context as _;
use hale_fhir::FhirVersion;
use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;

use crate::workload::read::splitmix64;

/// Most values drawn for each parameter: enough that requests do not repeat one cached page,
/// few enough that every value is met more than once in a run.
pub const POOL: usize = 256;

/// Most words drawn for `_content`: each has its bounds counted over every Condition's JSON.
pub const WORD_POOL: usize = 64;

/// The instant 2020-01-01T00:00:00Z, where `date=ge2020` starts.
const START_OF_2020: i64 = 1_577_836_800;

/// The facts of the loaded data that W4 needs.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Current resources per type, over every type.
    pub by_type: BTreeMap<String, u64>,
    /// Drawn `(patient id, LOINC code, Observations of that patient with that code)`.
    pub patient_codes: Vec<(String, String, u64)>,
    /// Drawn name prefixes: the first four letters of a family name.
    pub name_prefixes: Vec<String>,
    /// Drawn `(LOINC code, Observations with that code and a valueQuantity above 100)`.
    pub quantity_codes: Vec<(String, u64)>,
    /// Drawn `(word, least, most)`: `least` Conditions have the word in their code's text or
    /// display, so `_content` must find them; `most` have it anywhere in their JSON, so
    /// `_content` cannot find more.
    pub words: Vec<(String, u64, u64)>,
    /// Drawn `(RxNorm code, MedicationRequests whose medicationReference has that code)`.
    pub rxnorm_codes: Vec<(String, u64)>,
    /// Each Medication's codes, to check the matches of the `medication.code` chain.
    pub medication_codes: HashMap<String, Vec<String>>,
    /// Encounters per Patient id (by `Encounter.subject`), to check `_revinclude` pages.
    pub encounters_by_patient: HashMap<String, u64>,
    /// Laboratory Observations on or after 2020-01-01 (UTC), unless some laboratory
    /// Observation's date is not a plain dateTime, which the pass does not interpret.
    pub lab_since_2020: Option<u64>,
    /// Observations whose subject is a male Patient.
    pub male_observations: u64,
    /// Patients born after 1990-01-01.
    pub born_after_1990: u64,
}

impl Facts {
    /// Current resources of `resource_type`.
    pub fn count(&self, resource_type: &str) -> u64 {
        self.by_type.get(resource_type).copied().unwrap_or(0)
    }

    /// Current resources over every type.
    pub fn resources(&self) -> u64 {
        self.by_type.values().sum()
    }
}

#[derive(Deserialize, Default)]
struct Reference {
    reference: Option<String>,
}

#[derive(Deserialize, Default)]
struct Coding {
    code: Option<String>,
    display: Option<String>,
}

#[derive(Deserialize, Default)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<Coding>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct Quantity {
    value: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Observation {
    subject: Option<Reference>,
    code: Option<CodeableConcept>,
    #[serde(default)]
    category: Vec<CodeableConcept>,
    value_quantity: Option<Quantity>,
    effective_date_time: Option<String>,
    effective_period: Option<serde::de::IgnoredAny>,
    effective_instant: Option<serde::de::IgnoredAny>,
    effective_timing: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct HumanName {
    family: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Patient {
    gender: Option<String>,
    birth_date: Option<String>,
    #[serde(default)]
    name: Vec<HumanName>,
}

#[derive(Deserialize)]
struct Condition {
    code: Option<CodeableConcept>,
}

#[derive(Deserialize)]
struct Encounter {
    subject: Option<Reference>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MedicationRequest {
    medication_reference: Option<Reference>,
}

#[derive(Deserialize)]
struct Medication {
    code: Option<CodeableConcept>,
}

/// The id in a literal reference to `resource_type` (`Patient/123` → `123`).
pub fn reference_id<'a>(reference: &'a str, resource_type: &str) -> Option<&'a str> {
    reference
        .strip_prefix(resource_type)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The distinct codes of a CodeableConcept, any system.
fn codes(concept: Option<&CodeableConcept>) -> BTreeSet<&str> {
    concept
        .map(|c| c.coding.iter().filter_map(|c| c.code.as_deref()).collect())
        .unwrap_or_default()
}

/// The lowercase ASCII words of a text, split at every other character.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
}

/// Whether a date or dateTime starts on or after 2020-01-01T00:00:00Z: a dateTime with a time
/// in its own zone, a partial date in UTC (as Hale reads dates without a zone). `None` when the
/// text is neither.
pub fn on_or_after_2020(text: &str) -> Option<bool> {
    if text.contains('T') {
        let instant =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .ok()?;
        Some(instant.unix_timestamp() >= START_OF_2020)
    } else {
        text.get(..4).map(|year| year >= "2020")
    }
}

/// Whether a birth date's last day is after 1990-01-01, as `birthdate=gt1990-01-01` asks: a
/// partial date stands for its last day.
pub fn born_after_1990(birth_date: &str) -> bool {
    let last_day = match birth_date.len() {
        4 => format!("{birth_date}-12-31"),
        7 => format!("{birth_date}-31"),
        _ => birth_date.to_owned(),
    };
    last_day.as_str() > "1990-01-01"
}

/// Whether the first `n` characters of a name make a prefix that means the same to every string
/// normalisation: ASCII letters only.
fn name_prefix(family: &str, n: usize) -> Option<String> {
    let prefix: String = family.chars().take(n).collect();
    (prefix.len() == n && prefix.chars().all(|c| c.is_ascii_alphabetic())).then_some(prefix)
}

/// Up to `n` items of `sorted`, chosen by `seed`: the same data and seed give the same draw.
pub fn draw<T: Clone>(sorted: &[T], n: usize, seed: u64) -> Vec<T> {
    if sorted.len() <= n {
        return sorted.to_vec();
    }
    let mut indices: Vec<usize> = (0..sorted.len()).collect();
    for i in 0..n {
        let j = i + (splitmix64(seed ^ (i as u64)) % (sorted.len() - i) as u64) as usize;
        indices.swap(i, j);
    }
    let mut chosen: Vec<usize> = indices[..n].to_vec();
    chosen.sort_unstable();
    chosen.into_iter().map(|i| sorted[i].clone()).collect()
}

/// The resource types the pass reads, in the SQL both backends run.
const TYPES_SQL: &str =
    "('Observation', 'Patient', 'Condition', 'Encounter', 'MedicationRequest', 'Medication')";

/// Reads the facts of the SQLite database at `db`, drawing parameter values with `seed`.
pub fn read(db: &Path, seed: u64) -> anyhow::Result<Facts> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", db.display()))?;
    let version = FhirVersion::R4.as_str();
    let mut pass = Pass::default();
    {
        let mut stmt = conn.prepare(
            "SELECT type, count(*) FROM resource WHERE fhir_version = ?1 AND deleted = 0 GROUP BY type",
        )?;
        let rows = stmt.query_map([version], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (resource_type, n) = row?;
            pass.facts.by_type.insert(resource_type, n as u64);
        }
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT r.type, r.id, h.json FROM resource r JOIN history h ON h.seq = r.seq \
         WHERE r.fhir_version = ?1 AND r.deleted = 0 AND r.type IN {TYPES_SQL}"
    ))?;
    let mut rows = stmt.query([version])?;
    while let Some(row) = rows.next()? {
        let resource_type: String = row.get(0)?;
        let id: String = row.get(1)?;
        pass.resource(&resource_type, id, row.get_ref(2)?.as_bytes()?)?;
    }
    Ok(pass.finish(seed))
}

/// Reads the facts of the PostgreSQL database at `url`, drawing parameter values with `seed`:
/// the same statements over the same tables (the PostgreSQL store keeps SQLite's schema), on a
/// connection of the harness's own, the rows streamed rather than collected.
pub fn read_postgres(url: &str, seed: u64) -> anyhow::Result<Facts> {
    use futures::TryStreamExt as _;

    crate::pg::block_on(async {
        let client = crate::pg::connect(url).await?;
        let version = FhirVersion::R4.as_str();
        let mut pass = Pass::default();
        let rows = client
            .query(
                "SELECT type, count(*) FROM resource WHERE fhir_version = $1 AND deleted = 0 GROUP BY type",
                &[&version],
            )
            .await?;
        for row in rows {
            let n: i64 = row.get(1);
            pass.facts.by_type.insert(row.get(0), n as u64);
        }
        let statement = format!(
            "SELECT r.type, r.id, h.json FROM resource r JOIN history h ON h.seq = r.seq \
             WHERE r.fhir_version = $1 AND r.deleted = 0 AND r.type IN {TYPES_SQL}"
        );
        let rows = client
            .query_raw(&statement, [version])
            .await
            .context("reading W4's resources")?;
        futures::pin_mut!(rows);
        while let Some(row) = rows.try_next().await? {
            let resource_type: &str = row.get(0);
            let id: String = row.get(1);
            pass.resource(resource_type, id, row.get(2))?;
        }
        Ok::<_, anyhow::Error>(pass.finish(seed))
    })?
}

/// One pass over the current resources: what each adds up to, then the draws.
#[derive(Default)]
struct Pass {
    facts: Facts,
    pair_counts: HashMap<(String, String), u64>,
    quantity_counts: HashMap<String, u64>,
    observations_by_patient: HashMap<String, u64>,
    /// Laboratory Observations on or after 2020-01-01.
    lab_since_2020: u64,
    /// Whether some laboratory Observation's date is not a plain dateTime, which the pass does
    /// not interpret.
    lab_seen_other_date: bool,
    male_patients: HashSet<String>,
    prefixes: BTreeSet<String>,
    /// Each Condition's words (code text and displays) and its whole JSON in lowercase.
    conditions: Vec<(HashSet<String>, String)>,
    requests_by_medication: HashMap<String, u64>,
}

impl Pass {
    /// Adds one current resource.
    fn resource(&mut self, resource_type: &str, id: String, json: &[u8]) -> anyhow::Result<()> {
        let context = || format!("{resource_type}/{id} in the database is not valid JSON");
        let facts = &mut self.facts;
        match resource_type {
            "Observation" => {
                let o: Observation = serde_json::from_slice(json).with_context(context)?;
                let codes = codes(o.code.as_ref());
                let patient = o
                    .subject
                    .as_ref()
                    .and_then(|s| s.reference.as_deref())
                    .and_then(|r| reference_id(r, "Patient"));
                if let Some(patient) = patient {
                    *self
                        .observations_by_patient
                        .entry(patient.to_owned())
                        .or_default() += 1;
                    for code in &codes {
                        *self
                            .pair_counts
                            .entry((patient.to_owned(), (*code).to_owned()))
                            .or_default() += 1;
                    }
                }
                if o.value_quantity
                    .and_then(|q| q.value)
                    .is_some_and(|v| v > 100.0)
                {
                    for code in &codes {
                        *self.quantity_counts.entry((*code).to_owned()).or_default() += 1;
                    }
                }
                let laboratory = o
                    .category
                    .iter()
                    .flat_map(|c| &c.coding)
                    .any(|c| c.code.as_deref() == Some("laboratory"));
                if laboratory {
                    let other_date = o.effective_period.is_some()
                        || o.effective_instant.is_some()
                        || o.effective_timing.is_some();
                    match o.effective_date_time.as_deref().map(on_or_after_2020) {
                        _ if other_date => self.lab_seen_other_date = true,
                        Some(Some(true)) => self.lab_since_2020 += 1,
                        None | Some(Some(false)) => {}
                        Some(None) => self.lab_seen_other_date = true,
                    }
                }
            }
            "Patient" => {
                let p: Patient = serde_json::from_slice(json).with_context(context)?;
                if p.gender.as_deref() == Some("male") {
                    self.male_patients.insert(id);
                }
                if p.birth_date.as_deref().is_some_and(born_after_1990) {
                    facts.born_after_1990 += 1;
                }
                if let Some(prefix) = p
                    .name
                    .first()
                    .and_then(|n| n.family.as_deref())
                    .and_then(|f| name_prefix(f, 4))
                {
                    self.prefixes.insert(prefix);
                }
            }
            "Condition" => {
                let c: Condition = serde_json::from_slice(json).with_context(context)?;
                let mut condition_words = HashSet::new();
                if let Some(code) = &c.code {
                    for text in code
                        .coding
                        .iter()
                        .filter_map(|c| c.display.as_deref())
                        .chain(code.text.as_deref())
                    {
                        condition_words.extend(words(text));
                    }
                }
                let lower = String::from_utf8_lossy(json).to_lowercase();
                self.conditions.push((condition_words, lower));
            }
            "Encounter" => {
                let e: Encounter = serde_json::from_slice(json).with_context(context)?;
                if let Some(patient) = e
                    .subject
                    .as_ref()
                    .and_then(|s| s.reference.as_deref())
                    .and_then(|r| reference_id(r, "Patient"))
                {
                    *facts
                        .encounters_by_patient
                        .entry(patient.to_owned())
                        .or_default() += 1;
                }
            }
            "MedicationRequest" => {
                let m: MedicationRequest = serde_json::from_slice(json).with_context(context)?;
                if let Some(medication) = m
                    .medication_reference
                    .as_ref()
                    .and_then(|r| r.reference.as_deref())
                    .and_then(|r| reference_id(r, "Medication"))
                {
                    *self
                        .requests_by_medication
                        .entry(medication.to_owned())
                        .or_default() += 1;
                }
            }
            "Medication" => {
                let m: Medication = serde_json::from_slice(json).with_context(context)?;
                let codes: Vec<String> = codes(m.code.as_ref())
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                facts.medication_codes.insert(id, codes);
            }
            _ => {}
        }
        Ok(())
    }

    /// The facts, with parameter values drawn with `seed`.
    fn finish(self, seed: u64) -> Facts {
        let Pass {
            mut facts,
            pair_counts,
            quantity_counts,
            observations_by_patient,
            lab_since_2020,
            lab_seen_other_date,
            male_patients,
            prefixes,
            conditions,
            requests_by_medication,
        } = self;
        facts.lab_since_2020 = (!lab_seen_other_date).then_some(lab_since_2020);
        facts.male_observations = observations_by_patient
            .iter()
            .filter(|(patient, _)| male_patients.contains(*patient))
            .map(|(_, n)| n)
            .sum();

        let mut pairs: Vec<(String, String, u64)> = pair_counts
            .into_iter()
            .map(|((patient, code), n)| (patient, code, n))
            .collect();
        pairs.sort();
        facts.patient_codes = draw(&pairs, POOL, seed ^ 1);

        let prefixes: Vec<String> = prefixes.into_iter().collect();
        facts.name_prefixes = draw(&prefixes, POOL, seed ^ 2);

        let mut quantity: Vec<(String, u64)> = quantity_counts.into_iter().collect();
        quantity.sort();
        facts.quantity_codes = draw(&quantity, POOL, seed ^ 3);

        // Words of five letters or more, which are words rather than abbreviations or numbers.
        let vocabulary: BTreeSet<&String> = conditions
            .iter()
            .flat_map(|(words, _)| words)
            .filter(|w| w.len() >= 5 && w.chars().all(|c| c.is_ascii_alphabetic()))
            .collect();
        let vocabulary: Vec<String> = vocabulary.into_iter().cloned().collect();
        facts.words = draw(&vocabulary, WORD_POOL, seed ^ 4)
            .into_iter()
            .map(|word| {
                let least = conditions.iter().filter(|(w, _)| w.contains(&word)).count() as u64;
                let most = conditions
                    .iter()
                    .filter(|(_, json)| json.contains(word.as_str()))
                    .count() as u64;
                (word, least, most)
            })
            .collect();

        let mut rxnorm: BTreeMap<String, u64> = BTreeMap::new();
        for (medication, n) in &requests_by_medication {
            for code in facts.medication_codes.get(medication).into_iter().flatten() {
                *rxnorm.entry(code.clone()).or_default() += n;
            }
        }
        let rxnorm: Vec<(String, u64)> = rxnorm.into_iter().collect();
        facts.rxnorm_codes = draw(&rxnorm, POOL, seed ^ 5);
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_2020_on_in_utc() {
        assert_eq!(on_or_after_2020("2019-12-31T20:00:00-05:00"), Some(true));
        assert_eq!(on_or_after_2020("2020-01-01T00:30:00+01:00"), Some(false));
        assert_eq!(on_or_after_2020("2020-03-01"), Some(true));
        assert_eq!(on_or_after_2020("2019"), Some(false));
        assert_eq!(on_or_after_2020("not a date T"), None);
    }

    #[test]
    fn birth_dates_after_the_first_of_1990() {
        assert!(born_after_1990("1990-01-02"));
        assert!(!born_after_1990("1990-01-01"));
        assert!(born_after_1990("1990"));
        assert!(!born_after_1990("1989-12"));
    }

    #[test]
    fn draws_are_reproducible_and_distinct() {
        let items: Vec<u32> = (0..1000).collect();
        let first = draw(&items, 10, 7);
        assert_eq!(first, draw(&items, 10, 7));
        assert_ne!(first, draw(&items, 10, 8));
        let distinct: BTreeSet<u32> = first.iter().copied().collect();
        assert_eq!(distinct.len(), 10);
        assert_eq!(draw(&items[..3], 10, 7), vec![0, 1, 2]);
    }

    #[test]
    fn references_and_words() {
        assert_eq!(reference_id("Patient/abc", "Patient"), Some("abc"));
        assert_eq!(reference_id("Patient/abc/_history/1", "Patient"), None);
        assert_eq!(reference_id("Group/abc", "Patient"), None);
        let found: Vec<String> = words("Diabetes mellitus type 2 (disorder)").collect();
        assert_eq!(found, ["diabetes", "mellitus", "type", "2", "disorder"]);
        assert_eq!(name_prefix("Balistreri607", 4).as_deref(), Some("Bali"));
        assert_eq!(name_prefix("O'Ke", 4), None);
    }
}
