//! A job's CSV from the writes, and its result CSVs back to rows
//! (`../shared/docs/SALESFORCE.md` section 8, "CSV rules" and "Results").
//!
//! Upload: the first column is the key (`Id` for an update, the external
//! id field for an upsert), then every field any write sets, sorted; RFC
//! 4180 quoting by the `csv` crate, `LF` line endings, `COMMA` delimiter.
//! A JSON `null` or empty text is `#N/A` (sets the field to null, as `null`
//! does in a collections call); a field a write does not set is an empty
//! value (left unchanged, as a field absent from a collections record).
//! Results are matched back by the key column, never by row order (the
//! order is not guaranteed).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::worker::action::Write;

/// The value that sets a field to null in a Bulk API 2.0 CSV.
pub(crate) const NULL: &str = "#N/A";

/// Why a result CSV could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Not CSV, or a row the `csv` crate refused.
    #[error("result CSV: {0}")]
    Csv(#[from] ::csv::Error),
    /// The header lacks a column the worker needs.
    #[error("result CSV has no {0} column")]
    Column(&'static str),
}

/// Whether `w` can be a CSV row: every value a scalar, none that would read
/// back as something else (a text `#N/A` would set null).
pub(crate) fn fits(w: &Write) -> bool {
    let fields = match w {
        Write::Update { fields, .. } | Write::Upsert { fields, .. } => fields,
    };
    fields.values().all(|v| match v {
        Value::String(s) => s != NULL,
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
        Value::Array(_) | Value::Object(_) => false,
    })
}

/// The key column of `w`'s job: `Id` or the external id field.
pub(crate) fn key_column(w: &Write) -> &str {
    match w {
        Write::Update { .. } => "Id",
        Write::Upsert {
            external_id_field, ..
        } => external_id_field,
    }
}

/// The key value of `w`'s row (the record Id, or the external id value).
pub(crate) fn key_value(w: &Write) -> &str {
    match w {
        Write::Update { id, .. } => id,
        Write::Upsert { external_id, .. } => external_id,
    }
}

/// The job's CSV for `writes` (one batch key, each [`fits`], one write per
/// record).
///
/// # Errors
/// The `csv` crate's failure (not expected for in-memory output).
pub(crate) fn upload(writes: &[&Write]) -> Result<Vec<u8>, ::csv::Error> {
    let Some(first) = writes.first() else {
        return Ok(Vec::new());
    };
    let key = key_column(first).to_owned();
    let mut columns = BTreeSet::new();
    for w in writes {
        let fields = match w {
            Write::Update { fields, .. } | Write::Upsert { fields, .. } => fields,
        };
        columns.extend(fields.keys().filter(|k| **k != key).cloned());
    }
    let mut out = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    out.write_record(std::iter::once(key.as_str()).chain(columns.iter().map(String::as_str)))?;
    for w in writes {
        let fields = match w {
            Write::Update { fields, .. } | Write::Upsert { fields, .. } => fields,
        };
        let mut row = vec![key_value(w).to_owned()];
        row.extend(
            columns
                .iter()
                .map(|c| fields.get(c).map(cell).unwrap_or_default()),
        );
        out.write_record(&row)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// One value as a CSV cell.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => NULL.to_owned(),
        Value::String(s) if s.is_empty() => NULL.to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // Refused by `fits`.
        Value::Array(_) | Value::Object(_) => v.to_string(),
    }
}

/// One row of a result CSV: its key value and, in `failedResults`, its
/// `sf__Error` (`CODE:message:fields`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResultRow {
    /// The key column's value, as uploaded.
    pub(crate) key: String,
    /// `sf__Error`, in `failedResults` only.
    pub(crate) error: Option<String>,
}

