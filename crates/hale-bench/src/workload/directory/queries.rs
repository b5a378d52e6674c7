//! W8's query mix, and what each answer must be.
//!
//! The mix is what a patient types into a system picker ([`Kind`]): a word prefix, two words of
//! a name, a city, a word with a typo next to a city, a query narrowed by `system_type`, and the
//! next pages (`offset` 20 and 40) of a broad query. Every query is built from one generated
//! system, its target.
//!
//! The rule (every query word matches a word of the name, of a location's address line or of its
//! city, by word prefix, ignoring case and accents, with one typo allowed in a query word of at
//! least [`TYPO_MIN_LETTERS`] letters) leaves the server some freedom: what a word is around an
//! apostrophe, and how far a typo reaches. So the [`Oracle`] bounds each answer from both sides
//! instead of predicting it: `lower` counts the systems whose words every query word starts
//! exactly (any server must return those), `allowed` holds the systems every query word matches
//! by prefix or by a prefix one edit away (adjacent transpositions count as one edit), and an
//! answer with a system outside it is wrong. Ranking is not checked: relevance is the server's.

use std::collections::HashMap;

use hyper::{StatusCode, Uri};
use serde_json::Value;

use super::systems::{Draws, FIRST_ID, System, SystemType};
use crate::client::Answer;
use crate::workload::search::shapes::encode;

/// Systems per page of `/api/search`.
pub const PAGE: usize = 20;

/// A query word needs at least this many letters for a typo to be allowed in it.
pub const TYPO_MIN_LETTERS: usize = 4;

/// Queries of each kind.
pub const PER_KIND: usize = 48;

/// The checked pass looks for a query's target on every page of its answer when at most this
/// many systems may match it; broader queries (a two-letter prefix) are checked page by page.
pub const SCAN_LIMIT: usize = 1_000;

/// What a query is like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The first 2 to 5 letters of a word of the target's name.
    Prefix,
    /// Two adjacent words of the target's name.
    TwoWords,
    /// The full name of one of the target's cities.
    City,
    /// A word of at least 5 letters of the target's name with one typo, then one of its cities.
    Typo,
    /// A prefix or a word of the target's name, with `system_type` set to the target's type.
    Type,
    /// A word of the target's name that many systems share, at `offset` 20 or 40.
    Page,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 6] = [
        Kind::Prefix,
        Kind::TwoWords,
        Kind::City,
        Kind::Typo,
        Kind::Type,
        Kind::Page,
    ];

    /// The kind's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prefix => "prefix",
            Kind::TwoWords => "two-words",
            Kind::City => "city",
            Kind::Typo => "typo",
            Kind::Type => "system-type",
            Kind::Page => "offset",
        }
    }
}

/// One query of the mix.
pub struct Query {
    /// What it is like.
    pub kind: Kind,
    /// The `query` parameter, as typed.
    pub text: String,
    /// The `offset` the mix sends.
    pub offset: usize,
    /// The `system_type` parameter, if any.
    pub system_type: Option<SystemType>,
    /// The index of the system it was built from.
    pub target: usize,
    /// Systems that match for certain.
    pub lower: usize,
    /// Systems that may match.
    pub upper: usize,
    allowed: Bitset,
    uri: Uri,
}

impl Query {
    /// The request the mix sends.
    pub fn uri(&self) -> Uri {
        self.uri.clone()
    }

    /// The request for the page at `offset`.
    pub fn uri_at(&self, offset: usize) -> Uri {
        let mut text = format!("/api/search?query={}", encode(&self.text));
        if offset > 0 {
            text.push_str(&format!("&offset={offset}"));
        }
        if let Some(system_type) = self.system_type {
            text.push_str(&format!("&system_type={}", system_type.as_str()));
        }
        // Every value is percent-encoded or a number, so the text is always a valid URI.
        Uri::try_from(text).unwrap_or_else(|_| Uri::from_static("/invalid"))
    }

    /// The same parameters as a form body, for `POST /api/search`.
    pub fn form_at(&self, offset: usize) -> String {
        let uri = self.uri_at(offset);
        uri.query().unwrap_or("").to_owned()
    }

    /// Whether the checked pass scans every page of the answer for the target.
    pub fn scanned(&self) -> bool {
        self.upper <= SCAN_LIMIT
    }

