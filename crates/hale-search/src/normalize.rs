//! The one normalization of text for [string search](https://hl7.org/fhir/R4/search.html#string).
//!
//! FHIR says a string search is case- and accent-insensitive and ignores differences in whitespace.
//! Both sides of a match (the value stored in the index and the value in the query) go through
//! [`normalize_string`], so the store compares plain strings with a prefix or substring test and
//! never needs collations of its own.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Normalizes `s` for string search: lower case, accents folded, whitespace collapsed.
///
/// Accents are folded by compatibility decomposition (NFKD) followed by dropping every combining
/// mark, so U+00E9 (e with acute) and `e` followed by U+0301 both become `e`, and the ligature U+FB01 becomes `fi`. Runs of
/// whitespace become one space and leading and trailing whitespace is removed, because a user who
/// types `van  der` means `van der`.
pub fn normalize_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // ASCII input is by far the most common case on the write path, and it needs neither
    // decomposition nor mark removal, so it takes a loop without the Unicode machinery.
    if s.is_ascii() {
        for word in s.split_ascii_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        }
        return out;
    }
    let mut pending_space = false;
    for c in s.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        // Lower-casing happens after decomposition, because a few upper-case letters lower-case
        // to a letter with a combining mark (U+0130 to `i` followed by U+0307) that must be dropped as well.
        for lower in c.to_lowercase() {
            if !is_combining_mark(lower) {
                out.push(lower);
            }
        }
    }
    out
}

/// The words of `text` for full-text search (`_content`, `_text`), in order, repeats included:
/// the runs of letters and digits, normalized as [`normalize_string`] normalizes (lower case,
/// accents folded); everything else separates words.
///
/// These are the words SQLite's FTS5 tokenizer (`unicode61`, which also folds case and removes
/// diacritics) makes of the same text, so that a store that keeps words itself (PostgreSQL's
/// `tsvector`) matches what the other does: `blood-pressure` is the words `blood` and
/// `pressure`, `loinc.org` is `loinc` and `org`.
pub fn text_words(text: &str) -> Vec<String> {
    folded_words(text)
        .split_terminator(' ')
        .map(str::to_owned)
        .collect()
}

/// The words of [`text_words`] in one string, each followed by a space, so that a caller that
/// sorts or counts them borrows each word instead of allocating it.
pub fn folded_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    // Whether a word is open: the first separator after it closes it with one space.
    let mut in_word = false;
    let end_word = |out: &mut String, in_word: &mut bool| {
        if std::mem::take(in_word) {
            out.push(' ');
        }
    };
    if text.is_ascii() {
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() {
                out.push(char::from(b.to_ascii_lowercase()));
                in_word = true;
            } else {
                end_word(&mut out, &mut in_word);
            }
        }
    } else {
        for c in text.nfkd() {
            if is_combining_mark(c) {
                continue;
            }
            if !c.is_alphanumeric() {
                end_word(&mut out, &mut in_word);
                continue;
            }
            for lower in c.to_lowercase().filter(|lower| !is_combining_mark(*lower)) {
                out.push(lower);
                in_word = true;
            }
        }
    }
    end_word(&mut out, &mut in_word);
    out
}

#[cfg(test)]
mod tests {
    use super::{normalize_string, text_words};

    #[test]
    fn words_are_runs_of_letters_and_digits_normalized() {
        assert_eq!(
            text_words("Blood-pressure 120/80 mm[Hg] at http://loinc.org|8480-6."),
            [
                "blood", "pressure", "120", "80", "mm", "hg", "at", "http", "loinc", "org", "8480",
                "6"
            ]
        );
        assert_eq!(
            text_words("Ren\u{e9}e M\u{fc}ller, O'Brien"),
            ["renee", "muller", "o", "brien"]
        );
        assert_eq!(text_words("Rene\u{301}e"), ["renee"]);
        assert_eq!(
            text_words("\u{c5}NGSTR\u{d6}M \u{fb01}sh"),
            ["angstrom", "fish"]
        );
        assert_eq!(
            text_words("<div>\u{4e2d}\u{6587} caf\u{e9}</div>"),
            ["div", "\u{4e2d}\u{6587}", "cafe", "div"]
        );
        assert!(text_words(" -- / ").is_empty());
        assert!(text_words("").is_empty());
    }

    #[test]
    fn ascii_is_lower_cased_and_whitespace_collapsed() {
        assert_eq!(normalize_string("  Van   der\tLinden \n"), "van der linden");
        assert_eq!(normalize_string("Chalmers"), "chalmers");
        assert_eq!(normalize_string(""), "");
        assert_eq!(normalize_string("   "), "");
    }

    #[test]
    fn accents_are_folded() {
        assert_eq!(normalize_string("Ren\u{e9}e M\u{fc}ller"), "renee muller");
        assert_eq!(normalize_string("Rene\u{301}e"), "renee");
        assert_eq!(normalize_string("\u{c5}NGSTR\u{d6}M"), "angstrom");
        assert_eq!(normalize_string("Zo\u{eb} \u{c7}elik"), "zoe celik");
    }

    #[test]
    fn compatibility_forms_are_folded() {
        assert_eq!(normalize_string("\u{fb01}le"), "file");
        assert_eq!(normalize_string("\u{ff21}\u{ff22}\u{ff23}"), "abc");
        // A non-breaking space is whitespace like any other.
        assert_eq!(normalize_string("a\u{a0}\u{a0}b"), "a b");
    }

    #[test]
    fn letters_without_decomposition_are_kept() {
        assert_eq!(normalize_string("\u{df}tra\u{df}e"), "\u{df}tra\u{df}e");
        assert_eq!(normalize_string("\u{d8}ster"), "\u{f8}ster");
        assert_eq!(normalize_string("\u{130}stanbul"), "istanbul");
        assert_eq!(
            normalize_string("\u{5c71}\u{7530} \u{592a}\u{90ce}"),
            "\u{5c71}\u{7530} \u{592a}\u{90ce}"
        );
    }
}
