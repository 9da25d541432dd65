//! Tests for `[salesforce]` / `[[salesforce.orgs]]` and the `org` of actions.

use std::path::Path;

use crate::config::worker::WorkerConfig;
use crate::config::Error;

/// A secret file for the org keys, removed on drop.
struct Secret(std::path::PathBuf);

impl Secret {
    fn new() -> Secret {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "hookgate-orgs-tests-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&p, "secret").unwrap();
        Secret(p)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn org(s: &Secret, extra: &str) -> String {
    format!(
        "login_url = \"https://login.example.test\"\ninstance_url = \"https://org.example.test\"\n\
         auth = \"client_credentials\"\nconsumer_key = {{ file = \"{p}\" }}\nclient_secret = {{ file = \"{p}\" }}\n{extra}\n",
        p = s.0.display()
    )
}

fn file(actions: &str, salesforce: &str) -> String {
    format!(
        "[amqp]\nurl = \"amqp://127.0.0.1:5672\"\n\n[worker]\nqueues = [\"work\"]\n\n{actions}\n{salesforce}"
    )
}

const UPDATE: &str = "[[worker.actions]]\nmatch = \"salesforce.#\"\nkind = \"salesforce_update\"\nfields = { Synced__c = \"true\" }\n";

fn upsert(org: Option<&str>) -> String {
    let org = org.map(|o| format!("org = \"{o}\"\n")).unwrap_or_default();
    format!(
        "[[worker.actions]]\nmatch = \"stripe.#\"\nkind = \"salesforce_upsert\"\n{org}sobject = \"Payment__c\"\n\
         external_id_field = \"Stripe_Id__c\"\nfields = {{ Stripe_Id__c = \"/id\" }}\n"
    )
}

fn two_orgs(s: &Secret) -> String {
    format!(
        "[[salesforce.orgs]]\nname = \"acme\"\norganization_id = \"00D000000000001\"\n{}\n\
         [[salesforce.orgs]]\nname = \"globex\"\norganization_id = \"00D000000000002EAA\"\n{}",
        org(s, "skip_if_last_modified_by = \"005000000000001\""),
        org(s, "")
    )
}

fn load(text: &str) -> Result<WorkerConfig, Error> {
    WorkerConfig::from_toml(Path::new("worker.toml"), text)
}

fn key_of(e: Error) -> String {
    match e {
        Error::Invalid { key, .. } => key,
        other => panic!("not an Invalid: {other}"),
    }
}

#[test]
fn one_salesforce_table_is_one_default_org() {
    let s = Secret::new();
    let c = load(&file(UPDATE, &format!("[salesforce]\n{}", org(&s, "")))).unwrap();
    assert_eq!(c.orgs.len(), 1);
    assert_eq!(c.orgs[0].name, "default");
    assert_eq!(c.orgs[0].organization_id, None);
}

#[test]
fn several_orgs_are_read_with_18_character_ids() {
    let s = Secret::new();
    let text = file(
        &format!("{UPDATE}{}", upsert(Some("globex"))),
        &two_orgs(&s),
    );
    let c = load(&text).unwrap();
    let names: Vec<&str> = c.orgs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["acme", "globex"]);
    assert_eq!(
        c.orgs[0].organization_id.as_deref(),
        Some("00D000000000001EAA")
    );
    assert_eq!(
        c.orgs[0].skip_if_last_modified_by.as_deref(),
        Some("005000000000001AAA")
    );
    assert_eq!(c.worker.actions[1].org.as_deref(), Some("globex"));
}

#[test]
fn both_forms_together_is_an_error_naming_the_key() {
    let s = Secret::new();
    let text = file(
        UPDATE,
        &format!("[salesforce]\napi_version = \"62.0\"\n\n{}", two_orgs(&s)),
    );
    let e = load(&text).unwrap_err();
    assert!(e.to_string().contains("[[salesforce.orgs]]"), "{e}");
    assert_eq!(key_of(e), "salesforce.api_version");
}

#[test]
fn duplicate_names_and_ids_are_errors_naming_the_key() {
    let s = Secret::new();
    let dup_name = two_orgs(&s).replace("\"globex\"", "\"acme\"");
    assert_eq!(
        key_of(load(&file(UPDATE, &dup_name)).unwrap_err()),
        "salesforce.orgs[1].name"
    );
    // The same org, once as 15 and once as 18 characters.
    let dup_id = two_orgs(&s).replace("00D000000000002EAA", "00D000000000001EAA");
    assert_eq!(
        key_of(load(&file(UPDATE, &dup_id)).unwrap_err()),
        "salesforce.orgs[1].organization_id"
    );
    let bad_id = two_orgs(&s).replace("00D000000000002EAA", "00D000000000002XYZ");
    assert_eq!(
        key_of(load(&file(UPDATE, &bad_id)).unwrap_err()),
        "salesforce.orgs[1].organization_id"
    );
    // A name is one word: it is the `org` label of metrics (the operations
    // page would cut `EU, Sales` at the comma) and of log lines.
    for bad in ["", "EU, Sales", "a=b", "eu sales", &"x".repeat(65)] {
        let text = two_orgs(&s).replace("\"globex\"", &format!("{bad:?}"));
        assert_eq!(
            key_of(load(&file(UPDATE, &text)).unwrap_err()),
            "salesforce.orgs[1].name",
            "{bad:?}"
        );
    }
    let no_name = two_orgs(&s).replace("name = \"globex\"\n", "");
    assert_eq!(
        key_of(load(&file(UPDATE, &no_name)).unwrap_err()),
        "salesforce.orgs[1].name"
    );
    let bad_user = two_orgs(&s).replace("005000000000001", "001000000000001");
    assert_eq!(
        key_of(load(&file(UPDATE, &bad_user)).unwrap_err()),
        "salesforce.orgs[0].skip_if_last_modified_by"
    );
}

#[test]
fn an_action_naming_an_unknown_org_or_none_of_several_is_an_error() {
    let s = Secret::new();
    let unknown = file(
        &format!("{UPDATE}{}", upsert(Some("initech"))),
        &two_orgs(&s),
    );
    let e = load(&unknown).unwrap_err();
    assert!(e.to_string().contains("initech"), "{e}");
    assert!(e.to_string().contains("stripe.#"), "{e}");
    assert_eq!(key_of(e), "worker.actions[1].org");
    let missing = file(&format!("{UPDATE}{}", upsert(None)), &two_orgs(&s));
    assert_eq!(key_of(load(&missing).unwrap_err()), "worker.actions[1].org");
    // One org: the upsert needs no `org`.
    let one = file(
        &format!("{UPDATE}{}", upsert(None)),
        &format!("[salesforce]\n{}", org(&s, "")),
    );
    assert!(load(&one).is_ok());
}
