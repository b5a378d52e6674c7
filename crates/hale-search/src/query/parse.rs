//! Parsing search parameters into the typed [`SearchRequest`], following the
//! [search page](https://hl7.org/fhir/R4/search.html) of the specification.
//!
//! Every parameter is resolved against the generated R4 table with
//! [`hale_fhir::definitions::search_param`], so the parse knows each parameter's type and parses
//! its value by the rules of that type:
//!
//! | type | values | modifiers |
//! |---|---|---|
//! | string | text | `:exact`, `:contains`, `:missing` |
//! | token | `code`, `system\|code`, `\|code`, `system\|` | `:not`, `:text`, `:of-type` (`system\|code\|value`), `:missing` |
//! | reference | `id`, `Type/id`, an absolute URL, a canonical `url\|version` | `:Type`, `:identifier`, `:missing` |
//! | date | `[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.fff]][zone]]]]` | `:missing` |
//! | number | `[prefix]decimal` | `:missing` |
//! | quantity | `[prefix]decimal[\|system\|code]` | `:missing` |
//! | uri | a URI | `:below`, `:above`, `:missing` |
//! | composite | the components' values joined by `$` | `:missing` |
//!
//! A comma separates alternatives (ORed); a repeated parameter is another criterion (ANDed). A
//! backslash escapes `,`, `|`, `$` and `\` in values. Names may chain (`subject:Patient.name`,
//! several hops deep) or reverse-chain (`_has:Observation:patient:code`), and the two nest.
//!
//! Errors name the parameter as the client wrote it, because they are shown to the client in an
//! OperationOutcome. Unknown parameters and unsupported modifiers are
//! [skippable](QueryError::is_skippable): a lenient search lists them in
//! [`SearchRequest::ignored`] and applies the rest; a malformed value always fails.

use std::time::{SystemTime, UNIX_EPOCH};

use hale_fhir::ResourceId;
use hale_fhir::definitions::search_param;
use hale_fhir::generated::R4_RESOURCE_TYPES;
use hale_fhir::table::{SearchParamDef, SearchParamType};

use super::model::{
    Criterion, DateBound, Ignored, Include, NumberBound, OfType, ParamTest, Prefix, QuantityBound,
    ReferenceValue, SearchQuery, SearchRequest, SortKey, SortKind, StringMatch, Summary, Test,
    TokenValue, TotalMode, UriMatch,
};
use crate::index::date_range;
use crate::normalize::normalize_string;

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

/// The resource type a system search (`GET [base]?…`) is parsed for. Its parameters are those
/// of `Resource` and `DomainResource`, the only ones every type shares.
const SYSTEM_SEARCH: &str = "Resource";

/// Parses the decoded parameters of a search of `resource_type` (or `"Resource"` for a system
/// search, where `_type` picks the types).
///
/// A search without parameters is valid and matches every resource; only conditional
/// interactions ([`parse_pairs`]) require criteria.
pub fn parse_search(
    resource_type: &'static str,
    pairs: &[(String, String)],
    options: &ParseOptions,
) -> Result<SearchRequest, QueryError> {
    let mut request = SearchRequest {
        query: SearchQuery::all(resource_type),
        sort: Vec::new(),
        count: None,
        skip: None,
        total: None,
        summary: None,
        elements: Vec::new(),
        includes: Vec::new(),
        revincludes: Vec::new(),
        ignored: Vec::new(),
    };
    for (name, value) in pairs {
        let parser = Parser {
            options,
            param: name,
            value,
        };
        match parser.apply(resource_type, &mut request) {
            Ok(()) => {}
            Err(error) if !options.strict && error.is_skippable() => {
                request.ignored.push(Ignored {
                    param: name.clone(),
                    reason: error.to_string(),
                });
            }
            Err(error) => return Err(error),
        }
    }
    Ok(request)
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
    "_cursor",
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

/// Parses already-decoded parameter pairs as the criteria of a conditional interaction.
///
/// Every parameter type, modifier, chain and `_has` works as in [`parse_search`]. Result
/// parameters (`_count`, `_sort`, …) are ignored. The parse is always strict, because a
/// condition that silently lost a criterion could match, and then update or delete, the wrong
/// resource; and a condition without criteria is [`QueryError::Empty`] for the same reason.
///
/// A condition has no base URL to recognize, so an absolute reference to this server is compared
/// as a URL; and `ap` on a date measures its 10% from the system clock, as there is no injected
/// one here.
pub fn parse_pairs<'a>(
    resource_type: &'static str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<SearchQuery, QueryError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
        });
    let options = ParseOptions {
        strict: true,
        base_urls: Vec::new(),
        now,
    };
    let mut query = SearchQuery::all(resource_type);
    for (name, value) in pairs {
        let (base, _) = split_modifier(name);
        if RESULT_PARAMETERS.contains(&base) {
            continue;
        }
        let parser = Parser {
            options: &options,
            param: name,
            value,
        };
        query.criteria.push(parser.criterion(resource_type, name)?);
    }
    if query.criteria.is_empty() {
        return Err(QueryError::Empty);
    }
    Ok(query)
}

