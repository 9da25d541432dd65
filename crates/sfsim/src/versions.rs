//! `GET /services/data/`: the API versions the org serves.
//!
//! REST API Developer Guide, "Versions" (resources-versions.html,
//! dome-versions.html): no authentication; a JSON array, one
//! `{"label","url","version"}` per version, `version` a string, in
//! ascending order. The simulated org serves v31.0 (Summer '14) to v64.0
//! (Summer '25); a data path naming another version is 404 `NOT_FOUND`.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::Reply;

/// The oldest and newest major version served.
const OLDEST: u32 = 31;
const NEWEST: u32 = 64;

/// Whether `NN.N` is served.
pub(super) fn supported(version: &str) -> bool {
    version
        .strip_suffix(".0")
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| (OLDEST..=NEWEST).contains(&m))
}

/// The release name of major version `n`: three releases a year, v31.0
/// being Summer '14.
fn label(n: u32) -> String {
    let k = n - OLDEST + 2;
    let season = ["Winter", "Spring", "Summer"][(k % 3) as usize];
    format!("{season} '{:02}", 14 + k / 3)
}

/// The versions list.
pub(super) fn list() -> Value {
    Value::Array(
        (OLDEST..=NEWEST)
            .map(|n| {
                json!({
                    "label": label(n),
                    "url": format!("/services/data/v{n}.0"),
                    "version": format!("{n}.0"),
                })
            })
            .collect(),
    )
}

/// The reply to `/services/data` (GET and HEAD only).
pub(super) fn reply(method: &Method) -> Reply {
    if method == Method::GET || method == Method::HEAD {
        Reply::json(StatusCode::OK, list())
    } else {
        Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "HTTP Method not allowed. Allowed are GET,HEAD",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_membership() {
        assert_eq!(label(31), "Summer '14");
        assert_eq!(label(32), "Winter '15");
        assert_eq!(label(62), "Winter '25");
        assert_eq!(label(64), "Summer '25");
        assert!(supported("62.0") && supported("31.0"));
        assert!(!supported("30.0") && !supported("99.0") && !supported("62.5"));
        let l = list();
        assert_eq!(l[0]["version"], "31.0");
        assert_eq!(l[0]["url"], "/services/data/v31.0");
    }
}
