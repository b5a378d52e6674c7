//! Generates the FHIR R4 definition tables in `crates/hale-fhir/src/generated/`.
//!
//! The input is the official NPM package `hl7.fhir.r4.core` 4.0.1 (a `.tgz` whose files sit under
//! `package/`), and for the search parameters of the implementation guides Hale supports, their
//! packages (today the Da Vinci PDex Plan-Net 1.2.0 provider directory guide). The output is plain
//! Rust source made of static slices of the types in `hale_fhir::table`, committed to the
//! repository so that building Hale never needs the packages. The test `generated_up_to_date`
//! regenerates the tables in memory and fails if the committed files differ, so the tables cannot
//! drift from the generator.
//!
//! What is taken from the packages:
//!
//! - **Structures**: every StructureDefinition of kind `primitive-type`, `complex-type` or
//!   `resource` that is a base definition, i.e. `derivation = specialization`, or has no derivation
//!   at all (`Element` and `Resource`, the roots of the hierarchy). Profiles (`constraint`) and
//!   logical models (`Definition`, `MetadataResource`, …) are left out. Elements come from the
//!   snapshot, with paths as published, and carry `isSummary` for `_summary=true`.
//! - **Search parameters**: every SearchParameter resource that is not `experimental`. The package
//!   has no `search-parameters.json` bundle; its 1,400 `SearchParameter-*.json` files are the full
//!   set. The 24 experimental ones are the three examples (`example`, `example-reference`,
//!   `example-extension`) and parameters on extensions that belong to profiles (genetics, the
//!   CodeSystem/ValueSet/Patient extension parameters, ten of which have no `base` at all), none of
//!   which the resource pages list.
//! - **Patient compartment**: `CompartmentDefinition-patient.json`.
//! - **Implementation guide search parameters**: the SearchParameter resources of the guide's
//!   package, read as the core ones are, less every `(base, code)` that R4 itself defines (the
//!   guide's `Organization-name` restates R4's, so R4's row stays the one Hale uses). They go to a
//!   table of their own, a supplement to the R4 table that `hale_fhir::definitions` merges.
//!
//! The output is deterministic (inputs are read into sorted maps and every table is sorted) and
//! rustfmt-clean: the big statics carry `#[rustfmt::skip]` so that each row stays on one line, which
//! keeps diffs readable and formatting fast.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where the generated files go, relative to the workspace root.
pub const GENERATED_DIR: &str = "crates/hale-fhir/src/generated";

/// The default location of the R4 core package, relative to the workspace root.
pub const DEFAULT_PACKAGE: &str = "../shared/testdata/fhir/fhir/hl7.fhir.r4.core-4.0.1.tgz";

/// The environment variable that overrides [`DEFAULT_PACKAGE`].
pub const PACKAGE_ENV: &str = "HALE_FHIR_R4_PACKAGE";

/// The default location of the Plan-Net package, relative to the workspace root.
pub const DEFAULT_PLAN_NET_PACKAGE: &str =
    "../shared/testdata/fhir/fhir/hl7.fhir.us.davinci-pdex-plan-net-1.2.0.tgz";

/// The environment variable that overrides [`DEFAULT_PLAN_NET_PACKAGE`].
pub const PLAN_NET_PACKAGE_ENV: &str = "HALE_FHIR_PLAN_NET_PACKAGE";

/// The extension that R4 puts on `http://hl7.org/fhirpath/System.*` type codes to name the FHIR type.
const FHIR_TYPE_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type";

/// The prefix of the FHIRPath system type codes used by `id`, `Extension.url` and primitive values.
const FHIRPATH_SYSTEM_PREFIX: &str = "http://hl7.org/fhirpath/System.";

/// The workspace root, found from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// The R4 core package to read: `$HALE_FHIR_R4_PACKAGE` if set, else [`DEFAULT_PACKAGE`].
pub fn package_path(workspace_root: &Path) -> PathBuf {
    path_from_env(workspace_root, PACKAGE_ENV, DEFAULT_PACKAGE)
}

