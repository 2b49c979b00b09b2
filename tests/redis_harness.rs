//! Self-test of the Redis test harness in `tests/common/redis.rs`.

#[path = "common/redis.rs"]
mod redis_support;

use redis_support::{RedisCluster, RedisServer, ping_port, shared_or_start};

#[test]
fn server_set_then_get() {
    let server = RedisServer::start();
    assert_eq!(
        server.url(),
        format!("redis://127.0.0.1:{}/", server.port())
    );
    assert_ne!(server.port(), 6379);
    assert!(server.ping());
    assert_eq!(server.cli(&["SET", "k", "v"]), "OK");
    assert_eq!(server.cli(&["GET", "k"]), "v");
    assert_eq!(server.cli(&["DBSIZE"]), "1");
    assert_eq!(server.cli(&["SCRIPT", "FLUSH"]), "OK");
    // Persistence is off.
    assert_eq!(server.cli(&["CONFIG", "GET", "save"]), "save");
    assert_eq!(
        server.cli(&["CONFIG", "GET", "appendonly"]),
        "appendonly\nno"
    );
}

#[test]
fn error_replies_are_failures() {
    let server = RedisServer::start();
    let err = server.try_cli(&["NO-SUCH-COMMAND"]).unwrap_err();
    assert!(err.contains("unknown command"), "{err}");
    let panicked = std::panic::catch_unwind(|| server.cli(&["NO-SUCH-COMMAND"]));
    assert!(panicked.is_err());
}

#[test]
fn kill_then_restart_on_the_same_port_without_data() {
    let mut server = RedisServer::start();
    let port = server.port();
    assert_eq!(server.cli(&["SET", "k", "v"]), "OK");

    server.kill();
    assert!(!ping_port(port), "PING answered after kill");
    assert!(server.try_cli(&["PING"]).is_err());
    server.kill(); // idempotent
    assert!(!ping_port(port));

    server.restart();
    assert_eq!(server.port(), port);
    assert!(ping_port(port));
    assert_eq!(server.cli(&["GET", "k"]), "");
    assert_eq!(server.cli(&["EXISTS", "k"]), "0");
    assert_eq!(server.cli(&["DBSIZE"]), "0");

    // Restarting a running server kills it first.
    assert_eq!(server.cli(&["SET", "k2", "v"]), "OK");
    server.restart();
    assert_eq!(server.cli(&["DBSIZE"]), "0");
}

#[test]
fn two_servers_at_once() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.url(), b.url());
    a.cli(&["SET", "who", "a"]);
    b.cli(&["SET", "who", "b"]);
    assert_eq!(a.cli(&["GET", "who"]), "a");
    assert_eq!(b.cli(&["GET", "who"]), "b");
}

#[test]
fn drop_kills_the_server_and_removes_its_dir() {
    let server = RedisServer::start();
    let port = server.port();
    let dir = server.dir().to_owned();
    assert!(dir.join("redis.log").exists());
    drop(server);
    assert!(!ping_port(port));
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn drop_after_a_panic_kills_the_server() {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let server = RedisServer::start();
        tx.send((server.port(), server.dir().to_owned())).unwrap();
        panic!("test failure while the server runs");
    })
    .join();
    assert!(result.is_err());
    let (port, dir) = rx.recv().unwrap();
    assert!(!ping_port(port));
    assert!(!dir.exists());
}

#[test]
fn shared_or_start_gives_a_url() {
    let (url, server) = shared_or_start();
    assert!(url.starts_with("redis://"), "{url}");
    if std::env::var("TOWER_SHIELD_REDIS_URL").is_ok_and(|u| !u.trim().is_empty()) {
        assert!(server.is_none());
    } else {
        let server = server.expect("a started server");
        assert_eq!(url, server.url());
        assert!(server.ping());
    }
}

#[test]
fn cluster_of_three_masters() {
    let cluster = RedisCluster::start();
    let ports = cluster.ports();
    assert_eq!(ports.len(), 3);
    assert_eq!(
        cluster.urls(),
        ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect::<Vec<_>>()
    );
    for &port in &ports {
        assert!(ping_port(port));
    }

    let info = cluster.cli(&["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_state:ok"), "{info}");
    assert!(info.contains("cluster_slots_ok:16384"), "{info}");
    assert!(info.contains("cluster_size:3"), "{info}");

    // Keys in different hash slots all work through redirects.
    assert_eq!(cluster.cli(&["SET", "a", "1"]), "OK");
    assert_eq!(cluster.cli(&["SET", "b", "2"]), "OK");
    assert_eq!(cluster.cli(&["SET", "{user}:x", "3"]), "OK");
    assert_eq!(cluster.cli(&["GET", "a"]), "1");
    assert_eq!(cluster.cli(&["GET", "b"]), "2");
    assert_eq!(cluster.cli(&["GET", "{user}:x"]), "3");
    for node in 0..3 {
        assert_eq!(cluster.node_cli(node, &["GET", "{user}:x"]), "3");
    }
    assert_ne!(
        cluster.cli(&["CLUSTER", "KEYSLOT", "a"]),
        cluster.cli(&["CLUSTER", "KEYSLOT", "b"])
    );
    assert_eq!(
        cluster.cli(&["CLUSTER", "KEYSLOT", "{user}:x"]),
        cluster.cli(&["CLUSTER", "KEYSLOT", "{user}:y"])
    );
    // Same slot, so a multi-key command across them is allowed.
    assert_eq!(cluster.cli(&["SET", "{user}:y", "4"]), "OK");
    assert_eq!(cluster.cli(&["MGET", "{user}:x", "{user}:y"]), "3\n4");
}
