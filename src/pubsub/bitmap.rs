//! Change Data Capture header bitmaps to field names \[DESER\].
//!
//! Over the Pub/Sub API the `changedFields`, `nulledFields` and `diffFields`
//! of a `ChangeEventHeader` are string arrays such as
//! `["0x650004E0", "4-0x10", "7-0x06"]`:
//! - `0x<HEX>`: a bitmap over the top-level fields of the event's Avro
//!   schema; bit i, counted from the least significant bit, names
//!   `fields[i]`. Objects with more than 64 fields give wider bitmaps, so the
//!   hex has any length (an odd digit count is read as if left-padded by `0`).
//! - `p-0x<HEX>`: the compound field (e.g. `Name`, an address) at top-level
//!   position p; its optional record is unwrapped and the bitmap names
//!   `Parent.Child`; when every nested bit is set, only `Parent` is named.
//!
//! Reference implementations and where they differ:
//! - Java `utility/EventParser.java` reports the parent alone when all nested
//!   bits are set, as the docs say; we follow it. Python
//!   `ChangeEventHeaderUtility.py` has the same comment but always lists every
//!   `Parent.Child`.
//! - A bit past the last field makes both throw (index out of range); the docs
//!   say nothing, so it is [`BitmapError::BitOutOfRange`] here: a bitmap that
//!   does not fit is decoded with the wrong schema, and names from it would lie.
//! - Java leaves an element whose position is not a record untouched, Python
//!   drops it; here it is [`BitmapError::NotCompound`], for the same reason.
//! - Unions unwrapped like Java's `getValueSchema`: `["null", T]`,
//!   `["string", T]` and `["null", "string", T]` (switchable person names).
//!
//! Output order: each element's names in place, bits in ascending order.

use std::borrow::Cow;

use apache_avro::schema::{NamespaceRef, RecordSchema, ResolvedSchema};
use apache_avro::Schema;

/// Why a bitmap array could not be turned into field names. Messages carry
/// element indexes and positions, never the element text.
#[derive(Debug, thiserror::Error)]
pub enum BitmapError {
    /// The schema handed in is not a record (every event schema is one).
    #[error("event schema is not a record")]
    NotARecord,
    /// Element `index` is neither `0x<HEX>` nor `<position>-0x<HEX>`, or its
    /// hex digits are empty or invalid.
    #[error("bitmap element {index} is malformed")]
    Malformed {
        /// Index of the element in the array.
        index: usize,
    },
    /// Element `index` names a top-level position the schema does not have.
    #[error("bitmap element {index}: position {position} is past the {fields} top-level fields")]
    PositionOutOfRange {
        /// Index of the element in the array.
        index: usize,
        /// The position it names.
        position: usize,
        /// How many top-level fields the schema has.
        fields: usize,
    },
    /// Element `index` names a position whose field is not an (optional) record.
    #[error("bitmap element {index}: field at position {position} is not a compound field")]
    NotCompound {
        /// Index of the element in the array.
        index: usize,
        /// The top-level position it names.
        position: usize,
    },
    /// Element `index` sets bit `bit` but its record has only `fields` fields.
    #[error("bitmap element {index}: bit {bit} set but the record has {fields} fields")]
    BitOutOfRange {
        /// Index of the element in the array.
        index: usize,
        /// The lowest offending bit (0 = least significant).
        bit: usize,
        /// How many fields the record has.
        fields: usize,
    },
    /// A named type the compound field refers to is not defined in the schema.
    #[error("bitmap element {index}: schema reference cannot be resolved")]
    UnresolvedRef {
        /// Index of the element in the array.
        index: usize,
    },
}

/// The field names that `bitmaps` (one header array, e.g. `changedFields`)
/// denote in `schema`, the writer schema of the same event.
///
/// Top-level names are plain (`Phone`), nested ones `Parent.Child`
/// (`Name.LastName`), a fully set nested bitmap just `Parent`. An empty array
/// gives an empty list.
///
/// # Errors
/// [`BitmapError`] for a non-record schema, a malformed element, a position
/// or bit past the fields, or a position that is not a compound field.
pub fn field_names(schema: &Schema, bitmaps: &[String]) -> Result<Vec<String>, BitmapError> {
    let Schema::Record(root) = schema else {
        return Err(BitmapError::NotARecord);
    };
    let mut names = Vec::new();
    for (index, element) in bitmaps.iter().enumerate() {
        if let Some(hex) = element.strip_prefix("0x") {
            let bits = set_bits(hex, root.fields.len(), index)?;
            names.extend(bits.into_iter().map(|i| root.fields[i].name.clone()));
        } else {
            nested_names(schema, root, element, index, &mut names)?;
        }
    }
    Ok(names)
}

