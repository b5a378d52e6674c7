//! Lookups in the generated R4 definition tables.
//!
//! Every table in [`crate::generated`] is sorted, so each lookup here is a binary search over a
//! static slice. The search parameters are R4's and those the Plan-Net guide adds
//! ([`PLAN_NET_SEARCH_PARAMS`], which holds no `(base, code)` of R4's); [`search_params`] merges
//! the two once, on first use, so that every caller sees one table.

use std::sync::LazyLock;

use crate::generated::{
    PLAN_NET_SEARCH_PARAMS, R4_PATIENT_COMPARTMENT, R4_RESOURCE_TYPES, R4_SEARCH_PARAMS,
    R4_STRUCTURES,
};
use crate::table::{SearchParamDef, StructureDef};

/// Whether `name` is a concrete (non-abstract) R4 resource type, such as `Patient`.
///
/// `Resource` and `DomainResource` are abstract and so are not resource types here.
pub fn is_resource_type(name: &str) -> bool {
    R4_RESOURCE_TYPES.binary_search(&name).is_ok()
}

/// The StructureDefinition of the R4 base type `name`: a resource, a complex or a primitive type.
pub fn structure(name: &str) -> Option<&'static StructureDef> {
    R4_STRUCTURES
        .binary_search_by(|structure| structure.name.cmp(name))
        .ok()
        .map(|idx| &R4_STRUCTURES[idx])
}

/// Every search parameter Hale serves, R4's and the Plan-Net guide's, sorted by `(base, code)`.
pub fn search_params() -> &'static [&'static SearchParamDef] {
    static MERGED: LazyLock<Vec<&'static SearchParamDef>> = LazyLock::new(|| {
        let mut merged: Vec<&'static SearchParamDef> = R4_SEARCH_PARAMS
            .iter()
            .chain(PLAN_NET_SEARCH_PARAMS)
            .collect();
        merged.sort_by(|a, b| (a.base, a.code).cmp(&(b.base, b.code)));
        merged
    });
    &MERGED
}

/// The search parameters that apply to `resource_type`: its own, then those of its ancestors.
///
/// The ancestors contribute the parameters every resource has: `DomainResource` gives `_text`, and
/// `Resource` gives `_id`, `_lastUpdated`, `_profile`, `_tag`, `_security`, `_source`, `_content`,
/// `_query` and `_filter`. Within each type, parameters come sorted by code. An unknown type has
/// no parameters.
pub fn search_params_for(resource_type: &str) -> impl Iterator<Item = &'static SearchParamDef> {
    type_and_ancestors(resource_type).flat_map(|base| search_params_with_base(base).iter().copied())
}

/// The search parameter `code` of `resource_type`, including those inherited from `Resource` and
/// `DomainResource`.
pub fn search_param(resource_type: &str, code: &str) -> Option<&'static SearchParamDef> {
    type_and_ancestors(resource_type).find_map(|base| {
        let rows = search_params_with_base(base);
        rows.binary_search_by(|param| param.code.cmp(code))
            .ok()
            .map(|idx| rows[idx])
    })
}

/// The search parameters that put a resource of `resource_type` into a patient's compartment,
/// such as `["subject", "performer"]` for Observation; empty if the type is not in the compartment.
pub fn patient_compartment_params(resource_type: &str) -> &'static [&'static str] {
    R4_PATIENT_COMPARTMENT
        .binary_search_by(|member| member.resource_type.cmp(resource_type))
        .map_or(&[], |idx| R4_PATIENT_COMPARTMENT[idx].params)
}

/// `name` followed by its base types (`Patient`, `DomainResource`, `Resource`), as far as the
/// structure table knows them. An unknown name yields only itself, which matches no parameter.
fn type_and_ancestors(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |name| {
        structure(name).and_then(|structure| structure.base)
    })
}

