//! An HTML form behind a `CsrfLayer`: `cargo run --example csrf [-- ADDR]`, with
//! `CSRF_TRUSTED_ORIGIN=https://admin.example.com` to trust one other origin. `GET /` serves a
//! form that posts to `POST /posts`; the same form on any other site is refused `403`, on the
//! trusted origin it is accepted. The browser tests in `tests/browser/` drive it in Chromium.

use axum::Router;
use axum::response::Html;
use axum::routing::{get, post};
use tower_shield::{CsrfLayer, RequestIdLayer};

/// The form, posting to `action` (relative on the site itself).
fn form(action: &str) -> String {
    format!(
        r#"<!doctype html>
<title>tower-shield CSRF demo</title>
<form method="post" action="{action}">
  <input name="title" value="hello">
  <button type="submit">Post</button>
</form>
"#
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let mut csrf = CsrfLayer::builder();
    if let Ok(origin) = std::env::var("CSRF_TRUSTED_ORIGIN") {
        csrf = csrf.add_trusted_origin(origin);
    }
    let app = Router::new()
        .route("/", get(|| async { Html(form("/posts")) }))
        .route(
            "/posts",
            post(|body: String| async move { format!("saved: {body}") }),
        )
        .layer(csrf.build()?)
        .layer(RequestIdLayer::new());
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3002".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
