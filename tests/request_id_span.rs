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

/// Everything logged (at DEBUG and up) while `layer` serves one request with `id`, inside an
/// enclosing span that declares an empty `request_id` when `outer` is set.
fn logs_of(layer: RequestIdLayer, id: &[u8], outer: bool) -> String {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
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
            if outer {
                let span = tracing::info_span!("http", request_id = tracing::field::Empty);
                let _entered = span.enter();
                call(&app, get_with("/", "x-request-id", id)).await;
                tracing::info!("done");
            } else {
                call(&app, get_with("/", "x-request-id", id)).await;
            }
        });
    });
    String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
}

/// One test, so nothing else in this binary runs while call-site interest is cached.
#[test]
fn the_id_is_recorded_in_tracing_and_a_rejected_id_never_is() {
    assert_eq!(
        logs_of(RequestIdLayer::new(), b"trace-me-42", false),
        " INFO request{request_id=trace-me-42}: request_id_span: handling\n"
    );
    let no_span = RequestIdLayer::builder().span(false).build().unwrap();
    assert_eq!(
        logs_of(no_span, b"trace-me-42", false),
        " INFO request_id_span: handling\n"
    );

    // An enclosing span that declares `request_id` gets the id recorded.
    let logs = logs_of(RequestIdLayer::new(), b"trace-me-43", true);
    assert!(
        logs.ends_with(" INFO http{request_id=\"trace-me-43\"}: request_id_span: done\n"),
        "{logs}"
    );

    // An id crafted to forge a log line is replaced, and appears nowhere in the logs.
    let forged = b"x INFO forged: admin logged in <script>";
    let logs = logs_of(RequestIdLayer::new(), forged, false);
    assert!(
        !logs.contains("forged") && !logs.contains("script"),
        "{logs}"
    );
    assert!(
        logs.contains(
            "DEBUG tower_shield::request_id: replaced an unacceptable incoming request id"
        ),
        "{logs}"
    );
    let strict = RequestIdLayer::builder()
        .reject_invalid(true)
        .build()
        .unwrap();
    let logs = logs_of(strict, forged, false);
    assert!(
        !logs.contains("forged") && !logs.contains("script"),
        "{logs}"
    );
    assert!(
        !logs.contains("handling"),
        "a rejected request never reaches the handler"
    );
}
