//! Canonical forms of [UCUM](https://ucum.org/ucum) units, so that quantity search compares
//! `5400 ug` with `5.4 mg`.
//!
//! The [search page](https://hl7.org/fhir/R4/search.html#quantity) lets a server compare
//! quantities in canonical units. Hale understands the part of the UCUM grammar that clinical data
//! uses: terms joined by `.` and `/`, each an optional metric prefix, an atom and an optional
//! integer exponent (`mg`, `mmol/L`, `kg/m2`, `/min`, `10*3/uL`, `m.s-2`), numeric factors (`10*3`,
//! `10^3`, `100`), and the usual non-metric atoms (time, customary mass and length, `%`).
//! Everything else (`Cel` and `[degF]`, which are not proportional, annotations in braces, nested
//! parentheses) has no canonical form here, and such quantities are compared as written.
//!
//! [`canonical`] gives the factor to multiply a value by and the canonical unit, written as its
//! base atoms in a fixed order with exponents (`g.L-1`), so equal dimensions give equal text.

use std::collections::BTreeMap;

/// The UCUM system URI.
pub const UCUM_SYSTEM: &str = "http://unitsofmeasure.org";

/// The system of the second, canonical index entry that a UCUM quantity gets beside the entry as
/// written. It is Hale's own, so that a search without a unit (`value-quantity=gt100`) compares
/// only values as written (70 kg is not above 100 because it is 70,000 g), while a search in a
/// UCUM unit, which the parser converts to this system, compares canonical values.
pub const CANONICAL_SYSTEM: &str = "urn:hale:ucum-canonical";

/// A unit in canonical form: multiply a value in the original unit by `factor` to get a value
/// in `unit`.
#[derive(Clone, Debug, PartialEq)]
pub struct Canonical {
    /// The conversion factor.
    pub factor: f64,
    /// The canonical unit code.
    pub unit: String,
}

