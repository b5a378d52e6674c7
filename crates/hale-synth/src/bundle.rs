//! Wrapping generated resources in FHIR Bundles
//! ([Bundle](https://hl7.org/fhir/R4/bundle.html),
//! [transaction and batch](https://hl7.org/fhir/R4/http.html#transaction)).
//!
//! Each entry is a POST, so the server assigns the ids; the resource's id is
//! therefore dropped from it (a server ignores the id of a create) and lives
//! on only in the entry's `urn:uuid:` fullUrl, which is what other entries
//! of a transaction reference.

use serde_json::{Map, Value};

use crate::elements::fhir;

/// Takes the id out of a generated resource and returns it with the
/// resource's type.
fn take_id(resource: &mut Value) -> (String, String) {
    let object = resource
        .as_object_mut()
        .expect("generated resources are objects");
    let id = object["id"]
        .as_str()
        .expect("generated resources have string ids")
        .to_owned();
    // `retain` keeps the order of the other elements, where `remove` may
    // move the last element into the id's place.
    object.retain(|name, _| name != "id");
    let resource_type = object["resourceType"]
        .as_str()
        .expect("generated resources have a type")
        .to_owned();
    (id, resource_type)
}

/// Returns the first identifier of a resource as a search parameter value,
/// `system|value`.
fn first_identifier(resource: &Value) -> Option<String> {
    let identifier = resource.get("identifier")?.get(0)?;
    Some(format!(
        "{}|{}",
        identifier.get("system")?.as_str()?,
        identifier.get("value")?.as_str()?
    ))
}

/// Returns a Bundle of `kind` with the given entries.
fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    fhir!({ "resourceType": "Bundle", "type": kind, "entry": entries })
}

/// Returns a transaction Bundle that POSTs every resource.
pub(crate) fn transaction(resources: Vec<Value>) -> Value {
    let entries = resources
        .into_iter()
        .map(|mut resource| {
            let (id, resource_type) = take_id(&mut resource);
            fhir!({
                "fullUrl": format!("urn:uuid:{id}"),
                "resource": resource,
                "request": { "method": "POST", "url": resource_type },
            })
        })
        .collect();
    bundle("transaction", entries)
}

/// Returns a batch Bundle that POSTs every resource unless one with the same
/// first identifier exists.
pub(crate) fn batch(resources: Vec<Value>) -> Value {
    let entries = resources
        .into_iter()
        .map(|mut resource| {
            let condition = first_identifier(&resource);
            let (id, resource_type) = take_id(&mut resource);
            let mut request = Map::new();
            request.insert("method".to_owned(), fhir!("POST"));
            request.insert("url".to_owned(), fhir!(resource_type));
            if let Some(condition) = condition {
                request.insert(
                    "ifNoneExist".to_owned(),
                    fhir!(format!("identifier={condition}")),
                );
            }
            fhir!({ "fullUrl": format!("urn:uuid:{id}"), "resource": resource, "request": request })
        })
        .collect();
    bundle("batch", entries)
}
