//! A small evaluator for the [FHIRPath](http://hl7.org/fhirpath/N1/) subset that R4
//! [SearchParameter](https://hl7.org/fhir/R4/searchparameter.html) expressions use.
//!
//! Search-parameter extraction runs on the write path for every stored resource, so an expression is
//! parsed once into an [`Expression`], specialized once per resource type
//! ([`Expression::specialize`]), and then evaluated many times directly over `serde_json::Value`
//! without converting the resource into a typed model.
//!
//! What is supported is what the R4 search parameters need, plus a little more:
//! - paths (`Patient.name.family`) where a leading type name (`Patient`, `Resource`,
//!   `DomainResource`) selects the resource only when its type matches, so the branches of
//!   `Patient.name | Practitioner.name` that name another type yield nothing;
//! - choice elements: `Observation.value` finds `valueQuantity`, `valueString` and so on, and
//!   remembers the suffix as the item's [`FhirType`];
//! - `|` unions, `[n]` indexing, `=` and `!=`, `and`, `or`, `is` and `as` (as operators and as
//!   functions), and the literals `'string'`, numbers, `true`, `false` and `{}`;
//! - `%resource`, `%rootResource`, `%context` (all the resource being indexed) and `$this`;
//! - the functions `where`, `exists`, `empty`, `not`, `first`, `last`, `count`, `ofType`, `as`, `is`,
//!   `extension(url)`, `hasExtension(url)` and `resolve()`.
//!
//! The server cannot resolve references while indexing, so `resolve()` yields a
//! [`Item::ResolvedReference`] that knows only the target's resource type, read from the reference
//! itself (`Patient/123`, `http://x/fhir/Patient/123`) or from `Reference.type`. That is exactly
//! what `where(resolve() is Patient)` needs.
//!
//! Anything else is rejected by [`Expression::parse`] with a [`FhirPathError`] rather than evaluated
//! wrongly, and evaluation itself never fails: an operand of the wrong kind simply yields an empty
//! collection, as FHIRPath does for most type mismatches.

use serde_json::Value;
use thiserror::Error;

/// Why an expression could not be parsed into the supported subset.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum FhirPathError {
    /// A character that cannot start any token.
    #[error("unexpected character {character:?} at offset {offset}")]
    UnexpectedCharacter {
        /// The byte offset in the expression.
        offset: usize,
        /// The offending character.
        character: char,
    },
    /// A string literal or delimited identifier that is never closed.
    #[error("unterminated literal starting at offset {offset}")]
    UnterminatedLiteral {
        /// The byte offset of the opening quote.
        offset: usize,
    },
    /// A token where the grammar expects something else.
    #[error("unexpected {found} at offset {offset}, expected {expected}")]
    UnexpectedToken {
        /// The byte offset in the expression.
        offset: usize,
        /// A description of what was found.
        found: String,
        /// A description of what was expected.
        expected: &'static str,
    },
    /// A function outside the supported subset, or one called with the wrong arguments.
    #[error("unsupported function {name}() with {n_arguments} argument(s)")]
    UnsupportedFunction {
        /// The function name.
        name: String,
        /// The number of arguments it was called with.
        n_arguments: usize,
    },
    /// An operator outside the supported subset (arithmetic, ordering, `in`, `implies`, …).
    #[error("unsupported operator {operator}")]
    UnsupportedOperator {
        /// The operator as written.
        operator: String,
    },
    /// An environment variable other than `%resource`, `%rootResource`, `%context` and the
    /// well-known code system URLs.
    #[error("unsupported variable %{name}")]
    UnsupportedVariable {
        /// The variable name without `%`.
        name: String,
    },
    /// A type specifier (after `is`, `as` or in `ofType(…)`) that is not a plain type name.
    #[error("invalid type specifier at offset {offset}")]
    InvalidTypeSpecifier {
        /// The byte offset in the expression.
        offset: usize,
    },
}

/// A FHIR data type that the evaluator can know an item to have.
///
/// Types are only known where the path says so: from the suffix of a choice element
/// (`valueQuantity`) or from a cast. Elsewhere items carry no type and consumers infer what they
/// need from the JSON shape.
#[allow(
    missing_docs,
    reason = "Each variant is the FHIR data type of the same name."
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FhirType {
    Base64Binary,
    Boolean,
    Canonical,
    Code,
    Date,
    DateTime,
    Decimal,
    Id,
    Instant,
    Integer,
    Markdown,
    Oid,
    PositiveInt,
    String,
    Time,
    UnsignedInt,
    Uri,
    Url,
    Uuid,
    Address,
    Age,
    Annotation,
    Attachment,
    CodeableConcept,
    Coding,
    ContactDetail,
    ContactPoint,
    Contributor,
    Count,
    DataRequirement,
    Distance,
    Dosage,
    Duration,
    Expression,
    Extension,
    HumanName,
    Identifier,
    Meta,
    Money,
    ParameterDefinition,
    Period,
    Quantity,
    Range,
    Ratio,
    Reference,
    RelatedArtifact,
    SampledData,
    Signature,
    Timing,
    TriggerDefinition,
    UsageContext,
}

/// FHIR type names as the specification spells them, for parsing and for choice suffixes.
const FHIR_TYPE_NAMES: &[(&str, FhirType)] = &[
    ("base64Binary", FhirType::Base64Binary),
    ("boolean", FhirType::Boolean),
    ("canonical", FhirType::Canonical),
    ("code", FhirType::Code),
    ("date", FhirType::Date),
    ("dateTime", FhirType::DateTime),
    ("decimal", FhirType::Decimal),
    ("id", FhirType::Id),
    ("instant", FhirType::Instant),
    ("integer", FhirType::Integer),
    ("markdown", FhirType::Markdown),
    ("oid", FhirType::Oid),
    ("positiveInt", FhirType::PositiveInt),
    ("string", FhirType::String),
    ("time", FhirType::Time),
    ("unsignedInt", FhirType::UnsignedInt),
    ("uri", FhirType::Uri),
    ("url", FhirType::Url),
    ("uuid", FhirType::Uuid),
    ("Address", FhirType::Address),
    ("Age", FhirType::Age),
    ("Annotation", FhirType::Annotation),
    ("Attachment", FhirType::Attachment),
    ("CodeableConcept", FhirType::CodeableConcept),
    ("Coding", FhirType::Coding),
    ("ContactDetail", FhirType::ContactDetail),
    ("ContactPoint", FhirType::ContactPoint),
    ("Contributor", FhirType::Contributor),
    ("Count", FhirType::Count),
    ("DataRequirement", FhirType::DataRequirement),
    ("Distance", FhirType::Distance),
    ("Dosage", FhirType::Dosage),
    ("Duration", FhirType::Duration),
    ("Expression", FhirType::Expression),
    ("Extension", FhirType::Extension),
    ("HumanName", FhirType::HumanName),
    ("Identifier", FhirType::Identifier),
    ("Meta", FhirType::Meta),
    ("Money", FhirType::Money),
    ("ParameterDefinition", FhirType::ParameterDefinition),
    ("Period", FhirType::Period),
    ("Quantity", FhirType::Quantity),
    ("Range", FhirType::Range),
    ("Ratio", FhirType::Ratio),
    ("Reference", FhirType::Reference),
    ("RelatedArtifact", FhirType::RelatedArtifact),
    ("SampledData", FhirType::SampledData),
    ("Signature", FhirType::Signature),
    ("Timing", FhirType::Timing),
    ("TriggerDefinition", FhirType::TriggerDefinition),
    ("UsageContext", FhirType::UsageContext),
];

