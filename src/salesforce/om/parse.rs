//! Streaming parser for the Outbound Message SOAP request.
//!
//! Reads with quick-xml's namespace-aware reader, one event at a time, under
//! [`Limits`]. Refuses what a SOAP toolkit would never send and an attacker
//! would: any DOCTYPE (so no entity declarations, external DTDs or entity
//! expansion), processing instructions other than the XML declaration, entity
//! references other than the five predefined ones and character references,
//! invalid UTF-8, SOAP 1.2, and elements in unexpected namespaces.
//!
//! Shape: `../shared/docs/SALESFORCE.md` section 1 and `wsdl/account_outbound.wsdl`.

mod notification;

use std::borrow::Cow;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;

use self::notification::parse_notifications;
use super::model::OutboundMessage;
use super::{OUTBOUND_NS, SOAP11_NS, SOAP12_NS, SOBJECT_NS, XSI_NS};

/// Bounds on the document; past any of them parsing stops with [`Error::Limit`].
/// The defaults accept what Salesforce sends for wide objects: 100
/// Notifications of 150 fields and a 131,072-character Long Text Area value
/// (`../shared/docs/SALESFORCE.md` §1); a route changes them with
/// `routes[].parse_limits`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Element nesting depth (the real message is 6 deep).
    pub(crate) max_depth: usize,
    /// Elements in the document.
    pub(crate) max_elements: usize,
    /// Attributes (namespace declarations included) on one element.
    pub(crate) max_attributes: usize,
    /// Bytes of one text value or attribute value.
    pub(crate) max_text_bytes: usize,
    /// Notifications in one message (Salesforce sends at most 100).
    pub(crate) max_notifications: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 32,
            max_elements: 32_768,
            max_attributes: 32,
            // 131,072 characters of up to 4 UTF-8 bytes each, decoded.
            max_text_bytes: 131_072 * 4,
            max_notifications: 100,
        }
    }
}

/// Why a request is not an acceptable Outbound Message. Every variant is the
/// sender's fault (`soapenv:Client`); the `Display` texts are fixed and never
/// quote the input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not well-formed XML (truncated, mismatched tags, bad syntax).
    #[error("malformed XML")]
    Xml(#[source] quick_xml::Error),
    /// A DOCTYPE (and with it any entity declaration or external DTD).
    #[error("DOCTYPE is not allowed")]
    DocType,
    /// A processing instruction other than the XML declaration.
    #[error("processing instructions are not allowed")]
    ProcessingInstruction,
    /// An entity reference other than `&lt; &gt; &amp; &apos; &quot;` or a
    /// character reference.
    #[error("entity references are not allowed")]
    Entity,
    /// Text that is not UTF-8.
    #[error("invalid UTF-8")]
    Encoding,
    /// One of the [`Limits`] was exceeded; names which.
    #[error("{0} limit exceeded")]
    Limit(&'static str),
    /// The envelope is SOAP 1.2 or not SOAP at all.
    #[error("not a SOAP 1.1 envelope")]
    NotSoap11,
    /// An element in the wrong place or namespace; names the parent.
    #[error("unexpected content in {0}")]
    Unexpected(&'static str),
    /// A required element is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A value has the wrong form (id length, characters).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// `notifications` holds no `Notification`.
    #[error("no Notification")]
    NoNotifications,
    /// More Notifications than allowed.
    #[error("more than {0} Notifications")]
    TooManyNotifications(usize),
}

/// Parses an Outbound Message request body.
///
/// # Errors
/// [`Error`] for anything but a well-formed SOAP 1.1 `notifications` request
/// within `limits`.
pub fn parse(body: &[u8], limits: Limits) -> Result<OutboundMessage, Error> {
    let mut r = Reader::new(body, limits);
    let root = r.next_start_at_top()?;
    if root.ns != Ns::Soap11 || root.local != "Envelope" {
        return Err(Error::NotSoap11);
    }
    let mut message = None;
    loop {
        match r.next()? {
            Ev::Start(e) if e.ns == Ns::Soap11 && e.local == "Header" => r.skip()?,
            Ev::Start(e) if e.ns == Ns::Soap11 && e.local == "Body" && message.is_none() => {
                message = Some(parse_body(&mut r)?);
            }
            Ev::Start(_) => return Err(Error::Unexpected("Envelope")),
            Ev::Text(t) if is_blank(&t) => {}
            Ev::Text(_) => return Err(Error::Unexpected("Envelope")),
            Ev::End => break,
            Ev::Eof => return Err(Error::Xml(truncated())),
        }
    }
    // Nothing but white space and comments may follow the root.
    loop {
        match r.next()? {
            Ev::Eof => break,
            Ev::Text(t) if is_blank(&t) => {}
            _ => return Err(Error::Unexpected("document")),
        }
    }
    message.ok_or(Error::Missing("Body"))
}

fn parse_body(r: &mut Reader<'_>) -> Result<OutboundMessage, Error> {
    let mut message = None;
    loop {
        match r.next()? {
            Ev::Start(e)
                if e.ns == Ns::Outbound && e.local == "notifications" && message.is_none() =>
            {
                message = Some(parse_notifications(r)?);
            }
            Ev::Start(_) => return Err(Error::Unexpected("Body")),
            Ev::Text(t) if is_blank(&t) => {}
            Ev::Text(_) => return Err(Error::Unexpected("Body")),
            Ev::End => break,
            Ev::Eof => return Err(Error::Xml(truncated())),
        }
    }
    message.ok_or(Error::Missing("notifications"))
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_whitespace())
}

fn truncated() -> quick_xml::Error {
    quick_xml::Error::Syntax(quick_xml::errors::SyntaxError::UnclosedTag)
}

// === impl Reader ===

/// The namespaces the parser distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Soap11,
    Soap12,
    Outbound,
    SObject,
    Xsi,
    Other,
}

