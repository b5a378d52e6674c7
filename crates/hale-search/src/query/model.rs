//! The typed form of a FHIR search, and the matching rules every store implements.
//!
//! A [`SearchQuery`] selects resources: its [`Criterion`]s are ANDed, and the values inside one
//! criterion are alternatives (ORed), as a repeated parameter and a comma-separated value are in
//! a URL. A [`SearchRequest`] adds what shapes the result: sorting, includes, paging, totals and
//! summaries. Parsing (in [`super::parse`]) resolves every parameter against the generated R4
//! table, so a store never looks a parameter up and never sees a value it cannot compare.
//!
//! # Matching rules
//!
//! Index entries are those of [`crate::index::IndexEntry`]. A resource matches a [`Test`] when at
//! least one of its entries for the test's code matches at least one value, except where a rule
//! below says otherwise (`:not`, `:missing`, `ne` act on the resource, not on one entry).
//!
//! **Dates** ([`DateBound`]): the search value is the inclusive range `[sl, sh]` its precision
//! implies (`2020` is the whole year, UTC when no zone is given), the entry is `[rl, rh]`:
//!
//! | prefix | the entry matches when |
//! |---|---|
//! | `eq` | `rl >= sl && rh <= sh` (the search range contains the entry) |
//! | `ne` | not `eq` |
//! | `gt` | `rh > sh` |
//! | `lt` | `rl < sl` |
//! | `ge` | `gt` or `eq` |
//! | `le` | `lt` or `eq` |
//! | `sa` | `rl > sh` |
//! | `eb` | `rh < sl` |
//! | `ap` | the ranges overlap; the parser has already widened `[sl, sh]` by 10% of its distance from now |
//!
//! **Numbers and quantities** ([`NumberBound`]): the entry's `value` `v` against the search value
//! `s` and the half-open range `[sl, sh)` its precision implies (`100` is `[99.5, 100.5)`):
//! `eq` is `sl <= v < sh`, `ne` its negation, `gt`/`sa` `v > s`, `lt`/`eb` `v < s`, `ge` `v >= s`,
//! `le` `v <= s`, and `ap` `sl <= v < sh` again, the parser having widened the range to ±10% of `s`.
//! A quantity's `system` and `code`, when given, must equal the entry's `system` and `unit`. An
//! entry in [`crate::ucum::CANONICAL_SYSTEM`] is the canonical twin of a UCUM entry: only a test
//! that names that system matches it (the parser converts UCUM units to it), and sorting ignores
//! it.
//!
//! **`ne`** (dates, numbers, quantities) matches a resource that has an entry for the code and
//! none of whose entries is `eq`, as if it were `:not` on `eq`.
//!
//! **Strings** are compared in [`crate::normalize::normalize_string`] form: [`StringMatch::Prefix`]
//! when the entry starts with the value, [`StringMatch::Contains`] when it contains it anywhere;
//! [`StringMatch::Exact`] compares the entry's `exact` text with the value as written.
//!
//! **Tokens**: [`TokenValue`] as in the specification; `:not` ([`Test::Token`] with `negate`)
//! matches resources that have no matching entry, including resources with no entry at all.
//!
//! **`:missing`**: `true` matches resources with no entry for the code, `false` those with one.
//!
//! **Full text** ([`Test::Text`]): every word of a value must occur in the resource's text (its
//! narrative for `_text`, all of its strings for `_content`); the last word matches as a prefix.
use hale_fhir::table::SearchParamType;

/// `_summary`, defined in `hale-fhir` beside [`hale_fhir::summary::summarize`], which applies it.
pub use hale_fhir::summary::Summary;

/// A search over one resource type, or over all types for a system search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    /// The resource type searched, or `"Resource"` for a system search (see `types`).
    pub resource_type: &'static str,
    /// For a system search, the types of `_type`; empty means every type. Empty otherwise.
    pub types: Vec<&'static str>,
    /// ANDed criteria. A query without criteria matches every resource of the type.
    pub criteria: Vec<Criterion>,
}