/// The Plan-Net package to read: `$HALE_FHIR_PLAN_NET_PACKAGE` if set, else
/// [`DEFAULT_PLAN_NET_PACKAGE`].
pub fn plan_net_package_path(workspace_root: &Path) -> PathBuf {
    path_from_env(
        workspace_root,
        PLAN_NET_PACKAGE_ENV,
        DEFAULT_PLAN_NET_PACKAGE,
    )
}

fn path_from_env(workspace_root: &Path, variable: &str, default: &str) -> PathBuf {
    match std::env::var_os(variable) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => workspace_root.join(default),
    }
}

/// Generates the table sources from the bytes of the R4 core package and of the Plan-Net package.
///
/// Returns `(file name relative to the generated directory, contents)` pairs, sorted by name.
pub fn generate(tgz: &[u8], plan_net_tgz: &[u8]) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let package = Package::read(tgz)?;
    let structures = collect_structures(&package)?;
    let search_params = collect_search_params(&package)?;
    let compartment = collect_patient_compartment(&package)?;
    let plan_net = Package::read(plan_net_tgz).context("reading the Plan-Net package")?;
    let plan_net_search_params = collect_ig_search_params(&plan_net, &search_params, &structures)?;

    let mut files = vec![
        (
            PathBuf::from("mod.rs"),
            render_mod(
                (&package, &hex::encode(Sha256::digest(tgz))),
                (&plan_net, &hex::encode(Sha256::digest(plan_net_tgz))),
            ),
        ),
        (
            PathBuf::from("plan_net_search_params.rs"),
            render_search_params(&plan_net_search_params, &PLAN_NET_TABLE),
        ),
        (
            PathBuf::from("r4_compartment.rs"),
            render_compartment(&compartment),
        ),
        (
            PathBuf::from("r4_resources.rs"),
            render_resources(&structures),
        ),
        (
            PathBuf::from("r4_search_params.rs"),
            render_search_params(&search_params, &R4_TABLE),
        ),
        (
            PathBuf::from("r4_structures.rs"),
            render_structures(&structures),
        ),
    ];
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Writes the generated files into `dir` and removes `.rs` files there that are no longer generated.
///
/// Files whose contents are unchanged are left alone, so their modification times (and cargo's
/// rebuild decisions) stay put. Returns how many files were written or removed.
pub fn write_generated(dir: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut n_changed = 0;
    for (name, contents) in files {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            std::fs::write(&path, contents)
                .with_context(|| format!("writing {}", path.display()))?;
            n_changed += 1;
        }
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let is_stale = path.extension().is_some_and(|ext| ext == "rs")
            && !files
                .iter()
                .any(|(name, _)| path.file_name() == Some(name.as_os_str()));
        if is_stale {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            n_changed += 1;
        }
    }
    Ok(n_changed)
}

/// The JSON files of the package that the generator reads, keyed by file name.
struct Package {
    /// `package/package.json`.
    manifest: Value,
    /// `StructureDefinition-*.json`, `SearchParameter-*.json` and `CompartmentDefinition-*.json`.
    files: BTreeMap<String, Value>,
}

impl Package {
    fn read(tgz: &[u8]) -> anyhow::Result<Self> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
        let mut manifest = None;
        let mut files = BTreeMap::new();
        for entry in archive.entries().context("reading the package as .tgz")? {
            let mut entry = entry.context("reading a package entry")?;
            let path = entry.path()?.to_string_lossy().into_owned();
            let Some(name) = path.strip_prefix("package/") else {
                continue;
            };
            let wanted = name == "package.json"
                || (!name.contains('/')
                    && name.ends_with(".json")
                    && (name.starts_with("StructureDefinition-")
                        || name.starts_with("SearchParameter-")
                        || name.starts_with("CompartmentDefinition-")));
            if !wanted {
                continue;
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            let json: Value =
                serde_json::from_slice(&bytes).with_context(|| format!("parsing {path}"))?;
            if name == "package.json" {
                manifest = Some(json);
            } else {
                files.insert(name.to_owned(), json);
            }
        }
        let manifest = manifest.context("the package has no package/package.json")?;
        ensure!(
            !files.is_empty(),
            "the package has no StructureDefinition or SearchParameter files"
        );
        Ok(Self { manifest, files })
    }