impl Ns {
    fn of(r: &ResolveResult<'_>) -> Ns {
        match r {
            ResolveResult::Bound(ns) => match ns.as_ref() {
                n if n == SOAP11_NS.as_bytes() => Ns::Soap11,
                n if n == SOAP12_NS.as_bytes() => Ns::Soap12,
                n if n == OUTBOUND_NS.as_bytes() => Ns::Outbound,
                n if n == SOBJECT_NS.as_bytes() => Ns::SObject,
                n if n == XSI_NS.as_bytes() => Ns::Xsi,
                _ => Ns::Other,
            },
            _ => Ns::Other,
        }
    }
}

struct Elem {
    ns: Ns,
    local: String,
    nil: bool,
    xsi_type: Option<(Ns, String)>,
}

/// One event; text borrows from the body unless it had to be decoded (white
/// space between elements costs no allocation).
enum Ev<'a> {
    Start(Elem),
    End,
    Text(Cow<'a, str>),
    Eof,
}

/// quick-xml's reader with the bounds and refusals applied, producing a
/// simplified event stream (text pieces and references already decoded).
struct Reader<'a> {
    inner: NsReader<&'a [u8]>,
    limits: Limits,
    depth: usize,
    elements: usize,
    seen_root: bool,
    /// No event read yet (the XML declaration may only come first).
    first_event: bool,
}

impl<'a> Reader<'a> {
    fn new(body: &'a [u8], limits: Limits) -> Self {
        let mut inner = NsReader::from_reader(body);
        let config = inner.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.allow_unmatched_ends = false;
        config.check_comments = true;
        Reader {
            inner,
            limits,
            depth: 0,
            elements: 0,
            seen_root: false,
            first_event: true,
        }
    }

    /// The root element, skipping the XML declaration, comments and white space.
    fn next_start_at_top(&mut self) -> Result<Elem, Error> {
        loop {
            match self.next()? {
                Ev::Start(e) => return Ok(e),
                Ev::Text(t) if is_blank(&t) => {}
                Ev::Eof => return Err(Error::Missing("Envelope")),
                _ => return Err(Error::NotSoap11),
            }
        }
    }