    /// The query, for messages.
    pub fn describe(&self, offset: usize) -> String {
        let system_type = self
            .system_type
            .map(|t| format!(" system_type={}", t.as_str()))
            .unwrap_or_default();
        format!(
            "{} query={:?} offset={offset}{system_type}",
            self.kind.name(),
            self.text
        )
    }

    /// Checks the answer for the page at `offset`: status 200, a JSON array of at most
    /// [`PAGE`] systems, each a generated system (by id, a JSON number) with its own name,
    /// `resourceUrl` and a city of its in `address`, each allowed by the query, none twice,
    /// and a full page as far as `lower` says. Returns the systems' indices in answer order.
    pub fn check_page(
        &self,
        offset: usize,
        answer: &Answer,
        systems: &[System],
    ) -> Result<Vec<usize>, String> {
        let what = || self.describe(offset);
        if answer.status != StatusCode::OK {
            return Err(format!("{}: {}", what(), answer.describe()));
        }
        let items: Vec<Value> = serde_json::from_slice(&answer.body)
            .map_err(|e| format!("{}: not a JSON array ({e}): {}", what(), answer.describe()))?;
        if items.len() > PAGE {
            return Err(format!("{}: {} systems on one page", what(), items.len()));
        }
        let mut found = Vec::with_capacity(items.len());
        for item in &items {
            let idx = item["id"]
                .as_u64()
                .and_then(|id| id.checked_sub(FIRST_ID))
                .map(|idx| idx as usize)
                .filter(|idx| *idx < systems.len())
                .ok_or_else(|| format!("{}: the id {} is no system's", what(), item["id"]))?;
            let system = &systems[idx];
            let address = item["address"].as_str().unwrap_or("");
            let problem = if item["name"] != system.name.as_str() {
                Some(format!("the name {}", item["name"]))
            } else if item["resourceUrl"] != system.fhir_base_url.as_str() {
                Some(format!("the resourceUrl {}", item["resourceUrl"]))
            } else if !system.locations.iter().any(|l| address.contains(l.city)) {
                Some(format!("the address {:?}", item["address"]))
            } else if !self.allowed.contains(idx) {
                Some("a system that does not match the query".to_owned())
            } else if found.contains(&idx) {
                Some("twice on the page".to_owned())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(format!(
                    "{}: {} ({:?}) has {problem}",
                    what(),
                    system.id,
                    system.name
                ));
            }
            found.push(idx);
        }
        let full = PAGE.min(self.lower.saturating_sub(offset));
        if found.len() < full {
            return Err(format!(
                "{}: {} systems, but at least {} match from this offset",
                what(),
                found.len(),
                full
            ));
        }
        Ok(found)
    }
}

/// Lowercase, with the accents of the generated data dropped.
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// The words of a text, folded: its runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The words of a name a query may use: folded, letters only, at least two of them. A word with
/// an apostrophe ("Children's") is left out, since servers split it differently.
fn name_words(name: &str) -> Vec<String> {
    name.split_whitespace()
        .map(fold)
        .filter(|w| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_lowercase()))
        .collect()
}

/// Whether `a` and `b` are at most one edit apart, counting an insertion, a deletion, a
/// substitution or a swap of two adjacent characters as one edit (the optimal string alignment
/// distance is 0 or 1). Linear, and allocates nothing: the oracle asks it of every word of the
/// data for every query word.
pub fn within_one_edit(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let Some(at) = short.iter().zip(long).position(|(x, y)| x != y) else {
        return long.len() - short.len() <= 1;
    };
    match long.len() - short.len() {
        0 => {
            short[at + 1..] == long[at + 1..]
                || (at + 1 < short.len()
                    && short[at] == long[at + 1]
                    && short[at + 1] == long[at]
                    && short[at + 2..] == long[at + 2..])
        }
        1 => short[at..] == long[at + 1..],
        _ => false,
    }
}

/// Whether the query word `query` (folded) matches the word `word` (folded): `word` starts with
/// it, or, with `typo_allowed` and a query word of at least [`TYPO_MIN_LETTERS`] letters, with
/// something one edit away from it.
pub fn matches_word(query: &str, word: &str, typo_allowed: bool) -> bool {
    if word.starts_with(query) {
        return true;
    }
    let (query, word) = (query.as_bytes(), word.as_bytes());
    if !typo_allowed || query.len() < TYPO_MIN_LETTERS {
        return false;
    }
    // A prefix more than one character longer or shorter is more than one edit away.
    (query.len() - 1..=query.len() + 1)
        .filter(|len| *len <= word.len())
        .any(|len| within_one_edit(query, &word[..len]))
}

