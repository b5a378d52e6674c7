//! The directory in memory and its search.
//!
//! **Matching.** A system matches a query when every query word matches a word of its name, or of
//! one of its places' address lines or city: the query word is a prefix of that word (`mass`
//! matches `Massachusetts`), after folding case and accents ([`crate::text::words`]). A query word
//! of [`TYPO_MIN_LEN`] or more characters may also differ from the start of the word by one typo
//! after its first letter: one character inserted, deleted, replaced, or two neighbours swapped
//! (`bostn`, `bsoton` and `boaton` all find `Boston`). People rarely get the first letter wrong,
//! and allowing it would make every search walk the whole vocabulary (as search engines' fuzzy
//! matching does by default, with a prefix length of one). Shorter words must match exactly,
//! since one typo in two or three letters matches nearly everything.
//!
//! **Order.** Each query word scores the best way it matched the system: without a typo beats
//! with one, a whole word beats a prefix, the name beats an address. Systems come by the sum of
//! their scores, highest first, then alphabetically by name, then by id, so equal relevance is
//! alphabetical and pages are stable.
//!
//! **How it is fast.** The words of all systems form one sorted vocabulary, each word with the
//! systems that hold it. Words sharing a prefix are a contiguous run of it, so an exact prefix is
//! two binary searches, and the typo search walks the vocabulary as a trie, keeping a row of edit
//! distances per prefix and leaving every branch that is already more than one edit away. Scores
//! go into one byte per system, so a query costs its matched postings plus a pass over the
//! systems, whatever the order of the words.

use std::collections::HashMap;
use std::ops::Range;

use crate::system::{System, SystemType};
use crate::text::{sort_key, words};
use crate::zip::Zip;

/// Query words shorter than this must match without a typo.
pub const TYPO_MIN_LEN: usize = 4;

/// The systems, ordered by name, with the word index over them.
#[derive(Default)]
pub struct Directory {
    systems: Vec<System>,
    by_id: HashMap<String, usize>,
    /// The sorted vocabulary of folded words.
    vocabulary: Vec<Box<[u8]>>,
    /// For each word of the vocabulary, the systems that hold it: the system's position shifted
    /// left by one, with the low bit set when the word is in its name.
    postings: Vec<Vec<u32>>,
    /// Per 5- and 3-digit zip prefix: the sum of the positions of the places there, and how many.
    zip_points: HashMap<String, (f64, f64, u32)>,
    /// Each system's [`SystemType`] bits, in system order: the type filter reads this compact
    /// array rather than every system.
    types: Vec<u8>,
}

/// What a search asks for.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// The folded query words; none matches every system.
    pub words: Vec<String>,
    /// Only systems of this type.
    pub system_type: Option<SystemType>,
    /// Order by distance from this zip code instead of by relevance.
    pub near: Option<Zip>,
}

/// One match of a query word in the vocabulary: the run of words, the length of the prefix of
/// theirs that matched, and the typos it took.
struct WordMatch {
    run: Range<usize>,
    depth: usize,
    typos: u8,
}

