//! Distinguished names, compared attribute by attribute.
//!
//! A route's `client_cert.subjects` are RFC 4514 strings
//! (`CN=proxy.salesforce.com,O=salesforce.com\, inc.,C=US`); a certificate's
//! subject is DER. Both become a [`Dn`]: RDNs in the order written, each a
//! set of (attribute type as a dotted OID, value). Printing the certificate's
//! subject and splitting it on commas cannot work: values hold commas, and
//! the printer neither escapes them nor writes RFC 4514's order.
//!
//! Parsing follows RFC 4514 section 3: `\` escapes one of `,+"\<>;=#` or a
//! space, or gives a byte as two hex digits (UTF-8 sequences as several);
//! `+` joins the attributes of a multi-valued RDN; `#` starts a hex-encoded
//! DER value. Attribute types are short names, case-insensitive, or dotted
//! OIDs. Beyond the RFC, spaces around `,`, `+` and `=` are allowed (people
//! write `CN=a, O=b`); spaces that end a value are dropped unless escaped.
//! An unescaped `"`, `;`, `<`, `>` or NUL is an error, not a separator.
//!
//! Values compare exactly (case and spaces matter): stricter than X.520's
//! caseIgnoreMatch, never looser.

use x509_parser::asn1_rs::{Any, Class, FromDer as _, Tag};
use x509_parser::x509::X509Name;

/// Short attribute names accepted in rules (compared case-insensitively),
/// with their OIDs: RFC 4514 section 3's table plus `emailAddress` and
/// `serialNumber`.
const SHORT_NAMES: [(&str, &str); 10] = [
    ("CN", "2.5.4.3"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("STREET", "2.5.4.9"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("emailAddress", "1.2.840.113549.1.9.1"),
];

/// `serialNumber` (the subject attribute, not the certificate's serial).
const SERIAL_NUMBER: (&str, &str) = ("serialNumber", "2.5.4.5");

/// The OID of `commonName`.
const CN_OID: &str = "2.5.4.3";

/// A distinguished name: RDNs in the order written (certificate order for a
/// certificate's subject), each RDN's attributes sorted so that the order
/// inside a multi-valued RDN does not matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dn(Vec<Vec<Attribute>>);

/// One attribute of an RDN.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Attribute {
    /// The type as a dotted OID.
    oid: String,
    value: Value,
}

/// An attribute value. Values of the string types a certificate uses for
/// names (UTF8String, PrintableString, IA5String, NumericString) compare as
/// text, whichever of them was used; others by their DER element.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Text(String),
    Der {
        class: u8,
        constructed: bool,
        tag: u32,
        content: Vec<u8>,
    },
}

/// Why a rule is not an RFC 4514 distinguished name. Positions are byte
/// offsets into the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Nothing but spaces.
    #[error("empty distinguished name")]
    Empty,
    /// No attribute type where one must start.
    #[error("at byte {0}: expected an attribute type (CN, O, OU, L, ST, C, DC, UID, emailAddress, ... or a dotted OID); a comma inside a value is written \\,")]
    Type(usize),
    /// A name that is not in the table.
    #[error("at byte {0}: unknown attribute type {1:?} (write its dotted OID)")]
    UnknownType(usize, String),
    /// A dotted OID with an empty arc or a leading zero.
    #[error("at byte {0}: {1:?} is not a dotted OID")]
    Oid(usize, String),
    /// The type is not followed by `=`.
    #[error("at byte {0}: expected = after the attribute type")]
    Equals(usize),
    /// A character that must be escaped.
    #[error("at byte {0}: {1:?} must be escaped with a backslash")]
    Unescaped(usize, char),
    /// A backslash not followed by a special character or two hex digits.
    #[error(
        "at byte {0}: a backslash escapes one of ,+\"\\<>;=# or a space, or gives two hex digits"
    )]
    Escape(usize),
    /// Hex escapes that do not form UTF-8 text.
    #[error("the value ending at byte {0} is not UTF-8 once unescaped")]
    Utf8(usize),
    /// An empty value (`CN=`).
    #[error("at byte {0}: empty value")]
    EmptyValue(usize),
    /// A `#` value that is not hex digits forming one DER element.
    #[error("at byte {0}: a # value is the hex of one DER element")]
    Hex(usize),
}

impl Dn {
    /// Parses RFC 4514 text.
    ///
    /// # Errors
    /// `Error` with the byte offset of the first problem.
    pub fn parse(text: &str) -> Result<Dn, Error> {
        let b = text.as_bytes();
        let mut i = skip_spaces(b, 0);
        if i == b.len() {
            return Err(Error::Empty);
        }
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        loop {
            let (oid, next) = attribute_type(b, i)?;
            i = skip_spaces(b, next);
            if b.get(i) != Some(&b'=') {
                return Err(Error::Equals(i));
            }
            i = skip_spaces(b, i + 1);
            let (value, next) = attribute_value(b, i)?;
            rdn.push(Attribute { oid, value });
            i = next;
            match b.get(i) {
                None => break,
                Some(b'+') => {}
                Some(b',') => {
                    rdn.sort();
                    rdns.push(std::mem::take(&mut rdn));
                }
                Some(&c) => return Err(Error::Unescaped(i, char::from(c))),
            }
            i = skip_spaces(b, i + 1);
        }
        rdn.sort();
        rdns.push(rdn);
        Ok(Dn(rdns))
    }