impl FhirType {
    /// Looks a type up by its FHIR name.
    ///
    /// The first letter is compared without regard to case, because choice suffixes capitalize
    /// primitive names (`valueDateTime`) and one published R4 expression writes `as(DateTime)`.
    pub fn from_name(name: &str) -> Option<FhirType> {
        let mut chars = name.chars();
        let first = chars.next()?;
        let rest = chars.as_str();
        FHIR_TYPE_NAMES.iter().find_map(|(candidate, fhir_type)| {
            let mut candidate_chars = candidate.chars();
            let candidate_first = candidate_chars.next()?;
            (candidate_first.eq_ignore_ascii_case(&first) && candidate_chars.as_str() == rest)
                .then_some(*fhir_type)
        })
    }

    /// The type name as the specification spells it (`dateTime`, `CodeableConcept`).
    pub fn name(self) -> &'static str {
        FHIR_TYPE_NAMES
            .iter()
            .find(|(_, fhir_type)| *fhir_type == self)
            .map_or("", |(name, _)| name)
    }

    /// Whether a value of type `self` is also a value of type `other` (`Age` is a `Quantity`,
    /// `code` is a `string`), following the type hierarchy of the R4 specification.
    pub fn is_a(self, other: FhirType) -> bool {
        use FhirType as T;
        self == other
            || matches!(
                (self, other),
                (T::Age | T::Count | T::Distance | T::Duration, T::Quantity)
                    | (T::Code | T::Id | T::Markdown, T::String)
                    | (T::Canonical | T::Oid | T::Url | T::Uuid, T::Uri)
                    | (T::PositiveInt | T::UnsignedInt, T::Integer)
            )
    }
}

/// Names of choice elements (`value[x]`, `effective[x]`, …) anywhere in R4.
///
/// Only these names are looked up by suffix when the plain name is absent, so a missing ordinary
/// element costs a single map lookup rather than a scan of the object's keys. The list was taken
/// from the snapshots of the R4 StructureDefinitions (every element path that ends in `[x]`).
const CHOICE_ELEMENT_NAMES: &[&str] = &[
    "abatement",
    "additive",
    "age",
    "allowed",
    "amount",
    "answer",
    "asNeeded",
    "author",
    "born",
    "bounds",
    "characteristic",
    "chargeItem",
    "code",
    "collected",
    "content",
    "created",
    "date",
    "deceased",
    "defaultValue",
    "definingSubstance",
    "definition",
    "detail",
    "diagnosis",
    "done",
    "dose",
    "doseNumber",
    "due",
    "effective",
    "entity",
    "event",
    "example",
    "fastingStatus",
    "fixed",
    "identified",
    "indication",
    "item",
    "legallyBinding",
    "location",
    "manufacturer",
    "maxValue",
    "medication",
    "minValue",
    "minimumVolume",
    "module",
    "multipleBirth",
    "name",
    "occurred",
    "occurrence",
    "offset",
    "onset",
    "participantEffective",
    "pattern",
    "performed",
    "probability",
    "procedure",
    "product",
    "quantity",
    "rate",
    "reported",
    "scheduled",
    "seriesDoses",
    "serviced",
    "source",
    "start",
    "statusReason",
    "studyEffective",
    "subject",
    "substance",
    "target",
    "time",
    "timing",
    "topic",
    "used",
    "value",
    "what",
    "when",
    "where",
    "why",
];

/// One item of a FHIRPath collection.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    /// A node of the resource: an object or a primitive, never an array (arrays are flattened).
    Json {
        /// The node.
        value: &'a Value,
        /// The node's FHIR type when the path made it known (a choice suffix or a cast).
        fhir_type: Option<FhirType>,
    },
    /// A Boolean computed by the expression (`exists()`, `=`, `and`, …).
    Boolean(bool),
    /// A string literal of the expression.
    String(&'a str),
    /// A number literal of the expression.
    Number(f64),
    /// The result of `resolve()` on a reference: the server does not load the target while
    /// indexing, so only the target's resource type is known, and only when the reference says it.
    ResolvedReference {
        /// The target's resource type, if the reference names it.
        resource_type: Option<&'a str>,
    },
}

impl<'a> Item<'a> {
    /// An item for a node of the resource whose type is not known.
    pub fn json(value: &'a Value) -> Item<'a> {
        Item::Json {
            value,
            fhir_type: None,
        }
    }

    /// Whether two items are the same node of the resource (for union de-duplication).
    fn is_same_node(&self, other: &Item<'a>) -> bool {
        match (self, other) {
            (Item::Json { value: a, .. }, Item::Json { value: b, .. }) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

/// A type named after `is`, `as` or in `ofType(…)`.
#[derive(Clone, Debug, PartialEq)]
enum TypeSpecifier {
    /// A FHIR data type.
    Data(FhirType),
    /// Anything else, taken to be a resource type (`Patient`).
    Resource(String),
}

/// The supported functions, with their arguments already parsed.
#[derive(Clone, Debug, PartialEq)]
enum Function {
    Where(Box<Node>),
    Exists(Option<Box<Node>>),
    Empty,
    Not,
    First,
    Last,
    Count,
    OfType(TypeSpecifier),
    Is(TypeSpecifier),
    Resolve,
    Extension(String),
    HasExtension(String),
}

/// The abstract syntax tree.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// The current focus: the resource at the top level, the item inside `where(…)`, or the
    /// composite match for a component expression.
    This,
    /// The resource being indexed (`%resource`).
    Resource,
    /// The empty collection (`{}`, or a branch that [`Expression::specialize`] removed).
    Empty,
    /// A leading type name such as `Patient` in `Patient.name`.
    TypeName(String),
    /// A string literal.
    String(String),
    /// A number literal.
    Number(f64),
    /// A Boolean literal.
    Boolean(bool),
    /// `base.name`; `choice` is set when `name` may be a choice element.
    Member {
        base: Box<Node>,
        name: String,
        choice: bool,
    },
    /// `base[index]` with a literal index.
    Index { base: Box<Node>, index: usize },
    /// `base.function(…)`.
    Call { base: Box<Node>, function: Function },
    /// `left | right`.
    Union(Box<Node>, Box<Node>),
    /// `base as Type`, `base.as(Type)` and `base.ofType(Type)` (which filter alike here).
    As {
        base: Box<Node>,
        type_specifier: TypeSpecifier,
    },
    /// `base is Type`.
    Is {
        base: Box<Node>,
        type_specifier: TypeSpecifier,
    },
    /// `left = right` or, with `negated`, `left != right`.
    Equals {
        left: Box<Node>,
        right: Box<Node>,
        negated: bool,
    },
    /// `left and right`.
    And(Box<Node>, Box<Node>),
    /// `left or right`.
    Or(Box<Node>, Box<Node>),
}

/// A parsed FHIRPath expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expression {
    root: Node,
}

impl Expression {
    /// Parses `source`, rejecting anything outside the supported subset.
    pub fn parse(source: &str) -> Result<Expression, FhirPathError> {
        let tokens = tokenize(source)?;
        let mut parser = Parser {
            tokens: &tokens,
            position: 0,
        };
        let root = parser.expression(0)?;
        match parser.peek() {
            None => Ok(Expression { root }),
            Some(token) => Err(FhirPathError::UnexpectedToken {
                offset: token.offset,
                found: token.kind.describe(),
                expected: "end of expression",
            }),
        }
    }

    /// Returns a copy for resources of type `resource_type`, with every path that starts with
    /// another type name replaced by the empty collection and dropped from unions.
    ///
    /// `Resource` and `DomainResource` match every resource type. Specializing once per type
    /// means evaluation never compares type names, and the long unions that list one branch per
    /// resource type (`AllergyIntolerance.patient | CarePlan.subject… | …`) shrink to their one
    /// relevant branch.
    pub fn specialize(&self, resource_type: &str) -> Expression {
        Expression {
            root: specialize(&self.root, resource_type),
        }
    }

    /// Whether the expression (already [`Expression::specialize`]d to `resource_type`) yields at
    /// most one item for every resource of that type: a path of elements whose maximum
    /// cardinality in the element table is 1, through filters (`where`, `as`, `ofType`) that can
    /// only drop items. Anything else (a union, a repeating element, an element the table does
    /// not list) may yield several, and says `false`.
    pub fn at_most_one(&self, resource_type: &str) -> bool {
        single_path(&self.root, resource_type).is_some()
    }

    /// Whether the expression can yield nothing at all (after [`Expression::specialize`], when
    /// no branch applies to the resource type).
    pub fn is_empty(&self) -> bool {
        self.root == Node::Empty
    }

    /// Evaluates the expression with the resource as the focus.
    pub fn evaluate<'a>(&'a self, resource: &'a Value) -> Vec<Item<'a>> {
        let mut out = Vec::new();
        self.evaluate_into(resource, Item::json(resource), &mut out);
        out
    }

    /// Evaluates the expression with `focus` as the focus (as for the component expressions of a
    /// composite parameter, which are relative to each match of the composite's expression) and
    /// `resource` as `%resource`, appending the result to `out`.
    pub fn evaluate_into<'a>(
        &'a self,
        resource: &'a Value,
        focus: Item<'a>,
        out: &mut Vec<Item<'a>>,
    ) {
        let context = Context { resource };
        evaluate(&self.root, &context, &[focus], out);
    }
}

/// What stays the same during one evaluation.
struct Context<'a> {
    resource: &'a Value,
}

