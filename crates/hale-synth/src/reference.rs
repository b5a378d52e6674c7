//! How one generated resource points at another, in each output form.
//!
//! The same generator produces the flat form (NDJSON import: literal
//! references such as `Encounter/<id>`), the patient transaction Bundle
//! (`urn:uuid:<id>` for entries of the same Bundle, and conditional references
//! such as `Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9...` for
//! the shared resources, as Synthea writes them) and the shared batch Bundle.
//! Entries of a batch are processed independently
//! ([http.html#brules](https://hl7.org/fhir/R4/http.html#brules)), so they
//! cannot reference each other by `urn:uuid` or by a condition that another
//! entry of the same batch has to satisfy first; there, shared resources point
//! at each other with logical references (`Reference.identifier`), again as
//! Synthea does. Choosing the form while generating, rather than rewriting
//! JSON afterwards, keeps the content of every form identical and costs
//! nothing.

use serde_json::Value;

use crate::elements::fhir;

/// The form of the references a generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReferenceStyle {
    /// Literal `Type/id` references, for resources stored with their ids.
    Literal,
    /// `urn:uuid:` references to entries of the same transaction Bundle and
    /// conditional references to shared resources.
    Transaction,
    /// Logical `identifier` references between shared resources of a batch
    /// Bundle.
    Batch,
}

/// Returns a reference to a resource generated in the same unit (the same
/// patient's records, or the same shared set).
pub(crate) fn local(style: ReferenceStyle, resource_type: &str, id: &str) -> Value {
    match style {
        ReferenceStyle::Literal => fhir!({ "reference": format!("{resource_type}/{id}") }),
        ReferenceStyle::Transaction | ReferenceStyle::Batch => {
            fhir!({ "reference": format!("urn:uuid:{id}") })
        }
    }
}

/// A shared resource as a reference target: its type, id, the identifier a
/// conditional or logical reference uses, and a display.
pub(crate) struct SharedTarget<'a> {
    /// The resource type.
    pub(crate) resource_type: &'static str,
    /// The logical id in the flat form.
    pub(crate) id: &'a str,
    /// The business identifier's system.
    pub(crate) identifier_system: &'static str,
    /// The business identifier's value.
    pub(crate) identifier_value: &'a str,
    /// The human-readable name for `Reference.display`.
    pub(crate) display: &'a str,
}

/// Returns a reference to a shared resource (an Organization, Location or
/// Practitioner).
pub(crate) fn shared(style: ReferenceStyle, target: &SharedTarget<'_>) -> Value {
    match style {
        ReferenceStyle::Literal => fhir!({
            "reference": format!("{}/{}", target.resource_type, target.id),
            "display": &target.display,
        }),
        ReferenceStyle::Transaction => fhir!({
            "reference": format!(
                "{}?identifier={}|{}",
                target.resource_type, target.identifier_system, target.identifier_value
            ),
            "display": &target.display,
        }),
        ReferenceStyle::Batch => fhir!({
            "identifier": { "system": &target.identifier_system, "value": &target.identifier_value },
            "display": &target.display,
        }),
    }
}
