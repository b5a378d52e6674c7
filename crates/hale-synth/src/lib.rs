//! Deterministic generator of realistic, linked synthetic FHIR R4 records.
//!
//! `hale synth --patients N --seed S`, the demo data, the tests and the
//! benchmarks at a million resources and more all come from here. The crate
//! is pure: no I/O, no clock, no global state.
//!
//! # What is generated
//!
//! A **shared set** ([`shared_resources`]) of payer Organizations and care
//! sites, each an Organization with its Location and three clinicians (a
//! Practitioner and a PractitionerRole each). The number of sites grows with
//! the population (see [`SynthConfig::patients`]).
//!
//! **Per patient** ([`patient_records`]): the Patient, a Coverage, a few
//! AllergyIntolerances, and a history of visits over the last
//! [`SynthConfig::history_years`] years (wellness visits, sick visits,
//! chronic-care follow-ups, emergency visits and hospital stays). Each visit
//! is an Encounter with the Observations (vital signs, smoking status, lab
//! results), DiagnosticReports, Conditions, Procedures, Immunizations and
//! MedicationRequests it produced, and a Claim for it (plus a pharmacy Claim
//! per prescription). Patients get chronic conditions by age, with the drugs,
//! labs and lab values that go with them. On average a patient has about
//! 120 resources (from about 10 to about 350) at the default five years of
//! history; see [`SynthConfig::history_years`].
//!
//! # Forms
//!
//! * **Flat** ([`shared_resources`], [`patient_records`], [`records`]): every
//!   resource has its id (a lowercase UUID) and references are literal
//!   (`Encounter/<id>`), ready for NDJSON import.
//! * **Bundles**, shaped like Synthea's output so the same loaders work:
//!   [`shared_batch_bundle`] POSTs the shared set with `ifNoneExist` on each
//!   resource's identifier, so loading it twice creates nothing new, and
//!   [`patient_transaction_bundle`] POSTs one patient's records, which point
//!   at each other by `urn:uuid:` and at the shared set by conditional
//!   references such as
//!   `Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9012345678`.
//!   Load the shared bundle first.
//!
//! # Determinism
//!
//! Output is a pure function of the configuration: the same configuration
//! gives byte-identical JSON on every run and platform. A patient's records
//! depend only on `(seed, index, history_years)`, not on how many patients
//! there are, so patients can be generated in parallel, streamed, or
//! extended (the first 1,000 of a 2,000-patient set are the 1,000-patient
//! set). Dates are relative to [`REFERENCE_DATE`], never to the clock. See
//! the `random` module for how platform independence is kept.
//!
//! # Example
//!
//! ```
//! let config = hale_synth::SynthConfig::new(10, 42);
//! let shared = hale_synth::shared_resources(&config);
//! let first = hale_synth::patient_records(&config, 0);
//! assert_eq!(first[0]["resourceType"], "Patient");
//! assert!(shared.iter().any(|r| r["resourceType"] == "Practitioner"));
//! ```

#![warn(missing_docs)]
// The `fhir!` builder munches tokens recursively, one level per token of an
// object's members, which is deeper than the default limit for big resources.
#![recursion_limit = "512"]

mod bundle;
mod calendar;
mod demographics;
mod elements;
mod encounter;
mod patient;
mod random;
mod reference;
mod shared;
mod terminology;

use serde_json::Value;

use crate::reference::ReferenceStyle;

/// The day every generated history ends, as a FHIR date. Every generated
/// date is before it; patient ages are measured at it.
pub const REFERENCE_DATE: &str = "2026-01-01";

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthConfig {
    /// How many patients. Patient indexes run from `0` to `patients - 1`. The
    /// shared set holds twelve care sites plus one per 250 patients, so that
    /// references to clinicians and organizations stay about as selective as
    /// in real data.
    pub patients: u64,
    /// The seed. Different seeds give unrelated data, with different ids.
    pub seed: u64,
    /// How many years of history each patient has (at most their age). The
    /// number of resources per patient grows about linearly with it: about
    /// 120 on average at the default of 5, about 225 at 10. Values are
    /// clamped to `1..=100`.
    pub history_years: u32,
}

impl SynthConfig {
    /// The default of [`SynthConfig::history_years`].
    pub const DEFAULT_HISTORY_YEARS: u32 = 5;

    /// Returns the configuration for `patients` patients from `seed`, with
    /// the default history length.
    pub fn new(patients: u64, seed: u64) -> Self {
        Self {
            patients,
            seed,
            history_years: Self::DEFAULT_HISTORY_YEARS,
        }
    }

    /// Returns the history length actually used.
    fn effective_history_years(&self) -> u32 {
        self.history_years.clamp(1, 100)
    }
}

/// Returns the shared resources every patient's records reference: the payer
/// Organizations, then for each care site its Organization, its Location and
/// its clinicians' Practitioners and PractitionerRoles. Resources have ids and
/// literal references.
pub fn shared_resources(config: &SynthConfig) -> Vec<Value> {
    shared::resources(config.seed, config.patients, ReferenceStyle::Literal)
}

/// Returns every resource of patient number `index` (0-based), the Patient
/// first. Resources have ids and literal references; references to shared
/// resources resolve within [`shared_resources`] of any configuration with
/// more than `index` patients.
///
/// The result depends only on `config.seed`, `config.history_years` and
/// `index`.
pub fn patient_records(config: &SynthConfig, index: u64) -> Vec<Value> {
    patient::records(config, index, ReferenceStyle::Literal)
}

/// Returns patient number `index` as a FHIR `transaction` Bundle: the same
/// resources as [`patient_records`], without ids, each POSTed with an
/// `urn:uuid:` fullUrl that the other entries reference, and with conditional
/// references to the shared resources (which [`shared_batch_bundle`] creates).
pub fn patient_transaction_bundle(config: &SynthConfig, index: u64) -> Value {
    bundle::transaction(patient::records(config, index, ReferenceStyle::Transaction))
}

/// Returns the shared resources as a FHIR `batch` Bundle: each entry POSTed
/// with `ifNoneExist` on its identifier, so that loading the bundle again
/// creates nothing new, and with logical (identifier) references between the
/// shared resources, because entries of a batch cannot depend on each other.
pub fn shared_batch_bundle(config: &SynthConfig) -> Value {
    bundle::batch(shared::resources(
        config.seed,
        config.patients,
        ReferenceStyle::Batch,
    ))
}

/// Returns every resource of the configuration in the flat form: the shared
/// resources, then each patient's records in index order. The iterator
/// generates lazily, one patient at a time.
pub fn records(config: &SynthConfig) -> impl Iterator<Item = Value> + '_ {
    shared_resources(config)
        .into_iter()
        .chain((0..config.patients).flat_map(move |index| patient_records(config, index)))
}