/// The element path a node yields at most one item of (`Observation.subject`), or `None` when it
/// may yield several; see [`Expression::at_most_one`].
fn single_path(node: &Node, resource_type: &str) -> Option<String> {
    match node {
        Node::This => Some(resource_type.to_owned()),
        Node::Member { base, name, choice } => {
            let base = single_path(base, resource_type)?;
            let structure = hale_fhir::definitions::structure(resource_type)?;
            let plain = format!("{base}.{name}");
            let choice_path = format!("{base}.{name}[x]");
            let element = structure
                .elements
                .iter()
                .find(|e| e.path == plain || (*choice && e.path == choice_path))?;
            matches!(element.max, hale_fhir::table::Max::Bounded(0 | 1)).then_some(plain)
        }
        Node::As { base, .. }
        | Node::Call {
            base,
            function: Function::Where(_) | Function::OfType(_),
        } => single_path(base, resource_type),
        _ => None,
    }
}

fn specialize(node: &Node, resource_type: &str) -> Node {
    let boxed = |node: &Node| Box::new(specialize(node, resource_type));
    match node {
        Node::TypeName(name) => {
            if name == resource_type || name == "Resource" || name == "DomainResource" {
                Node::This
            } else {
                Node::Empty
            }
        }
        Node::Member { base, name, choice } => match specialize(base, resource_type) {
            Node::Empty => Node::Empty,
            base => Node::Member {
                base: Box::new(base),
                name: name.clone(),
                choice: *choice,
            },
        },
        Node::Index { base, index } => match specialize(base, resource_type) {
            Node::Empty => Node::Empty,
            base => Node::Index {
                base: Box::new(base),
                index: *index,
            },
        },
        Node::Call { base, function } => {
            let function = match function {
                Function::Where(criteria) => Function::Where(boxed(criteria)),
                Function::Exists(Some(criteria)) => Function::Exists(Some(boxed(criteria))),
                other => other.clone(),
            };
            match (specialize(base, resource_type), &function) {
                // Functions that turn an empty input into a value must stay; the rest of an empty
                // input is empty.
                (
                    Node::Empty,
                    Function::Where(_)
                    | Function::First
                    | Function::Last
                    | Function::OfType(_)
                    | Function::Resolve
                    | Function::Extension(_),
                ) => Node::Empty,
                (base, _) => Node::Call {
                    base: Box::new(base),
                    function,
                },
            }
        }
        Node::Union(left, right) => match (
            specialize(left, resource_type),
            specialize(right, resource_type),
        ) {
            (Node::Empty, other) | (other, Node::Empty) => other,
            (left, right) => Node::Union(Box::new(left), Box::new(right)),
        },
        Node::As {
            base,
            type_specifier,
        } => match specialize(base, resource_type) {
            Node::Empty => Node::Empty,
            base => Node::As {
                base: Box::new(base),
                type_specifier: type_specifier.clone(),
            },
        },
        Node::Is {
            base,
            type_specifier,
        } => Node::Is {
            base: boxed(base),
            type_specifier: type_specifier.clone(),
        },
        Node::Equals {
            left,
            right,
            negated,
        } => Node::Equals {
            left: boxed(left),
            right: boxed(right),
            negated: *negated,
        },
        Node::And(left, right) => Node::And(boxed(left), boxed(right)),
        Node::Or(left, right) => Node::Or(boxed(left), boxed(right)),
        Node::This
        | Node::Resource
        | Node::Empty
        | Node::String(_)
        | Node::Number(_)
        | Node::Boolean(_) => node.clone(),
    }
}

/// Evaluates `node` for the collection `focus`, appending the result to `out`.
fn evaluate<'a>(
    node: &'a Node,
    context: &Context<'a>,
    focus: &[Item<'a>],
    out: &mut Vec<Item<'a>>,
) {
    match node {
        Node::This => out.extend_from_slice(focus),
        Node::Resource => out.push(Item::json(context.resource)),
        Node::Empty => {}
        Node::TypeName(name) => {
            // Only reached by an expression that was not specialized: the focus is kept when it
            // is a resource of the named type.
            for item in focus {
                if let Item::Json { value, .. } = item
                    && (name == "Resource"
                        || name == "DomainResource"
                        || value.get("resourceType").and_then(Value::as_str) == Some(name))
                {
                    out.push(*item);
                }
            }
        }
        Node::String(text) => out.push(Item::String(text)),
        Node::Number(number) => out.push(Item::Number(*number)),
        Node::Boolean(boolean) => out.push(Item::Boolean(*boolean)),
        Node::Member { base, name, choice } => {
            let mut scratch = Vec::new();
            for item in evaluate_base(base, context, focus, &mut scratch) {
                member(item, name, *choice, out);
            }
        }
        Node::Index { base, index } => {
            let mut scratch = Vec::new();
            if let Some(item) = evaluate_base(base, context, focus, &mut scratch).get(*index) {
                out.push(*item);
            }
        }
        Node::Call { base, function } => {
            let mut scratch = Vec::new();
            let input = evaluate_base(base, context, focus, &mut scratch);
            call(function, context, input, out);
        }
        Node::Union(left, right) => {
            let start = out.len();
            evaluate(left, context, focus, out);
            let right = evaluate_to_vec(right, context, focus);
            for item in right {
                if !out[start..].iter().any(|seen| seen.is_same_node(&item)) {
                    out.push(item);
                }
            }
        }
        Node::As {
            base,
            type_specifier,
        } => {
            let mut scratch = Vec::new();
            let input = evaluate_base(base, context, focus, &mut scratch);
            out.extend(
                input
                    .iter()
                    .copied()
                    .filter(|item| is_type(item, type_specifier, true)),
            );
        }
        Node::Is {
            base,
            type_specifier,
        } => {
            let mut scratch = Vec::new();
            if let [item] = evaluate_base(base, context, focus, &mut scratch) {
                out.push(Item::Boolean(is_type(item, type_specifier, false)));
            }
        }
        Node::Equals {
            left,
            right,
            negated,
        } => {
            let left = evaluate_to_vec(left, context, focus);
            let right = evaluate_to_vec(right, context, focus);
            if left.is_empty() || right.is_empty() {
                return;
            }
            let equal = left.len() == right.len()
                && left
                    .iter()
                    .zip(&right)
                    .all(|(left, right)| items_equal(left, right));
            out.push(Item::Boolean(equal != *negated));
        }
        Node::And(left, right) => {
            let left = truth(&evaluate_to_vec(left, context, focus));
            let right = truth(&evaluate_to_vec(right, context, focus));
            // Three-valued logic: false wins, and unknown (empty) with true stays unknown.
            match (left, right) {
                (Some(false), _) | (_, Some(false)) => out.push(Item::Boolean(false)),
                (Some(true), Some(true)) => out.push(Item::Boolean(true)),
                _ => {}
            }
        }
        Node::Or(left, right) => {
            let left = truth(&evaluate_to_vec(left, context, focus));
            let right = truth(&evaluate_to_vec(right, context, focus));
            match (left, right) {
                (Some(true), _) | (_, Some(true)) => out.push(Item::Boolean(true)),
                (Some(false), Some(false)) => out.push(Item::Boolean(false)),
                _ => {}
            }
        }
    }
}