impl Directory {
    /// Indexes `systems`.
    pub fn new(mut systems: Vec<System>) -> Self {
        let mut keyed: Vec<(String, System)> =
            systems.drain(..).map(|s| (sort_key(&s.name), s)).collect();
        keyed.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.id.cmp(&y.id)));
        let systems: Vec<System> = keyed.into_iter().map(|(_, s)| s).collect();

        let mut postings: HashMap<String, Vec<u32>> = HashMap::new();
        let mut zip_points: HashMap<String, (f64, f64, u32)> = HashMap::new();
        for (n, system) in systems.iter().enumerate() {
            let position = (n as u32) << 1;
            let name_words = words(&system.name);
            let mut place_words = Vec::new();
            for place in &system.places {
                for line in place.lines.iter().chain([&place.city]) {
                    place_words.extend(words(line));
                }
                if let (Some((lat, lon)), Some(zip)) = (place.position, place.zip5()) {
                    for prefix in [&zip[..5], &zip[..3]] {
                        let point = zip_points.entry(prefix.to_owned()).or_default();
                        point.0 += lat;
                        point.1 += lon;
                        point.2 += 1;
                    }
                }
            }
            for (word, in_name) in name_words
                .into_iter()
                .map(|w| (w, true))
                .chain(place_words.into_iter().map(|w| (w, false)))
            {
                let list = postings.entry(word).or_default();
                match list.last_mut() {
                    Some(last) if *last >> 1 == position >> 1 => *last |= u32::from(in_name),
                    _ => list.push(position | u32::from(in_name)),
                }
            }
        }
        let mut vocabulary: Vec<(String, Vec<u32>)> = postings.into_iter().collect();
        vocabulary.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let by_id = systems
            .iter()
            .enumerate()
            .map(|(n, s)| (s.id.clone(), n))
            .collect();
        let (vocabulary, postings) = vocabulary
            .into_iter()
            .map(|(w, p)| (w.into_bytes().into_boxed_slice(), p))
            .unzip();
        let types = systems.iter().map(|s| s.types).collect();
        Directory {
            types,
            systems,
            by_id,
            vocabulary,
            postings,
            zip_points,
        }
    }

    /// How many systems there are.
    pub fn len(&self) -> usize {
        self.systems.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.systems.is_empty()
    }

    /// The systems, by name.
    pub fn systems(&self) -> &[System] {
        &self.systems
    }

    /// The system with Organization id `id`.
    pub fn get(&self, id: &str) -> Option<&System> {
        self.by_id.get(id).map(|&n| &self.systems[n])
    }

    /// The systems that match `query`, in its order, from `offset`, at most `limit`.
    pub fn search(&self, query: &Query, offset: usize, limit: usize) -> Vec<&System> {
        let scores = self.scores(query);
        let order = match &query.near {
            Some(zip) => self.nearest(zip, &scores),
            None => by_score(&scores, offset.saturating_add(limit)),
        };
        order
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|n| &self.systems[n])
            .collect()
    }

    /// Each system's score for `query`: zero when it does not match.
    fn scores(&self, query: &Query) -> Vec<u16> {
        let mut total: Vec<u16> = match query.system_type {
            Some(t) => self
                .types
                .iter()
                .map(|&types| u16::from(types & t.bit() != 0))
                .collect(),
            None => vec![1; self.systems.len()],
        };
        let mut best = vec![0u8; self.systems.len()];
        for word in &query.words {
            best.fill(0);
            for m in self.matches(word.as_bytes()) {
                for n in m.run {
                    let whole = self.vocabulary[n].len() == m.depth;
                    let base = 1 + 2 * u8::from(whole) + 4 * u8::from(m.typos == 0);
                    for &posting in &self.postings[n] {
                        let score = base + (posting & 1) as u8;
                        let slot = &mut best[(posting >> 1) as usize];
                        *slot = (*slot).max(score);
                    }
                }
            }
            for (t, &b) in total.iter_mut().zip(&best) {
                *t = if *t == 0 || b == 0 {
                    0
                } else {
                    *t + u16::from(b)
                };
            }
        }
        total
    }

    /// The runs of the vocabulary that `word` matches.
    fn matches(&self, word: &[u8]) -> Vec<WordMatch> {
        if word.len() < TYPO_MIN_LEN {
            let lo = self.vocabulary.partition_point(|w| &w[..] < word);
            let hi = lo + self.vocabulary[lo..].partition_point(|w| w.starts_with(word));
            return vec![WordMatch {
                run: lo..hi,
                depth: word.len(),
                typos: 0,
            }];
        }
        let mut out = Vec::new();
        let root: Vec<u8> = (0..=word.len() as u8).collect();
        self.walk(word, 0..self.vocabulary.len(), 0, None, &root, &mut out);
        out
    }

    /// Visits the trie node of the words in `run`, which share their first `depth` bytes, whose
    /// edit distances to each prefix of `word` are `row` (and `above`, the parent's, with the
    /// byte that led here, for swaps).
    fn walk(
        &self,
        word: &[u8],
        run: Range<usize>,
        depth: usize,
        above: Option<(&[u8], u8)>,
        row: &[u8],
        out: &mut Vec<WordMatch>,
    ) {
        let distance = row[word.len()];
        if distance <= 1 {
            out.push(WordMatch {
                run: run.clone(),
                depth,
                typos: distance,
            });
            if distance == 0 {
                return;
            }
        }
        if row.iter().min().is_none_or(|&m| m > 1) {
            return;
        }
        let mut start = run.start;
        // The word that is exactly this node's prefix sorts first and has no child.
        if start < run.end && self.vocabulary[start].len() == depth {
            start += 1;
        }
        while start < run.end {
            let byte = self.vocabulary[start][depth];
            let end = start + self.vocabulary[start..run.end].partition_point(|w| w[depth] <= byte);
            // The first letter takes no typo (see the module docs).
            if depth == 0 && byte != word[0] {
                start = end;
                continue;
            }
            let mut next = Vec::with_capacity(row.len());
            next.push(row[0] + 1);
            for j in 1..=word.len() {
                let substitute = row[j - 1] + u8::from(word[j - 1] != byte);
                let mut d = substitute.min(row[j] + 1).min(next[j - 1] + 1);
                if let Some((above_row, above_byte)) = above
                    && j > 1
                    && word[j - 1] == above_byte
                    && word[j - 2] == byte
                {
                    d = d.min(above_row[j - 2] + 1);
                }
                next.push(d.min(2));
            }
            self.walk(word, start..end, depth + 1, Some((row, byte)), &next, out);
            start = end;
        }
    }

    /// The matching systems ordered by distance from `zip`: by the nearest of their places with a
    /// position when the zip's place is known (the mean position of the directory's places in
    /// that zip, or else in its 3-digit area), then those without positions by the length of the
    /// zip prefix they share with it (at least 3 digits), then alphabetically.
    fn nearest(&self, zip: &Zip, scores: &[u16]) -> Vec<usize> {
        let point = [&zip.zip5[..], &zip.zip5[..3]]
            .into_iter()
            .find_map(|prefix| self.zip_points.get(prefix))
            .map(|&(lat, lon, n)| (lat / f64::from(n), lon / f64::from(n)));
        let mut located: Vec<(f64, usize)> = Vec::new();
        let mut by_prefix: Vec<(usize, usize)> = Vec::new();
        let scale = point.map_or(1.0, |(lat, _)| lat.to_radians().cos());
        for (n, system) in self.systems.iter().enumerate() {
            if scores[n] == 0 {
                continue;
            }
            let nearest = point.and_then(|(lat, lon)| {
                system
                    .places
                    .iter()
                    .filter_map(|p| p.position)
                    .map(|(plat, plon)| {
                        let (dy, dx) = (plat - lat, (plon - lon) * scale);
                        dy * dy + dx * dx
                    })
                    .min_by(f64::total_cmp)
            });
            if let Some(d) = nearest {
                located.push((d, n));
                continue;
            }
            let shared = system
                .places
                .iter()
                .filter_map(|p| p.zip5())
                .map(|z| common_prefix(z, &zip.zip5))
                .max()
                .unwrap_or(0);
            if shared >= 3 {
                by_prefix.push((shared, n));
            }
        }
        located.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        by_prefix.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        located
            .into_iter()
            .map(|(_, n)| n)
            .chain(by_prefix.into_iter().map(|(_, n)| n))
            .collect()
    }
}

