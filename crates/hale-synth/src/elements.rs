//! The [`fhir!`] JSON builder, and builders for the FHIR data types the
//! generator writes again and again: `Coding`, `CodeableConcept`, `Quantity`,
//! `Period`, `Money` and `Identifier`
//! ([datatypes](https://hl7.org/fhir/R4/datatypes.html)).

use serde_json::Value;

/// Builds a `serde_json::Value` with the syntax of `serde_json::json!`, but
/// moves interpolated values in instead of serializing them.
///
/// `json!` turns every interpolated expression into a `Value` with
/// `serde_json::to_value(&expr)`, which for an expression that already is a
/// `Value` (a reference, a `CodeableConcept`, a whole resource put into a
/// Bundle entry) means walking it through the serializer and building a deep
/// copy, key by key. That made up more than half of the generator's time.
/// Here an interpolated expression goes through [`IntoJson`]: a `Value` is
/// moved, a `&Value` cloned, strings and numbers converted directly.
///
/// Keys must be string literals. Interpolated expressions are taken by value,
/// so borrow (`&context.encounter`) what must stay usable.
macro_rules! fhir {
    // An object's members are collected into an array of pairs, so that the
    // map is allocated once at its final size instead of growing.
    (@object [$($done:tt)*] ()) => {
        ::serde_json::Value::Object(::serde_json::Map::from_iter([$($done)*]))
    };
    (@object [$($done:tt)*] ($key:literal : $($rest:tt)*)) => {
        $crate::elements::fhir!(@member [$($done)*] $key () ($($rest)*))
    };
    (@member [$($done:tt)*] $key:literal ($($value:tt)+) (, $($rest:tt)*)) => {
        $crate::elements::fhir!(@object
            [$($done)* (::std::string::String::from($key), $crate::elements::fhir!($($value)+)),]
            ($($rest)*))
    };
    (@member [$($done:tt)*] $key:literal ($($value:tt)+) ()) => {
        $crate::elements::fhir!(@object
            [$($done)* (::std::string::String::from($key), $crate::elements::fhir!($($value)+)),]
            ())
    };
    (@member [$($done:tt)*] $key:literal ($($value:tt)*) ($next:tt $($rest:tt)*)) => {
        $crate::elements::fhir!(@member [$($done)*] $key ($($value)* $next) ($($rest)*))
    };
    (@array [$($done:tt)*] () ()) => {
        ::serde_json::Value::Array(::std::vec![$($done)*])
    };
    (@array [$($done:tt)*] ($($item:tt)+) ()) => {
        ::serde_json::Value::Array(::std::vec![$($done)* $crate::elements::fhir!($($item)+)])
    };
    (@array [$($done:tt)*] ($($item:tt)+) (, $($rest:tt)*)) => {
        $crate::elements::fhir!(@array [$($done)* $crate::elements::fhir!($($item)+),] () ($($rest)*))
    };
    (@array [$($done:tt)*] ($($item:tt)*) ($next:tt $($rest:tt)*)) => {
        $crate::elements::fhir!(@array [$($done)*] ($($item)* $next) ($($rest)*))
    };
    ({ $($body:tt)* }) => {
        $crate::elements::fhir!(@object [] ($($body)*))
    };
    ([ $($body:tt)* ]) => {
        $crate::elements::fhir!(@array [] () ($($body)*))
    };
    ($value:expr) => {
        $crate::elements::IntoJson::into_json($value)
    };
}
pub(crate) use fhir;

/// Conversion into a `Value` without going through the serializer.
pub(crate) trait IntoJson {
    /// Returns the JSON value.
    fn into_json(self) -> Value;
}

impl IntoJson for Value {
    fn into_json(self) -> Value {
        self
    }
}

impl IntoJson for &Value {
    fn into_json(self) -> Value {
        self.clone()
    }
}

impl IntoJson for &str {
    fn into_json(self) -> Value {
        Value::String(self.to_owned())
    }
}

impl IntoJson for &&str {
    fn into_json(self) -> Value {
        Value::String((*self).to_owned())
    }
}

impl IntoJson for String {
    fn into_json(self) -> Value {
        Value::String(self)
    }
}

impl IntoJson for &String {
    fn into_json(self) -> Value {
        Value::String(self.clone())
    }
}

impl IntoJson for bool {
    fn into_json(self) -> Value {
        Value::Bool(self)
    }
}

impl IntoJson for f64 {
    fn into_json(self) -> Value {
        Value::from(self)
    }
}

macro_rules! integer_into_json {
    ($($integer:ty),*) => {
        $(impl IntoJson for $integer {
            fn into_json(self) -> Value {
                Value::from(self)
            }
        })*
    };
}
integer_into_json!(i32, i64, u32, u64, usize);

impl IntoJson for serde_json::Map<String, Value> {
    fn into_json(self) -> Value {
        Value::Object(self)
    }
}

impl<T: IntoJson> IntoJson for Vec<T> {
    fn into_json(self) -> Value {
        Value::Array(self.into_iter().map(IntoJson::into_json).collect())
    }
}

use crate::calendar::{Instant, Zone};
use crate::terminology::{Concept, UCUM};

/// Returns a `Coding`.
pub(crate) fn coding(concept: &Concept) -> Value {
    fhir!({ "system": concept.system, "code": concept.code, "display": concept.display })
}

/// Returns a `CodeableConcept` with one coding and the display as text.
pub(crate) fn codeable(concept: &Concept) -> Value {
    fhir!({ "coding": [coding(concept)], "text": concept.display })
}

/// Returns a `CodeableConcept` with one coding from its parts, without text,
/// which is how status and category codes are usually written.
pub(crate) fn codeable_code(system: &str, code: &str, display: &str) -> Value {
    fhir!({ "coding": [{ "system": system, "code": code, "display": display }] })
}

/// Returns a UCUM `Quantity`; `value` is an integer or a float.
pub(crate) fn quantity(value: impl IntoJson, unit: &str) -> Value {
    fhir!({ "value": value, "unit": unit, "system": UCUM, "code": unit })
}

/// Returns a `Period` in the given zone.
pub(crate) fn period(start: Instant, end: Instant, zone: Zone) -> Value {
    fhir!({ "start": start.date_time(zone), "end": end.date_time(zone) })
}

/// Returns a `Money` amount in US dollars.
pub(crate) fn money(value: f64) -> Value {
    fhir!({ "value": value, "currency": "USD" })
}

/// Returns an `Identifier` with a `type` from HL7 v2 table 0203.
pub(crate) fn typed_identifier(
    type_code: &str,
    type_display: &str,
    system: &str,
    value: String,
) -> Value {
    fhir!({
        "type": {
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                "code": type_code,
                "display": type_display,
            }],
            "text": type_display,
        },
        "system": system,
        "value": value,
    })
}
