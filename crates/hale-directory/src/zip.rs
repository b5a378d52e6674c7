//! US zip codes as `/api/systems/{zip}` takes them.

use crate::error::DirectoryError;

/// A 5-digit zip code, or the 5 digits of a ZIP+4 code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zip {
    /// The five digits.
    pub zip5: String,
}

impl Zip {
    /// Parses `12345` or `12345-6789`.
    pub fn parse(text: &str) -> Result<Self, DirectoryError> {
        let bytes = text.as_bytes();
        let digits = |b: &[u8]| b.iter().all(u8::is_ascii_digit);
        let valid = match bytes.len() {
            5 => digits(bytes),
            10 => digits(&bytes[..5]) && bytes[5] == b'-' && digits(&bytes[6..]),
            _ => false,
        };
        if !valid {
            return Err(DirectoryError::Invalid(format!(
                "{text:?} is not a zip code: give 5 digits or 5-4 digits (12345 or 12345-6789)"
            )));
        }
        Ok(Zip {
            zip5: text[..5].to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_nine_digit_zips_parse() {
        assert_eq!(Zip::parse("02114").unwrap().zip5, "02114");
        assert_eq!(Zip::parse("02114-2696").unwrap().zip5, "02114");
        for bad in [
            "0211",
            "021145",
            "02114-26",
            "0211a",
            "02114 2696",
            "",
            "02114-26960",
        ] {
            assert!(Zip::parse(bad).is_err(), "{bad}");
        }
    }
}
