//! Index entries: what a stored resource contributes to the per-type search index tables.
//!
//! Every entry names the search parameter `code` it belongs to. The store writes each variant to its
//! own table in the same transaction as the resource, so the shapes here are the storage schema's.
//!
//! [`extract`] evaluates the FHIRPath expression of every search parameter that applies to the
//! resource type (its own and those of `Resource` and `DomainResource`; R4's and the Plan-Net
//! guide's, as [`hale_fhir::definitions::search_params`] serves them) and turns each value into
//! entries according to the parameter's type and the value's FHIR data type, following the
//! [search page](https://hl7.org/fhir/R4/search.html) of the specification:
//!
//! | parameter | values and what they give |
//! |---|---|
//! | string | string and markdown; HumanName `family`, `given`, `prefix`, `suffix`, `text`; Address `line`, `city`, `district`, `state`, `postalCode`, `country`, `text`; one entry each |
//! | token | Coding (`system`, `code`, `display`); CodeableConcept (each coding, and `text` alone); Identifier (`system`, `value`, `type.text`); ContactPoint (`value` only); code, id, string, uri and boolean primitives (`true`/`false`) |
//! | reference | Reference `reference` (`Type/id`, absolute URL, `urn:`), canonical and uri values (`url\|version`), and Reference `identifier` as a token entry (see [`IndexEntry::Reference`]) |
//! | date | date, dateTime and instant as the range their precision implies; Period; Timing (its events and bounds) |
//! | number | decimal and integer with the range their precision implies; Range |
//! | quantity | Quantity and its kinds (Age, Duration, Count, Distance), Money, Range |
//! | uri | uri, url and canonical values as written |
//! | composite | the combinations of its components' entries for each match ([`IndexEntry::Composite`]) |
//!
//! The full-text parameters get one [`IndexEntry::Text`] each, for the store's full-text index:
//! `_content` holds every string value of the resource (codes, displays and identifiers
//! included, the narrative excepted), and `_text` the narrative with its markup removed, both in
//! [`normalize_string`] form. The other `special` parameters (`near`, `_filter`) are skipped:
//! `near` needs coordinates the store does not keep yet. Parameters without an expression in R4
//! (`_query`) are skipped too. Identical entries of one parameter are written once.
//!
//! An Identifier's token entry carries its `type` as `system|code` (the first coding that has
//! both) for `:of-type`.
//!
//! Expressions are parsed and specialized per resource type once, on first use, into a plan held
//! in a [`LazyLock`]; extraction then only walks JSON. Every expression of the tables is within
//! the FHIRPath subset of [`crate::fhirpath`] (a test enumerates them); an expression outside it
//! would yield no entries rather than fail the write.
//!
//! Known limits: references to contained resources (`#id`) and the contained resources themselves
//! are not indexed; an absolute reference to this server's own base URL is indexed as a URL, so the
//! write path should make such references relative first; and a decimal's trailing zeros are lost
//! in parsing, so `1.50` gets the range of `1.5` (see [`number_range`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use hale_fhir::definitions::search_params;
use hale_fhir::table::SearchParamType;
use serde_json::{Map, Number, Value};

use crate::fhirpath::{Expression, FhirPathError, FhirType, Item, is_resource_type_name};
use crate::normalize::normalize_string;

/// The version of the extraction rules in this module. Bump it whenever a change makes
/// [`extract`] or [`compartment_patients`] give other entries for the same resource, so that
/// stores built by the old rules are known to need `hale reindex`.
pub const EXTRACTION_VERSION: u32 = 3;

/// What a store records with its index: the extraction rules and the search-parameter tables that
/// built it (R4's and the Plan-Net guide's, each by its package's hash). A store whose recorded
/// fingerprint differs needs its index rebuilt.
pub fn fingerprint() -> String {
    format!(
        "r4-{}-plan-net-{}-{EXTRACTION_VERSION}",
        &hale_fhir::generated::R4_SOURCE_SHA256[..16],
        &hale_fhir::generated::PLAN_NET_SOURCE_SHA256[..16]
    )
}

/// Whether a resource of `resource_type` has at most one [`IndexEntry::Reference`] for the
/// reference parameter `code` (`Observation.patient`: `subject`, at most one Reference), so that a
/// store may count such entries instead of distinct resources. A Reference item gives at most one
/// reference entry (its identifier goes to a token entry), so this is the cardinality of the
/// parameter's expression.
pub fn at_most_one_reference(resource_type: &str, code: &str) -> bool {
    plan_for(resource_type).iter().any(|param| {
        param.code == code
            && param.kind == SearchParamType::Reference
            && param.expression.at_most_one(resource_type)
    })
}

/// One value extracted from a resource for one search parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexEntry {
    /// A `string` parameter value, normalized (lower case, accents folded, whitespace collapsed).
    String {
        /// The search parameter code.
        code: &'static str,
        /// The normalized value used for prefix, `:contains` matching.
        normalized: String,
        /// The value as written, used for `:exact`.
        exact: String,
    },
    /// A `token` parameter value.
    ///
    /// Under the code of a `reference` parameter, a token entry is the `Reference.identifier` of a
    /// logical reference, for the `:identifier` modifier (`subject:identifier=system|value`).
    /// Reference parameters otherwise only ever have [`IndexEntry::Reference`] entries, so the
    /// token table can hold these without ambiguity and the store needs no extra columns.
    Token {
        /// The search parameter code.
        code: &'static str,
        /// The coding system or identifier system, if any.
        system: Option<String>,
        /// The code or value, if any.
        value: Option<String>,
        /// Display or text, normalized, for `:text`.
        text: Option<String>,
        /// For an Identifier, its `type` coding as `system|code`, for `:of-type`.
        of_type: Option<String>,
    },
    /// A `reference` parameter value.
    ///
    /// A local reference (`Patient/123`, also with `/_history/2`, which is dropped) fills
    /// `target_type` and `target_id`; an absolute URL, a `urn:uuid:`/`urn:oid:` reference or a
    /// canonical fills `url` (and `version` for `url|version`). References to contained resources
    /// (`#id`) are not indexed. A reference given only by `identifier` is indexed as an
    /// [`IndexEntry::Token`] under the same code.
    Reference {
        /// The search parameter code.
        code: &'static str,
        /// The target resource type for a literal local reference (`Patient/123`).
        target_type: Option<String>,
        /// The target id for a literal local reference.
        target_id: Option<String>,
        /// The full URL for an absolute or canonical reference (version stripped off into `version`).
        url: Option<String>,
        /// The version of a canonical reference (`url|version`), if any.
        version: Option<String>,
    },
    /// A `date` parameter value as an inclusive range in epoch microseconds (UTC).
    Date {
        /// The search parameter code.
        code: &'static str,
        /// Lower bound, inclusive (i64::MIN for an open start).
        low: i64,
        /// Upper bound, inclusive (i64::MAX for an open end).
        high: i64,
    },
    /// A `number` parameter value, as the range implied by its precision.
    Number {
        /// The search parameter code.
        code: &'static str,
        /// The value as written.
        value: f64,
        /// Lower bound of the implied range.
        low: f64,
        /// Upper bound of the implied range.
        high: f64,
    },
    /// A `quantity` parameter value.
    Quantity {
        /// The search parameter code.
        code: &'static str,
        /// The value as written.
        value: f64,
        /// Lower bound of the implied range.
        low: f64,
        /// Upper bound of the implied range.
        high: f64,
        /// The unit system.
        system: Option<String>,
        /// The coded unit (`Quantity.code`), or else `Quantity.unit`.
        unit: Option<String>,
    },
    /// A `uri` parameter value.
    Uri {
        /// The search parameter code.
        code: &'static str,
        /// The URI as written.
        value: String,
    },
    /// A `composite` parameter value: one combination of its components' values, all taken from
    /// the same match of the composite's expression.
    ///
    /// For `Observation?code-value-quantity=http://loinc.org|8480-6$gt100`, an Observation whose
    /// `code` has two codings and whose `valueQuantity` is 120 `mm[Hg]` gives two entries, each with
    /// a [`IndexEntry::Token`] (code `code`) and a [`IndexEntry::Quantity`] (code `value-quantity`).
    /// Components are in the order of the parameter's definition, each under its own parameter's
    /// code, so a query matches component `i` of the search value against `components[i]` with the
    /// ordinary rules of that component's type. Text-only tokens (a CodeableConcept's bare `text`)
    /// are left out of components, since a composite search names codes.
    Composite {
        /// The search parameter code of the composite.
        code: &'static str,
        /// One entry per component, in definition order.
        components: Vec<IndexEntry>,
    },
    /// Full text for `_content` (every string of the resource) or `_text` (the narrative, without
    /// markup), one entry per parameter, for the store's full-text index.
    Text {
        /// `_content` or `_text`.
        code: &'static str,
        /// The words, separated by spaces.
        text: String,
    },
}