/// The rows of a result CSV, keyed by `key_column`.
///
/// # Errors
/// [`Error`] when the CSV cannot be read or lacks the key column (or
/// `sf__Error` when `failed`).
pub(crate) fn results(
    body: &[u8],
    key_column: &str,
    failed: bool,
) -> Result<Vec<ResultRow>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let mut reader = ::csv::ReaderBuilder::new().flexible(true).from_reader(body);
    let header = reader.headers()?.clone();
    let key = header
        .iter()
        .position(|h| h.eq_ignore_ascii_case(key_column))
        .ok_or(Error::Column("key"))?;
    let error = match failed {
        true => Some(
            header
                .iter()
                .position(|h| h == "sf__Error")
                .ok_or(Error::Column("sf__Error"))?,
        ),
        false => None,
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        rows.push(ResultRow {
            key: record.get(key).unwrap_or_default().to_owned(),
            error: error.map(|i| record.get(i).unwrap_or_default().to_owned()),
        });
    }
    Ok(rows)
}

/// `sf__Error` as an error code and message: `CODE:rest` (the observed form
/// `CODE:message:fields`; the grammar is not documented), the whole text
/// as the message when it has no code.
pub(crate) fn error(sf_error: &str) -> crate::salesforce::rest::ApiError {
    use crate::salesforce::rest::ApiError;
    match sf_error.split_once(':') {
        Some((code, rest))
            if !code.is_empty()
                && code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
        {
            ApiError::new(code, rest)
        }
        _ => ApiError::new("BULK_ERROR", sf_error),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;

    fn upsert(ext: &str, fields: Value) -> Write {
        let Value::Object(mut fields) = fields else {
            unreachable!()
        };
        fields.insert("Ext__c".into(), json!(ext));
        Write::Upsert {
            sobject: "Payment__c".into(),
            external_id_field: "Ext__c".into(),
            external_id: ext.into(),
            fields,
        }
    }

    #[test]
    fn upload_quotes_and_nulls() {
        let a = upsert("a1", json!({"Note__c": "x, \"y\"\nz", "Amount__c": 19.99}));
        let b = upsert(
            "b2",
            json!({"Paid__c": true, "Note__c": null, "Memo__c": ""}),
        );
        let csv = upload(&[&a, &b]).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "Ext__c,Amount__c,Memo__c,Note__c,Paid__c\n\
             a1,19.99,,\"x, \"\"y\"\"\nz\",\n\
             b2,,#N/A,#N/A,true\n"
        );
        let update = Write::Update {
            sobject: "Account".into(),
            id: "001000000000001AAA".into(),
            fields: Map::new(),
        };
        assert_eq!(key_column(&update), "Id");
        assert_eq!(upload(&[&update]).unwrap(), b"Id\n001000000000001AAA\n");
    }

    #[test]
    fn what_does_not_fit_a_cell() {
        assert!(fits(&upsert(
            "a",
            json!({"N__c": 1, "B__c": false, "T__c": null})
        )));
        assert!(!fits(&upsert("a", json!({"O__c": {"x": 1}}))));
        assert!(!fits(&upsert("a", json!({"L__c": [1]}))));
        assert!(!fits(&upsert("a", json!({"T__c": "#N/A"}))));
    }

    #[test]
    fn results_by_key_not_by_order() {
        let ok = b"\"sf__Id\",\"sf__Created\",Ext__c,Amount__c\na0B1,true,b2,1\na0B2,false,a1,2\n";
        let rows = results(ok, "Ext__c", false).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["b2", "a1"]
        );
        let failed = b"sf__Id,sf__Error,Ext__c\n,\"FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount, too big:Amount__c\",c3\n";
        let rows = results(failed, "Ext__c", true).unwrap();
        assert_eq!(
            rows[0].error.as_deref(),
            Some("FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount, too big:Amount__c")
        );
        let e = error(rows[0].error.as_deref().unwrap());
        assert_eq!(e.code, "FIELD_CUSTOM_VALIDATION_EXCEPTION");
        assert_eq!(e.message, "Amount, too big:Amount__c");
        assert_eq!(error("something odd").code, "BULK_ERROR");
        assert!(results(b"sf__Id,sf__Error,Ext__c\n", "Ext__c", true)
            .unwrap()
            .is_empty());
        assert!(results(b"", "Ext__c", true).unwrap().is_empty());
        assert!(matches!(
            results(b"sf__Id,Other\nx,y\n", "Ext__c", false),
            Err(Error::Column("key"))
        ));
    }
}
