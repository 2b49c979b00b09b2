//! The request id in the `tracing` span. Alone in its test binary: tracing caches whether a
//! span is enabled per call site, and a test running in parallel without a subscriber would
//! race with the subscriber installed here.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use common::{call, get_with};
use tower_shield::RequestIdLayer;

#[test]
fn the_id_is_recorded_in_a_tracing_span() {
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                tracing::info!("handling");
                "ok"
            }),
        )
        .layer(RequestIdLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            call(&app, get_with("/", "x-request-id", b"trace-me-42")).await;
        });
    });
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(r#"request{request_id=trace-me-42}: "#) && logs.contains("handling"),
        "{logs}"
    );
}
