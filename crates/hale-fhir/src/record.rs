//! What a Patient's record is, for [Patient
//! `$everything`](https://hl7.org/fhir/R4/patient-operation-everything.html).
//!
//! The record is the Patient, every resource in its compartment (`CompartmentDefinition-patient`),
//! and the Medications and Devices that those resources reference or, for a Device, that name the
//! Patient as theirs. These are the Patient's own things: a Synthea record carries one Medication
//! per prescription, and R4 left Device out of the compartment although `Device.patient` says whose
//! it is. The record is what `$everything` pages through and counts in `total`, and what
//! `DELETE …/$everything` erases.
//!
//! The Practitioners, Organizations and Locations the record references are the directory: one
//! Practitioner is shared by the records of every patient she saw. `$everything` returns them
//! once, as included resources that do not count toward `total` (like `_include`), and erasing a
//! record removes one of them only when nothing outside the record still references it.

use crate::definitions::search_params_for;
use crate::generated::R4_PATIENT_COMPARTMENT;
use crate::table::SearchParamType;

/// Types outside the compartment that are part of a record when the record references them.
pub const REFERENCED_MEMBERS: &[&str] = &["Device", "Medication"];

/// The reference parameter through which a resource of `REFERENCED_MEMBERS` names its Patient:
/// `Device.patient`.
pub const DEVICE_PATIENT: (&str, &str) = ("Device", "patient");

/// The directory types a record's resources reference, returned alongside the record.
pub const REFERENCED_DIRECTORY: &[&str] = &["Location", "Organization", "Practitioner"];

/// Every type a record may hold, sorted: the compartment's member types, `Patient` among them,
/// and [`REFERENCED_MEMBERS`].
pub fn member_types() -> Vec<&'static str> {
    let mut types: Vec<&'static str> = R4_PATIENT_COMPARTMENT
        .iter()
        .map(|member| member.resource_type)
        .chain(REFERENCED_MEMBERS.iter().copied())
        .collect();
    types.sort_unstable();
    types.dedup();
    types
}

/// The date search parameters that say when care happened, in the order a type's first one is
/// taken. `$everything`'s `start` and `end` test it; `_lastUpdated` and `_since` are about the
/// record, not the care, and birth dates and expiry dates are not care either.
/// `authoredon` comes before `date`: a MedicationRequest's `date` is its dosage timing, which is
/// rarely given.
const CARE_DATE_PARAMS: &[&str] = &[
    "authoredon",
    "effective-time",
    "effective",
    "date",
    "onset-date",
    "recorded-date",
    "started",
    "period",
    "occurrence",
    "created",
    "issued",
];

/// The search parameter holding the date of care of `resource_type` (`Observation`: `date`,
/// `MedicationRequest`: `authoredon`, `Claim`: `created`), or `None` for a type without one
/// (`Patient`, `Medication`), whose resources no `start` or `end` leaves out.
pub fn care_date_param(resource_type: &str) -> Option<&'static str> {
    CARE_DATE_PARAMS.iter().copied().find(|code| {
        search_params_for(resource_type)
            .any(|param| param.kind == SearchParamType::Date && param.code == *code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn care_dates_follow_the_type() {
        assert_eq!(care_date_param("Observation"), Some("date"));
        assert_eq!(care_date_param("MedicationRequest"), Some("authoredon"));
        assert_eq!(
            care_date_param("MedicationAdministration"),
            Some("effective-time")
        );
        assert_eq!(care_date_param("Claim"), Some("created"));
        assert_eq!(care_date_param("Condition"), Some("onset-date"));
        assert_eq!(care_date_param("ImagingStudy"), Some("started"));
        // A birth date is not care, and a Medication has no date of care at all.
        assert_eq!(care_date_param("Patient"), None);
        assert_eq!(care_date_param("Medication"), None);
    }

    #[test]
    fn members_are_sorted_and_hold_the_referenced_types() {
        let types = member_types();
        assert!(types.windows(2).all(|pair| pair[0] < pair[1]));
        for wanted in ["Patient", "Observation", "Medication", "Device"] {
            assert!(types.contains(&wanted), "{wanted}");
        }
        assert!(!types.contains(&"Practitioner"));
    }
}