    fn next(&mut self) -> Result<Ev<'a>, Error> {
        loop {
            let (res, event) = self.inner.read_resolved_event().map_err(Error::Xml)?;
            let first = std::mem::replace(&mut self.first_event, false);
            let ns = Ns::of(&res);
            match event {
                Event::Start(start) => return self.start(ns, &start).map(Ev::Start),
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(Ev::End);
                }
                Event::Empty(_) => {
                    // expand_empty_elements is on: never produced.
                    return Err(Error::Unexpected("document"));
                }
                Event::Text(t) => {
                    if t.len() > self.limits.max_text_bytes {
                        return Err(Error::Limit("text"));
                    }
                    return Ok(Ev::Text(t.decode().map_err(|_| Error::Encoding)?));
                }
                Event::CData(t) => {
                    if t.len() > self.limits.max_text_bytes {
                        return Err(Error::Limit("text"));
                    }
                    return Ok(Ev::Text(t.decode().map_err(|_| Error::Encoding)?));
                }
                Event::GeneralRef(r) => {
                    return Ok(Ev::Text(Cow::Owned(reference(&r)?.to_string())));
                }
                Event::Comment(_) => {}
                Event::Decl(_) => {
                    // Only as the very first thing in the document.
                    if !first {
                        return Err(Error::ProcessingInstruction);
                    }
                }
                Event::PI(_) => return Err(Error::ProcessingInstruction),
                Event::DocType(_) => return Err(Error::DocType),
                Event::Eof => {
                    if self.depth > 0 {
                        return Err(Error::Xml(truncated()));
                    }
                    return Ok(Ev::Eof);
                }
            }
        }
    }

    /// Counts the element whose start was just read against the limits
    /// and reads its name and the `xsi:` attributes the parser needs.
    fn start(&mut self, ns: Ns, start: &BytesStart<'_>) -> Result<Elem, Error> {
        self.enter()?;
        let local = std::str::from_utf8(start.local_name().as_ref())
            .map_err(|_| Error::Encoding)?
            .to_owned();
        let (nil, xsi_type) = self.xsi_attributes(start)?;
        Ok(Elem {
            ns,
            local,
            nil,
            xsi_type,
        })
    }

    /// One level down: refuses a second root element, and a document past
    /// `max_depth` or `max_elements`, before anything of the element is read.
    fn enter(&mut self) -> Result<(), Error> {
        if self.depth == 0 && self.seen_root {
            return Err(Error::Unexpected("document"));
        }
        self.seen_root = true;
        self.depth += 1;
        self.elements += 1;
        if self.depth > self.limits.max_depth {
            return Err(Error::Limit("depth"));
        }
        if self.elements > self.limits.max_elements {
            return Err(Error::Limit("elements"));
        }
        Ok(())
    }

    /// `xsi:nil` and `xsi:type` (resolved to its namespace and local name)
    /// of an element; every attribute counts against `max_attributes` and
    /// `max_text_bytes`, the others are not decoded.
    fn xsi_attributes(
        &self,
        start: &BytesStart<'_>,
    ) -> Result<(bool, Option<(Ns, String)>), Error> {
        let mut nil = false;
        let mut xsi_type = None;
        for (n, attr) in start.attributes().enumerate() {
            if n >= self.limits.max_attributes {
                return Err(Error::Limit("attributes"));
            }
            let attr = attr.map_err(|e| Error::Xml(e.into()))?;
            if attr.value.len() > self.limits.max_text_bytes {
                return Err(Error::Limit("attribute value"));
            }
            let (attr_ns, attr_local) = self.inner.resolve_attribute(attr.key);
            if Ns::of(&attr_ns) != Ns::Xsi {
                continue;
            }
            let value = attr
                .decode_and_unescape_value(self.inner.decoder())
                .map_err(|_| Error::Entity)?;
            match attr_local.as_ref() {
                b"nil" => nil = value.trim() == "true" || value.trim() == "1",
                b"type" => {
                    let qname = QName(value.trim().as_bytes());
                    let (type_ns, type_local) = self.inner.resolve_element(qname);
                    let type_local = std::str::from_utf8(type_local.as_ref())
                        .map_err(|_| Error::Encoding)?
                        .to_owned();
                    xsi_type = Some((Ns::of(&type_ns), type_local));
                }
                _ => {}
            }
        }
        Ok((nil, xsi_type))
    }

    /// The text of a leaf element whose start was just read; `None` when
    /// `nil`. Child elements are refused.
    fn leaf(&mut self, nil: bool) -> Result<Option<String>, Error> {
        let mut text = String::new();
        loop {
            match self.next()? {
                Ev::Text(t) => {
                    if text.len() + t.len() > self.limits.max_text_bytes {
                        return Err(Error::Limit("text"));
                    }
                    if text.is_empty() {
                        text = t.into_owned();
                    } else {
                        text.push_str(&t);
                    }
                }
                Ev::End => break,
                Ev::Start(_) => return Err(Error::Unexpected("field")),
                Ev::Eof => return Err(Error::Xml(truncated())),
            }
        }
        Ok(if nil { None } else { Some(text) })
    }

    /// Skips the rest of the element whose start was just read.
    fn skip(&mut self) -> Result<(), Error> {
        let mut open = 1usize;
        while open > 0 {
            match self.next()? {
                Ev::Start(_) => open += 1,
                Ev::End => open -= 1,
                Ev::Text(_) => {}
                Ev::Eof => return Err(Error::Xml(truncated())),
            }
        }
        Ok(())
    }
}

/// The character of a reference: a character reference, or one of the
/// five predefined entities; any other entity is refused (no DTD may
/// declare one).
fn reference(r: &BytesRef<'_>) -> Result<char, Error> {
    let c = if r.is_char_ref() {
        r.resolve_char_ref().map_err(|_| Error::Entity)?
    } else {
        let name: &[u8] = r;
        match name {
            b"lt" => Some('<'),
            b"gt" => Some('>'),
            b"amp" => Some('&'),
            b"apos" => Some('\''),
            b"quot" => Some('"'),
            _ => None,
        }
    };
    c.ok_or(Error::Entity)
}

#[cfg(test)]
mod tests;
