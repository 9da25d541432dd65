use super::{is_json, read, Error, Inbound, Limits};
use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use std::time::Duration;

fn limits(cap: usize) -> Limits {
    Limits {
        cap,
        total: Duration::from_secs(5),
        idle: Duration::from_secs(5),
    }
}

/// A body of the given data frames (plus trailers, which are ignored).
fn frames(
    parts: &[&'static [u8]],
) -> Inbound<impl hyper::body::Body<Data = Bytes> + Unpin + Send + 'static> {
    let mut items: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = parts
        .iter()
        .map(|p| Ok(Frame::data(Bytes::from_static(p))))
        .collect();
    items.push(Ok(Frame::trailers(http::HeaderMap::new())));
    Inbound::new(StreamBody::new(futures_util::stream::iter(items)).boxed_unsync())
}

#[tokio::test]
async fn body_frames_are_joined_in_order_and_one_frame_is_not_copied() {
    let h = http::HeaderMap::new();
    let one: &'static [u8] = b"{\"a\":1}";
    let got = read(limits(64), &h, &mut frames(&[one])).await.unwrap();
    assert_eq!(got, one);
    assert_eq!(
        got.as_ptr(),
        one.as_ptr(),
        "one frame: the same bytes, no copy"
    );

    let got = read(limits(64), &h, &mut frames(&[b"{\"a\"", b"", b":", b"1}"]))
        .await
        .unwrap();
    assert_eq!(got, &b"{\"a\":1}"[..]);
    let got = read(limits(64), &h, &mut frames(&[])).await.unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn body_over_the_cap_is_refused_whether_in_one_frame_or_several() {
    let h = http::HeaderMap::new();
    let r = read(limits(4), &h, &mut frames(&[b"12345"])).await;
    assert!(matches!(r, Err(Error::TooLarge)));
    let r = read(limits(4), &h, &mut frames(&[b"12", b"34", b"5"])).await;
    assert!(matches!(r, Err(Error::TooLarge)));
    let r = read(limits(4), &h, &mut frames(&[b"12", b"34"])).await;
    assert_eq!(r.unwrap(), &b"1234"[..]);
    let mut declared = http::HeaderMap::new();
    declared.insert(http::header::CONTENT_LENGTH, "5".parse().unwrap());
    let r = read(limits(4), &declared, &mut frames(&[])).await;
    assert!(
        matches!(r, Err(Error::TooLarge)),
        "declared length over the cap"
    );
}

#[test]
fn json_check_refuses_duplicate_keys_also_when_escaped() {
    assert!(is_json(br#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#));
    assert!(
        is_json(br#"{"\u0061b":1,"a":2}"#),
        "escaped key, no duplicate"
    );
    assert!(!is_json(br#"{"a":1,"a":2}"#));
    assert!(
        !is_json(br#"{"a":1,"\u0061":2}"#),
        "escape spells the same key"
    );
    assert!(!is_json(br#"{"x":{"k":1,"k":2}}"#), "nested duplicate");
    assert!(!is_json(br#"{"a":1"#));
    assert!(!is_json(b"{\"a\":\"\xff\"}"), "not UTF-8");
}

/// `{"k0":0,"k1":1,...}` with `keys`, in order.
fn object(keys: &[usize]) -> Vec<u8> {
    let fields: Vec<String> = keys.iter().map(|k| format!("\"k{k}\":{k}")).collect();
    format!("{{{}}}", fields.join(",")).into_bytes()
}

#[test]
fn json_check_finds_a_duplicate_key_in_objects_of_any_size() {
    // The first keys are compared one by one, the rest in a hash set.
    for n in [1, 11, 12, 13, 40] {
        let distinct: Vec<usize> = (0..n).collect();
        assert!(is_json(&object(&distinct)), "{n} distinct keys");
        for (first, again) in [(0, n), (n - 1, n), (0, n + 20)] {
            let mut keys = distinct.clone();
            keys.extend(n..again);
            keys.push(first);
            assert!(
                !is_json(&object(&keys)),
                "key {first} again after {} keys",
                keys.len() - 1
            );
        }
    }
}