/// Evaluates the base of a step, borrowing the focus itself when the base is `$this` (the resource
/// at the start of every top-level path), so that the first step of a path allocates nothing;
/// `scratch` holds the result otherwise.
fn evaluate_base<'a, 's>(
    node: &'a Node,
    context: &Context<'a>,
    focus: &'s [Item<'a>],
    scratch: &'s mut Vec<Item<'a>>,
) -> &'s [Item<'a>] {
    if matches!(node, Node::This) {
        return focus;
    }
    evaluate(node, context, focus, scratch);
    scratch
}

fn evaluate_to_vec<'a>(node: &'a Node, context: &Context<'a>, focus: &[Item<'a>]) -> Vec<Item<'a>> {
    let mut out = Vec::new();
    evaluate(node, context, focus, &mut out);
    out
}

/// Appends the children named `name` of `item`, flattening arrays and skipping the `null`
/// placeholders that primitive arrays use to line up with their `_name` extensions.
fn member<'a>(item: &Item<'a>, name: &str, choice: bool, out: &mut Vec<Item<'a>>) {
    let Item::Json {
        value: Value::Object(object),
        ..
    } = item
    else {
        return;
    };
    if let Some(child) = object.get(name) {
        push_flattened(child, None, out);
        return;
    }
    if !choice {
        return;
    }
    for (key, child) in object {
        if let Some(suffix) = key.strip_prefix(name)
            && suffix.starts_with(|c: char| c.is_ascii_uppercase())
            && let Some(fhir_type) = FhirType::from_name(suffix)
        {
            push_flattened(child, Some(fhir_type), out);
        }
    }
}

fn push_flattened<'a>(value: &'a Value, fhir_type: Option<FhirType>, out: &mut Vec<Item<'a>>) {
    match value {
        Value::Array(elements) => {
            for element in elements {
                if !element.is_null() {
                    out.push(Item::Json {
                        value: element,
                        fhir_type,
                    });
                }
            }
        }
        Value::Null => {}
        value => out.push(Item::Json { value, fhir_type }),
    }
}

fn call<'a>(
    function: &'a Function,
    context: &Context<'a>,
    input: &[Item<'a>],
    out: &mut Vec<Item<'a>>,
) {
    match function {
        Function::Where(criteria) => filter_where(criteria, context, input, out),
        Function::Exists(None) => out.push(Item::Boolean(!input.is_empty())),
        Function::Exists(Some(criteria)) => {
            let mut matches = Vec::new();
            filter_where(criteria, context, input, &mut matches);
            out.push(Item::Boolean(!matches.is_empty()));
        }
        Function::Empty => out.push(Item::Boolean(input.is_empty())),
        Function::Not => {
            if let Some(value) = truth(input) {
                out.push(Item::Boolean(!value));
            }
        }
        Function::First => out.extend(input.first().copied()),
        Function::Last => out.extend(input.last().copied()),
        Function::Count => out.push(Item::Number(input.len() as f64)),
        Function::OfType(type_specifier) => {
            out.extend(
                input
                    .iter()
                    .copied()
                    .filter(|item| is_type(item, type_specifier, true)),
            );
        }
        Function::Is(type_specifier) => {
            if let [item] = input {
                out.push(Item::Boolean(is_type(item, type_specifier, false)));
            }
        }
        Function::Resolve => {
            for item in input {
                if let Item::Json { value, .. } = item {
                    out.push(Item::ResolvedReference {
                        resource_type: reference_target_type(value),
                    });
                }
            }
        }
        Function::Extension(url) => {
            for item in input {
                if let Item::Json { value, .. } = item
                    && let Some(Value::Array(extensions)) = value.get("extension")
                {
                    for extension in extensions {
                        if extension.get("url").and_then(Value::as_str) == Some(url) {
                            out.push(Item::Json {
                                value: extension,
                                fhir_type: Some(FhirType::Extension),
                            });
                        }
                    }
                }
            }
        }
        Function::HasExtension(url) => {
            let found = input.iter().any(|item| {
                matches!(item, Item::Json { value, .. }
                if value.get("extension").and_then(Value::as_array).is_some_and(|extensions| {
                    extensions.iter().any(|extension| {
                        extension.get("url").and_then(Value::as_str) == Some(url)
                    })
                }))
            });
            out.push(Item::Boolean(found));
        }
    }
}

/// Appends the items of `input` for which `criteria` is true.
fn filter_where<'a>(
    criteria: &'a Node,
    context: &Context<'a>,
    input: &[Item<'a>],
    out: &mut Vec<Item<'a>>,
) {
    let mut scratch = Vec::new();
    for item in input {
        scratch.clear();
        evaluate(criteria, context, std::slice::from_ref(item), &mut scratch);
        if truth(&scratch) == Some(true) {
            out.push(*item);
        }
    }
}

/// The resource type a reference points to, as far as the reference itself tells: from
/// `Reference.reference` (`Patient/1`, `…/Patient/1/_history/2`), else from `Reference.type`, and
/// for a canonical URL (`http://hl7.org/fhir/ValueSet/x`) from the segment before the last.
pub fn reference_target_type(value: &Value) -> Option<&str> {
    let (reference, declared_type) = match value {
        Value::String(canonical) => (Some(canonical.as_str()), None),
        Value::Object(object) => (
            object.get("reference").and_then(Value::as_str),
            object.get("type").and_then(Value::as_str),
        ),
        _ => (None, None),
    };
    reference
        .and_then(|reference| {
            let reference = reference.split('|').next().unwrap_or(reference);
            let reference = match reference.find("/_history/") {
                Some(at) => &reference[..at],
                None => reference,
            };
            let mut segments = reference.rsplit('/');
            let _id = segments.next()?;
            segments
                .next()
                .filter(|segment| is_resource_type_name(segment))
        })
        .or(declared_type)
}

/// Whether `name` has the shape of a resource type name (an upper-case ASCII letter followed by
/// letters), which is what distinguishes `Patient/1` from `urn:uuid:…` or `#contained`.
pub fn is_resource_type_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_uppercase()) && bytes.all(|b| b.is_ascii_alphabetic())
}

