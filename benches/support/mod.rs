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