/// Metric prefixes, longest first so that `da` wins over `d`.
const PREFIXES: &[(&str, f64)] = &[
    ("da", 1e1),
    ("Y", 1e24),
    ("Z", 1e21),
    ("E", 1e18),
    ("P", 1e15),
    ("T", 1e12),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("h", 1e2),
    ("d", 1e-1),
    ("c", 1e-2),
    ("m", 1e-3),
    ("u", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
    ("f", 1e-15),
    ("a", 1e-18),
];

/// An atom: its code, whether metric prefixes apply, its factor and the base atom it is a
/// multiple of (`None` for a dimensionless number).
struct Atom {
    code: &'static str,
    metric: bool,
    factor: f64,
    base: Option<&'static str>,
}

const fn atom(code: &'static str, metric: bool, factor: f64, base: Option<&'static str>) -> Atom {
    Atom {
        code,
        metric,
        factor,
        base,
    }
}

/// The atoms Hale converts. Volume stays in litres and pressure in its own atoms, since data
/// and queries use those and a common base would only add rounding.
const ATOMS: &[Atom] = &[
    atom("g", true, 1.0, Some("g")),
    atom("L", true, 1.0, Some("L")),
    atom("l", true, 1.0, Some("L")),
    atom("m", true, 1.0, Some("m")),
    atom("s", true, 1.0, Some("s")),
    atom("mol", true, 1.0, Some("mol")),
    atom("eq", true, 1.0, Some("eq")),
    atom("U", true, 1.0, Some("U")),
    atom("[IU]", true, 1.0, Some("[IU]")),
    atom("[iU]", true, 1.0, Some("[IU]")),
    atom("Pa", true, 1.0, Some("Pa")),
    atom("bar", true, 1e5, Some("Pa")),
    atom("mm[Hg]", false, 1.0, Some("mm[Hg]")),
    atom("min", false, 60.0, Some("s")),
    atom("h", false, 3600.0, Some("s")),
    atom("d", false, 86_400.0, Some("s")),
    atom("wk", false, 604_800.0, Some("s")),
    atom("mo", false, 2_629_800.0, Some("s")),
    atom("a", false, 31_557_600.0, Some("s")),
    atom("[lb_av]", false, 453.592_37, Some("g")),
    atom("[oz_av]", false, 28.349_523_125, Some("g")),
    atom("[in_i]", false, 0.0254, Some("m")),
    atom("[ft_i]", false, 0.3048, Some("m")),
    atom("%", false, 0.01, None),
    atom("[ppm]", false, 1e-6, None),
    atom("[pH]", false, 1.0, Some("[pH]")),
    atom("kat", true, 1.0, Some("kat")),
    atom("[drp]", false, 1.0, Some("[drp]")),
    atom("{beats}", false, 1.0, None),
];

/// The canonical form of a UCUM unit code, if Hale understands it.
pub fn canonical(code: &str) -> Option<Canonical> {
    let code = code.trim();
    if code.is_empty() || code.contains(['(', ')', ' ']) {
        return None;
    }
    let mut factor = 1.0;
    let mut dimensions: BTreeMap<&'static str, i32> = BTreeMap::new();
    // A leading `/` divides 1 by what follows.
    let mut rest = code;
    let mut divide = false;
    if let Some(stripped) = rest.strip_prefix('/') {
        rest = stripped;
        divide = true;
    }
    loop {
        let end = rest.find(['.', '/']).unwrap_or(rest.len());
        let (term_factor, base, exponent) = term(&rest[..end])?;
        let sign = if divide { -1 } else { 1 };
        factor *= term_factor.powi(sign * exponent);
        if let Some(base) = base {
            *dimensions.entry(base).or_insert(0) += sign * exponent;
        }
        if end == rest.len() {
            break;
        }
        divide = rest.as_bytes()[end] == b'/';
        rest = &rest[end + 1..];
    }
    if !factor.is_finite() || factor == 0.0 {
        return None;
    }
    let unit: Vec<String> = dimensions
        .into_iter()
        .filter(|(_, exponent)| *exponent != 0)
        .map(|(base, exponent)| match exponent {
            1 => base.to_owned(),
            n => format!("{base}{n}"),
        })
        .collect();
    let unit = if unit.is_empty() {
        "1".to_owned()
    } else {
        unit.join(".")
    };
    Some(Canonical { factor, unit })
}

/// One term: its factor, its base atom and its exponent.
fn term(text: &str) -> Option<(f64, Option<&'static str>, i32)> {
    if text.is_empty() {
        return None;
    }
    // Numeric factors: `10*3`, `10^3`, `100`.
    if let Some((mantissa, exponent)) = text.split_once(['*', '^']) {
        let mantissa: f64 = mantissa.parse().ok()?;
        let exponent: i32 = exponent.parse().ok()?;
        return Some((mantissa.powi(exponent), None, 1));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Some((text.parse().ok()?, None, 1));
    }
    // A trailing integer (possibly negative) is the exponent, except inside brackets.
    let body_end = if text.ends_with(']') || text.ends_with('}') {
        text.len()
    } else {
        text.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
            .len()
    };
    let (body, exponent) = text.split_at(body_end);
    let exponent: i32 = if exponent.is_empty() {
        1
    } else {
        exponent.parse().ok()?
    };
    // An atom as written wins over a prefix reading (`min` is minutes, not milli-inch).
    if let Some(atom) = ATOMS.iter().find(|a| a.code == body) {
        return Some((atom.factor, atom.base, exponent));
    }
    for (prefix, scale) in PREFIXES {
        if let Some(rest) = body.strip_prefix(prefix)
            && let Some(atom) = ATOMS.iter().find(|a| a.metric && a.code == rest)
        {
            return Some((scale * atom.factor, atom.base, exponent));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    #[track_caller]
    fn check(code: &str, factor: f64, unit: &str) {
        let c = canonical(code).unwrap_or_else(|| panic!("{code} should be understood"));
        assert!(
            close(c.factor, factor),
            "{code}: factor {} != {factor}",
            c.factor
        );
        assert_eq!(c.unit, unit, "{code}");
    }

    #[test]
    fn common_clinical_units() {
        check("mg", 1e-3, "g");
        check("ug", 1e-6, "g");
        check("kg", 1e3, "g");
        check("g", 1.0, "g");
        check("mg/dL", 1e-2, "L-1.g");
        check("g/L", 1.0, "L-1.g");
        check("mmol/L", 1e-3, "L-1.mol");
        check("kg/m2", 1e3, "g.m-2");
        check("/min", 1.0 / 60.0, "s-1");
        check("10*3/uL", 1e9, "L-1");
        check("10^9/L", 1e9, "L-1");
        check("m.s-2", 1.0, "m.s-2");
        check("%", 0.01, "1");
        check("mm[Hg]", 1.0, "mm[Hg]");
        check("[lb_av]", 453.592_37, "g");
        check("h", 3600.0, "s");
        check("dL", 0.1, "L");
        check("daL", 10.0, "L");
        check("mL/min", 1e-3 / 60.0, "L.s-1");
        check("[IU]/L", 1.0, "L-1.[IU]");
    }

    #[test]
    fn equal_dimensions_give_equal_units() {
        assert_eq!(
            canonical("mg/dL").unwrap().unit,
            canonical("g/L").unwrap().unit
        );
        assert_eq!(
            canonical("ug").unwrap().unit,
            canonical("[oz_av]").unwrap().unit
        );
        assert_ne!(canonical("mg").unwrap().unit, canonical("mL").unwrap().unit);
    }

    #[test]
    fn unknown_or_non_proportional_units_have_no_canonical_form() {
        for code in [
            "Cel",
            "[degF]",
            "",
            "mg/(24.h)",
            "xyz",
            "m g",
            "/",
            "mg//L",
            "10*x",
        ] {
            assert_eq!(canonical(code), None, "{code}");
        }
    }
}
