//! A brute-force search over plain Rust values, written straight from the matching rules of
//! [`hale_search::query::model`], for the property test to compare a backend with.

use hale_search::index::IndexEntry;
use hale_search::normalize::normalize_string;
use hale_search::query::{
    Criterion, DateBound, NumberBound, ParamTest, Prefix, QuantityBound, ReferenceValue,
    SearchQuery, StringMatch, Test, TokenValue, UriMatch,
};

use crate::{Owner, ResourceKey, Scope};

/// What the oracle knows of one stored resource: its current version.
#[derive(Clone, Debug)]
pub struct Model {
    pub resource_type: &'static str,
    pub id: String,
    pub owner: Option<Owner>,
    pub deleted: bool,
    pub last_updated: i64,
    pub row: i64,
    pub entries: Vec<IndexEntry>,
    pub compartments: Vec<String>,
}

/// Whether a principal with `scope` sees `m`, by the rules of [`Scope`]: operator data always;
/// under an app's scope whatever the app's users or the app own; under a user's scope what the
/// user owns and, of what other users of the app own, the granted Patients and what their
/// compartments hold, or everything of a whole-record grantor.
pub fn in_scope(scope: &Scope, m: &Model) -> bool {
    let Some(owner) = m.owner else {
        return true;
    };
    match scope {
        Scope::All => true,
        Scope::App(app) => owner.app == *app,
        Scope::User { app, user, grants } => {
            let Some(owner_user) = owner.user else {
                return false;
            };
            owner.app == *app
                && (owner_user == *user
                    || grants.iter().any(|grant| {
                        grant.owner == owner_user
                            && match &grant.patient {
                                None => true,
                                Some(patient) => {
                                    (m.resource_type == "Patient" && &m.id == patient)
                                        || m.compartments.contains(patient)
                                }
                            }
                    }))
        }
    }
}

/// The ids of the resources that match `query`, in row order.
pub fn search<'a>(all: &'a [Model], scope: &Scope, query: &SearchQuery) -> Vec<&'a Model> {
    all.iter()
        .filter(|m| !m.deleted && in_scope(scope, m))
        .filter(|m| {
            if query.resource_type == "Resource" {
                query.types.is_empty() || query.types.contains(&m.resource_type)
            } else {
                m.resource_type == query.resource_type
            }
        })
        .filter(|m| query.criteria.iter().all(|c| criterion(all, scope, m, c)))
        .collect()
}

fn criterion(all: &[Model], scope: &Scope, m: &Model, c: &Criterion) -> bool {
    match c {
        Criterion::Param(p) => param(m, p),
        Criterion::Chain {
            code,
            target_type,
            inner,
        } => m.entries.iter().any(|e| match e {
            IndexEntry::Reference {
                code: c,
                target_type: Some(tt),
                target_id: Some(tid),
                ..
            } if c == code && tt == target_type => all.iter().any(|t| {
                t.resource_type == *target_type
                    && &t.id == tid
                    && !t.deleted
                    && in_scope(scope, t)
                    && criterion(all, scope, t, inner)
            }),
            _ => false,
        }),
        Criterion::Has {
            source_type,
            code,
            inner,
        } => all.iter().any(|s| {
            s.resource_type == *source_type
                && !s.deleted
                && in_scope(scope, s)
                && s.entries.iter().any(|e| {
                    matches!(e, IndexEntry::Reference { code: c, target_type: Some(tt), target_id: Some(tid), .. }
                        if c == code && tt == m.resource_type && tid == &m.id)
                })
                && criterion(all, scope, s, inner)
        }),
        Criterion::Any(alternatives) => alternatives.iter().any(|c| criterion(all, scope, m, c)),
        Criterion::All(every) => every.iter().all(|c| criterion(all, scope, m, c)),
        Criterion::ReferencedFrom { patients } => all.iter().any(|s| {
            !s.deleted
                && in_scope(scope, s)
                && s.compartments.iter().any(|p| patients.contains(p))
                && s.entries.iter().any(|e| {
                    matches!(e, IndexEntry::Reference { target_type: Some(tt), target_id: Some(tid), .. }
                        if tt == m.resource_type && tid == &m.id)
                })
        }),
        Criterion::Compartment { patient_id } => m.compartments.contains(patient_id),
    }
}

