//! Contact cards of a `contacts` message.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{RequestError, non_empty};

/// One contact card of a `contacts` message, Meta's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactCard {
    /// Postal addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<ContactAddress>>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    /// Email addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<ContactEmail>>,
    /// The contact's name; required.
    pub name: ContactName,
    /// The contact's organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<ContactOrg>,
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<ContactPhone>>,
    /// Web addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<ContactUrl>>,
}

/// One postal address on a contact card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactAddress {
    /// Street and number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or province code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    /// Full country name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Two-letter ISO country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// One email address on a contact card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactEmail {
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `formatted_name` and at least one other part are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactName {
    /// The full name as shown; never empty.
    pub formatted_name: String,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Name suffix (`Jr.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Name prefix (`Dr.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// The contact's organisation on a contact card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactOrg {
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// One phone number on a contact card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPhone {
    /// The number, as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `CELL`, `MAIN`, `IPHONE`, `HOME` or `WORK`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Adds a "Message" button to the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
}

/// One web address on a contact card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUrl {
    /// The URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `HOME` or `WORK`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl ContactCard {
    pub(super) fn validate(&self, path: &str) -> Result<(), RequestError> {
        let name = &self.name;
        non_empty(&format!("{path}.name.formatted_name"), &name.formatted_name)?;
        let parts = [
            &name.first_name,
            &name.last_name,
            &name.middle_name,
            &name.suffix,
            &name.prefix,
        ];
        if !parts
            .iter()
            .any(|p| p.as_deref().is_some_and(|s| !s.trim().is_empty()))
        {
            return Err(RequestError::new(
                format!("{path}.name"),
                "needs at least one of first_name, last_name, middle_name, suffix or prefix besides formatted_name",
            ));
        }
        if let Some(birthday) = &self.birthday {
            let ok = birthday.len() == 10
                && birthday.bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            if !ok {
                return Err(RequestError::new(
                    format!("{path}.birthday"),
                    format!("is {birthday:?}; use YYYY-MM-DD"),
                ));
            }
        }
        Ok(())
    }
}
