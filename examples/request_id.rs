//! Request ids in handlers and logs, with a strict variant for internal services:
//! `cargo run --example request_id`, then
//! `curl -i -H 'X-Request-Id: abc-123' http://127.0.0.1:3002/` and
//! `curl -i -H 'X-Request-Id: not valid!' http://127.0.0.1:3002/internal`.

use axum::Router;
use axum::routing::get;
use tower_shield::{RequestId, RequestIdLayer};

async fn hello(id: RequestId) -> String {
    // Inside the layer's `request` span: this event carries `request_id`.
    tracing::info!("saying hello");
    format!("hello, request {id}\n")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    // Public routes: unacceptable incoming ids are replaced by a fresh UUID v7.
    let public = Router::new()
        .route("/", get(hello))
        .layer(RequestIdLayer::new());
    // Internal routes: a malformed id is a caller's bug, answered with a 400 problem.
    let internal = Router::new().route("/internal", get(hello)).layer(
        RequestIdLayer::builder()
            .reject_invalid(true)
            .max_length(64)
            .build()?,
    );
    let app = public.merge(internal);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
