//! HTTP/1 request framing that two parsers could read differently, refused
//! before hyper sees it.
//!
//! hyper follows RFC 9112 section 6.3: with both `Content-Length` and
//! `Transfer-Encoding: chunked` it frames by chunked and drops
//! `Content-Length` from the header map, so the handler cannot tell; it
//! accepts a coding list ending in `chunked` and two equal
//! `Content-Length` lines. Behind a TLS-terminating balancer
//! (`plaintext = true`) another parser frames the same bytes first, and any
//! such disagreement is a request-smuggling vector; nginx and Envoy refuse
//! these requests, and so does hookgate, with 400 and a closed connection.
//!
//! hyper has no hook between its head parser and its framing decision, so
//! [`Framed`] sits under it on the read side: it holds each request head
//! until the blank line, parses it with the same parser hyper uses
//! (httparse, hyper's defaults), and then follows that request's body
//! framing, as hyper's decoder does, to find where the next head starts.
//! A head it refuses never reaches hyper: hyper gets a line it answers with
//! 400 and then end of stream. Bytes hyper will refuse anyway (a head
//! httparse rejects, such as the HTTP/2 preface on the plaintext listener)
//! pass through unscanned; chunked framing hyper's decoder would not
//! accept ends the stream there.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::telemetry::metrics::Metrics;

/// What hyper reads in place of a refused head: a method that is not a
/// token, which hyper answers with 400 and a closed connection.
const REFUSAL: &[u8] = b"(refused) / HTTP/1.1\r\n\r\n";

/// Bytes read from the socket at a time while scanning heads and chunk
/// framing.
const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    /// The buffer those reads land in: one per thread (a read is never
    /// held across an await), not one per connection, and never zeroed.
    static SCRATCH: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(Vec::with_capacity(SCRATCH_BYTES));
}

/// Why a head was refused (the log's and metric's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `Content-Length` together with `Transfer-Encoding`.
    LengthAndChunked,
    /// `Transfer-Encoding` on more than one line.
    RepeatedTransferEncoding,
    /// `Transfer-Encoding` other than exactly `chunked` (a list, another
    /// coding), or on HTTP/1.0.
    TransferEncoding,
    /// `Content-Length` on more than one line, equal or not.
    RepeatedContentLength,
    /// `Content-Length` that is not a decimal number.
    ContentLength,
}

impl Refusal {
    /// A short label for logs.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::LengthAndChunked => "content_length_with_transfer_encoding",
            Refusal::RepeatedTransferEncoding => "repeated_transfer_encoding",
            Refusal::TransferEncoding => "transfer_encoding_not_chunked",
            Refusal::RepeatedContentLength => "repeated_content_length",
            Refusal::ContentLength => "invalid_content_length",
        }
    }
}

/// Where in the request stream the scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a request head.
    Head,
    /// Body bytes left of a `Content-Length` body.
    Length(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// No longer scanned: hyper refuses what it reads next and closes.
    Pass,
    /// Stream ended here for hyper (a refused head, broken chunk framing).
    End,
}

/// Chunked body states, as hyper's decoder (`proto::h1::decode`) has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Start,
    Size(u64),
    SizeLws(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
}

/// The sans-io scanner: bytes from the client in, bytes for hyper out.
#[derive(Debug)]
pub(crate) struct Scanner {
    state: State,
    /// The head being collected.
    head: Vec<u8>,
    /// Most head bytes held; past it the head goes to hyper as it is
    /// (hyper's buffer is no larger and answers 431).
    max_head: usize,
    /// Header lines parsed (hyper's `max_headers`; more is hyper's 431).
    max_headers: usize,
}

impl Scanner {
    /// A scanner for heads of at most `max_head` bytes and `max_headers`
    /// lines (`[server] max_header_bytes`, `max_headers`).
    pub(crate) fn new(max_head: usize, max_headers: usize) -> Scanner {
        Scanner {
            state: State::Head,
            head: Vec::new(),
            max_head,
            max_headers,
        }
    }

    /// The stream ended for hyper (nothing more is released).
    pub(crate) fn ended(&self) -> bool {
        self.state == State::End
    }

