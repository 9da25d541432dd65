use super::*;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn traceparent(span: &Span) -> String {
    span.headers()
        .into_iter()
        .find(|(k, _)| *k == TRACEPARENT_HEADER)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

#[test]
fn a_valid_parent_is_continued_with_a_new_span_id() {
    let tracer = Tracer::disabled();
    let parent = extract(Some(PARENT), Some("vendor=abc"));
    let span = tracer.start("request", SpanKind::Server, &parent);
    let tp = traceparent(&span);
    assert!(well_formed(&tp), "{tp}");
    assert_eq!(&tp[3..35], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(&tp[36..52], "00f067aa0ba902b7");
    assert_eq!(&tp[53..], "01");
    let headers = span.headers();
    assert!(headers.contains(&(TRACESTATE_HEADER, "vendor=abc".to_owned())));
}

#[test]
fn hostile_parents_start_a_new_trace() {
    let tracer = Tracer::disabled();
    let long = format!("{PARENT}{}", "0".repeat(4096));
    for hostile in [
        "",
        "garbage",
        long.as_str(),
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01-x",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx: y",
    ] {
        let parent = extract(Some(hostile), None);
        assert!(span_context(&parent).is_none(), "{hostile:?} was taken");
        let tp = traceparent(&tracer.start("request", SpanKind::Server, &parent));
        assert!(well_formed(&tp), "{tp}");
        assert_ne!(&tp[3..35], "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}

#[test]
fn a_long_or_malformed_tracestate_is_dropped() {
    let tracer = Tracer::disabled();
    let long = format!("a={}", "b".repeat(MAX_TRACESTATE));
    for state in [long.as_str(), "not a state", "a=b\r\nx"] {
        let span = tracer.start(
            "request",
            SpanKind::Server,
            &extract(Some(PARENT), Some(state)),
        );
        assert_eq!(span.headers().len(), 1, "{state:?}");
        assert_eq!(
            &traceparent(&span)[3..35],
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }
}

#[test]
fn no_span_injects_nothing() {
    assert!(inject(&Context::new()).is_empty());
}

#[test]
fn unsampled_traces_still_propagate() {
    let tracer = Tracer::new(Settings {
        otlp_endpoint: None,
        service_name: "t",
        sample_ratio: 0.0,
    })
    .unwrap();
    let span = tracer.start("request", SpanKind::Server, &Context::new());
    let tp = traceparent(&span);
    assert!(well_formed(&tp), "{tp}");
    assert!(tp.ends_with("-00"));
}

#[test]
fn a_malformed_endpoint_is_an_error() {
    let err = Tracer::new(Settings {
        otlp_endpoint: Some("not a url"),
        service_name: "t",
        sample_ratio: 1.0,
    });
    assert!(err.is_err());
}

#[test]
fn spans_that_are_not_recorded_get_the_samplers_flags() {
    const UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let tracer = |ratio| {
        Tracer::new(Settings {
            otlp_endpoint: None,
            service_name: "t",
            sample_ratio: ratio,
        })
        .unwrap()
    };
    // (ratio, parent, flags): a parent decides; without one, the ratio.
    for (ratio, parent, flags) in [
        (1.0, None, "01"),
        (0.0, None, "00"),
        (0.0, Some(PARENT), "01"),
        (1.0, Some(UNSAMPLED), "00"),
    ] {
        let cx = extract(parent, None);
        let span = tracer(ratio).start("request", SpanKind::Server, &cx);
        let tp = traceparent(&span);
        assert!(well_formed(&tp), "{tp}");
        assert_eq!(&tp[53..], flags, "ratio {ratio}, parent {parent:?}");
        assert!(!span.context().span().is_recording());
        // A child continues the trace under the span's own id.
        let child = tracer(ratio).start("publish", SpanKind::Producer, span.context());
        let child_tp = traceparent(&child);
        assert_eq!(child_tp[3..35], tp[3..35]);
        assert_ne!(child_tp[36..52], tp[36..52]);
        assert_eq!(&child_tp[53..], flags);
    }
}

/// What the SDK's propagator writes for `cx` (the reference [`inject`]
/// must match), an empty `tracestate` left out.
fn propagator_headers(cx: &Context) -> Vec<(&'static str, String)> {
    struct Out(Vec<(&'static str, String)>);
    impl opentelemetry::propagation::Injector for Out {
        fn set(&mut self, key: &str, value: String) {
            match key {
                TRACEPARENT_HEADER => self.0.push((TRACEPARENT_HEADER, value)),
                TRACESTATE_HEADER if !value.is_empty() => self.0.push((TRACESTATE_HEADER, value)),
                _ => {}
            }
        }
    }
    let mut out = Out(Vec::new());
    TraceContextPropagator::new().inject_context(cx, &mut out);
    out.0
}

#[test]
fn inject_writes_what_the_sdk_propagator_writes() {
    use opentelemetry::trace::{SpanId, TraceId, TraceState};
    let ids = RandomIdGenerator::default();
    let states = [
        TraceState::default(),
        TraceState::from_key_value([("vendor", "abc")]).expect("state"),
        TraceState::from_key_value([("a", "1"), ("b", "2")]).expect("state"),
    ];
    let mut compared = 0;
    for i in 0..600u32 {
        let (trace_id, span_id) = match i % 50 {
            // Small ids: the leading zeros must be written.
            0 => (TraceId::from(1u128), SpanId::from(1u64)),
            1 => (TraceId::from(u128::MAX), SpanId::from(u64::MAX)),
            // Invalid ids: neither writes anything.
            2 => (TraceId::INVALID, ids.new_span_id()),
            3 => (ids.new_trace_id(), SpanId::INVALID),
            _ => (ids.new_trace_id(), ids.new_span_id()),
        };
        // Every flag byte: only `sampled` is carried.
        let flags = TraceFlags::new((i % 256) as u8);
        let state = states[i as usize % states.len()].clone();
        let sc = SpanContext::new(trace_id, span_id, flags, i % 2 == 0, state);
        let cx = Context::new().with_remote_span_context(sc);
        let ours = inject(&cx);
        assert_eq!(ours, propagator_headers(&cx), "context {i}");
        compared += usize::from(!ours.is_empty());
    }
    assert!(compared > 500, "{compared} valid contexts compared");
    assert_eq!(inject(&Context::new()), Vec::new());
}

#[test]
fn a_step_without_an_exporter_draws_no_ids_and_leaves_its_parent_alone() {
    let tracer = Tracer::disabled();
    let request = tracer.start("request", SpanKind::Server, &extract(Some(PARENT), None));
    let before = traceparent(&request);
    let step = tracer.step("authenticate", SpanKind::Internal, request.context());
    assert_eq!(traceparent(&step), before, "the parent's ids, none drawn");
    step.set("k", "v");
    step.fail("refused");
    step.end();
    assert_eq!(traceparent(&request), before);
    // A span started instead gets an id of its own.
    let child = tracer.start("authenticate", SpanKind::Internal, request.context());
    assert_ne!(traceparent(&child), before);
}
