//! Phone numbers as the Cloud API wants them: E.164 digits without the `+`.
//! Upstream systems write numbers the way people do (`+55 11 98888-7777`,
//! `(+1) 555.010.0100`); anything that is not plainly one international
//! number is refused rather than guessed, because a wrong guess messages the
//! wrong person.

/// E.164 allows at most 15 digits, country code included.
pub const MAX_DIGITS: usize = 15;
/// The shortest international numbers in use (a few small countries) have 7.
pub const MIN_DIGITS: usize = 7;

/// Why a phone number was refused; the message tells the request's author how
/// to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but whitespace.
    #[error("is empty; give the number in international format, e.g. +5511988887777")]
    Empty,
    /// A character a phone number does not hold.
    #[error(
        "contains {0:?}; only digits, one leading '+', spaces, '-', '.', '(' and ')' are allowed"
    )]
    Character(char),
    /// A `+` after a digit, or more than one.
    #[error("has a '+' that is not before the first digit, or more than one")]
    MisplacedPlus,
    /// A leading `0`: a trunk or international prefix instead of the country
    /// code.
    #[error(
        "starts with 0; write the country code after '+' instead of a trunk or international prefix (e.g. +5511..., not 0055 11... or 011...)"
    )]
    LeadingZero,
    /// Too few or too many digits for E.164 (the count found).
    #[error(
        "has {0} digits; an E.164 number has {MIN_DIGITS} to {MAX_DIGITS}, country code included"
    )]
    Length(usize),
}

/// Normalises a phone number to E.164 digits (`5511988887777`).
pub fn normalise(input: &str) -> Result<String, PhoneError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut digits = String::with_capacity(MAX_DIGITS);
    let mut plus = false;
    for c in trimmed.chars() {
        match c {
            '0'..='9' => digits.push(c),
            // `(+1) ...` is common: the plus only has to come before the digits.
            '+' if !plus && digits.is_empty() => plus = true,
            '+' => return Err(PhoneError::MisplacedPlus),
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            other => return Err(PhoneError::Character(other)),
        }
    }
    if digits.starts_with('0') {
        return Err(PhoneError::LeadingZero);
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(PhoneError::Length(digits.len()));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_what_people_write() {
        for (input, want) in [
            ("+55 11 98888-7777", "5511988887777"),
            ("5511988887777", "5511988887777"),
            ("(+1) 555.010.0100", "15550100100"),
            ("  +44 20 7946 0958 ", "442079460958"),
            ("+683 4002", "6834002"),
        ] {
            assert_eq!(normalise(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn refuses_what_could_reach_the_wrong_person() {
        for (input, want) in [
            ("", PhoneError::Empty),
            ("   ", PhoneError::Empty),
            ("+55 11 9888x-7777", PhoneError::Character('x')),
            ("55+11988887777", PhoneError::MisplacedPlus),
            ("++5511988887777", PhoneError::MisplacedPlus),
            ("0055 11 98888 7777", PhoneError::LeadingZero),
            ("+1234", PhoneError::Length(4)),
            ("+1234567890123456", PhoneError::Length(16)),
            ("wa.me/5511", PhoneError::Character('w')),
        ] {
            assert_eq!(normalise(input), Err(want), "{input:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn output_is_always_plain_e164_digits(s in "\\PC{0,24}") {
            if let Ok(digits) = normalise(&s) {
                proptest::prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                proptest::prop_assert!((MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()));
                proptest::prop_assert!(!digits.starts_with('0'));
                proptest::prop_assert_eq!(normalise(&digits), Ok(digits.clone()));
            }
        }
    }
}
