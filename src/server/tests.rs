//! The route table across a reload: rate-limit buckets carry over while a
//! route's limit is unchanged.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::route_table;
use crate::config::Config;

/// A plaintext config of Outbound Message routes (no secrets to resolve):
/// (name, path, rate_limit TOML or "").
fn config(routes: &[(&str, &str, &str)]) -> Config {
    let mut text =
        String::from("[server]\nplaintext = true\n[amqp]\nurl = \"amqp://127.0.0.1:5672/%2f\"\n");
    for (name, path, limit) in routes {
        text.push_str(&format!(
            "[[routes]]\nname = \"{name}\"\npath = \"{path}\"\nkind = \"salesforce_om\"\norg_ids = [\"00D000000000001\"]\n{limit}\n"
        ));
    }
    Config::from_toml(Path::new("test.toml"), &text).unwrap()
}

#[test]
fn a_reload_keeps_the_buckets_of_unchanged_limits_only() {
    let client: IpAddr = "192.0.2.1".parse().unwrap();
    let one = "rate_limit = { per_second = 1, burst = 1 }";
    let before = route_table(
        &config(&[("a", "/a", one), ("b", "/b", one), ("c", "/c", "")]),
        None,
    );
    for path in ["/a", "/b"] {
        let l = before[path].limiter.as_ref().unwrap();
        assert!(l.check(client).is_ok());
        assert!(l.check(client).is_err(), "{path} spent");
    }
    assert!(before["/c"].limiter.is_none());

    // "a" moves to another path with the same limit; "b" changes its
    // limit; "c" gets one.
    let after = route_table(
        &config(&[
            ("a", "/a2", one),
            ("b", "/b", "rate_limit = { per_second = 1, burst = 2 }"),
            ("c", "/c", one),
        ]),
        Some(&before),
    );
    let a = after["/a2"].limiter.as_ref().unwrap();
    assert!(Arc::ptr_eq(a, before["/a"].limiter.as_ref().unwrap()));
    assert!(a.check(client).is_err(), "still spent after the reload");
    let b = after["/b"].limiter.as_ref().unwrap();
    assert!(!Arc::ptr_eq(b, before["/b"].limiter.as_ref().unwrap()));
    assert!(
        b.check(client).is_ok() && b.check(client).is_ok(),
        "new limit, full bucket"
    );
    assert!(after["/c"].limiter.as_ref().unwrap().check(client).is_ok());
}
