//! Request bodies: reading one whole under the route's cap and the body
//! deadlines, the lingering close of what an early answer left unread, and
//! the strict JSON check of a body declared JSON.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt as _;
use tokio::time::Instant;

/// Bounds of the lingering close (`server.linger_timeout_ms`,
/// `server.linger_max_bytes`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linger {
    /// Longest time the rest of a body is read and discarded.
    pub(crate) time: Duration,
    /// Most bytes read and discarded.
    pub(crate) bytes: u64,
}

/// The bounds [`read`] enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most body bytes (the route's `max_body_bytes`).
    pub(crate) cap: usize,
    /// Longest time for the whole body.
    pub(crate) total: Duration,
    /// Longest time between two chunks.
    pub(crate) idle: Duration,
}

/// Why a body could not be read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Error {
    /// Declared or sent longer than the route's cap.
    #[error("body over the route's max_body_bytes")]
    TooLarge,
    /// Not complete within the body deadline, or a pause between chunks
    /// was longer than the idle timeout.
    #[error("body not received in time")]
    Timeout,
    /// The connection broke off, or its framing failed, mid-body.
    #[error("body broken off")]
    Broken,
}

/// A request body and how far the flow got with it.
pub(crate) struct Inbound<B> {
    body: B,
    /// The flow asked for body data at least once (for a client that sent
    /// `Expect: 100-continue`, only then did hyper invite the body).
    polled: bool,
    /// Read to its end.
    done: bool,
}

impl<B> Inbound<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin + Send + 'static,
{
    /// A body nothing was read from yet.
    pub(crate) fn new(body: B) -> Self {
        Inbound {
            body,
            polled: false,
            done: false,
        }
    }

    /// After an answer to a request with `headers`: whether the HTTP/1
    /// connection must close (the body was not read to its end), in which
    /// case the rest of the body is drained within `bounds` if the client
    /// was invited to send it (see [`linger`]).
    pub(crate) fn finish(self, headers: &HeaderMap, bounds: Linger) -> bool {
        let unread = !self.done && !hyper::body::Body::is_end_stream(&self.body);
        if !unread {
            return false;
        }
        if self.polled || !expects_continue(headers) {
            linger(self.body, bounds);
        }
        true
    }
}

/// The request asked to be invited before sending its body.
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Lingering close (as nginx's `lingering_close`): reads and discards the
/// rest of an HTTP/1 body the answer did not need, for at most
/// `bounds.time` and `bounds.bytes`, in a task of its own, so the answer is
/// written at once. hyper keeps the connection open while the body is
/// wanted and closes it (the answer says `Connection: close`) once the body
/// ended: the sender, which may upload everything before it reads, finds
/// the status instead of a reset caused by closing a socket with unread
/// data. Past a bound the body is dropped and the connection closes (a
/// reset then is the sender's own doing).
fn linger<B>(mut body: B, bounds: Linger)
where
    B: hyper::body::Body<Data = Bytes> + Unpin + Send + 'static,
{
    if bounds.time.is_zero() || bounds.bytes == 0 {
        return;
    }
    tokio::spawn(async move {
        let until = Instant::now() + bounds.time;
        let mut left = bounds.bytes;
        loop {
            match tokio::time::timeout_at(until, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                    if n >= left {
                        tracing::debug!("lingering close: byte bound reached");
                        return;
                    }
                    left -= n;
                }
                Ok(Some(Err(_)) | None) => return,
                Err(_) => {
                    tracing::debug!("lingering close: time bound reached");
                    return;
                }
            }
        }
    });
}

