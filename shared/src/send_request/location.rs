//! Location messages.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::RequestError;

/// Meta's `location` object: a pin on the map, with an optional name and
/// address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Degrees, -90 to 90 (a number, or a numeric string).
    #[serde(deserialize_with = "coordinate")]
    pub latitude: f64,
    /// Degrees, -180 to 180 (a number, or a numeric string).
    #[serde(deserialize_with = "coordinate")]
    pub longitude: f64,
    /// The place's name, shown above the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The place's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

fn coordinate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    use serde::de::Error;
    match Value::deserialize(deserializer)? {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| D::Error::custom("expected a coordinate in degrees")),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| D::Error::custom(format!("expected a coordinate in degrees, got {s:?}"))),
        other => Err(D::Error::custom(format!(
            "expected a coordinate in degrees, got {other}"
        ))),
    }
}

impl Location {
    pub(super) fn validate(&self, path: &str) -> Result<(), RequestError> {
        if !(-90.0..=90.0).contains(&self.latitude) {
            return Err(RequestError::new(
                format!("{path}.latitude"),
                format!("is {}; it must be between -90 and 90", self.latitude),
            ));
        }
        if !(-180.0..=180.0).contains(&self.longitude) {
            return Err(RequestError::new(
                format!("{path}.longitude"),
                format!("is {}; it must be between -180 and 180", self.longitude),
            ));
        }
        Ok(())
    }
}