    /// Body bytes that may go to hyper unscanned right now: what is left of
    /// a `Content-Length` body, or everything once no longer scanning.
    pub(crate) fn unscanned(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Pass => Some(u64::MAX),
            _ => None,
        }
    }

    /// Accounts for `n` bytes handed to hyper unscanned (at most
    /// [`Scanner::unscanned`]).
    pub(crate) fn skipped(&mut self, n: u64) {
        if let State::Length(left) = self.state {
            let left = left.saturating_sub(n);
            self.state = if left == 0 {
                State::Head
            } else {
                State::Length(left)
            };
        }
    }

    /// Scans `input` from the client and appends what hyper may read to
    /// `out`; returns the refusal when a head was refused.
    pub(crate) fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Option<Refusal> {
        while !input.is_empty() {
            match self.state {
                State::End => return None,
                State::Pass => {
                    out.extend_from_slice(input);
                    return None;
                }
                State::Length(n) => {
                    let k = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..k]);
                    self.skipped(k as u64);
                    input = &input[k..];
                }
                State::Chunked(Chunk::Data(n)) => {
                    let k = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..k]);
                    let left = n - k as u64;
                    self.state = State::Chunked(if left == 0 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data(left)
                    });
                    input = &input[k..];
                }
                State::Chunked(c) => match chunk_step(c, input[0]) {
                    Some(next) => {
                        out.push(input[0]);
                        input = &input[1..];
                        self.state = next.map_or(State::Head, State::Chunked);
                    }
                    // Framing hyper's decoder refuses: the stream ends before
                    // the bad byte and hyper fails the body.
                    None => {
                        self.state = State::End;
                        return None;
                    }
                },
                State::Head => {
                    let before = self.head.len();
                    self.head.extend_from_slice(input);
                    let Some(end) = head_end(&self.head, before) else {
                        if self.head.len() > self.max_head {
                            // hyper answers 431 to a head this long.
                            out.append(&mut self.head);
                            self.state = State::Pass;
                        }
                        return None;
                    };
                    // The blank line ends in a byte of `input` (an earlier
                    // one would have ended the head before).
                    input = &input[end.saturating_sub(before)..];
                    self.head.truncate(end);
                    if end > self.max_head {
                        out.append(&mut self.head);
                        self.state = State::Pass;
                        continue;
                    }
                    match self.decide() {
                        Ok(next) => {
                            out.append(&mut self.head);
                            self.state = next;
                        }
                        Err(refusal) => {
                            self.head.clear();
                            out.extend_from_slice(REFUSAL);
                            self.state = State::End;
                            return Some(refusal);
                        }
                    }
                }
            }
        }
        None
    }

    /// The client closed its side: a head held so far goes to hyper as it
    /// is (hyper sees what it would have seen without the scanner).
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state == State::Head {
            out.append(&mut self.head);
            self.state = State::Pass;
        }
    }

    /// The framing of the complete head in `self.head`: the state after it,
    /// or why it is refused. A head httparse does not parse goes to hyper
    /// unscanned: hyper parses it with the same parser and configuration
    /// and refuses it too (400, 431, or the HTTP/2 preface on a plaintext
    /// connection, which hyper serves as HTTP/2).
    fn decide(&self) -> Result<State, Refusal> {
        // Uninitialized slots: zeroing `max_headers` of them per request
        // cost more than the parse.
        let mut headers = Vec::with_capacity(self.max_headers);
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(&self.head, headers.spare_capacity_mut()) {
            Ok(httparse::Status::Complete(_)) => framing(req.version, req.headers),
            _ => Ok(State::Pass),
        }
    }
}

/// The body framing a parsed head declares, refusing every form two
/// parsers could frame differently (nginx's and Envoy's rules): one
/// `Transfer-Encoding` line of exactly `chunked` (any case) on HTTP/1.1, or
/// one `Content-Length` line of decimal digits, never both.
fn framing(version: Option<u8>, headers: &[httparse::Header<'_>]) -> Result<State, Refusal> {
    let (mut te, mut te_lines, mut cl, mut cl_lines) = (None, 0, None, 0);
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_lines += 1;
            te = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            cl_lines += 1;
            cl = Some(h.value);
        }
    }
    if te_lines > 0 && cl_lines > 0 {
        return Err(Refusal::LengthAndChunked);
    }
    if te_lines > 1 {
        return Err(Refusal::RepeatedTransferEncoding);
    }
    if let Some(v) = te {
        if version != Some(1) || !v.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(Refusal::TransferEncoding);
        }
        return Ok(State::Chunked(Chunk::Start));
    }
    if cl_lines > 1 {
        return Err(Refusal::RepeatedContentLength);
    }
    match cl.map(decimal) {
        None | Some(Some(0)) => Ok(State::Head),
        Some(Some(n)) => Ok(State::Length(n)),
        Some(None) => Err(Refusal::ContentLength),
    }
}

