//! Placeholder replaced by the rate-limit benchmark.
fn main() {}
