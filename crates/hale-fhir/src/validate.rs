//! Structural validation of a resource on write, against the R4 structure table.
//!
//! [`validate_resource`] checks what the [JSON representation](https://hl7.org/fhir/R4/json.html)
//! and the base StructureDefinitions say about a resource, and nothing more: every property is a
//! known element of its parent (choice elements such as `value[x]` spelled `valueQuantity`,
//! primitive extensions such as `_birthDate`), singletons are not arrays and repeating elements
//! are, required elements (`min ≥ 1`) are present, nothing is empty or `null` where FHIR forbids
//! it, and each primitive has the right JSON type and the format of its
//! [data type](https://hl7.org/fhir/R4/datatypes.html#primitive). Contained resources,
//! `Bundle.entry.resource` and `Parameters.parameter.resource` are validated as resources.
//! Invariants (FHIRPath constraints), terminology bindings, profiles and reference targets are not
//! checked.
//!
//! The validator runs on every write, so it is built for speed: the element tree is indexed once
//! (a [`LazyLock`]) into per-element child lists that are binary-searched by a hash of the JSON
//! property name, the walk allocates nothing but its location stack while the resource is valid,
//! and the location of an issue is rendered from that stack of borrowed property names only when
//! there is an issue to report. A Patient of a few kilobytes validates in a few microseconds in a
//! release build, a fraction of the time it takes to parse it.
//!
//! Messages describe what was expected but never echo the offending value, because issues end up
//! in logs and a value may be patient data.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::definitions;
use crate::generated::R4_STRUCTURES;
use crate::outcome::{Issue, IssueType};
use crate::table::{ElementDef, Max, StructureKind};

/// At most this many issues are reported for one resource; the rest are dropped.
pub const MAX_ISSUES: usize = 100;

/// How deep the validator follows nested elements and resources before giving up on a branch.
///
/// Recursive structures (`Extension.extension`, `Questionnaire.item.item`, resources inside
/// Bundles inside Parameters) make the depth of valid content unbounded, and the walk is
/// recursive, so a limit keeps hostile input from exhausting the stack. Real resources stay far
/// below it.
pub const MAX_DEPTH: usize = 64;

/// Strings longer than this are rejected: the [string](https://hl7.org/fhir/R4/datatypes.html#string)
/// data type "SHALL NOT exceed 1MB in size". The limit is the string type's own, so it does not
/// apply to xhtml narratives or base64Binary attachments, which are often larger.
const MAX_STRING_BYTES: usize = 1024 * 1024;

/// What is wrong, grouped so that each kind maps to one `OperationOutcome.issue.code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// The JSON does not have the shape of the resource: an unknown element, an object where a
    /// primitive belongs (or the reverse), `null`, an empty object or array, a misplaced or unknown
    /// `resourceType`, or nesting deeper than [`MAX_DEPTH`].
    Structure,
    /// An element occurs more often than its maximum cardinality allows, including an array for a
    /// singleton, a single value for a repeating element, or two types of one choice element.
    Cardinality,
    /// An element with minimum cardinality 1 or more is missing.
    Required,
    /// A primitive value has the wrong JSON type or does not match the format of its data type.
    Value,
}

impl IssueKind {
    /// The [IssueType](https://hl7.org/fhir/R4/valueset-issue-type.html) to report this kind as.
    pub fn issue_type(self) -> IssueType {
        match self {
            IssueKind::Structure | IssueKind::Cardinality => IssueType::Structure,
            IssueKind::Required => IssueType::Required,
            IssueKind::Value => IssueType::Value,
        }
    }
}

/// One problem found in a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationIssue {
    /// A FHIRPath-like location such as `Patient.name[0].given[1]`; choice elements keep their JSON
    /// name (`Observation.valueQuantity`) and a primitive's `_name` sibling is located at the
    /// element itself (`Patient.birthDate.extension[0]`).
    pub path: String,
    /// What kind of problem this is.
    pub kind: IssueKind,
    /// A readable description, without the offending value.
    pub message: String,
}

impl ValidationIssue {
    /// The issue as an error of an OperationOutcome, located at [`ValidationIssue::path`].
    pub fn to_outcome_issue(&self) -> Issue {
        Issue::error(self.kind.issue_type(), self.message.clone()).at(self.path.clone())
    }
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Whether `id` is a valid [id](https://hl7.org/fhir/R4/datatypes.html#id): 1 to 64 of
/// `A-Z a-z 0-9 - .`.
pub fn validate_id(id: &str) -> bool {
    crate::types::is_valid_id(id)
}

/// Validates a resource against the R4 base definitions.
///
/// Returns every issue found, up to [`MAX_ISSUES`], in the order in which the JSON objects
/// iterate their keys, with each object's missing required elements after its keys. Never panics,
/// whatever the input.
pub fn validate_resource(resource: &Value) -> Result<(), Vec<ValidationIssue>> {
    let index = &*INDEX;
    let mut validator = Validator {
        index,
        path: Vec::with_capacity(16),
        issues: Vec::new(),
    };
    validator.resource(resource, 0);
    if validator.issues.is_empty() {
        Ok(())
    } else {
        Err(validator.issues)
    }
}

// ---------------------------------------------------------------------------------------------
// The index: the element tree of every structure, arranged for lookups by JSON property name.
// ---------------------------------------------------------------------------------------------

/// The element tree, built once from [`R4_STRUCTURES`].
static INDEX: LazyLock<Index> = LazyLock::new(Index::build);

type NodeId = u32;

/// A FHIR primitive data type, checked by [`check_primitive`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Primitive {
    Boolean,
    Integer,
    PositiveInt,
    UnsignedInt,
    Decimal,
    String,
    Markdown,
    Code,
    Id,
    Uri,
    Url,
    Canonical,
    Oid,
    Uuid,
    Base64Binary,
    Instant,
    Date,
    DateTime,
    Time,
    Xhtml,
}

impl Primitive {
    fn from_type_code(code: &str) -> Option<Self> {
        Some(match code {
            "boolean" => Primitive::Boolean,
            "integer" => Primitive::Integer,
            "positiveInt" => Primitive::PositiveInt,
            "unsignedInt" => Primitive::UnsignedInt,
            "decimal" => Primitive::Decimal,
            "string" => Primitive::String,
            "markdown" => Primitive::Markdown,
            "code" => Primitive::Code,
            "id" => Primitive::Id,
            "uri" => Primitive::Uri,
            "url" => Primitive::Url,
            "canonical" => Primitive::Canonical,
            "oid" => Primitive::Oid,
            "uuid" => Primitive::Uuid,
            "base64Binary" => Primitive::Base64Binary,
            "instant" => Primitive::Instant,
            "date" => Primitive::Date,
            "dateTime" => Primitive::DateTime,
            "time" => Primitive::Time,
            "xhtml" => Primitive::Xhtml,
            _ => return None,
        })
    }
}

/// What the value of one JSON property is validated against.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// A primitive; `_name` may carry its id and extensions.
    Primitive(Primitive),
    /// An object with the children of this node (a complex type or a backbone element).
    Complex(NodeId),
    /// Any resource, identified by its own `resourceType`.
    Resource,
}

