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

/// The check as it was defined: the whole body UTF-8, then parsed.
fn utf8_then_json(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok() && is_json(body)
}

#[test]
fn the_json_check_refuses_what_is_not_utf8_wherever_it_is() {
    // Valid bodies with keys, values, escapes, numbers, nesting, whitespace
    // and multi-byte text; then every byte replaced by, and every gap given,
    // each byte that starts, continues or cannot be in UTF-8, and each
    // multi-byte sequence cut short, overlong or a UTF-16 surrogate.
    let bodies: [&[u8]; 4] = [
        br#"{"a":"b","c":[1,-2.5e3,true,null],"d":{"e":"\u00e9\n"}}"#,
        " [ \"caf\u{e9}\" , { \"\u{263a}\" : \"\u{1f600}\" } ] ".as_bytes(),
        br#""x""#,
        br#"{"k":{"k2":[{"k3":"v"}]},"n":0}"#,
    ];
    let bytes = [
        0x00, 0x22, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff,
    ];
    let sequences: [&[u8]; 6] = [
        b"\xc3",
        b"\xe2\x98",
        b"\xf0\x9f\x98",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
    ];
    let mut checked = 0;
    for body in bodies {
        assert!(is_json(body), "{}", String::from_utf8_lossy(body));
        for at in 0..=body.len() {
            let mut variants: Vec<Vec<u8>> = Vec::new();
            for b in bytes {
                if at < body.len() {
                    let mut v = body.to_vec();
                    v[at] = b;
                    variants.push(v);
                }
                let mut v = body.to_vec();
                v.insert(at, b);
                variants.push(v);
            }
            for s in sequences {
                let mut v = body.to_vec();
                v.splice(at..at, s.iter().copied());
                variants.push(v);
            }
            for v in variants {
                assert_eq!(
                    is_json(&v),
                    utf8_then_json(&v),
                    "{:?}",
                    String::from_utf8_lossy(&v)
                );
                if std::str::from_utf8(&v).is_err() {
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1_000, "{checked} bodies that are not UTF-8");
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