/// The rows of [`search_params`] whose base is exactly `base`.
fn search_params_with_base(base: &str) -> &'static [&'static SearchParamDef] {
    let params = search_params();
    let start = params.partition_point(|param| param.base < base);
    let len = params[start..].partition_point(|param| param.base == base);
    &params[start..start + len]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Max, SearchParamType, StructureKind};

    #[test]
    fn resource_types() {
        assert!(is_resource_type("Patient"));
        assert!(is_resource_type("Bundle"));
        assert!(!is_resource_type("Resource"));
        assert!(!is_resource_type("DomainResource"));
        assert!(!is_resource_type("HumanName"));
        assert!(!is_resource_type("patient"));
        assert_eq!(R4_RESOURCE_TYPES.len(), 146);
        assert!(R4_RESOURCE_TYPES.is_sorted());
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(R4_STRUCTURES.is_sorted_by(|a, b| a.name < b.name));
        assert!(R4_SEARCH_PARAMS.is_sorted_by(|a, b| (a.base, a.code) < (b.base, b.code)));
        assert!(PLAN_NET_SEARCH_PARAMS.is_sorted_by(|a, b| (a.base, a.code) < (b.base, b.code)));
        // Strictly increasing: the guide's table restates none of R4's parameters.
        assert!(search_params().is_sorted_by(|a, b| (a.base, a.code) < (b.base, b.code)));
        assert!(R4_PATIENT_COMPARTMENT.is_sorted_by(|a, b| a.resource_type < b.resource_type));
    }

    #[test]
    fn every_resource_type_has_a_concrete_resource_structure() {
        for name in R4_RESOURCE_TYPES {
            let structure = structure(name).unwrap_or_else(|| panic!("no structure for {name}"));
            assert_eq!(structure.kind, StructureKind::Resource, "{name}");
            assert!(!structure.is_abstract, "{name}");
        }
    }

    #[test]
    fn structures_include_abstract_roots_and_data_types() {
        let resource = structure("Resource").unwrap();
        assert!(resource.is_abstract);
        assert_eq!(resource.base, None);
        assert_eq!(structure("DomainResource").unwrap().base, Some("Resource"));
        assert_eq!(structure("Patient").unwrap().base, Some("DomainResource"));
        for name in [
            "Element",
            "BackboneElement",
            "Extension",
            "Reference",
            "Quantity",
            "Age",
        ] {
            assert_eq!(
                structure(name).unwrap().kind,
                StructureKind::ComplexType,
                "{name}"
            );
        }
        assert_eq!(
            structure("date").unwrap().kind,
            StructureKind::PrimitiveType
        );
        assert!(
            structure("SimpleQuantity").is_none(),
            "profiles are not base types"
        );
        assert!(structure("Nonexistent").is_none());
    }

    fn element(structure_name: &str, path: &str) -> &'static crate::table::ElementDef {
        structure(structure_name)
            .unwrap()
            .elements
            .iter()
            .find(|element| element.path == path)
            .unwrap_or_else(|| panic!("no element {path}"))
    }

    #[test]
    fn patient_birth_date() {
        let birth_date = element("Patient", "Patient.birthDate");
        assert_eq!(birth_date.types, ["date"]);
        assert_eq!(birth_date.min, 0);
        assert_eq!(birth_date.max, Max::Bounded(1));
        assert_eq!(element("Patient", "Patient.name").max, Max::Unbounded);
    }

    #[test]
    fn system_types_are_mapped_to_fhir_types() {
        assert_eq!(element("Extension", "Extension.url").types, ["uri"]);
        assert_eq!(element("Extension", "Extension.url").min, 1);
        assert_eq!(element("Element", "Element.id").types, ["string"]);
        assert_eq!(element("date", "date.value").types, ["date"]);
    }

    #[test]
    fn observation_value_is_a_choice_of_11_types() {
        let value = element("Observation", "Observation.value[x]");
        assert_eq!(value.types.len(), 11);
        assert!(value.types.contains(&"Quantity"));
        assert!(value.types.contains(&"CodeableConcept"));
    }

    #[test]
    fn content_references_drop_the_hash() {
        let item = element("Questionnaire", "Questionnaire.item.item");
        assert_eq!(item.content_reference, Some("Questionnaire.item"));
        assert!(item.types.is_empty());
    }

    #[test]
    fn observation_code_value_quantity_is_composite() {
        let param = search_param("Observation", "code-value-quantity").unwrap();
        assert_eq!(param.kind, SearchParamType::Composite);
        let codes: Vec<_> = param.components.iter().map(|c| c.code).collect();
        assert_eq!(codes, ["code", "value-quantity"]);
        assert_eq!(param.components[1].expression, "value.as(Quantity)");
    }

    #[test]
    fn search_params_include_inherited_ones() {
        let codes: Vec<_> = search_params_for("Patient").map(|p| p.code).collect();
        for code in [
            "birthdate",
            "name",
            "_id",
            "_lastUpdated",
            "_profile",
            "_tag",
            "_security",
            "_source",
            "_text",
            "_content",
        ] {
            assert!(codes.contains(&code), "Patient lacks {code}");
        }
        let mut deduplicated = codes.clone();
        deduplicated.sort_unstable();
        deduplicated.dedup();
        assert_eq!(deduplicated.len(), codes.len(), "a code is listed twice");

        // Bundle derives from Resource directly, so it has no narrative to search.
        let bundle: Vec<_> = search_params_for("Bundle").map(|p| p.code).collect();
        assert!(bundle.contains(&"_id"));
        assert!(!bundle.contains(&"_text"));

        let last_updated = search_param("Patient", "_lastUpdated").unwrap();
        assert_eq!(last_updated.base, "Resource");
        assert_eq!(last_updated.kind, SearchParamType::Date);
        assert!(search_param("Patient", "nonexistent").is_none());
        assert_eq!(search_params_for("Nonexistent").count(), 0);
    }

    #[test]
    fn multi_base_parameters_have_one_row_per_base() {
        let patient = search_param("Observation", "patient").unwrap();
        assert_eq!(patient.kind, SearchParamType::Reference);
        assert!(patient.targets.contains(&"Patient"));
        assert!(patient.expression.contains("Observation.subject"));
        assert_eq!(
            search_param("Condition", "patient").unwrap().url,
            patient.url
        );
        assert!(search_param("Patient", "birthdate").is_some());
    }

    #[test]
    fn patient_compartment() {
        assert_eq!(
            patient_compartment_params("Observation"),
            ["subject", "performer"]
        );
        assert_eq!(patient_compartment_params("Patient"), ["link"]);
        assert!(patient_compartment_params("Organization").is_empty());
        assert!(patient_compartment_params("Nonexistent").is_empty());
    }

    #[test]
    fn plan_net_parameters_join_r4_ones() {
        let coverage_area = search_param("InsurancePlan", "coverage-area").unwrap();
        assert_eq!(coverage_area.kind, SearchParamType::Reference);
        assert_eq!(coverage_area.expression, "InsurancePlan.coverageArea");
        assert_eq!(coverage_area.targets, ["Location"]);
        let network = search_param("PractitionerRole", "network").unwrap();
        assert!(
            network.expression.contains("network-reference"),
            "{}",
            network.expression
        );
        assert!(
            search_params_for("Organization").any(|param| param.code == "coverage-area"),
            "Organization lists its Plan-Net parameter"
        );
        // Where Plan-Net restates an R4 parameter, R4's definition is the one served.
        assert_eq!(
            search_param("Organization", "name").unwrap().url,
            "http://hl7.org/fhir/SearchParameter/Organization-name"
        );
        let codes: Vec<_> = search_params_for("PractitionerRole")
            .map(|p| p.code)
            .collect();
        let own = &codes[..codes.iter().position(|code| code.starts_with('_')).unwrap()];
        assert!(
            own.is_sorted(),
            "a type's own parameters stay sorted: {own:?}"
        );
    }
}
