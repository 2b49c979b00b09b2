//! The two presets, each defined once, as a builder: [`SecurityHeadersBuilder::json_api`] and
//! [`SecurityHeadersBuilder::web_app`]. The layers of the same names are these builders, built.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::HeaderValue;

use super::{
    Compiled, ContentSecurityPolicy, CrossOriginOpenerPolicy, CrossOriginResourcePolicy,
    FrameOptions, Hsts, PermissionsPolicy, ReferrerPolicy, SecurityHeadersBuilder,
    SecurityHeadersLayer,
};

impl SecurityHeadersBuilder {
    /// The [`SecurityHeadersLayer::json_api()`] preset, to adjust.
    pub fn json_api() -> Self {
        Self::new()
            .hsts(Hsts::recommended())
            .nosniff(true)
            .cache_control("no-store, no-cache, must-revalidate, private")
            .content_security_policy(ContentSecurityPolicy::json_api())
            .referrer_policy(ReferrerPolicy::NoReferrer)
    }

    /// The [`SecurityHeadersLayer::web_app()`] preset, to adjust.
    pub fn web_app() -> Self {
        Self::new()
            .hsts(Hsts::recommended())
            .nosniff(true)
            .cache_control("no-store, no-cache, must-revalidate, private")
            .content_security_policy(ContentSecurityPolicy::web_app())
            .referrer_policy(ReferrerPolicy::StrictOriginWhenCrossOrigin)
            .frame_options(FrameOptions::Deny)
            .permissions_policy(PermissionsPolicy::recommended())
            .cross_origin_opener_policy(CrossOriginOpenerPolicy::SameOrigin)
            .cross_origin_resource_policy(CrossOriginResourcePolicy::SameOrigin)
            .disable_xss_filter(true)
    }
}

impl SecurityHeadersLayer {
    /// The headers of a JSON API; see the [module docs](super). Same as
    /// `SecurityHeadersBuilder::json_api().build()`, without the `Result`.
    pub fn json_api() -> Self {
        static PRESET: OnceLock<SecurityHeadersLayer> = OnceLock::new();
        PRESET
            .get_or_init(|| preset(SecurityHeadersBuilder::json_api()))
            .clone()
    }

    /// The headers of a web application; see the [module docs](super). Same as
    /// `SecurityHeadersBuilder::web_app().build()`, without the `Result`.
    pub fn web_app() -> Self {
        static PRESET: OnceLock<SecurityHeadersLayer> = OnceLock::new();
        PRESET
            .get_or_init(|| preset(SecurityHeadersBuilder::web_app()))
            .clone()
    }
}

/// Builds a preset, once per process.
///
/// Its header values are then moved to static memory (a few hundred bytes, once, as the
/// literals they would otherwise be): a response clones them for free, instead of touching a
/// reference count that every thread shares.
fn preset(builder: SecurityHeadersBuilder) -> SecurityHeadersLayer {
    // The presets are fixed values, and `presets_build` tests that they build: this is not
    // reachable from a request, nor from any configuration.
    #[allow(clippy::expect_used)]
    let layer = builder
        .build()
        .expect("the security header presets are valid");
    let fixed = layer
        .compiled
        .fixed
        .iter()
        .map(|(name, value, mode)| (name.clone(), in_static_memory(value), *mode))
        .collect();
    SecurityHeadersLayer {
        compiled: Arc::new(Compiled {
            fixed,
            nonced: layer.compiled.nonced.clone(),
            strip: layer.compiled.strip.clone(),
        }),
    }
}

fn in_static_memory(value: &HeaderValue) -> HeaderValue {
    let bytes: &'static [u8] = Box::leak(Box::from(value.as_bytes()));
    // The bytes are those of a valid value, so this is always `Ok`.
    HeaderValue::from_maybe_shared(Bytes::from_static(bytes)).unwrap_or_else(|_| value.clone())
}
