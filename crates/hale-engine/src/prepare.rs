//! Turning request content into what the store writes: checked, validated, stamped with id and
//! meta, serialised once, and indexed.

use hale_fhir::outcome::{Issue, IssueType};
use hale_fhir::{Instant, ResourceId, ResourceType};
use hale_search::index::IndexEntry;
use serde_json::{Map, Value};

use crate::EngineError;

/// A resource body that passed the checks that need no database.
#[derive(Clone, Debug)]
pub struct Content {
    /// The resource type, which the body's `resourceType` matches.
    pub resource_type: ResourceType,
    /// The body as a JSON object.
    pub object: Map<String, Value>,
}

impl Content {
    /// Checks a request body: a JSON object whose `resourceType` is the expected type and, when
    /// `expected_id` is given, whose `id` is that id; then validates it against the R4 tables.
    pub fn from_body(
        resource_type: ResourceType,
        body: Value,
        expected_id: Option<&ResourceId>,
    ) -> Result<Self, EngineError> {
        let Value::Object(object) = body else {
            return Err(EngineError::invalid(
                IssueType::Structure,
                "the request body must be a JSON object holding a FHIR resource",
            ));
        };
        match object.get("resourceType").and_then(Value::as_str) {
            Some(rt) if rt == resource_type.as_str() => {}
            Some(rt) => {
                return Err(EngineError::Invalid(vec![
                    Issue::error(
                        IssueType::Invalid,
                        format!(
                            "the resourceType {rt:?} does not match the type {:?} of the URL",
                            resource_type.as_str()
                        ),
                    )
                    .at("resourceType"),
                ]));
            }
            None => {
                return Err(EngineError::Invalid(vec![
                    Issue::error(IssueType::Required, "the resource has no resourceType")
                        .at("resourceType"),
                ]));
            }
        }
        if let Some(expected) = expected_id {
            match object.get("id").and_then(Value::as_str) {
                Some(id) if id == expected.as_str() => {}
                Some(id) => {
                    return Err(EngineError::Invalid(vec![
                        Issue::error(
                            IssueType::Invalid,
                            format!(
                                "the resource id {id:?} does not match the id {:?} of the URL",
                                expected.as_str()
                            ),
                        )
                        .at(format!("{resource_type}.id")),
                    ]));
                }
                None => {
                    return Err(EngineError::Invalid(vec![
                        Issue::error(
                            IssueType::Required,
                            "an update must carry the resource id in the body",
                        )
                        .at(format!("{resource_type}.id")),
                    ]));
                }
            }
        }
        let mut content = Content {
            resource_type,
            object,
        };
        content.validate()?;
        Ok(content)
    }

    fn validate(&mut self) -> Result<(), EngineError> {
        let result = self.with_value(hale_fhir::validate::validate_resource);
        result.map_err(|issues| {
            EngineError::Invalid(
                issues
                    .into_iter()
                    .map(|issue| {
                        Issue::error(issue.kind.issue_type(), issue.message).at(issue.path)
                    })
                    .collect(),
            )
        })
    }

    /// Lends the object as a `Value` without copying it.
    fn with_value<T>(&mut self, f: impl FnOnce(&Value) -> T) -> T {
        let value = Value::Object(std::mem::take(&mut self.object));
        let result = f(&value);
        if let Value::Object(object) = value {
            self.object = object;
        }
        result
    }
}

/// A version ready for the store.
#[derive(Debug)]
pub struct Stamped {
    /// The bytes Hale serves.
    pub json: Vec<u8>,
    /// Index entries.
    pub index: Vec<IndexEntry>,
    /// Patient compartments.
    pub compartments: Vec<String>,
}

/// Sets `id` and `meta.versionId`/`meta.lastUpdated` in place, orders `resourceType`, `id`
/// and `meta` first (as FHIR JSON conventionally is), and serialises once. Nothing is copied:
/// this runs on the writer's path for every version.
pub fn render(content: &mut Content, id: &str, version_id: u64, last_updated: Instant) -> Vec<u8> {
    let object = &mut content.object;
    object.shift_remove("resourceType");
    object.shift_insert(
        0,
        "resourceType".into(),
        Value::String(content.resource_type.as_str().into()),
    );
    object.shift_remove("id");
    object.shift_insert(1, "id".into(), Value::String(id.to_owned()));
    let mut meta = match object.shift_remove("meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    meta.shift_remove("versionId");
    meta.shift_remove("lastUpdated");
    meta.shift_insert(0, "versionId".into(), Value::String(version_id.to_string()));
    meta.shift_insert(
        1,
        "lastUpdated".into(),
        Value::String(last_updated.to_fhir()),
    );
    object.shift_insert(2, "meta".into(), Value::Object(meta));
    // Serialising a map of JSON values cannot fail: its keys are strings.
    serde_json::to_vec(object).unwrap_or_default()
}

/// Renders a version and extracts its index entries and compartments.
pub fn stamp(content: &mut Content, id: &str, version_id: u64, last_updated: Instant) -> Stamped {
    let json = render(content, id, version_id, last_updated);
    let resource_type = content.resource_type.as_str();
    let (index, compartments) = content.with_value(|value| {
        (
            hale_search::index::extract(resource_type, value),
            hale_search::index::compartment_patients(resource_type, value),
        )
    });
    Stamped {
        json,
        index,
        compartments,
    }
}

/// Checks that a PATCH body is a JSON Patch document.
pub fn parse_json_patch(body: Value) -> Result<json_patch::Patch, EngineError> {
    serde_json::from_value(body).map_err(|e| {
        EngineError::invalid(
            IssueType::Structure,
            format!("the body is not a valid JSON Patch document: {e}"),
        )
    })
}

/// Applies a JSON Patch to a stored resource and checks the result like an update's body.
pub fn apply_patch(
    resource_type: ResourceType,
    id: &ResourceId,
    stored: &[u8],
    patch: &json_patch::Patch,
) -> Result<Content, EngineError> {
    let mut value: Value = serde_json::from_slice(stored).map_err(|e| {
        EngineError::invalid(
            IssueType::Exception,
            format!("the stored resource could not be read: {e}"),
        )
    })?;
    json_patch::patch(&mut value, patch).map_err(|e| {
        EngineError::invalid(
            IssueType::Processing,
            format!("the JSON Patch could not be applied: {e}"),
        )
    })?;
    Content::from_body(resource_type, value, Some(id))
}
