//! `generic_hmac` routes: the scheme described by the route's keys.

use super::*;

// === generic_hmac ===

fn generic_route(dir: &TempDir, extra: &str) -> String {
    let s = dir.file("g", b"dev-generic-secret");
    one_route(&format!(
        "path = \"/g\"\nkind = \"generic_hmac\"\nsecrets = [{{ file = {s} }}]\n{extra}"
    ))
}

#[test]
fn generic_without_header_refused() {
    let dir = TempDir::new("generic-noheader");
    let (key, reason, _) = invalid(&generic_route(&dir, ""));
    assert_eq!(key, "routes[0].header");
    assert!(reason.contains("required"), "{reason}");
}

#[test]
fn generic_timestamp_placeholder_needs_timestamp_header() {
    let dir = TempDir::new("generic-ts");
    let key = invalid_key(&generic_route(
        &dir,
        "header = \"X-Sig\"\nsigned_payload = \"{timestamp}.{body}\"",
    ));
    assert_eq!(key, "routes[0].timestamp_header");
}

/// A timestamp header the signature does not cover decides freshness on
/// its own: once the replay TTL has passed, a captured request with a fresh
/// header would verify again. The route must sign `{timestamp}`.
#[test]
fn generic_timestamp_header_outside_the_signed_payload_refused() {
    let dir = TempDir::new("generic-unsigned-ts");
    for extra in [
        "header = \"X-Sig\"\ntimestamp_header = \"X-Ts\"",
        "header = \"X-Sig\"\nsigned_payload = \"{body}\"\ntimestamp_header = \"X-Ts\"",
        "header = \"X-Sig\"\nsigned_payload = \"{id}.{body}\"\nid_header = \"X-Id\"\ntimestamp_header = \"X-Ts\"",
    ] {
        let (key, reason, shown) = invalid(&generic_route(&dir, extra));
        assert_eq!(key, "routes[0].signed_payload", "{extra}");
        assert!(reason.contains("{timestamp}"), "{reason}");
        assert!(shown.starts_with(&format!("{FILE}: routes[0].signed_payload: ")));
    }
    // Signed: accepted.
    load_ok(&generic_route(
        &dir,
        "header = \"X-Sig\"\nsigned_payload = \"{timestamp}.{body}\"\ntimestamp_header = \"X-Ts\"",
    ));
}

#[test]
fn generic_description_errors_name_their_key() {
    let dir = TempDir::new("generic-keys");
    for (extra, expected) in [
        (
            "header = \"X-Sig\"\nsigned_payload = \"{id}.{body}\"",
            "routes[0].id_header",
        ),
        (
            "header = \"X-Sig\"\nsigned_payload = \"{timestamp}\"\ntimestamp_header = \"X-Ts\"",
            "routes[0].signed_payload",
        ),
        (
            "header = \"X-Sig\"\nsigned_payload = \"{nope}{body}\"",
            "routes[0].signed_payload",
        ),
        ("header = \"bad header\"", "routes[0].header"),
        (
            "header = \"X-Sig\"\nevent_header = \"bad header\"",
            "routes[0].event_header",
        ),
    ] {
        assert_eq!(
            invalid_key(&generic_route(&dir, extra)),
            expected,
            "{extra}"
        );
    }
    let e = load(&generic_route(
        &dir,
        "header = \"X-Sig\"\nalgorithm = \"md5\"",
    ))
    .unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e:?}");
}

#[test]
fn generic_keys_on_other_kinds_refused() {
    let dir = TempDir::new("generic-foreign");
    for (extra, key) in [
        ("header = \"X-Sig\"", "routes[0].header"),
        ("algorithm = \"sha1\"", "routes[0].algorithm"),
        ("encoding = \"hex\"", "routes[0].encoding"),
        ("prefix = \"sha256=\"", "routes[0].prefix"),
        ("signed_payload = \"{body}\"", "routes[0].signed_payload"),
        ("timestamp_header = \"X-Ts\"", "routes[0].timestamp_header"),
        ("id_header = \"X-Id\"", "routes[0].id_header"),
        ("event_header = \"X-Ev\"", "routes[0].event_header"),
    ] {
        assert_eq!(invalid_key(&github_route(&dir, extra)), key, "{extra}");
    }
}

#[test]
fn generic_minimal_route_accepted() {
    let dir = TempDir::new("generic-min");
    let c = load_ok(&generic_route(&dir, "header = \"X-Sig\""));
    assert_eq!(c.routes[0].name, "generic_hmac");
    assert!(c.routes[0].generic.is_some());
}

// === the declarative template's keys ===

#[test]
fn generic_list_and_timestamp_keys_load() {
    let dir = TempDir::new("generic-list");
    let c = load_ok(&generic_route(
        &dir,
        "header = \"X-Sig\"\nencoding = \"base64url\"\nseparator = \";\"\nitem_prefix = \"s=\"\ntimestamp_item = \"t=\"\ntimestamp_format = \"unix_ms\"\nsigned_payload = \"{method} {url} {timestamp}.{body}\"\ntolerance_s = 30",
    ));
    let r = &c.routes[0];
    assert_eq!(r.tolerance.as_secs(), 30);
    let s = r.generic.as_ref().unwrap();
    assert_eq!(s.list.as_ref().unwrap().item_prefix, "s=");
}

#[test]
fn generic_list_key_errors_name_their_key() {
    let dir = TempDir::new("generic-list-errors");
    for (extra, expected) in [
        (
            "header = \"X-Sig\"\nitem_prefix = \"v1=\"",
            "routes[0].item_prefix",
        ),
        (
            "header = \"X-Sig\"\ntimestamp_item = \"t=\"\nsigned_payload = \"{timestamp}.{body}\"",
            "routes[0].timestamp_item",
        ),
        (
            "header = \"X-Sig\"\nseparator = \"\"",
            "routes[0].separator",
        ),
        (
            "header = \"X-Sig\"\nseparator = \",\"\ntimestamp_item = \"t=\"",
            "routes[0].signed_payload",
        ),
    ] {
        let key = invalid_key(&generic_route(&dir, extra));
        assert!(key.starts_with(expected), "{extra}: {key}");
    }
}

#[test]
fn generic_template_keys_refused_on_other_kinds() {
    let dir = TempDir::new("generic-foreign");
    let s = dir.file("p", b"dev-paddle-secret");
    for key in [
        "separator = \",\"",
        "item_prefix = \"v1=\"",
        "timestamp_item = \"t=\"",
        "timestamp_format = \"rfc3339\"",
    ] {
        let text = one_route(&format!(
            "path = \"/p\"\nkind = \"paddle\"\nsecrets = [{{ file = {s} }}]\n{key}"
        ));
        let (k, reason, _) = invalid(&text);
        let name = key.split(' ').next().unwrap();
        assert_eq!(k, format!("routes[0].{name}"));
        assert!(reason.contains("not a key of kind paddle"), "{reason}");
    }
}
