//! A page served with the `web_app()` headers, a per-request CSP nonce and a report endpoint:
//! `cargo run --example security_headers [-- ADDR]`, then open the page in a browser. The
//! script with the nonce runs; the inline one without it is blocked, and the browser POSTs a
//! violation report to `/csp-report`. `GET /csp-reports` lists the reports received (the
//! browser tests in `tests/browser/` read it).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::Mutex;
use tower_shield::RequestIdLayer;
use tower_shield::security_headers::{
    ContentSecurityPolicy, CspNonce, SecurityHeadersBuilder, Source,
};

type Reports = Arc<Mutex<Vec<String>>>;

async fn page(nonce: CspNonce) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<title>tower-shield CSP demo</title>
<p id="allowed">waiting</p>
<p id="blocked">the inline script without a nonce did not run</p>
<script nonce="{nonce}">document.getElementById("allowed").textContent = "the nonce script ran";</script>
<script>document.getElementById("blocked").textContent = "CSP FAILED: unnonced script ran";</script>
"#
    ))
}

async fn csp_report(State(reports): State<Reports>, body: Bytes) {
    let report = String::from_utf8_lossy(&body).into_owned();
    // Debug formatting escapes newlines and control characters the browser may forward.
    tracing::warn!(?report, "CSP violation");
    reports.lock().await.push(report);
}

async fn list_reports(State(reports): State<Reports>) -> Json<Vec<String>> {
    Json(reports.lock().await.clone())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    // `report-uri` only: browsers that know `report-to` ignore `report-uri` when both are set,
    // and deliver `report-to` reports in delayed batches.
    let headers = SecurityHeadersBuilder::web_app()
        .content_security_policy(
            ContentSecurityPolicy::web_app()
                .script_src([Source::SelfOrigin, Source::Nonce])
                .report_uri("/csp-report"),
        )
        .build()?;
    let app = Router::new()
        .route("/", get(page))
        .route("/csp-report", post(csp_report))
        .route("/csp-reports", get(list_reports))
        .with_state(Reports::default())
        .layer(headers)
        .layer(RequestIdLayer::new());
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3001".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