/// The parse of one `name=value` pair. `param` and `value` are kept as given, whatever part of a
/// chain is being parsed, so that every error names what the client wrote.
struct Parser<'a> {
    options: &'a ParseOptions,
    param: &'a str,
    value: &'a str,
}

impl Parser<'_> {
    fn invalid(&self, reason: impl Into<String>) -> QueryError {
        QueryError::InvalidValue {
            param: self.param.to_owned(),
            value: self.value.to_owned(),
            reason: reason.into(),
        }
    }

    fn unsupported(&self, reason: impl Into<String>) -> QueryError {
        QueryError::Unsupported {
            param: self.param.to_owned(),
            reason: reason.into(),
        }
    }

    fn unknown(&self, resource_type: &str) -> QueryError {
        QueryError::UnknownParameter {
            resource_type: resource_type.to_owned(),
            param: self.param.to_owned(),
        }
    }

    /// Applies one pair to `request`: a result parameter sets its field, anything else adds a
    /// criterion.
    fn apply(
        &self,
        resource_type: &'static str,
        request: &mut SearchRequest,
    ) -> Result<(), QueryError> {
        let (base, modifier) = split_modifier(self.param);
        let no_modifier = || match modifier {
            Some(modifier) => Err(self.unsupported(format!("the modifier :{modifier}"))),
            None => Ok(()),
        };
        match base {
            // `_cursor` is the server's own paging state, which it reads before parsing.
            "_format" | "_pretty" | "_cursor" => {}
            "_count" => {
                no_modifier()?;
                request.count = Some(self.non_negative_integer()?);
            }
            "_skip" => {
                no_modifier()?;
                request.skip = Some(self.non_negative_integer()?);
            }
            "_sort" => {
                no_modifier()?;
                request.sort = self.sort(resource_type)?;
            }
            "_total" => {
                no_modifier()?;
                request.total = Some(match self.value {
                    "none" => TotalMode::None,
                    "estimate" => TotalMode::Estimate,
                    "accurate" => TotalMode::Accurate,
                    _ => return Err(self.invalid("expected none, estimate or accurate")),
                });
            }
            "_summary" => {
                no_modifier()?;
                request.summary = Some(match self.value {
                    "true" => Summary::True,
                    "text" => Summary::Text,
                    "data" => Summary::Data,
                    "count" => Summary::Count,
                    "false" => Summary::False,
                    _ => return Err(self.invalid("expected true, text, data, count or false")),
                });
            }
            "_elements" => {
                no_modifier()?;
                request.elements = self.elements()?;
            }
            "_include" => request
                .includes
                .push(self.include(resource_type, modifier, false)?),
            "_revinclude" => {
                request
                    .revincludes
                    .push(self.include(resource_type, modifier, true)?)
            }
            "_type" => {
                no_modifier()?;
                if resource_type != SYSTEM_SEARCH {
                    return Err(self.unsupported("_type applies only to a search of all types"));
                }
                for name in self.value.split(',') {
                    let resource_type = static_resource_type(name)
                        .ok_or_else(|| self.invalid(format!("{name:?} is not a resource type")))?;
                    if !request.query.types.contains(&resource_type) {
                        request.query.types.push(resource_type);
                    }
                }
            }
            "_contained" | "_containedType" => {
                return Err(self.unsupported("contained resources are not searched"));
            }
            _ => request
                .query
                .criteria
                .push(self.criterion(resource_type, self.param)?),
        }
        Ok(())
    }

    fn non_negative_integer(&self) -> Result<usize, QueryError> {
        // `usize::from_str` accepts a leading `+`, which is not an integer as FHIR writes one.
        if !self.value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.invalid("expected a non-negative integer"));
        }
        self.value
            .parse()
            .map_err(|_| self.invalid("expected a non-negative integer"))
    }

    fn sort(&self, resource_type: &'static str) -> Result<Vec<SortKey>, QueryError> {
        let mut keys = Vec::new();
        for key in self.value.split(',') {
            let (code, descending) = match key.strip_prefix('-') {
                Some(code) => (code, true),
                None => (key, false),
            };
            if code.is_empty() {
                return Err(self.invalid("a sort key is empty"));
            }
            // `_id` and `_lastUpdated` are columns of the resource, whatever type the table
            // gives their parameters.
            let (code, kind) = match code {
                "_id" => ("_id", SortKind::Id),
                "_lastUpdated" => ("_lastUpdated", SortKind::LastUpdated),
                _ => {
                    // The error names the key, which is the unknown parameter; lenient handling
                    // still lists `_sort` itself as the parameter it skipped.
                    let def = lookup(resource_type, code).ok_or_else(|| {
                        QueryError::UnknownParameter {
                            resource_type: resource_type.to_owned(),
                            param: code.to_owned(),
                        }
                    })?;
                    let kind = SortKind::for_param(def.kind).ok_or_else(|| {
                        self.unsupported(format!("sorting on the {:?} parameter {code}", def.kind))
                    })?;
                    (def.code, kind)
                }
            };
            keys.push(SortKey {
                code,
                kind,
                descending,
            });
        }
        Ok(keys)
    }

    fn elements(&self) -> Result<Vec<String>, QueryError> {
        let mut elements = Vec::new();
        for element in self.value.split(',').map(str::trim) {
            let is_name = element
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic())
                && element.bytes().all(|b| b.is_ascii_alphanumeric());
            if !is_name {
                return Err(self.invalid(format!(
                    "{element:?} is not the name of a top-level element"
                )));
            }
            if !elements.iter().any(|known| known == element) {
                elements.push(element.to_owned());
            }
        }
        Ok(elements)
    }

    /// `_include` (`reverse == false`) or `_revinclude`: `Type:param`, `Type:param:Target`,
    /// `Type:*`, or `*` alone for every reference parameter of the searched type.
    fn include(
        &self,
        resource_type: &'static str,
        modifier: Option<&str>,
        reverse: bool,
    ) -> Result<Include, QueryError> {
        let iterate = match modifier {
            None => false,
            Some("iterate" | "recurse") => true,
            Some(other) => return Err(self.unsupported(format!("the modifier :{other}"))),
        };
        if self.value == "*" {
            if reverse {
                return Err(self.unsupported("_revinclude=* (every type that may refer here)"));
            }
            return Ok(Include {
                source_type: resource_type,
                code: None,
                target_type: None,
                iterate,
            });
        }
        let parts: Vec<&str> = self.value.split(':').collect();
        let (source, code, target) = match parts[..] {
            [source, code] => (source, code, None),
            [source, code, target] => (source, code, Some(target)),
            _ => return Err(self.invalid("expected Type:parameter or Type:parameter:TargetType")),
        };
        let source_type = static_resource_type(source)
            .ok_or_else(|| self.invalid(format!("{source:?} is not a resource type")))?;
        let (code, targets) = if code == "*" {
            (None, R4_RESOURCE_TYPES)
        } else {
            let def = lookup(source_type, code).ok_or_else(|| self.unknown(source_type))?;
            if def.kind != SearchParamType::Reference {
                return Err(
                    self.invalid(format!("{source_type}:{code} is not a reference parameter"))
                );
            }
            (Some(def.code), def.targets)
        };
        let target_type = match target {
            None => None,
            Some(target) => Some(
                targets
                    .iter()
                    .copied()
                    .find(|known| *known == target)
                    .ok_or_else(|| {
                        self.invalid(format!(
                            "{source_type}:{} cannot refer to {target:?}",
                            code.unwrap_or("*")
                        ))
                    })?,
            ),
        };
        Ok(Include {
            source_type,
            code,
            target_type,
            iterate,
        })
    }

    /// The criterion that `name` (the whole parameter name, or what is left of it inside a
    /// chain) gives on `resource_type`.
    fn criterion(&self, resource_type: &'static str, name: &str) -> Result<Criterion, QueryError> {
        if let Some(rest) = name.strip_prefix("_has:") {
            return self.reverse_chain(resource_type, rest);
        }
        if let Some((head, tail)) = name.split_once('.') {
            return self.chain(resource_type, head, tail);
        }
        let (code, modifier) = split_modifier(name);
        Ok(Criterion::Param(self.param_test(
            resource_type,
            code,
            modifier,
        )?))
    }

    /// `head.tail`: `head` is a reference parameter with an optional `:Type`.
    fn chain(
        &self,
        resource_type: &'static str,
        head: &str,
        tail: &str,
    ) -> Result<Criterion, QueryError> {
        let (code, type_modifier) = split_modifier(head);
        let def = lookup(resource_type, code).ok_or_else(|| self.unknown(resource_type))?;
        if def.kind != SearchParamType::Reference {
            return Err(self.invalid(format!(
                "{code} is not a reference parameter, so it cannot be chained"
            )));
        }
        let targets = match type_modifier {
            Some(target) => vec![self.target_type(def, target)?],
            None => def.targets.to_vec(),
        };
        let mut chains = Vec::new();
        for target_type in targets {
            match self.criterion(target_type, tail) {
                Ok(inner) => chains.push(Criterion::Chain {
                    code: def.code,
                    target_type,
                    inner: Box::new(inner),
                }),
                // Without a type, the chain means whichever targets have the inner parameter.
                Err(QueryError::UnknownParameter { .. }) if type_modifier.is_none() => {}
                Err(error) => return Err(error),
            }
        }
        match chains.len() {
            // No target has it, so the name as a whole means nothing on the type searched.
            0 => Err(self.unknown(resource_type)),
            1 => Ok(chains.remove(0)),
            _ => Ok(Criterion::Any(chains)),
        }
    }

    /// `_has:Type:param:rest` (after the `_has:`): resources of `Type` whose `param` points at the
    /// searched resource and that meet `rest`.
    fn reverse_chain(
        &self,
        resource_type: &'static str,
        rest: &str,
    ) -> Result<Criterion, QueryError> {
        let mut parts = rest.splitn(3, ':');
        let (Some(source), Some(code), Some(inner)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(self.invalid("expected _has:Type:parameter:parameter"));
        };
        let source_type = static_resource_type(source)
            .ok_or_else(|| self.invalid(format!("{source:?} is not a resource type")))?;
        let def = lookup(source_type, code).ok_or_else(|| self.unknown(source_type))?;
        if def.kind != SearchParamType::Reference {
            return Err(self.invalid(format!("{source_type}:{code} is not a reference parameter")));
        }
        if resource_type != SYSTEM_SEARCH && !def.targets.contains(&resource_type) {
            return Err(self.invalid(format!(
                "{source_type}:{code} cannot refer to {resource_type}"
            )));
        }
        Ok(Criterion::Has {
            source_type,
            code: def.code,
            inner: Box::new(self.criterion(source_type, inner)?),
        })
    }

    /// The target type that a `:Type` modifier names, which must be a target of `def`.
    fn target_type(
        &self,
        def: &'static SearchParamDef,
        modifier: &str,
    ) -> Result<&'static str, QueryError> {
        if let Some(target) = def.targets.iter().find(|target| **target == modifier) {
            return Ok(target);
        }
        if static_resource_type(modifier).is_some() {
            return Err(self.invalid(format!("{} cannot refer to {modifier}", def.code)));
        }
        Err(self.unsupported(format!(
            "unknown modifier :{modifier} for a reference parameter"
        )))
    }

    /// The test of the parameter `code` of `resource_type` with an optional modifier.
    fn param_test(
        &self,
        resource_type: &'static str,
        code: &str,
        modifier: Option<&str>,
    ) -> Result<ParamTest, QueryError> {
        let def = lookup(resource_type, code).ok_or_else(|| self.unknown(resource_type))?;
        let unknown_modifier = |modifier: &str| {
            self.unsupported(format!(
                "unknown modifier :{modifier} for a {} parameter",
                type_name(def.kind)
            ))
        };
        // These four are answered by the resource table and the full-text index rather than by
        // index entries of their declared type, so they take no modifiers.
        if matches!(def.code, "_id" | "_lastUpdated" | "_content" | "_text") {
            if let Some(modifier) = modifier {
                return Err(unknown_modifier(modifier));
            }
            let test = match def.code {
                "_id" => Test::Id(self.each(|raw| Ok(unescape(raw)))?),
                "_lastUpdated" => Test::LastUpdated(self.each(|raw| self.date_bound(raw))?),
                _ => Test::Text(self.each(|raw| Ok(unescape(raw)))?),
            };
            return Ok(ParamTest {
                code: def.code,
                test,
            });
        }
        if def.kind == SearchParamType::Special {
            return Err(self.unsupported("special parameters other than _content and _text"));
        }
        if modifier == Some("missing") {
            let missing = match self.value {
                "true" => true,
                "false" => false,
                _ => return Err(self.invalid(":missing takes true or false")),
            };
            return Ok(ParamTest {
                code: def.code,
                test: Test::Missing(missing),
            });
        }
        let test = match (def.kind, modifier) {
            (SearchParamType::String, None) => Test::String {
                mode: StringMatch::Prefix,
                values: self.each(|raw| Ok(normalize_string(&unescape(raw))))?,
            },
            (SearchParamType::String, Some("contains")) => Test::String {
                mode: StringMatch::Contains,
                values: self.each(|raw| Ok(normalize_string(&unescape(raw))))?,
            },
            (SearchParamType::String, Some("exact")) => Test::String {
                mode: StringMatch::Exact,
                values: self.each(|raw| Ok(unescape(raw)))?,
            },
            (SearchParamType::Token, None | Some("not")) => Test::Token {
                negate: modifier.is_some(),
                values: self.each(|raw| Ok(token_value(raw)))?,
            },
            (SearchParamType::Token, Some("text")) => {
                Test::TokenText(self.each(|raw| Ok(normalize_string(&unescape(raw))))?)
            }
            (SearchParamType::Token, Some("of-type")) => {
                Test::OfType(self.each(|raw| self.of_type(raw))?)
            }
            (SearchParamType::Token, Some(modifier @ ("in" | "not-in" | "above" | "below"))) => {
                return Err(self.unsupported(format!(
                    "the modifier :{modifier} needs a terminology service, which Hale does not have"
                )));
            }
            (SearchParamType::Reference, None) => {
                Test::Reference(self.each(|raw| self.reference_value(raw, def, None))?)
            }
            (SearchParamType::Reference, Some("identifier")) => {
                Test::ReferenceIdentifier(self.each(|raw| Ok(token_value(raw)))?)
            }
            (SearchParamType::Reference, Some(modifier)) => {
                let target_type = self.target_type(def, modifier)?;
                Test::Reference(self.each(|raw| self.reference_value(raw, def, Some(target_type)))?)
            }
            (SearchParamType::Date, None) => Test::Date(self.each(|raw| self.date_bound(raw))?),
            (SearchParamType::Number, None) => {
                Test::Number(self.each(|raw| self.number_bound(raw))?)
            }
            (SearchParamType::Quantity, None) => {
                Test::Quantity(self.each(|raw| self.quantity_bound(raw))?)
            }
            (SearchParamType::Uri, None | Some("below" | "above")) => Test::Uri {
                mode: match modifier {
                    Some("below") => UriMatch::Below,
                    Some("above") => UriMatch::Above,
                    _ => UriMatch::Exact,
                },
                values: self.each(|raw| Ok(unescape(raw)))?,
            },
            (SearchParamType::Composite, None) => {
                Test::Composite(self.each(|raw| self.composite_value(resource_type, def, raw))?)
            }
            (_, Some(modifier)) => return Err(unknown_modifier(modifier)),
            (SearchParamType::Special, None) => unreachable!("special parameters returned above"),
        };
        Ok(ParamTest {
            code: def.code,
            test,
        })
    }

    /// Parses each comma-separated alternative of the value, still escaped, with `parse`.
    fn each<T>(
        &self,
        mut parse: impl FnMut(&str) -> Result<T, QueryError>,
    ) -> Result<Vec<T>, QueryError> {
        split_unescaped(self.value, ',')
            .into_iter()
            .map(|raw| {
                if raw.is_empty() {
                    Err(self.invalid("empty value"))
                } else {
                    parse(raw)
                }
            })
            .collect()
    }

    fn of_type(&self, raw: &str) -> Result<OfType, QueryError> {
        match split_unescaped(raw, '|')[..] {
            [type_system, type_code, value]
                if !type_system.is_empty() && !type_code.is_empty() && !value.is_empty() =>
            {
                Ok(OfType {
                    type_system: unescape(type_system),
                    type_code: unescape(type_code),
                    value: unescape(value),
                })
            }
            _ => Err(self.invalid(":of-type expects type-system|type-code|value")),
        }
    }

    fn reference_value(
        &self,
        raw: &str,
        def: &'static SearchParamDef,
        type_modifier: Option<&'static str>,
    ) -> Result<ReferenceValue, QueryError> {
        let text = unescape(raw);
        if text.contains("://") || text.starts_with("urn:") {
            for base in &self.options.base_urls {
                let base = base.trim_end_matches('/');
                if let Some(local) = text
                    .strip_prefix(base)
                    .and_then(|rest| rest.strip_prefix('/'))
                {
                    return self.local_reference(local, type_modifier);
                }
            }
            // A canonical reference may pin a version with `|`.
            let (url, version) = match find_unescaped(raw, '|') {
                Some(at) => (unescape(&raw[..at]), Some(unescape(&raw[at + 1..]))),
                None => (text, None),
            };
            return Ok(ReferenceValue::Url {
                url,
                version: version.filter(|version| !version.is_empty()),
            });
        }
        if text.contains('/') {
            return self.local_reference(&text, type_modifier);
        }
        if ResourceId::parse(&text).is_err() {
            return Err(self.invalid(format!("{text:?} is not a resource id")));
        }
        let target_type = type_modifier.or(match def.targets {
            [only] => Some(*only),
            _ => None,
        });
        Ok(ReferenceValue::Local {
            target_type: target_type.map(str::to_owned),
            target_id: text,
        })
    }

    /// `Type/id`, possibly followed by `/_history/version`, which a reference search ignores.
    fn local_reference(
        &self,
        text: &str,
        type_modifier: Option<&'static str>,
    ) -> Result<ReferenceValue, QueryError> {
        let text = text.find("/_history/").map_or(text, |at| &text[..at]);
        let Some((target_type, target_id)) = text.split_once('/') else {
            return Err(self.invalid(format!("{text:?} is not Type/id")));
        };
        if static_resource_type(target_type).is_none() {
            return Err(self.invalid(format!("{target_type:?} is not a resource type")));
        }
        if ResourceId::parse(target_id).is_err() {
            return Err(self.invalid(format!("{target_id:?} is not a resource id")));
        }
        if type_modifier.is_some_and(|modifier| modifier != target_type) {
            return Err(self.invalid(format!(
                "the reference {text} contradicts the modifier :{}",
                type_modifier.unwrap_or_default()
            )));
        }
        Ok(ReferenceValue::Local {
            target_type: Some(target_type.to_owned()),
            target_id: target_id.to_owned(),
        })
    }

    fn date_bound(&self, raw: &str) -> Result<DateBound, QueryError> {
        let (prefix, text) = split_prefix(raw);
        let text = unescape(text);
        // An unencoded `+` of a time zone arrives as a space after form decoding; its meaning is
        // not in doubt, so it is read as the `+` the client meant.
        let (low, high) = date_range(&text)
            .or_else(|| date_range(&text.replace(' ', "+")))
            .ok_or_else(|| {
                self.invalid(format!(
                    "{text:?} is not a date: expected YYYY, YYYY-MM, YYYY-MM-DD or \
                     YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm|-hh:mm], after an optional prefix"
                ))
            })?;
        let (low, high) = if prefix == Prefix::Ap {
            // The specification suggests 10% of the gap between now and the date.
            let now = self.options.now;
            let gap = if now < low {
                i128::from(low) - i128::from(now)
            } else if now > high {
                i128::from(now) - i128::from(high)
            } else {
                0
            };
            let widening = i64::try_from(gap / 10).unwrap_or(i64::MAX);
            (low.saturating_sub(widening), high.saturating_add(widening))
        } else {
            (low, high)
        };
        Ok(DateBound { prefix, low, high })
    }

    fn number_bound(&self, raw: &str) -> Result<NumberBound, QueryError> {
        let (prefix, text) = split_prefix(raw);
        let Some((value, mut low, mut high)) = decimal_range(text) else {
            return Err(self.invalid(format!(
                "{text:?} is not a decimal number (after an optional prefix)"
            )));
        };
        if prefix == Prefix::Ap {
            // The specification suggests 10% of the value, which never narrows the range the
            // value's precision already implies.
            let widening = value.abs() * 0.1;
            low = low.min(value - widening);
            high = high.max(value + widening);
        }
        Ok(NumberBound {
            prefix,
            value,
            low,
            high,
        })
    }

    fn quantity_bound(&self, raw: &str) -> Result<QuantityBound, QueryError> {
        let part = |text: &str| (!text.is_empty()).then(|| unescape(text));
        let (number, system, code) = match split_unescaped(raw, '|')[..] {
            [number] => (number, None, None),
            [number, system, code] => (number, part(system), part(code)),
            _ => {
                return Err(self.invalid("expected number, number|system|code or number||code"));
            }
        };
        let mut number = self.number_bound(number)?;
        let mut code = code;
        // A UCUM unit is compared in its canonical form, as the index also stores it.
        if system.as_deref() == Some(crate::ucum::UCUM_SYSTEM)
            && let Some(canonical) = code.as_deref().and_then(crate::ucum::canonical)
        {
            let f = canonical.factor;
            number.value *= f;
            number.low *= f;
            number.high *= f;
            code = Some(canonical.unit);
        }
        Ok(QuantityBound {
            number,
            system,
            code,
        })
    }

    /// One alternative of a composite: its components' values joined by `$`, each parsed by the
    /// type of its component's own parameter on the same resource type.
    fn composite_value(
        &self,
        resource_type: &'static str,
        def: &'static SearchParamDef,
        raw: &str,
    ) -> Result<Vec<ParamTest>, QueryError> {
        let parts = split_unescaped(raw, '$');
        if parts.len() != def.components.len() {
            let codes: Vec<&str> = def.components.iter().map(|c| c.code).collect();
            return Err(self.invalid(format!(
                "{} expects {} values joined by $ ({})",
                def.code,
                codes.len(),
                codes.join("$")
            )));
        }
        let mut tests = Vec::with_capacity(parts.len());
        for (component, raw) in def.components.iter().zip(parts) {
            if raw.is_empty() {
                return Err(self.invalid(format!("the {} component is empty", component.code)));
            }
            let component_def = lookup(resource_type, component.code).ok_or_else(|| {
                self.unsupported(format!(
                    "its component {} is not a parameter of {resource_type}",
                    component.code
                ))
            })?;
            let test = match component_def.kind {
                SearchParamType::String => Test::String {
                    mode: StringMatch::Prefix,
                    values: vec![normalize_string(&unescape(raw))],
                },
                SearchParamType::Token => Test::Token {
                    negate: false,
                    values: vec![token_value(raw)],
                },
                SearchParamType::Reference => {
                    Test::Reference(vec![self.reference_value(raw, component_def, None)?])
                }
                SearchParamType::Date => Test::Date(vec![self.date_bound(raw)?]),
                SearchParamType::Number => Test::Number(vec![self.number_bound(raw)?]),
                SearchParamType::Quantity => Test::Quantity(vec![self.quantity_bound(raw)?]),
                SearchParamType::Uri => Test::Uri {
                    mode: UriMatch::Exact,
                    values: vec![unescape(raw)],
                },
                SearchParamType::Composite | SearchParamType::Special => {
                    return Err(self.unsupported(format!(
                        "its component {} is not a simple parameter",
                        component.code
                    )));
                }
            };
            tests.push(ParamTest {
                code: component_def.code,
                test,
            });
        }
        Ok(tests)
    }
}

