//! Parsing search parameters into the typed [`SearchQuery`].

use hale_fhir::table::SearchParamType;

use super::model::{
    Criterion, ParamTest, ReferenceValue, SearchQuery, SearchRequest, StringMatch, Test,
    TokenValue, UriMatch,
};

/// A failure to understand a search.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// The parameter is not defined for the resource type.
    #[error("unknown search parameter {param:?} for {resource_type}")]
    UnknownParameter {
        /// The resource type searched.
        resource_type: String,
        /// The parameter name as given.
        param: String,
    },
    /// The parameter (or its modifier) exists but Hale cannot evaluate it.
    #[error("search parameter {param:?} is not supported: {reason}")]
    Unsupported {
        /// The parameter name as given.
        param: String,
        /// Why.
        reason: String,
    },
    /// A value is malformed.
    #[error("invalid value {value:?} for search parameter {param:?}: {reason}")]
    InvalidValue {
        /// The parameter name as given.
        param: String,
        /// The value as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The query has no criteria at all, which would match everything.
    #[error("the search has no criteria")]
    Empty,
}

impl QueryError {
    /// Whether lenient handling may skip the parameter instead of failing: unknown and
    /// unsupported parameters may be skipped, malformed values never.
    pub fn is_skippable(&self) -> bool {
        matches!(
            self,
            QueryError::UnknownParameter { .. } | QueryError::Unsupported { .. }
        )
    }
}

/// What a search parse needs to know beyond the parameters.
#[derive(Clone, Debug, Default)]
pub struct ParseOptions {
    /// `Prefer: handling=strict`: an unknown or unsupported parameter fails the parse instead of
    /// being skipped into [`SearchRequest::ignored`].
    pub strict: bool,
    /// The absolute base URLs of this server (`http://host/r4`), so that references given as
    /// absolute URLs to this server are matched as local references.
    pub base_urls: Vec<String>,
    /// The current time in epoch microseconds, for the `ap` prefix.
    pub now: i64,
}

/// Parses the decoded parameters of a search of `resource_type` (or `"Resource"` for a system
/// search, where `_type` picks the types).
pub fn parse_search(
    resource_type: &'static str,
    pairs: &[(String, String)],
    options: &ParseOptions,
) -> Result<SearchRequest, QueryError> {
    let _ = (resource_type, pairs, options);
    Err(QueryError::Empty)
}

/// Parameters that control the result rather than select resources; a conditional operation
/// ignores them.
const RESULT_PARAMETERS: &[&str] = &[
    "_count",
    "_sort",
    "_format",
    "_pretty",
    "_summary",
    "_elements",
    "_total",
    "_include",
    "_revinclude",
    "_skip",
    "_contained",
    "_containedType",
];

/// Parses `a=b&c=d` (still percent-encoded) for `resource_type` as the criteria of a conditional
/// interaction.
pub fn parse_conditional(
    resource_type: &'static str,
    query: &str,
) -> Result<SearchQuery, QueryError> {
    let pairs = form_pairs(query);
    parse_pairs(
        resource_type,
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// Parses already-decoded parameter pairs.
pub fn parse_pairs<'a>(
    resource_type: &'static str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<SearchQuery, QueryError> {
    let mut criteria = Vec::new();
    for (name, raw_value) in pairs {
        if RESULT_PARAMETERS.contains(&name) {
            continue;
        }
        if name.contains(':') || name.contains('.') {
            return Err(QueryError::Unsupported {
                param: name.to_owned(),
                reason: "modifiers and chains in conditions".into(),
            });
        }
        let def = hale_fhir::definitions::search_param(resource_type, name).ok_or_else(|| {
            QueryError::UnknownParameter {
                resource_type: resource_type.to_owned(),
                param: name.to_owned(),
            }
        })?;
        let alternatives = split_alternatives(raw_value);
        if alternatives.iter().any(|v| v.is_empty()) {
            return Err(QueryError::InvalidValue {
                param: name.to_owned(),
                value: raw_value.to_owned(),
                reason: "empty value".into(),
            });
        }
        let test = if def.code == "_id" {
            Test::Id(alternatives)
        } else {
            match def.kind {
                SearchParamType::Token => Test::Token {
                    negate: false,
                    values: alternatives.into_iter().map(parse_token).collect(),
                },
                SearchParamType::Reference => Test::Reference(
                    alternatives
                        .into_iter()
                        .map(|v| parse_reference(def.targets, v))
                        .collect(),
                ),
                SearchParamType::String => Test::String {
                    mode: StringMatch::Prefix,
                    values: alternatives
                        .iter()
                        .map(|v| crate::normalize::normalize_string(v))
                        .collect(),
                },
                SearchParamType::Uri => Test::Uri {
                    mode: UriMatch::Exact,
                    values: alternatives,
                },
                _ => {
                    return Err(QueryError::Unsupported {
                        param: name.to_owned(),
                        reason: "this parameter type in conditions".into(),
                    });
                }
            }
        };
        criteria.push(Criterion::Param(ParamTest {
            code: def.code,
            test,
        }));
    }
    if criteria.is_empty() {
        return Err(QueryError::Empty);
    }
    Ok(SearchQuery {
        resource_type,
        types: Vec::new(),
        criteria,
    })
}

/// Splits a value on commas that are not escaped with a backslash, and unescapes `\,`, `\|`, `\$`
/// and `\\` as the [search escaping rules](https://hl7.org/fhir/R4/search.html#escaping) say.
fn split_alternatives(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ (',' | '$' | '\\')) => current.push(next),
                // `\|` stays escaped so that token parsing can tell it from the separator.
                Some('|') => current.push_str("\\|"),
                Some(other) => {
                    current.push('\\');
                    current.push(other);
                }
                None => current.push('\\'),
            },
            ',' => out.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    out.push(current);
    out
}

fn parse_token(value: String) -> TokenValue {
    match find_unescaped_bar(&value) {
        None => TokenValue::Code(value.replace("\\|", "|")),
        Some(idx) => {
            let system = value[..idx].replace("\\|", "|");
            let code = value[idx + 1..].replace("\\|", "|");
            match (system.is_empty(), code.is_empty()) {
                (true, _) => TokenValue::NoSystemCode(code),
                (false, true) => TokenValue::System(system),
                (false, false) => TokenValue::SystemCode(system, code),
            }
        }
    }
}

fn find_unescaped_bar(value: &str) -> Option<usize> {
    let bytes = value.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\'))
}

fn parse_reference(targets: &[&str], value: String) -> ReferenceValue {
    if value.contains("://") || value.starts_with("urn:") {
        return ReferenceValue::Url {
            url: value,
            version: None,
        };
    }
    match value.split_once('/') {
        Some((target_type, target_id)) => ReferenceValue::Local {
            target_type: Some(target_type.to_owned()),
            target_id: target_id.to_owned(),
        },
        None => ReferenceValue::Local {
            target_type: (targets.len() == 1).then(|| targets[0].to_owned()),
            target_id: value,
        },
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs; `+` is a space.
pub fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(
            parse_token("a|b".into()),
            TokenValue::SystemCode("a".into(), "b".into())
        );
        assert_eq!(
            parse_token("|b".into()),
            TokenValue::NoSystemCode("b".into())
        );
        assert_eq!(parse_token("a|".into()), TokenValue::System("a".into()));
        assert_eq!(parse_token("b".into()), TokenValue::Code("b".into()));
    }

    #[test]
    fn escaping() {
        assert_eq!(
            split_alternatives(r"a\,b,c"),
            vec!["a,b".to_owned(), "c".to_owned()]
        );
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
}