/// Reads the whole body under the route's cap, the idle timeout between
/// chunks and the total body deadline. A body that came in one data frame is
/// returned as it came, without a copy.
///
/// # Errors
/// [`Error`] naming the bound that stopped it, or [`Error::Broken`].
pub(crate) async fn read<B>(
    limits: Limits,
    headers: &HeaderMap,
    inbound: &mut Inbound<B>,
) -> Result<Bytes, Error>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    // Refuse early on a declared length over the cap.
    if let Some(len) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limits.cap as u64 {
            return Err(Error::TooLarge);
        }
    }
    let deadline = Instant::now() + limits.total;
    // The first data frame is kept as it came (no copy: a small body is
    // usually one frame); a second one starts the copy into `buf`.
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let body = &mut inbound.body;
    loop {
        let idle = Instant::now() + limits.idle;
        inbound.polled = true;
        let frame = match tokio::time::timeout_at(deadline.min(idle), body.frame()).await {
            Err(_) => return Err(Error::Timeout),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Error::Broken),
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            let held = first.as_ref().map_or(0, Bytes::len) + buf.len();
            if held + data.len() > limits.cap {
                return Err(Error::TooLarge);
            }
            if data.is_empty() {
                continue;
            }
            if first.is_none() && buf.is_empty() {
                first = Some(data);
                continue;
            }
            if let Some(earlier) = first.take() {
                buf.extend_from_slice(&earlier);
            }
            buf.extend_from_slice(&data);
        }
    }
    inbound.done = true;
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// UTF-8, well-formed JSON (serde_json, recursion limit 128) with no
/// duplicate object key at any depth (consumers' parsers disagree on which
/// duplicate wins).
///
/// One pass: outside strings JSON's grammar (RFC 8259) admits ASCII only,
/// and serde_json checks every string it hands the visitor (keys and values
/// alike) for UTF-8, so a body it parses to the end is UTF-8 as a whole
/// (test `the_json_check_refuses_what_is_not_utf8_wherever_it_is`).
pub(crate) fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<StrictJson>(body).is_ok()
}

/// Deserializes any JSON value, failing on a duplicate object key.
struct StrictJson;

impl<'de> serde::Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = StrictJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_i64<E>(self, _: i64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_u64<E>(self, _: u64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_f64<E>(self, _: f64) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_str<E>(self, _: &str) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_unit<E>(self) -> Result<StrictJson, E> {
        Ok(StrictJson)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<StrictJson, A::Error> {
        while seq.next_element::<StrictJson>()?.is_some() {}
        Ok(StrictJson)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<StrictJson, A::Error> {
        let mut keys = Keys::new();
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if !keys.insert(k) {
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value::<StrictJson>()?;
        }
        Ok(StrictJson)
    }
}

/// How many keys an object's duplicate check compares one by one, on the
/// stack, before it moves them to a hash set (most webhook objects have
/// fewer: no allocation, no hashing).
const FEW_KEYS: usize = 12;

/// The keys of one object seen so far: the first [`FEW_KEYS`] on the
/// stack, compared one by one; all of them in a hash set past that.
struct Keys<'de> {
    few: [Option<std::borrow::Cow<'de, str>>; FEW_KEYS],
    n: usize,
    many: Option<std::collections::HashSet<std::borrow::Cow<'de, str>>>,
}

impl<'de> Keys<'de> {
    fn new() -> Self {
        Keys {
            few: Default::default(),
            n: 0,
            many: None,
        }
    }

    /// Adds `k`; false when it was there.
    fn insert(&mut self, k: std::borrow::Cow<'de, str>) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(k);
        }
        if self.few[..self.n]
            .iter()
            .any(|seen| seen.as_ref() == Some(&k))
        {
            return false;
        }
        if self.n < FEW_KEYS {
            self.few[self.n] = Some(k);
            self.n += 1;
        } else {
            let mut many: std::collections::HashSet<_> =
                self.few.iter_mut().filter_map(Option::take).collect();
            many.insert(k);
            self.many = Some(many);
        }
        true
    }
}

/// An object key, borrowed from the body unless it had escapes (serde's own
/// `Cow<str>` always allocates).
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> serde::de::Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(std::borrow::Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(std::borrow::Cow::Owned(v)))
    }
}

#[cfg(test)]
mod tests;
