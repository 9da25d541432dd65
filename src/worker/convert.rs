//! Typed field values: a value read from a webhook body converted to the
//! type its mapping declares (`{ pointer, type, scale }`), and the one
//! DateTime text Salesforce is sent: `yyyy-MM-ddTHH:mm:ss.SSSZ`
//! (`../shared/docs/SALESFORCE.md` section 6). Pure code.

use serde_json::{Number, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};

use crate::config::worker::ValueType;

/// A value that cannot become the declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not a {expected}")]
pub(crate) struct Error {
    /// The value as the body holds it (JSON text, shortened).
    pub(crate) value: String,
    /// What was expected.
    pub(crate) expected: &'static str,
}

/// Converts `value` to `to`; `scale` multiplies numbers.
///
/// # Errors
/// [`Error`] when the value does not read as that type.
pub(crate) fn convert(value: &Value, to: ValueType, scale: Option<f64>) -> Result<Value, Error> {
    let fail = |expected| Error {
        value: shorten(value),
        expected,
    };
    match to {
        ValueType::Number => number(value, scale).ok_or_else(|| fail("number")),
        ValueType::Boolean => boolean(value).ok_or_else(|| fail("boolean")),
        ValueType::Date => {
            date(value).ok_or_else(|| fail("date (yyyy-MM-dd, RFC 3339 or Unix seconds)"))
        }
        ValueType::Datetime => timestamp(value)
            .map(|t| Value::String(datetime_text(t)))
            .ok_or_else(|| fail("datetime (RFC 3339 or Unix seconds)")),
        ValueType::String => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(fail("string")),
        },
    }
}

/// `yyyy-MM-ddTHH:mm:ss.SSSZ` in UTC.
pub(crate) fn datetime_text(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// RFC 3339 text in Salesforce's DateTime form; `None` if it is not RFC
/// 3339.
pub(crate) fn normalize_datetime(text: &str) -> Option<String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(datetime_text)
}

fn number(value: &Value, scale: Option<f64>) -> Option<Value> {
    let x = match value {
        Value::Number(n) if scale.is_none() => return Some(Value::Number(n.clone())),
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    let y = match scale {
        // 0.01 = 1/100: divide by 100, which rounds exactly where
        // multiplying by the inexact 0.01 would not (1999 -> 19.99).
        Some(s) if (1.0 / s - (1.0 / s).round()).abs() < 1e-9 && s < 1.0 => x / (1.0 / s).round(),
        Some(s) => x * s,
        None => x,
    };
    if !y.is_finite() {
        return None;
    }
    if y.fract() == 0.0 && y.abs() < 9.0e15 {
        return Some(Value::Number(Number::from(y as i64)));
    }
    Number::from_f64(y).map(Value::Number)
}

fn boolean(value: &Value) -> Option<Value> {
    let b = match value {
        Value::Bool(b) => *b,
        Value::String(s) if s.eq_ignore_ascii_case("true") => true,
        Value::String(s) if s.eq_ignore_ascii_case("false") => false,
        Value::Number(n) if n.as_i64() == Some(1) => true,
        Value::Number(n) if n.as_i64() == Some(0) => false,
        _ => return None,
    };
    Some(Value::Bool(b))
}

fn timestamp(value: &Value) -> Option<OffsetDateTime> {
    match value {
        Value::String(s) => OffsetDateTime::parse(s.trim(), &Rfc3339).ok(),
        Value::Number(n) => OffsetDateTime::from_unix_timestamp(n.as_i64()?).ok(),
        _ => None,
    }
}

fn date(value: &Value) -> Option<Value> {
    let fmt = format_description!("[year]-[month]-[day]");
    let d = match value {
        Value::String(s) => Date::parse(s.trim(), &fmt)
            .ok()
            .or_else(|| timestamp(value).map(|t| t.to_offset(UtcOffset::UTC).date()))?,
        _ => timestamp(value)?.date(),
    };
    d.format(&fmt).ok().map(Value::String)
}

/// The value as JSON text, at most 60 characters (it goes into a header).
pub(super) fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_with_scale() {
        let n = |v: Value, s| convert(&v, ValueType::Number, s);
        assert_eq!(n(json!(1999), Some(0.01)), Ok(json!(19.99)));
        assert_eq!(n(json!(1200), Some(0.01)), Ok(json!(12)));
        assert_eq!(n(json!("250"), Some(0.1)), Ok(json!(25)));
        assert_eq!(n(json!(3), Some(2.5)), Ok(json!(7.5)));
        assert_eq!(
            n(json!(12345678901234u64), None),
            Ok(json!(12345678901234u64))
        );
        assert_eq!(n(json!("1.5"), None), Ok(json!(1.5)));
        assert_eq!(
            n(json!("abc"), Some(0.01)).unwrap_err().to_string(),
            "\"abc\" is not a number"
        );
        assert!(n(json!(true), None).is_err());
    }

    #[test]
    fn booleans_dates_datetimes_strings() {
        assert_eq!(
            convert(&json!("TRUE"), ValueType::Boolean, None),
            Ok(json!(true))
        );
        assert_eq!(
            convert(&json!(0), ValueType::Boolean, None),
            Ok(json!(false))
        );
        assert!(convert(&json!("yes"), ValueType::Boolean, None).is_err());
        assert_eq!(
            convert(&json!("2024-02-29"), ValueType::Date, None),
            Ok(json!("2024-02-29"))
        );
        assert_eq!(
            convert(&json!("2024-02-29T23:30:00-02:00"), ValueType::Date, None),
            Ok(json!("2024-03-01"))
        );
        assert_eq!(
            convert(&json!(1_700_000_000), ValueType::Date, None),
            Ok(json!("2023-11-14"))
        );
        assert!(convert(&json!("2024-02-30"), ValueType::Date, None).is_err());
        assert_eq!(
            convert(&json!(1_700_000_000), ValueType::Datetime, None),
            Ok(json!("2023-11-14T22:13:20.000Z"))
        );
        assert_eq!(
            convert(
                &json!("2024-05-01T12:00:00.5+02:00"),
                ValueType::Datetime,
                None
            ),
            Ok(json!("2024-05-01T10:00:00.500Z"))
        );
        assert!(convert(&json!("tomorrow"), ValueType::Datetime, None).is_err());
        assert_eq!(
            convert(&json!(42), ValueType::String, None),
            Ok(json!("42"))
        );
        assert!(convert(&json!({"a": 1}), ValueType::String, None).is_err());
        assert_eq!(
            normalize_datetime("2026-01-01T00:00:00Z").as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert_eq!(normalize_datetime("Jan 1"), None);
    }
}