    fn resources_of_type<'a>(&'a self, resource_type: &'a str) -> impl Iterator<Item = &'a Value> {
        self.files
            .values()
            .filter(move |json| json["resourceType"] == resource_type)
    }
}

struct Structure {
    name: String,
    kind: &'static str,
    is_abstract: bool,
    base: Option<String>,
    elements: Vec<Element>,
}

struct Element {
    path: String,
    min: u32,
    max: String,
    types: Vec<String>,
    content_reference: Option<String>,
    summary: bool,
}

fn collect_structures(package: &Package) -> anyhow::Result<Vec<Structure>> {
    let mut structures = Vec::new();
    for json in package.resources_of_type("StructureDefinition") {
        let url = str_field(json, "url")?;
        let kind = match str_field(json, "kind")? {
            "primitive-type" => "PrimitiveType",
            "complex-type" => "ComplexType",
            "resource" => "Resource",
            _ => continue,
        };
        let is_base = match json.get("derivation").and_then(Value::as_str) {
            Some("specialization") => true,
            Some(_) => false,
            None => json.get("baseDefinition").is_none(),
        };
        if !is_base {
            continue;
        }
        let name = str_field(json, "type")?.to_owned();
        let base = json
            .get("baseDefinition")
            .and_then(Value::as_str)
            .map(|base| base.rsplit('/').next().unwrap_or(base).to_owned());
        let snapshot = json["snapshot"]["element"]
            .as_array()
            .with_context(|| format!("{url} has no snapshot"))?;
        let mut elements = Vec::with_capacity(snapshot.len());
        for element in snapshot {
            elements.push(collect_element(element).with_context(|| format!("in {url}"))?);
        }
        ensure!(
            elements.first().map(|root| root.path.as_str()) == Some(name.as_str()),
            "{url}: the first snapshot element is not the root `{name}`"
        );
        structures.push(Structure {
            name,
            kind,
            is_abstract: json["abstract"].as_bool().unwrap_or(false),
            base,
            elements,
        });
    }
    structures.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = structures
        .windows(2)
        .find(|pair| pair[0].name == pair[1].name)
    {
        bail!("two base StructureDefinitions for `{}`", pair[0].name);
    }
    Ok(structures)
}

fn collect_element(element: &Value) -> anyhow::Result<Element> {
    let path = str_field(element, "path")?.to_owned();
    let min = element["min"]
        .as_u64()
        .and_then(|min| u32::try_from(min).ok())
        .with_context(|| format!("{path}: bad min"))?;
    let max = str_field(element, "max")?.to_owned();
    ensure!(
        max == "*" || max.parse::<u32>().is_ok(),
        "{path}: bad max `{max}`"
    );
    let mut types = Vec::new();
    for ty in element["type"].as_array().into_iter().flatten() {
        types.push(type_code(ty).with_context(|| format!("{path}: bad type"))?);
    }
    let content_reference = element
        .get("contentReference")
        .and_then(Value::as_str)
        .map(|reference| reference.trim_start_matches('#').to_owned());
    // `isSummary` is absent rather than false on most elements.
    let summary = element["isSummary"].as_bool().unwrap_or(false);
    Ok(Element {
        path,
        min,
        max,
        types,
        content_reference,
        summary,
    })
}

