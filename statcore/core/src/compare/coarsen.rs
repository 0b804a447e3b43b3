//! Regrouping fine histogram slots into a few groups of equal reference mass.
//!
//! PSI's usual alarm threshold (0.25) was calibrated on about ten bins. Over the 1,024 fine bins
//! of an aggregate, PSI is biased upwards by roughly `(bins − 1) / n` on a sample of `n`, so a
//! stationary window of a few hundred records would read as "drift". Drift alarms therefore
//! compute PSI over `groups` (default 10) consecutive runs of fine slots that each hold about
//! `1/groups` of the reference mass — the baseline's deciles when the fine edges are quantiles.

use crate::error::{CoreError, Result};

/// Default number of groups for alarm-grade PSI.
pub const DEFAULT_PSI_GROUPS: usize = 10;

/// Sums consecutive slots of `reference` and `current` into at most `groups` groups; a group is
/// closed once the reference mass reaches the next multiple of `total / groups`. Slots are never
/// split, and the underflow and overflow slots join their neighbours.
pub fn coarsen(reference: &[f64], current: &[f64], groups: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if groups == 0 {
        return Err(CoreError::invalid("groups", "must be at least 1"));
    }
    if reference.len() != current.len() {
        return Err(CoreError::Incompatible(format!(
            "reference_counts has {} slots, current_counts has {}",
            reference.len(),
            current.len()
        )));
    }
    let total: f64 = reference.iter().sum();
    let (mut r_out, mut c_out) = (Vec::with_capacity(groups), Vec::with_capacity(groups));
    let (mut r_acc, mut c_acc, mut cum) = (0.0, 0.0, 0.0);
    let mut next = 1usize;
    for (r, c) in reference.iter().zip(current) {
        r_acc += r;
        c_acc += c;
        cum += r;
        if next < groups && total > 0.0 && cum >= total * next as f64 / groups as f64 {
            r_out.push(r_acc);
            c_out.push(c_acc);
            (r_acc, c_acc) = (0.0, 0.0);
            while next < groups && cum >= total * next as f64 / groups as f64 {
                next += 1;
            }
        }
    }
    if r_acc > 0.0 || c_acc > 0.0 || r_out.is_empty() {
        r_out.push(r_acc);
        c_out.push(c_acc);
    }
    Ok((r_out, c_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_hold_equal_reference_mass() {
        let reference = vec![1.0; 100];
        let current: Vec<f64> = (0..100).map(f64::from).collect();
        let (r, c) = coarsen(&reference, &current, 10).unwrap();
        assert_eq!(r, vec![10.0; 10]);
        assert_eq!(c.iter().sum::<f64>(), current.iter().sum::<f64>());
        assert_eq!(c[0], (0..10).map(f64::from).sum::<f64>());
    }

    #[test]
    fn heavy_slots_are_not_split_and_mass_is_kept() {
        let reference = [0.0, 50.0, 1.0, 1.0, 48.0, 0.0];
        let current = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (r, c) = coarsen(&reference, &current, 4).unwrap();
        assert_eq!(r.iter().sum::<f64>(), 100.0);
        assert_eq!(c.iter().sum::<f64>(), 21.0);
        assert!(r.len() <= 4);
        assert!(coarsen(&reference, &current[..3], 4).is_err());
        assert!(coarsen(&reference, &current, 0).is_err());
    }
}