/// Appends the names of a `p-0x<HEX>` element (see the module doc).
fn nested_names(
    schema: &Schema,
    root: &RecordSchema,
    element: &str,
    index: usize,
    out: &mut Vec<String>,
) -> Result<(), BitmapError> {
    let malformed = BitmapError::Malformed { index };
    let (position, hex) = element.split_once("-0x").ok_or(malformed)?;
    if position.is_empty() || !position.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BitmapError::Malformed { index });
    }
    let position: usize = position
        .parse()
        .map_err(|_| BitmapError::Malformed { index })?;
    let parent = root
        .fields
        .get(position)
        .ok_or(BitmapError::PositionOutOfRange {
            index,
            position,
            fields: root.fields.len(),
        })?;
    let record = compound_record(schema, root, &parent.schema, index)?
        .ok_or(BitmapError::NotCompound { index, position })?;
    let bits = set_bits(hex, record.fields.len(), index)?;
    if !bits.is_empty() && bits.len() == record.fields.len() {
        out.push(parent.name.clone());
    } else {
        out.extend(
            bits.into_iter()
                .map(|i| format!("{}.{}", parent.name, record.fields[i].name)),
        );
    }
    Ok(())
}

/// The record inside a compound field's schema: the field's own record, or
/// the last branch of an optional union (see the module doc), following a
/// named reference. `None` when it is not a record.
fn compound_record<'s>(
    schema: &'s Schema,
    root: &'s RecordSchema,
    field: &'s Schema,
    index: usize,
) -> Result<Option<Cow<'s, RecordSchema>>, BitmapError> {
    let value = match field {
        Schema::Union(union) => match union.variants() {
            [Schema::Null | Schema::String, value] | [Schema::Null, Schema::String, value] => value,
            _ => field,
        },
        other => other,
    };
    match value {
        Schema::Record(record) => Ok(Some(Cow::Borrowed(record))),
        Schema::Ref { name } => {
            let namespace: NamespaceRef = root.name.namespace();
            let full = name.fully_qualified_name(namespace);
            let resolved = ResolvedSchema::try_from(schema)
                .map_err(|_| BitmapError::UnresolvedRef { index })?;
            match resolved.get_names().get(full.as_ref()) {
                Some(Schema::Record(record)) => Ok(Some(Cow::Owned((*record).clone()))),
                Some(_) => Ok(None),
                None => Err(BitmapError::UnresolvedRef { index }),
            }
        }
        _ => Ok(None),
    }
}

/// The set bits of hex bitmap `hex` (no `0x`), ascending, each checked to be
/// below `fields`. Hex of any length: decoded to big-endian bytes by `hex`
/// after left-padding an odd digit count with `0`.
fn set_bits(hex: &str, fields: usize, index: usize) -> Result<Vec<usize>, BitmapError> {
    if hex.is_empty() {
        return Err(BitmapError::Malformed { index });
    }
    let padded: Cow<'_, str> = if hex.len() % 2 == 1 {
        Cow::Owned(format!("0{hex}"))
    } else {
        Cow::Borrowed(hex)
    };
    let bytes = hex::decode(padded.as_ref()).map_err(|_| BitmapError::Malformed { index })?;
    let mut bits = Vec::new();
    for (from_end, byte) in bytes.iter().rev().enumerate() {
        for shift in 0..8 {
            if byte & (1 << shift) != 0 {
                let bit = from_end * 8 + shift;
                if bit >= fields {
                    return Err(BitmapError::BitOutOfRange { index, bit, fields });
                }
                bits.push(bit);
            }
        }
    }
    Ok(bits)
}

#[cfg(test)]
#[path = "tests/bitmap.rs"]
mod tests;