/// Whether `item` is of the type `type_specifier`.
///
/// With `lenient`, used by `as` and `ofType`, a node whose type the path did not make known passes
/// a data-type test: such nodes are ordinary elements whose declared type the expression's author
/// already knew, so the cast is an assertion rather than a filter.
fn is_type(item: &Item<'_>, type_specifier: &TypeSpecifier, lenient: bool) -> bool {
    match (item, type_specifier) {
        (
            Item::Json {
                fhir_type: Some(actual),
                ..
            },
            TypeSpecifier::Data(wanted),
        ) => actual.is_a(*wanted),
        (
            Item::Json {
                value,
                fhir_type: None,
            },
            TypeSpecifier::Data(wanted),
        ) => {
            lenient
                || match wanted {
                    FhirType::Boolean => value.is_boolean(),
                    FhirType::String => value.is_string(),
                    FhirType::Decimal => value.is_number(),
                    FhirType::Integer => value.is_i64() || value.is_u64(),
                    _ => false,
                }
        }
        (Item::Json { value, .. }, TypeSpecifier::Resource(wanted)) => {
            value.get("resourceType").and_then(Value::as_str) == Some(wanted)
        }
        (Item::ResolvedReference { resource_type }, TypeSpecifier::Resource(wanted)) => {
            *resource_type == Some(wanted.as_str())
        }
        (Item::Boolean(_), TypeSpecifier::Data(wanted)) => *wanted == FhirType::Boolean,
        (Item::String(_), TypeSpecifier::Data(wanted)) => *wanted == FhirType::String,
        (Item::Number(_), TypeSpecifier::Data(wanted)) => *wanted == FhirType::Decimal,
        _ => false,
    }
}

fn items_equal(left: &Item<'_>, right: &Item<'_>) -> bool {
    fn as_primitive<'a>(item: &Item<'a>) -> Option<Primitive<'a>> {
        match item {
            Item::Json { value, .. } => match value {
                Value::String(text) => Some(Primitive::String(text)),
                Value::Bool(boolean) => Some(Primitive::Boolean(*boolean)),
                Value::Number(number) => number.as_f64().map(Primitive::Number),
                _ => None,
            },
            Item::String(text) => Some(Primitive::String(text)),
            Item::Boolean(boolean) => Some(Primitive::Boolean(*boolean)),
            Item::Number(number) => Some(Primitive::Number(*number)),
            Item::ResolvedReference { .. } => None,
        }
    }
    #[derive(PartialEq)]
    enum Primitive<'a> {
        String(&'a str),
        Boolean(bool),
        Number(f64),
    }
    match (left, right) {
        (Item::Json { value: left, .. }, Item::Json { value: right, .. })
            if left.is_object() || right.is_object() =>
        {
            left == right
        }
        _ => match (as_primitive(left), as_primitive(right)) {
            (Some(left), Some(right)) => left == right,
            _ => false,
        },
    }
}

