//! Tests of the REST client's answer parsing (error bodies, limits, holds).

use super::*;

#[test]
fn limit_info_parses() {
    assert_eq!(
        Usage::parse("api-usage=25/15000"),
        Some(Usage {
            used: 25,
            limit: 15000
        })
    );
    assert_eq!(
        Usage::parse("per-app-api-usage=2/250(appName=x), api-usage=9/10"),
        Some(Usage { used: 9, limit: 10 })
    );
    assert_eq!(Usage::parse("nonsense"), None);
    assert!((Usage { used: 9, limit: 10 }.ratio() - 0.9).abs() < 1e-9);
}

/// The exact header strings of the REST API Developer Guide ("Limit
/// Info Header") and of the issue.
#[test]
fn limit_info_parses_both_items_of_the_documented_header() {
    let info = LimitInfo::parse("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-app)");
    assert_eq!(
        info.api,
        Some(Usage {
            used: 25,
            limit: 5000
        })
    );
    assert_eq!(
        info.per_app,
        Some(Usage {
            used: 17,
            limit: 250
        })
    );
    assert_eq!(info.app_name.as_deref(), Some("sample-app"));
    // 17/250 = 6.8% is closer to its limit than 25/5000 = 0.5%.
    assert_eq!(
        info.tightest(),
        Some(Usage {
            used: 17,
            limit: 250
        })
    );

    let info = LimitInfo::parse("api-usage=10018/100000; per-app-api-usage=17/250(appName=x)");
    assert_eq!(
        info.api,
        Some(Usage {
            used: 10018,
            limit: 100000
        })
    );
    // 10018/100000 = 10.0% is closer than 17/250 = 6.8%.
    assert_eq!(
        info.tightest(),
        Some(Usage {
            used: 10018,
            limit: 100000
        })
    );
    let info = LimitInfo::parse("api-usage=10018/100000; per-app-api-usage=240/250(appName=x)");
    assert_eq!(
        info.tightest(),
        Some(Usage {
            used: 240,
            limit: 250
        })
    );

    let info = LimitInfo::parse("api-usage=95000/100000; per-app-api-usage=17/250(appName=x)");
    assert_eq!(
        info.tightest(),
        Some(Usage {
            used: 95000,
            limit: 100000
        })
    );

    let info = LimitInfo::parse("api-usage=18/5000");
    assert_eq!(info.per_app, None);
    assert_eq!(
        info.tightest(),
        Some(Usage {
            used: 18,
            limit: 5000
        })
    );

    // Only the per-app item: still a reading.
    let info = LimitInfo::parse("per-app-api-usage=240/250(appName=x)");
    assert_eq!(info.api, None);
    assert_eq!(
        info.tightest(),
        Some(Usage {
            used: 240,
            limit: 250
        })
    );
    assert_eq!(LimitInfo::parse(""), LimitInfo::default());
    assert_eq!(
        LimitInfo::parse("api-usage=x/y; per-app-api-usage=1/"),
        LimitInfo::default()
    );
}

#[test]
fn server_errors_retry_whatever_the_code_and_org_failures_hold() {
    let e = top_error(
        500,
        br#"[{"message":"An unexpected error occurred.","errorCode":"UNKNOWN_EXCEPTION"}]"#,
    );
    assert_eq!(
        (e.code.as_str(), e.status),
        ("UNKNOWN_EXCEPTION", Some(500))
    );
    assert!(e.retryable());
    assert_eq!(e.hold(), None);
    let e = top_error(
        400,
        br#"[{"message":"bad","errorCode":"UNKNOWN_EXCEPTION"}]"#,
    );
    assert!(!e.retryable());
    let e = top_error(
        403,
        br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
    );
    assert_eq!(e.hold(), Some(super::super::Hold::RequestLimit));
    let e = ApiError::new(super::super::MAINTENANCE_ERROR, "read-only");
    assert_eq!(e.hold(), Some(super::super::Hold::Maintenance));
    let e = ApiError::new(super::super::AUTH_ERROR, "token request refused");
    assert_eq!(e.hold(), Some(super::super::Hold::Auth));
}

#[test]
fn errors_classify() {
    let e = top_error(
        403,
        br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
    );
    assert_eq!(e.code, "REQUEST_LIMIT_EXCEEDED");
    assert!(e.retryable());
    let e = top_error(502, b"<html>bad gateway</html>");
    assert_eq!(e.code, "HTTP_502");
    assert!(e.retryable());
    let r = record_result(RecordReply {
        success: false,
        errors: vec![RecordError {
            status_code: Some("FIELD_CUSTOM_VALIDATION_EXCEPTION".into()),
            message: Some("Amount must be positive".into()),
        }],
    });
    assert!(!r.unwrap_err().retryable());
}
