//! What DynamoDB would bill for the requests that pass the recording proxy
//! ([`crate::proxy::RecordingProxy::metered`]): item sizes by DynamoDB's
//! rule, write units per item written (table and each global secondary
//! index), read units per item read. The cost bench (`tests/src/bin/cost.rs`)
//! prints them per message.
//!
//! Everything here works on DynamoDB's JSON wire format (`{"S": "..."}`),
//! as the SDK sent it, so what is counted is exactly what was written.
//!
//! The rules (DynamoDB Developer Guide, "Item sizes and formats" and
//! "Read/write capacity mode"; "Global secondary indexes, provisioned
//! throughput considerations"):
//! - an item's size is the sum of its attributes' names (UTF-8 bytes) and
//!   values: a string its UTF-8 bytes, a number 1 byte per two significant
//!   digits plus 1, binary its bytes, a boolean or null 1, a list or map
//!   3 bytes plus each element's size plus 1 byte per element (a map's
//!   element names count), a set the sum of its elements;
//! - a write costs one write unit per started KB of the larger of the item
//!   before and after it; a write whose condition fails still costs the
//!   existing item's size (at least 1);
//! - each global secondary index costs a further write when the item's
//!   entry in it appears, disappears or changes (two when its index key
//!   changes), each one unit per started KB of the index entry (the table's
//!   key, the index's key and the projected attributes); no write when the
//!   item is in the index neither before nor after, or its entry is equal;
//! - a read costs one unit per started 4 KB (half for an eventually
//!   consistent one; a query sums its items first; a missing item still
//!   costs the minimum).

use serde_json::{Map, Value};

/// One KB, DynamoDB's write unit.
pub const WRITE_UNIT_BYTES: usize = 1024;
/// 4 KB, DynamoDB's read unit.
pub const READ_UNIT_BYTES: usize = 4096;

/// Size of a number: 1 byte per two significant digits, plus 1.
fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

fn binary_size(b64: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_or(b64.len(), |b| b.len())
}

/// Size of one attribute value in wire format (`{"S": "x"}`).
pub fn value_size(value: &Value) -> usize {
    let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let strings = || v.as_array().into_iter().flatten().filter_map(Value::as_str);
    match kind.as_str() {
        "S" => v.as_str().map_or(0, str::len),
        "N" => v.as_str().map_or(1, number_size),
        "B" => v.as_str().map_or(0, binary_size),
        "BOOL" | "NULL" => 1,
        "SS" => strings().map(str::len).sum(),
        "NS" => strings().map(number_size).sum(),
        "BS" => strings().map(binary_size).sum(),
        "L" => {
            3 + v
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| value_size(e) + 1)
                .sum::<usize>()
        }
        "M" => {
            3 + v
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, e)| name.len() + value_size(e) + 1)
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// Size of an item in wire format (a map of attribute name to value).
pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// Units of `bytes` at `unit` bytes each, at least one.
pub fn units(bytes: usize, unit: usize) -> u64 {
    bytes.div_ceil(unit).max(1) as u64
}

/// A global secondary index, as `DescribeTable` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    /// The index's key attributes (hash, then range if any).
    pub key: Vec<String>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
    /// `INCLUDE`'s attributes.
    pub include: Vec<String>,
}

