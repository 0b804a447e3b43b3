//! One sample as an owned record, and store format 1's one-value-per-sample encoding (read by
//! the migration to format 2, which stores samples in segments: `segment.rs`).
//!
//! Format-1 value (little-endian, [`crate::codec`]): magic `LWSP`, version `1`, then
//! `seq u64, ts_ms i64, model_type str, model_id str, request_id str, document_id str,
//! payload bytes, prediction bytes, confidence f64, label (u8 0|1 [+ bytes]), human_correction u8`.

use super::segment::SampleRecords;
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

const MAGIC: &[u8; 4] = b"LWSP";
const VERSION: u16 = 1;

/// Longest request id accepted: it is an LMDB key in the request index (limit 511 bytes).
pub const MAX_REQUEST_ID_BYTES: usize = 480;

/// One record that may become training data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    /// Assigned by the store at `append`; `0` means "not assigned yet".
    pub seq: u64,
    pub ts_ms: i64,
    pub model_type: String,
    pub model_id: String,
    /// Required (non-empty): the key through which a late label is attached.
    pub request_id: String,
    pub document_id: String,
    /// The model input, or a reference to it.
    pub payload: Vec<u8>,
    /// The prediction as JSON text.
    pub prediction: Vec<u8>,
    pub confidence: f64,
    pub label: Option<Vec<u8>>,
    pub human_correction: bool,
}

impl Sample {
    /// Checks what the store relies on; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        std::slice::from_ref(self).record(0).validate()
    }

    /// Format 1's encoding (kept to test the migration from it).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_header(MAGIC, VERSION);
        w.u64(self.seq);
        w.i64(self.ts_ms);
        w.str(&self.model_type)?;
        w.str(&self.model_id)?;
        w.str(&self.request_id)?;
        w.str(&self.document_id)?;
        w.bytes(&self.payload)?;
        w.bytes(&self.prediction)?;
        w.f64(self.confidence);
        match &self.label {
            Some(label) => {
                w.u8(1);
                w.bytes(label)?;
            }
            None => w.u8(0),
        }
        w.u8(u8::from(self.human_correction));
        Ok(w.finish())
    }

    pub fn decode(buf: &[u8]) -> Result<Sample> {
        let (mut r, _version) = Reader::with_header(buf, MAGIC, VERSION)?;
        let sample = Sample {
            seq: r.u64()?,
            ts_ms: r.i64()?,
            model_type: r.str()?.to_owned(),
            model_id: r.str()?.to_owned(),
            request_id: r.str()?.to_owned(),
            document_id: r.str()?.to_owned(),
            payload: r.bytes()?.to_vec(),
            prediction: r.bytes()?.to_vec(),
            confidence: r.f64()?,
            label: match r.u8()? {
                0 => None,
                1 => Some(r.bytes()?.to_vec()),
                t => return Err(CoreError::Codec(format!("bad label tag {t}"))),
            },
            human_correction: decode_bool(r.u8()?)?,
        };
        r.finish()?;
        Ok(sample)
    }
}

fn decode_bool(b: u8) -> Result<bool> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(CoreError::Codec(format!("bad bool byte {b}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(request_id: &str) -> Sample {
        Sample {
            ts_ms: 1_000,
            model_type: "clf".into(),
            model_id: "m1".into(),
            request_id: request_id.into(),
            payload: b"input".to_vec(),
            prediction: br#"{"label":"a"}"#.to_vec(),
            confidence: 0.75,
            ..Sample::default()
        }
    }

    #[test]
    fn store_sample_codec_round_trip_and_corruption() {
        let mut s = sample("r1");
        s.seq = 42;
        s.label = Some(b"b".to_vec());
        s.human_correction = true;
        let bytes = s.encode().unwrap();
        assert_eq!(Sample::decode(&bytes).unwrap(), s);
        for cut in 0..bytes.len() {
            assert!(matches!(Sample::decode(&bytes[..cut]), Err(CoreError::Codec(_))));
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Sample::decode(&extra).is_err());
    }

    #[test]
    fn store_sample_validation_names_the_field() {
        let mut s = sample("");
        assert!(matches!(s.validate(), Err(CoreError::InvalidInput { field, .. }) if field == "request_id"));
        s.request_id = "r".into();
        s.confidence = f64::NAN;
        assert!(matches!(s.validate(), Err(CoreError::InvalidInput { field, .. }) if field == "confidence"));
        s.confidence = f64::INFINITY;
        assert!(s.validate().is_err());
        s.confidence = 0.5;
        assert!(s.validate().is_ok());
    }
}
