//! `[spool]` and `[dedupe]`.

use super::*;

// === [spool] ===

#[test]
fn spool_values_checked() {
    let dir = TempDir::new("spool-values");
    let route = github_route(&dir, "");
    for k in ["after_ms", "max_bytes", "max_messages", "quarantine_after"] {
        let key = invalid_key(&format!("{route}\n[spool]\n{k} = 0\n"));
        assert_eq!(key, format!("spool.{k}"));
    }
    let key = invalid_key(&format!("{route}\n[spool]\nmax_bytes = 1048576\n"));
    assert_eq!(key, "spool.max_bytes", "below a new redb file's size");
    assert_eq!(load_ok(&route).spool.quarantine_after, 5);
    let c = load_ok(&format!("{route}\n[spool]\nquarantine_after = 2\n"));
    assert_eq!(c.spool.quarantine_after, 2);
}

#[test]
fn dedupe_max_bytes_checked() {
    let dir = TempDir::new("dedupe-max-bytes");
    let route = github_route(&dir, "");
    assert_eq!(load_ok(&route).dedupe.max_bytes, 256 << 20);
    let key = invalid_key(&format!("{route}\n[dedupe]\nmax_bytes = 1048576\n"));
    assert_eq!(key, "dedupe.max_bytes");
    let c = load_ok(&format!("{route}\n[dedupe]\nmax_bytes = 8388608\n"));
    assert_eq!(c.dedupe.max_bytes, 8 << 20);
}