/// A `Content-Length` value: one or more ASCII digits, no sign, no
/// whitespace inside, within u64 (as hyper reads it).
fn decimal(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Where the head in `buf` ends (the index after its blank line), looking
/// at bytes from `from` on (earlier ones were searched before). Lines end
/// in LF with an optional CR before it, as httparse reads them; empty lines
/// before the request line are skipped, as httparse does.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let mut i = from.saturating_sub(2).max(start);
    while let Some(p) = memchr::memchr(b'\n', &buf[i..]) {
        let lf = i + p;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => return Some(lf + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
            (None, _) | (Some(b'\r'), None) => return None,
            _ => {}
        }
        i = lf + 1;
    }
    None
}

/// One step of chunked framing on byte `b`, as hyper's decoder takes it:
/// the next state, `Some(None)` when the body ended, `None` when hyper's
/// decoder refuses the byte. `Data` is consumed in bulk by the caller.
fn chunk_step(c: Chunk, b: u8) -> Option<Option<Chunk>> {
    use Chunk::*;
    let next = match (c, b) {
        (Start, _) => Size(hex(b)?),
        (Size(n), _) if hex(b).is_some() => Size(n.checked_mul(16)?.checked_add(hex(b)?)?),
        (Size(n) | SizeLws(n), b'\t' | b' ') => SizeLws(n),
        (Size(n) | SizeLws(n), b';') => Extension(n),
        (Size(n) | SizeLws(n) | Extension(n), b'\r') => SizeLf(n),
        (Extension(_), b'\n') => return None,
        (Extension(n), _) => Extension(n),
        (SizeLf(0), b'\n') => EndCr,
        (SizeLf(n), b'\n') => Data(n),
        (DataCr, b'\r') => DataLf,
        (DataLf, b'\n') => Start,
        (EndCr, b'\r') => EndLf,
        (Trailer, b'\r') => TrailerLf,
        (EndCr | Trailer, _) => Trailer,
        (TrailerLf, b'\n') => EndCr,
        (EndLf, b'\n') => return Some(None),
        _ => return None,
    };
    Some(Some(next))
}

fn hex(b: u8) -> Option<u64> {
    char::from(b).to_digit(16).map(u64::from)
}

/// A connection's read side with [`Scanner`] in front of hyper; writes go
/// straight through.
pub(crate) struct Framed<IO> {
    io: IO,
    scanner: Scanner,
    /// Scanned bytes hyper has not read yet, from `pos` on.
    ready: Vec<u8>,
    pos: usize,
    /// The client closed its side.
    eof: bool,
    metrics: Arc<Metrics>,
}

impl<IO> Framed<IO> {
    /// Wraps `io`; heads up to `max_head` bytes and `max_headers` lines are
    /// scanned (hyper's own bounds), refusals counted in `metrics`.
    pub(crate) fn new(
        io: IO,
        max_head: usize,
        max_headers: usize,
        metrics: Arc<Metrics>,
    ) -> Framed<IO> {
        Framed {
            io,
            scanner: Scanner::new(max_head, max_headers),
            ready: Vec::new(),
            pos: 0,
            eof: false,
            metrics,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Framed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.pos);
                buf.put_slice(&this.ready[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.ready.len() {
                    this.ready.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof || this.scanner.ended() || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            // Body bytes that need no scanning go straight to hyper's buffer.
            if let Some(left) = this.scanner.unscanned() {
                let want = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(buf.remaining());
                let mut part = ReadBuf::new(buf.initialize_unfilled_to(want));
                ready!(Pin::new(&mut this.io).poll_read(cx, &mut part))?;
                let got = part.filled().len();
                buf.advance(got);
                this.scanner.skipped(got as u64);
                return Poll::Ready(Ok(()));
            }
            let read = SCRATCH.with_borrow_mut(|scratch| {
                // Never initialized: `spare_capacity_mut` is the whole
                // buffer, and only the bytes read are looked at.
                let mut part = ReadBuf::uninit(scratch.spare_capacity_mut());
                let polled = Pin::new(&mut this.io).poll_read(cx, &mut part);
                polled.map_ok(|()| {
                    if part.filled().is_empty() {
                        None
                    } else {
                        Some(this.scanner.feed(part.filled(), &mut this.ready))
                    }
                })
            });
            let Some(refused) = ready!(read)? else {
                this.eof = true;
                this.scanner.finish(&mut this.ready);
                continue;
            };
            if let Some(refusal) = refused {
                tracing::info!(
                    reason = refusal.reason(),
                    "request framing refused; answering 400"
                );
                this.metrics.request("none", "ambiguous_framing");
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Framed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
