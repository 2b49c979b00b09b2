//! Placeholder, replaced by the Redis store's throughput bench.
fn main() {}