/// One JSON property a node allows.
#[derive(Debug)]
struct Child {
    /// [`name_hash`] of `name`, the sort key of [`Node::children`].
    hash: u64,
    /// The JSON property name: the last path segment, with the type appended for a choice.
    name: Box<str>,
    element: &'static ElementDef,
    target: Target,
    /// Whether a `_name` sibling may carry the primitive's id and extensions. Not for `id` of
    /// elements and `Extension.url`, which are attributes in XML and have no extensions.
    allows_primitive_extension: bool,
    /// For a choice, the index of its group in [`Node::choice_groups`].
    choice_group: Option<u8>,
}

/// A choice element such as `value[x]`, for exclusivity checks and messages.
#[derive(Debug)]
struct ChoiceGroup {
    /// The name without `[x]`, such as `value`.
    base_name: &'static str,
    element: &'static ElementDef,
}

/// An element that must be present, with the JSON properties that count as its presence.
#[derive(Debug)]
struct Required {
    element: &'static ElementDef,
    property_names: Vec<Box<str>>,
}

/// An element with children: a structure root or a backbone element.
#[derive(Debug, Default)]
struct Node {
    /// Sorted by `(hash, name)`, for binary search on the hash.
    children: Vec<Child>,
    /// The hashes of `children`, apart so that the binary search touches few cache lines.
    child_hashes: Vec<u64>,
    choice_groups: Vec<ChoiceGroup>,
    required: Vec<Required>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Child> {
        let hash = name_hash(name);
        let start = self
            .child_hashes
            .partition_point(|&child_hash| child_hash < hash);
        self.children[start..]
            .iter()
            .take_while(|child| child.hash == hash)
            .find(|child| *child.name == *name)
    }
}

/// 64-bit FNV-1a of a name.
///
/// Lookups binary-search on this hash and compare names only on a hash match: comparing strings
/// at every step of the search costs a `memcmp` call each, which dominated validation time.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Debug)]
struct Index {
    nodes: Vec<Node>,
    /// The root node of each concrete resource type with the [`name_hash`] of its name, sorted by
    /// `(hash, name)`.
    resource_roots: Vec<(u64, &'static str, NodeId)>,
    /// The node of the `Element` structure, for the objects in `_name` properties.
    element_node: NodeId,
}

impl Index {
    fn build() -> Index {
        // Every element path that has children gets a node; structure roots always do. Paths are
        // unique across the table because every path starts with its structure's name.
        let mut node_by_path: HashMap<&'static str, NodeId> = HashMap::new();
        let mut members: Vec<Vec<&'static ElementDef>> = Vec::new();
        let mut node_is_resource_root: Vec<bool> = Vec::new();
        let mut resource_roots = Vec::new();
        for structure in R4_STRUCTURES {
            let root = node_id(members.len());
            node_by_path.insert(structure.name, root);
            members.push(Vec::new());
            node_is_resource_root.push(structure.kind == StructureKind::Resource);
            if definitions::is_resource_type(structure.name) {
                resource_roots.push((name_hash(structure.name), structure.name, root));
            }
        }
        resource_roots.sort_unstable();
        for structure in R4_STRUCTURES {
            for element in structure.elements.iter().skip(1) {
                let Some((parent_path, _)) = element.path.rsplit_once('.') else {
                    continue;
                };
                let parent = *node_by_path.entry(parent_path).or_insert_with(|| {
                    members.push(Vec::new());
                    node_is_resource_root.push(false);
                    node_id(members.len() - 1)
                });
                members[parent as usize].push(element);
            }
        }

        let element_node = node_by_path.get("Element").copied().unwrap_or(0);
        let target_of = |element: &'static ElementDef, type_code: &str| -> Option<Target> {
            if let Some(&node) = node_by_path.get(element.path) {
                return Some(Target::Complex(node));
            }
            if let Some(reference) = element.content_reference {
                return node_by_path
                    .get(reference)
                    .map(|&node| Target::Complex(node));
            }
            if type_code == "Resource" {
                return Some(Target::Resource);
            }
            if let Some(primitive) = Primitive::from_type_code(type_code) {
                return Some(Target::Primitive(primitive));
            }
            node_by_path
                .get(type_code)
                .map(|&node| Target::Complex(node))
        };

        let nodes = members
            .iter()
            .zip(&node_is_resource_root)
            .map(|(elements, &is_resource_root)| {
                let mut node = Node::default();
                for &element in elements {
                    let name = element.path.rsplit('.').next().unwrap_or(element.path);
                    let mut property_names = Vec::new();
                    if let Some(base_name) = name.strip_suffix("[x]") {
                        let group = u8::try_from(node.choice_groups.len()).ok();
                        node.choice_groups.push(ChoiceGroup { base_name, element });
                        for &type_code in element.types {
                            let Some(target) = target_of(element, type_code) else {
                                continue;
                            };
                            let name = choice_property_name(base_name, type_code);
                            push_property_names(&mut property_names, &name, target);
                            node.children.push(Child {
                                hash: name_hash(&name),
                                name: name.into(),
                                element,
                                target,
                                allows_primitive_extension: true,
                                choice_group: group,
                            });
                        }
                    } else {
                        let type_code = element.types.first().copied().unwrap_or_default();
                        let target = if is_resource_root && name == "id" {
                            // R4 publishes `Resource.id` as a plain string, but the resource page
                            // and the id data type say it is an `id`, and ids must be checked.
                            Some(Target::Primitive(Primitive::Id))
                        } else {
                            target_of(element, type_code)
                        };
                        let Some(target) = target else {
                            continue;
                        };
                        push_property_names(&mut property_names, name, target);
                        let is_attribute =
                            (name == "id" && !is_resource_root) || element.path == "Extension.url";
                        node.children.push(Child {
                            hash: name_hash(name),
                            name: name.into(),
                            element,
                            target,
                            allows_primitive_extension: !is_attribute,
                            choice_group: None,
                        });
                    }
                    if element.min > 0 {
                        node.required.push(Required {
                            element,
                            property_names,
                        });
                    }
                }
                node.children
                    .sort_by(|a, b| (a.hash, &a.name).cmp(&(b.hash, &b.name)));
                node.child_hashes = node.children.iter().map(|child| child.hash).collect();
                node
            })
            .collect();

        Index {
            nodes,
            resource_roots,
            element_node,
        }
    }

    fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The root node of a concrete resource type.
    fn resource_root(&self, resource_type: &str) -> Option<NodeId> {
        let hash = name_hash(resource_type);
        let start = self.resource_roots.partition_point(|entry| entry.0 < hash);
        self.resource_roots[start..]
            .iter()
            .take_while(|entry| entry.0 == hash)
            .find(|entry| entry.1 == resource_type)
            .map(|entry| entry.2)
    }
}

fn node_id(idx: usize) -> NodeId {
    NodeId::try_from(idx).unwrap_or(NodeId::MAX)
}

/// `value` + `Quantity` → `valueQuantity`; `value` + `dateTime` → `valueDateTime`.
fn choice_property_name(base_name: &str, type_code: &str) -> String {
    let mut name = String::with_capacity(base_name.len() + type_code.len());
    name.push_str(base_name);
    let mut chars = type_code.chars();
    if let Some(first) = chars.next() {
        name.extend(first.to_uppercase());
        name.push_str(chars.as_str());
    }
    name
}

fn push_property_names(names: &mut Vec<Box<str>>, name: &str, target: Target) {
    names.push(name.into());
    if matches!(target, Target::Primitive(_)) {
        names.push(format!("_{name}").into());
    }
}

// ---------------------------------------------------------------------------------------------
// The walk.
// ---------------------------------------------------------------------------------------------

/// One step of the location of the value being validated.
#[derive(Clone, Copy, Debug)]
enum Segment<'a> {
    /// The resource type at the root, or an element name.
    Name(&'a str),
    /// A position in an array.
    Index(usize),
}

struct Validator<'a> {
    index: &'static Index,
    /// The location of the value being validated, rendered only when there is an issue.
    path: Vec<Segment<'a>>,
    issues: Vec<ValidationIssue>,
}

impl<'a> Validator<'a> {
    fn is_full(&self) -> bool {
        self.issues.len() >= MAX_ISSUES
    }

    fn report(&mut self, kind: IssueKind, message: impl FnOnce() -> String) {
        self.report_at(None, kind, message);
    }

    /// Reports an issue at the current location, or at its child `child` if given.
    fn report_at(
        &mut self,
        child: Option<&str>,
        kind: IssueKind,
        message: impl FnOnce() -> String,
    ) {
        if self.is_full() {
            return;
        }
        let mut path = String::new();
        for segment in self.path.iter().copied().chain(child.map(Segment::Name)) {
            match segment {
                Segment::Name(name) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
                Segment::Index(idx) => {
                    path.push('[');
                    path.push_str(&idx.to_string());
                    path.push(']');
                }
            }
        }
        self.issues.push(ValidationIssue {
            path,
            kind,
            message: message(),
        });
    }

    /// Validates `value` as a resource of any type, at the current location (which does not yet
    /// include the resource type when this is the root).
    fn resource(&mut self, value: &'a Value, depth: usize) {
        let Some(object) = value.as_object() else {
            self.report(IssueKind::Structure, || {
                format!("A resource must be a JSON object, not {}", json_kind(value))
            });
            return;
        };
        let Some(resource_type_value) = object.get("resourceType") else {
            self.report(IssueKind::Structure, || {
                "A resource must have a `resourceType`".to_owned()
            });
            return;
        };
        let Some(resource_type) = resource_type_value.as_str() else {
            self.report_at(Some("resourceType"), IssueKind::Structure, || {
                "`resourceType` must be a string".to_owned()
            });
            return;
        };
        let Some(root) = self.index.resource_root(resource_type) else {
            self.report_at(Some("resourceType"), IssueKind::Structure, || {
                "`resourceType` is not a concrete R4 resource type".to_owned()
            });
            return;
        };
        // At the root the location starts with the resource type; a nested resource is located by
        // the element that holds it (`Bundle.entry[0].resource`).
        let is_root = self.path.is_empty();
        if is_root {
            self.path.push(Segment::Name(resource_type));
        }
        self.object(root, object, true, depth);
        if is_root {
            self.path.pop();
        }
    }

    fn object(
        &mut self,
        node_id: NodeId,
        object: &'a Map<String, Value>,
        is_resource: bool,
        depth: usize,
    ) {
        if depth >= MAX_DEPTH {
            self.report(IssueKind::Structure, || {
                format!("Content is nested more than {MAX_DEPTH} levels deep")
            });
            return;
        }
        if object.is_empty() {
            self.report(IssueKind::Structure, || {
                "Objects must not be empty".to_owned()
            });
            return;
        }
        let node = self.index.node(node_id);
        let mut choices_seen: u64 = 0;
        for (key, value) in object {
            if self.is_full() {
                return;
            }
            if key == "resourceType" && is_resource {
                continue;
            }
            if let Some(name) = key.strip_prefix('_') {
                match node.child(name) {
                    Some(child)
                        if child.allows_primitive_extension
                            && matches!(child.target, Target::Primitive(_)) =>
                    {
                        self.path.push(Segment::Name(name));
                        self.primitive_extension(child, value, object.get(name), depth);
                        self.path.pop();
                    }
                    _ => self.unknown_element(node, key),
                }
                continue;
            }
            let Some(child) = node.child(key) else {
                self.unknown_element(node, key);
                continue;
            };
            if let Some(group) = child.choice_group {
                let bit = 1u64.checked_shl(u32::from(group)).unwrap_or(0);
                if choices_seen & bit != 0 {
                    let base_name = node.choice_groups[usize::from(group)].base_name;
                    self.report_at(Some(key), IssueKind::Cardinality, || {
                        format!("Only one type of `{base_name}[x]` may be present")
                    });
                    continue;
                }
                choices_seen |= bit;
            }
            self.path.push(Segment::Name(key));
            // The `_name` sibling matters only for arrays of primitives, where it may stand in for
            // `null` items, so only they pay for the lookup.
            let partner = match (child.target, value) {
                (Target::Primitive(_), Value::Array(_)) => underscore_sibling(object, key),
                _ => None,
            };
            self.element(child, value, partner, depth);
            self.path.pop();
        }
        for required in &node.required {
            let is_present = required
                .property_names
                .iter()
                .any(|name| object.contains_key(&**name));
            if !is_present {
                let name = last_segment(required.element.path);
                self.report_at(Some(name), IssueKind::Required, || {
                    format!(
                        "Missing required element `{name}` (minimum cardinality {})",
                        required.element.min
                    )
                });
            }
        }
    }

    fn unknown_element(&mut self, node: &Node, key: &'a str) {
        // Elsewhere `resourceType` is an ordinary name: `ExampleScenario.instance.resourceType`
        // is a real element, found by the lookup before this.
        if key == "resourceType" {
            self.report_at(Some(key), IssueKind::Structure, || {
                "`resourceType` is only allowed at the root of a resource".to_owned()
            });
            return;
        }
        let choice = node
            .choice_groups
            .iter()
            .find(|group| key.trim_start_matches('_').starts_with(group.base_name));
        self.report_at(Some(key), IssueKind::Structure, || match choice {
            Some(group) => format!(
                "`{key}` is not a valid type for the choice element `{}`; allowed types: {}",
                last_segment(group.element.path),
                group.element.types.join(", ")
            ),
            None if key.starts_with('_') => {
                format!("Unknown element `{key}`: only primitive elements have `_` siblings")
            }
            None => format!("Unknown element `{key}`"),
        });
    }