/// The FHIR type code of one `ElementDefinition.type`.
///
/// R4 publishes `id`, `extension.url` and the values of primitives with FHIRPath system types
/// (`http://hl7.org/fhirpath/System.String`) and names the FHIR type in an extension. The tables
/// carry the FHIR type, because that is what the JSON representation and the rest of Hale use.
fn type_code(ty: &Value) -> anyhow::Result<String> {
    let code = str_field(ty, "code")?;
    let Some(system_type) = code.strip_prefix(FHIRPATH_SYSTEM_PREFIX) else {
        return Ok(code.to_owned());
    };
    let fhir_type = ty["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|extension| extension["url"] == FHIR_TYPE_EXTENSION)
        .and_then(|extension| extension["valueUrl"].as_str());
    if let Some(fhir_type) = fhir_type {
        return Ok(fhir_type.to_owned());
    }
    // Only `xhtml.id` lacks the extension in R4; the FHIRPath type maps to its FHIR namesake.
    Ok(match system_type {
        "String" => "string",
        "Boolean" => "boolean",
        "Integer" => "integer",
        "Decimal" => "decimal",
        "Date" => "date",
        "DateTime" => "dateTime",
        "Time" => "time",
        other => bail!("unknown FHIRPath system type `{other}`"),
    }
    .to_owned())
}

struct SearchParam {
    code: String,
    base: String,
    kind: &'static str,
    expression: String,
    targets: Vec<String>,
    components: Vec<Component>,
    url: String,
}

struct Component {
    definition: String,
    code: String,
    expression: String,
}

fn collect_search_params(package: &Package) -> anyhow::Result<Vec<SearchParam>> {
    let all: Vec<&Value> = package.resources_of_type("SearchParameter").collect();
    let code_by_url: BTreeMap<&str, &str> = all
        .iter()
        .map(|json| Ok((str_field(json, "url")?, str_field(json, "code")?)))
        .collect::<anyhow::Result<_>>()?;

    let mut rows = Vec::new();
    for json in all {
        if json["experimental"].as_bool() == Some(true) {
            continue;
        }
        let url = str_field(json, "url")?;
        let code = str_field(json, "code")?;
        let kind = match str_field(json, "type")? {
            "number" => "Number",
            "date" => "Date",
            "string" => "String",
            "token" => "Token",
            "reference" => "Reference",
            "composite" => "Composite",
            "quantity" => "Quantity",
            "uri" => "Uri",
            "special" => "Special",
            other => bail!("{url}: unknown search parameter type `{other}`"),
        };
        let expression = json
            .get("expression")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let targets = strings(&json["target"]);
        let mut components = Vec::new();
        for component in json["component"].as_array().into_iter().flatten() {
            let definition = str_field(component, "definition")?;
            let component_code = code_by_url
                .get(definition)
                .with_context(|| format!("{url}: unknown component {definition}"))?;
            components.push(Component {
                definition: definition.to_owned(),
                code: (*component_code).to_owned(),
                expression: str_field(component, "expression")?.to_owned(),
            });
        }
        let bases = strings(&json["base"]);
        ensure!(!bases.is_empty(), "{url} has no base");
        for base in bases {
            rows.push(SearchParam {
                code: code.to_owned(),
                base,
                kind,
                expression: expression.to_owned(),
                targets: targets.clone(),
                components: components
                    .iter()
                    .map(|component| Component {
                        definition: component.definition.clone(),
                        code: component.code.clone(),
                        expression: component.expression.clone(),
                    })
                    .collect(),
                url: url.to_owned(),
            });
        }
    }
    rows.sort_by(|a, b| (&a.base, &a.code).cmp(&(&b.base, &b.code)));
    if let Some(pair) = rows
        .windows(2)
        .find(|pair| (&pair[0].base, &pair[0].code) == (&pair[1].base, &pair[1].code))
    {
        bail!(
            "two search parameters `{}` on `{}`: {} and {}",
            pair[0].code,
            pair[0].base,
            pair[0].url,
            pair[1].url
        );
    }
    Ok(rows)
}

/// The search parameters of an implementation guide's package that R4 does not define: every row
/// whose `(base, code)` is not in `core` (R4's rows, sorted). Each base must be an R4 resource
/// type, since the guide's parameters search R4 resources.
fn collect_ig_search_params(
    package: &Package,
    core: &[SearchParam],
    structures: &[Structure],
) -> anyhow::Result<Vec<SearchParam>> {
    let mut rows = collect_search_params(package)?;
    rows.retain(|row| {
        core.binary_search_by(|core_row| {
            (core_row.base.as_str(), core_row.code.as_str())
                .cmp(&(row.base.as_str(), row.code.as_str()))
        })
        .is_err()
    });
    for row in &rows {
        ensure!(
            structures
                .iter()
                .any(|structure| structure.name == row.base && structure.kind == "Resource"),
            "{}: the base `{}` is not an R4 resource type",
            row.url,
            row.base
        );
    }
    Ok(rows)
}

fn collect_patient_compartment(package: &Package) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let json = package
        .files
        .get("CompartmentDefinition-patient.json")
        .context("the package has no CompartmentDefinition-patient.json")?;
    let mut members = Vec::new();
    for resource in json["resource"].as_array().into_iter().flatten() {
        let params = strings(&resource["param"]);
        if !params.is_empty() {
            members.push((str_field(resource, "code")?.to_owned(), params));
        }
    }
    members.sort();
    Ok(members)
}