    /// A certificate's subject (or issuer), in certificate order.
    pub(crate) fn from_x509(name: &X509Name<'_>) -> Dn {
        let rdns = name
            .iter()
            .map(|rdn| {
                let mut attrs: Vec<Attribute> = rdn
                    .iter()
                    .map(|atv| Attribute {
                        oid: atv.attr_type().to_id_string(),
                        value: Value::from_any(atv.attr_value()),
                    })
                    .collect();
                attrs.sort();
                attrs
            })
            .collect();
        Dn(rdns)
    }

    /// Whether `subject` is this name, RDN by RDN, read in the order written
    /// or reversed (RFC 4514 writes the last RDN of the certificate first;
    /// people write both).
    pub(crate) fn matches(&self, subject: &Dn) -> bool {
        !self.0.is_empty() && (self.0 == subject.0 || self.0.iter().rev().eq(subject.0.iter()))
    }

    /// The common name when this name is exactly one `CN=...` attribute: a
    /// rule on the common name alone.
    pub(crate) fn common_name_only(&self) -> Option<&str> {
        match self.0.as_slice() {
            [rdn] => match rdn.as_slice() {
                [Attribute {
                    oid,
                    value: Value::Text(cn),
                }] if oid == CN_OID => Some(cn),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Value {
    fn from_any(any: &Any<'_>) -> Value {
        let text = [
            Tag::Utf8String,
            Tag::PrintableString,
            Tag::Ia5String,
            Tag::NumericString,
        ];
        if any.class() == Class::Universal && text.contains(&any.tag()) {
            if let Ok(s) = std::str::from_utf8(any.data) {
                return Value::Text(s.to_owned());
            }
        }
        Value::Der {
            class: any.class() as u8,
            constructed: any.header.is_constructed(),
            tag: any.tag().0,
            content: any.data.to_vec(),
        }
    }
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// A short name or dotted OID starting at `i`; returns the OID and the
/// offset after it.
fn attribute_type(b: &[u8], i: usize) -> Result<(String, usize), Error> {
    let end = i + b
        .get(i..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b'.')
        .count();
    let word = std::str::from_utf8(&b[i..end]).map_err(|_| Error::Type(i))?;
    let Some(first) = word.bytes().next() else {
        return Err(Error::Type(i));
    };
    if first.is_ascii_digit() {
        let arcs: Vec<&str> = word.split('.').collect();
        let arc_ok = |a: &&str| {
            !a.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && (a.len() == 1 || !a.starts_with('0'))
        };
        if arcs.len() < 2 || !arcs.iter().all(arc_ok) {
            return Err(Error::Oid(i, word.to_owned()));
        }
        return Ok((word.to_owned(), end));
    }
    if !first.is_ascii_alphabetic() || word.contains('.') {
        return Err(Error::Type(i));
    }
    SHORT_NAMES
        .iter()
        .chain(std::iter::once(&SERIAL_NUMBER))
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|(_, oid)| ((*oid).to_owned(), end))
        .ok_or_else(|| Error::UnknownType(i, word.to_owned()))
}

/// A value starting at `i` (spaces before it skipped); returns it and the
/// offset of the `,`, `+` or end after it.
fn attribute_value(b: &[u8], i: usize) -> Result<(Value, usize), Error> {
    if b.get(i) == Some(&b'#') {
        return hex_value(b, i);
    }
    let mut out = Vec::new();
    // Length of `out` up to its last byte that is not an unescaped space.
    let mut kept = 0;
    let mut j = i;
    while let Some(&c) = b.get(j) {
        match c {
            b',' | b'+' => break,
            b'\\' => {
                let hex = |k: usize| b.get(k).and_then(|d| char::from(*d).to_digit(16));
                match (b.get(j + 1), hex(j + 1), hex(j + 2)) {
                    (_, Some(hi), Some(lo)) => {
                        // Two hex digits make one byte (< 256 by construction).
                        out.push(u8::try_from(hi * 16 + lo).map_err(|_| Error::Escape(j))?);
                        j += 3;
                    }
                    (Some(&e), _, _) if b" \"#+,;<=>\\".contains(&e) => {
                        out.push(e);
                        j += 2;
                    }
                    _ => return Err(Error::Escape(j)),
                }
                kept = out.len();
            }
            b'"' | b';' | b'<' | b'>' | 0 => return Err(Error::Unescaped(j, char::from(c))),
            b' ' => {
                out.push(c);
                j += 1;
            }
            _ => {
                out.push(c);
                j += 1;
                kept = out.len();
            }
        }
    }
    out.truncate(kept);
    if out.is_empty() {
        return Err(Error::EmptyValue(i));
    }
    let text = String::from_utf8(out).map_err(|_| Error::Utf8(j))?;
    Ok((Value::Text(text), j))
}

/// `#` followed by the hex of one DER element, then optional spaces.
fn hex_value(b: &[u8], i: usize) -> Result<(Value, usize), Error> {
    let start = i + 1;
    let digits = b
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| c.is_ascii_hexdigit())
        .count();
    let end = skip_spaces(b, start + digits);
    if digits == 0 || digits % 2 == 1 || !matches!(b.get(end), None | Some(b',' | b'+')) {
        return Err(Error::Hex(i));
    }
    let bytes = hex::decode(&b[start..start + digits]).map_err(|_| Error::Hex(i))?;
    match Any::from_der(&bytes) {
        Ok(([], any)) => Ok((Value::from_any(&any), end)),
        _ => Err(Error::Hex(i)),
    }
}

#[cfg(test)]
mod tests;