/// The first `wanted` positions of the systems with a score, highest first, then in name order
/// (the order of the systems). Scores are small, so one pass counts the systems per score, which
/// says the lowest score the first `wanted` reach; a second pass collects only those, in order,
/// stopping at the lowest score once enough are in. A short page of a query that matches half
/// the directory costs two passes over the scores and no sort.
fn by_score(scores: &[u16], wanted: usize) -> Vec<usize> {
    let top = scores.iter().copied().max().unwrap_or(0) as usize;
    if top == 0 {
        return Vec::new();
    }
    let mut counts = vec![0usize; top + 1];
    for &score in scores {
        counts[score as usize] += 1;
    }
    // The lowest score needed, and how many of it: everything above it is taken.
    let (mut lowest, mut above) = (top, 0usize);
    while lowest > 1 && above + counts[lowest] < wanted {
        above += counts[lowest];
        lowest -= 1;
    }
    let mut at_lowest = wanted.saturating_sub(above).min(counts[lowest]);
    let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); top + 1];
    for (n, &score) in scores.iter().enumerate() {
        let score = score as usize;
        if score == 0 || score < lowest {
            continue;
        }
        if score == lowest {
            if at_lowest == 0 {
                // Nothing later can rank higher when the page is all of the top score.
                if lowest == top {
                    break;
                }
                continue;
            }
            at_lowest -= 1;
        }
        buckets[score].push(n);
    }
    buckets.into_iter().rev().flatten().take(wanted).collect()
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Place;

    fn system(id: &str, name: &str, city: &str, zip: &str, position: Option<(f64, f64)>) -> System {
        System {
            id: id.into(),
            endpoint_id: id.into(),
            name: name.into(),
            types: SystemType::HealthSystem.bit(),
            resource_url: format!("https://{id}.example/fhir"),
            fhir_version: Some("4.0.1".into()),
            ehr: None,
            logo: None,
            status: "active".into(),
            authorize_url: None,
            token_url: None,
            oauth_client_id: None,
            places: vec![Place {
                location_id: None,
                name: name.into(),
                lines: vec!["1 Main Street".into()],
                city: city.into(),
                state: "MA".into(),
                postal_code: zip.into(),
                position,
            }],
        }
    }

    fn directory() -> Directory {
        Directory::new(vec![
            system(
                "1",
                "Boston Medical Center",
                "Boston",
                "02118",
                Some((42.335, -71.07)),
            ),
            system(
                "2",
                "Massachusetts General Hospital",
                "Boston",
                "02114",
                Some((42.363, -71.069)),
            ),
            system(
                "3",
                "Saint Vincent Hospital",
                "Worcester",
                "01608",
                Some((42.26, -71.80)),
            ),
            system("4", "Bostwick Clinic", "Springfield", "01103", None),
            system("5", "Cape Cod Hospital", "Hyannis", "02601", None),
            system("6", "Hôpital Général de Lévis", "Lévis", "01999", None),
        ])
    }

    fn ids(dir: &Directory, text: &str) -> Vec<String> {
        let query = Query {
            words: words(text),
            ..Query::default()
        };
        dir.search(&query, 0, 20)
            .into_iter()
            .map(|s| s.id.clone())
            .collect()
    }

    #[test]
    fn words_match_by_prefix_in_name_street_and_city() {
        let dir = directory();
        // A name word beats a city word; equal scores are alphabetical.
        assert_eq!(ids(&dir, "boston"), ["1", "2"]);
        assert_eq!(ids(&dir, "bost"), ["1", "4", "2"]);
        assert_eq!(ids(&dir, "mass gen"), ["2"]);
        assert_eq!(ids(&dir, "worc"), ["3"]);
        assert_eq!(ids(&dir, "main"), ["1", "4", "5", "6", "2", "3"]);
        assert!(ids(&dir, "nothing").is_empty());
    }

    #[test]
    fn case_and_accents_do_not_matter() {
        let dir = directory();
        assert_eq!(ids(&dir, "HOPITAL levis"), ["6"]);
        assert_eq!(ids(&dir, "général"), ["6", "2"]);
    }

    #[test]
    fn one_typo_per_word_is_forgiven_in_words_of_four_or_more_letters() {
        let dir = directory();
        // Deletion, substitution, transposition, insertion.
        assert_eq!(ids(&dir, "bostn medical"), ["1"]);
        assert_eq!(ids(&dir, "boatom"), Vec::<String>::new());
        assert_eq!(ids(&dir, "massachusets"), ["2"]);
        assert_eq!(ids(&dir, "vincnet"), ["3"]);
        assert_eq!(ids(&dir, "bsoton medical"), ["1"]);
        // The first letter takes no typo.
        assert!(ids(&dir, "voston medical").is_empty());
        assert!(ids(&dir, "oston medical").is_empty());
        assert_eq!(ids(&dir, "hosppital cape"), ["5"]);
        // An exact match outranks a typo match.
        assert_eq!(ids(&dir, "boston")[0], "1");
        // Short words must be exact: "cap" does not reach "cod" or "gap".
        assert_eq!(ids(&dir, "cap"), ["5"]);
        assert!(ids(&dir, "xap").is_empty());
    }

    #[test]
    fn the_type_filters_and_an_empty_query_lists_everything_by_name() {
        let mut systems = directory().systems;
        systems[0].types = SystemType::Payer2Payer.bit();
        let dir = Directory::new(systems);
        let all = Query::default();
        let names: Vec<&str> = dir
            .search(&all, 0, 100)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Boston Medical Center",
                "Bostwick Clinic",
                "Cape Cod Hospital",
                "Hôpital Général de Lévis",
                "Massachusetts General Hospital",
                "Saint Vincent Hospital"
            ]
        );
        let payers = Query {
            system_type: Some(SystemType::Payer2Payer),
            ..Query::default()
        };
        assert_eq!(dir.search(&payers, 0, 20)[0].id, "1");
        assert_eq!(dir.search(&payers, 0, 20).len(), 1);
        assert_eq!(dir.search(&all, 4, 20).len(), 2);
    }

    #[test]
    fn by_score_takes_the_highest_then_the_first_in_order() {
        let scores = [0, 3, 1, 3, 2, 1, 0, 2, 3];
        assert_eq!(by_score(&scores, 100), [1, 3, 8, 4, 7, 2, 5]);
        assert_eq!(by_score(&scores, 4), [1, 3, 8, 4]);
        assert_eq!(by_score(&scores, 2), [1, 3]);
        assert_eq!(by_score(&scores, 0), Vec::<usize>::new());
        assert_eq!(by_score(&[0, 0], 5), Vec::<usize>::new());
        assert_eq!(by_score(&[], 5), Vec::<usize>::new());
    }

    #[test]
    fn zip_search_orders_by_distance_then_by_shared_prefix() {
        let dir = directory();
        let near = |zip: &str| {
            let query = Query {
                near: Some(Zip::parse(zip).unwrap()),
                ..Query::default()
            };
            dir.search(&query, 0, 20)
                .into_iter()
                .map(|s| s.id.clone())
                .collect::<Vec<_>>()
        };
        // 02114's place is MGH's; Boston Medical Center is next, Worcester last.
        assert_eq!(near("02114"), ["2", "1", "3"]);
        // 01608 is Worcester.
        assert_eq!(near("01608-1234"), ["3", "1", "2"]);
        // No positions in 026xx: the systems sharing the longest prefix.
        assert_eq!(near("02601"), ["5"]);
        // 011xx has no positions: Springfield by its 3 digits.
        assert_eq!(near("01102"), ["4"]);
        assert!(near("99999").is_empty());
    }
}
