use serde_json::{json, Map, Value};

use super::*;
use crate::worker::batch::chunks;

fn upsert(ext: &str, amount: Value) -> Write {
    let mut fields = Map::new();
    fields.insert("Ext__c".into(), json!(ext));
    fields.insert("Amount__c".into(), amount);
    Write::Upsert {
        sobject: "Payment__c".into(),
        external_id_field: "Ext__c".into(),
        external_id: ext.into(),
        fields,
    }
}

fn exts(ws: &[Write]) -> Vec<String> {
    ws.iter()
        .map(|w| format!("{}={}", csv::key_value(w), w.record()["Amount__c"]))
        .collect()
}

#[test]
fn the_job_takes_the_first_fitting_write_of_each_record() {
    let items = vec![
        upsert("a", json!(1)),
        upsert("b", json!({"nested": true})),
        upsert("a", json!(2)),
        upsert("c", json!(3)),
        upsert("b", json!(4)),
        upsert("a", json!(5)),
    ];
    let (job, rest) = split(items, |w| w);
    assert_eq!(exts(&job), ["a=1", "c=3"]);
    // b's first write does not fit a cell: b is written by calls only, in
    // order; a's later writes follow the job.
    assert_eq!(exts(&rest), ["b={\"nested\":true}", "a=2", "b=4", "a=5"]);
    let calls = chunks(rest, 200, |w| w);
    let calls: Vec<Vec<String>> = calls.iter().map(|c| exts(c)).collect();
    assert_eq!(
        calls,
        [
            vec!["b={\"nested\":true}".to_owned(), "a=2".to_owned()],
            vec!["b=4".to_owned(), "a=5".to_owned()],
        ]
    );
}

#[test]
fn chunks_respect_the_call_size() {
    let items: Vec<Write> = (0..450)
        .map(|i| upsert(&format!("r{i}"), json!(i)))
        .collect();
    let sizes: Vec<usize> = chunks(items, 200, |w| w).iter().map(Vec::len).collect();
    assert_eq!(sizes, [200, 200, 50]);
}

#[test]
fn batches_and_keys() {
    assert_eq!(batches(1), 1);
    assert_eq!(batches(10_000), 1);
    assert_eq!(batches(25_000), 3);
    let job = JobRecord {
        org: "o".into(),
        id: "750".into(),
        key_column: "Id".into(),
        rows: Vec::new(),
    };
    assert_eq!(key(&job, "001000000000001AAA"), "001000000000001");
    assert_eq!(key(&job, "001000000000001"), "001000000000001");
    let job = JobRecord {
        key_column: "Ext__c".into(),
        ..job
    };
    assert_eq!(key(&job, "ABCDEFGHIJKLMNOPQR"), "ABCDEFGHIJKLMNOPQR");
}
