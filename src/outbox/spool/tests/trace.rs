//! A spooled message keeps its trace context: the forwarder publishes
//! `traceparent` and `tracestate` as the request stamped them.

use super::*;

#[tokio::test]
async fn trace_headers_survive_the_spool() {
    let (spool, _, _) = open_memory(&config(5));
    let mut m = message("traced", "x.y");
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    m.headers
        .push((Cow::Borrowed("traceparent"), traceparent.into()));
    m.headers
        .push((Cow::Borrowed("tracestate"), "vendor=abc".into()));
    spool.write(std::slice::from_ref(&m)).await.expect("write");
    let oldest = spool.oldest(BATCH).await.expect("oldest");
    let [(_, read)] = &oldest[..] else {
        panic!("one entry, got {}", oldest.len())
    };
    assert_eq!(read.headers, m.headers, "headers, in order");
    assert_eq!(read, &m);
}
