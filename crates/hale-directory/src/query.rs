//! The parameters of the system search endpoints, checked.

use crate::error::DirectoryError;
use crate::system::SystemType;
use crate::text::{allowed_in_query, words};

/// Longest query text accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most words a query may have.
pub const MAX_QUERY_WORDS: usize = 10;
/// Largest `offset` accepted.
pub const MAX_OFFSET: usize = 1_000_000;

/// The folded words of a `query` parameter: letters, digits, spaces and `'` only.
pub fn query_words(text: Option<&str>) -> Result<Vec<String>, DirectoryError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    if let Some(bad) = text.chars().find(|&c| !allowed_in_query(c)) {
        return Err(DirectoryError::Invalid(format!(
            "query may hold only letters, digits, spaces and ', not {bad:?}"
        )));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(DirectoryError::Invalid(format!(
            "query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let words = words(text);
    if words.len() > MAX_QUERY_WORDS {
        return Err(DirectoryError::Invalid(format!(
            "query has more than {MAX_QUERY_WORDS} words"
        )));
    }
    Ok(words)
}

/// The `offset` parameter: a whole number, 0 when absent.
pub fn offset(text: Option<&str>) -> Result<usize, DirectoryError> {
    let Some(text) = text else {
        return Ok(0);
    };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| n <= MAX_OFFSET)
        .ok_or_else(|| {
            DirectoryError::Invalid(format!(
                "offset must be a whole number from 0 to {MAX_OFFSET}, not {text:?}"
            ))
        })
}

/// The `system_type` (or `systemType`) parameter.
pub fn system_type(text: Option<&str>) -> Result<Option<SystemType>, DirectoryError> {
    text.map(|t| {
        SystemType::parse(t).ok_or_else(|| {
            DirectoryError::Invalid(format!(
                "system_type must be HealthSystem, Payer2Payer or PayerPatientAccess, not {t:?}"
            ))
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_is_checked() {
        assert_eq!(
            query_words(Some("St Mary's  2")).unwrap(),
            ["st", "marys", "2"]
        );
        assert!(query_words(None).unwrap().is_empty());
        let err = query_words(Some("St. Mary")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "query may hold only letters, digits, spaces and ', not '.'"
        );
        assert!(query_words(Some(&"a ".repeat(11))).is_err());
        assert!(query_words(Some(&"a".repeat(201))).is_err());
    }

    #[test]
    fn offset_and_type_are_checked() {
        assert_eq!(offset(Some("40")).unwrap(), 40);
        assert_eq!(offset(None).unwrap(), 0);
        assert!(offset(Some("-1")).is_err());
        assert!(offset(Some("2x")).is_err());
        assert_eq!(
            system_type(Some("payer2payer")).unwrap(),
            Some(SystemType::Payer2Payer)
        );
        assert!(system_type(Some("Hospital")).is_err());
    }
}