impl SearchQuery {
    /// A query of `resource_type` with these criteria.
    pub fn new(resource_type: &'static str, criteria: Vec<Criterion>) -> Self {
        SearchQuery {
            resource_type,
            types: Vec::new(),
            criteria,
        }
    }

    /// A query that matches every resource of `resource_type`.
    pub fn all(resource_type: &'static str) -> Self {
        SearchQuery {
            resource_type,
            types: Vec::new(),
            criteria: Vec::new(),
        }
    }
}

/// One condition a resource must meet.
#[derive(Clone, Debug, PartialEq)]
pub enum Criterion {
    /// A parameter of the resource's own type.
    Param(ParamTest),
    /// [Chaining](https://hl7.org/fhir/R4/search.html#chaining): the resource's reference
    /// parameter `code` points at a current resource of `target_type` that meets `inner` (itself
    /// possibly a chain). `subject:Patient.name=x` is `Chain { code: "subject", target_type:
    /// "Patient", inner: Param(name) }`.
    Chain {
        /// The reference parameter of the resource searched.
        code: &'static str,
        /// The type of the referenced resources.
        target_type: &'static str,
        /// What the referenced resource must meet.
        inner: Box<Criterion>,
    },
    /// [Reverse chaining](https://hl7.org/fhir/R4/search.html#has): some current resource of
    /// `source_type` whose reference parameter `code` points at the resource meets `inner`.
    /// `_has:Observation:patient:code=x` is `Has { source_type: "Observation", code: "patient",
    /// inner: Param(code) }`.
    Has {
        /// The type of the referring resources.
        source_type: &'static str,
        /// Their reference parameter that points at the resource searched.
        code: &'static str,
        /// What the referring resource must meet.
        inner: Box<Criterion>,
    },
    /// Alternatives: a chain without a type whose parameter exists on several target types
    /// becomes one [`Criterion::Chain`] per type, any of which may hold.
    Any(Vec<Criterion>),
    /// Every one of these holds: a conjunction inside an [`Criterion::Any`], such as one of
    /// several `_typeFilter` queries of a bulk export.
    All(Vec<Criterion>),
    /// The resource is referenced by a current resource in the compartment of one of `patients`:
    /// the Practitioners, Organizations, Medications a Group export takes along with its
    /// members' records.
    ReferencedFrom {
        /// The Patients' ids.
        patients: Vec<String>,
    },
    /// Membership of the Patient compartment of `patient_id` ([compartment
    /// search](https://hl7.org/fhir/R4/search.html#compartments) `Patient/{id}/Observation`).
    Compartment {
        /// The Patient's id.
        patient_id: String,
    },
}

impl Criterion {
    /// A test on one parameter of the resource's own type.
    pub fn param(code: &'static str, test: Test) -> Self {
        Criterion::Param(ParamTest { code, test })
    }
}

/// A test on the index entries of one search parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamTest {
    /// The parameter code (`birthdate`), as in [`crate::index::IndexEntry::code`].
    pub code: &'static str,
    /// The test.
    pub test: Test,
}

