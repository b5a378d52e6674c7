//! One module per [FHIR RESTful interaction](https://hl7.org/fhir/R4/http.html), plus content
//! negotiation, validation and the operational endpoints.

mod conditional;
mod create;
mod delete;
mod history;
mod negotiation;
mod ops;
mod patch;
mod read;
mod search;
mod transaction;
mod update;
mod validation;
