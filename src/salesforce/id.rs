//! 15- and 18-character Salesforce record ids.
//!
//! The 18-character form appends a 3-character checksum that encodes the case
//! of the 15 characters, so it compares case-insensitively. Algorithm
//! (SALESFORCE.md section 5): split the 15 characters into three chunks of 5;
//! for each, bit `i` (least significant first) is 1 when character `i` is
//! `A`-`Z`; map 0..31 onto `ABCDEFGHIJKLMNOPQRSTUVWXYZ012345`.

const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 3-character checksum of a 15-character id, or `None` when `id15` is
/// not 15 ASCII alphanumerics.
pub(crate) fn checksum(id15: &str) -> Option<[u8; 3]> {
    let b = id15.as_bytes();
    if b.len() != 15 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut out = [0u8; 3];
    for (chunk, slot) in b.chunks(5).zip(out.iter_mut()) {
        let mut n = 0usize;
        for (i, c) in chunk.iter().enumerate() {
            if c.is_ascii_uppercase() {
                n |= 1 << i;
            }
        }
        *slot = SUFFIX_ALPHABET[n];
    }
    Some(out)
}

/// Normalises a 15- or 18-character id to its canonical 18-character form.
///
/// A 15-character id is case-sensitive and gets its checksum appended. An
/// 18-character id is accepted when its checksum matches its first 15
/// characters compared case-insensitively (the 18-character form is
/// case-insensitive); the case is then restored from the checksum. `None`
/// for anything else.
pub fn to_18(id: &str) -> Option<String> {
    match id.len() {
        15 => {
            let sum = checksum(id)?;
            let mut s = String::with_capacity(18);
            s.push_str(id);
            s.extend(sum.iter().map(|&c| c as char));
            Some(s)
        }
        18 => {
            if !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return None;
            }
            let (head, tail) = id.split_at(15);
            let tail = tail.to_ascii_uppercase();
            // Restore each character's case from the checksum bits.
            let mut restored = String::with_capacity(18);
            for (chunk, sum) in head.as_bytes().chunks(5).zip(tail.bytes()) {
                let n = SUFFIX_ALPHABET.iter().position(|&c| c == sum)?;
                for (i, c) in chunk.iter().enumerate() {
                    let upper = n & (1 << i) != 0;
                    let c = if upper {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    };
                    // A digit cannot carry an "uppercase" bit.
                    if upper && !c.is_ascii_uppercase() {
                        return None;
                    }
                    restored.push(c as char);
                }
            }
            restored.push_str(&tail);
            Some(restored)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_vectors() {
        assert_eq!(&checksum("a0RE000000IJmcN").unwrap(), b"MAT");
        assert_eq!(&checksum("a01M00000062mPg").unwrap(), b"IAI");
        assert_eq!(&checksum("0F9E000000092w2").unwrap(), b"KAA");
    }

    #[test]
    fn fifteen_and_eighteen_agree() {
        assert_eq!(to_18("00D000000000001").unwrap(), "00D000000000001EAA");
        assert_eq!(to_18("00D000000000001EAA").unwrap(), "00D000000000001EAA");
        // 18-character ids are case-insensitive.
        assert_eq!(to_18("00d000000000001eaa").unwrap(), "00D000000000001EAA");
        assert_eq!(to_18("a0re000000ijmcnmat").unwrap(), "a0RE000000IJmcNMAT");
    }

    #[test]
    fn rejects_bad_ids() {
        assert!(to_18("00D00000000000").is_none());
        // B would make the digit '0' uppercase: no 15-character id has that checksum.
        assert!(to_18("00D000000000001EAB").is_none());
        assert!(to_18("00D0000000000-1EAA").is_none());
        assert!(to_18("00D000000000001E!A").is_none());
    }
}
