//! Percentiles.

/// The `p`-th percentile (0-100) of `values` by nearest rank; 0 when empty.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// `p50/p99` of `values`, formatted in milliseconds.
pub fn summary_ms(values: &mut [f64]) -> String {
    format!("p50 {:.2} ms, p99 {:.2} ms (n={})", percentile(values, 50.0), percentile(values, 99.0), values.len())
}
