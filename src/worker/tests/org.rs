//! Routing messages to orgs and the loop guard.

use super::*;
use crate::config::worker::{FieldSpec, WorkerConfig};

fn config(extra_acme: &str) -> WorkerConfig {
    // Removed when the config is parsed (the secrets are read then).
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s").unwrap();
    let org = |name: &str, id: &str, extra: &str| {
        format!(
            "[[salesforce.orgs]]\nname = \"{name}\"\norganization_id = \"{id}\"\n{extra}\n\
             login_url = \"https://l.test\"\ninstance_url = \"https://i.test\"\nauth = \"client_credentials\"\n\
             consumer_key = {{ file = \"{s}\" }}\nclient_secret = {{ file = \"{s}\" }}\n",
            s = secret.display()
        )
    };
    let text = format!(
        "[amqp]\nurl = \"amqp://127.0.0.1:5672\"\n[worker]\nqueues = [\"w\"]\n\
         [[worker.actions]]\nmatch = \"#\"\nkind = \"salesforce_update\"\nfields = {{ A__c = \"x\" }}\n{}{}",
        org("acme", "00D000000000001", extra_acme),
        org("globex", "00D000000000002EAA", "")
    );
    WorkerConfig::from_toml(std::path::Path::new("w.toml"), &text).unwrap()
}

fn update(org: Option<&str>) -> ActionConfig {
    ActionConfig {
        pattern: "#".into(),
        kind: ActionKind::SalesforceUpdate,
        org: org.map(str::to_owned),
        sobject: None,
        external_id_field: None,
        fields: [("A__c".to_owned(), FieldSpec::Text("x".into()))].into(),
    }
}

fn body(org: &str, modified_by: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "organization_id": org,
        "sobject": {"Id": "001000000000001AAA", "LastModifiedById": modified_by},
    }))
    .unwrap()
}

#[test]
fn notifications_go_to_the_org_of_their_id_15_or_18() {
    let c = config("");
    let a = update(None);
    // 18 characters in any case, or the 15-character form.
    for (id, want) in [
        ("00D000000000001EAA", Some(0)),
        ("00d000000000001eaa", Some(0)),
        ("00D000000000002", Some(1)),
        ("00D000000000003EAA", None),
        ("not an id", None),
    ] {
        let origin = Origin::of(&body(id, ""));
        assert_eq!(route(&c.orgs, &a, &origin), want, "{id}");
    }
    // An update pinned to one org refuses the other's Notifications.
    let pinned = update(Some("globex"));
    let acme = Origin::of(&body("00D000000000001EAA", ""));
    assert_eq!(route(&c.orgs, &pinned, &acme), None);
    // A body that is no Notification has no org.
    assert_eq!(route(&c.orgs, &a, &Origin::of(b"[]")), None);
}

#[test]
fn upserts_go_to_their_named_org() {
    let c = config("");
    let mut a = update(Some("globex"));
    a.kind = ActionKind::SalesforceUpsert;
    assert_eq!(route(&c.orgs, &a, &Origin::default()), Some(1));
}

#[test]
fn the_loop_guard_compares_user_ids_as_18_characters() {
    let c = config("skip_if_last_modified_by = \"005000000000009AAA\"");
    let a = update(None);
    let acme = &c.orgs[0];
    let by = |u: &str| Origin::of(&body("00D000000000001EAA", u));
    assert!(loop_guarded(acme, &a, &by("005000000000009")));
    assert!(loop_guarded(acme, &a, &by("005000000000009aaa")));
    assert!(!loop_guarded(acme, &a, &by("005000000000008AAA")));
    assert!(!loop_guarded(acme, &a, &by("")));
    // Another org without the guard writes whoever modified the record.
    assert!(!loop_guarded(&c.orgs[1], &a, &by("005000000000009AAA")));
}