impl IndexEntry {
    /// The search parameter code of this entry.
    pub fn code(&self) -> &'static str {
        match self {
            IndexEntry::String { code, .. }
            | IndexEntry::Token { code, .. }
            | IndexEntry::Reference { code, .. }
            | IndexEntry::Date { code, .. }
            | IndexEntry::Number { code, .. }
            | IndexEntry::Quantity { code, .. }
            | IndexEntry::Uri { code, .. }
            | IndexEntry::Composite { code, .. }
            | IndexEntry::Text { code, .. } => code,
        }
    }
}

/// Extracts the index entries of `resource`, a resource of type `resource_type`, for every search
/// parameter of that type and of `Resource` and `DomainResource`.
///
/// Extraction never fails: values that do not fit their parameter (an unparseable date, a token
/// parameter that meets a Quantity) are skipped. An unknown resource type gets the parameters of
/// `Resource`.
pub fn extract(resource_type: &str, resource: &Value) -> Vec<IndexEntry> {
    let mut entries = Vec::new();
    let mut items = Vec::new();
    for param in plan_for(resource_type) {
        items.clear();
        param
            .expression
            .evaluate_into(resource, Item::json(resource), &mut items);
        if items.is_empty() {
            continue;
        }
        let start = entries.len();
        if param.kind == SearchParamType::Composite {
            composite_entries(param, resource, &items, &mut entries);
        } else {
            for item in &items {
                push_entries(param.kind, param.code, item, &mut entries);
            }
        }
        deduplicate_from(&mut entries, start);
    }
    push_full_text(resource, &mut entries);
    entries
}

/// Appends the `_content` and `_text` entries of `resource`, each only when it has words.
fn push_full_text(resource: &Value, out: &mut Vec<IndexEntry>) {
    let mut content = String::new();
    collect_strings(resource, &mut content);
    if !content.is_empty() {
        out.push(IndexEntry::Text {
            code: "_content",
            text: content,
        });
    }
    let narrative = resource
        .get("text")
        .and_then(|text| text.get("div"))
        .and_then(Value::as_str)
        .map(|div| normalize_string(&narrative_text(div)))
        .unwrap_or_default();
    if !narrative.is_empty() {
        out.push(IndexEntry::Text {
            code: "_text",
            text: narrative,
        });
    }
}