    /// Validates the value of a known property, including its cardinality. `partner` is the `_name`
    /// sibling of a primitive, whose entries may stand in for `null` array items.
    fn element(
        &mut self,
        child: &Child,
        value: &'a Value,
        partner: Option<&'a Value>,
        depth: usize,
    ) {
        match (child.element.max, value) {
            (Max::Bounded(0), _) => {
                self.report(IssueKind::Cardinality, || {
                    "This element is not allowed (maximum cardinality 0)".to_owned()
                });
            }
            (Max::Bounded(1), Value::Array(_)) => {
                self.report(IssueKind::Cardinality, || {
                    "This element is a single value and must not be an array (maximum cardinality 1)".to_owned()
                });
            }
            (Max::Bounded(1), _) => self.item(child.target, value, false, depth),
            (max, Value::Array(items)) => {
                if items.is_empty() {
                    self.report(IssueKind::Structure, || {
                        "Arrays must not be empty".to_owned()
                    });
                    return;
                }
                if let Max::Bounded(max) = max
                    && items.len() > max as usize
                {
                    self.report(IssueKind::Cardinality, || {
                        format!("At most {max} items are allowed")
                    });
                }
                let partner_items = partner.and_then(Value::as_array);
                if let Some(partner_items) = partner_items
                    && partner_items.len() != items.len()
                {
                    self.report(IssueKind::Structure, || {
                        "The array and its `_` sibling must have the same length".to_owned()
                    });
                }
                for (idx, item) in items.iter().enumerate() {
                    if self.is_full() {
                        return;
                    }
                    let partner_is_present = partner_items
                        .and_then(|partner_items| partner_items.get(idx))
                        .is_some_and(|partner_item| !partner_item.is_null());
                    self.path.push(Segment::Index(idx));
                    self.item(child.target, item, partner_is_present, depth);
                    self.path.pop();
                }
            }
            (_, _) => {
                self.report(IssueKind::Cardinality, || {
                    "This element repeats and must be an array".to_owned()
                });
            }
        }
    }

    /// Validates one value (an array item or a singleton) against its target. `null` is accepted
    /// only where the `_` sibling carries the item instead.
    fn item(&mut self, target: Target, value: &'a Value, may_be_null: bool, depth: usize) {
        if value.is_null() {
            if !may_be_null {
                self.report(IssueKind::Structure, || {
                    "`null` is only allowed in an array of primitives whose `_` sibling has an \
                     item at the same position"
                        .to_owned()
                });
            }
            return;
        }
        match target {
            Target::Primitive(primitive) => {
                if let Some(problem) = check_primitive(primitive, value) {
                    let kind = if value.is_object() || value.is_array() {
                        IssueKind::Structure
                    } else {
                        IssueKind::Value
                    };
                    self.report(kind, || problem.message(primitive, value));
                }
            }
            Target::Complex(node) => match value.as_object() {
                Some(object) => self.object(node, object, false, depth + 1),
                None => self.report(IssueKind::Structure, || {
                    format!("Expected a JSON object, not {}", json_kind(value))
                }),
            },
            Target::Resource => self.resource(value, depth + 1),
        }
    }

    /// Validates the `_name` sibling of a primitive: `Element` objects (id and extensions), shaped
    /// like the primitive itself, with `null` standing in where only the primitive has an item.
    fn primitive_extension(
        &mut self,
        child: &Child,
        value: &'a Value,
        primitive: Option<&'a Value>,
        depth: usize,
    ) {
        let element_node = Target::Complex(self.index.element_node);
        match (child.element.max, value) {
            (Max::Bounded(1), Value::Array(_)) => {
                self.report(IssueKind::Cardinality, || {
                    "This element is a single value, so its `_` sibling must not be an array"
                        .to_owned()
                });
            }
            (Max::Bounded(1), _) => self.item(element_node, value, false, depth),
            (_, Value::Array(items)) => {
                if items.is_empty() {
                    self.report(IssueKind::Structure, || {
                        "Arrays must not be empty".to_owned()
                    });
                    return;
                }
                let primitive_items = primitive.and_then(Value::as_array);
                for (idx, item) in items.iter().enumerate() {
                    if self.is_full() {
                        return;
                    }
                    let primitive_is_present = primitive_items
                        .and_then(|primitive_items| primitive_items.get(idx))
                        .is_some_and(|primitive_item| !primitive_item.is_null());
                    self.path.push(Segment::Index(idx));
                    self.item(element_node, item, primitive_is_present, depth);
                    self.path.pop();
                }
            }
            (_, _) => {
                self.report(IssueKind::Cardinality, || {
                    "This element repeats, so its `_` sibling must be an array".to_owned()
                });
            }
        }
    }
}

/// The value of `_key` in `object`, spelled in a stack buffer so that the lookup allocates nothing.
fn underscore_sibling<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let mut buffer = [0u8; 64];
    let len = key.len() + 1;
    if len > buffer.len() {
        return object.get(&format!("_{key}"));
    }
    buffer[0] = b'_';
    buffer[1..len].copy_from_slice(key.as_bytes());
    std::str::from_utf8(&buffer[..len])
        .ok()
        .and_then(|name| object.get(name))
}

fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// Primitive data types.
// ---------------------------------------------------------------------------------------------

/// Why a primitive value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrimitiveProblem {
    /// The JSON type is wrong (a string for a boolean, an object for a string).
    JsonType,
    /// The string is empty.
    Empty,
    /// The string is longer than [`MAX_STRING_BYTES`].
    TooLong,
    /// The value does not match the format or range of its data type.
    Format,
}

impl PrimitiveProblem {
    fn message(self, primitive: Primitive, value: &Value) -> String {
        let (type_name, expected) = describe(primitive);
        match self {
            PrimitiveProblem::JsonType => {
                let json_type = match primitive {
                    Primitive::Boolean => "a JSON boolean",
                    Primitive::Integer
                    | Primitive::PositiveInt
                    | Primitive::UnsignedInt
                    | Primitive::Decimal => "a JSON number",
                    _ => "a JSON string",
                };
                format!(
                    "A {type_name} must be {json_type}, not {}",
                    json_kind(value)
                )
            }
            PrimitiveProblem::Empty => format!("A {type_name} must not be empty"),
            PrimitiveProblem::TooLong => format!("A {type_name} must not exceed 1 MiB"),
            PrimitiveProblem::Format => format!("Not a valid {type_name}: expected {expected}"),
        }
    }
}

