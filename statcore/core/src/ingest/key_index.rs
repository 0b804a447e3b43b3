//! Numbers distinct keys in order of first appearance, for keys that come in runs and are few:
//! the key found last is tried first, then a linear scan while there are at most
//! [`LINEAR_KEYS`], then a hash map. A batch's model types and (model type, model id, window)
//! groups are a handful, so most lookups cost a comparison or two instead of a hash. Their
//! names are short: [`BytesKey`] compares them as numbers.

use std::collections::HashMap;
use std::hash::Hash;

/// Up to this many keys a linear scan beats hashing the key.
pub(crate) const LINEAR_KEYS: usize = 8;

/// A byte string in a buffer, as a key: up to 16 bytes as one number (little-endian,
/// zero-padded, with the length, as a value may end in zeros), so that comparing two costs no
/// call to `memcmp`; longer ones as the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum BytesKey<'a> {
    /// Two halves rather than a `u128`: compared as 64-bit words, not a vector load of what
    /// was just stored in halves (a store-forwarding stall).
    Short(u64, u64, u8),
    Long(&'a [u8]),
}

impl<'a> BytesKey<'a> {
    /// The key of `buf[start..end]`.
    #[inline]
    pub(crate) fn new(buf: &'a [u8], start: usize, end: usize) -> Self {
        const WIDTH: usize = 16;
        let value = &buf[start..end];
        if value.len() > WIDTH {
            return BytesKey::Long(value);
        }
        let mut word = [0u8; WIDTH];
        match buf.get(start..start + WIDTH) {
            // A fixed-size read past the value (masked off below) where the buffer allows.
            Some(window) => word.copy_from_slice(window),
            None => word[..value.len()].copy_from_slice(value),
        }
        let mask = u128::MAX.checked_shr(8 * (WIDTH - value.len()) as u32).unwrap_or(0);
        let word = u128::from_le_bytes(word) & mask;
        BytesKey::Short(word as u64, (word >> 64) as u64, value.len() as u8)
    }
}

#[derive(Debug)]
pub(crate) struct KeyIndex<K> {
    keys: Vec<K>,
    map: HashMap<K, usize>,
    last: usize,
}

impl<K: Copy + Eq + Hash> KeyIndex<K> {
    pub(crate) fn new() -> Self {
        KeyIndex { keys: Vec::new(), map: HashMap::new(), last: 0 }
    }

    /// The number of `key` (0, 1, ... in order of first appearance), and whether it is new.
    #[inline(always)]
    pub(crate) fn get_or_insert(&mut self, key: K) -> (usize, bool) {
        if self.keys.get(self.last) == Some(&key) {
            return (self.last, false);
        }
        let found = if self.keys.len() <= LINEAR_KEYS {
            self.keys.iter().position(|k| *k == key)
        } else {
            self.map.get(&key).copied()
        };
        let (i, new) = found.map_or_else(|| (self.insert(key), true), |i| (i, false));
        self.last = i;
        (i, new)
    }

    fn insert(&mut self, key: K) -> usize {
        self.keys.push(key);
        if self.keys.len() > LINEAR_KEYS {
            if self.map.is_empty() {
                self.map.extend(self.keys.iter().enumerate().map(|(i, k)| (*k, i)));
            } else {
                self.map.insert(key, self.keys.len() - 1);
            }
        }
        self.keys.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keys_in_order_of_first_appearance_past_the_linear_limit() {
        let mut index = KeyIndex::new();
        let mut seen: Vec<u32> = Vec::new();
        // Runs, alternation, and 3 x LINEAR_KEYS distinct keys revisited in another order.
        let keys = (0..200u32).map(|i| if i < 100 { i / 10 % 3 + i % 2 } else { (i * 7) % 25 });
        for key in keys {
            let expected = seen.iter().position(|k| *k == key);
            let got = index.get_or_insert(key);
            assert_eq!(got, (expected.unwrap_or(seen.len()), expected.is_none()), "key {key}");
            if expected.is_none() {
                seen.push(key);
            }
        }
        assert_eq!(seen.len(), 25);
        assert!(seen.len() > 3 * LINEAR_KEYS);
    }

    #[test]
    fn bytes_keys_are_equal_exactly_when_the_bytes_are() {
        // Values at every offset, including those too close to the end for a 16-byte read.
        let values: [&[u8]; 9] = [
            b"",
            b"a",
            b"a\0",
            b"\0",
            b"inv-v1",
            b"inv-v2",
            b"0123456789abcdef",
            b"0123456789abcdefg",
            b"0123456789abcdeg",
        ];
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for _ in 0..3 {
            for v in values {
                buf.push(0xff);
                spans.push((buf.len(), buf.len() + v.len()));
                buf.extend_from_slice(v);
            }
        }
        for &(s1, e1) in &spans {
            for &(s2, e2) in &spans {
                let same = buf[s1..e1] == buf[s2..e2];
                assert_eq!(
                    BytesKey::new(&buf, s1, e1) == BytesKey::new(&buf, s2, e2),
                    same,
                    "{s1}..{e1} {s2}..{e2}"
                );
            }
        }
    }
}
