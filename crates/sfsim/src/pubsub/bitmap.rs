//! Change event header field bitmaps as Pub/Sub API sends them \[DESER\]
//! (SALESFORCE.md section 9, "Bitmaps"): `changedFields`, `nulledFields`
//! and `diffFields` are string arrays. An element `0xHEX` is a number over
//! the event schema's top-level fields, bit i (from the least significant
//! bit) = `schema.fields[i]`; an element `p-0xHEX` covers the fields of the
//! compound field at top-level position p. Widths above 64 bits are plain
//! longer hex numbers.

use std::collections::BTreeMap;

use super::avro::EventSchema;
use super::Error;

/// Encodes field names (`Field`, `Compound.Child`, or a compound's own name
/// for all its children) as bitmap elements: the top-level `0x...` element
/// first (left out when no top-level bit is set), then `p-0x...` elements by
/// ascending p. Naming a compound field sets every nested bit of its
/// `p-0x` element (a decoder reports the parent then \[DESER\]), not its
/// top-level bit.
///
/// # Errors
/// A name that is not a field of the schema.
pub(super) fn encode(schema: &EventSchema, names: &[String]) -> Result<Vec<String>, Error> {
    let mut top = Vec::new();
    let mut nested: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for name in names {
        let (parent, child) = match name.split_once('.') {
            Some((p, c)) => (p, Some(c)),
            None => (name.as_str(), None),
        };
        let p = schema
            .fields
            .iter()
            .position(|f| f == parent)
            .ok_or_else(|| Error::UnknownField(name.clone()))?;
        match (schema.nested.get(&p), child) {
            (Some(children), None) => nested.entry(p).or_default().extend(0..children.len()),
            (Some(children), Some(c)) => {
                let i = children
                    .iter()
                    .position(|f| f == c)
                    .ok_or_else(|| Error::UnknownField(name.clone()))?;
                nested.entry(p).or_default().push(i);
            }
            (None, None) => top.push(p),
            (None, Some(_)) => return Err(Error::UnknownField(name.clone())),
        }
    }
    let mut out = Vec::new();
    if !top.is_empty() {
        out.push(hex(&top));
    }
    out.extend(nested.iter().map(|(p, bits)| format!("{p}-{}", hex(bits))));
    Ok(out)
}

/// `0x` + upper-case hex of the number with `bits` set, no leading zeros.
pub fn hex(bits: &[usize]) -> String {
    let width = bits.iter().max().map_or(1, |m| m / 4 + 1);
    let mut nibbles = vec![0u8; width];
    for &b in bits {
        nibbles[b / 4] |= 1 << (b % 4);
    }
    let digits: String = nibbles
        .iter()
        .rev()
        .map(|n| char::from(b"0123456789ABCDEF"[usize::from(*n)]))
        .collect();
    format!("0x{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::avro::{owned, AvroType};

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn hex_of_bits() {
        assert_eq!(hex(&[2, 5]), "0x24");
        assert_eq!(hex(&[0]), "0x1");
        assert_eq!(hex(&[4]), "0x10");
        assert_eq!(hex(&[70]), format!("0x4{}", "0".repeat(17)));
        assert_eq!(hex(&[]), "0x0");
    }

    #[test]
    fn fields_two_and_five() {
        // Header is field 0; A..E are 1..5.
        let fields: Vec<(&str, AvroType)> = ["A", "B", "C", "D", "E"]
            .iter()
            .map(|n| (*n, AvroType::String))
            .collect();
        let s = EventSchema::change_event("Thing__c", &owned(&fields)).unwrap();
        assert_eq!(encode(&s, &names(&["B", "E"])).unwrap(), ["0x24"]);
        assert!(encode(&s, &names(&["Nope"])).is_err());
    }

    #[test]
    fn compound_and_wide() {
        let mut fields = vec![(
            "Name".to_owned(),
            AvroType::compound(
                "Switchable_PersonName",
                &[
                    ("Salutation", AvroType::String),
                    ("FirstName", AvroType::String),
                    ("LastName", AvroType::String),
                ],
            ),
        )];
        for i in 0..80 {
            fields.push((format!("F{i}__c"), AvroType::Long));
        }
        let s = EventSchema::change_event("Contact", &fields).unwrap();
        assert_eq!(
            encode(&s, &names(&["Name.LastName", "F0__c"])).unwrap(),
            ["0x4", "1-0x4"]
        );
        assert_eq!(encode(&s, &names(&["Name"])).unwrap(), ["1-0x7"]);
        // F79__c is field 81: a 82-bit number.
        let wide = encode(&s, &names(&["F79__c"])).unwrap();
        assert_eq!(wide, [format!("0x2{}", "0".repeat(20))]);
        assert!(encode(&s, &names(&["Name.Middle"])).is_err());
    }
}
