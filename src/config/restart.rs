//! What a live reload (SIGHUP) cannot apply: every setting of the gateway's
//! config file outside `[[routes]]` is read at start (listen addresses,
//! limits, `[admin]`, `[amqp]`, `[spool]`, `[dedupe]`, `[telemetry]`, the
//! certificate *paths*; the certificate files' contents reload on their
//! own). A reload compares the file's new text with the text the process
//! started from and names the keys that changed, so an operator is told
//! that they wait for a restart rather than finding out later.

use toml::{Table, Value};

/// Keys a reload applies (the routes, and `server.max_body_bytes`: the cap
/// of routes without their own, applied with them), and the sections the
/// gateway does not read (the worker's and `hookgate subscribe`'s, in a
/// file shared with them): never named.
const NOT_NAMED: [&str; 5] = [
    "routes",
    "server.max_body_bytes",
    "worker",
    "salesforce",
    "pubsub",
];

/// The dotted keys (`amqp.url`, `server.tls.cert`, `amqp.queues`) whose
/// values differ between `running` (the file as the process started from
/// it) and `new` (the file now), but for [`NOT_NAMED`]: added, removed or
/// changed, sorted. An array is one key (compared whole). Only names: never
/// a value, which may be a secret.
pub(crate) fn restart_keys(running: &Table, new: &Table) -> Vec<String> {
    let mut keys = Vec::new();
    diff("", running, new, &mut keys);
    keys.sort();
    keys
}

fn diff(prefix: &str, a: &Table, b: &Table, out: &mut Vec<String>) {
    let names = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
    for name in names {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if NOT_NAMED.contains(&key.as_str()) {
            continue;
        }
        match (a.get(name), b.get(name)) {
            (Some(Value::Table(x)), Some(Value::Table(y))) => diff(&key, x, y, out),
            (x, y) if x != y => out.push(key),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::restart_keys;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    const RUNNING: &str = r##"
[server]
listen = "0.0.0.0:8443"
[server.tls]
cert = "a.pem"
key = "a.key"
[amqp]
url = "amqp://u:first-password@h/"
queues = [{ name = "q", bindings = ["#"] }]
[[routes]]
path = "/hooks/github"
kind = "github"
secrets = ["one"]
"##;

    #[test]
    fn only_what_a_reload_applies_or_the_gateway_ignores_changes_nothing_to_restart() {
        // Routes, the routes' default body cap, and the worker's and the
        // subscriber's sections (a file shared with them).
        let new = RUNNING
            .replace(r#"secrets = ["one"]"#, r#"secrets = ["two"]"#)
            .replace("[server]\n", "[server]\nmax_body_bytes = 4096\n")
            + "[[routes]]\npath = \"/hooks/other\"\nkind = \"stripe\"\n"
            + "[worker]\nqueues = [\"w\"]\n[[salesforce.orgs]]\nname = \"a\"\n[pubsub]\ntopics = []\n";
        assert!(restart_keys(&table(RUNNING), &table(&new)).is_empty());
        assert!(restart_keys(&table(RUNNING), &table(RUNNING)).is_empty());
    }

    #[test]
    fn changed_added_and_removed_keys_are_named_never_their_values() {
        let new = RUNNING
            .replace("first-password", "second-password")
            .replace("cert = \"a.pem\"\n", "")
            .replace(r##"bindings = ["#"]"##, r##"bindings = ["github.#"]"##)
            + "[telemetry]\notlp_endpoint = \"http://collector:4318\"\n";
        let keys = restart_keys(&table(RUNNING), &table(&new));
        assert_eq!(
            keys,
            ["amqp.queues", "amqp.url", "server.tls.cert", "telemetry"]
        );
        assert!(!keys.iter().any(|k| k.contains("password")));
    }

    #[test]
    fn a_table_that_becomes_a_value_is_its_key_and_routes_removed_are_not() {
        // `[server]` is now a number; `[amqp]` is unchanged; no routes left.
        let amqp = &RUNNING[RUNNING.find("[amqp]").unwrap()..RUNNING.find("[[routes]]").unwrap()];
        let new = format!("server = 1\n{amqp}");
        assert_eq!(restart_keys(&table(RUNNING), &table(&new)), ["server"]);
    }
}
