//! Reading criterion's results of this run back, to print comparisons.

use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;

/// The settings every bench of this crate measures with.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

/// criterion's estimate of the mean time of `group/name`, in nanoseconds, from this run.
pub fn mean_ns(group: &str, name: &str) -> Option<f64> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target
        .join("criterion")
        .join(group)
        .join(name)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// Prints each variant's mean and what it adds over `baseline`; returns the baseline's mean.
pub fn table(group: &str, baseline: &str, names: &[&str]) -> Option<f64> {
    let base = mean_ns(group, baseline)?;
    println!("\n{group}: per-request cost over {baseline} ({base:.0} ns):");
    println!("{:<36} {:>10} {:>10}", "variant", "mean ns", "added ns");
    for name in names {
        if let Some(mean) = mean_ns(group, name) {
            println!("{name:<36} {mean:>10.0} {:>10.0}", mean - base);
        }
    }
    Some(base)
}

/// Whether this is a measuring run (`cargo bench`), not `cargo test --benches`.
pub fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The number in the environment variable `name`, or `default` when it is not set.
///
/// # Panics
///
/// When it is set but is not a number: a typo in a bench knob should not pass unnoticed.
#[allow(dead_code)] // not every bench has knobs
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// The median of `v` (the upper one of an even count).
#[allow(dead_code)] // only the benches that measure interleaved rounds
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The 25th and 75th percentiles of `v`.
#[allow(dead_code)] // only the benches that measure interleaved rounds
pub fn quartiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 4], v[v.len() * 3 / 4])
}
