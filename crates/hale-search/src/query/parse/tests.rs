//! Table-driven tests of the search parser: each case is a query string and the parse rendered one
//! line per criterion or result setting, so that a case reads like the URL it tests.

use std::fmt::Write as _;

use super::*;
use crate::query::model::{Criterion, ParamTest, SearchRequest, Test};

/// The base URL of the server in these tests.
const BASE: &str = "http://hale.test/r4";

/// 2025-01-01T00:00:00Z, the fixed "now" of these tests.
const NOW: i64 = 1_735_689_600_000_000;

fn options(strict: bool) -> ParseOptions {
    ParseOptions {
        strict,
        base_urls: vec![BASE.to_owned(), "https://other.test/fhir/".to_owned()],
        now: NOW,
    }
}

fn micros(value: i64) -> String {
    match value {
        i64::MIN | i64::MAX => "open".to_owned(),
        _ => time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    }
}

fn prefix(prefix: Prefix) -> String {
    format!("{prefix:?}").to_lowercase()
}

fn list<T>(values: &[T], render: impl Fn(&T) -> String) -> String {
    values.iter().map(render).collect::<Vec<_>>().join(", ")
}

fn token(value: &TokenValue) -> String {
    match value {
        TokenValue::Code(code) => code.clone(),
        TokenValue::SystemCode(system, code) => format!("{system}|{code}"),
        TokenValue::NoSystemCode(code) => format!("|{code}"),
        TokenValue::System(system) => format!("{system}|"),
    }
}

fn number(bound: &NumberBound) -> String {
    format!(
        "{} {} [{}, {})",
        prefix(bound.prefix),
        bound.value,
        bound.low,
        bound.high
    )
}

fn date(bound: &DateBound) -> String {
    format!(
        "{} {}..{}",
        prefix(bound.prefix),
        micros(bound.low),
        micros(bound.high)
    )
}

fn test(test: &Test) -> String {
    match test {
        Test::Missing(missing) => format!("missing={missing}"),
        Test::Id(ids) => format!("id[{}]", ids.join(", ")),
        Test::LastUpdated(bounds) => format!("lastUpdated[{}]", list(bounds, date)),
        Test::String { mode, values } => format!(
            "string:{}[{}]",
            format!("{mode:?}").to_lowercase(),
            values.join(", ")
        ),
        Test::Token { negate, values } => format!(
            "token{}[{}]",
            if *negate { ":not" } else { "" },
            list(values, token)
        ),
        Test::TokenText(values) => format!("token:text[{}]", values.join(", ")),
        Test::OfType(values) => format!(
            "of-type[{}]",
            list(values, |v| format!(
                "{}|{}|{}",
                v.type_system, v.type_code, v.value
            ))
        ),
        Test::Reference(values) => format!(
            "reference[{}]",
            list(values, |value| match value {
                ReferenceValue::Local {
                    target_type,
                    target_id,
                } => format!("{}/{target_id}", target_type.as_deref().unwrap_or("?")),
                ReferenceValue::Url { url, version } => match version {
                    Some(version) => format!("url {url} version {version}"),
                    None => format!("url {url}"),
                },
            })
        ),
        Test::ReferenceIdentifier(values) => {
            format!("reference:identifier[{}]", list(values, token))
        }
        Test::Date(bounds) => format!("date[{}]", list(bounds, date)),
        Test::Number(bounds) => format!("number[{}]", list(bounds, number)),
        Test::Quantity(bounds) => format!(
            "quantity[{}]",
            list(bounds, |bound| format!(
                "{} {}|{}",
                number(&bound.number),
                bound.system.as_deref().unwrap_or("-"),
                bound.code.as_deref().unwrap_or("-")
            ))
        ),
        Test::Uri { mode, values } => {
            format!(
                "uri:{}[{}]",
                format!("{mode:?}").to_lowercase(),
                values.join(", ")
            )
        }
        Test::Composite(alternatives) => format!(
            "composite[{}]",
            list(alternatives, |components| components
                .iter()
                .map(param)
                .collect::<Vec<_>>()
                .join(" $ "))
        ),
        Test::Text(values) => format!("text[{}]", values.join(", ")),
    }
}

