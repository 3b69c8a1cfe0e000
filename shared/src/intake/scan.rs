//! Reading one field out of JSON text serde_json has already validated,
//! without parsing it a second time: a byte walk that skips strings eight
//! bytes at a time and nested values by depth, and decodes only the keys and
//! the value it is after.
//!
//! Same answer as a full parse (escaped keys match their decoded text, a
//! lookalike inside a string or at another depth does not count), and it
//! stops as soon as it has the answer: Meta puts `metadata` before the item
//! arrays, so the scan reads a few hundred bytes of a value of any size.
//! Duplicate keys, which RFC 8259 leaves to the parser, resolve to the first
//! (`serde_json::Value` keeps the last); Meta does not send them. Never
//! panics, whatever the input.

use serde_json::value::RawValue;

/// `value.metadata.phone_number_id`, as text (a number as serde_json prints
/// it), or `None` when absent or neither a string nor a number.
pub(crate) fn phone_number_id(value: &RawValue) -> Option<String> {
    let text = value.get();
    let metadata = Cursor::new(text).member("metadata")?;
    let id = Cursor::new(metadata).member("phone_number_id")?;
    match id.as_bytes().first()? {
        b'"' => match id.get(1..id.len() - 1) {
            Some(plain) if !plain.contains('\\') => Some(plain.to_owned()),
            _ => serde_json::from_str::<String>(id).ok(),
        },
        b'-' | b'0'..=b'9' => serde_json::from_str::<serde_json::Number>(id)
            .ok()
            .map(|n| n.to_string()),
        _ => None,
    }
}

struct Cursor<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The text of the first member named `name` of the object the text
    /// is, or `None` when the text is not an object or has no such member.
    fn member(mut self, name: &str) -> Option<&'a str> {
        self.ws();
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            return None;
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.ws();
            let start = self.i;
            self.skip()?;
            if key_is(key, name) {
                return self.text.get(start..self.i);
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                _ => return None,
            }
        }
    }

    /// At an opening quote: moves past the string and returns it, quotes
    /// included.
    fn string(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let start = self.i;
        if bytes.get(start) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        loop {
            while let Some(chunk) = bytes.get(self.i..self.i + 8) {
                let word = u64::from_le_bytes(chunk.try_into().ok()?);
                if has_byte(word, b'"') || has_byte(word, b'\\') {
                    break;
                }
                self.i += 8;
            }
            match *bytes.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return self.text.get(start..self.i);
                }
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
    }

    /// Moves past one value.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

/// Whether a JSON string (quotes included) means `name`.
fn key_is(key: &str, name: &str) -> bool {
    match key.get(1..key.len().saturating_sub(1)) {
        Some(plain) if !plain.contains('\\') => plain == name,
        _ => serde_json::from_str::<String>(key).is_ok_and(|k| k == name),
    }
}