/// The type name and a description of the expected format, for messages.
fn describe(primitive: Primitive) -> (&'static str, &'static str) {
    match primitive {
        Primitive::Boolean => ("boolean", "true or false"),
        Primitive::Integer => ("integer", "a whole number from -2147483648 to 2147483647"),
        Primitive::PositiveInt => ("positiveInt", "a whole number from 1 to 2147483647"),
        Primitive::UnsignedInt => ("unsignedInt", "a whole number from 0 to 2147483647"),
        Primitive::Decimal => ("decimal", "a number"),
        Primitive::String => ("string", "a non-empty string"),
        Primitive::Markdown => ("markdown", "a non-empty string"),
        Primitive::Code => (
            "code",
            "no leading or trailing whitespace and single spaces between words",
        ),
        Primitive::Id => ("id", "1 to 64 of A-Z, a-z, 0-9, '-' and '.'"),
        Primitive::Uri => ("uri", "no whitespace"),
        Primitive::Url => ("url", "no whitespace"),
        Primitive::Canonical => ("canonical", "no whitespace"),
        Primitive::Oid => (
            "oid",
            "urn:oid: followed by dotted numbers, such as urn:oid:1.2.3",
        ),
        Primitive::Uuid => (
            "uuid",
            "urn:uuid: followed by a lower-case UUID, such as urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
        ),
        Primitive::Base64Binary => ("base64Binary", "base64-encoded content"),
        Primitive::Instant => (
            "instant",
            "YYYY-MM-DDThh:mm:ss(.sss)(Z|+hh:mm|-hh:mm), with a time zone",
        ),
        Primitive::Date => ("date", "YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date"),
        Primitive::DateTime => (
            "dateTime",
            "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss(.sss)(Z|+hh:mm|-hh:mm)",
        ),
        Primitive::Time => ("time", "hh:mm:ss(.sss)"),
        Primitive::Xhtml => ("xhtml", "an XHTML <div> element"),
    }
}

/// Checks a non-null primitive value; `None` means it is valid.
fn check_primitive(primitive: Primitive, value: &Value) -> Option<PrimitiveProblem> {
    let is_valid = match primitive {
        Primitive::Boolean => return (!value.is_boolean()).then_some(PrimitiveProblem::JsonType),
        Primitive::Integer | Primitive::PositiveInt | Primitive::UnsignedInt => {
            let Value::Number(number) = value else {
                return Some(PrimitiveProblem::JsonType);
            };
            let min = match primitive {
                Primitive::PositiveInt => 1,
                Primitive::UnsignedInt => 0,
                _ => i64::from(i32::MIN),
            };
            number
                .as_i64()
                .is_some_and(|n| (min..=i64::from(i32::MAX)).contains(&n))
        }
        Primitive::Decimal => return (!value.is_number()).then_some(PrimitiveProblem::JsonType),
        _ => {
            let Value::String(s) = value else {
                return Some(PrimitiveProblem::JsonType);
            };
            if s.is_empty() {
                return Some(PrimitiveProblem::Empty);
            }
            if primitive == Primitive::String && s.len() > MAX_STRING_BYTES {
                return Some(PrimitiveProblem::TooLong);
            }
            check_string_format(primitive, s)
        }
    };
    (!is_valid).then_some(PrimitiveProblem::Format)
}

/// Checks the format of a non-empty string-valued primitive.
fn check_string_format(primitive: Primitive, s: &str) -> bool {
    match primitive {
        Primitive::String | Primitive::Markdown => true,
        Primitive::Code => is_valid_code(s),
        Primitive::Id => validate_id(s),
        Primitive::Uri | Primitive::Url | Primitive::Canonical => {
            !s.bytes().any(is_regex_whitespace)
        }
        Primitive::Oid => is_valid_oid(s),
        Primitive::Uuid => is_valid_uuid(s),
        Primitive::Base64Binary => is_valid_base64(s),
        Primitive::Instant => is_valid_instant(s),
        Primitive::Date => is_valid_date(s),
        Primitive::DateTime => is_valid_date_time(s),
        Primitive::Time => is_valid_time(s),
        Primitive::Xhtml => s.trim_start().starts_with("<div"),
        Primitive::Boolean
        | Primitive::Integer
        | Primitive::PositiveInt
        | Primitive::UnsignedInt
        | Primitive::Decimal => false,
    }
}

/// Whether `b` is in `\s` of the spec's regexes, which (as in Java and XML Schema) is ASCII
/// whitespace only. UTF-8 never puts these bytes inside a multi-byte character, so byte-wise
/// checks are exact.
fn is_regex_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `[^\s]+(\s[^\s]+)*`: no leading, trailing or doubled whitespace.
///
/// Official examples have codes ending in a non-breaking space, which this regex accepts.
fn is_valid_code(s: &str) -> bool {
    let mut previous_is_whitespace = true;
    for b in s.bytes() {
        let is_whitespace = is_regex_whitespace(b);
        if is_whitespace && previous_is_whitespace {
            return false;
        }
        previous_is_whitespace = is_whitespace;
    }
    !previous_is_whitespace
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`.
fn is_valid_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut arcs = rest.split('.');
    let first_is_valid = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut n_arcs = 1;
    for arc in arcs {
        let is_number = !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc == "0" || !arc.starts_with('0'));
        if !is_number {
            return false;
        }
        n_arcs += 1;
    }
    first_is_valid && n_arcs >= 2
}

/// `urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`.
fn is_valid_uuid(s: &str) -> bool {
    let Some(uuid) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    uuid.len() == 36
        && uuid.bytes().enumerate().all(|(idx, b)| match idx {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// Base64 with whitespace allowed anywhere (the R4 regex `(\s*([0-9a-zA-Z\+\=]){4}\s*)+` forgets
/// `/`, which standard base64 needs): a multiple of four characters, padding only at the end.
fn is_valid_base64(s: &str) -> bool {
    let mut n_chars = 0usize;
    let mut n_padding = 0usize;
    for b in s.bytes() {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b'=' => {
                n_padding += 1;
                n_chars += 1;
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if n_padding == 0 => {
                n_chars += 1;
            }
            _ => return false,
        }
    }
    n_chars > 0 && n_chars.is_multiple_of(4) && n_padding <= 2
}

/// The value of exactly `digits.len()` ASCII digits, if they all are digits.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD` at the start of `b`, returning the number of parts
/// and of bytes consumed. Years run from 0001 as in the R4 regexes, and days exist.
fn date_prefix(b: &[u8]) -> Option<(u8, usize)> {
    let year = number(b.get(0..4)?)?;
    if year == 0 {
        return None;
    }
    if b.get(4) != Some(&b'-') {
        return Some((1, 4));
    }
    let month = number(b.get(5..7)?)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if b.get(7) != Some(&b'-') {
        return Some((2, 7));
    }
    let day = number(b.get(8..10)?)?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((3, 10))
}

/// Parses `hh:mm:ss(.s+)?` at the start of `b`, returning the bytes consumed.
fn time_prefix(b: &[u8]) -> Option<usize> {
    let hour = number(b.get(0..2)?)?;
    let minute = number(b.get(3..5)?)?;
    let second = number(b.get(6..8)?)?;
    if b[2] != b':' || b[5] != b':' || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if b.get(8) != Some(&b'.') {
        return Some(8);
    }
    let n_fraction_digits = b[9..].iter().take_while(|b| b.is_ascii_digit()).count();
    (n_fraction_digits > 0).then_some(9 + n_fraction_digits)
}

/// `Z`, or `+hh:mm`/`-hh:mm` from -14:00 to +14:00.
fn is_valid_time_zone(b: &[u8]) -> bool {
    if b == b"Z" {
        return true;
    }
    if b.len() != 6 || !matches!(b[0], b'+' | b'-') || b[3] != b':' {
        return false;
    }
    match (number(&b[1..3]), number(&b[4..6])) {
        (Some(hours), Some(minutes)) => {
            (hours <= 13 && minutes <= 59) || (hours, minutes) == (14, 0)
        }
        _ => false,
    }
}

/// `YYYY-MM-DDThh:mm:ss(.s+)?` followed by a time zone, after a full date at `b[..date_len]`.
fn is_valid_time_after_date(b: &[u8], date_len: usize) -> bool {
    if b.get(date_len) != Some(&b'T') {
        return false;
    }
    let time = &b[date_len + 1..];
    time_prefix(time).is_some_and(|time_len| is_valid_time_zone(&time[time_len..]))
}

fn is_valid_date(s: &str) -> bool {
    date_prefix(s.as_bytes()).is_some_and(|(_, len)| len == s.len())
}

fn is_valid_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    match date_prefix(b) {
        Some((_, len)) if len == b.len() => true,
        Some((3, len)) => is_valid_time_after_date(b, len),
        _ => false,
    }
}