impl Index {
    /// The indexes of a `DescribeTable` answer.
    pub fn of_table(describe: &Value) -> Vec<Index> {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect()
        };
        describe["Table"]["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| Index {
                name: i["IndexName"].as_str().unwrap_or_default().to_owned(),
                key: i["KeySchema"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k["AttributeName"].as_str().map(str::to_owned))
                    .collect(),
                projection: i["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap_or("ALL")
                    .to_owned(),
                include: strings(&i["Projection"]["NonKeyAttributes"]),
            })
            .collect()
    }

    /// The item's entry in this index: `None` when it lacks a key attribute
    /// (a sparse index holds only items that have them).
    pub fn entry(
        &self,
        item: &Map<String, Value>,
        table_key: &[&str],
    ) -> Option<Map<String, Value>> {
        if !self.key.iter().all(|k| item.contains_key(k)) {
            return None;
        }
        Some(
            item.iter()
                .filter(|(name, _)| {
                    table_key.contains(&name.as_str())
                        || self.key.contains(name)
                        || self.projection == "ALL"
                        || (self.projection == "INCLUDE" && self.include.contains(name))
                })
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
        )
    }

    /// Index writes (each at least one unit) for an item going from
    /// `before` to `after`.
    pub fn write_units(
        &self,
        before: Option<&Map<String, Value>>,
        after: Option<&Map<String, Value>>,
        table_key: &[&str],
    ) -> u64 {
        let old = before.and_then(|i| self.entry(i, table_key));
        let new = after.and_then(|i| self.entry(i, table_key));
        let cost = |e: &Map<String, Value>| units(item_size(e), WRITE_UNIT_BYTES);
        match (&old, &new) {
            (None, None) => 0,
            (Some(e), None) | (None, Some(e)) => cost(e),
            (Some(o), Some(n)) if o == n => 0,
            (Some(o), Some(n)) => {
                let key_changed = self.key.iter().any(|k| o.get(k) != n.get(k));
                if key_changed {
                    cost(o) + cost(n)
                } else {
                    cost(n)
                }
            }
        }
    }
}

/// One item written by one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemWrite {
    /// The item's partition key.
    pub pk: String,
    pub sk: String,
    /// Its size before and after (0: absent).
    pub before: usize,
    pub after: usize,
    /// The write's condition failed (nothing changed).
    pub condition_failed: bool,
    /// Write units on the table.
    pub table_units: u64,
    /// Write units on each index, by name.
    pub index_units: Vec<(String, u64)>,
}

impl ItemWrite {
    /// What a write of one item costs: `before` and `after` are the item
    /// as read before and after the request.
    pub fn cost(
        pk: String,
        sk: String,
        before: Option<&Map<String, Value>>,
        after: Option<&Map<String, Value>>,
        condition_failed: bool,
        indexes: &[Index],
        table_key: &[&str],
    ) -> Self {
        let (b, a) = (before.map_or(0, item_size), after.map_or(0, item_size));
        let (table_units, index_units) = if condition_failed {
            (units(b, WRITE_UNIT_BYTES), Vec::new())
        } else {
            (
                units(b.max(a), WRITE_UNIT_BYTES),
                indexes
                    .iter()
                    .map(|i| (i.name.clone(), i.write_units(before, after, table_key)))
                    .collect(),
            )
        };
        Self {
            pk,
            sk,
            before: b,
            after: a,
            condition_failed,
            table_units,
            index_units,
        }
    }

    /// Table and index units together.
    pub fn units(&self) -> u64 {
        self.table_units + self.index_units.iter().map(|(_, u)| u).sum::<u64>()
    }
}

