//! The protobuf wire format, as far as a `RecordBatch` needs it: varints, tags, length-delimited
//! fields, and repeated scalars both packed (proto3's default) and unpacked.

/// Why a message does not parse (no field names: the caller adds them).
#[derive(Debug, Clone, PartialEq)]
pub struct WireError(pub String);

pub type WireResult<T> = std::result::Result<T, WireError>;

/// Field value shapes on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

impl WireType {
    #[inline]
    fn of(bits: u64) -> WireResult<Self> {
        match bits {
            0 => Ok(WireType::Varint),
            1 => Ok(WireType::Fixed64),
            2 => Ok(WireType::Len),
            5 => Ok(WireType::Fixed32),
            t => Err(WireError(format!("unsupported wire type {t}"))),
        }
    }
}

/// A cursor over a serialized message.
pub struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Wire { buf, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Offset of the cursor in the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// A varint; one-byte values (tags, short lengths, most ids and flags) take a fast path.
    #[inline]
    pub fn varint(&mut self) -> WireResult<u64> {
        match self.buf.get(self.pos) {
            Some(&byte) if byte < 0x80 => {
                self.pos += 1;
                Ok(u64::from(byte))
            }
            _ => self.varint_slow(),
        }
    }

    fn varint_slow(&mut self) -> WireResult<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or_else(|| WireError("truncated varint".into()))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError("varint longer than 10 bytes".into()))
    }

    /// The next field's number and wire type.
    #[inline]
    pub fn tag(&mut self) -> WireResult<(u32, WireType)> {
        let tag = self.varint()?;
        let field = u32::try_from(tag >> 3).map_err(|_| WireError("field number out of range".into()))?;
        if field == 0 {
            return Err(WireError("field number 0".into()));
        }
        Ok((field, WireType::of(tag & 7)?))
    }

    pub fn fixed64(&mut self) -> WireResult<[u8; 8]> {
        let bytes = self.take(8)?;
        let mut out = [0u8; 8];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A length-delimited value: its byte range in the buffer.
    #[inline]
    pub fn len_delimited(&mut self) -> WireResult<(usize, usize)> {
        let len = usize::try_from(self.varint()?).map_err(|_| WireError("length out of range".into()))?;
        let start = self.pos;
        self.take(len)?;
        Ok((start, self.pos))
    }

    #[inline]
    fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| WireError("truncated field".into()))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Consumes the fields that follow with the one-byte tag `tag` and a one-byte length (the
    /// values of a repeated string or bytes field, as encoders write them), pushing each value's
    /// byte range to `out`. Stops at anything else (another field, a value of 128 bytes or more,
    /// a truncated one), which the caller then reads field by field. Returns the range of bytes
    /// consumed: tags, lengths and values, all below 0x80 when the values are ASCII.
    #[inline]
    pub fn short_run(&mut self, tag: u8, out: &mut Vec<(u32, u32)>) -> (usize, usize) {
        let start = self.pos;
        let mut pos = self.pos;
        while let (Some(&t), Some(&len)) = (self.buf.get(pos), self.buf.get(pos + 1)) {
            let end = pos + 2 + usize::from(len);
            if t != tag || len >= 0x80 || end > self.buf.len() {
                break;
            }
            // Messages are far below 4 GiB (the gRPC limit is configured in MiB).
            out.push(((pos + 2) as u32, end as u32));
            pos = end;
        }
        self.pos = pos;
        (start, pos)
    }

    /// Skips a field of an unknown number.
    pub fn skip(&mut self, wire: WireType) -> WireResult<()> {
        match wire {
            WireType::Varint => self.varint().map(|_| ()),
            WireType::Fixed64 => self.take(8).map(|_| ()),
            WireType::Len => self.len_delimited().map(|_| ()),
            WireType::Fixed32 => self.take(4).map(|_| ()),
        }
    }
}

/// Appends the doubles of a repeated `double` field (packed or one unpacked value).
pub fn doubles(w: &mut Wire<'_>, buf: &[u8], wire: WireType, out: &mut Vec<f64>) -> WireResult<()> {
    match wire {
        WireType::Fixed64 => out.push(f64::from_le_bytes(w.fixed64()?)),
        WireType::Len => {
            let (start, end) = w.len_delimited()?;
            let bytes = &buf[start..end];
            if bytes.len() % 8 != 0 {
                return Err(WireError("packed doubles not a multiple of 8 bytes".into()));
            }
            out.extend(bytes.chunks_exact(8).map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b)
            }));
        }
        _ => return Err(WireError("a double field must be fixed64 or packed".into())),
    }
    Ok(())
}

/// Appends the values of a repeated varint field (int64, bool, enum; packed or unpacked).
pub fn varints(w: &mut Wire<'_>, buf: &[u8], wire: WireType, out: &mut Vec<u64>) -> WireResult<()> {
    match wire {
        WireType::Varint => out.push(w.varint()?),
        WireType::Len => {
            let (start, end) = w.len_delimited()?;
            let mut inner = Wire::new(&buf[start..end]);
            while !inner.at_end() {
                out.push(inner.varint()?);
            }
        }
        _ => return Err(WireError("a varint field must be varint or packed".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_truncation_is_an_error() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut buf = Vec::new();
            let mut x = v;
            loop {
                let byte = (x & 0x7f) as u8;
                x >>= 7;
                buf.push(if x == 0 { byte } else { byte | 0x80 });
                if x == 0 {
                    break;
                }
            }
            assert_eq!(Wire::new(&buf).varint(), Ok(v));
            assert!(Wire::new(&buf[..buf.len() - 1]).varint().is_err() || buf.len() == 1);
        }
        assert!(Wire::new(&[0x80; 11]).varint().is_err());
    }

    #[test]
    fn packed_and_unpacked_doubles() {
        let mut buf = vec![0x10];
        buf.extend(1.5f64.to_le_bytes());
        buf.extend(2.0f64.to_le_bytes());
        let mut w = Wire::new(&buf);
        let mut out = Vec::new();
        doubles(&mut w, &buf, WireType::Len, &mut out).unwrap_or_default();
        assert_eq!(out, [1.5, 2.0]);
        let single = 3.0f64.to_le_bytes();
        let mut w = Wire::new(&single);
        doubles(&mut w, &single, WireType::Fixed64, &mut out).unwrap_or_default();
        assert_eq!(out, [1.5, 2.0, 3.0]);
        let bad = [0x03, 1, 2, 3];
        assert!(doubles(&mut Wire::new(&bad), &bad, WireType::Len, &mut out).is_err());
    }
}
