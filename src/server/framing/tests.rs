use super::{Refusal, Scanner};

/// Feeds `input` in pieces of `step` bytes; returns what hyper would read
/// and the refusals.
fn scan(input: &[u8], step: usize) -> (Vec<u8>, Vec<Refusal>) {
    let mut s = Scanner::new(8192, 100);
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for piece in input.chunks(step) {
        if let Some(r) = s.feed(piece, &mut out) {
            refused.push(r);
        }
    }
    (out, refused)
}

/// Every piece size gives the same answer.
fn scan_all(input: &[u8]) -> (Vec<u8>, Vec<Refusal>) {
    let whole = scan(input, input.len().max(1));
    for step in [1, 2, 3, 7, 64] {
        assert_eq!(scan(input, step), whole, "piece size {step}");
    }
    whole
}

const CHUNKED_OK: &[u8] =
    b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n";
const LENGTH_OK: &[u8] = b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn well_framed_requests_pass_unchanged_and_pipelined_heads_are_found() {
    let mut input = b"\r\n".to_vec();
    input.extend_from_slice(CHUNKED_OK);
    input.extend_from_slice(LENGTH_OK);
    input.extend_from_slice(b"GET /c HTTP/1.1\nHost: h\n\n");
    // A body that looks like a head with both headers is only a body.
    input.extend_from_slice(
        b"POST /d HTTP/1.1\r\nContent-Length: 63\r\n\r\nX / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let (out, refused) = scan_all(&input);
    assert_eq!(refused, []);
    assert_eq!(out, input);
}

#[test]
fn ambiguous_framing_is_replaced_by_a_refusal_and_nothing_after_it() {
    let cases: [(&[u8], Refusal); 7] = [
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refusal::LengthAndChunked),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n", Refusal::LengthAndChunked),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", Refusal::TransferEncoding),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refusal::TransferEncoding),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Refusal::RepeatedTransferEncoding),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", Refusal::RepeatedContentLength),
        (b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx", Refusal::ContentLength),
    ];
    for (input, want) in cases {
        let mut all = LENGTH_OK.to_vec();
        all.extend_from_slice(input);
        all.extend_from_slice(LENGTH_OK);
        let (out, refused) = scan_all(&all);
        assert_eq!(refused, [want], "{}", String::from_utf8_lossy(input));
        let mut expect = LENGTH_OK.to_vec();
        expect.extend_from_slice(super::REFUSAL);
        assert_eq!(out, expect, "{}", String::from_utf8_lossy(input));
    }
}

#[test]
fn chunked_with_any_case_is_accepted_and_broken_chunk_framing_ends_the_stream() {
    let ok = b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked \r\n\r\n0\r\n\r\n";
    assert_eq!(scan_all(ok), (ok.to_vec(), vec![]));
    // A bare LF after the chunk size: hyper's decoder refuses it; the stream
    // ends before it, and the pipelined request after it is never read.
    let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3".to_vec();
    let mut input = head.clone();
    input.extend_from_slice(b"\nabc\r\n0\r\n\r\n");
    input.extend_from_slice(LENGTH_OK);
    assert_eq!(scan_all(&input), (head, vec![]));
    // A chunk size past u64.
    let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let end = input.len() + 16;
    input.extend_from_slice(b"10000000000000001\r\nA\r\n0\r\n\r\n");
    assert_eq!(scan_all(&input).0, input[..end].to_vec());
}

#[test]
fn heads_hyper_refuses_itself_pass_unscanned() {
    // The HTTP/2 preface (plaintext prior knowledge) is not an HTTP/1 head.
    let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    assert_eq!(scan_all(h2), (h2.to_vec(), vec![]));
    // Over the head bound: passed on for hyper's 431.
    let mut big = b"POST / HTTP/1.1\r\nX: ".to_vec();
    big.resize(9000, b'a');
    big.extend_from_slice(b"\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(scan_all(&big), (big.clone(), vec![]));
}

#[test]
fn an_incomplete_head_is_held_until_the_client_closes() {
    let mut s = Scanner::new(8192, 100);
    let mut out = Vec::new();
    assert_eq!(s.feed(b"POST / HTTP/1.1\r\nHost: h\r\n", &mut out), None);
    assert!(out.is_empty(), "held");
    s.finish(&mut out);
    assert_eq!(out, b"POST / HTTP/1.1\r\nHost: h\r\n");
}

/// The end of a head by its definition: past the leading empty lines
/// (CR/LF bytes), the index after the first blank line, which is LF LF or
/// LF CR LF (httparse reads lines ending in LF, CR optional).
fn head_end_by_definition(buf: &[u8]) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    (start..buf.len()).find_map(|lf| match &buf[lf..] {
        [b'\n', b'\n', ..] => Some(lf + 2),
        [b'\n', b'\r', b'\n', ..] => Some(lf + 3),
        _ => None,
    })
}

#[test]
fn the_end_of_a_head_is_found_wherever_the_reads_split_it() {
    // Every buffer of up to 8 bytes over CR, LF and a token byte, searched
    // from every point before which no end was found (as `feed` calls it
    // after each read): the first blank line, or none.
    let alphabet = [b'\r', b'\n', b'a'];
    let mut checked = 0;
    for len in 0..=8u32 {
        for code in 0..3usize.pow(len) {
            let buf: Vec<u8> = (0..len)
                .map(|i| alphabet[code / 3usize.pow(i) % 3])
                .collect();
            let want = head_end_by_definition(&buf);
            for from in 0..=buf.len() {
                if head_end_by_definition(&buf[..from]).is_some() {
                    break;
                }
                assert_eq!(super::head_end(&buf, from), want, "{buf:?} from {from}");
                checked += 1;
            }
        }
    }
    assert!(checked > 20_000, "{checked}");
}