/// What a [`ParamTest`] checks; each variant's values are alternatives.
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// `:missing=true` (`true`) or `:missing=false` (`false`).
    Missing(bool),
    /// `_id`: the resource's logical id is one of these.
    Id(Vec<String>),
    /// `_lastUpdated`: the resource's `meta.lastUpdated`, a point in time, against date bounds.
    LastUpdated(Vec<DateBound>),
    /// A string parameter. Values are normalized for [`StringMatch::Prefix`] and
    /// [`StringMatch::Contains`], as written for [`StringMatch::Exact`].
    String {
        /// How the value is compared.
        mode: StringMatch,
        /// The alternatives.
        values: Vec<String>,
    },
    /// A token parameter; with `negate` (`:not`), resources with no matching entry.
    Token {
        /// `:not`.
        negate: bool,
        /// The alternatives.
        values: Vec<TokenValue>,
    },
    /// `:text` on a token: the entry's text (display or CodeableConcept text), normalized,
    /// starts with the value (normalized).
    TokenText(Vec<String>),
    /// `:of-type` on an Identifier token.
    OfType(Vec<OfType>),
    /// A reference parameter.
    Reference(Vec<ReferenceValue>),
    /// `:identifier` on a reference parameter: the `Reference.identifier` matches.
    ReferenceIdentifier(Vec<TokenValue>),
    /// A date parameter.
    Date(Vec<DateBound>),
    /// A number parameter.
    Number(Vec<NumberBound>),
    /// A quantity parameter.
    Quantity(Vec<QuantityBound>),
    /// A uri parameter.
    Uri {
        /// How the value is compared.
        mode: UriMatch,
        /// The alternatives.
        values: Vec<String>,
    },
    /// A composite parameter: each alternative holds one test per component, in the
    /// definition's order, and all of them must hold on the same composite entry (component `i`
    /// of the entry against test `i`). Each component test has exactly one value.
    Composite(Vec<Vec<ParamTest>>),
    /// `_content` or `_text` full text; see the module documentation.
    Text(Vec<String>),
}

/// How a string parameter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringMatch {
    /// The default: the normalized entry starts with the normalized value.
    Prefix,
    /// `:contains`: the normalized entry contains the normalized value.
    Contains,
    /// `:exact`: the entry as written equals the value as written.
    Exact,
}

/// How a uri parameter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UriMatch {
    /// The entry equals the value.
    Exact,
    /// `:below`: the entry starts with the value.
    Below,
    /// `:above`: the value starts with the entry.
    Above,
}

/// One value of a token parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenValue {
    /// `code`: any system.
    Code(String),
    /// `system|code`.
    SystemCode(String, String),
    /// `|code`: a code without a system.
    NoSystemCode(String),
    /// `system|`: any code in the system.
    System(String),
}

/// One value of `:of-type`: `type-system|type-code|value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfType {
    /// The system of the Identifier's `type` coding.
    pub type_system: String,
    /// The code of the Identifier's `type` coding.
    pub type_code: String,
    /// The Identifier's `value`.
    pub value: String,
}

/// One value of a reference parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferenceValue {
    /// `Type/id`, a bare `id` (typed when the parameter has one target or `:Type` was given), or
    /// an absolute URL of this server, made relative by the parser.
    Local {
        /// The target type, if known.
        target_type: Option<String>,
        /// The target id.
        target_id: String,
    },
    /// Another absolute URL, a `urn:`, or a canonical, with the `|version` split off.
    Url {
        /// The URL.
        url: String,
        /// The canonical version, if one was given.
        version: Option<String>,
    },
}

/// A comparison prefix of a date, number or quantity value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// `eq` (the default).
    Eq,
    /// `ne`.
    Ne,
    /// `gt`.
    Gt,
    /// `lt`.
    Lt,
    /// `ge`.
    Ge,
    /// `le`.
    Le,
    /// `sa`.
    Sa,
    /// `eb`.
    Eb,
    /// `ap`.
    Ap,
}

/// A date search value: a prefix and the inclusive range the value's precision implies, in
/// epoch microseconds (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateBound {
    /// The prefix.
    pub prefix: Prefix,
    /// The first microsecond of the value.
    pub low: i64,
    /// The last microsecond of the value.
    pub high: i64,
}

/// A number search value: a prefix, the value, and the half-open range `[low, high)` its
/// precision implies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NumberBound {
    /// The prefix.
    pub prefix: Prefix,
    /// The value as given.
    pub value: f64,
    /// The lower end of the implied range, inclusive.
    pub low: f64,
    /// The upper end of the implied range, exclusive.
    pub high: f64,
}