/// The parameter `code` of `resource_type`; a system search knows those of `Resource` and
/// `DomainResource`.
fn lookup(resource_type: &str, code: &str) -> Option<&'static SearchParamDef> {
    search_param(resource_type, code).or_else(|| {
        if resource_type == SYSTEM_SEARCH {
            search_param("DomainResource", code)
        } else {
            None
        }
    })
}

/// The static name of the R4 resource type `name`, if it is one.
fn static_resource_type(name: &str) -> Option<&'static str> {
    R4_RESOURCE_TYPES
        .binary_search(&name)
        .ok()
        .map(|index| R4_RESOURCE_TYPES[index])
}

/// `name:modifier` into its parts.
fn split_modifier(name: &str) -> (&str, Option<&str>) {
    match name.split_once(':') {
        Some((code, modifier)) => (code, Some(modifier)),
        None => (name, None),
    }
}

fn type_name(kind: SearchParamType) -> &'static str {
    match kind {
        SearchParamType::Number => "number",
        SearchParamType::Date => "date",
        SearchParamType::String => "string",
        SearchParamType::Token => "token",
        SearchParamType::Reference => "reference",
        SearchParamType::Composite => "composite",
        SearchParamType::Quantity => "quantity",
        SearchParamType::Uri => "uri",
        SearchParamType::Special => "special",
    }
}

