//! Little-endian binary primitives shared by every versioned format in statcore.
//!
//! Every top-level payload starts with a 4-byte magic and a `u16` format version, so a reader
//! refuses bytes from another format or a future version with [`CoreError::Codec`] instead of
//! misreading them. Lengths are `u32`; strings are UTF-8 with a `u32` length prefix.

use crate::error::{CoreError, Result};

/// Appends primitives to a byte buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn with_header(magic: &[u8; 4], version: u16) -> Self {
        Writer::with_header_in(Vec::with_capacity(256), magic, version)
    }
    /// Like `with_header`, writing into `buf` (cleared; its allocation is reused).
    pub fn with_header_in(mut buf: Vec<u8>, magic: &[u8; 4], version: u16) -> Self {
        buf.clear();
        let mut w = Writer { buf };
        w.buf.extend_from_slice(magic);
        w.u16(version);
        w
    }
    /// Reserves room for at least `additional` more bytes (one allocation for a known size).
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn len(&mut self, n: usize) -> Result<()> {
        let n = u32::try_from(n).map_err(|_| CoreError::Codec(format!("length {n} exceeds u32")))?;
        self.u32(n);
        Ok(())
    }
    /// `b` as is (no length prefix): the rest of a payload.
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.len(b.len())?;
        self.buf.extend_from_slice(b);
        Ok(())
    }
    pub fn str(&mut self, s: &str) -> Result<()> {
        self.bytes(s.as_bytes())
    }
    pub fn f64s(&mut self, v: &[f64]) -> Result<()> {
        self.len(v.len())?;
        v.iter().for_each(|x| self.f64(*x));
        Ok(())
    }
    pub fn u64s(&mut self, v: &[u64]) -> Result<()> {
        self.len(v.len())?;
        v.iter().for_each(|x| self.u64(*x));
        Ok(())
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads primitives back; every read is bounds-checked and fails with [`CoreError::Codec`].
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks the magic and returns the reader with the format version found.
    pub fn with_header(buf: &'a [u8], magic: &[u8; 4], max_version: u16) -> Result<(Self, u16)> {
        let mut r = Reader { buf, pos: 0 };
        let m = r.take(4)?;
        if m != magic {
            return Err(CoreError::Codec(format!(
                "bad magic {:?}, expected {:?}",
                String::from_utf8_lossy(m),
                String::from_utf8_lossy(magic)
            )));
        }
        let version = r.u16()?;
        if version == 0 || version > max_version {
            return Err(CoreError::Codec(format!(
                "unsupported format version {version} (this build reads 1..={max_version})"
            )));
        }
        Ok((r, version))
    }
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    /// Every byte not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
    /// The next `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end =
            self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or_else(|| {
                CoreError::Codec(format!("truncated: need {n} bytes at offset {}", self.pos))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    /// A length prefix, checked against the bytes left so a corrupt length cannot allocate wildly.
    pub fn len(&mut self, min_item_size: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(min_item_size.max(1)) > left {
            return Err(CoreError::Codec(format!("length {n} exceeds the {left} bytes left")));
        }
        Ok(n)
    }
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len(1)?;
        self.take(n)
    }
    pub fn str(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|e| CoreError::Codec(format!("bad UTF-8: {e}")))
    }
    pub fn f64s(&mut self) -> Result<Vec<f64>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.f64()).collect()
    }
    pub fn u64s(&mut self) -> Result<Vec<u64>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.u64()).collect()
    }
    /// Fails unless every byte was consumed (trailing garbage means corruption).
    pub fn finish(self) -> Result<()> {
        if self.pos != self.buf.len() {
            return Err(CoreError::Codec(format!(
                "{} trailing bytes after the payload",
                self.buf.len() - self.pos
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer::with_header(b"TEST", 1);
        w.u64(7);
        w.str("héllo").unwrap();
        w.f64s(&[1.5, -2.0]).unwrap();
        let bytes = w.finish();
        let (mut r, v) = Reader::with_header(&bytes, b"TEST", 1).unwrap();
        assert_eq!(v, 1);
        assert_eq!(r.u64().unwrap(), 7);
        assert_eq!(r.str().unwrap(), "héllo");
        assert_eq!(r.f64s().unwrap(), vec![1.5, -2.0]);
        r.finish().unwrap();
        for cut in 0..bytes.len() {
            let res = Reader::with_header(&bytes[..cut], b"TEST", 1).and_then(|(mut r, _)| {
                r.u64()?;
                r.str()?;
                r.f64s()?;
                r.finish()
            });
            assert!(matches!(res, Err(CoreError::Codec(_))), "cut at {cut}");
        }
        assert!(Reader::with_header(&bytes, b"NOPE", 1).is_err());
        assert!(Reader::with_header(&bytes, b"TEST", 0).is_err());
    }
}
