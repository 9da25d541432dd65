//! `[telemetry]`: defaults, and every bad value named by its key and file.

use super::*;

/// A route that needs no secret.
const ROUTE: &str =
    "[[routes]]\npath = \"/sf\"\nkind = \"salesforce_om\"\norg_ids = [\"00D000000000001\"]\n";

fn load(section: &str) -> Result<Config, Error> {
    let text = format!("{HEAD}\n{ROUTE}\n[telemetry]\n{section}\n");
    Config::from_toml(Path::new(FILE), &text)
}

#[test]
fn defaults_export_nothing_and_sample_everything() {
    let c = Config::from_toml(Path::new(FILE), &format!("{HEAD}\n{ROUTE}")).unwrap();
    assert!(c.telemetry.otlp_endpoint.is_none());
    assert!(c.telemetry.service_name.is_none());
    assert!((c.telemetry.sample_ratio - 1.0).abs() < f64::EPSILON);
    let s = c.telemetry.settings(DEFAULT_GATEWAY_SERVICE);
    assert_eq!(s.service_name, "hookgate");
    assert!(s.otlp_endpoint.is_none());
}

#[test]
fn a_collector_and_a_name_are_taken() {
    let c = load(
        "otlp_endpoint = \"http://127.0.0.1:4318\"\nservice_name = \"edge-eu\"\nsample_ratio = 0.25",
    )
    .unwrap();
    let s = c.telemetry.settings(DEFAULT_GATEWAY_SERVICE);
    assert_eq!(s.otlp_endpoint, Some("http://127.0.0.1:4318"));
    assert_eq!(s.service_name, "edge-eu");
    assert!((s.sample_ratio - 0.25).abs() < f64::EPSILON);
    load("otlp_endpoint = \"https://collector.example.test/otlp\"").unwrap();
}

#[test]
fn bad_values_name_their_key_and_file() {
    for (section, key) in [
        (
            "otlp_endpoint = \"127.0.0.1:4318\"",
            "telemetry.otlp_endpoint",
        ),
        ("otlp_endpoint = \"not a url\"", "telemetry.otlp_endpoint"),
        (
            "otlp_endpoint = \"grpc://127.0.0.1:4317\"",
            "telemetry.otlp_endpoint",
        ),
        (
            "otlp_endpoint = \"http://u:p@127.0.0.1:4318\"",
            "telemetry.otlp_endpoint",
        ),
        (
            "otlp_endpoint = \"http://127.0.0.1:4318/?a=b\"",
            "telemetry.otlp_endpoint",
        ),
        ("service_name = \"  \"", "telemetry.service_name"),
        ("sample_ratio = 1.5", "telemetry.sample_ratio"),
        ("sample_ratio = -0.1", "telemetry.sample_ratio"),
        ("sample_ratio = nan", "telemetry.sample_ratio"),
    ] {
        let e = load(section).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{FILE}: {key}")), "{section}: {e}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    let e = load("otlp_endpiont = \"http://127.0.0.1:4318\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("otlp_endpiont"), "{e}");
}
