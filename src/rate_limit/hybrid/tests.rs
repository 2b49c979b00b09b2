use super::*;

#[test]
fn the_lease_script_reuses_the_redis_scripts_functions() {
    let (prelude, main) = RedisStore::SCRIPT
        .split_once(SCRIPT_MAIN)
        .expect("redis.lua still starts its main part with `local n = #KEYS`");
    assert!(prelude.contains("local function decide(rule, s, cost)"));
    assert!(!prelude.contains("redis.call('HSET'"));
    assert!(main.contains("redis.call('HSET'"));
}
