//! The request id in the `tracing` span. Alone in its test binary: tracing caches whether a
//! span is enabled per call site, and a test running in parallel without a subscriber would
//! race with the subscriber installed here.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use common::{call, get_with};
use tower_shield::RequestIdLayer;

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

/// What a handler's event looks like in the logs under `layer`.
fn logs_of(layer: RequestIdLayer) -> String {
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
        .layer(layer);
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            call(&app, get_with("/", "x-request-id", b"trace-me-42")).await;
        });
    });
    String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn the_id_is_recorded_in_a_tracing_span() {
    assert_eq!(
        logs_of(RequestIdLayer::new()),
        " INFO request{request_id=trace-me-42}: request_id_span: handling\n"
    );
    let no_span = RequestIdLayer::builder().span(false).build().unwrap();
    assert_eq!(logs_of(no_span), " INFO request_id_span: handling\n");
}
