//! Who a customer is. Since April 2026 Meta names every customer by a
//! business-scoped user id (BSUID, `BR.1502576394655843`), and a customer who
//! adopted a username may have no phone number at all. A customer is
//! therefore a pair of optional ids, at least one of them present; Chasqui
//! never keys a customer by phone alone.

use serde::{Deserialize, Serialize};

/// The longest BSUID body Meta documents (after the country and dot).
pub const MAX_USER_ID_BODY: usize = 128;

/// The ids a webhook or a send request names a customer by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerIds {
    /// Phone number, E.164 digits (Meta's `wa_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    /// BSUID (Meta's `user_id`), or a parent BSUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl CustomerIds {
    /// Empty strings count as absent: Meta's lenient model reads a missing
    /// id as `""`.
    pub fn new(wa_id: Option<&str>, user_id: Option<&str>) -> Self {
        let keep = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Self {
            wa_id: keep(wa_id),
            user_id: keep(user_id),
        }
    }

    /// Whether neither id is known.
    pub fn is_empty(&self) -> bool {
        self.wa_id.is_none() && self.user_id.is_none()
    }

    /// The id a customer's state is written under: the BSUID when known
    /// (it survives a username-only customer), else the phone.
    pub fn primary(&self) -> Option<&str> {
        self.user_id.as_deref().or(self.wa_id.as_deref())
    }

    /// Every id, primary first.
    pub fn all(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.user_id.as_deref().into_iter().collect();
        out.extend(self.wa_id.as_deref());
        out
    }
}

/// A customer named by one id, as a person writes it: a BSUID as given, a
/// phone in international format as E.164 digits. The error says what is
/// wrong without repeating the id.
pub fn parse(customer: &str) -> Result<CustomerIds, String> {
    let customer = customer.trim();
    if customer.contains('.') && customer.bytes().any(|b| b.is_ascii_alphabetic()) {
        check_user_id(customer)?;
        return Ok(CustomerIds::new(None, Some(customer)));
    }
    let wa_id = crate::phone::normalise(customer).map_err(|e| e.to_string())?;
    Ok(CustomerIds::new(Some(&wa_id), None))
}

/// Whether `id` has the shape of a BSUID or parent BSUID: two uppercase
/// letters (a country), a dot, an optional `ENT.` (parent ids of linked
/// portfolios), then 1 to 128 letters or digits. Phones are digits only, so
/// the two never collide in a key.
pub fn is_user_id(id: &str) -> bool {
    check_user_id(id).is_ok()
}

/// Why `id` is not a BSUID, in words a request error can carry.
pub fn check_user_id(id: &str) -> Result<(), &'static str> {
    const SHAPE: &str = "is not a business-scoped user id: expected a two-letter country, a dot and up to 128 letters or digits, e.g. BR.1502576394655843 (or a parent id, US.ENT.11815799212886844830)";
    let Some((country, rest)) = id.split_once('.') else {
        return Err(SHAPE);
    };
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(SHAPE);
    }
    let body = rest.strip_prefix("ENT.").unwrap_or(rest);
    if body.is_empty()
        || body.len() > MAX_USER_ID_BODY
        || !body.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(SHAPE);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsuid_shapes() {
        for ok in [
            "BR.1502576394655843",
            "US.ENT.11815799212886844830",
            "CO.abc123",
        ] {
            assert!(is_user_id(ok), "{ok}");
        }
        let long = format!("BR.{}", "1".repeat(129));
        for bad in [
            "5511988887777",
            "BR1502576394655843",
            "br.150",
            "BRA.150",
            "BR.",
            "BR.ENT.",
            "BR.15-02",
            "BR.15 02",
            long.as_str(),
            "",
        ] {
            assert!(!is_user_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_bsuid_is_primary_and_empty_ids_are_absent() {
        let both = CustomerIds::new(Some("5511"), Some("BR.1"));
        assert_eq!(both.primary(), Some("BR.1"));
        assert_eq!(both.all(), ["BR.1", "5511"]);
        let phone = CustomerIds::new(Some("5511"), Some(""));
        assert_eq!(
            (phone.primary(), phone.user_id.as_deref()),
            (Some("5511"), None)
        );
        assert!(CustomerIds::new(Some(" "), None).is_empty());
    }
}
