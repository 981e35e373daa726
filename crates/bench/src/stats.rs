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

/// The mean, `p50` and `p99` of `values`, formatted in milliseconds.
pub fn summary_ms(values: &mut [f64]) -> String {
    let mean = if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 };
    let (p50, p99) = (percentile(values, 50.0), percentile(values, 99.0));
    format!("mean {mean:.2} ms, p50 {p50:.2} ms, p99 {p99:.2} ms (n={})", values.len())
}