/// `word` (folded, ASCII letters, at least 5) with one typo past its first letter, chosen by
/// `r`: a letter replaced, a letter dropped, or two different adjacent letters swapped. The
/// result is always one edit from `word`.
pub fn typo(word: &str, r: u64) -> String {
    let mut letters: Vec<u8> = word.bytes().collect();
    let n = letters.len();
    debug_assert!(n >= 5, "a typo needs a word of at least 5 letters");
    let at = 1 + (r >> 8) as usize % (n - 1);
    let swap_at = (0..n - 2)
        .map(|k| 1 + (at - 1 + k) % (n - 2))
        .find(|i| letters[*i] != letters[*i + 1]);
    match (r % 3, swap_at) {
        (1, _) => {
            letters.remove(at);
        }
        (2, Some(i)) => letters.swap(i, i + 1),
        _ => {
            let shift = 1 + (r >> 16) % 25;
            letters[at] = b'a' + ((u64::from(letters[at] - b'a') + shift) % 26) as u8;
        }
    }
    String::from_utf8(letters).unwrap_or_default()
}

/// A set of systems, by index.
#[derive(Clone)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn empty(n: usize) -> Self {
        Bitset(vec![0; n.div_ceil(64)])
    }

    fn insert(&mut self, idx: usize) {
        self.0[idx / 64] |= 1 << (idx % 64);
    }

    fn contains(&self, idx: usize) -> bool {
        self.0
            .get(idx / 64)
            .is_some_and(|w| w & (1 << (idx % 64)) != 0)
    }

    fn intersect(&mut self, other: &Bitset) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }

    fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// The words of every system, for bounding answers.
pub struct Oracle {
    n_systems: usize,
    vocabulary: Vec<String>,
    /// The systems each word of `vocabulary` belongs to.
    postings: Vec<Vec<u32>>,
    by_type: HashMap<SystemType, Bitset>,
}

impl Oracle {
    /// Indexes the words of the systems' names, address lines and cities.
    pub fn new(systems: &[System]) -> Self {
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut vocabulary = Vec::new();
        let mut postings: Vec<Vec<u32>> = Vec::new();
        let mut by_type: HashMap<SystemType, Bitset> = HashMap::new();
        for (idx, system) in systems.iter().enumerate() {
            by_type
                .entry(system.system_type)
                .or_insert_with(|| Bitset::empty(systems.len()))
                .insert(idx);
            let mut own: Vec<String> = words(&system.name);
            for location in &system.locations {
                own.extend(words(&location.address_line));
                own.extend(words(location.city));
            }
            own.sort_unstable();
            own.dedup();
            for word in own {
                let word_id = *ids.entry(word.clone()).or_insert_with(|| {
                    vocabulary.push(word);
                    postings.push(Vec::new());
                    postings.len() - 1
                });
                postings[word_id].push(idx as u32);
            }
        }
        Oracle {
            n_systems: systems.len(),
            vocabulary,
            postings,
            by_type,
        }
    }

    /// The systems of `system_type` (any type for `None`) that every word of `text` matches,
    /// by exact word prefix or, with `typo_allowed`, one edit away.
    fn matching(&self, text: &str, system_type: Option<SystemType>, typo_allowed: bool) -> Bitset {
        let mut all = match system_type {
            Some(t) => self
                .by_type
                .get(&t)
                .cloned()
                .unwrap_or_else(|| Bitset::empty(self.n_systems)),
            None => Bitset(vec![u64::MAX; self.n_systems.div_ceil(64)]),
        };
        for query_word in words(text) {
            let mut some = Bitset::empty(self.n_systems);
            for (word, systems) in self.vocabulary.iter().zip(&self.postings) {
                if matches_word(&query_word, word, typo_allowed) {
                    for idx in systems {
                        some.insert(*idx as usize);
                    }
                }
            }
            all.intersect(&some);
        }
        // Bits past the last system (from `u64::MAX`) are never in a word's set.
        all
    }