fn is_valid_instant(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(date_prefix(b), Some((3, len)) if is_valid_time_after_date(b, len))
}

fn is_valid_time(s: &str) -> bool {
    time_prefix(s.as_bytes()).is_some_and(|len| len == s.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Validates and returns the kind and location of each issue, sorted by location, because
    /// the order of keys depends on whether serde_json's `preserve_order` feature is enabled.
    #[track_caller]
    fn issues(resource: Value) -> Vec<(IssueKind, String)> {
        let mut issues: Vec<(IssueKind, String)> = match validate_resource(&resource) {
            Ok(()) => Vec::new(),
            Err(issues) => issues
                .into_iter()
                .map(|issue| (issue.kind, issue.path))
                .collect(),
        };
        issues.sort_by(|a, b| a.1.cmp(&b.1));
        issues
    }

    #[track_caller]
    fn assert_valid(resource: Value) {
        if let Err(issues) = validate_resource(&resource) {
            let rendered: Vec<String> = issues.iter().map(ToString::to_string).collect();
            panic!("expected valid, got:\n{}", rendered.join("\n"));
        }
    }

    fn issue(kind: IssueKind, path: &str) -> (IssueKind, String) {
        (kind, path.to_owned())
    }

    #[test]
    fn every_element_of_every_structure_is_indexed() {
        let indexed: std::collections::HashSet<*const ElementDef> = INDEX
            .nodes
            .iter()
            .flat_map(|node| &node.children)
            .map(|child| std::ptr::from_ref(child.element))
            .collect();
        for structure in R4_STRUCTURES {
            for element in &structure.elements[1..] {
                assert!(
                    indexed.contains(&std::ptr::from_ref(element)),
                    "{} has no target",
                    element.path
                );
            }
        }
        assert_eq!(
            INDEX.resource_roots.len(),
            crate::generated::R4_RESOURCE_TYPES.len()
        );
    }

    #[test]
    fn minimal_and_typical_resources_are_valid() {
        assert_valid(json!({"resourceType": "Patient"}));
        assert_valid(json!({
            "resourceType": "Patient",
            "id": "example-1.a",
            "meta": {"versionId": "1", "lastUpdated": "2024-01-02T03:04:05.678Z"},
            "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
            "active": true,
            "name": [{"use": "official", "family": "Chalmers", "given": ["Peter", "James"]}],
            "gender": "male",
            "birthDate": "1974-12-25",
            "_birthDate": {"extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1974-12-25T14:35:45-05:00"
            }]},
            "deceasedBoolean": false,
            "multipleBirthInteger": 2,
            "contact": [{"name": {"family": "du Marché"}, "gender": "female"}],
            "managingOrganization": {"reference": "Organization/1"}
        }));
        assert_valid(json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "valueQuantity": {"value": 67.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
            "component": [{"code": {"text": "x"}, "valueString": "y"}]
        }));
    }

    #[test]
    fn primitive_arrays_may_pair_nulls_with_extensions() {
        assert_valid(json!({
            "resourceType": "Patient",
            "name": [{
                "given": ["Peter", null],
                "_given": [null, {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}]
            }]
        }));
        assert_eq!(
            issues(json!({"resourceType": "Patient", "name": [{"given": ["Peter", null]}]})),
            [issue(IssueKind::Structure, "Patient.name[0].given[1]")]
        );
        assert_eq!(
            issues(
                json!({"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [null]}]})
            ),
            [issue(IssueKind::Structure, "Patient.name[0].given")]
        );
    }

    #[test]
    fn unknown_element() {
        assert_eq!(
            issues(json!({"resourceType": "Patient", "foo": 1, "name": [{"bar": "x"}]})),
            [
                issue(IssueKind::Structure, "Patient.foo"),
                issue(IssueKind::Structure, "Patient.name[0].bar"),
            ]
        );
        // `_` siblings exist only for primitives.
        assert_eq!(
            issues(json!({"resourceType": "Patient", "_name": [{"id": "x"}]})),
            [issue(IssueKind::Structure, "Patient._name")]
        );
        // Elements of a data type are not elements of the resource.
        assert_eq!(
            issues(json!({"resourceType": "Patient", "family": "x"})),
            [issue(IssueKind::Structure, "Patient.family")]
        );
    }

    #[test]
    fn bad_choice_suffix() {
        let result = validate_resource(&json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "valueFoo": "x"
        }));
        let found = result.unwrap_err();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "Observation.valueFoo");
        assert_eq!(found[0].kind, IssueKind::Structure);
        assert!(
            found[0].message.contains("value[x]"),
            "{}",
            found[0].message
        );
        // The choice's type name is case-sensitive: `valuequantity` is not `valueQuantity`.
        assert_eq!(
            issues(
                json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "valuequantity": {"value": 1}})
            ),
            [issue(IssueKind::Structure, "Observation.valuequantity")]
        );
    }

    #[test]
    fn two_types_of_one_choice() {
        assert_eq!(
            issues(
                json!({"resourceType": "Patient", "deceasedBoolean": true, "deceasedDateTime": "2020"})
            ),
            [issue(IssueKind::Cardinality, "Patient.deceasedDateTime")]
        );
    }

    #[test]
    fn wrong_type() {
        assert_eq!(
            issues(json!({
                "resourceType": "Patient",
                "active": "true",
                "name": "Peter",
                "multipleBirthInteger": 1.5,
                "gender": {"code": "male"},
                "contact": [{"gender": 1}]
            })),
            [
                issue(IssueKind::Value, "Patient.active"),
                issue(IssueKind::Value, "Patient.contact[0].gender"),
                issue(IssueKind::Structure, "Patient.gender"),
                issue(IssueKind::Value, "Patient.multipleBirthInteger"),
                issue(IssueKind::Cardinality, "Patient.name"),
            ]
        );
        assert_eq!(
            issues(json!({"resourceType": "Patient", "name": ["Peter"]})),
            [issue(IssueKind::Structure, "Patient.name[0]")]
        );
    }

    #[test]
    fn array_for_singleton_and_singleton_for_array() {
        assert_eq!(
            issues(
                json!({"resourceType": "Patient", "birthDate": ["2000-01-01"], "identifier": {"value": "x"}})
            ),
            [
                issue(IssueKind::Cardinality, "Patient.birthDate"),
                issue(IssueKind::Cardinality, "Patient.identifier"),
            ]
        );
        assert_eq!(
            issues(json!({"resourceType": "Patient", "_birthDate": [{"id": "a"}]})),
            [issue(IssueKind::Cardinality, "Patient.birthDate")]
        );
    }

    #[test]
    fn missing_required() {
        assert_eq!(
            issues(json!({"resourceType": "Observation", "valueString": "x"})),
            [
                issue(IssueKind::Required, "Observation.code"),
                issue(IssueKind::Required, "Observation.status"),
            ]
        );
        // A primitive present only through its extensions counts as present.
        assert_valid(json!({
            "resourceType": "Observation",
            "_status": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]},
            "code": {"text": "x"}
        }));
        // Required elements of backbone elements and data types are checked where they occur.
        assert_eq!(
            issues(
                json!({"resourceType": "Patient", "link": [{"type": "seealso"}], "extension": [{"valueString": "x"}]})
            ),
            [
                issue(IssueKind::Required, "Patient.extension[0].url"),
                issue(IssueKind::Required, "Patient.link[0].other"),
            ]
        );
        // A required choice is present if any of its types is.
        assert_eq!(
            issues(
                json!({"resourceType": "Patient", "extension": [{"url": "http://example.org/a"}]})
            ),
            []
        );
    }

    #[test]
    fn empty_values() {
        assert_eq!(
            issues(
                json!({"resourceType": "Patient", "name": [], "gender": "", "maritalStatus": {}, "active": null})
            ),
            [
                issue(IssueKind::Structure, "Patient.active"),
                issue(IssueKind::Value, "Patient.gender"),
                issue(IssueKind::Structure, "Patient.maritalStatus"),
                issue(IssueKind::Structure, "Patient.name"),
            ]
        );
    }

    #[test]
    fn bad_dates() {
        for bad in [
            "2020-13-01",
            "2021-02-29",
            "1999-04-31",
            "0000",
            "20",
            "2020-1",
            "2020-01-01T10:00",
            "2020-01-01 ",
            "",
        ] {
            assert!(
                !issues(json!({"resourceType": "Patient", "birthDate": bad})).is_empty(),
                "{bad}"
            );
        }
        for good in ["2020", "2020-02", "2020-02-29", "2000-02-29", "0001-01-01"] {
            assert_valid(json!({"resourceType": "Patient", "birthDate": good}));
        }
        // A dateTime with a time needs seconds and a time zone.
        for bad in [
            "2020-01-01T10:00Z",
            "2020-01-01T10:00:00",
            "2020-01-01T24:00:00Z",
            "2020-01-01T10:00:00+15:00",
            "2020-01T10:00:00Z",
            "2020-01-01T10:00:00.Z",
        ] {
            assert!(
                !issues(json!({"resourceType": "Patient", "deceasedDateTime": bad})).is_empty(),
                "{bad}"
            );
        }
        for good in [
            "2020",
            "2020-01-01",
            "2020-01-01T10:00:00Z",
            "2020-01-01T23:59:60.123456+14:00",
            "2020-01-01T00:00:00-03:30",
        ] {
            assert_valid(json!({"resourceType": "Patient", "deceasedDateTime": good}));
        }
        // An instant always has a full date, a time and a time zone.
        assert_eq!(
            issues(json!({"resourceType": "Patient", "meta": {"lastUpdated": "2020-01-01"}})),
            [issue(IssueKind::Value, "Patient.meta.lastUpdated")]
        );
        assert!(is_valid_time("10:00:00.5"));
        assert!(!is_valid_time("10:00"));
        assert!(!is_valid_time("10:00:00Z"));
    }

    #[test]
    fn bad_id() {
        let too_long = "a".repeat(65);
        for bad in ["a b", "a/b", "a_b", too_long.as_str(), ""] {
            assert_eq!(
                issues(json!({"resourceType": "Patient", "id": bad})),
                [issue(IssueKind::Value, "Patient.id")],
                "{bad}"
            );
        }
        assert!(validate_id(&"A".repeat(64)));
        assert!(validate_id("a-b.C9"));
        assert!(!validate_id("a b"));
        // Ids of elements inside a resource are plain strings.
        assert_valid(
            json!({"resourceType": "Patient", "name": [{"id": "any thing_goes", "text": "x"}]}),
        );
    }

    #[test]
    fn other_primitive_formats() {
        let cases = [
            ("Patient", "gender", json!(" male")),
            ("Patient", "gender", json!("male  x")),
            ("Patient", "implicitRules", json!("http://a b")),
            ("Patient", "multipleBirthInteger", json!(2_147_483_648_i64)),
        ];
        for (resource_type, element, value) in cases {
            let mut resource = json!({"resourceType": resource_type});
            resource[element] = value;
            assert_eq!(
                issues(resource),
                [issue(
                    IssueKind::Value,
                    &format!("{resource_type}.{element}")
                )]
            );
        }
        assert!(is_valid_oid("urn:oid:1.2.840.10008"));
        assert!(!is_valid_oid("urn:oid:3.1"));
        assert!(!is_valid_oid("urn:oid:1"));
        assert!(!is_valid_oid("urn:oid:1.02"));
        assert!(is_valid_uuid(
            "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"
        ));
        assert!(!is_valid_uuid(
            "urn:uuid:C757873D-EC9A-4326-A141-556F43239520"
        ));
        assert!(!is_valid_uuid("c757873d-ec9a-4326-a141-556f43239520"));
        assert!(is_valid_base64("aGVsbG8=\n"));
        assert!(is_valid_base64("a+/9"));
        assert!(!is_valid_base64("aGVsbG8"));
        assert!(!is_valid_base64("a=bc"));
        assert!(!is_valid_base64("ab!c"));
        assert!(is_valid_code("a b"));
        assert!(!is_valid_code("a\t\tb"));
        let positive = json!({"resourceType": "Patient", "multipleBirthInteger": 0});
        assert_valid(positive);
        assert_eq!(
            issues(json!({"resourceType": "Patient", "photo": [{"size": -1}]})),
            [issue(IssueKind::Value, "Patient.photo[0].size")]
        );
        assert_eq!(
            issues(
                json!({"resourceType": "Patient", "text": {"status": "generated", "div": "plain"}})
            ),
            [issue(IssueKind::Value, "Patient.text.div")]
        );
    }

    #[test]
    fn resource_type_checks() {
        assert_eq!(issues(json!([])), [issue(IssueKind::Structure, "")]);
        assert_eq!(
            issues(json!({"id": "x"})),
            [issue(IssueKind::Structure, "")]
        );
        assert_eq!(
            issues(json!({"resourceType": "Resource"})),
            [issue(IssueKind::Structure, "resourceType")]
        );
        assert_eq!(
            issues(json!({"resourceType": "HumanName"})),
            [issue(IssueKind::Structure, "resourceType")]
        );
        assert_eq!(
            issues(json!({"resourceType": 5})),
            [issue(IssueKind::Structure, "resourceType")]
        );
        // `resourceType` belongs only at the root of a resource.
        assert_eq!(
            issues(json!({"resourceType": "Patient", "name": [{"resourceType": "HumanName"}]})),
            [issue(IssueKind::Structure, "Patient.name[0].resourceType")]
        );
    }

    #[test]
    fn nested_resources_are_validated_as_resources() {
        assert_valid(json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "resource": {"resourceType": "Patient", "id": "a"}},
                {"resource": {"resourceType": "Parameters", "parameter": [
                    {"name": "p", "resource": {"resourceType": "Organization", "name": "x"}},
                    {"name": "q", "part": [{"name": "r", "valueInteger": 1}]}
                ]}}
            ]
        }));
        assert_eq!(
            issues(json!({
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Patient", "birthDate": "x"}},
                    {"resource": {"resourceType": "NotAType"}},
                    {"resource": {"name": "no resource type"}},
                    {"resource": "Patient/1"}
                ]
            })),
            [
                issue(IssueKind::Value, "Bundle.entry[0].resource.birthDate"),
                issue(
                    IssueKind::Structure,
                    "Bundle.entry[1].resource.resourceType"
                ),
                issue(IssueKind::Structure, "Bundle.entry[2].resource"),
                issue(IssueKind::Structure, "Bundle.entry[3].resource"),
            ]
        );
        assert_eq!(
            issues(json!({
                "resourceType": "Patient",
                "contained": [{"resourceType": "Organization", "id": "o", "foo": 1}],
                "managingOrganization": {"reference": "#o"}
            })),
            [issue(IssueKind::Structure, "Patient.contained[0].foo")]
        );
    }

    #[test]
    fn content_references_follow_the_referenced_element() {
        assert_valid(json!({
            "resourceType": "Questionnaire",
            "status": "draft",
            "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "string", "item": [{"linkId": "1.1.1", "type": "display"}]}]}]
        }));
        assert_eq!(
            issues(json!({
                "resourceType": "Questionnaire",
                "status": "draft",
                "item": [{"linkId": "1", "type": "group", "item": [{"type": "string", "bogus": true}]}]
            })),
            [
                issue(IssueKind::Structure, "Questionnaire.item[0].item[0].bogus"),
                issue(IssueKind::Required, "Questionnaire.item[0].item[0].linkId"),
            ]
        );
    }

    #[test]
    fn attributes_have_no_extensions() {
        assert_eq!(
            issues(json!({"resourceType": "Patient", "name": [{"text": "x", "_id": {"id": "y"}}]})),
            [issue(IssueKind::Structure, "Patient.name[0]._id")]
        );
        // The resource id is an element and may have extensions.
        assert_valid(json!({"resourceType": "Patient", "id": "a", "_id": {"id": "y"}}));
    }

    #[test]
    fn odd_and_deep_input_never_panics() {
        let odd = [
            json!(null),
            json!("Patient"),
            json!(1),
            json!({"resourceType": "Patient", "_": 1, "": 2, "_birthDate": null, "name": [null, [], {}]}),
            json!({"resourceType": "Patient", "_given": ["x"], "contained": [[]], "extension": [{"url": 1, "valueFoo": []}]}),
            json!({"resourceType": "Observation", "valueQuantity": 1, "_valueQuantity": {}, "component": [{"valueInteger": 1e300}]}),
            json!({"resourceType": "Patient", "birthDate": "２０２０", "id": "é", "gender": "\u{0}"}),
        ];
        for value in odd {
            let _ = validate_resource(&value);
        }

        // A chain of nested extensions deeper than MAX_DEPTH is cut off with one issue.
        let mut extension = json!({"url": "http://example.org/leaf", "valueString": "x"});
        for _ in 0..500 {
            extension = json!({"url": "http://example.org/node", "extension": [extension]});
        }
        let deep = json!({"resourceType": "Patient", "extension": [extension]});
        let result = validate_resource(&deep).unwrap_err();
        assert_eq!(result.len(), 1);
        assert_eq!(result[0].kind, IssueKind::Structure);

        // Nested Bundles count towards the same depth.
        let mut bundle = json!({"resourceType": "Patient"});
        for _ in 0..200 {
            bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": bundle}]});
        }
        assert!(validate_resource(&bundle).is_err());
    }

    #[test]
    fn issues_are_bounded() {
        let mut resource = json!({"resourceType": "Patient"});
        for idx in 0..500 {
            resource[format!("unknown{idx}")] = json!(1);
        }
        assert_eq!(validate_resource(&resource).unwrap_err().len(), MAX_ISSUES);
    }

    #[test]
    fn issues_map_to_outcome_issues() {
        let found = validate_resource(&json!({"resourceType": "Patient", "birthDate": "secret"}))
            .unwrap_err();
        let outcome_issue = found[0].to_outcome_issue();
        assert_eq!(outcome_issue.code, IssueType::Value);
        assert_eq!(outcome_issue.expression, ["Patient.birthDate"]);
        assert!(
            !found[0].message.contains("secret"),
            "messages must not echo values"
        );
    }
}