fn str_field<'a>(json: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    json.get(field)
        .and_then(Value::as_str)
        .with_context(|| format!("missing string field `{field}`"))
}

fn strings(json: &Value) -> Vec<String> {
    json.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// A Rust string literal for `s`; `{:?}` escapes exactly what a Rust literal needs.
fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn lit_slice(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| lit(item)).collect();
    format!("&[{}]", items.join(", "))
}

const GENERATED_NOTE: &str =
    "//!\n//! Generated by `cargo run -p xtask -- gen-fhir`; do not edit.\n";

/// `name#version` of a package, from its manifest.
fn package_id(package: &Package) -> anyhow::Result<String> {
    Ok(format!(
        "{}#{}",
        str_field(&package.manifest, "name")?,
        str_field(&package.manifest, "version")?
    ))
}

fn render_mod(core: (&Package, &str), plan_net: (&Package, &str)) -> String {
    let name = core.0.manifest["name"]
        .as_str()
        .unwrap_or("hl7.fhir.r4.core");
    let version = core.0.manifest["version"].as_str().unwrap_or("4.0.1");
    let core_sha256 = core.1;
    let plan_net_id =
        package_id(plan_net.0).unwrap_or_else(|_| "hl7.fhir.us.davinci-pdex-plan-net".to_owned());
    let plan_net_sha256 = plan_net.1;
    format!(
        "//! The FHIR R4 definition tables, generated from the `{name}` {version} package, and the
//! search parameters that the implementation guides Hale supports add to R4's.
{GENERATED_NOTE}//!
//! The tables are static slices sorted for binary search; `crate::definitions` has the lookups.

pub mod plan_net_search_params;
pub mod r4_compartment;
pub mod r4_resources;
pub mod r4_search_params;
pub mod r4_structures;

pub use plan_net_search_params::PLAN_NET_SEARCH_PARAMS;
pub use r4_compartment::R4_PATIENT_COMPARTMENT;
pub use r4_resources::R4_RESOURCE_TYPES;
pub use r4_search_params::R4_SEARCH_PARAMS;
pub use r4_structures::R4_STRUCTURES;

/// The NPM package the tables were generated from, as `name#version`.
pub const R4_SOURCE_PACKAGE: &str = \"{name}#{version}\";

/// The SHA-256 (hex) of the package `.tgz` the tables were generated from.
pub const R4_SOURCE_SHA256: &str =
    \"{core_sha256}\";

/// The NPM package [`PLAN_NET_SEARCH_PARAMS`] was generated from, as `name#version`.
pub const PLAN_NET_SOURCE_PACKAGE: &str = \"{plan_net_id}\";

/// The SHA-256 (hex) of the package `.tgz` [`PLAN_NET_SEARCH_PARAMS`] was generated from.
pub const PLAN_NET_SOURCE_SHA256: &str =
    \"{plan_net_sha256}\";
"
    )
}