/// Appends every string value under `value`, normalized, to `out`, separated by spaces.
///
/// Property names are not content, and neither is `resourceType`. A narrative's `div` is left out
/// because `_text` covers it, and its markup would otherwise fill `_content` with tag names.
fn collect_strings(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => {
            let normalized = normalize_string(text);
            if !normalized.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&normalized);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_strings(item, out);
            }
        }
        Value::Object(object) => {
            for (key, child) in object {
                match (key.as_str(), child) {
                    ("resourceType", _) => {}
                    ("text", Value::Object(narrative)) if narrative.contains_key("div") => {
                        for (key, child) in narrative {
                            if key != "div" {
                                collect_strings(child, out);
                            }
                        }
                    }
                    _ => collect_strings(child, out),
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The text of an XHTML narrative: tags become spaces, so that the words of adjacent cells stay
/// apart, and character references are decoded.
fn narrative_text(div: &str) -> String {
    let mut out = String::with_capacity(div.len());
    let mut rest = div;
    while let Some(start) = rest.find('<') {
        decode_entities(&rest[..start], &mut out);
        out.push(' ');
        rest = match rest[start..].find('>') {
            Some(end) => &rest[start + end + 1..],
            None => "",
        };
    }
    decode_entities(rest, &mut out);
    out
}

/// Decodes the XML entities, the `&nbsp;` that XHTML narratives use, and numeric character
/// references; anything else that starts with `&` is kept as written.
fn decode_entities(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let decoded = after.find(';').filter(|end| *end <= 10).and_then(|end| {
            let name = &after[..end];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ => {
                    let number = name.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// The ids of the Patients whose [compartment](https://hl7.org/fhir/R4/compartmentdefinition-patient.html)
/// `resource` belongs to, without duplicates.
///
/// These are the local `Patient/…` references of the parameters that the Patient
/// CompartmentDefinition lists for the type (`subject` and `performer` for an Observation). A
/// Patient is in its own compartment, and also in those of the patients it links to (`link`).
pub fn compartment_patients(resource_type: &str, resource: &Value) -> Vec<String> {
    let mut patient_ids: Vec<String> = Vec::new();
    if resource_type == "Patient"
        && let Some(id) = resource.get("id").and_then(Value::as_str)
    {
        patient_ids.push(id.to_owned());
    }
    let compartment_params = hale_fhir::definitions::patient_compartment_params(resource_type);
    if compartment_params.is_empty() {
        return patient_ids;
    }
    let mut items = Vec::new();
    let mut entries = Vec::new();
    for param in plan_for(resource_type) {
        if param.kind != SearchParamType::Reference || !compartment_params.contains(&param.code) {
            continue;
        }
        items.clear();
        param
            .expression
            .evaluate_into(resource, Item::json(resource), &mut items);
        for item in &items {
            push_entries(param.kind, param.code, item, &mut entries);
        }
    }
    for entry in entries {
        if let IndexEntry::Reference {
            target_type: Some(target_type),
            target_id: Some(target_id),
            ..
        } = entry
            && target_type == "Patient"
            && !patient_ids.contains(&target_id)
        {
            patient_ids.push(target_id);
        }
    }
    patient_ids
}

/// Every distinct expression of the search parameter tables (composite components included)
/// that is outside the supported FHIRPath subset, with the reason. Such parameters yield no
/// entries; the list is empty for R4 and Plan-Net, and a test keeps it so.
pub fn unsupported_expressions() -> Vec<(&'static str, FhirPathError)> {
    let mut unsupported: Vec<(&'static str, FhirPathError)> = Vec::new();
    let expressions = search_params().iter().flat_map(|def| {
        std::iter::once(def.expression)
            .chain(def.components.iter().map(|component| component.expression))
    });
    for expression in expressions {
        if expression.is_empty() || unsupported.iter().any(|(seen, _)| *seen == expression) {
            continue;
        }
        if let Err(error) = Expression::parse(expression) {
            unsupported.push((expression, error));
        }
    }
    unsupported
}

// ---------------------------------------------------------------------------------------------
// Plans: the parsed and specialized expressions per resource type, built once.

/// One search parameter, ready to evaluate for one resource type.
struct CompiledParam {
    code: &'static str,
    kind: SearchParamType,
    expression: Expression,
    components: Vec<CompiledComponent>,
}

/// One component of a composite parameter.
struct CompiledComponent {
    code: &'static str,
    kind: SearchParamType,
    expression: Expression,
}

struct Plans {
    /// Per resource type that has search parameters of its own.
    by_resource_type: HashMap<&'static str, Vec<CompiledParam>>,
    /// The parameters of `Resource` alone, for types without parameters of their own.
    common: Vec<CompiledParam>,
}

/// Component expressions that R4 publishes wrongly, with the correction: `(composite url,
/// component code, expression)`.
///
/// `DocumentReference?relationship` pairs the `relatesto` component (a reference) with the
/// expression `code` and the `relation` component (a token) with `target`; evaluated as
/// published, neither value fits its component's type and the parameter would never match.
const COMPONENT_EXPRESSION_ERRATA: &[(&str, &str, &str)] = &[
    (
        "http://hl7.org/fhir/SearchParameter/DocumentReference-relationship",
        "relatesto",
        "target",
    ),
    (
        "http://hl7.org/fhir/SearchParameter/DocumentReference-relationship",
        "relation",
        "code",
    ),
];

static PLANS: LazyLock<Plans> = LazyLock::new(build_plans);

fn plan_for(resource_type: &str) -> &'static [CompiledParam] {
    let plans = &*PLANS;
    plans
        .by_resource_type
        .get(resource_type)
        .unwrap_or(&plans.common)
}

fn build_plans() -> Plans {
    // Many rows share one expression (a parameter with several bases has one row per base), so
    // each distinct string is parsed once and only specialized per type.
    let mut parsed: HashMap<&'static str, Option<Expression>> = HashMap::new();
    let mut parse = |source: &'static str| -> Option<Expression> {
        parsed
            .entry(source)
            .or_insert_with(|| Expression::parse(source).ok())
            .clone()
    };
    let kind_by_url: HashMap<&'static str, SearchParamType> = search_params()
        .iter()
        .map(|def| (def.url, def.kind))
        .collect();

    let mut by_base: HashMap<
        &'static str,
        Vec<(&'static hale_fhir::table::SearchParamDef, Expression)>,
    > = HashMap::new();
    for def in search_params().iter().copied() {
        if def.kind == SearchParamType::Special || def.expression.is_empty() {
            continue;
        }
        if let Some(expression) = parse(def.expression) {
            by_base.entry(def.base).or_default().push((def, expression));
        }
    }
    let mut compile = |def: &'static hale_fhir::table::SearchParamDef,
                       expression: &Expression,
                       resource_type: &str|
     -> Option<CompiledParam> {
        let expression = expression.specialize(resource_type);
        if expression.is_empty() {
            return None;
        }
        let mut components = Vec::new();
        for component in def.components {
            // A component whose definition or expression Hale does not know makes the whole
            // composite unusable, because its combinations could never be complete.
            let kind = *kind_by_url.get(component.definition)?;
            let source = COMPONENT_EXPRESSION_ERRATA
                .iter()
                .find(|(url, code, _)| *url == def.url && *code == component.code)
                .map_or(component.expression, |(_, _, corrected)| corrected);
            let expression = parse(source)?.specialize(resource_type);
            components.push(CompiledComponent {
                code: component.code,
                kind,
                expression,
            });
        }
        if def.kind == SearchParamType::Composite && components.is_empty() {
            return None;
        }
        Some(CompiledParam {
            code: def.code,
            kind: def.kind,
            expression,
            components,
        })
    };

    let inherited: Vec<_> = ["Resource", "DomainResource"]
        .iter()
        .flat_map(|base| by_base.get(base).into_iter().flatten())
        .collect();
    let mut by_resource_type = HashMap::new();
    for (base, rows) in &by_base {
        if *base == "Resource" || *base == "DomainResource" {
            continue;
        }
        let plan: Vec<CompiledParam> = rows
            .iter()
            .chain(inherited.iter().copied())
            .filter_map(|(def, expression)| compile(def, expression, base))
            .collect();
        by_resource_type.insert(*base, plan);
    }
    let common = by_base
        .get("Resource")
        .into_iter()
        .flatten()
        .filter_map(|(def, expression)| compile(def, expression, "Resource"))
        .collect();
    Plans {
        by_resource_type,
        common,
    }
}

// ---------------------------------------------------------------------------------------------
// From FHIRPath items to entries.

/// The most combinations one match of a composite parameter may produce; a match whose
/// components multiply beyond it (a code with many codings and many values) is truncated rather
/// than allowed to flood the index.
const MAX_COMPOSITE_COMBINATIONS: usize = 64;

fn composite_entries(
    param: &CompiledParam,
    resource: &Value,
    matches: &[Item<'_>],
    out: &mut Vec<IndexEntry>,
) {
    let mut component_items: Vec<Vec<Item<'_>>> =
        param.components.iter().map(|_| Vec::new()).collect();
    let mut component_entries: Vec<Vec<IndexEntry>> = Vec::with_capacity(param.components.len());
    for focus in matches {
        // All components are evaluated before any is converted, because most matches lack one of
        // them (an Observation has a value of only one type, so three of its four
        // `code-value-*` composites are empty) and conversion is the costly part.
        let mut complete = true;
        for (component, items) in param.components.iter().zip(&mut component_items) {
            items.clear();
            component.expression.evaluate_into(resource, *focus, items);
            if items.is_empty() {
                complete = false;
                break;
            }
        }
        if !complete {
            continue;
        }
        component_entries.clear();
        for (component, items) in param.components.iter().zip(&component_items) {
            let mut entries = Vec::new();
            for item in items {
                push_entries(component.kind, component.code, item, &mut entries);
            }
            entries.retain(|entry| {
                !matches!(
                    entry,
                    IndexEntry::Token {
                        system: None,
                        value: None,
                        ..
                    }
                )
            });
            deduplicate_from(&mut entries, 0);
            if entries.is_empty() {
                break;
            }
            component_entries.push(entries);
        }
        if component_entries.len() != param.components.len() {
            continue;
        }
        // Enumerates the Cartesian product with a mixed-radix counter over the components.
        let mut counter = vec![0; component_entries.len()];
        for _ in 0..MAX_COMPOSITE_COMBINATIONS {
            out.push(IndexEntry::Composite {
                code: param.code,
                components: counter
                    .iter()
                    .zip(&component_entries)
                    .map(|(index, entries)| entries[*index].clone())
                    .collect(),
            });
            let mut position = counter.len();
            loop {
                if position == 0 {
                    break;
                }
                position -= 1;
                counter[position] += 1;
                if counter[position] < component_entries[position].len() {
                    break;
                }
                counter[position] = 0;
            }
            if counter.iter().all(|index| *index == 0) {
                break;
            }
        }
    }
}

/// Removes the entries of `entries[start..]` that equal an earlier one in that range.
///
/// Duplicates can only occur within one parameter (the code is part of every entry), and one
/// parameter rarely has more than a handful of entries, so a quadratic scan is cheaper than
/// hashing and needs no `Hash` on floating-point fields.
fn deduplicate_from(entries: &mut Vec<IndexEntry>, start: usize) {
    let mut kept = start;
    for index in start..entries.len() {
        if !entries[start..kept].contains(&entries[index]) {
            entries.swap(kept, index);
            kept += 1;
        }
    }
    entries.truncate(kept);
}

/// Appends the entries that one FHIRPath result item gives for a parameter of type `kind`.
fn push_entries(
    kind: SearchParamType,
    code: &'static str,
    item: &Item<'_>,
    out: &mut Vec<IndexEntry>,
) {
    let (value, fhir_type) = match *item {
        Item::Json { value, fhir_type } => unwrap_extension(value, fhir_type),
        Item::Boolean(boolean) => {
            if kind == SearchParamType::Token {
                out.push(token(code, None, Some(boolean_text(boolean)), None));
            }
            return;
        }
        Item::String(text) => {
            push_primitive_string(kind, code, text, out);
            return;
        }
        Item::Number(_) | Item::ResolvedReference { .. } => return,
    };
    match kind {
        SearchParamType::String => string_entries(code, value, fhir_type, out),
        SearchParamType::Token => token_entries(code, value, fhir_type, out),
        SearchParamType::Reference => reference_entries(code, value, fhir_type, out),
        SearchParamType::Date => date_entries(code, value, fhir_type, out),
        SearchParamType::Number => number_entries(code, value, fhir_type, out),
        SearchParamType::Quantity => quantity_entries(code, value, fhir_type, out),
        SearchParamType::Uri => {
            if let Value::String(text) = value {
                out.push(IndexEntry::Uri {
                    code,
                    value: text.clone(),
                });
            }
        }
        SearchParamType::Composite | SearchParamType::Special => {}
    }
}

/// A string literal that an expression yields (rare: only constant expressions do).
fn push_primitive_string(
    kind: SearchParamType,
    code: &'static str,
    text: &str,
    out: &mut Vec<IndexEntry>,
) {
    match kind {
        SearchParamType::String => push_string(code, text, out),
        SearchParamType::Token => out.push(token(code, None, Some(text.to_owned()), None)),
        SearchParamType::Uri => out.push(IndexEntry::Uri {
            code,
            value: text.to_owned(),
        }),
        SearchParamType::Reference => push_reference_string(code, text, out),
        _ => {}
    }
}

/// An Extension stands for its value: parameters defined on extensions
/// (`Patient.extension('…mothersMaidenName')`) index `valueString` and so on.
fn unwrap_extension(value: &Value, fhir_type: Option<FhirType>) -> (&Value, Option<FhirType>) {
    if matches!(fhir_type, None | Some(FhirType::Extension))
        && let Value::Object(object) = value
        && object.contains_key("url")
    {
        for (key, child) in object {
            if let Some(suffix) = key.strip_prefix("value")
                && let Some(value_type) = FhirType::from_name(suffix)
            {
                return (child, Some(value_type));
            }
        }
    }
    (value, fhir_type)
}

fn boolean_text(boolean: bool) -> String {
    if boolean { "true" } else { "false" }.to_owned()
}

fn token(
    code: &'static str,
    system: Option<String>,
    value: Option<String>,
    text: Option<String>,
) -> IndexEntry {
    IndexEntry::Token {
        code,
        system,
        value,
        text,
        of_type: None,
    }
}

fn string_field(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn normalized_field(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(normalize_string)
        .filter(|text| !text.is_empty())
}

// String parameters.

/// The parts of HumanName and Address that a string search matches, each as its own entry.
const NAME_AND_ADDRESS_PARTS: &[&str] = &[
    "family",
    "given",
    "prefix",
    "suffix",
    "text",
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
];

fn string_entries(
    code: &'static str,
    value: &Value,
    fhir_type: Option<FhirType>,
    out: &mut Vec<IndexEntry>,
) {
    match value {
        Value::String(text) => push_string(code, text, out),
        Value::Object(object)
            if matches!(
                fhir_type,
                None | Some(FhirType::HumanName | FhirType::Address)
            ) =>
        {
            for part in NAME_AND_ADDRESS_PARTS {
                match object.get(*part) {
                    Some(Value::String(text)) => push_string(code, text, out),
                    Some(Value::Array(texts)) => {
                        for text in texts.iter().filter_map(Value::as_str) {
                            push_string(code, text, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn push_string(code: &'static str, text: &str, out: &mut Vec<IndexEntry>) {
    let normalized = normalize_string(text);
    if !normalized.is_empty() {
        out.push(IndexEntry::String {
            code,
            normalized,
            exact: text.to_owned(),
        });
    }
}

// Token parameters.

/// The codes of `ContactPoint.system`, which tell a ContactPoint from an Identifier (whose system
/// is an absolute URI) when the path does not say which it is.
const CONTACT_POINT_SYSTEMS: &[&str] = &["phone", "fax", "email", "pager", "url", "sms", "other"];

fn token_entries(
    code: &'static str,
    value: &Value,
    fhir_type: Option<FhirType>,
    out: &mut Vec<IndexEntry>,
) {
    let object = match value {
        Value::String(text) => {
            out.push(token(code, None, Some(text.clone()), None));
            return;
        }
        Value::Bool(boolean) => {
            out.push(token(code, None, Some(boolean_text(*boolean)), None));
            return;
        }
        Value::Object(object) => object,
        _ => return,
    };
    let fhir_type = fhir_type.or_else(|| infer_token_type(object));
    match fhir_type {
        Some(FhirType::CodeableConcept) => codeable_concept_entries(code, object, out),
        Some(FhirType::Coding) => coding_entry(code, object, out),
        Some(FhirType::Identifier) => identifier_entry(code, object, out),
        Some(FhirType::ContactPoint) => {
            if let Some(value) = string_field(object, "value") {
                out.push(token(code, None, Some(value), None));
            }
        }
        _ => {}
    }
}

/// Tells which of the token data types an object is, from the keys it has.
fn infer_token_type(object: &Map<String, Value>) -> Option<FhirType> {
    if object.contains_key("coding") {
        return Some(FhirType::CodeableConcept);
    }
    // Identifier and ContactPoint share `system`, `value`, `use` and `period`; a ContactPoint's
    // system is one of a few codes where an Identifier's is an absolute URI, and only a
    // ContactPoint has `rank` or the uses `home`, `work` and `mobile`.
    let is_contact_point = object
        .get("system")
        .and_then(Value::as_str)
        .is_some_and(|system| CONTACT_POINT_SYSTEMS.contains(&system))
        || object.contains_key("rank")
        || object
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|contact_use| matches!(contact_use, "home" | "work" | "mobile"));
    let has = |key: &str| object.contains_key(key);
    match object.get("value") {
        Some(Value::String(_)) if is_contact_point => Some(FhirType::ContactPoint),
        Some(Value::String(_)) => Some(FhirType::Identifier),
        // A numeric value is a Quantity, which a token parameter does not index.
        Some(_) => None,
        None if is_contact_point => Some(FhirType::ContactPoint),
        // Only an Identifier has these, and one without a value still has a system or type.
        None if has("type") || has("assigner") || has("use") => Some(FhirType::Identifier),
        None if has("code") || has("system") || has("display") => Some(FhirType::Coding),
        None if has("text") => Some(FhirType::CodeableConcept),
        None => None,
    }
}

fn codeable_concept_entries(
    code: &'static str,
    object: &Map<String, Value>,
    out: &mut Vec<IndexEntry>,
) {
    if let Some(Value::Array(codings)) = object.get("coding") {
        for coding in codings {
            if let Value::Object(coding) = coding {
                coding_entry(code, coding, out);
            }
        }
    }
    if let Some(text) = normalized_field(object, "text") {
        out.push(token(code, None, None, Some(text)));
    }
}

fn coding_entry(code: &'static str, object: &Map<String, Value>, out: &mut Vec<IndexEntry>) {
    let system = string_field(object, "system");
    let value = string_field(object, "code");
    let text = normalized_field(object, "display");
    if system.is_some() || value.is_some() || text.is_some() {
        out.push(token(code, system, value, text));
    }
}

fn identifier_entry(code: &'static str, object: &Map<String, Value>, out: &mut Vec<IndexEntry>) {
    let system = string_field(object, "system");
    let value = string_field(object, "value");
    let (text, of_type) = match object.get("type") {
        Some(Value::Object(identifier_type)) => (
            normalized_field(identifier_type, "text"),
            identifier_type_coding(identifier_type),
        ),
        _ => (None, None),
    };
    if system.is_some() || value.is_some() || text.is_some() {
        out.push(IndexEntry::Token {
            code,
            system,
            value,
            text,
            of_type,
        });
    }
}

/// An Identifier's `type` as `system|code`: its first coding that has both.
fn identifier_type_coding(identifier_type: &Map<String, Value>) -> Option<String> {
    let Some(Value::Array(codings)) = identifier_type.get("coding") else {
        return None;
    };
    codings.iter().find_map(|coding| {
        let coding = coding.as_object()?;
        let system = string_field(coding, "system")?;
        let code = string_field(coding, "code")?;
        Some(format!("{system}|{code}"))
    })
}

// Reference parameters.

fn reference_entries(
    code: &'static str,
    value: &Value,
    fhir_type: Option<FhirType>,
    out: &mut Vec<IndexEntry>,
) {
    match value {
        Value::String(text) => push_reference_string(code, text, out),
        Value::Object(object) if matches!(fhir_type, None | Some(FhirType::Reference)) => {
            if let Some(reference) = object.get("reference").and_then(Value::as_str) {
                push_literal_reference(code, reference, out);
            }
            if let Some(Value::Object(identifier)) = object.get("identifier") {
                identifier_entry(code, identifier, out);
            }
            // A resource inline where a reference is expected: `Bundle.entry[0].resource` for
            // `Bundle?composition=` and `Bundle?message=`. It is indexed by its type and id.
            if let (Some(resource_type), Some(id)) = (
                object.get("resourceType").and_then(Value::as_str),
                object.get("id").and_then(Value::as_str),
            ) {
                out.push(local_reference(code, resource_type, id));
            }
        }
        _ => {}
    }
}

/// A canonical or uri value where a reference is expected (`ValueSet?reference=…`,
/// `PlanDefinition?derived-from=…`): `url|version`, or a local `Type/id`.
fn push_reference_string(code: &'static str, text: &str, out: &mut Vec<IndexEntry>) {
    match text.split_once('|') {
        Some((url, version)) => out.push(IndexEntry::Reference {
            code,
            target_type: None,
            target_id: None,
            url: Some(url.to_owned()),
            version: (!version.is_empty()).then(|| version.to_owned()),
        }),
        None => push_literal_reference(code, text, out),
    }
}

/// `Reference.reference`: `Type/id`, `Type/id/_history/v`, an absolute URL or a `urn:`.
fn push_literal_reference(code: &'static str, reference: &str, out: &mut Vec<IndexEntry>) {
    if reference.is_empty() || reference.starts_with('#') {
        return;
    }
    let reference = match reference.find("/_history/") {
        Some(at) => &reference[..at],
        None => reference,
    };
    if let Some((resource_type, id)) = reference.split_once('/')
        && is_resource_type_name(resource_type)
        && is_resource_id(id)
    {
        out.push(local_reference(code, resource_type, id));
        return;
    }
    out.push(IndexEntry::Reference {
        code,
        target_type: None,
        target_id: None,
        url: Some(reference.to_owned()),
        version: None,
    });
}

fn local_reference(code: &'static str, resource_type: &str, id: &str) -> IndexEntry {
    IndexEntry::Reference {
        code,
        target_type: Some(resource_type.to_owned()),
        target_id: Some(id.to_owned()),
        url: None,
        version: None,
    }
}

/// Whether `id` is a FHIR [id](https://hl7.org/fhir/R4/datatypes.html#id): 1 to 64 of
/// `A-Z a-z 0-9 - .`.
fn is_resource_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

// Date parameters.

fn date_entries(
    code: &'static str,
    value: &Value,
    fhir_type: Option<FhirType>,
    out: &mut Vec<IndexEntry>,
) {
    let range = match (value, fhir_type) {
        (
            Value::String(text),
            None | Some(FhirType::Date | FhirType::DateTime | FhirType::Instant),
        ) => date_range(text),
        (Value::Object(object), None | Some(FhirType::Period))
            if !object.contains_key("repeat") && !object.contains_key("event") =>
        {
            period_range(object)
        }
        (Value::Object(object), None | Some(FhirType::Timing)) => timing_range(object),
        _ => None,
    };
    if let Some((low, high)) = range {
        out.push(IndexEntry::Date { code, low, high });
    }
}

/// A Period's range; an absent start or end leaves that side open, and a Period with neither
/// gives nothing.
fn period_range(object: &Map<String, Value>) -> Option<(i64, i64)> {
    let start = object
        .get("start")
        .and_then(Value::as_str)
        .and_then(date_range);
    let end = object
        .get("end")
        .and_then(Value::as_str)
        .and_then(date_range);
    if start.is_none() && end.is_none() {
        return None;
    }
    Some((
        start.map_or(i64::MIN, |(low, _)| low),
        end.map_or(i64::MAX, |(_, high)| high),
    ))
}

/// A Timing's outer limits: the earliest and latest of its events and of its `boundsPeriod`, as
/// the specification says its scheduling details are ignored for search.
fn timing_range(object: &Map<String, Value>) -> Option<(i64, i64)> {
    let mut range: Option<(i64, i64)> = None;
    let mut widen = |(low, high): (i64, i64)| {
        range = Some(match range {
            Some((old_low, old_high)) => (old_low.min(low), old_high.max(high)),
            None => (low, high),
        });
    };
    if let Some(Value::Array(events)) = object.get("event") {
        for event in events.iter().filter_map(Value::as_str) {
            if let Some(event_range) = date_range(event) {
                widen(event_range);
            }
        }
    }
    if let Some(Value::Object(bounds)) = object
        .get("repeat")
        .and_then(|repeat| repeat.get("boundsPeriod"))
        && let Some(bounds_range) = period_range(bounds)
    {
        widen(bounds_range);
    }
    range
}

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// The inclusive range in epoch microseconds that a FHIR date, dateTime or instant covers at its
/// precision: `1974` is the whole year, `1974-12-25` the whole day, `2013-04-02T09:30:10+01:00`
/// one second. A value without a time zone is taken as UTC. Returns `None` for anything that is
/// not such a value.
pub fn date_range(text: &str) -> Option<(i64, i64)> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let slice = bytes.get(range)?;
        slice.iter().try_fold(0_i64, |number, byte| {
            byte.is_ascii_digit()
                .then(|| number * 10 + i64::from(byte - b'0'))
        })
    };
    let year = digits(0..4)?;
    if bytes.len() == 4 {
        let low = days_from_civil(year, 1, 1) * MICROS_PER_DAY;
        let high = days_from_civil(year + 1, 1, 1) * MICROS_PER_DAY - 1;
        return Some((low, high));
    }
    if bytes.get(4) != Some(&b'-') {
        return None;
    }
    let month = digits(5..7).filter(|month| (1..=12).contains(month))?;
    if bytes.len() == 7 {
        let low = days_from_civil(year, month, 1) * MICROS_PER_DAY;
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let high = days_from_civil(next_year, next_month, 1) * MICROS_PER_DAY - 1;
        return Some((low, high));
    }
    if bytes.get(7) != Some(&b'-') {
        return None;
    }
    let day = digits(8..10).filter(|day| (1..=days_in_month(year, month)).contains(day))?;
    let day_start = days_from_civil(year, month, day) * MICROS_PER_DAY;
    if bytes.len() == 10 {
        return Some((day_start, day_start + MICROS_PER_DAY - 1));
    }
    if bytes.get(10) != Some(&b'T') || bytes.get(13) != Some(&b':') {
        return None;
    }
    let hour = digits(11..13).filter(|hour| *hour < 24)?;
    let minute = digits(14..16).filter(|minute| *minute < 60)?;
    let mut position = 16;
    let mut second = 0;
    // Minute precision is not valid FHIR, but some senders write it, and its meaning is clear.
    let mut span = MICROS_PER_MINUTE;
    let mut fraction = 0;
    if bytes.get(position) == Some(&b':') {
        // A leap second (60) is folded into the second before it.
        second = digits(17..19).filter(|second| *second <= 60)?.min(59);
        position = 19;
        span = MICROS_PER_SECOND;
        if bytes.get(position) == Some(&b'.') {
            let n_digits = bytes[position + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if n_digits == 0 {
                return None;
            }
            // Digits beyond microseconds are dropped, as the index cannot represent them.
            let kept = n_digits.min(6);
            fraction = digits(position + 1..position + 1 + kept)? * 10_i64.pow(6 - kept as u32);
            span = 10_i64.pow(6 - kept as u32);
            position += 1 + n_digits;
        }
    }
    let offset_minutes = match bytes.get(position) {
        None => 0,
        Some(b'Z') if bytes.len() == position + 1 => 0,
        Some(sign @ (b'+' | b'-'))
            if bytes.len() == position + 6 && bytes[position + 3] == b':' =>
        {
            let hours = digits(position + 1..position + 3).filter(|hours| *hours <= 14)?;
            let minutes = digits(position + 4..position + 6).filter(|minutes| *minutes < 60)?;
            let magnitude = hours * 60 + minutes;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    let low = day_start
        + hour * 3_600 * MICROS_PER_SECOND
        + minute * MICROS_PER_MINUTE
        + second * MICROS_PER_SECOND
        + fraction
        - offset_minutes * MICROS_PER_MINUTE;
    Some((low, low + span - 1))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

// Number and quantity parameters.

/// A number with the range its written precision implies: `100` is [99.5, 100.5], `1.5` is
/// [1.45, 1.55], `1.5e-3` is [0.00145, 0.00155].
///
/// The precision is read from the number as parsed JSON holds it: trailing zeros after the decimal
/// point that were written in the source (`1.50`) are not kept by `serde_json`, so such a value
/// gets the range of `1.5`, slightly wider than the writer meant.
pub fn number_range(number: &Number) -> Option<(f64, f64, f64)> {
    let value = number.as_f64()?;
    if !value.is_finite() {
        return None;
    }
    if number.is_i64() || number.is_u64() {
        return Some((value, value - 0.5, value + 0.5));
    }
    // The shortest text that round-trips is what the JSON most likely said.
    let mut buffer = [0_u8; 40];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    std::io::Write::write_fmt(&mut cursor, format_args!("{number}")).ok()?;
    let length = usize::try_from(cursor.position()).ok()?;
    let text = std::str::from_utf8(&buffer[..length]).ok()?;
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let decimals = mantissa
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len() as i32)
        - exponent;
    let half_unit = 0.5 * 10_f64.powi(-decimals);
    Some((value, value - half_unit, value + half_unit))
}

fn number_entries(
    code: &'static str,
    value: &Value,
    fhir_type: Option<FhirType>,
    out: &mut Vec<IndexEntry>,
) {
    match value {
        Value::Number(number) => {
            if let Some((value, low, high)) = number_range(number) {
                out.push(IndexEntry::Number {
                    code,
                    value,
                    low,
                    high,
                });
            }
        }
        Value::Object(object) if matches!(fhir_type, None | Some(FhirType::Range)) => {
            if let Some(range) = range_bounds(object) {
                out.push(IndexEntry::Number {
                    code,
                    value: range.value,
                    low: range.low,
                    high: range.high,
                });
            }
        }
        _ => {}
    }
}

/// A Range as one interval: from the low end of `low` to the high end of `high`, open where a side
/// is missing; `value` is the low value if there is one, else the high one.
struct RangeBounds<'a> {
    value: f64,
    low: f64,
    high: f64,
    unit_source: &'a Map<String, Value>,
}

fn range_bounds(object: &Map<String, Value>) -> Option<RangeBounds<'_>> {
    /// A number as written, with the low and high ends of its implied range.
    type ImpliedRange = (f64, f64, f64);
    let side = |key: &str| -> Option<(&Map<String, Value>, ImpliedRange)> {
        let quantity = object.get(key)?.as_object()?;
        let Value::Number(number) = quantity.get("value")? else {
            return None;
        };
        Some((quantity, number_range(number)?))
    };
    let low = side("low");
    let high = side("high");
    let (unit_source, value) = match (low, high) {
        (Some((quantity, (value, ..))), _) | (None, Some((quantity, (value, ..)))) => {
            (quantity, value)
        }
        (None, None) => return None,
    };
    Some(RangeBounds {
        value,
        low: low.map_or(f64::NEG_INFINITY, |(_, (_, low, _))| low),
        high: high.map_or(f64::INFINITY, |(_, (_, _, high))| high),
        unit_source,
    })
}

fn quantity_entries(
    code: &'static str,
    value: &Value,
    fhir_type: Option<FhirType>,
    out: &mut Vec<IndexEntry>,
) {
    let Value::Object(object) = value else {
        return;
    };
    let is_range = match fhir_type {
        Some(FhirType::Range) => true,
        Some(fhir_type) if fhir_type.is_a(FhirType::Quantity) || fhir_type == FhirType::Money => {
            false
        }
        Some(_) => return,
        None => {
            !object.contains_key("value")
                && (object.contains_key("low") || object.contains_key("high"))
        }
    };
    if is_range {
        if let Some(range) = range_bounds(object) {
            let (system, unit) = quantity_unit(range.unit_source);
            push_quantity(code, range.value, range.low, range.high, system, unit, out);
        }
        return;
    }
    let Some(Value::Number(number)) = object.get("value") else {
        return;
    };
    let Some((value, mut low, mut high)) = number_range(number) else {
        return;
    };
    // A comparator says the real value lies beyond the one written, so that side is open.
    match object.get("comparator").and_then(Value::as_str) {
        Some("<" | "<=") => low = f64::NEG_INFINITY,
        Some(">" | ">=") => high = f64::INFINITY,
        _ => {}
    }
    let (system, unit) = quantity_unit(object);
    push_quantity(code, value, low, high, system, unit, out);
}

/// Pushes a quantity entry as written and, for a UCUM unit Hale understands, a second entry in
/// the canonical unit under [`crate::ucum::CANONICAL_SYSTEM`] (even when the unit is already
/// canonical), so that a search in any compatible unit finds it: the parser converts search values
/// in UCUM units the same way.
fn push_quantity(
    code: &'static str,
    value: f64,
    low: f64,
    high: f64,
    system: Option<String>,
    unit: Option<String>,
    out: &mut Vec<IndexEntry>,
) {
    let canonical = match (&system, &unit) {
        (Some(system), Some(unit)) if system == crate::ucum::UCUM_SYSTEM => {
            crate::ucum::canonical(unit)
        }
        _ => None,
    };
    if let Some(canonical) = canonical {
        let f = canonical.factor;
        out.push(IndexEntry::Quantity {
            code,
            value: value * f,
            low: low * f,
            high: high * f,
            system: Some(crate::ucum::CANONICAL_SYSTEM.to_owned()),
            unit: Some(canonical.unit),
        });
    }
    out.push(IndexEntry::Quantity {
        code,
        value,
        low,
        high,
        system,
        unit,
    });
}

/// The system and unit of a Quantity (`code`, else `unit`), or of Money (its `currency`, in the
/// ISO 4217 system).
fn quantity_unit(object: &Map<String, Value>) -> (Option<String>, Option<String>) {
    if let Some(currency) = string_field(object, "currency") {
        return (Some("urn:iso:std:iso:4217".to_owned()), Some(currency));
    }
    (
        string_field(object, "system"),
        string_field(object, "code").or_else(|| string_field(object, "unit")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Renders the entries of one parameter compactly, one line each, for readable assertions.
    fn render(entries: &[IndexEntry], code: &str) -> Vec<String> {
        entries
            .iter()
            .filter(|entry| entry.code() == code)
            .map(render_entry)
            .collect()
    }

    fn render_entry(entry: &IndexEntry) -> String {
        let show = |value: &Option<String>| value.as_deref().unwrap_or("-").to_owned();
        match entry {
            IndexEntry::String {
                normalized, exact, ..
            } => format!("string {normalized} ({exact})"),
            IndexEntry::Token {
                system,
                value,
                text,
                of_type,
                ..
            } => {
                let mut rendered =
                    format!("token {}|{} text={}", show(system), show(value), show(text));
                if let Some(of_type) = of_type {
                    rendered.push_str(&format!(" of-type={of_type}"));
                }
                rendered
            }
            IndexEntry::Reference {
                target_type,
                target_id,
                url,
                version,
                ..
            } => format!(
                "reference {}/{} url={} version={}",
                show(target_type),
                show(target_id),
                show(url),
                show(version)
            ),
            IndexEntry::Date { low, high, .. } => {
                format!("date {} .. {}", micros_text(*low), micros_text(*high))
            }
            IndexEntry::Number {
                value, low, high, ..
            } => format!("number {value} [{low}, {high}]"),
            IndexEntry::Quantity {
                value,
                low,
                high,
                system,
                unit,
                ..
            } => format!(
                "quantity {value} [{low}, {high}] {}|{}",
                show(system),
                show(unit)
            ),
            IndexEntry::Uri { value, .. } => format!("uri {value}"),
            IndexEntry::Text { text, .. } => format!("text {text}"),
            IndexEntry::Composite { components, .. } => format!(
                "composite {}",
                components
                    .iter()
                    .map(|component| format!("{}={}", component.code(), render_entry(component)))
                    .collect::<Vec<_>>()
                    .join(" & ")
            ),
        }
    }

    /// Epoch microseconds as an RFC 3339 UTC instant with microseconds, or `open`.
    fn micros_text(micros: i64) -> String {
        if micros == i64::MIN || micros == i64::MAX {
            return "open".to_owned();
        }
        let days = micros.div_euclid(MICROS_PER_DAY);
        let rest = micros.rem_euclid(MICROS_PER_DAY);
        // Inverse of days_from_civil (Howard Hinnant's civil_from_days).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        let seconds = rest / MICROS_PER_SECOND;
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            rest % MICROS_PER_SECOND
        )
    }

    fn date(text: &str) -> String {
        let (low, high) = date_range(text).unwrap();
        format!("{} .. {}", micros_text(low), micros_text(high))
    }

    #[test]
    fn date_ranges_follow_precision() {
        assert_eq!(
            date("1974"),
            "1974-01-01T00:00:00.000000Z .. 1974-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            date("2024-02"),
            "2024-02-01T00:00:00.000000Z .. 2024-02-29T23:59:59.999999Z"
        );
        assert_eq!(
            date("1974-12-25"),
            "1974-12-25T00:00:00.000000Z .. 1974-12-25T23:59:59.999999Z"
        );
        assert_eq!(
            date("2013-04-02T09:30:10+01:00"),
            "2013-04-02T08:30:10.000000Z .. 2013-04-02T08:30:10.999999Z"
        );
        assert_eq!(
            date("2013-04-02T09:30:10Z"),
            "2013-04-02T09:30:10.000000Z .. 2013-04-02T09:30:10.999999Z"
        );
        assert_eq!(
            date("2013-04-02T09:30:10"),
            "2013-04-02T09:30:10.000000Z .. 2013-04-02T09:30:10.999999Z"
        );
        assert_eq!(
            date("2015-02-07T13:28:17.239+02:00"),
            "2015-02-07T11:28:17.239000Z .. 2015-02-07T11:28:17.239999Z"
        );
        assert_eq!(
            date("2015-02-07T13:28:17.1234567-05:30"),
            "2015-02-07T18:58:17.123456Z .. 2015-02-07T18:58:17.123456Z"
        );
        assert_eq!(
            date("2013-04-02T09:30Z"),
            "2013-04-02T09:30:00.000000Z .. 2013-04-02T09:30:59.999999Z"
        );
        assert_eq!(
            date("1969-12-31"),
            "1969-12-31T00:00:00.000000Z .. 1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            date("0001"),
            "0001-01-01T00:00:00.000000Z .. 0001-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            date("2016-12-31T23:59:60Z"),
            "2016-12-31T23:59:59.000000Z .. 2016-12-31T23:59:59.999999Z"
        );
        assert_eq!(date_range("1974-12-25").unwrap().0, 157_161_600_000_000);
    }

    #[test]
    fn invalid_dates_give_nothing() {
        for text in [
            "",
            "197",
            "19745",
            "1974-13",
            "1974-02-30",
            "2023-02-29",
            "1974-12-25T",
            "1974-12-25T25:00:00Z",
            "1974-12-25T10:00:00.Z",
            "1974-12-25T10:00:00+1",
            "1974-12-25T10:00:00X",
            "1974/12/25",
            "abcd",
            "1974-12-25T10:00:00Z ",
        ] {
            assert_eq!(date_range(text), None, "{text:?}");
        }
    }

    #[test]
    fn number_ranges_follow_precision() {
        let range = |value: Value| {
            let Value::Number(number) = value else {
                unreachable!()
            };
            number_range(&number).unwrap()
        };
        assert_eq!(range(json!(100)), (100.0, 99.5, 100.5));
        let (value, low, high) = range(json!(1.5));
        assert_eq!(value, 1.5);
        assert!(
            (low - 1.45).abs() < 1e-12 && (high - 1.55).abs() < 1e-12,
            "{low} {high}"
        );
        let (_, low, high) = range(serde_json::from_str("100.0").unwrap());
        assert!(
            (low - 99.95).abs() < 1e-9 && (high - 100.05).abs() < 1e-9,
            "{low} {high}"
        );
        let (_, low, high) = range(json!(0.00015));
        assert!(
            (low - 0.000145).abs() < 1e-15 && (high - 0.000155).abs() < 1e-15,
            "{low} {high}"
        );
        assert_eq!(range(json!(-3)), (-3.0, -3.5, -2.5));
    }

    fn extracted(resource: Value, code: &str) -> Vec<String> {
        let resource_type = resource["resourceType"].as_str().unwrap().to_owned();
        render(&extract(&resource_type, &resource), code)
    }

    /// The Plan-Net parameters R4 lacks, on the shapes of the guide's examples: references and
    /// codes inside extensions, and a Period inside one.
    #[test]
    fn plan_net_parameters_on_extensions() {
        let plan_net = "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition";
        let organization = json!({
            "resourceType": "Organization",
            "extension": [
                {"url": format!("{plan_net}/location-reference"), "valueReference": {"reference": "Location/StateOfCTLocation"}},
                {"url": "http://hl7.org/fhir/StructureDefinition/organization-period", "valuePeriod": {"start": "2020-01-01"}}
            ]
        });
        assert_eq!(
            extracted(organization.clone(), "coverage-area"),
            ["reference Location/StateOfCTLocation url=- version=-"]
        );
        assert_eq!(
            extracted(organization, "period"),
            ["date 2020-01-01T00:00:00.000000Z .. open"]
        );
        let role = json!({
            "resourceType": "PractitionerRole",
            "extension": [{"url": format!("{plan_net}/network-reference"), "valueReference": {"reference": "Organization/AcmeofCTStdNet"}}]
        });
        assert_eq!(
            extracted(role, "network"),
            ["reference Organization/AcmeofCTStdNet url=- version=-"]
        );
        let service = json!({
            "resourceType": "HealthcareService",
            "extension": [{"url": format!("{plan_net}/delivery-method"), "extension": [
                {"url": "type", "valueCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/DeliveryMethodCS", "code": "virtual"}]}}
            ]}]
        });
        assert_eq!(
            extracted(service, "delivery-method"),
            [
                "token http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/DeliveryMethodCS|virtual text=-"
            ]
        );
        let plan = json!({"resourceType": "InsurancePlan", "coverageArea": [{"reference": "Location/l"}], "plan": [{"type": {"text": "Gold"}}]});
        assert_eq!(
            extracted(plan.clone(), "coverage-area"),
            ["reference Location/l url=- version=-"]
        );
        assert_eq!(extracted(plan, "plan-type"), ["token -|- text=gold"]);
    }

    #[test]
    fn strings_from_names_and_addresses() {
        let patient = json!({
            "resourceType": "Patient",
            "name": [{"family": "Chalmers", "given": ["Peter", "James"], "prefix": ["Mr."], "text": "Peter  Chalmers"}],
            "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "state": "Vic", "postalCode": "3999", "country": "AU"}]
        });
        assert_eq!(
            extracted(patient.clone(), "family"),
            ["string chalmers (Chalmers)"]
        );
        assert_eq!(
            extracted(patient.clone(), "name"),
            [
                "string chalmers (Chalmers)",
                "string peter (Peter)",
                "string james (James)",
                "string mr. (Mr.)",
                "string peter chalmers (Peter  Chalmers)",
            ]
        );
        assert_eq!(
            extracted(patient.clone(), "address"),
            [
                "string 534 erewhon st (534 Erewhon St)",
                "string pleasantville (PleasantVille)",
                "string vic (Vic)",
                "string 3999 (3999)",
                "string au (AU)",
            ]
        );
        assert_eq!(
            extracted(patient, "address-city"),
            ["string pleasantville (PleasantVille)"]
        );
    }

    #[test]
    fn tokens_from_each_data_type() {
        let patient = json!({
            "resourceType": "Patient",
            "id": "p1",
            "active": true,
            "gender": "male",
            "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345", "type": {"text": "Medical  Record"}}],
            "telecom": [{"system": "phone", "value": "(03) 5555 6473"}, {"system": "email", "value": "p@example.org"}],
            "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"}], "text": "Getrouwd"},
            "meta": {"tag": [{"system": "http://x", "code": "t"}]}
        });
        assert_eq!(
            extracted(patient.clone(), "active"),
            ["token -|true text=-"]
        );
        assert_eq!(
            extracted(patient.clone(), "gender"),
            ["token -|male text=-"]
        );
        assert_eq!(extracted(patient.clone(), "_id"), ["token -|p1 text=-"]);
        assert_eq!(
            extracted(patient.clone(), "identifier"),
            ["token urn:oid:1.2.36.146.595.217.0.1|12345 text=medical record"]
        );
        assert_eq!(
            extracted(patient.clone(), "telecom"),
            [
                "token -|(03) 5555 6473 text=-",
                "token -|p@example.org text=-"
            ]
        );
        assert_eq!(
            extracted(patient.clone(), "email"),
            ["token -|p@example.org text=-"]
        );
        assert_eq!(
            extracted(patient.clone(), "phone"),
            ["token -|(03) 5555 6473 text=-"]
        );
        assert_eq!(
            extracted(patient.clone(), "_tag"),
            ["token http://x|t text=-"]
        );
        let observation = json!({
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"}, {"system": "http://snomed.info/sct", "code": "27113001"}], "text": "Weight"},
            "category": [{"text": "Vital Signs"}]
        });
        assert_eq!(
            extracted(observation.clone(), "code"),
            [
                "token http://loinc.org|29463-7 text=body weight",
                "token http://snomed.info/sct|27113001 text=-",
                "token -|- text=weight",
            ]
        );
        assert_eq!(
            extracted(observation, "category"),
            ["token -|- text=vital signs"]
        );
    }

    #[test]
    fn identifiers_carry_their_type_for_of_type() {
        let patient = json!({
            "resourceType": "Patient",
            "identifier": [
                {"type": {"coding": [{"code": "no-system"}, {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}], "text": "Medical record"}, "system": "urn:oid:1", "value": "12345"},
                {"type": {"text": "only text"}, "system": "urn:oid:2", "value": "6"},
                {"system": "urn:oid:3", "value": "7"}
            ]
        });
        assert_eq!(
            extracted(patient, "identifier"),
            [
                "token urn:oid:1|12345 text=medical record of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR",
                "token urn:oid:2|6 text=only text",
                "token urn:oid:3|7 text=-",
            ]
        );
    }

    #[test]
    fn full_text_of_the_content_and_of_the_narrative() {
        let patient = json!({
            "resourceType": "Patient",
            "id": "p1",
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Ev&#233; <b>Smith</b>&amp;Co</p><table><tr><td>a&nbsp;b</td><td>&lt;c&gt; &unknown; &#x41;</td></tr></table></div>"},
            "name": [{"family": "Smith", "given": ["Ev\u{e9}", "  Anne  "]}],
            "gender": "female",
            "active": true,
            "multipleBirthInteger": 2,
            "maritalStatus": {"coding": [{"code": "M", "display": "Married"}]},
            "contained": [{"resourceType": "Organization", "name": "Acme", "text": {"status": "generated", "div": "<div>hidden</div>"}}]
        });
        let entries = extract("Patient", &patient);
        assert_eq!(
            render(&entries, "_content"),
            ["text p1 generated smith eve anne female m married acme generated"]
        );
        assert_eq!(
            render(&entries, "_text"),
            ["text eve smith &co a b <c> &unknown; a"]
        );
        let bare = json!({"resourceType": "Basic", "text": {"div": "<div> </div>"}});
        let entries = extract("Basic", &bare);
        assert!(render(&entries, "_content").is_empty());
        assert!(render(&entries, "_text").is_empty());
    }

    #[test]
    fn deceased_is_a_boolean_token() {
        let alive = json!({"resourceType": "Patient"});
        assert_eq!(extracted(alive, "deceased"), ["token -|false text=-"]);
        let dead = json!({"resourceType": "Patient", "deceasedDateTime": "2020-01-01"});
        assert_eq!(extracted(dead, "deceased"), ["token -|true text=-"]);
    }

    #[test]
    fn references_of_each_form() {
        let observation = json!({
            "resourceType": "Observation",
            "subject": {"reference": "Patient/example/_history/2"},
            "performer": [
                {"reference": "http://example.org/fhir/Practitioner/1"},
                {"reference": "urn:uuid:0b1d0c8a-2c5d-4b6e-9f39-1b2f3c4d5e6f"},
                {"reference": "#contained"},
                {"identifier": {"system": "http://npi", "value": "123"}, "display": "Dr X"}
            ],
            "basedOn": [{"display": "only a display"}]
        });
        assert_eq!(
            extracted(observation.clone(), "subject"),
            ["reference Patient/example url=- version=-"]
        );
        assert_eq!(
            extracted(observation.clone(), "patient"),
            ["reference Patient/example url=- version=-"]
        );
        assert_eq!(
            extracted(observation.clone(), "performer"),
            [
                "reference -/- url=http://example.org/fhir/Practitioner/1 version=-",
                "reference -/- url=urn:uuid:0b1d0c8a-2c5d-4b6e-9f39-1b2f3c4d5e6f version=-",
                "token http://npi|123 text=-",
            ]
        );
        assert!(extracted(observation, "based-on").is_empty());
        let value_set = json!({
            "resourceType": "ValueSet",
            "url": "http://example.org/vs",
            "compose": {"include": [{"valueSet": ["http://hl7.org/fhir/ValueSet/a|4.0.1"], "system": "http://loinc.org"}]}
        });
        assert_eq!(
            extracted(value_set.clone(), "reference"),
            ["uri http://loinc.org"]
        );
        assert_eq!(extracted(value_set, "url"), ["uri http://example.org/vs"]);
        let plan = json!({
            "resourceType": "PlanDefinition",
            "relatedArtifact": [
                {"type": "derived-from", "resource": "http://example.org/Library/a|1.0"},
                {"type": "depends-on", "resource": "Library/b"}
            ]
        });
        assert_eq!(
            extracted(plan.clone(), "derived-from"),
            ["reference -/- url=http://example.org/Library/a version=1.0"]
        );
        assert_eq!(
            extracted(plan, "depends-on"),
            ["reference Library/b url=- version=-"]
        );
    }

    #[test]
    fn dates_from_each_data_type() {
        let encounter = json!({
            "resourceType": "Encounter",
            "period": {"start": "2015-01-17T16:00:00+10:00"}
        });
        assert_eq!(
            extracted(encounter, "date"),
            ["date 2015-01-17T06:00:00.000000Z .. open"]
        );
        let request = json!({
            "resourceType": "ServiceRequest",
            "occurrenceTiming": {"event": ["2020-03-01", "2020-01-05"], "repeat": {"boundsPeriod": {"start": "2020-02", "end": "2020-06"}}}
        });
        assert_eq!(
            extracted(request, "occurrence"),
            ["date 2020-01-05T00:00:00.000000Z .. 2020-06-30T23:59:59.999999Z"]
        );
        let condition = json!({"resourceType": "Condition", "onsetString": "childhood", "recordedDate": "2013-04-02"});
        assert!(extracted(condition.clone(), "onset-date").is_empty());
        assert_eq!(
            extracted(condition.clone(), "onset-info"),
            ["string childhood (childhood)"]
        );
        assert_eq!(
            extracted(condition, "recorded-date"),
            ["date 2013-04-02T00:00:00.000000Z .. 2013-04-02T23:59:59.999999Z"]
        );
        let meta =
            json!({"resourceType": "Basic", "meta": {"lastUpdated": "2020-01-01T00:00:00.5Z"}});
        assert_eq!(
            extracted(meta, "_lastUpdated"),
            ["date 2020-01-01T00:00:00.500000Z .. 2020-01-01T00:00:00.599999Z"]
        );
    }

    #[test]
    fn quantities_money_and_ranges() {
        let observation = json!({
            "resourceType": "Observation",
            "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
        });
        assert_eq!(
            extracted(observation, "value-quantity"),
            // The canonical UCUM entry (grams) comes first, then the quantity as written.
            [
                "quantity 83914.58845000001 [83687.792265, 84141.38463500001] urn:hale:ucum-canonical|g",
                "quantity 185 [184.5, 185.5] http://unitsofmeasure.org|[lb_av]"
            ]
        );
        let comparator = json!({"resourceType": "Observation", "valueQuantity": {"value": 5.0, "comparator": "<", "unit": "mmol/L"}});
        assert_eq!(
            extracted(comparator, "value-quantity"),
            ["quantity 5 [-inf, 5.05] -|mmol/L"]
        );
        let item = json!({"resourceType": "ChargeItem", "priceOverride": {"value": 40, "currency": "EUR"}, "factorOverride": 0.8});
        assert_eq!(
            extracted(item.clone(), "price-override"),
            ["quantity 40 [39.5, 40.5] urn:iso:std:iso:4217|EUR"]
        );
        assert_eq!(
            extracted(item, "factor-override"),
            ["number 0.8 [0.75, 0.8500000000000001]"]
        );
        let condition = json!({"resourceType": "Condition", "onsetRange": {"low": {"value": 40, "unit": "a"}, "high": {"value": 50, "unit": "a"}}});
        assert_eq!(
            extracted(condition, "onset-age"),
            ["quantity 40 [39.5, 50.5] -|a"]
        );
        let condition = json!({"resourceType": "Condition", "onsetAge": {"value": 52, "system": "http://unitsofmeasure.org", "code": "a"}});
        assert_eq!(
            extracted(condition, "onset-age"),
            [
                "quantity 1640995200 [1625216400, 1656774000] urn:hale:ucum-canonical|s",
                "quantity 52 [51.5, 52.5] http://unitsofmeasure.org|a"
            ]
        );
        let sampled = json!({"resourceType": "Observation", "valueSampledData": {"origin": {"value": 0}, "period": 10, "dimensions": 1}});
        assert!(extracted(sampled, "value-quantity").is_empty());
        let risk = json!({"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": 0.02}, {"probabilityRange": {"low": {"value": 1}, "high": {"value": 2}}}]});
        assert_eq!(
            extracted(risk, "probability"),
            ["number 0.02 [0.015, 0.025]", "number 1 [0.5, 2.5]",]
        );
    }

    #[test]
    fn composites_combine_components_per_match() {
        let observation = json!({
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}], "text": "BP"},
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 107, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 60, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
            ]
        });
        assert_eq!(
            extracted(observation.clone(), "component-code-value-quantity"),
            [
                // Each UCUM quantity also in its canonical twin, first.
                "composite component-code=token http://loinc.org|8480-6 text=- \
             & component-value-quantity=quantity 107 [106.5, 107.5] urn:hale:ucum-canonical|mm[Hg]",
                "composite component-code=token http://loinc.org|8480-6 text=- \
             & component-value-quantity=quantity 107 [106.5, 107.5] http://unitsofmeasure.org|mm[Hg]",
                "composite component-code=token http://loinc.org|8462-4 text=- \
             & component-value-quantity=quantity 60 [59.5, 60.5] urn:hale:ucum-canonical|mm[Hg]",
                "composite component-code=token http://loinc.org|8462-4 text=- \
             & component-value-quantity=quantity 60 [59.5, 60.5] http://unitsofmeasure.org|mm[Hg]",
            ]
        );
        // The Observation has no value of its own, so the composite on it has no entry.
        assert!(extracted(observation, "code-value-quantity").is_empty());
        let observation = json!({
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://loinc.org", "code": "a"}, {"system": "http://loinc.org", "code": "b"}]},
            "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "c"}]}
        });
        assert_eq!(
            extracted(observation, "code-value-concept"),
            [
                "composite code=token http://loinc.org|a text=- & value-concept=token http://snomed.info/sct|c text=-",
                "composite code=token http://loinc.org|b text=- & value-concept=token http://snomed.info/sct|c text=-",
            ]
        );
    }

    #[test]
    fn composite_components_follow_their_definitions_despite_r4_errata() {
        let document = json!({
            "resourceType": "DocumentReference",
            "relatesTo": [{"code": "appends", "target": {"reference": "DocumentReference/example"}}]
        });
        assert_eq!(
            extracted(document, "relationship"),
            [
                "composite relatesto=reference DocumentReference/example url=- version=- \
              & relation=token -|appends text=-"
            ]
        );
    }

    #[test]
    fn identifiers_and_contact_points_without_values() {
        let person = json!({
            "resourceType": "RelatedPerson",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "type": {"text": "BSN"}, "use": "official"}],
            "telecom": [{"system": "phone", "use": "home"}, {"use": "work"}]
        });
        assert_eq!(
            extracted(person.clone(), "identifier"),
            ["token urn:oid:2.16.840.1.113883.2.4.6.3|- text=bsn"]
        );
        assert!(extracted(person, "telecom").is_empty());
    }

    #[test]
    fn composite_combinations_are_capped() {
        let codings: Vec<Value> = (0..20)
            .map(|i| json!({"system": "s", "code": i.to_string()}))
            .collect();
        let values: Vec<Value> = (0..20)
            .map(|i| json!({"system": "v", "code": i.to_string()}))
            .collect();
        let observation = json!({
            "resourceType": "Observation",
            "code": {"coding": codings},
            "valueCodeableConcept": {"coding": values}
        });
        assert_eq!(
            extracted(observation, "code-value-concept").len(),
            MAX_COMPOSITE_COMBINATIONS
        );
    }

    #[test]
    fn duplicates_are_removed_per_parameter() {
        let patient = json!({
            "resourceType": "Patient",
            "name": [{"family": "Smith"}, {"family": "Smith"}, {"family": "SMITH"}],
        });
        assert_eq!(
            extracted(patient, "family"),
            ["string smith (Smith)", "string smith (SMITH)"]
        );
    }

    #[test]
    fn unknown_types_get_the_resource_parameters() {
        let resource =
            json!({"resourceType": "Nonexistent", "id": "x", "meta": {"profile": ["http://p"]}});
        let entries = extract("Nonexistent", &resource);
        assert_eq!(render(&entries, "_id"), ["token -|x text=-"]);
        assert_eq!(render(&entries, "_profile"), ["uri http://p"]);
    }

    #[test]
    fn single_valued_references() {
        assert!(at_most_one_reference("Observation", "patient"));
        assert!(at_most_one_reference("Observation", "subject"));
        assert!(at_most_one_reference("Observation", "encounter"));
        assert!(at_most_one_reference("MedicationRequest", "medication"));
        // Repeating elements, unions, and parameters that are not references.
        assert!(!at_most_one_reference("Observation", "performer"));
        assert!(!at_most_one_reference("Observation", "has-member"));
        assert!(!at_most_one_reference("Patient", "general-practitioner"));
        assert!(!at_most_one_reference("Provenance", "target"));
        assert!(!at_most_one_reference("Observation", "code"));
        assert!(!at_most_one_reference("Observation", "no-such-parameter"));
    }

    #[test]
    fn compartments() {
        let patient = json!({"resourceType": "Patient", "id": "p1", "link": [{"other": {"reference": "Patient/p2"}}]});
        assert_eq!(compartment_patients("Patient", &patient), ["p1", "p2"]);
        let observation = json!({
            "resourceType": "Observation",
            "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Practitioner/d"}, {"reference": "Patient/p1"}, {"reference": "Patient/p3"}]
        });
        assert_eq!(
            compartment_patients("Observation", &observation),
            ["p1", "p3"]
        );
        let group_subject =
            json!({"resourceType": "Observation", "subject": {"reference": "Group/g"}});
        assert!(compartment_patients("Observation", &group_subject).is_empty());
        let organization = json!({"resourceType": "Organization", "id": "o"});
        assert!(compartment_patients("Organization", &organization).is_empty());
    }

    #[test]
    fn extraction_never_panics_on_odd_shapes() {
        for resource in [
            json!({"resourceType": "Patient", "name": "not an array", "birthDate": 1974, "identifier": [null, 1, "x", []]}),
            json!({"resourceType": "Observation", "valueQuantity": {"value": "185"}, "effectivePeriod": {"start": 5}}),
            json!({"resourceType": "Observation", "code": {"coding": {"code": "x"}}, "subject": {"reference": 1}}),
            json!({"resourceType": "Patient", "deceasedBoolean": "yes", "telecom": {"system": "phone"}}),
            json!([]),
            json!(null),
        ] {
            for resource_type in ["Patient", "Observation"] {
                let _ = extract(resource_type, &resource);
                let _ = compartment_patients(resource_type, &resource);
            }
        }
    }
}