/// Read units of items read together: `consistent` (strongly) or not, and
/// `summed` (a query: one sum for all) or one rounding per item.
pub fn read_units(sizes: &[usize], consistent: bool, summed: bool) -> f64 {
    let whole = if summed {
        units(sizes.iter().sum(), READ_UNIT_BYTES)
    } else if sizes.is_empty() {
        1
    } else {
        sizes.iter().map(|s| units(*s, READ_UNIT_BYTES)).sum()
    };
    if consistent {
        whole as f64
    } else {
        whole as f64 / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_follow_dynamodbs_rule() {
        // Strings: name + UTF-8 bytes ("ã" is two bytes).
        assert_eq!(item_size(&item(json!({"pk": {"S": "MSG#a"}}))), 2 + 5);
        assert_eq!(item_size(&item(json!({"t": {"S": "ão"}}))), 1 + 3);
        // Numbers: significant digits, leading and trailing zeros trimmed.
        assert_eq!(value_size(&json!({"N": "1730000000123"})), 7 + 1);
        assert_eq!(value_size(&json!({"N": "1730000000000"})), 2 + 1);
        assert_eq!(value_size(&json!({"N": "1"})), 2);
        assert_eq!(value_size(&json!({"N": "-0.05"})), 2);
        // Containers: 3 bytes, plus 1 per element; a map counts its names.
        assert_eq!(value_size(&json!({"M": {}})), 3);
        assert_eq!(
            value_size(&json!({"M": {"code": {"N": "42"}}})),
            3 + 4 + 2 + 1
        );
        assert_eq!(
            value_size(&json!({"L": [{"S": "ab"}, {"BOOL": true}]})),
            3 + 3 + 2
        );
        assert_eq!(value_size(&json!({"SS": ["ab", "c"]})), 3);
        assert_eq!(value_size(&json!({"B": "AAEC"})), 3);
    }

    #[test]
    fn writes_cost_the_larger_image_and_failed_conditions_still_cost() {
        let big = item(json!({"pk": {"S": "x".repeat(1100)}}));
        let small = item(json!({"pk": {"S": "x"}}));
        let w = ItemWrite::cost(
            "x".into(),
            "y".into(),
            Some(&big),
            Some(&small),
            false,
            &[],
            &["pk"],
        );
        assert_eq!(w.table_units, 2);
        let w = ItemWrite::cost("x".into(), "y".into(), None, None, true, &[], &["pk"]);
        assert_eq!(w.table_units, 1);
        let w = ItemWrite::cost(
            "x".into(),
            "y".into(),
            Some(&big),
            Some(&big),
            true,
            &[],
            &["pk"],
        );
        assert_eq!(w.table_units, 2);
    }

    #[test]
    fn indexes_cost_only_when_their_entry_changes() {
        let key = ["pk", "sk"];
        let all = Index {
            name: "by_wamid".into(),
            key: vec!["wamid".into()],
            projection: "ALL".into(),
            include: vec![],
        };
        let keys_only = Index {
            projection: "KEYS_ONLY".into(),
            ..all.clone()
        };
        let no_wamid = item(json!({"pk": {"S": "a"}, "sk": {"S": "MSG"}, "at": {"N": "1"}}));
        let with = item(
            json!({"pk": {"S": "a"}, "sk": {"S": "MSG"}, "at": {"N": "1"}, "wamid": {"S": "w1"}}),
        );
        let later = item(
            json!({"pk": {"S": "a"}, "sk": {"S": "MSG"}, "at": {"N": "2"}, "wamid": {"S": "w1"}}),
        );
        let moved = item(
            json!({"pk": {"S": "a"}, "sk": {"S": "MSG"}, "at": {"N": "2"}, "wamid": {"S": "w2"}}),
        );
        for index in [&all, &keys_only] {
            assert_eq!(index.write_units(None, Some(&no_wamid), &key), 0);
            assert_eq!(index.write_units(Some(&no_wamid), Some(&with), &key), 1);
            assert_eq!(index.write_units(Some(&with), None, &key), 1);
            assert_eq!(index.write_units(Some(&with), Some(&moved), &key), 2);
        }
        // A change outside the key: ALL projects it, KEYS_ONLY does not.
        assert_eq!(all.write_units(Some(&with), Some(&later), &key), 1);
        assert_eq!(keys_only.write_units(Some(&with), Some(&later), &key), 0);
        let include = Index {
            projection: "INCLUDE".into(),
            include: vec!["at".into()],
            ..all.clone()
        };
        assert_eq!(include.write_units(Some(&with), Some(&later), &key), 1);
    }

    #[test]
    fn reads_round_per_item_or_per_query() {
        assert_eq!(read_units(&[100, 100], true, false), 2.0);
        assert_eq!(read_units(&[100, 100], false, true), 0.5);
        assert_eq!(read_units(&[], true, false), 1.0);
        assert_eq!(read_units(&[5000], true, false), 2.0);
    }
}