/// A comparison prefix and the rest of the value; no prefix is `eq`.
fn split_prefix(raw: &str) -> (Prefix, &str) {
    let prefix = match raw.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        _ => return (Prefix::Eq, raw),
    };
    (prefix, &raw[2..])
}

/// A decimal as the search page writes one, with the half-open range its precision implies:
/// `100` is `[99.5, 100.5)`, `100.0` is `[99.95, 100.05)`, `1.5e2` is `[145, 155)`.
///
/// The range is half a unit of the last digit written, for exponent notation too, so `1e2` (one
/// significant figure) is `[50, 150)`; the example table of the search page gives `[95, 105)`
/// there, which fits neither its own "1 significant figure" nor the rule of its other rows, and
/// the index ([`crate::index::number_range`]) applies this same rule.
fn decimal_range(text: &str) -> Option<(f64, f64, f64)> {
    let bytes = text.as_bytes();
    let mut position = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let integer_digits = digits(position);
    if integer_digits == 0 {
        return None;
    }
    position += integer_digits;
    let mut fraction_digits = 0;
    if bytes.get(position) == Some(&b'.') {
        fraction_digits = digits(position + 1);
        if fraction_digits == 0 {
            return None;
        }
        position += 1 + fraction_digits;
    }
    let mut exponent = 0_i32;
    if matches!(bytes.get(position), Some(b'e' | b'E')) {
        exponent = text[position + 1..].parse().ok()?;
        position = bytes.len();
    }
    if position != bytes.len() {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let decimals = i32::try_from(fraction_digits).ok()? - exponent;
    let half_unit = 0.5 * 10_f64.powi(-decimals);
    Some((value, value - half_unit, value + half_unit))
}

/// Splits `value` on the `separator`s that are not escaped with a backslash, keeping the escapes
/// in the parts so that later splits (`|` in a token, `$` in a composite) still see them, as the
/// [escaping rules](https://hl7.org/fhir/R4/search.html#escaping) require.
fn split_unescaped(value: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = value.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == separator {
            parts.push(&value[start..at]);
            start = at + c.len_utf8();
        }
    }
    parts.push(&value[start..]);
    parts
}

/// The byte position of the first `separator` not escaped with a backslash.
fn find_unescaped(value: &str, separator: char) -> Option<usize> {
    let mut chars = value.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == separator {
            return Some(at);
        }
    }
    None
}

/// Removes the backslash of `\,`, `\|`, `\$` and `\\`; any other backslash is an ordinary
/// character.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next @ (',' | '|' | '$' | '\\')) = chars.peek()
        {
            out.push(next);
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

/// A token value: `code`, `system|code`, `|code` or `system|`.
fn token_value(raw: &str) -> TokenValue {
    let Some(at) = find_unescaped(raw, '|') else {
        return TokenValue::Code(unescape(raw));
    };
    let system = unescape(&raw[..at]);
    let code = unescape(&raw[at + 1..]);
    match (system.is_empty(), code.is_empty()) {
        (true, _) => TokenValue::NoSystemCode(code),
        (false, true) => TokenValue::System(system),
        (false, false) => TokenValue::SystemCode(system, code),
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
mod tests;
