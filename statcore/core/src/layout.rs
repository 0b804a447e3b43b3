//! The layout of a model type's aggregates: which features, their bin edges or vocabularies,
//! the extraction fields, and the confidence bins. It comes from the baseline, is pushed by the
//! learner to every sidecar, and is shared (`Arc`) by every aggregate built over it; aggregates
//! carry only its fingerprint on the wire.

use std::collections::HashSet;
use std::sync::Arc;

use crate::accum::Vocabulary;
use crate::codec::{Reader, Writer};
use crate::edges::{quantile_edges, BinEdges};
use crate::error::{CoreError, Result};
use crate::routing::hash;

const MAGIC: &[u8; 4] = b"LWLY";
const VERSION: u16 = 1;

/// Default number of uniform confidence bins over `[0, 1]`.
pub const DEFAULT_CONFIDENCE_BINS: usize = 20;

#[derive(Debug, PartialEq)]
pub struct Layout {
    pub numeric_names: Vec<String>,
    pub numeric_edges: Vec<Arc<BinEdges>>,
    pub categorical_names: Vec<String>,
    pub vocabularies: Vec<Arc<Vocabulary>>,
    pub fields: Vec<String>,
    /// Uniform edges `k / bins`; a confidence of exactly 1.0 lands in the last (overflow) slot.
    pub confidence_edges: Arc<BinEdges>,
    fingerprint: u64,
}

fn check_names(kind: &str, names: &[String], seen: &mut HashSet<String>) -> Result<()> {
    for n in names {
        if n.is_empty() {
            return Err(CoreError::invalid(kind, "names must not be empty"));
        }
        if !seen.insert(n.clone()) {
            return Err(CoreError::invalid(kind, format!("duplicate name {n:?}")));
        }
    }
    Ok(())
}

impl Layout {
    pub fn new(
        numeric: Vec<(String, Vec<f64>)>,
        categorical: Vec<(String, Vec<String>)>,
        fields: Vec<String>,
        confidence_bins: usize,
    ) -> Result<Self> {
        if confidence_bins == 0 {
            return Err(CoreError::invalid("confidence_bins", "must be at least 1"));
        }
        let (numeric_names, edges): (Vec<String>, Vec<Vec<f64>>) = numeric.into_iter().unzip();
        let (categorical_names, vocab): (Vec<String>, Vec<Vec<String>>) = categorical.into_iter().unzip();
        let mut seen = HashSet::new();
        check_names("numeric", &numeric_names, &mut seen)?;
        check_names("categorical", &categorical_names, &mut seen)?;
        check_names("fields", &fields, &mut HashSet::new())?;
        let numeric_edges = numeric_names
            .iter()
            .zip(edges)
            .map(|(name, e)| BinEdges::new(&format!("edges[{name:?}]"), e).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let vocabularies =
            vocab.into_iter().map(|v| Vocabulary::new(v).map(Arc::new)).collect::<Result<Vec<_>>>()?;
        let confidence_edges = Arc::new(BinEdges::new(
            "confidence_edges",
            (0..=confidence_bins).map(|k| k as f64 / confidence_bins as f64).collect(),
        )?);
        let mut layout = Layout {
            numeric_names,
            numeric_edges,
            categorical_names,
            vocabularies,
            fields,
            confidence_edges,
            fingerprint: 0,
        };
        layout.fingerprint = hash("layout", &layout.encode()?);
        Ok(layout)
    }

    /// Builds a layout from baseline data: quantile edges per numeric feature (`bins` bins) and
    /// the `category_cap` most frequent values per categorical feature.
    pub fn from_baseline(
        numeric: Vec<(String, &[f64])>,
        categorical: Vec<(String, Vec<&str>)>,
        fields: Vec<String>,
        bins: usize,
        category_cap: usize,
    ) -> Result<Self> {
        let numeric = numeric
            .into_iter()
            .map(|(name, data)| {
                quantile_edges(data, bins)
                    .map(|e| (name.clone(), e))
                    .map_err(|e| CoreError::invalid(format!("baseline[{name:?}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let categorical = categorical
            .into_iter()
            .map(|(name, values)| {
                Vocabulary::from_baseline(values, category_cap).map(|v| (name, v.names().to_vec()))
            })
            .collect::<Result<Vec<_>>>()?;
        Layout::new(numeric, categorical, fields, DEFAULT_CONFIDENCE_BINS)
    }

    /// A hash of the whole layout: aggregates over different layouts never merge.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn confidence_bins(&self) -> usize {
        self.confidence_edges.len() - 1
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_header(MAGIC, VERSION);
        w.len(self.numeric_names.len())?;
        for (n, e) in self.numeric_names.iter().zip(&self.numeric_edges) {
            w.str(n)?;
            w.f64s(e.as_slice())?;
        }
        w.len(self.categorical_names.len())?;
        for (n, v) in self.categorical_names.iter().zip(&self.vocabularies) {
            w.str(n)?;
            w.len(v.names().len())?;
            for c in v.names() {
                w.str(c)?;
            }
        }
        w.len(self.fields.len())?;
        for f in &self.fields {
            w.str(f)?;
        }
        w.len(self.confidence_bins())?;
        Ok(w.finish())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (mut r, _) = Reader::with_header(bytes, MAGIC, VERSION)?;
        let strings = |r: &mut Reader<'_>| -> Result<Vec<String>> {
            let n = r.len(4)?;
            (0..n).map(|_| r.str().map(str::to_owned)).collect()
        };
        let n = r.len(8)?;
        let mut numeric = Vec::with_capacity(n);
        for _ in 0..n {
            numeric.push((r.str()?.to_owned(), r.f64s()?));
        }
        let n = r.len(8)?;
        let mut categorical = Vec::with_capacity(n);
        for _ in 0..n {
            categorical.push((r.str()?.to_owned(), strings(&mut r)?));
        }
        let fields = strings(&mut r)?;
        let bins = r.u32()? as usize;
        r.finish()?;
        Layout::new(numeric, categorical, fields, bins).map_err(|e| CoreError::Codec(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fingerprint() {
        let base: Vec<f64> = (0..1000).map(f64::from).collect();
        let l = Layout::from_baseline(
            vec![("amount".into(), &base)],
            vec![("lang".into(), vec!["en", "de", "en"])],
            vec!["total".into(), "date".into()],
            16,
            10,
        )
        .unwrap();
        assert_eq!(l.numeric_edges[0].len(), 17);
        let again = Layout::decode(&l.encode().unwrap()).unwrap();
        assert_eq!(again, l);
        assert_eq!(again.fingerprint(), l.fingerprint());
        let other = Layout::from_baseline(vec![("amount".into(), &base)], vec![], vec![], 8, 10).unwrap();
        assert_ne!(other.fingerprint(), l.fingerprint());
    }

    #[test]
    fn duplicate_names_and_bad_edges_are_refused() {
        let dup = Layout::new(vec![("a".into(), vec![0.0, 1.0])], vec![("a".into(), vec![])], vec![], 20);
        assert!(matches!(dup, Err(CoreError::InvalidInput { .. })));
        let bad = Layout::new(vec![("a".into(), vec![1.0, 0.0])], vec![], vec![], 20);
        assert!(matches!(bad, Err(CoreError::InvalidInput { .. })));
    }
}
