//! Text as the directory search compares it: folded words.

use hale_search::normalize::normalize_string;

/// The words of `text` as search compares them: lower case, accents folded (the same folding as
/// FHIR string search), apostrophes dropped (`Mary's` is `marys`), split at every other character
/// that is neither a letter nor a digit (`St.-Luke` is `st`, `luke`).
pub fn words(text: &str) -> Vec<String> {
    let folded = normalize_string(text);
    let mut words = Vec::new();
    let mut word = String::new();
    for c in folded.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else if c == '\'' || c == '\u{2019}' {
            continue;
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The key that orders systems alphabetically: the folded name's words.
pub fn sort_key(name: &str) -> String {
    words(name).join(" ")
}

/// Whether `c` may appear in a search query: letters, digits, spaces and `'` only, as 1up
/// documents.
pub fn allowed_in_query(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || c == '\''
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_and_split() {
        assert_eq!(
            words("  St. Mary's  Hôpital-Général\t2"),
            ["st", "marys", "hopital", "general", "2"]
        );
        assert_eq!(words("O’Connor"), ["oconnor"]);
        assert!(words(" . ").is_empty());
    }

    #[test]
    fn only_letters_digits_spaces_and_apostrophes_are_allowed() {
        assert!("Mary's Hôpital 2".chars().all(allowed_in_query));
        for bad in ['.', '-', '%', '*', '\t', '"', ';'] {
            assert!(!allowed_in_query(bad), "{bad:?}");
        }
    }
}