/// What an include of the `subject` references of Observations adds to `sources`, in row order:
/// forward, the targets of the references of the sources in scope; reverse, the Observations in
/// scope that reference a source (in scope or not: the sources are only keys).
pub fn include_subject<'a>(
    all: &'a [Model],
    scope: &Scope,
    target_type: Option<&str>,
    reverse: bool,
    sources: &[ResourceKey],
) -> Vec<&'a Model> {
    let visible = |m: &Model| !m.deleted && in_scope(scope, m);
    let is_source = |m: &Model| {
        sources
            .iter()
            .any(|k| k.resource_type == m.resource_type && k.id == m.id)
    };
    let subjects = |m: &'a Model| {
        m.entries.iter().filter_map(|e| match e {
            IndexEntry::Reference {
                code: "subject",
                target_type: Some(tt),
                target_id: Some(tid),
                ..
            } if target_type.is_none_or(|wanted| wanted == tt) => Some((tt, tid)),
            _ => None,
        })
    };
    let mut found: Vec<&Model> = if reverse {
        all.iter()
            .filter(|m| m.resource_type == "Observation" && visible(m))
            .filter(|m| {
                subjects(m).any(|(tt, tid)| {
                    sources
                        .iter()
                        .any(|k| &k.resource_type == tt && &k.id == tid)
                })
            })
            .collect()
    } else {
        all.iter()
            .filter(|t| visible(t))
            .filter(|t| {
                all.iter().any(|m| {
                    m.resource_type == "Observation"
                        && visible(m)
                        && is_source(m)
                        && subjects(m).any(|(tt, tid)| tt == t.resource_type && tid == &t.id)
                })
            })
            .collect()
    };
    found.sort_by_key(|m| m.row);
    found
}

fn of_code<'a>(m: &'a Model, code: &'a str) -> impl Iterator<Item = &'a IndexEntry> + 'a {
    m.entries.iter().filter(move |e| e.code() == code)
}

fn param(m: &Model, p: &ParamTest) -> bool {
    match &p.test {
        Test::Missing(missing) => {
            let has = of_code(m, p.code).any(|e| !matches!(e, IndexEntry::Text { .. }));
            has != *missing
        }
        Test::Id(ids) => ids.contains(&m.id),
        Test::LastUpdated(bounds) => bounds.iter().any(|b| {
            let eq = date_matches(Prefix::Eq, b, m.last_updated, m.last_updated);
            if b.prefix == Prefix::Ne {
                !eq
            } else {
                date_matches(b.prefix, b, m.last_updated, m.last_updated)
            }
        }),
        Test::Text(values) => values.iter().any(|value| {
            let words: Vec<&str> = value.split_whitespace().collect();
            words.is_empty()
                || of_code(m, p.code).any(|e| match e {
                    IndexEntry::Text { text, .. } => text_matches(text, &words),
                    _ => false,
                })
        }),
        Test::Token { negate: true, .. } => !of_code(m, p.code).any(|e| entry(e, &p.test)),
        Test::Date(_) | Test::Number(_) | Test::Quantity(_) => {
            let has_entry = of_code(m, p.code).any(|e| entry_kind_fits(e, &p.test));
            alternatives(&p.test).into_iter().any(|alt| {
                if is_ne(&alt) {
                    has_entry && !of_code(m, p.code).any(|e| entry(e, &as_eq(&alt)))
                } else {
                    of_code(m, p.code).any(|e| entry(e, &alt))
                }
            })
        }
        Test::Composite(alts) => alts.iter().any(|components| {
            of_code(m, p.code).any(|e| match e {
                IndexEntry::Composite { components: cs, .. } => {
                    cs.len() >= components.len()
                        && components
                            .iter()
                            .zip(cs)
                            .all(|(test, c)| c.code() == test.code && component(c, &test.test))
                }
                _ => false,
            })
        }),
        _ => of_code(m, p.code).any(|e| entry(e, &p.test)),
    }
}