/// Whether any byte of `word` is `byte` (the exact "has zero byte" test on
/// `word ^ byte` repeated).
fn has_byte(word: u64, byte: u8) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = word ^ (LOW * byte as u64);
    x.wrapping_sub(LOW) & !x & HIGH != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

    /// The reference: a full parse by serde_json of every byte, keeping the
    /// first of duplicate keys, then the path.
    fn by_full_parse(text: &str) -> Option<String> {
        serde_json::from_str::<First<First<Value>>>(text)
            .ok()?
            .get("metadata")?
            .get("phone_number_id")
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    }

    /// A JSON value; for an object, the first member of each name, parsed as `T`.
    enum First<T> {
        Object(Vec<(String, T)>),
        Other,
    }

    impl<T> First<T> {
        fn get(self, name: &str) -> Option<T> {
            match self {
                First::Object(members) => {
                    members.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
                }
                First::Other => None,
            }
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = First<T>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<First<T>, A::Error> {
                    let mut members: Vec<(String, T)> = Vec::new();
                    while let Some(key) = map.next_key::<String>()? {
                        // Every value parsed (every byte checked), the first kept.
                        let value = map.next_value::<T>()?;
                        if !members.iter().any(|(k, _)| *k == key) {
                            members.push((key, value));
                        }
                    }
                    Ok(First::Object(members))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<First<T>, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(First::Other)
                }
                fn visit_str<E>(self, _: &str) -> Result<First<T>, E> {
                    Ok(First::Other)
                }
                fn visit_bool<E>(self, _: bool) -> Result<First<T>, E> {
                    Ok(First::Other)
                }
                fn visit_i64<E>(self, _: i64) -> Result<First<T>, E> {
                    Ok(First::Other)
                }
                fn visit_u64<E>(self, _: u64) -> Result<First<T>, E> {
                    Ok(First::Other)
                }
                fn visit_f64<E>(self, _: f64) -> Result<First<T>, E> {
                    Ok(First::Other)
                }
                fn visit_unit<E>(self) -> Result<First<T>, E> {
                    Ok(First::Other)
                }
            }
            d.deserialize_any(V(std::marker::PhantomData))
        }
    }

    /// For JSON without duplicate keys: what `serde_json::Value` finds.
    fn by_value(text: &str) -> Option<String> {
        let value: Value = serde_json::from_str(text).ok()?;
        match &value["metadata"]["phone_number_id"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn scanned(text: &str) -> Option<String> {
        let raw = RawValue::from_string(text.to_owned()).expect("valid JSON");
        phone_number_id(&raw)
    }

    #[test]
    fn finds_the_id_only_at_its_path_and_the_first_of_duplicates() {
        for (text, expected) in [
            (
                r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555","phone_number_id":"111"},"statuses":[]}"#,
                Some("111"),
            ),
            // escapes in the value, the keys, and around them
            (
                r#"{"metadata":{"phone_number_id":"1\u00e9\"2\\"}}"#,
                Some("1é\"2\\"),
            ),
            (
                r#"{"met\u0061data":{"phone_number\u005Fid":"7"}}"#,
                Some("7"),
            ),
            (
                r#"{"x":"\"metadata\":{\"phone_number_id\":\"decoy\"}","metadata":{"phone_number_id":"8"}}"#,
                Some("8"),
            ),
            // numbers as serde_json prints them
            (
                r#"{"metadata":{"phone_number_id":1122334455}}"#,
                Some("1122334455"),
            ),
            (r#"{"metadata":{"phone_number_id":1e2}}"#, Some("100.0")),
            // the wrong depth, the wrong parent, the wrong type
            (r#"{"phone_number_id":"top","metadata":{}}"#, None),
            (r#"{"x":{"metadata":{"phone_number_id":"nested"}}}"#, None),
            (r#"{"metadata":{"x":{"phone_number_id":"deeper"}}}"#, None),
            (r#"{"metadata":[{"phone_number_id":"in an array"}]}"#, None),
            (r#"[{"metadata":{"phone_number_id":"array"}}]"#, None),
            (r#"{"metadata":{"phone_number_id":{"id":"1"}}}"#, None),
            (r#"{"metadata":{"phone_number_id":true}}"#, None),
            (r#"{"metadata":{"phone_number_id":null}}"#, None),
            (r#"{"metadata":"text"}"#, None),
            (r#""metadata""#, None),
            (r#"{}"#, None),
            // whitespace everywhere
            (
                " {\n \"metadata\" :\t{ \"phone_number_id\" : \"9\" } , \"a\" : [ 1 , { } ] } ",
                Some("9"),
            ),
        ] {
            assert_eq!(scanned(text).as_deref(), expected, "{text}");
            assert_eq!(
                by_full_parse(text).as_deref(),
                expected,
                "reference: {text}"
            );
            assert_eq!(
                by_value(text).as_deref(),
                expected,
                "serde_json::Value: {text}"
            );
        }
        // Duplicates: the first one counts (`serde_json::Value` keeps the last).
        for (text, expected) in [
            (
                r#"{"metadata":{"phone_number_id":"1"},"metadata":{"phone_number_id":"2"}}"#,
                Some("1"),
            ),
            (
                r#"{"metadata":{"phone_number_id":"1","phone_number_id":"3"}}"#,
                Some("1"),
            ),
            (
                r#"{"metadata":null,"metadata":{"phone_number_id":"1"}}"#,
                None,
            ),
        ] {
            assert_eq!(scanned(text).as_deref(), expected, "{text}");
            assert_eq!(
                by_full_parse(text).as_deref(),
                expected,
                "reference: {text}"
            );
        }
    }

    /// A JSON string, sometimes with every character escaped as `\uXXXX`.
    fn string() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                "\\PC{0,8}".boxed(),
                Just("a\"}{[],:\\ metadata".to_owned()).boxed(),
                Just("phone_number_id".to_owned()).boxed(),
            ],
            any::<bool>(),
        )
            .prop_map(|(s, escape_all)| {
                if escape_all {
                    let mut out = String::from("\"");
                    for unit in s.encode_utf16() {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                    out + "\""
                } else {
                    Value::String(s).to_string()
                }
            })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => Just("\"metadata\"".to_owned()),
            1 => Just("\"met\\u0061data\"".to_owned()),
            2 => Just("\"phone_number_id\"".to_owned()),
            1 => Just("\"phone_number\\u005fid\"".to_owned()),
            2 => string(),
        ]
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just(""), Just(" "), Just("\n\t ")]
    }

    /// Any JSON text, duplicate keys included.
    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| Value::from(f).to_string()),
            prop_oneof![
                Just("-0"),
                Just("1E+2"),
                Just("0.50"),
                Just("123456789012345678901234")
            ]
            .prop_map(str::to_owned),
            string(),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec((inner.clone(), ws()), 0..5).prop_map(|items| {
                    let items: Vec<String> =
                        items.iter().map(|(v, w)| format!("{w}{v}{w}")).collect();
                    format!("[{}]", items.join(","))
                }),
                prop::collection::vec((key(), inner, ws()), 0..6).prop_map(|members| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(k, v, w)| format!("{w}{k}{w}:{w}{v}{w}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    /// An object whose members are often `metadata` objects holding a
    /// `phone_number_id`, so the property reaches the path, not only misses.
    fn webhook_value() -> impl Strategy<Value = String> {
        let inner = prop::collection::vec((key(), json_text(), ws()), 0..4).prop_map(|m| {
            let m: Vec<String> = m.iter().map(|(k, v, w)| format!("{k}:{w}{v}")).collect();
            format!("{{{}}}", m.join(","))
        });
        prop::collection::vec((key(), prop_oneof![json_text(), inner], ws()), 0..5).prop_map(
            |members| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(k, v, w)| format!("{w}{k}{w}:{w}{v}{w}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Any payload, escaped keys and duplicates included: the scan
        /// finds what a full parse finds.
        #[test]
        fn equals_a_full_parse(text in prop_oneof![webhook_value(), json_text()]) {
            prop_assert_eq!(scanned(&text), by_full_parse(&text), "{}", text);
        }

        /// Any `serde_json::Value` (no duplicate keys), printed: the scan
        /// finds what `value["metadata"]["phone_number_id"]` holds.
        #[test]
        fn equals_serde_json_value(value in crate::test_support::json_value(), id in prop_oneof![
            Just(Value::from("1122334455")), Just(Value::from(1122334455u64)), Just(Value::from("a\"\\/é")), Just(Value::Null),
        ], nest in any::<bool>()) {
            let mut value = value;
            if nest {
                value = serde_json::json!({"messaging_product": "whatsapp", "metadata": {"phone_number_id": id}, "statuses": [value]});
            }
            let text = value.to_string();
            prop_assert_eq!(scanned(&text), by_value(&text), "{}", text);
        }
    }

    #[test]
    fn has_byte_is_exact() {
        for word in [
            0u64,
            u64::MAX,
            0x2222_2222_2222_2222,
            0x5c00_0000_0000_0000,
            0x0000_0000_0000_0022,
            0x2300_2100_0122_2300,
        ] {
            for byte in [b'"', b'\\', 0u8, 0xff] {
                assert_eq!(
                    has_byte(word, byte),
                    word.to_le_bytes().contains(&byte),
                    "{word:x} {byte:x}"
                );
            }
        }
    }
}