    fn query(
        &self,
        kind: Kind,
        text: String,
        offset: usize,
        system_type: Option<SystemType>,
        target: usize,
    ) -> Query {
        let lower = self.matching(&text, system_type, false).len();
        let allowed = self.matching(&text, system_type, true);
        let mut query = Query {
            kind,
            text,
            offset,
            system_type,
            target,
            lower,
            upper: allowed.len(),
            allowed,
            uri: Uri::from_static("/"),
        };
        query.uri = query.uri_at(offset);
        query
    }
}

/// The mix: [`PER_KIND`] queries of each kind, drawn from `seed`. A kind whose queries cannot
/// be drawn from these systems (too few of them) has fewer.
pub fn draw(systems: &[System], oracle: &Oracle, seed: u64) -> Vec<Query> {
    let mut draws = Draws::new(seed ^ 0x005E_A2C4);
    let mut queries = Vec::new();
    for kind in Kind::ALL {
        let mut drawn = 0;
        // Enough attempts that a rare miss (a typo query that is not narrow enough) costs
        // nothing, and a bounded loop on data that cannot give a kind its queries.
        for attempt in 0..PER_KIND * 50 {
            if drawn == PER_KIND || systems.is_empty() {
                break;
            }
            if let Some(query) = draw_one(kind, attempt, systems, oracle, &mut draws) {
                debug_assert!(query.allowed.contains(query.target), "{}", query.text);
                queries.push(query);
                drawn += 1;
            }
        }
    }
    queries
}

/// One query of `kind`, or `None` when the system drawn does not suit it.
fn draw_one(
    kind: Kind,
    attempt: usize,
    systems: &[System],
    oracle: &Oracle,
    draws: &mut Draws,
) -> Option<Query> {
    let system_type = match kind {
        Kind::Type => Some(SystemType::ALL[attempt % SystemType::ALL.len()]),
        _ => None,
    };
    let target = draws.below(systems.len());
    let system = &systems[target];
    if system_type.is_some_and(|t| t != system.system_type) {
        return None;
    }
    let name_words = name_words(&system.name);
    if name_words.is_empty() {
        return None;
    }
    let word = draws.pick(&name_words).clone();
    let city = draws.pick(&system.locations).city;
    let capitalize = draws.chance(50);
    let typed = |word: &str| {
        let mut chars = word.chars();
        match chars.next() {
            Some(first) if capitalize => first.to_uppercase().chain(chars).collect(),
            _ => word.to_owned(),
        }
    };
    let prefix = |draws: &mut Draws, shortest: usize| {
        let len = (shortest + draws.below(6 - shortest)).min(word.len());
        typed(&word[..len])
    };
    let query = match kind {
        Kind::Prefix => oracle.query(kind, prefix(draws, 2), 0, None, target),
        Kind::TwoWords => {
            if name_words.len() < 2 {
                return None;
            }
            let first = draws.below(name_words.len() - 1);
            let text = format!(
                "{} {}",
                typed(&name_words[first]),
                typed(&name_words[first + 1])
            );
            oracle.query(kind, text, 0, None, target)
        }
        Kind::City => {
            let text = if draws.chance(50) {
                city.to_owned()
            } else {
                fold(city)
            };
            oracle.query(kind, text, 0, None, target)
        }
        Kind::Typo => {
            let long: Vec<&String> = name_words.iter().filter(|w| w.len() >= 5).collect();
            if long.is_empty() {
                return None;
            }
            let misspelt = typo(draws.pick(&long).as_str(), draws.next());
            let text = format!("{} {}", typed(&misspelt), fold(city));
            let query = oracle.query(kind, text, 0, None, target);
            // A typo query must find its target, so its answer must be small enough to scan.
            if !query.scanned() {
                return None;
            }
            query
        }
        Kind::Type => {
            let text = if draws.chance(50) {
                prefix(draws, 3)
            } else {
                typed(&word)
            };
            oracle.query(kind, text, 0, system_type, target)
        }
        Kind::Page => {
            let offset = PAGE * (1 + attempt % 2);
            let query = oracle.query(kind, typed(&word), offset, None, target);
            // The page asked for must be full, or it measures an empty answer.
            if query.lower < offset + PAGE {
                return None;
            }
            query
        }
    };
    Some(query)
}

#[cfg(test)]
mod tests {
    use super::super::systems::generate;
    use super::*;
    use crate::workload::read::splitmix64;