fn text_matches(text: &str, words: &[&str]) -> bool {
    let have: Vec<&str> = text.split_whitespace().collect();
    let (last, rest) = match words.split_last() {
        Some(split) => split,
        None => return true,
    };
    rest.iter().all(|w| have.contains(w)) && have.iter().any(|h| h.starts_with(last))
}

/// Splits a multi-valued date, number or quantity test into one test per value.
fn alternatives(test: &Test) -> Vec<Test> {
    match test {
        Test::Date(bs) => bs.iter().map(|b| Test::Date(vec![*b])).collect(),
        Test::Number(bs) => bs.iter().map(|b| Test::Number(vec![*b])).collect(),
        Test::Quantity(bs) => bs.iter().map(|b| Test::Quantity(vec![b.clone()])).collect(),
        other => vec![other.clone()],
    }
}

fn is_ne(test: &Test) -> bool {
    match test {
        Test::Date(bs) => bs.iter().any(|b| b.prefix == Prefix::Ne),
        Test::Number(bs) => bs.iter().any(|b| b.prefix == Prefix::Ne),
        Test::Quantity(bs) => bs.iter().any(|b| b.number.prefix == Prefix::Ne),
        _ => false,
    }
}

fn as_eq(test: &Test) -> Test {
    match test {
        Test::Date(bs) => Test::Date(
            bs.iter()
                .map(|b| DateBound {
                    prefix: Prefix::Eq,
                    ..*b
                })
                .collect(),
        ),
        Test::Number(bs) => Test::Number(
            bs.iter()
                .map(|b| NumberBound {
                    prefix: Prefix::Eq,
                    ..*b
                })
                .collect(),
        ),
        Test::Quantity(bs) => Test::Quantity(
            bs.iter()
                .map(|b| QuantityBound {
                    number: NumberBound {
                        prefix: Prefix::Eq,
                        ..b.number
                    },
                    ..b.clone()
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn entry_kind_fits(e: &IndexEntry, test: &Test) -> bool {
    matches!(
        (e, test),
        (IndexEntry::Date { .. }, Test::Date(_))
            | (IndexEntry::Number { .. }, Test::Number(_))
            | (IndexEntry::Quantity { .. }, Test::Quantity(_))
    )
}

/// A composite component: one entry against one component test; negations are the negation of
/// the entry's match.
fn component(e: &IndexEntry, test: &Test) -> bool {
    match test {
        Test::Token { negate: true, .. } => !entry(e, test),
        t if is_ne(t) => entry_kind_fits(e, t) && !entry(e, &as_eq(t)),
        t => entry(e, t),
    }
}

fn token_matches(system: &Option<String>, value: &Option<String>, v: &TokenValue) -> bool {
    match v {
        TokenValue::Code(c) => value.as_deref() == Some(c),
        TokenValue::SystemCode(s, c) => system.as_deref() == Some(s) && value.as_deref() == Some(c),
        TokenValue::NoSystemCode(c) => system.is_none() && value.as_deref() == Some(c),
        TokenValue::System(s) => system.as_deref() == Some(s),
    }
}

pub fn date_matches(prefix: Prefix, b: &DateBound, rl: i64, rh: i64) -> bool {
    let (sl, sh) = (b.low, b.high);
    let eq = rl >= sl && rh <= sh;
    match prefix {
        Prefix::Eq => eq,
        Prefix::Ne => !eq,
        Prefix::Gt => rh > sh,
        Prefix::Lt => rl < sl,
        Prefix::Ge => rh > sh || eq,
        Prefix::Le => rl < sl || eq,
        Prefix::Sa => rl > sh,
        Prefix::Eb => rh < sl,
        Prefix::Ap => rl <= sh && rh >= sl,
    }
}

fn number_matches(b: &NumberBound, v: f64) -> bool {
    match b.prefix {
        Prefix::Eq | Prefix::Ap => b.low <= v && v < b.high,
        Prefix::Ne => !(b.low <= v && v < b.high),
        Prefix::Gt | Prefix::Sa => v > b.value,
        Prefix::Lt | Prefix::Eb => v < b.value,
        Prefix::Ge => v >= b.value,
        Prefix::Le => v <= b.value,
    }
}

/// Whether one entry matches one of a test's values (positive form; the callers handle `ne`
/// and `:not`).
fn entry(e: &IndexEntry, test: &Test) -> bool {
    match (e, test) {
        (
            IndexEntry::String {
                normalized, exact, ..
            },
            Test::String { mode, values },
        ) => values.iter().any(|v| match mode {
            StringMatch::Prefix => normalized.starts_with(v.as_str()),
            StringMatch::Contains => normalized.contains(v.as_str()),
            StringMatch::Exact => exact == v,
        }),
        (IndexEntry::Token { system, value, .. }, Test::Token { values, .. })
        | (IndexEntry::Token { system, value, .. }, Test::ReferenceIdentifier(values)) => {
            values.iter().any(|v| token_matches(system, value, v))
        }
        (IndexEntry::Token { text, .. }, Test::TokenText(values)) => values.iter().any(|v| {
            text.as_deref()
                .is_some_and(|t| t.starts_with(normalize_string(v).as_str()))
        }),
        (IndexEntry::Token { value, of_type, .. }, Test::OfType(values)) => {
            values.iter().any(|v| {
                of_type.as_deref() == Some(format!("{}|{}", v.type_system, v.type_code).as_str())
                    && value.as_deref() == Some(v.value.as_str())
            })
        }
        (
            IndexEntry::Reference {
                target_type,
                target_id,
                url,
                version,
                ..
            },
            Test::Reference(values),
        ) => values.iter().any(|v| match v {
            ReferenceValue::Local {
                target_type: tt,
                target_id: tid,
            } => {
                target_id.as_deref() == Some(tid.as_str())
                    && tt
                        .as_deref()
                        .is_none_or(|tt| target_type.as_deref() == Some(tt))
            }
            ReferenceValue::Url {
                url: u,
                version: ver,
            } => {
                url.as_deref() == Some(u.as_str())
                    && ver
                        .as_deref()
                        .is_none_or(|ver| version.as_deref() == Some(ver))
            }
        }),
        (IndexEntry::Date { low, high, .. }, Test::Date(bounds)) => bounds
            .iter()
            .any(|b| date_matches(b.prefix, b, *low, *high)),
        (IndexEntry::Number { value, .. }, Test::Number(bounds)) => {
            bounds.iter().any(|b| number_matches(b, *value))
        }
        (
            IndexEntry::Quantity {
                value,
                system,
                unit,
                ..
            },
            Test::Quantity(bounds),
        ) => bounds.iter().any(|b| {
            number_matches(&b.number, *value)
                && match &b.system {
                    Some(s) => system.as_ref() == Some(s),
                    None => system.as_deref() != Some(hale_search::ucum::CANONICAL_SYSTEM),
                }
                && b.code.as_ref().is_none_or(|c| unit.as_ref() == Some(c))
        }),
        (IndexEntry::Uri { value, .. }, Test::Uri { mode, values }) => {
            values.iter().any(|v| match mode {
                UriMatch::Exact => value == v,
                UriMatch::Below => value.starts_with(v.as_str()),
                UriMatch::Above => v.starts_with(value.as_str()),
            })
        }
        _ => false,
    }
}