fn param(param: &ParamTest) -> String {
    format!("{} {}", param.code, test(&param.test))
}

fn criterion(criterion: &Criterion) -> String {
    match criterion {
        Criterion::Param(p) => param(p),
        Criterion::Chain {
            code,
            target_type,
            inner,
        } => format!("{code}:{target_type}.({})", self::criterion(inner)),
        Criterion::Has {
            source_type,
            code,
            inner,
        } => format!("_has:{source_type}:{code}:({})", self::criterion(inner)),
        Criterion::All(every) => format!(
            "all({})",
            every
                .iter()
                .map(self::criterion)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Criterion::ReferencedFrom { patients } => {
            format!("referenced-from({})", patients.join(","))
        }
        Criterion::Any(alternatives) => format!(
            "any({})",
            alternatives
                .iter()
                .map(self::criterion)
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        Criterion::Compartment { patient_id } => format!("compartment Patient/{patient_id}"),
    }
}

fn include(include: &Include) -> String {
    format!(
        "{}:{}{}{}",
        include.source_type,
        include.code.unwrap_or("*"),
        include
            .target_type
            .map(|target| format!(":{target}"))
            .unwrap_or_default(),
        if include.iterate { " (iterate)" } else { "" }
    )
}

fn render(request: &SearchRequest) -> String {
    let mut out = String::new();
    if !request.query.types.is_empty() {
        writeln!(out, "types {}", request.query.types.join(", ")).unwrap();
    }
    for c in &request.query.criteria {
        writeln!(out, "{}", criterion(c)).unwrap();
    }
    if !request.sort.is_empty() {
        let keys = list(&request.sort, |key| {
            format!(
                "{}{} ({:?})",
                if key.descending { "-" } else { "" },
                key.code,
                key.kind
            )
        });
        writeln!(out, "sort {keys}").unwrap();
    }
    if let Some(count) = request.count {
        writeln!(out, "count {count}").unwrap();
    }
    if let Some(skip) = request.skip {
        writeln!(out, "skip {skip}").unwrap();
    }
    if let Some(total) = request.total {
        writeln!(out, "total {total:?}").unwrap();
    }
    if let Some(summary) = request.summary {
        writeln!(out, "summary {summary:?}").unwrap();
    }
    if !request.elements.is_empty() {
        writeln!(out, "elements {}", request.elements.join(", ")).unwrap();
    }
    for i in &request.includes {
        writeln!(out, "include {}", include(i)).unwrap();
    }
    for i in &request.revincludes {
        writeln!(out, "revinclude {}", include(i)).unwrap();
    }
    for ignored in &request.ignored {
        writeln!(out, "ignored {}: {}", ignored.param, ignored.reason).unwrap();
    }
    out.trim_end().to_owned()
}

fn parse(resource_type: &'static str, query: &str, strict: bool) -> Result<String, String> {
    parse_search(resource_type, &form_pairs(query), &options(strict))
        .map(|request| render(&request))
        .map_err(|error| error.to_string())
}

/// Checks that every `(resource type, query, expected rendering)` parses, leniently, as expected.
#[track_caller]
fn check_all(cases: &[(&'static str, &str, &str)]) {
    let mut failures = Vec::new();
    for (resource_type, query, expected) in cases {
        match parse(resource_type, query, false) {
            Ok(actual) if actual == *expected => {}
            Ok(actual) => failures.push(format!(
                "{resource_type}?{query}\n  expected: {expected}\n  actual:   {actual}"
            )),
            Err(error) => failures.push(format!("{resource_type}?{query}\n  failed: {error}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Checks that every `(resource type, query, strict, expected error message)` fails as expected.
#[track_caller]
fn check_errors(cases: &[(&'static str, &str, bool, &str)]) {
    let mut failures = Vec::new();
    for (resource_type, query, strict, expected) in cases {
        match parse(resource_type, query, *strict) {
            Err(actual) if actual == *expected => {}
            Err(actual) => failures.push(format!(
                "{resource_type}?{query}\n  expected: {expected}\n  actual:   {actual}"
            )),
            Ok(parsed) => failures.push(format!(
                "{resource_type}?{query}\n  expected: {expected}\n  parsed:   {parsed}"
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn an_empty_search_matches_everything() {
    check_all(&[
        ("Patient", "", ""),
        ("Patient", "_format=json&_pretty=true&_cursor=abc", ""),
    ]);
}

#[test]
fn strings() {
    check_all(&[
        (
            "Patient",
            "name=Ev%C3%A9+%20Smith",
            "name string:prefix[eve smith]",
        ),
        ("Patient", "name:exact=Eve", "name string:exact[Eve]"),
        ("Patient", "name:contains=VE", "name string:contains[ve]"),
        (
            "Patient",
            "name=a,b&name=c",
            "name string:prefix[a, b]\nname string:prefix[c]",
        ),
        (
            "Patient",
            r"name=a\,b,c\$d\\e\x",
            r"name string:prefix[a,b, c$d\e\x]",
        ),
        ("Patient", "name:missing=true", "name missing=true"),
        ("Patient", "family:missing=false", "family missing=false"),
    ]);
}

#[test]
fn tokens() {
    check_all(&[
        ("Patient", "gender=male", "gender token[male]"),
        (
            "Patient",
            "identifier=http://x|1,|2,http://y|",
            "identifier token[http://x|1, |2, http://y|]",
        ),
        ("Patient", r"identifier=a\|b|c", "identifier token[a|b|c]"),
        ("Patient", "gender:not=male", "gender token:not[male]"),
        (
            "Observation",
            "code:text=Body+Weight",
            "code token:text[body weight]",
        ),
        (
            "Patient",
            "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345",
            "identifier of-type[http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345]",
        ),
        ("Patient", "_tag=http://x|t", "_tag token[http://x|t]"),
        ("Patient", "_security=|R", "_security token[|R]"),
        ("Patient", "active:missing=false", "active missing=false"),
        (
            "Observation",
            "code:in=http://vs",
            "ignored code:in: search parameter \"code:in\" is not supported: the modifier :in needs a terminology service, which Hale does not have",
        ),
        (
            "Observation",
            "code:below=x",
            "ignored code:below: search parameter \"code:below\" is not supported: the modifier :below needs a terminology service, which Hale does not have",
        ),
        (
            "Observation",
            "code:bogus=x",
            "ignored code:bogus: search parameter \"code:bogus\" is not supported: unknown modifier :bogus for a token parameter",
        ),
    ]);
}

#[test]
fn special_parameters() {
    check_all(&[
        ("Patient", "_id=a,b", "_id id[a, b]"),
        (
            "Patient",
            "_lastUpdated=gt2020-01-01",
            "_lastUpdated lastUpdated[gt 2020-01-01T00:00:00Z..2020-01-01T23:59:59.999999Z]",
        ),
        (
            "Patient",
            "_content=cancer+heart",
            "_content text[cancer heart]",
        ),
        ("Patient", "_text=Ev%C3%A9", "_text text[Evé]"),
        (
            "Patient",
            "_profile=http://p",
            "_profile uri:exact[http://p]",
        ),
        (
            "Patient",
            "_source:below=http://s",
            "_source uri:below[http://s]",
        ),
        (
            "Patient",
            "_id:missing=true",
            "ignored _id:missing: search parameter \"_id:missing\" is not supported: unknown modifier :missing for a token parameter",
        ),
        (
            "Location",
            "near=1|2|3|km",
            "ignored near: search parameter \"near\" is not supported: special parameters other than _content and _text",
        ),
    ]);
}

#[test]
fn references() {
    check_all(&[
        // Observation.subject has several targets, Observation.patient only Patient.
        ("Observation", "subject=123", "subject reference[?/123]"),
        ("Observation", "patient=123", "patient reference[?/123]"),
        ("Account", "patient=123", "patient reference[Patient/123]"),
        (
            "Observation",
            "subject:Patient=123",
            "subject reference[Patient/123]",
        ),
        (
            "Observation",
            "subject=Patient/123",
            "subject reference[Patient/123]",
        ),
        (
            "Observation",
            "subject=Patient/123/_history/4",
            "subject reference[Patient/123]",
        ),
        (
            "Observation",
            "subject=http://hale.test/r4/Patient/123/_history/2",
            "subject reference[Patient/123]",
        ),
        (
            "Observation",
            "subject=https://other.test/fhir/Group/g",
            "subject reference[Group/g]",
        ),
        (
            "Observation",
            "subject=http://elsewhere.test/Patient/123",
            "subject reference[url http://elsewhere.test/Patient/123]",
        ),
        (
            "Observation",
            "subject=urn:uuid:0b1d0c8a-2c5d-4b6e-9f39-1b2f3c4d5e6f",
            "subject reference[url urn:uuid:0b1d0c8a-2c5d-4b6e-9f39-1b2f3c4d5e6f]",
        ),
        (
            "PlanDefinition",
            "derived-from=http://example.org/Library/a|1.0",
            "derived-from reference[url http://example.org/Library/a version 1.0]",
        ),
        (
            "Observation",
            "subject:identifier=http://npi|123",
            "subject reference:identifier[http://npi|123]",
        ),
        (
            "Observation",
            "subject:missing=true",
            "subject missing=true",
        ),
        (
            "Observation",
            "subject:above=x",
            "ignored subject:above: search parameter \"subject:above\" is not supported: unknown modifier :above for a reference parameter",
        ),
    ]);
}

#[test]
fn dates() {
    check_all(&[
        (
            "Patient",
            "birthdate=2020",
            "birthdate date[eq 2020-01-01T00:00:00Z..2020-12-31T23:59:59.999999Z]",
        ),
        (
            "Patient",
            "birthdate=ge2020-02",
            "birthdate date[ge 2020-02-01T00:00:00Z..2020-02-29T23:59:59.999999Z]",
        ),
        (
            "Patient",
            "birthdate=lt2020-02-03,ne2021-01-01",
            "birthdate date[lt 2020-02-03T00:00:00Z..2020-02-03T23:59:59.999999Z, \
             ne 2021-01-01T00:00:00Z..2021-01-01T23:59:59.999999Z]",
        ),
        (
            "Observation",
            "date=sa2020-02-03T10:00:00Z&date=eb2020-02-03T10:00:00.5%2B01:00",
            "date date[sa 2020-02-03T10:00:00Z..2020-02-03T10:00:00.999999Z]\n\
             date date[eb 2020-02-03T09:00:00.5Z..2020-02-03T09:00:00.599999Z]",
        ),
        // A `+` that was not percent-encoded arrives as a space.
        (
            "Observation",
            "date=le2020-02-03T10:00+01:00",
            "date date[le 2020-02-03T09:00:00Z..2020-02-03T09:00:59.999999Z]",
        ),
        // 2015 ended nine years before now, so it widens by a tenth of that on each side.
        (
            "Patient",
            "birthdate=ap2015",
            "birthdate date[ap 2014-02-06T04:48:00Z..2016-11-24T19:11:59.999999Z]",
        ),
        // A date that contains now is not widened.
        (
            "Patient",
            "birthdate=ap2025",
            "birthdate date[ap 2025-01-01T00:00:00Z..2025-12-31T23:59:59.999999Z]",
        ),
        (
            "Patient",
            "birthdate:missing=true",
            "birthdate missing=true",
        ),
    ]);
}

#[test]
fn numbers_and_quantities() {
    check_all(&[
        (
            "RiskAssessment",
            "probability=100",
            "probability number[eq 100 [99.5, 100.5)]",
        ),
        (
            "RiskAssessment",
            "probability=100.0",
            "probability number[eq 100 [99.95, 100.05)]",
        ),
        (
            "RiskAssessment",
            "probability=1e2",
            "probability number[eq 100 [50, 150)]",
        ),
        (
            "RiskAssessment",
            "probability=1.5e2",
            "probability number[eq 150 [145, 155)]",
        ),
        (
            "RiskAssessment",
            "probability=gt0.8",
            "probability number[gt 0.8 [0.75, 0.8500000000000001)]",
        ),
        (
            "RiskAssessment",
            "probability=ap100",
            "probability number[ap 100 [90, 110)]",
        ),
        (
            "RiskAssessment",
            "probability=ap-1",
            "probability number[ap -1 [-1.5, -0.5)]",
        ),
        (
            "Observation",
            // UCUM units are compared in canonical form: milligrams become grams.
            "value-quantity=gt5.4|http://unitsofmeasure.org|mg",
            "value-quantity quantity[gt 0.0054 [0.005350000000000001, 0.00545) urn:hale:ucum-canonical|g]",
        ),
        (
            "Observation",
            "value-quantity=5||mg",
            "value-quantity quantity[eq 5 [4.5, 5.5) -|mg]",
        ),
        (
            "Observation",
            "value-quantity=le5",
            "value-quantity quantity[le 5 [4.5, 5.5) -|-]",
        ),
        (
            "Observation",
            "value-quantity:missing=false",
            "value-quantity missing=false",
        ),
    ]);
}

#[test]
fn uris() {
    check_all(&[
        ("ValueSet", "url=http://x/vs", "url uri:exact[http://x/vs]"),
        (
            "ValueSet",
            "url:below=http://x/",
            "url uri:below[http://x/]",
        ),
        (
            "ValueSet",
            "url:above=http://x/vs/1",
            "url uri:above[http://x/vs/1]",
        ),
    ]);
}

#[test]
fn composites() {
    check_all(&[
        (
            "Observation",
            "code-value-quantity=http://loinc.org|8480-6$gt100",
            "code-value-quantity composite[code token[http://loinc.org|8480-6] \
             $ value-quantity quantity[gt 100 [99.5, 100.5) -|-]]",
        ),
        (
            "Observation",
            "component-code-value-quantity=8480-6$lt60|http://unitsofmeasure.org|mm[Hg],8462-4$90",
            "component-code-value-quantity composite[component-code token[8480-6] \
             $ component-value-quantity quantity[lt 60 [59.5, 60.5) urn:hale:ucum-canonical|mm[Hg]], \
             component-code token[8462-4] $ component-value-quantity quantity[eq 90 [89.5, 90.5) -|-]]",
        ),
        (
            "Observation",
            "code-value-date=http://loinc.org|x$ge2020",
            "code-value-date composite[code token[http://loinc.org|x] \
             $ value-date date[ge 2020-01-01T00:00:00Z..2020-12-31T23:59:59.999999Z]]",
        ),
        (
            "Observation",
            r"code-value-string=a\$b$c\,d",
            "code-value-string composite[code token[a$b] $ value-string string:prefix[c,d]]",
        ),
    ]);
}

#[test]
fn chains() {
    check_all(&[
        (
            "Observation",
            "subject:Patient.name=peter",
            "subject:Patient.(name string:prefix[peter])",
        ),
        (
            "Observation",
            "subject:Patient.name:exact=Peter",
            "subject:Patient.(name string:exact[Peter])",
        ),
        // Observation.patient may be a Patient or a Group, and only a Patient has a birthdate.
        (
            "Observation",
            "patient.birthdate=2020",
            "patient:Patient.(birthdate date[eq 2020-01-01T00:00:00Z..2020-12-31T23:59:59.999999Z])",
        ),
        // `subject` may be a Patient, Group, Device or Location; only Patient and Location have
        // a `name` parameter.
        (
            "Observation",
            "subject.name=x",
            "any(subject:Patient.(name string:prefix[x]) | subject:Location.(name string:prefix[x]))",
        ),
        (
            "Observation",
            "subject.birthdate=2020",
            "subject:Patient.(birthdate date[eq 2020-01-01T00:00:00Z..2020-12-31T23:59:59.999999Z])",
        ),
        (
            "Observation",
            "encounter:Encounter.subject:Patient.family=x",
            "encounter:Encounter.(subject:Patient.(family string:prefix[x]))",
        ),
        (
            "Observation",
            "subject:Patient.organization.name=acme",
            "subject:Patient.(organization:Organization.(name string:prefix[acme]))",
        ),
        (
            "Observation",
            "subject:Patient._has:Condition:patient:code=x",
            "subject:Patient.(_has:Condition:patient:(code token[x]))",
        ),
    ]);
}

#[test]
fn reverse_chains() {
    check_all(&[
        (
            "Patient",
            "_has:Observation:patient:code=1234",
            "_has:Observation:patient:(code token[1234])",
        ),
        (
            "Patient",
            "_has:Observation:patient:_has:AuditEvent:entity:agent=x",
            "_has:Observation:patient:(_has:AuditEvent:entity:(agent reference[?/x]))",
        ),
        (
            "Patient",
            "_has:Observation:subject:performer:Practitioner.name=x",
            "_has:Observation:subject:(performer:Practitioner.(name string:prefix[x]))",
        ),
        (
            "Patient",
            "_has:Observation:patient:code:text=weight",
            "_has:Observation:patient:(code token:text[weight])",
        ),
    ]);
}

#[test]
fn result_parameters() {
    check_all(&[
        ("Patient", "_count=10&_skip=0", "count 10\nskip 0"),
        (
            "Observation",
            "_sort=-date,_id,code,-_lastUpdated",
            "sort -date (Date), _id (Id), code (Token), -_lastUpdated (LastUpdated)",
        ),
        (
            "Patient",
            "_total=accurate&_summary=count",
            "total Accurate\nsummary Count",
        ),
        ("Patient", "_summary=true", "summary True"),
        (
            "Patient",
            "_elements=name,+birthDate,name",
            "elements name, birthDate",
        ),
        (
            "Observation",
            "_include=Observation:subject:Patient&_include:iterate=Patient:organization&_include:recurse=Patient:*",
            "include Observation:subject:Patient\ninclude Patient:organization (iterate)\ninclude Patient:* (iterate)",
        ),
        ("Observation", "_include=*", "include Observation:*"),
        (
            "Patient",
            "_revinclude=Provenance:target&_revinclude=Observation:subject:Patient",
            "revinclude Provenance:target\nrevinclude Observation:subject:Patient",
        ),
        (
            "Resource",
            "_type=Patient,Observation&_lastUpdated=2024&_text=x",
            "types Patient, Observation\n_lastUpdated lastUpdated[eq 2024-01-01T00:00:00Z..2024-12-31T23:59:59.999999Z]\n_text text[x]",
        ),
    ]);
}

#[test]
fn lenient_search_skips_what_it_does_not_know() {
    check_all(&[
        (
            "Patient",
            "foo=bar&name=x",
            "name string:prefix[x]\nignored foo: unknown search parameter \"foo\" for Patient",
        ),
        (
            "Patient",
            "_sort=foo",
            "ignored _sort: unknown search parameter \"foo\" for Patient",
        ),
        (
            "Observation",
            "_sort=code-value-quantity",
            "ignored _sort: search parameter \"_sort\" is not supported: sorting on the Composite parameter code-value-quantity",
        ),
        (
            "Observation",
            "subject.foo=x",
            "ignored subject.foo: unknown search parameter \"subject.foo\" for Observation",
        ),
        (
            "Patient",
            "_include=Patient:foo",
            "ignored _include: unknown search parameter \"_include\" for Patient",
        ),
        (
            "Patient",
            "_revinclude=*",
            "ignored _revinclude: search parameter \"_revinclude\" is not supported: _revinclude=* (every type that may refer here)",
        ),
        (
            "Patient",
            "_type=Patient",
            "ignored _type: search parameter \"_type\" is not supported: _type applies only to a search of all types",
        ),
        (
            "Patient",
            "_contained=true&_count:x=1",
            "ignored _contained: search parameter \"_contained\" is not supported: contained resources are not searched\n\
             ignored _count:x: search parameter \"_count:x\" is not supported: the modifier :x",
        ),
        (
            "Resource",
            "name=x",
            "ignored name: unknown search parameter \"name\" for Resource",
        ),
    ]);
}

#[test]
fn strict_search_fails_on_what_it_does_not_know() {
    check_errors(&[
        (
            "Patient",
            "foo=bar",
            true,
            "unknown search parameter \"foo\" for Patient",
        ),
        (
            "Observation",
            "code:in=http://vs",
            true,
            "search parameter \"code:in\" is not supported: the modifier :in needs a terminology service, which Hale does not have",
        ),
        (
            "Observation",
            "subject:Patient.foo=x",
            true,
            "unknown search parameter \"subject:Patient.foo\" for Patient",
        ),
        (
            "Patient",
            "_has:Observation:patient:foo=x",
            true,
            "unknown search parameter \"_has:Observation:patient:foo\" for Observation",
        ),
    ]);
}

#[test]
fn malformed_values_always_fail() {
    check_errors(&[
        (
            "Patient",
            "birthdate=2020-13",
            false,
            "invalid value \"2020-13\" for search parameter \"birthdate\": \"2020-13\" is not a date: \
             expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm|-hh:mm], after an optional prefix",
        ),
        (
            "Patient",
            "birthdate=xx2020",
            false,
            "invalid value \"xx2020\" for search parameter \"birthdate\": \"xx2020\" is not a date: \
             expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm|-hh:mm], after an optional prefix",
        ),
        (
            "RiskAssessment",
            "probability=gt1.",
            false,
            "invalid value \"gt1.\" for search parameter \"probability\": \"1.\" is not a decimal number (after an optional prefix)",
        ),
        (
            "Observation",
            "value-quantity=5|mg",
            false,
            "invalid value \"5|mg\" for search parameter \"value-quantity\": expected number, number|system|code or number||code",
        ),
        (
            "Patient",
            "name=a,,b",
            false,
            "invalid value \"a,,b\" for search parameter \"name\": empty value",
        ),
        (
            "Patient",
            "name:missing=yes",
            false,
            "invalid value \"yes\" for search parameter \"name:missing\": :missing takes true or false",
        ),
        (
            "Patient",
            "identifier:of-type=a|b",
            false,
            "invalid value \"a|b\" for search parameter \"identifier:of-type\": :of-type expects type-system|type-code|value",
        ),
        (
            "Observation",
            "subject=Patinet/1",
            false,
            "invalid value \"Patinet/1\" for search parameter \"subject\": \"Patinet\" is not a resource type",
        ),
        (
            "Observation",
            "subject=a%20b",
            false,
            "invalid value \"a b\" for search parameter \"subject\": \"a b\" is not a resource id",
        ),
        (
            "Observation",
            "subject:Patient=Group/1",
            false,
            "invalid value \"Group/1\" for search parameter \"subject:Patient\": the reference Group/1 contradicts the modifier :Patient",
        ),
        (
            "Observation",
            "subject:Medication=1",
            false,
            "invalid value \"1\" for search parameter \"subject:Medication\": subject cannot refer to Medication",
        ),
        (
            "Observation",
            "code-value-quantity=x",
            false,
            "invalid value \"x\" for search parameter \"code-value-quantity\": code-value-quantity expects 2 values joined by $ (code$value-quantity)",
        ),
        (
            "Observation",
            "code-value-quantity=x$abc",
            false,
            "invalid value \"x$abc\" for search parameter \"code-value-quantity\": \"abc\" is not a decimal number (after an optional prefix)",
        ),
        (
            "Observation",
            "code.name=x",
            false,
            "invalid value \"x\" for search parameter \"code.name\": code is not a reference parameter, so it cannot be chained",
        ),
        (
            "Patient",
            "_has:Observation:code:code=x",
            false,
            "invalid value \"x\" for search parameter \"_has:Observation:code:code\": Observation:code is not a reference parameter",
        ),
        (
            "Patient",
            "_has:Observation:patient=x",
            false,
            "invalid value \"x\" for search parameter \"_has:Observation:patient\": expected _has:Type:parameter:parameter",
        ),
        (
            "Patient",
            "_has:Observaton:patient:code=x",
            false,
            "invalid value \"x\" for search parameter \"_has:Observaton:patient:code\": \"Observaton\" is not a resource type",
        ),
        (
            "Organization",
            "_has:Observation:patient:code=x",
            false,
            "invalid value \"x\" for search parameter \"_has:Observation:patient:code\": Observation:patient cannot refer to Organization",
        ),
        (
            "Patient",
            "_count=-1",
            false,
            "invalid value \"-1\" for search parameter \"_count\": expected a non-negative integer",
        ),
        (
            "Patient",
            "_skip=ten",
            false,
            "invalid value \"ten\" for search parameter \"_skip\": expected a non-negative integer",
        ),
        (
            "Patient",
            "_total=some",
            false,
            "invalid value \"some\" for search parameter \"_total\": expected none, estimate or accurate",
        ),
        (
            "Patient",
            "_summary=yes",
            false,
            "invalid value \"yes\" for search parameter \"_summary\": expected true, text, data, count or false",
        ),
        (
            "Patient",
            "_elements=name,",
            false,
            "invalid value \"name,\" for search parameter \"_elements\": \"\" is not the name of a top-level element",
        ),
        (
            "Patient",
            "_sort=name,,-birthdate",
            false,
            "invalid value \"name,,-birthdate\" for search parameter \"_sort\": a sort key is empty",
        ),
        (
            "Patient",
            "_include=Patient",
            false,
            "invalid value \"Patient\" for search parameter \"_include\": expected Type:parameter or Type:parameter:TargetType",
        ),
        (
            "Patient",
            "_include=Patient:name",
            false,
            "invalid value \"Patient:name\" for search parameter \"_include\": Patient:name is not a reference parameter",
        ),
        (
            "Patient",
            "_include=Patient:organization:Patient",
            false,
            "invalid value \"Patient:organization:Patient\" for search parameter \"_include\": Patient:organization cannot refer to \"Patient\"",
        ),
        (
            "Resource",
            "_type=Patient,Nope",
            false,
            "invalid value \"Patient,Nope\" for search parameter \"_type\": \"Nope\" is not a resource type",
        ),
    ]);
}

#[test]
fn conditions_use_the_same_parser_strictly() {
    let render_query = |query: &SearchQuery| {
        query
            .criteria
            .iter()
            .map(criterion)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let query = parse_conditional(
        "Patient",
        "identifier=http%3A%2F%2Fx%7C1&birthdate=ge2020&_count=1&_sort=name&name:exact=Eve",
    )
    .unwrap();
    assert_eq!(
        render_query(&query),
        "identifier token[http://x|1]\n\
         birthdate date[ge 2020-01-01T00:00:00Z..2020-12-31T23:59:59.999999Z]\n\
         name string:exact[Eve]"
    );
    let query = parse_pairs("Observation", [("subject:Patient.name", "x")]).unwrap();
    assert_eq!(
        render_query(&query),
        "subject:Patient.(name string:prefix[x])"
    );
    assert_eq!(
        parse_conditional("Patient", "_count=1"),
        Err(QueryError::Empty)
    );
    assert_eq!(parse_conditional("Patient", ""), Err(QueryError::Empty));
    assert_eq!(
        parse_conditional("Patient", "foo=1")
            .unwrap_err()
            .to_string(),
        "unknown search parameter \"foo\" for Patient"
    );
}

#[test]
fn escaping() {
    assert_eq!(split_unescaped(r"a\,b,c", ','), [r"a\,b", "c"]);
    assert_eq!(unescape(r"a\,b\|c\$d\\e\f"), r"a,b|c$d\e\f");
    assert_eq!(
        token_value(r"a\|b|c\|d"),
        TokenValue::SystemCode("a|b".into(), "c|d".into())
    );
    assert_eq!(token_value("|b"), TokenValue::NoSystemCode("b".into()));
    assert_eq!(token_value("a|"), TokenValue::System("a".into()));
    assert_eq!(token_value("b"), TokenValue::Code("b".into()));
}

#[test]
fn decoding() {
    assert_eq!(
        form_pairs("identifier=http%3A%2F%2Fx%7C1&name=a+b&x=%zz&y=%4"),
        vec![
            ("identifier".into(), "http://x|1".into()),
            ("name".into(), "a b".into()),
            ("x".into(), "%zz".into()),
            ("y".into(), "%4".into())
        ]
    );
}