    /// The optimal string alignment distance, computed in full, to check [`within_one_edit`]
    /// and [`typo`] against.
    fn edit_distance(a: &str, b: &str) -> usize {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let mut rows: Vec<Vec<usize>> = (0..=a.len())
            .map(|i| (0..=b.len()).map(|j| if i == 0 { j } else { i }).collect())
            .collect();
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (rows[i - 1][j] + 1)
                    .min(rows[i][j - 1] + 1)
                    .min(rows[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(rows[i - 2][j - 2] + 1);
                }
                rows[i][j] = best;
            }
        }
        rows[a.len()][b.len()]
    }

    #[test]
    fn a_typo_is_always_exactly_one_edit_away_and_still_matches_its_word() {
        let systems = generate(5_000, 42);
        let mut long_words: Vec<String> = systems
            .iter()
            .flat_map(|s| name_words(&s.name))
            .filter(|w| w.len() >= 5)
            .collect();
        long_words.extend(["aaaaa", "abbbb", "bookkeeper", "hartwell"].map(String::from));
        long_words.sort_unstable();
        long_words.dedup();
        let (mut deletions, mut swaps, mut substitutions) = (0, 0, 0);
        for word in &long_words {
            for r in 0..60u64 {
                let misspelt = typo(word, splitmix64(r));
                assert_eq!(edit_distance(word, &misspelt), 1, "{word} → {misspelt}");
                assert_eq!(misspelt.as_bytes()[0], word.as_bytes()[0], "{word}");
                assert!(matches_word(&misspelt, word, true), "{word} → {misspelt}");
                let sorted = |w: &str| {
                    let mut letters: Vec<u8> = w.bytes().collect();
                    letters.sort_unstable();
                    letters
                };
                if misspelt.len() < word.len() {
                    deletions += 1;
                } else if sorted(word) == sorted(&misspelt) {
                    swaps += 1;
                } else {
                    substitutions += 1;
                }
            }
        }
        assert!(
            deletions > 0 && swaps > 0 && substitutions > 0,
            "{deletions} deletions, {swaps} swaps, {substitutions} substitutions"
        );
    }

    #[test]
    fn within_one_edit_agrees_with_the_full_distance() {
        let words = [
            "", "a", "ab", "ba", "abc", "acb", "bac", "abd", "abcd", "abdc", "acbd", "bcd",
            "boston", "bostn", "bsoton", "bastan", "hartwell", "hartwel", "hartwll",
        ];
        for a in words {
            for b in words {
                assert_eq!(
                    within_one_edit(a.as_bytes(), b.as_bytes()),
                    edit_distance(a, b) <= 1,
                    "{a:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn words_fold_and_match_by_prefix_or_one_typo() {
        assert!(matches_word("bos", "boston", true));
        assert!(matches_word("bostn", "boston", true));
        assert!(matches_word("hartwl", "hartwell", true));
        assert!(!matches_word("bsn", "boston", true));
        assert!(!matches_word("bostn", "boston", false));
        assert_eq!(fold("San José"), "san jose");
        assert_eq!(
            words("Saint Mary's Peña 12 Main St"),
            ["saint", "mary", "s", "pena", "12", "main", "st"]
        );
    }

    #[test]
    fn every_query_allows_its_target_and_the_mix_is_whole_and_deterministic() {
        let systems = generate(5_000, 42);
        let oracle = Oracle::new(&systems);
        let queries = draw(&systems, &oracle, 42);
        assert_eq!(queries.len(), PER_KIND * Kind::ALL.len());
        for query in &queries {
            assert!(query.allowed.contains(query.target), "{}", query.text);
            assert!(query.lower <= query.upper, "{}", query.text);
            assert!(
                query.lower >= 1 || query.kind == Kind::Typo,
                "{}",
                query.text
            );
            if let Some(system_type) = query.system_type {
                assert_eq!(systems[query.target].system_type, system_type);
            }
            let text = query.uri().to_string();
            assert!(text.starts_with("/api/search?query="), "{text}");
        }
        let typos: Vec<&Query> = queries.iter().filter(|q| q.kind == Kind::Typo).collect();
        assert!(typos.iter().all(|q| q.scanned()));
        let again = draw(&systems, &oracle, 42);
        let texts = |qs: &[Query]| qs.iter().map(|q| q.uri().to_string()).collect::<Vec<_>>();
        assert_eq!(texts(&queries), texts(&again));
    }
}
