//! What the benchmarks share: the median, and the environment variables
//! that set rounds and matrix shapes.

#![allow(dead_code)] // each bench uses its part

/// The median (upper middle for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Rounds from SPECSCOPE_BENCH_ROUNDS, else `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("SPECSCOPE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The shape N,M from SPECSCOPE_BENCH_SHAPE, else `default`.
pub fn shape(default: (usize, usize)) -> (usize, usize) {
    std::env::var("SPECSCOPE_BENCH_SHAPE")
        .ok()
        .and_then(|v| {
            let (a, b) = v.split_once(',')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or(default)
}
