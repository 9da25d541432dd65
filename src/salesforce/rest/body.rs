//! The sObject Collections request body, serialized once so that a
//! position Salesforce reports in it can be mapped back to a record.
//!
//! A badly typed value in one record makes Salesforce refuse the whole call
//! with HTTP 400 `JSON_PARSER_ERROR`, whose message ends with the parser's
//! position, e.g. `... at [line:1, column:1234]` (`../shared/docs/SALESFORCE.md`
//! section 6, "Whole-request errors"). The body is one line; the column
//! falls inside the offending record's text.

use serde_json::Value;

/// A serialized `{"allOrNone":false,"records":[...]}` with where each
/// record sits in it.
#[derive(Debug, Clone)]
pub(crate) struct CollectionBody {
    /// The JSON text sent.
    pub(crate) text: String,
    /// Per record: `[start, end)` in characters and in bytes.
    spans: Vec<Span>,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    chars: (usize, usize),
    bytes: (usize, usize),
}

impl CollectionBody {
    /// Serializes `records` with `allOrNone: false`.
    pub(crate) fn new(records: &[Value]) -> CollectionBody {
        let mut text = String::from(r#"{"allOrNone":false,"records":["#);
        let mut chars = text.chars().count();
        let mut spans = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                text.push(',');
                chars += 1;
            }
            let s = r.to_string();
            let n = s.chars().count();
            let b = text.len();
            spans.push(Span {
                chars: (chars, chars + n),
                bytes: (b, b + s.len()),
            });
            chars += n;
            text.push_str(&s);
        }
        text.push_str("]}");
        CollectionBody { text, spans }
    }

    /// The record at 1-based `line` and `column` of the body. Salesforce's
    /// parser may count the column in characters or in bytes: the two
    /// readings must name the same record, else `None` (the caller then
    /// narrows the batch down another way).
    pub(crate) fn record_at(&self, line: usize, column: usize) -> Option<usize> {
        if line != 1 {
            return None;
        }
        let at = column.checked_sub(1)?;
        let by_chars = self
            .spans
            .iter()
            .position(|s| s.chars.0 <= at && at < s.chars.1);
        let by_bytes = self
            .spans
            .iter()
            .position(|s| s.bytes.0 <= at && at < s.bytes.1);
        (by_chars == by_bytes).then_some(by_chars).flatten()
    }

    /// The record a `JSON_PARSER_ERROR` message points at.
    pub(crate) fn record_in_message(&self, message: &str) -> Option<usize> {
        let (line, column) = position(message)?;
        self.record_at(line, column)
    }
}

/// `[line:L, column:C]` at the end of a parser message.
pub(crate) fn position(message: &str) -> Option<(usize, usize)> {
    let (_, tail) = message.rsplit_once("[line:")?;
    let (line, tail) = tail.split_once(',')?;
    let column = tail.trim_start().strip_prefix("column:")?;
    let column = column.split(']').next()?;
    Some((line.trim().parse().ok()?, column.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn positions_map_to_records() {
        let records = vec![
            json!({"attributes":{"type":"A"},"X__c":1}),
            json!({"attributes":{"type":"A"},"X__c":"abc"}),
            json!({"attributes":{"type":"A"},"X__c":3}),
        ];
        let body = CollectionBody::new(&records);
        let parsed: Value = serde_json::from_str(&body.text).unwrap();
        assert_eq!(parsed["records"][1]["X__c"], "abc");
        assert_eq!(parsed["allOrNone"], false);
        // Just past `"abc"`, 1-based.
        let column = body.text.find("\"abc\"").unwrap() + 5 + 1;
        let msg = format!(
            "Cannot deserialize instance of double from VALUE_STRING value abc or request may \
             be missing a required field at [line:1, column:{column}]"
        );
        assert_eq!(position(&msg), Some((1, column)));
        assert_eq!(body.record_in_message(&msg), Some(1));
        assert_eq!(body.record_at(1, 1), None);
        assert_eq!(body.record_at(2, column), None);
        assert_eq!(body.record_at(1, body.text.len()), None);
        assert_eq!(position("no position"), None);
    }

    #[test]
    fn char_and_byte_readings_must_agree() {
        let records = vec![
            json!({"attributes":{"type":"A"},"N__c":"ééééééééééééééééééééé"}),
            json!({"attributes":{"type":"A"},"N__c":1}),
        ];
        let body = CollectionBody::new(&records);
        let first_end_chars = body.spans[0].chars.1;
        // A column in the second record by characters but still in the
        // first by bytes: ambiguous.
        assert_eq!(body.record_at(1, first_end_chars + 3), None);
        // Plainly inside the first record either way.
        assert_eq!(body.record_at(1, 40), Some(0));
    }
}
