//! Types of the generated definition tables.
//!
//! The tables themselves live in `generated/` and are written by `cargo run -p xtask -- gen-fhir`
//! from the official R4 package; these types are the contract between the generator and the rest of
//! Hale, so they change only together with the generator.

/// The `type` of a [SearchParameter](https://hl7.org/fhir/R4/searchparameter.html).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SearchParamType {
    /// `number`.
    Number,
    /// `date`.
    Date,
    /// `string`.
    String,
    /// `token`.
    Token,
    /// `reference`.
    Reference,
    /// `composite`.
    Composite,
    /// `quantity`.
    Quantity,
    /// `uri`.
    Uri,
    /// `special`.
    Special,
}

/// One component of a composite search parameter.
#[derive(Debug)]
pub struct ComponentDef {
    /// The canonical URL of the component's search parameter definition.
    pub definition: &'static str,
    /// The code of the component's search parameter (resolved from `definition`).
    pub code: &'static str,
    /// The FHIRPath expression of the component, relative to the composite's expression.
    pub expression: &'static str,
}

/// One search parameter for one base resource type.
///
/// Parameters with several bases in the specification appear once per base, so that lookups by
/// `(resource type, code)` are a plain scan or index.
#[derive(Debug)]
pub struct SearchParamDef {
    /// The name used in URLs, such as `birthdate`.
    pub code: &'static str,
    /// The resource type this row applies to (`Resource` and `DomainResource` rows apply to all).
    pub base: &'static str,
    /// The parameter's type.
    pub kind: SearchParamType,
    /// The full FHIRPath expression as published (may cover several bases joined by `|`).
    pub expression: &'static str,
    /// Target resource types of a reference parameter.
    pub targets: &'static [&'static str],
    /// Components of a composite parameter.
    pub components: &'static [ComponentDef],
    /// The canonical URL of the definition.
    pub url: &'static str,
}

/// The maximum cardinality of an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Max {
    /// At most this many (`"0"`, `"1"`, …).
    Bounded(u32),
    /// `"*"`.
    Unbounded,
}

/// One element of a resource or data type, from the snapshot of its StructureDefinition.
#[derive(Debug)]
pub struct ElementDef {
    /// The element path, such as `Patient.name` or `Observation.value[x]`.
    pub path: &'static str,
    /// Minimum cardinality.
    pub min: u32,
    /// Maximum cardinality.
    pub max: Max,
    /// The type codes (`string`, `HumanName`, `BackboneElement`, `Reference`, …); several for a choice.
    pub types: &'static [&'static str],
    /// The `contentReference` target path without the leading `#`, such as `Questionnaire.item`.
    pub content_reference: Option<&'static str>,
    /// `isSummary`: whether the element is part of the summary (`_summary=true`).
    pub summary: bool,
}

/// The kind of a StructureDefinition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructureKind {
    /// A primitive data type such as `string` or `date`.
    PrimitiveType,
    /// A complex data type such as `HumanName`.
    ComplexType,
    /// A resource.
    Resource,
}

/// A StructureDefinition's elements (a contiguous slice of the element table).
#[derive(Debug)]
pub struct StructureDef {
    /// The type name (`Patient`, `HumanName`, `string`).
    pub name: &'static str,
    /// Primitive, complex or resource.
    pub kind: StructureKind,
    /// Whether the definition is abstract (`Resource`, `DomainResource`, `Element`, …).
    pub is_abstract: bool,
    /// The base type name (`DomainResource` for Patient), if any.
    pub base: Option<&'static str>,
    /// The snapshot elements, in snapshot order, the root element first.
    pub elements: &'static [ElementDef],
}

/// Membership of one resource type in the Patient compartment.
#[derive(Debug)]
pub struct CompartmentMember {
    /// The resource type.
    pub resource_type: &'static str,
    /// The search parameters that link it to the patient (`subject`, `patient`, …).
    pub params: &'static [&'static str],
}