/// A quantity search value: `[prefix]number|system|code`.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantityBound {
    /// The number and its prefix.
    pub number: NumberBound,
    /// The unit system, if given.
    pub system: Option<String>,
    /// The unit code, if given (compared with the entry's `unit`).
    pub code: Option<String>,
}

/// Everything a search request asks for: the query and the shape of the result.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchRequest {
    /// Which resources match.
    pub query: SearchQuery,
    /// `_sort`, in order of significance; empty means the store's order (creation order).
    pub sort: Vec<SortKey>,
    /// `_count`, as given (the server applies its default and maximum).
    pub count: Option<usize>,
    /// `_skip`, as given (the server applies its maximum).
    pub skip: Option<usize>,
    /// `_total`.
    pub total: Option<TotalMode>,
    /// `_summary`.
    pub summary: Option<Summary>,
    /// `_elements`: the top-level element names to keep (empty when absent).
    pub elements: Vec<String>,
    /// `_include`.
    pub includes: Vec<Include>,
    /// `_revinclude`.
    pub revincludes: Vec<Include>,
    /// Parameters left out in lenient handling, with the reason, for the outcome entry.
    pub ignored: Vec<Ignored>,
}

/// A parameter that lenient handling skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// The parameter name as given, with any modifier.
    pub param: String,
    /// Why, as [`QueryError`](super::QueryError)'s message says it.
    pub reason: String,
}

/// One `_sort` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortKey {
    /// The parameter code (`_id`, `_lastUpdated`, or a parameter of the type).
    pub code: &'static str,
    /// What the key is.
    pub kind: SortKind,
    /// `-code`.
    pub descending: bool,
}

/// What a sort key sorts on. For a parameter with several entries, ascending order uses the
/// smallest value and descending the largest; resources without a value come last either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKind {
    /// The logical id.
    Id,
    /// `meta.lastUpdated`.
    LastUpdated,
    /// A string parameter: the normalized value.
    String,
    /// A token parameter: the code.
    Token,
    /// A date parameter: the low end of the range (ascending) or the high end (descending).
    Date,
    /// A number parameter: the value.
    Number,
    /// A quantity parameter: the value.
    Quantity,
    /// A uri parameter.
    Uri,
    /// A reference parameter: `Type/id` or the URL.
    Reference,
}

impl SortKind {
    /// The sort kind for a parameter type, if that type can be sorted on.
    pub fn for_param(kind: SearchParamType) -> Option<SortKind> {
        Some(match kind {
            SearchParamType::String => SortKind::String,
            SearchParamType::Token => SortKind::Token,
            SearchParamType::Date => SortKind::Date,
            SearchParamType::Number => SortKind::Number,
            SearchParamType::Quantity => SortKind::Quantity,
            SearchParamType::Uri => SortKind::Uri,
            SearchParamType::Reference => SortKind::Reference,
            SearchParamType::Composite | SearchParamType::Special => return None,
        })
    }
}

/// `_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotalMode {
    /// No total.
    None,
    /// A total that may be approximate (Hale carries the first page's count along the pages).
    Estimate,
    /// An exact count on every page.
    Accurate,
}

/// One `_include` or `_revinclude`.
///
/// `_include=Observation:subject:Patient` is `{ source_type: "Observation", code: Some("subject"),
/// target_type: Some("Patient") }`: the Patients that the matched Observations' `subject`
/// references point at. `_revinclude=Provenance:target` is `{ source_type: "Provenance", code:
/// Some("target"), .. }`: the Provenances whose `target` points at a matched resource. `code:
/// None` is `*`, every reference parameter of `source_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Include {
    /// The type that holds the reference.
    pub source_type: &'static str,
    /// The reference parameter, or `None` for `*`.
    pub code: Option<&'static str>,
    /// Only references to this type.
    pub target_type: Option<&'static str>,
    /// `:iterate` (or its R3 name `:recurse`): apply to included resources too.
    pub iterate: bool,
}
