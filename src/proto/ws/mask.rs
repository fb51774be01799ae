//! Client-to-server masking (RFC 6455 §5.3).
//!
//! "Octet i of the transformed data is the XOR of octet i of the original
//! data with octet at index i modulo 4 of the masking key." The transform is
//! its own inverse, so one function masks and unmasks.
//!
//! A payload often arrives in several TCP deliveries, so [`apply_mask`] takes
//! the payload offset of its first byte (`phase`) and rotates the key to
//! match. Bulk data is XORed eight bytes at a time with safe code
//! (`as_chunks_mut`, native-endian words: the key is laid out in the same
//! byte order as the data, so endianness cancels out).

/// XORs `buf` with `key` in place, where `buf[0]` is byte `phase` of the
/// payload. Applying it twice restores the input; applying it piece by piece
/// with the right phases equals applying it to the whole.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let mut rotated = key;
    rotated.rotate_left(phase % 4);
    let [a, b, c, d] = rotated;
    let word = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let (words, tail) = buf.as_chunks_mut::<8>();
    for chunk in words {
        *chunk = (u64::from_ne_bytes(*chunk) ^ word).to_ne_bytes();
    }
    // The tail starts at a multiple of 8 bytes, so the key phase is unchanged.
    for (b, k) in tail.iter_mut().zip(rotated.iter().cycle()) {
        *b ^= k;
    }
}

/// Returns an unmasked copy of `payload` (which starts at payload offset 0).
pub fn unmasked(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = payload.to_vec();
    apply_mask(&mut out, key, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(buf: &mut [u8], key: [u8; 4], phase: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(phase + i) % 4];
        }
    }

    #[test]
    fn rfc6455_5_7_masked_hello() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        assert_eq!(unmasked(&[0x7f, 0x9f, 0x4d, 0x51, 0x58], key), b"Hello");
    }

    #[test]
    fn phase_continues_the_key() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut a = [0x7f, 0x9f];
        let mut b = [0x4d, 0x51, 0x58];
        apply_mask(&mut a, key, 0);
        apply_mask(&mut b, key, 2);
        assert_eq!([&a[..], &b[..]].concat(), b"Hello");
    }

    proptest! {
        #[test]
        fn involution(data in proptest::collection::vec(any::<u8>(), 0..200), key in any::<[u8; 4]>(), phase in any::<usize>()) {
            let mut buf = data.clone();
            apply_mask(&mut buf, key, phase);
            apply_mask(&mut buf, key, phase);
            prop_assert_eq!(buf, data);
        }

        #[test]
        fn matches_the_rfc_formula(data in proptest::collection::vec(any::<u8>(), 0..200), key in any::<[u8; 4]>(), phase in 0usize..1000) {
            let mut fast = data.clone();
            let mut slow = data;
            apply_mask(&mut fast, key, phase);
            naive(&mut slow, key, phase);
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn piecewise_equals_whole(data in proptest::collection::vec(any::<u8>(), 0..200), key in any::<[u8; 4]>(), cuts in proptest::collection::vec(0usize..200, 0..6)) {
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces = data;
            let mut start = 0;
            for end in cuts.into_iter().chain([pieces.len()]) {
                apply_mask(&mut pieces[start..end], key, start);
                start = end;
            }
            prop_assert_eq!(pieces, whole);
        }
    }
}