fn render_resources(structures: &[Structure]) -> String {
    let mut out = format!(
        "//! The names of the concrete R4 resource types, sorted.
{GENERATED_NOTE}
/// Every non-abstract resource type of R4, sorted by name.
#[rustfmt::skip]
pub static R4_RESOURCE_TYPES: &[&str] = &[
"
    );
    for structure in structures {
        if structure.kind == "Resource" && !structure.is_abstract {
            writeln!(out, "    {},", lit(&structure.name)).unwrap();
        }
    }
    out.push_str("];\n");
    out
}

fn render_structures(structures: &[Structure]) -> String {
    let mut out = format!(
        "//! The snapshot elements of every R4 base type: primitive and complex data types and resources.
{GENERATED_NOTE}
use crate::table::Max::{{Bounded, Unbounded}};
use crate::table::{{ElementDef, StructureDef, StructureKind}};

/// Every R4 base StructureDefinition (`derivation = specialization`, plus the roots `Element` and
/// `Resource`), sorted by name.
#[rustfmt::skip]
pub static R4_STRUCTURES: &[StructureDef] = &[
"
    );
    for structure in structures {
        let base = structure
            .base
            .as_deref()
            .map_or_else(|| "None".to_owned(), |base| format!("Some({})", lit(base)));
        writeln!(
            out,
            "    StructureDef {{ name: {}, kind: StructureKind::{}, is_abstract: {}, base: {base}, elements: &[",
            lit(&structure.name),
            structure.kind,
            structure.is_abstract,
        )
        .unwrap();
        for element in &structure.elements {
            let max = if element.max == "*" {
                "Unbounded".to_owned()
            } else {
                format!("Bounded({})", element.max)
            };
            let content_reference = element
                .content_reference
                .as_deref()
                .map_or_else(|| "None".to_owned(), |path| format!("Some({})", lit(path)));
            writeln!(
                out,
                "        ElementDef {{ path: {}, min: {}, max: {max}, types: {}, content_reference: {content_reference}, summary: {} }},",
                lit(&element.path),
                element.min,
                lit_slice(&element.types),
                element.summary,
            )
            .unwrap();
        }
        out.push_str("    ] },\n");
    }
    out.push_str("];\n");
    out
}

/// What a generated search parameter table is called and says about itself.
struct SearchParamTable {
    /// The module docs' first line.
    title: &'static str,
    /// The static's name.
    static_name: &'static str,
    /// The static's doc comment, one entry per line.
    doc: &'static [&'static str],
}

const R4_TABLE: SearchParamTable = SearchParamTable {
    title: "The R4 search parameters, one row per base resource type and code.",
    static_name: "R4_SEARCH_PARAMS",
    doc: &["Every non-experimental R4 search parameter, once per base, sorted by `(base, code)`."],
};

const PLAN_NET_TABLE: SearchParamTable = SearchParamTable {
    title: "The Da Vinci PDex Plan-Net search parameters that R4 lacks, one row per base type and code.",
    static_name: "PLAN_NET_SEARCH_PARAMS",
    doc: &[
        "Every Plan-Net search parameter whose `(base, code)` R4 does not define, sorted by",
        "`(base, code)`; `crate::definitions` serves them beside R4's.",
    ],
};

fn render_search_params(search_params: &[SearchParam], table: &SearchParamTable) -> String {
    let SearchParamTable {
        title,
        static_name,
        doc,
    } = table;
    let doc: String = doc.iter().map(|line| format!("/// {line}\n")).collect();
    // A table without composites must not import `ComponentDef`, which it would not use.
    let imports = if search_params
        .iter()
        .any(|param| !param.components.is_empty())
    {
        "ComponentDef, SearchParamDef, SearchParamType"
    } else {
        "SearchParamDef, SearchParamType"
    };
    let mut out = format!(
        "//! {title}
{GENERATED_NOTE}
use crate::table::{{{imports}}};

{doc}#[rustfmt::skip]
pub static {static_name}: &[SearchParamDef] = &[
"
    );
    for param in search_params {
        let components = if param.components.is_empty() {
            "&[]".to_owned()
        } else {
            let components: Vec<String> = param
                .components
                .iter()
                .map(|component| {
                    format!(
                        "ComponentDef {{ definition: {}, code: {}, expression: {} }}",
                        lit(&component.definition),
                        lit(&component.code),
                        lit(&component.expression)
                    )
                })
                .collect();
            format!("&[{}]", components.join(", "))
        };
        writeln!(
            out,
            "    SearchParamDef {{ code: {}, base: {}, kind: SearchParamType::{}, expression: {}, targets: {}, components: {components}, url: {} }},",
            lit(&param.code),
            lit(&param.base),
            param.kind,
            lit(&param.expression),
            lit_slice(&param.targets),
            lit(&param.url),
        )
        .unwrap();
    }
    out.push_str("];\n");
    out
}

fn render_compartment(members: &[(String, Vec<String>)]) -> String {
    let mut out = format!(
        "//! The members of the R4 [Patient compartment](https://hl7.org/fhir/R4/compartmentdefinition-patient.html).
{GENERATED_NOTE}
use crate::table::CompartmentMember;

/// The resource types in the Patient compartment with the parameters that link them to the
/// patient, sorted by resource type; types without parameters are left out.
#[rustfmt::skip]
pub static R4_PATIENT_COMPARTMENT: &[CompartmentMember] = &[
"
    );
    for (resource_type, params) in members {
        writeln!(
            out,
            "    CompartmentMember {{ resource_type: {}, params: {} }},",
            lit(resource_type),
            lit_slice(params)
        )
        .unwrap();
    }
    out.push_str("];\n");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn system_type_codes_become_fhir_types() {
        let extension_url = json!({
            "extension": [{"url": FHIR_TYPE_EXTENSION, "valueUrl": "uri"}],
            "code": "http://hl7.org/fhirpath/System.String"
        });
        assert_eq!(type_code(&extension_url).unwrap(), "uri");
        let xhtml_id = json!({"code": "http://hl7.org/fhirpath/System.String"});
        assert_eq!(type_code(&xhtml_id).unwrap(), "string");
        assert_eq!(
            type_code(&json!({"code": "HumanName"})).unwrap(),
            "HumanName"
        );
        assert!(type_code(&json!({"code": "http://hl7.org/fhirpath/System.Quantity"})).is_err());
    }

    #[test]
    fn elements_keep_published_paths_and_strip_the_content_reference_hash() {
        let element = collect_element(&json!({
            "path": "Questionnaire.item.item",
            "min": 0,
            "max": "*",
            "contentReference": "#Questionnaire.item"
        }))
        .unwrap();
        assert_eq!(element.path, "Questionnaire.item.item");
        assert_eq!(element.max, "*");
        assert!(element.types.is_empty());
        assert_eq!(
            element.content_reference.as_deref(),
            Some("Questionnaire.item")
        );
        assert!(!element.summary, "isSummary is absent, so false");
        let summary = collect_element(
            &json!({"path": "Patient.name", "min": 0, "max": "*", "isSummary": true}),
        )
        .unwrap();
        assert!(summary.summary);
        assert!(collect_element(&json!({"path": "A.b", "min": 0, "max": "many"})).is_err());
    }

    #[test]
    fn literals_are_escaped_for_rust() {
        assert_eq!(lit(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(lit("x\ny"), r#""x\ny""#);
        assert_eq!(
            lit_slice(&["a".to_owned(), "b".to_owned()]),
            r#"&["a", "b"]"#
        );
        assert_eq!(lit_slice(&[]), "&[]");
    }

    #[test]
    fn a_corrupt_package_is_an_error() {
        assert!(generate(b"not a tarball", b"not a tarball").is_err());
    }
}
