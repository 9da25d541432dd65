//! Sends one batch and narrows a whole-request refusal down to the records
//! that caused it, so only they are dead-lettered.
//!
//! A badly typed value (`JSON_PARSER_ERROR`) or an unknown field
//! (`INVALID_FIELD`) in ONE record makes Salesforce answer the whole
//! collections call with HTTP 400 (`../shared/docs/SALESFORCE.md` section
//! 6). In order of cost:
//!
//! | the refusal | what is done | calls for 1 bad record in 200 |
//! |---|---|---|
//! | `JSON_PARSER_ERROR` at `[line:1, column:N]` | the record holding column N fails with that error; the others are sent again | 2 |
//! | `INVALID_FIELD` "No such column 'F'" | the records setting F fail; the others are sent again | 2 |
//! | another whole-request 400 that records can cause | halve and send both halves (bisection) | at most 1 + 2 x 8 = 17 |
//!
//! Values the describe says can never fit are refused before this, without
//! a call ([`super::schema`]).

use serde_json::Value;

use super::action::Write;
use super::pause::{self, Deps};
use crate::salesforce::rest::{ApiError, Outcome, RecordResult};

/// Whole-request errors a record's content can cause (narrowing helps).
const RECORD_CAUSED: &[&str] = &[
    "JSON_PARSER_ERROR",
    "INVALID_FIELD",
    "INVALID_TYPE",
    "MALFORMED_ID",
    "STRING_TOO_LONG",
    "MIXED_DML_OPERATION",
    "EXCEEDED_MAX_TYPES_LIMIT",
];

/// Sends `writes` (one batch key: same operation, sObject and external id
/// field) and returns one result per write, in order. Each call goes
/// through `pause::send`: while the org or its token endpoint fails, the
/// worker pauses and the same records are sent again, so no result here is
/// a pause's.
///
/// # Errors
/// [`pause::Error`] when shutdown comes during a pause (nothing of the
/// batch is settled) or the held claims cannot be renewed.
pub async fn send(deps: &Deps<'_>, writes: &[&Write]) -> Result<Vec<RecordResult>, pause::Error> {
    let mut results: Vec<Option<RecordResult>> = vec![None; writes.len()];
    let mut todo: Vec<Vec<usize>> = vec![(0..writes.len()).collect()];
    while let Some(group) = todo.pop() {
        let Some(&first) = group.first() else {
            continue;
        };
        let records: Vec<Value> = group.iter().map(|&i| writes[i].record()).collect();
        let outcome = pause::send(deps, writes[first], &records).await?;
        for (i, r) in settle(&group, writes, outcome, &mut todo) {
            results[i] = Some(r);
        }
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(ApiError::new(
                    "INVALID_RESPONSE",
                    "no result for this record",
                ))
            })
        })
        .collect())
}

/// The results one call decided, as (write index, result); the groups
/// still to send go onto `todo`.
fn settle(
    group: &[usize],
    writes: &[&Write],
    outcome: Outcome,
    todo: &mut Vec<Vec<usize>>,
) -> Vec<(usize, RecordResult)> {
    match outcome {
        Outcome::Records(r) => group.iter().copied().zip(r).collect(),
        Outcome::BadRecord { index, error } if index < group.len() => {
            let rest: Vec<usize> = group
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != index)
                .map(|(_, &i)| i)
                .collect();
            push(todo, rest);
            vec![(group[index], Err(error))]
        }
        Outcome::BadRecord { error, .. } | Outcome::Failed(error)
            if group.len() > 1 && RECORD_CAUSED.contains(&error.code.as_str()) =>
        {
            let (bad, good): (Vec<usize>, Vec<usize>) = match unknown_field(&error.message) {
                Some(f) => group.iter().partition(|&&i| sets(writes[i], f)),
                None => (Vec::new(), group.to_vec()),
            };
            if bad.is_empty() {
                let (a, b) = group.split_at(group.len() / 2);
                push(todo, b.to_vec());
                push(todo, a.to_vec());
                return Vec::new();
            }
            push(todo, good);
            bad.into_iter().map(|i| (i, Err(error.clone()))).collect()
        }
        Outcome::BadRecord { error, .. } | Outcome::Failed(error) => {
            group.iter().map(|&i| (i, Err(error.clone()))).collect()
        }
    }
}

fn push(todo: &mut Vec<Vec<usize>>, group: Vec<usize>) {
    if !group.is_empty() {
        todo.push(group);
    }
}

/// `F` of `No such column 'F' on sobject of type T`.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("No such column '")?;
    rest.split_once('\'').map(|(f, _)| f)
}

fn sets(write: &Write, field: &str) -> bool {
    match write.record() {
        Value::Object(m) => m.keys().any(|k| k.eq_ignore_ascii_case(field)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn update(i: usize, extra: Option<&str>) -> Write {
        let mut fields = Map::new();
        fields.insert("A__c".into(), json!(i));
        if let Some(f) = extra {
            fields.insert(f.into(), json!(1));
        }
        Write::Update {
            sobject: "Account".into(),
            id: format!("001{i:015}"),
            fields,
        }
    }

    fn err(code: &str, message: &str) -> ApiError {
        ApiError::new(code, message)
    }

    #[test]
    fn a_reported_position_fails_that_record_only() {
        let w: Vec<Write> = (0..4).map(|i| update(i, None)).collect();
        let refs: Vec<&Write> = w.iter().collect();
        let mut todo = Vec::new();
        let out = settle(
            &[0, 1, 2, 3],
            &refs,
            Outcome::BadRecord {
                index: 2,
                error: err("JSON_PARSER_ERROR", "x at [line:1, column:9]"),
            },
            &mut todo,
        );
        assert_eq!(
            out,
            vec![(2, Err(err("JSON_PARSER_ERROR", "x at [line:1, column:9]")))]
        );
        assert_eq!(todo, vec![vec![0, 1, 3]]);
    }

    #[test]
    fn an_unknown_field_fails_the_records_setting_it() {
        let w = [update(0, None), update(1, Some("Bad__c")), update(2, None)];
        let refs: Vec<&Write> = w.iter().collect();
        let e = err(
            "INVALID_FIELD",
            "No such column 'bad__c' on sobject of type Account",
        );
        let mut todo = Vec::new();
        let out = settle(&[0, 1, 2], &refs, Outcome::Failed(e.clone()), &mut todo);
        assert_eq!(out, vec![(1, Err(e))]);
        assert_eq!(todo, vec![vec![0, 2]]);
    }

    #[test]
    fn otherwise_halves_or_fails_alone() {
        let w: Vec<Write> = (0..5).map(|i| update(i, None)).collect();
        let refs: Vec<&Write> = w.iter().collect();
        let mut todo = Vec::new();
        let e = err("STRING_TOO_LONG", "too long");
        assert!(settle(
            &[0, 1, 2, 3, 4],
            &refs,
            Outcome::Failed(e.clone()),
            &mut todo
        )
        .is_empty());
        assert_eq!(todo, vec![vec![2, 3, 4], vec![0, 1]]);
        let mut todo = Vec::new();
        assert_eq!(
            settle(&[3], &refs, Outcome::Failed(e.clone()), &mut todo),
            vec![(3, Err(e))]
        );
        // Not caused by a record: every record fails with it (retried later).
        let busy = err("SERVER_UNAVAILABLE", "busy");
        let out = settle(&[0, 1], &refs, Outcome::Failed(busy.clone()), &mut todo);
        assert_eq!(out, vec![(0, Err(busy.clone())), (1, Err(busy))]);
        assert!(todo.is_empty());
    }
}
