//! Subsets of a resource: [`_summary`](https://hl7.org/fhir/R4/search.html#summary) and
//! [`_elements`](https://hl7.org/fhir/R4/search.html#elements).
//!
//! Both keep or drop whole top-level elements, decided by the element table: `isSummary` for
//! `_summary=true`, the minimum cardinality for the elements every subset keeps. A choice element
//! is found under any of its JSON names (`valueQuantity` is `Observation.value[x]`), and a
//! primitive's extension (`_birthDate`) goes with its value. A resource that lost anything is
//! marked with the `SUBSETTED` tag, as the specification requires, so that nobody takes it for
//! the whole resource (and, say, updates it with the subset).

use serde_json::{Map, Value};

use crate::definitions::structure;
use crate::table::{ElementDef, StructureDef};

/// `_summary`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summary {
    /// Only the elements marked as summary in the definitions.
    True,
    /// Only the text, id, meta and mandatory top-level elements.
    Text,
    /// Everything but the text.
    Data,
    /// Only the total.
    Count,
    /// Everything (the same as leaving it out).
    False,
}

/// The system of the [`SUBSETTED`](https://hl7.org/fhir/R4/v3/ObservationValue/cs.html) tag.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

/// The code of the tag that marks a resource as incomplete.
pub const SUBSETTED_CODE: &str = "SUBSETTED";

/// The elements every subset keeps, whatever their definitions say.
const ALWAYS_KEPT: &[&str] = &["resourceType", "id", "meta"];

/// Reduces `resource` to the summary `mode` asks for, and tags it `SUBSETTED` if anything was
/// removed.
///
/// `true` keeps the elements marked `isSummary`; `text` keeps `text` and the mandatory elements
/// (minimum cardinality 1 or more); `data` removes `text`; `false` and `count` change nothing.
/// `resourceType`, `id` and `meta` always stay. A resource of a type the tables do not know keeps
/// all its elements except for `data`, because nothing says which of them are in a summary.
pub fn summarize(resource: &mut Map<String, Value>, mode: Summary) {
    let removed = match mode {
        Summary::False | Summary::Count => false,
        Summary::Data => resource.remove("text").is_some(),
        Summary::True => retain_top_level(resource, |_, element| {
            element.is_some_and(|element| element.summary)
        }),
        Summary::Text => retain_top_level(resource, |name, element| {
            name == "text" || element.is_some_and(|element| element.min >= 1)
        }),
    };
    if removed {
        mark_subsetted(resource);
    }
}

/// Keeps the top-level elements named in `elements` (as `_elements` lists them: `value` for
/// `valueQuantity` too), the mandatory ones, `resourceType`, `id` and `meta`, and tags the
/// resource `SUBSETTED` if anything was removed.
pub fn select_elements(resource: &mut Map<String, Value>, elements: &[String]) {
    let listed = |name: &str| elements.iter().any(|listed| listed == name);
    let removed = retain_top_level(resource, |name, element| {
        listed(name)
            || element.is_some_and(|element| element.min >= 1 || listed(element_name(element)))
    });
    if removed {
        mark_subsetted(resource);
    }
}

