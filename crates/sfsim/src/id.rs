//! 15- and 18-character Salesforce record ids, as an org reads them.
//!
//! Built from Salesforce's documentation, not from hookgate's code: the
//! 18-character form is the 15-character (case-sensitive) id plus a
//! 3-character suffix that encodes the case of the 15, so it compares
//! case-insensitively (SOAP API Developer Guide, "Field Types" > ID; Apex
//! `Id.to15()`; summarised in `../shared/docs/SALESFORCE.md` section 5).
//! For each 5-character chunk, bit `i` (least significant first) is 1 when
//! character `i` is `A`-`Z`; the 0..31 value maps onto
//! `ABCDEFGHIJKLMNOPQRSTUVWXYZ012345`.

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The canonical 18-character form of a 15- or 18-character id, or `None`
/// when `id` is neither (an org answers `MALFORMED_ID`).
///
/// An 18-character id is accepted in any case when its suffix matches; the
/// case of the first 15 characters is then restored from the suffix.
pub(crate) fn to_18(id: &str) -> Option<String> {
    if !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        15 => {
            let mut out = String::with_capacity(18);
            out.push_str(id);
            for chunk in id.as_bytes().chunks(5) {
                let n = chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_ascii_uppercase())
                    .fold(0, |n, (i, _)| n | 1 << i);
                out.push(SUFFIX_ALPHABET[n] as char);
            }
            Some(out)
        }
        18 => {
            let (head, suffix) = id.split_at(15);
            let suffix = suffix.to_ascii_uppercase();
            let mut out = String::with_capacity(18);
            for (chunk, s) in head.as_bytes().chunks(5).zip(suffix.bytes()) {
                let n = SUFFIX_ALPHABET.iter().position(|&c| c == s)?;
                for (i, c) in chunk.iter().enumerate() {
                    let upper = n & (1 << i) != 0;
                    // A digit cannot carry an "uppercase" bit.
                    if upper && c.is_ascii_digit() {
                        return None;
                    }
                    let c = if upper {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    };
                    out.push(c as char);
                }
            }
            out.push_str(&suffix);
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::to_18;

    #[test]
    fn documented_vectors() {
        assert_eq!(to_18("a0RE000000IJmcN").unwrap(), "a0RE000000IJmcNMAT");
        assert_eq!(to_18("a01M00000062mPg").unwrap(), "a01M00000062mPgIAI");
        assert_eq!(to_18("0F9E000000092w2").unwrap(), "0F9E000000092w2KAA");
    }

    #[test]
    fn eighteen_is_case_insensitive() {
        assert_eq!(to_18("a0re000000ijmcnmat").unwrap(), "a0RE000000IJmcNMAT");
        assert_eq!(to_18("00D000000000001EAA").unwrap(), "00D000000000001EAA");
    }

    #[test]
    fn refuses_malformed_ids() {
        assert!(to_18("00D00000000000").is_none());
        assert!(to_18("00D000000000001EAB").is_none());
        assert!(to_18("00D0000000000-1EAA").is_none());
        assert!(to_18("00D000000000001E!A").is_none());
    }
}