/// The Boolean meaning of a collection: a single Boolean is itself, any other single item is true
/// (FHIRPath's singleton evaluation), and an empty or longer collection is unknown.
fn truth(items: &[Item<'_>]) -> Option<bool> {
    match items {
        [Item::Boolean(value)] => Some(*value),
        [
            Item::Json {
                value: Value::Bool(value),
                ..
            },
        ] => Some(*value),
        [_] => Some(true),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens.

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    Identifier(String),
    /// `%name`.
    Variable(String),
    /// `$this` and friends.
    Special(String),
    String(String),
    Number(f64),
    Symbol(&'static str),
}

impl TokenKind {
    fn describe(&self) -> String {
        match self {
            TokenKind::Identifier(name) => format!("identifier {name}"),
            TokenKind::Variable(name) => format!("variable %{name}"),
            TokenKind::Special(name) => format!("${name}"),
            TokenKind::String(text) => format!("string '{text}'"),
            TokenKind::Number(number) => format!("number {number}"),
            TokenKind::Symbol(symbol) => format!("'{symbol}'"),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokenKind,
    offset: usize,
}

/// Multi-character symbols first, so that `!=` is not read as `!` followed by `=`.
const SYMBOLS: &[&str] = &[
    "!=", "!~", "<=", ">=", ".", "(", ")", "[", "]", "{", "}", ",", "|", "=", "~", "<", ">", "+",
    "-", "*", "/", "&",
];

fn tokenize(source: &str) -> Result<Vec<Token>, FhirPathError> {
    let mut tokens = Vec::new();
    let bytes = source.as_bytes();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &source[offset..];
        let c = rest.chars().next().unwrap_or_default();
        if c.is_whitespace() {
            offset += c.len_utf8();
            continue;
        }
        // Comments are allowed by FHIRPath and cost nothing to skip.
        if rest.starts_with("//") {
            offset += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        if rest.starts_with("/*") {
            let end = rest
                .find("*/")
                .ok_or(FhirPathError::UnterminatedLiteral { offset })?;
            offset += end + 2;
            continue;
        }
        let start = offset;
        let kind = if c.is_ascii_alphabetic() || c == '_' {
            let length = identifier_length(rest);
            offset += length;
            TokenKind::Identifier(rest[..length].to_owned())
        } else if c == '`' {
            let (text, length) = quoted(rest, '`', start)?;
            offset += length;
            TokenKind::Identifier(text)
        } else if c == '%' || c == '$' {
            let name_source = &rest[1..];
            let (name, length) = if name_source.starts_with('`') {
                quoted(name_source, '`', start)?
            } else if name_source.starts_with('\'') {
                quoted(name_source, '\'', start)?
            } else {
                let length = identifier_length(name_source);
                (name_source[..length].to_owned(), length)
            };
            if name.is_empty() {
                return Err(FhirPathError::UnexpectedCharacter {
                    offset,
                    character: c,
                });
            }
            offset += 1 + length;
            if c == '%' {
                TokenKind::Variable(name)
            } else {
                TokenKind::Special(name)
            }
        } else if c == '\'' {
            let (text, length) = quoted(rest, '\'', start)?;
            offset += length;
            TokenKind::String(text)
        } else if c.is_ascii_digit() {
            let mut length = rest.bytes().take_while(u8::is_ascii_digit).count();
            let after = &rest[length..];
            if after.starts_with('.') && after[1..].starts_with(|c: char| c.is_ascii_digit()) {
                length += 1 + after[1..].bytes().take_while(u8::is_ascii_digit).count();
            }
            offset += length;
            TokenKind::Number(rest[..length].parse().unwrap_or_default())
        } else if let Some(symbol) = SYMBOLS.iter().find(|symbol| rest.starts_with(**symbol)) {
            offset += symbol.len();
            TokenKind::Symbol(symbol)
        } else {
            return Err(FhirPathError::UnexpectedCharacter {
                offset,
                character: c,
            });
        };
        tokens.push(Token {
            kind,
            offset: start,
        });
    }
    Ok(tokens)
}

fn identifier_length(source: &str) -> usize {
    source
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

/// Reads a quoted literal starting at the opening `quote`, returning its unescaped text and the
/// number of bytes it spans including both quotes.
fn quoted(source: &str, quote: char, offset: usize) -> Result<(String, usize), FhirPathError> {
    let mut text = String::new();
    let mut chars = source.char_indices().skip(1);
    while let Some((index, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((text, index + 1)),
            '\\' => {
                let (_, escaped) = chars
                    .next()
                    .ok_or(FhirPathError::UnterminatedLiteral { offset })?;
                match escaped {
                    'n' => text.push('\n'),
                    'r' => text.push('\r'),
                    't' => text.push('\t'),
                    'f' => text.push('\u{c}'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                        let decoded = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        text.push(decoded.unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    other => text.push(other),
                }
            }
            c => text.push(c),
        }
    }
    Err(FhirPathError::UnterminatedLiteral { offset })
}

// ---------------------------------------------------------------------------------------------
// Parser: precedence climbing over FHIRPath's operator table, loosest first.

/// Binding power of each binary operator; higher binds tighter. `is` and `as` are handled with
/// the same power as in the FHIRPath grammar, between `|` and the additive operators.
fn binding_power(kind: &TokenKind) -> Option<(u8, &'static str)> {
    match kind {
        TokenKind::Identifier(word) => match word.as_str() {
            "implies" => Some((1, "implies")),
            "or" => Some((2, "or")),
            "xor" => Some((2, "xor")),
            "and" => Some((3, "and")),
            "in" => Some((4, "in")),
            "contains" => Some((4, "contains")),
            "is" => Some((8, "is")),
            "as" => Some((8, "as")),
            "div" => Some((10, "div")),
            "mod" => Some((10, "mod")),
            _ => None,
        },
        TokenKind::Symbol(symbol) => match *symbol {
            "=" | "!=" | "~" | "!~" => Some((5, symbol)),
            "<" | ">" | "<=" | ">=" => Some((6, symbol)),
            "|" => Some((7, symbol)),
            "+" | "-" | "&" => Some((9, symbol)),
            "*" | "/" => Some((10, symbol)),
            _ => None,
        },
        _ => None,
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    position: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.position);
        self.position += 1;
        token
    }

    fn end_offset(&self) -> usize {
        self.tokens.last().map_or(0, |token| token.offset + 1)
    }

    fn unexpected(&self, expected: &'static str) -> FhirPathError {
        match self.peek() {
            Some(token) => FhirPathError::UnexpectedToken {
                offset: token.offset,
                found: token.kind.describe(),
                expected,
            },
            None => FhirPathError::UnexpectedToken {
                offset: self.end_offset(),
                found: "end of expression".to_owned(),
                expected,
            },
        }
    }

    fn expect_symbol(&mut self, symbol: &'static str) -> Result<(), FhirPathError> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Symbol(found),
                ..
            }) if *found == symbol => {
                self.position += 1;
                Ok(())
            }
            _ => Err(self.unexpected(symbol)),
        }
    }

    fn at_symbol(&self, symbol: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: TokenKind::Symbol(found), .. }) if *found == symbol)
    }

    fn expression(&mut self, minimum_power: u8) -> Result<Node, FhirPathError> {
        let mut left = self.postfix()?;
        while let Some((power, operator)) = self.peek().and_then(|token| binding_power(&token.kind))
        {
            if power < minimum_power {
                break;
            }
            let operator_offset = self.peek().map_or(0, |token| token.offset);
            self.position += 1;
            left = match operator {
                "is" | "as" => {
                    let type_specifier = self.type_specifier(operator_offset)?;
                    let base = Box::new(left);
                    if operator == "is" {
                        Node::Is {
                            base,
                            type_specifier,
                        }
                    } else {
                        Node::As {
                            base,
                            type_specifier,
                        }
                    }
                }
                _ => {
                    // All supported binary operators are left-associative.
                    let right = Box::new(self.expression(power + 1)?);
                    let left = Box::new(left);
                    match operator {
                        "|" => Node::Union(left, right),
                        "=" => Node::Equals {
                            left,
                            right,
                            negated: false,
                        },
                        "!=" => Node::Equals {
                            left,
                            right,
                            negated: true,
                        },
                        "and" => Node::And(left, right),
                        "or" => Node::Or(left, right),
                        other => {
                            return Err(FhirPathError::UnsupportedOperator {
                                operator: other.to_owned(),
                            });
                        }
                    }
                }
            };
        }
        Ok(left)
    }

    /// A term followed by any number of `.member`, `.function(…)` and `[index]` steps.
    fn postfix(&mut self) -> Result<Node, FhirPathError> {
        let mut node = self.term()?;
        loop {
            if self.at_symbol(".") {
                self.position += 1;
                let Some(Token {
                    kind: TokenKind::Identifier(name),
                    ..
                }) = self.next().cloned()
                else {
                    self.position -= 1;
                    return Err(self.unexpected("a member or function name after '.'"));
                };
                node = if self.at_symbol("(") {
                    self.function(node, &name)?
                } else {
                    member_node(node, name)
                };
            } else if self.at_symbol("[") {
                self.position += 1;
                let index = match self.next() {
                    Some(Token {
                        kind: TokenKind::Number(number),
                        ..
                    }) if number.fract() == 0.0 && *number >= 0.0 => *number as usize,
                    _ => {
                        self.position -= 1;
                        return Err(self.unexpected("a literal index"));
                    }
                };
                self.expect_symbol("]")?;
                node = Node::Index {
                    base: Box::new(node),
                    index,
                };
            } else {
                return Ok(node);
            }
        }
    }

    fn term(&mut self) -> Result<Node, FhirPathError> {
        let Some(token) = self.next().cloned() else {
            return Err(self.unexpected("a term"));
        };
        match token.kind {
            TokenKind::Symbol("(") => {
                let inner = self.expression(0)?;
                self.expect_symbol(")")?;
                Ok(inner)
            }
            TokenKind::Symbol("{") => {
                self.expect_symbol("}")?;
                Ok(Node::Empty)
            }
            TokenKind::Symbol(symbol @ ("-" | "+")) => Err(FhirPathError::UnsupportedOperator {
                operator: format!("unary {symbol}"),
            }),
            TokenKind::String(text) => Ok(Node::String(text)),
            TokenKind::Number(number) => Ok(Node::Number(number)),
            TokenKind::Variable(name) => match name.as_str() {
                "resource" | "rootResource" | "context" => Ok(Node::Resource),
                "ucum" => Ok(Node::String("http://unitsofmeasure.org".to_owned())),
                "sct" => Ok(Node::String("http://snomed.info/sct".to_owned())),
                "loinc" => Ok(Node::String("http://loinc.org".to_owned())),
                _ => Err(FhirPathError::UnsupportedVariable { name }),
            },
            TokenKind::Special(name) if name == "this" => Ok(Node::This),
            TokenKind::Special(name) => Err(FhirPathError::UnsupportedVariable { name }),
            TokenKind::Identifier(name) => {
                if self.at_symbol("(") {
                    return self.function(Node::This, &name);
                }
                match name.as_str() {
                    "true" => Ok(Node::Boolean(true)),
                    "false" => Ok(Node::Boolean(false)),
                    _ if name.starts_with(|c: char| c.is_ascii_uppercase()) => {
                        Ok(Node::TypeName(name))
                    }
                    _ => Ok(member_node(Node::This, name)),
                }
            }
            TokenKind::Symbol(_) => {
                self.position -= 1;
                Err(self.unexpected("a term"))
            }
        }
    }

    /// Parses the argument list of `name(` and builds the call on `base`.
    fn function(&mut self, base: Node, name: &str) -> Result<Node, FhirPathError> {
        let open_offset = self.peek().map_or(0, |token| token.offset);
        self.expect_symbol("(")?;
        let mut arguments = Vec::new();
        if !self.at_symbol(")") {
            loop {
                arguments.push(self.expression(0)?);
                if self.at_symbol(",") {
                    self.position += 1;
                } else {
                    break;
                }
            }
        }
        self.expect_symbol(")")?;
        let n_arguments = arguments.len();
        let unsupported = || FhirPathError::UnsupportedFunction {
            name: name.to_owned(),
            n_arguments,
        };
        let invalid_type = FhirPathError::InvalidTypeSpecifier {
            offset: open_offset,
        };
        let mut arguments = arguments.into_iter();
        let argument = arguments.next();
        let function = match (name, argument, n_arguments) {
            ("where", Some(criteria), 1) => Function::Where(Box::new(criteria)),
            ("exists", None, 0) => Function::Exists(None),
            ("exists", Some(criteria), 1) => Function::Exists(Some(Box::new(criteria))),
            ("empty", None, 0) => Function::Empty,
            ("not", None, 0) => Function::Not,
            ("first", None, 0) => Function::First,
            ("last", None, 0) => Function::Last,
            ("count", None, 0) => Function::Count,
            ("resolve", None, 0) => Function::Resolve,
            ("extension", Some(Node::String(url)), 1) => Function::Extension(url),
            ("hasExtension", Some(Node::String(url)), 1) => Function::HasExtension(url),
            ("as", Some(argument), 1) => {
                let type_specifier = type_specifier_from_node(&argument).ok_or(invalid_type)?;
                return Ok(Node::As {
                    base: Box::new(base),
                    type_specifier,
                });
            }
            ("ofType", Some(argument), 1) => {
                Function::OfType(type_specifier_from_node(&argument).ok_or(invalid_type)?)
            }
            ("is", Some(argument), 1) => {
                Function::Is(type_specifier_from_node(&argument).ok_or(invalid_type)?)
            }
            _ => return Err(unsupported()),
        };
        Ok(Node::Call {
            base: Box::new(base),
            function,
        })
    }

    /// A type specifier after `is` or `as`: an identifier, optionally qualified (`FHIR.Quantity`,
    /// `System.String`).
    fn type_specifier(&mut self, operator_offset: usize) -> Result<TypeSpecifier, FhirPathError> {
        let mut name = match self.next() {
            Some(Token {
                kind: TokenKind::Identifier(name),
                ..
            }) => name.clone(),
            _ => {
                return Err(FhirPathError::InvalidTypeSpecifier {
                    offset: operator_offset,
                });
            }
        };
        if self.at_symbol(".")
            && let Some(Token {
                kind: TokenKind::Identifier(qualified),
                ..
            }) = self.tokens.get(self.position + 1)
            && (name == "FHIR" || name == "System")
        {
            name = qualified.clone();
            self.position += 2;
        }
        Ok(type_specifier_from_name(&name))
    }
}

fn member_node(base: Node, name: String) -> Node {
    let choice = CHOICE_ELEMENT_NAMES.contains(&name.as_str());
    Node::Member {
        base: Box::new(base),
        name,
        choice,
    }
}

fn type_specifier_from_name(name: &str) -> TypeSpecifier {
    match FhirType::from_name(name) {
        Some(fhir_type) => TypeSpecifier::Data(fhir_type),
        None => TypeSpecifier::Resource(name.to_owned()),
    }
}

/// Reads a type specifier written as a function argument (`as(Quantity)`, `ofType(FHIR.Reference)`),
/// which the parser first sees as an ordinary term.
fn type_specifier_from_node(node: &Node) -> Option<TypeSpecifier> {
    match node {
        Node::TypeName(name) => Some(type_specifier_from_name(name)),
        Node::Member { base, name, .. } => match base.as_ref() {
            Node::This => Some(type_specifier_from_name(name)),
            Node::TypeName(namespace) if namespace == "FHIR" || namespace == "System" => {
                Some(type_specifier_from_name(name))
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Evaluates `source` on `resource` (specialized to its type) and renders the result compactly.
    #[track_caller]
    fn check(resource: &Value, source: &str, expected: &[Value]) {
        let resource_type = resource["resourceType"].as_str().unwrap();
        let expression = Expression::parse(source).unwrap().specialize(resource_type);
        let result: Vec<Value> = expression.evaluate(resource).iter().map(render).collect();
        assert_eq!(result, expected, "{source}");
    }

    fn render(item: &Item<'_>) -> Value {
        match item {
            Item::Json {
                value,
                fhir_type: None,
            } => (*value).clone(),
            Item::Json {
                value,
                fhir_type: Some(fhir_type),
            } => json!({ fhir_type.name(): value }),
            Item::Boolean(boolean) => json!(boolean),
            Item::String(text) => json!(text),
            Item::Number(number) => json!(number),
            Item::ResolvedReference { resource_type } => json!({ "resolved": resource_type }),
        }
    }

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "id": "p1",
            "name": [
                {"family": "Chalmers", "given": ["Peter", "James"]},
                {"use": "usual", "given": ["Jim"]}
            ],
            "telecom": [
                {"system": "phone", "value": "555-1"},
                {"system": "email", "value": "a@b.c"}
            ],
            "deceasedBoolean": false,
            "extension": [
                {"url": "http://x/maiden", "valueString": "Smith"},
                {"url": "http://x/other", "valueCode": "x"}
            ],
            "generalPractitioner": [
                {"reference": "Practitioner/pr1"},
                {"reference": "Organization/o1"}
            ]
        })
    }

    #[test]
    fn paths_flatten_arrays() {
        check(
            &patient(),
            "Patient.name.given",
            &[json!("Peter"), json!("James"), json!("Jim")],
        );
        check(&patient(), "Patient.name.family", &[json!("Chalmers")]);
        check(&patient(), "Patient.id", &[json!("p1")]);
        check(&patient(), "Resource.id", &[json!("p1")]);
        check(&patient(), "Patient.missing.more", &[]);
    }

    #[test]
    fn type_prefix_selects_the_branch() {
        check(
            &patient(),
            "Practitioner.name.family | Patient.name.family",
            &[json!("Chalmers")],
        );
        check(&patient(), "Practitioner.name.family", &[]);
        let expression = Expression::parse("Practitioner.name | Person.name").unwrap();
        assert!(expression.specialize("Patient").is_empty());
        assert!(!expression.specialize("Person").is_empty());
    }

    #[test]
    fn unions_remove_duplicate_nodes() {
        check(
            &patient(),
            "Patient.name.family | Patient.name.family",
            &[json!("Chalmers")],
        );
    }

    #[test]
    fn where_with_equality() {
        check(
            &patient(),
            "Patient.telecom.where(system='email').value",
            &[json!("a@b.c")],
        );
        check(
            &patient(),
            "Patient.telecom.where(system!='email').value",
            &[json!("555-1")],
        );
        check(
            &patient(),
            "Patient.name.where(use='usual').given",
            &[json!("Jim")],
        );
    }

    #[test]
    fn where_resolve_is_type() {
        check(
            &patient(),
            "Patient.generalPractitioner.where(resolve() is Practitioner)",
            &[json!({"reference": "Practitioner/pr1"})],
        );
        let observation = json!({
            "resourceType": "Observation",
            "subject": {"reference": "http://example.org/fhir/Patient/p1/_history/2"},
            "performer": [{"type": "Patient", "identifier": {"value": "x"}}, {"reference": "urn:uuid:1"}]
        });
        check(
            &observation,
            "Observation.subject.where(resolve() is Patient)",
            &[json!({"reference": "http://example.org/fhir/Patient/p1/_history/2"})],
        );
        check(
            &observation,
            "Observation.performer.where(resolve() is Patient)",
            &[json!({"type": "Patient", "identifier": {"value": "x"}})],
        );
    }

    #[test]
    fn choice_elements_and_casts() {
        let observation = json!({
            "resourceType": "Observation",
            "valueQuantity": {"value": 185, "unit": "lbs"},
            "effectiveDateTime": "2020-01-01",
            "component": [
                {"code": {"text": "a"}, "valueQuantity": {"value": 1}},
                {"code": {"text": "b"}, "valueString": "two"}
            ]
        });
        check(
            &observation,
            "Observation.value",
            &[json!({"Quantity": {"value": 185, "unit": "lbs"}})],
        );
        check(
            &observation,
            "(Observation.value as Quantity)",
            &[json!({"Quantity": {"value": 185, "unit": "lbs"}})],
        );
        check(&observation, "Observation.value as CodeableConcept", &[]);
        check(
            &observation,
            "Observation.value.as(Quantity).value",
            &[json!(185)],
        );
        check(
            &observation,
            "Observation.effective.as(DateTime)",
            &[json!({"dateTime": "2020-01-01"})],
        );
        check(
            &observation,
            "(Observation.effective as dateTime) | (Observation.effective as Period)",
            &[json!({"dateTime": "2020-01-01"})],
        );
        check(
            &observation,
            "Observation.component.value.ofType(string)",
            &[json!({"string": "two"})],
        );
        check(
            &observation,
            "Observation.component.value as Quantity",
            &[json!({"Quantity": {"value": 1}})],
        );
    }

    #[test]
    fn subtypes_pass_casts() {
        let condition =
            json!({"resourceType": "Condition", "onsetAge": {"value": 52, "unit": "a"}});
        check(
            &condition,
            "Condition.onset.as(Quantity)",
            &[json!({"Age": {"value": 52, "unit": "a"}})],
        );
        check(
            &condition,
            "Condition.onset.as(Age) | Condition.onset.as(Range)",
            &[json!({"Age": {"value": 52, "unit": "a"}})],
        );
        check(&condition, "Condition.onset.as(dateTime)", &[]);
    }

    #[test]
    fn exists_and_not_equal() {
        let source = "Patient.deceased.exists() and Patient.deceased != false";
        check(&patient(), source, &[json!(false)]);
        let dead = json!({"resourceType": "Patient", "deceasedDateTime": "2015-02-01"});
        check(&dead, source, &[json!(true)]);
        let alive = json!({"resourceType": "Patient"});
        check(&alive, source, &[json!(false)]);
        let dead = json!({"resourceType": "Patient", "deceasedBoolean": true});
        check(&dead, source, &[json!(true)]);
    }

    #[test]
    fn extensions() {
        check(
            &patient(),
            "Patient.extension('http://x/maiden')",
            &[json!({
                "Extension": {"url": "http://x/maiden", "valueString": "Smith"}
            })],
        );
        check(
            &patient(),
            "Patient.extension('http://x/maiden').value",
            &[json!({"string": "Smith"})],
        );
        check(
            &patient(),
            "Patient.where(hasExtension('http://x/other')).id",
            &[json!("p1")],
        );
        check(
            &patient(),
            "Patient.where(hasExtension('http://x/none')).id",
            &[],
        );
    }

    /// The shapes of the Plan-Net guide's expressions: extensions picked with `where(url=…)`,
    /// nested ones, their `value`, and a union of paths without a type prefix.
    #[test]
    fn plan_net_expression_shapes() {
        let role = json!({
            "resourceType": "PractitionerRole",
            "extension": [
                {"url": "http://x/network-reference", "valueReference": {"reference": "Organization/n"}},
                {"url": "http://x/other", "valueString": "o"},
                {"url": "http://x/delivery-method", "extension": [
                    {"url": "type", "valueCodeableConcept": {"text": "virtual"}},
                    {"url": "virtualModalities", "valueCodeableConcept": {"text": "phone"}}
                ]}
            ]
        });
        check(
            &role,
            "PractitionerRole.extension.where(url='http://x/network-reference')",
            &[
                json!({"url": "http://x/network-reference", "valueReference": {"reference": "Organization/n"}}),
            ],
        );
        check(
            &role,
            "PractitionerRole.extension.where(url='http://x/network-reference').value",
            &[json!({"Reference": {"reference": "Organization/n"}})],
        );
        check(
            &role,
            "PractitionerRole.extension.where(url='http://x/delivery-method').extension.where(url='type')",
            &[json!({"url": "type", "valueCodeableConcept": {"text": "virtual"}})],
        );
        let plan = json!({"resourceType": "InsurancePlan", "name": "Gold", "alias": ["G", "Au"]});
        check(
            &plan,
            "name | alias",
            &[json!("Gold"), json!("G"), json!("Au")],
        );
    }

    #[test]
    fn indexing_and_first() {
        let bundle = json!({
            "resourceType": "Bundle",
            "entry": [{"resource": {"resourceType": "Composition", "id": "c"}}, {"resource": {"id": "d"}}]
        });
        check(&bundle, "Bundle.entry[0].resource.id", &[json!("c")]);
        check(&bundle, "Bundle.entry[1].resource.id", &[json!("d")]);
        check(&bundle, "Bundle.entry[2].resource.id", &[]);
        check(&bundle, "Bundle.entry.resource.id.first()", &[json!("c")]);
        check(&bundle, "Bundle.entry.resource.id.last()", &[json!("d")]);
        check(&bundle, "Bundle.entry.count()", &[json!(2.0)]);
    }

    #[test]
    fn resource_variable() {
        let sequence = json!({
            "resourceType": "MolecularSequence",
            "referenceSeq": {"chromosome": {"text": "1"}},
            "variant": [{"start": 1}]
        });
        let expression = Expression::parse("%resource.referenceSeq.chromosome").unwrap();
        let mut out = Vec::new();
        expression.evaluate_into(&sequence, Item::json(&sequence["variant"][0]), &mut out);
        assert_eq!(
            out.iter().map(render).collect::<Vec<_>>(),
            [json!({"text": "1"})]
        );
    }

    #[test]
    fn null_placeholders_are_skipped() {
        let patient = json!({"resourceType": "Patient", "name": [{"given": ["A", null, "C"]}]});
        check(&patient, "Patient.name.given", &[json!("A"), json!("C")]);
    }

    #[test]
    fn unsupported_syntax_is_an_error() {
        for source in [
            "Patient.name.select(given)",
            "Patient.birthDate < today()",
            "Patient.a + 1",
            "Patient.a implies Patient.b",
            "%vs-something",
            "Patient.name[",
            "Patient.name.",
            "'open",
            "Patient.name #",
            "-1",
            "Patient.name.as(Quantity, 1)",
            "Patient.name.as('x')",
            "Patient.name.extension(1)",
        ] {
            assert!(Expression::parse(source).is_err(), "{source}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            Expression::parse("Patient.name.select(given)")
                .unwrap_err()
                .to_string(),
            "unsupported function select() with 1 argument(s)"
        );
        assert_eq!(
            Expression::parse("Patient.a implies Patient.b")
                .unwrap_err()
                .to_string(),
            "unsupported operator implies"
        );
    }

    #[test]
    fn literals_and_comments() {
        check(&patient(), "'a\\'b'", &[json!("a'b")]);
        check(&patient(), "true", &[json!(true)]);
        check(&patient(), "{}", &[]);
        check(&patient(), "Patient.id // trailing comment", &[json!("p1")]);
        check(&patient(), "Patient.`id`", &[json!("p1")]);
        check(&patient(), "%ucum", &[json!("http://unitsofmeasure.org")]);
    }

    #[test]
    fn type_names() {
        assert_eq!(FhirType::from_name("DateTime"), Some(FhirType::DateTime));
        assert_eq!(FhirType::from_name("dateTime"), Some(FhirType::DateTime));
        assert_eq!(FhirType::from_name("quantity"), Some(FhirType::Quantity));
        assert_eq!(FhirType::from_name("Set"), None);
        assert_eq!(FhirType::from_name(""), None);
        for (name, fhir_type) in FHIR_TYPE_NAMES {
            assert_eq!(fhir_type.name(), *name);
        }
        assert!(FhirType::Age.is_a(FhirType::Quantity));
        assert!(!FhirType::Quantity.is_a(FhirType::Age));
        assert!(FhirType::Canonical.is_a(FhirType::Uri));
    }

    #[test]
    fn reference_target_types() {
        assert_eq!(
            reference_target_type(&json!({"reference": "Patient/1"})),
            Some("Patient")
        );
        assert_eq!(
            reference_target_type(&json!({"reference": "http://a/b/Patient/1/_history/3"})),
            Some("Patient")
        );
        assert_eq!(
            reference_target_type(&json!({"reference": "urn:uuid:abc"})),
            None
        );
        assert_eq!(reference_target_type(&json!({"reference": "#c1"})), None);
        assert_eq!(
            reference_target_type(&json!({"reference": "urn:uuid:abc", "type": "Group"})),
            Some("Group")
        );
        assert_eq!(
            reference_target_type(&json!("http://hl7.org/fhir/ValueSet/x|4.0.1")),
            Some("ValueSet")
        );
    }
}