/// Removes the top-level elements for which `keep(JSON name, definition)` is false, except those
/// of [`ALWAYS_KEPT`]; returns whether any was removed. Leaves a resource of an unknown type alone.
fn retain_top_level(
    resource: &mut Map<String, Value>,
    keep: impl Fn(&str, Option<&'static ElementDef>) -> bool,
) -> bool {
    let Some(structure) = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(structure)
    else {
        return false;
    };
    let n_before = resource.len();
    resource.retain(|key, _| {
        // `_name` holds the id and extensions of the primitive `name`, and follows it.
        let name = key.strip_prefix('_').unwrap_or(key);
        ALWAYS_KEPT.contains(&name) || keep(name, top_level_element(structure, name))
    });
    resource.len() != n_before
}

/// The definition of the top-level element that the JSON property `name` holds, if any.
fn top_level_element(structure: &'static StructureDef, name: &str) -> Option<&'static ElementDef> {
    structure.elements.iter().find(|element| {
        let Some(rest) = element
            .path
            .strip_prefix(structure.name)
            .and_then(|rest| rest.strip_prefix('.'))
        else {
            return false;
        };
        if rest.contains('.') {
            return false;
        }
        match rest.strip_suffix("[x]") {
            None => rest == name,
            Some(base) => name.strip_prefix(base).is_some_and(|suffix| {
                element
                    .types
                    .iter()
                    .any(|fhir_type| is_type_suffix(fhir_type, suffix))
            }),
        }
    })
}

/// Whether `suffix` is `fhir_type` with its first letter in upper case, as choice elements are
/// named in JSON (`dateTime` gives `valueDateTime`).
fn is_type_suffix(fhir_type: &str, suffix: &str) -> bool {
    let mut type_chars = fhir_type.chars();
    let mut suffix_chars = suffix.chars();
    match (type_chars.next(), suffix_chars.next()) {
        (Some(first), Some(suffix_first)) => {
            first.to_ascii_uppercase() == suffix_first && type_chars.eq(suffix_chars)
        }
        _ => false,
    }
}

/// The element's own name, without its parents or a choice's `[x]` (`value` for
/// `Observation.value[x]`).
fn element_name(element: &ElementDef) -> &str {
    let last = element.path.rsplit('.').next().unwrap_or(element.path);
    last.strip_suffix("[x]").unwrap_or(last)
}

/// Adds the `SUBSETTED` tag to `meta.tag`, unless it is there already.
fn mark_subsetted(resource: &mut Map<String, Value>) {
    let meta = resource
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let Value::Object(meta) = meta else {
        return;
    };
    let tags = meta
        .entry("tag")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !tags.is_array() {
        *tags = Value::Array(Vec::new());
    }
    let Value::Array(tags) = tags else {
        return;
    };
    let is_subsetted = |tag: &Value| {
        tag.get("system").and_then(Value::as_str) == Some(SUBSETTED_SYSTEM)
            && tag.get("code").and_then(Value::as_str) == Some(SUBSETTED_CODE)
    };
    if !tags.iter().any(is_subsetted) {
        tags.push(serde_json::json!({"system": SUBSETTED_SYSTEM, "code": SUBSETTED_CODE}));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(object) => object,
            _ => panic!("not an object"),
        }
    }

    fn keys(resource: &Map<String, Value>) -> Vec<&str> {
        resource.keys().map(String::as_str).collect()
    }

    #[test]
    fn choice_elements_are_found_by_their_json_names() {
        let observation = structure("Observation").unwrap();
        let value = top_level_element(observation, "valueQuantity").unwrap();
        assert_eq!(value.path, "Observation.value[x]");
        assert_eq!(
            top_level_element(observation, "valueDateTime")
                .unwrap()
                .path,
            "Observation.value[x]"
        );
        assert!(top_level_element(observation, "valueFoo").is_none());
        assert!(top_level_element(observation, "value").is_none());
        assert_eq!(element_name(value), "value");
        assert_eq!(
            top_level_element(observation, "status").unwrap().path,
            "Observation.status"
        );
        assert!(top_level_element(observation, "coding").is_none());
    }

    #[test]
    fn the_subsetted_tag_is_added_once_and_keeps_other_tags() {
        let mut resource =
            object(json!({"resourceType": "Patient", "meta": {"tag": [{"code": "x"}]}}));
        mark_subsetted(&mut resource);
        mark_subsetted(&mut resource);
        assert_eq!(
            resource["meta"]["tag"],
            json!([{"code": "x"}, {"system": SUBSETTED_SYSTEM, "code": "SUBSETTED"}])
        );
        let mut resource = object(json!({"resourceType": "Patient"}));
        mark_subsetted(&mut resource);
        assert_eq!(
            resource["meta"],
            json!({"tag": [{"system": SUBSETTED_SYSTEM, "code": "SUBSETTED"}]})
        );
    }

    #[test]
    fn nothing_removed_means_no_tag() {
        let original = json!({"resourceType": "Patient", "id": "p", "name": [{"family": "X"}]});
        for mode in [Summary::True, Summary::Data, Summary::False, Summary::Count] {
            let mut resource = object(original.clone());
            summarize(&mut resource, mode);
            assert_eq!(Value::Object(resource), original, "{mode:?}");
        }
        let mut resource = object(original.clone());
        select_elements(&mut resource, &["name".to_owned()]);
        assert_eq!(Value::Object(resource), original);
    }

    #[test]
    fn unknown_types_are_left_alone() {
        let original = json!({"resourceType": "Nonexistent", "x": 1, "text": {"div": "<div/>"}});
        let mut resource = object(original.clone());
        summarize(&mut resource, Summary::True);
        assert_eq!(Value::Object(resource), original);
        let mut resource = object(original);
        summarize(&mut resource, Summary::Data);
        assert_eq!(keys(&resource), ["resourceType", "x", "meta"]);
    }

    #[test]
    fn primitive_extensions_follow_their_element() {
        let mut resource = object(json!({
            "resourceType": "Patient",
            "birthDate": "1974-12-25",
            "_birthDate": {"extension": [{"url": "http://x", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
            "photo": [{"contentType": "image/png"}]
        }));
        summarize(&mut resource, Summary::True);
        assert_eq!(
            keys(&resource),
            ["resourceType", "birthDate", "_birthDate", "meta"]
        );
    }
}
