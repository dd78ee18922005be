//! Whole numbers in request bodies, read as JSON Schema reads `integer`:
//! `922` and `922.0` are the same number, so both are taken; a fraction
//! or a number out of the field's range is refused, naming the range.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};

/// A whole number of type `T`, from any JSON number without a fraction.
struct Whole<T>(PhantomData<T>);

impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a whole number within {}", std::any::type_name::<T>())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        let refused = || E::invalid_value(de::Unexpected::Float(v), &self);
        // Beyond 2^63 a float names no one whole number of our types.
        if v.fract() != 0.0 || !(-9.2e18..=9.2e18).contains(&v) {
            return Err(refused());
        }
        #[allow(clippy::cast_possible_truncation)]
        let whole = v as i64;
        T::try_from(whole).map_err(|_| refused())
    }
}

/// A whole number (`#[serde(deserialize_with = "whole::number")]`).
pub fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    d.deserialize_any(Whole(PhantomData))
}

/// A whole number or `null`.
pub fn optional<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    struct Maybe<T>(PhantomData<T>);
    impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for Maybe<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a whole number or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
            number(d).map(Some)
        }
    }
    d.deserialize_option(Maybe(PhantomData))
}

/// One whole number, as a map's value or a list's item.
struct Number<T>(T);

impl<'de, T: TryFrom<i64> + TryFrom<u64>> de::Deserialize<'de> for Number<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number(d).map(Number)
    }
}

/// A map of names to whole numbers.
pub fn map<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    let entries: BTreeMap<String, Number<T>> = de::Deserialize::deserialize(d)?;
    Ok(entries
        .into_iter()
        .map(|(name, Number(value))| (name, value))
        .collect())
}

/// A list of whole numbers.
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    let items: Vec<Number<T>> = de::Deserialize::deserialize(d)?;
    Ok(items.into_iter().map(|Number(item)| item).collect())
}

/// Email attachments, their bytes as whole numbers.
pub fn attachments<'de, D>(d: D) -> Result<Vec<crate::NewAttachment>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    struct Given {
        id: String,
        name: String,
        content_type: String,
        #[serde(default, deserialize_with = "list")]
        bytes: Vec<u8>,
        #[serde(default)]
        content: Option<duet_interactions::model::Blob>,
    }
    let given: Vec<Given> = de::Deserialize::deserialize(d)?;
    Ok(given
        .into_iter()
        .map(|a| crate::NewAttachment {
            id: a.id,
            name: a.name,
            content_type: a.content_type,
            bytes: a.bytes,
            content: a.content,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::{Action, CallReport, Start};

    /// `922.0` is the whole number JSON Schema calls 922; a fraction, or
    /// a number beyond the field's type, is refused.
    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let start: Start =
            serde_json::from_str(r#"{"queue": "Sales", "priority": 7.0, "skills": {"a": 5.0}}"#)
                .unwrap();
        assert_eq!((start.priority, start.skills["a"]), (7, 5));
        for refused in [
            r#"{"call_id": "c", "queue": "q", "priority": 7.5}"#,
            r#"{"call_id": "c", "queue": "q", "priority": 2147483648}"#,
            r#"{"call_id": "c", "queue": "q", "priority": "7"}"#,
        ] {
            assert!(
                serde_json::from_str::<CallReport>(refused).is_err(),
                "{refused}"
            );
        }
        let action: Action = serde_json::from_str(
            r#"{"attachments": [{"id": "a", "name": "n", "content_type": "t", "bytes": [1, 255.0]}]}"#,
        )
        .unwrap();
        assert_eq!(action.attachments[0].bytes, [1, 255]);
        let over =
            r#"{"attachments": [{"id": "a", "name": "n", "content_type": "t", "bytes": [256]}]}"#;
        assert!(serde_json::from_str::<Action>(over).is_err());
        let none: crate::Media = serde_json::from_str(r#"{"reason_code": null}"#).unwrap();
        assert_eq!(none.reason_code, None);
    }
}
