use super::History;
use crate::telemetry::metrics::Metrics;

/// Unix seconds of 2026-12-06 00:00:00 UTC.
const NOW: f64 = 1_796_515_200.0;
const DAY: f64 = 86_400.0;

/// The text of each `<tr>`, cells joined by ` | ` (tags dropped).
fn rows(html: &str) -> Vec<String> {
    html.split("<tr>")
        .skip(1)
        .map(|r| {
            let r = r.split("</tr>").next().unwrap_or("");
            r.split("</td>")
                .map(|c| c.rsplit('>').next().unwrap_or("").to_owned())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

fn has_row(html: &str, want: &str) -> bool {
    rows(html).iter().any(|r| r == want)
}

#[test]
fn renders_the_gateway_counters_with_rates_from_the_previous_reading() {
    let m = Metrics::new();
    for _ in 0..3 {
        m.request("github", "accepted");
    }
    m.request("github", "unauthorized");
    m.verification_failure("github", "bad_signature");
    m.broker_state(true, false);
    let history = History::default();
    let first = history.render(&m.encode(), NOW);
    assert!(
        has_row(&first, "github | accepted | 3 | –"),
        "{:#?}",
        rows(&first)
    );
    assert!(
        has_row(&first, "github | unauthorized | 1 | –"),
        "{:#?}",
        rows(&first)
    );
    assert!(
        has_row(&first, "github | all | 4 | –"),
        "{:#?}",
        rows(&first)
    );
    assert!(
        has_row(&first, "github | bad_signature | 1 | –"),
        "{:#?}",
        rows(&first)
    );
    assert!(has_row(&first, "Connected | yes"), "{:#?}", rows(&first));
    assert!(first.contains("rates from the next refresh on"));

    for _ in 0..10 {
        m.request("github", "accepted");
    }
    let second = history.render(&m.encode(), NOW + 5.0);
    assert!(
        has_row(&second, "github | accepted | 13 | 2.00"),
        "{:#?}",
        rows(&second)
    );
    assert!(
        has_row(&second, "github | unauthorized | 1 | 0.00"),
        "{:#?}",
        rows(&second)
    );
    assert!(second.contains("rates over the last 5.0 s"));
    // A reading sooner than a second later keeps the kept one for rates.
    let third = history.render(&m.encode(), NOW + 5.5);
    assert!(third.contains("rates over the last 0.5 s"), "{third}");
    let fourth = history.render(&m.encode(), NOW + 6.0);
    assert!(fourth.contains("rates over the last 1.0 s"), "{fourth}");
}

#[test]
fn label_values_are_escaped() {
    let text = "# TYPE hookgate_requests counter\n\
        hookgate_requests_total{route=\"<script>alert(1)</script>\",outcome=\"accepted\"} 2\n\
        # EOF\n";
    let page = History::default().render(text, NOW);
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
        "{page}"
    );
}

#[test]
fn secrets_show_expiry_and_highlight_the_ones_expiring_within_14_days() {
    let m = Metrics::new();
    m.set_secret_expiries([
        ("github".to_owned(), 0, (NOW + 3.0 * DAY) as i64),
        ("github".to_owned(), 1, (NOW + 90.0 * DAY) as i64),
        ("stripe".to_owned(), 0, (NOW - DAY) as i64),
    ]);
    m.secret_match("github", 0);
    let page = History::default().render(&m.encode(), NOW);
    assert!(
        has_row(&page, "github | 0 | 1 | 2026-12-09 00:00 UTC | 3.0"),
        "{:#?}",
        rows(&page)
    );
    assert!(
        has_row(&page, "github | 1 | 0 | 2027-03-06 00:00 UTC | 90.0"),
        "{:#?}",
        rows(&page)
    );
    assert!(
        page.contains("<td class=\"warn\">2026-12-09 00:00 UTC</td>"),
        "{page}"
    );
    assert!(page.contains("<td>2027-03-06 00:00 UTC</td>"), "{page}");
    assert!(
        page.contains("<td class=\"bad\">2026-12-05 00:00 UTC</td>"),
        "{page}"
    );
}

#[test]
fn spool_and_broker_state_show_depth_age_and_quarantine() {
    let m = Metrics::new();
    m.broker_state(false, false);
    m.spool_messages.set(7);
    m.spool_oldest_age.set(42.5);
    m.spool_quarantined.set(2);
    m.spool_writes.inc_by(9);
    let page = History::default().render(&m.encode(), NOW);
    assert!(page.contains("<h1>hookgate gateway</h1>"));
    assert!(has_row(&page, "Connected | no"), "{:#?}", rows(&page));
    assert!(has_row(&page, "Messages | 7"), "{:#?}", rows(&page));
    assert!(
        has_row(&page, "Oldest message age | 42.5 s"),
        "{:#?}",
        rows(&page)
    );
    assert!(
        has_row(&page, "Quarantined entries | 2"),
        "{:#?}",
        rows(&page)
    );
    assert!(has_row(&page, "Written | 9"), "{:#?}", rows(&page));
    assert!(has_row(&page, "File writable | yes"), "{:#?}", rows(&page));
}

#[test]
fn worker_sections_show_pauses_usage_and_dead_letters() {
    let text = "# TYPE hookgate_worker_paused gauge\n\
        hookgate_worker_paused{org=\"main\",reason=\"auth\"} 0\n\
        hookgate_worker_paused{org=\"main\",reason=\"request_limit\"} 1\n\
        hookgate_worker_paused{org=\"eu\",reason=\"auth\"} 0\n\
        # TYPE hookgate_worker_amqp_connected gauge\n\
        hookgate_worker_amqp_connected 1\n\
        # TYPE hookgate_worker_api_usage_ratio gauge\n\
        hookgate_worker_api_usage_ratio{org=\"main\"} 0.9\n\
        # TYPE hookgate_worker_processed counter\n\
        hookgate_worker_processed_total 120\n\
        # TYPE hookgate_worker_dead_lettered counter\n\
        hookgate_worker_dead_lettered_total{reason=\"INVALID_FIELD\"} 4\n\
        # EOF\n";
    let page = History::default().render(text, NOW);
    assert!(page.contains("<h1>hookgate worker</h1>"));
    assert!(
        has_row(
            &page,
            "main | paused: request_limit | 90.0 % used, 10.0 % left"
        ),
        "{:#?}",
        rows(&page)
    );
    assert!(has_row(&page, "eu | running | –"), "{:#?}", rows(&page));
    assert!(
        page.contains("<td class=\"warn\">90.0 % used, 10.0 % left</td>"),
        "usage from 80 % is marked: {page}"
    );
    assert!(
        has_row(&page, "Processed (written and acked) | 120"),
        "{:#?}",
        rows(&page)
    );
    assert!(
        has_row(&page, "INVALID_FIELD | 4 | –"),
        "{:#?}",
        rows(&page)
    );
    assert!(
        !page.contains("<h2>Spool</h2>"),
        "no gateway sections without their metrics"
    );
}

#[test]
fn renders_the_subscriber_from_its_metrics() {
    let text = "\
# TYPE hookgate_pubsub_streaming gauge
hookgate_pubsub_streaming{subscription=\"orders\"} 1
hookgate_pubsub_streaming{subscription=\"cdc\"} 0
# TYPE hookgate_pubsub_halted gauge
hookgate_pubsub_halted{subscription=\"orders\"} 0
hookgate_pubsub_halted{subscription=\"cdc\"} 1
# TYPE hookgate_pubsub_events counter
hookgate_pubsub_events_total{subscription=\"orders\",reason=\"decoded\"} 1200
hookgate_pubsub_events_total{subscription=\"orders\",reason=\"undecodable\"} 2
# TYPE hookgate_pubsub_replay_gaps counter
hookgate_pubsub_replay_gaps_total{subscription=\"cdc\"} 1
# TYPE hookgate_pubsub_streams counter
hookgate_pubsub_streams_total{subscription=\"orders\",reason=\"service.unavailable\"} 3
# TYPE hookgate_pubsub_amqp_connected gauge
hookgate_pubsub_amqp_connected 1
# EOF
";
    let html = History::default().render(text, NOW);
    assert!(
        html.contains("<title>hookgate subscriber</title>"),
        "{html}"
    );
    assert!(
        has_row(&html, "orders | streaming | 1200 | 2 | 0 | 0 | 0"),
        "{:#?}",
        rows(&html)
    );
    assert!(
        has_row(&html, "cdc | halted: see the log | 0 | 0 | 0 | 0 | 1"),
        "{:#?}",
        rows(&html)
    );
    assert!(
        has_row(&html, "orders | service.unavailable | 3"),
        "{:#?}",
        rows(&html)
    );
}
