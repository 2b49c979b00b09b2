//! The rate-limit headers of responses: `X-RateLimit-*`, the IETF `RateLimit` and
//! `RateLimit-Policy` fields (`Retry-After` comes with the [`RateLimited`](super::RateLimited)
//! rejection).

use std::fmt::Write as _;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::algorithm::MICROS_PER_SEC;
use super::fallback::DecidedBy;
use super::layer::Config;
use super::plan::{Binding, PlanRef};
use super::store::Decision;
use crate::core::util::{number, set_header};

const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Which rate-limit headers the layer writes on every response it lets through and on its
/// `429`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderStyle {
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix time, seconds)
    /// of the limit closest to refusing. The default.
    #[default]
    XRateLimit,
    /// The IETF fields of [draft-ietf-httpapi-ratelimit-headers] (revision 10):
    /// `RateLimit-Policy` (`"hourly";q=1000;w=3600`) and `RateLimit` (`"hourly";r=998;t=4`),
    /// one item per limit that applied.
    ///
    /// `r` is the remaining quota; `t` is, as the draft defines it, the seconds until
    /// *additional* quota is made available (rounded up), not until the whole quota is back
    /// (see [`Status::more_quota_after`](super::algorithm::Status::more_quota_after)):
    ///
    /// - on a `429`, the refusing limit's `t` equals `Retry-After`;
    /// - a token bucket: until the next token; a fixed window: until the window ends; a leaky
    ///   bucket: until the queue frees one more slot;
    /// - a sliding window: until the key is back to its full limit (an upper bound: a unit
    ///   may come back earlier as the previous window's weight fades);
    /// - 0 when the limit is untouched.
    ///
    /// [draft-ietf-httpapi-ratelimit-headers]: https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/
    Ietf,
    /// Both.
    Both,
    /// None (a `429` still carries `Retry-After`).
    None,
}

/// The rate-limit headers of a response, kept as numbers until the response is there.
pub(crate) struct Report {
    /// `X-RateLimit-Limit` (built once per limit), remaining, reset (Unix seconds).
    x: Option<(HeaderValue, u64, u64)>,
    /// `RateLimit-Policy` and `RateLimit`.
    ietf: Option<Box<(HeaderValue, HeaderValue)>>,
    /// Which store decided, under [`StoreFailure::Local`](super::StoreFailure::Local).
    pub(super) by: Option<DecidedBy>,
}

impl Report {
    /// `report`, carrying which store decided (a report without headers, if need be).
    pub(super) fn decided_by(report: Option<Report>, by: DecidedBy) -> Option<Report> {
        let mut report = report.unwrap_or(Report {
            x: None,
            ietf: None,
            by: None,
        });
        report.by = Some(by);
        Some(report)
    }

    /// Writes the headers beside those an inner rate-limit layer wrote (one on a route, with
    /// this one around the Router): `X-RateLimit-*` stay the inner layer's when they show as
    /// few remaining or fewer (the limit closest to refusing, and on the inner layer's `429`
    /// the limit that refused), and this layer's `RateLimit` and `RateLimit-Policy` items are
    /// added as field lines of their own, which the draft allows.
    pub(super) fn apply(self, headers: &mut HeaderMap) {
        if let Some((limit, remaining, reset)) = self.x {
            let inner_closer = headers
                .get(X_REMAINING)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|theirs| theirs <= remaining);
            if !inner_closer {
                set_header(headers, X_LIMIT, limit);
                set_header(headers, X_REMAINING, number(remaining));
                set_header(headers, X_RESET, number(reset));
            }
        }
        if let Some(ietf) = self.ietf {
            let (policy, state) = *ietf;
            if headers.contains_key(RATELIMIT) || headers.contains_key(RATELIMIT_POLICY) {
                headers.append(RATELIMIT_POLICY, policy);
                headers.append(RATELIMIT, state);
            } else {
                set_header(headers, RATELIMIT_POLICY, policy);
                set_header(headers, RATELIMIT, state);
            }
        }
    }
}

impl Config {
    /// The headers to report for a decision whose binding limit is `b`, in the configured
    /// [`HeaderStyle`]; `None` when there are none to write.
    /// `share`: the decision was made in memory, on `1 / share` of each limit.
    pub(super) fn report(
        &self,
        plan: PlanRef<'_>,
        decision: &Decision,
        b: &Binding<'_>,
        share: Option<u32>,
    ) -> Option<Report> {
        let x = matches!(self.headers, HeaderStyle::XRateLimit | HeaderStyle::Both).then(|| {
            let reset = decision
                .now
                .saturating_add(b.reset_after)
                .div_ceil(MICROS_PER_SEC);
            // The limit the counts are of: this instance's share under the local fallback.
            let limit = if b.decided_limit == b.variant.rule.limit() {
                b.variant.limit_header.clone()
            } else {
                number(b.decided_limit)
            };
            (limit, b.remaining, reset)
        });
        let ietf = if matches!(self.headers, HeaderStyle::Ietf | HeaderStyle::Both) {
            self.ietf(plan, decision, share)
        } else {
            None
        };
        (x.is_some() || ietf.is_some()).then_some(Report { x, ietf, by: None })
    }

    /// `RateLimit-Policy` and `RateLimit`: one item per limit that applied.
    fn ietf(
        &self,
        plan: PlanRef<'_>,
        decision: &Decision,
        share: Option<u32>,
    ) -> Option<Box<(HeaderValue, HeaderValue)>> {
        // The policy of a single limit was built once; several are joined. Under the local
        // fallback, a limit is this instance's share, which the policy says (as `RateLimit`'s
        // `r` counts it).
        let single = match (plan.entries, &decision.verdicts[..]) {
            ([(l, v, _)], [verdict]) => self
                .entry(*l, *v)
                .filter(|(_, v)| verdict.status.limit == v.rule.limit())
                .map(|(_, v)| v.policy_header.clone()),
            _ => None,
        };
        let mut policy = String::new();
        let mut state = String::new();
        for (verdict, &(l, v, _)) in decision.verdicts.iter().zip(plan.entries) {
            let Some((limit, variant)) = self.entry(l, v) else {
                continue;
            };
            if !state.is_empty() {
                state.push_str(", ");
            }
            if single.is_none() {
                if !policy.is_empty() {
                    policy.push_str(", ");
                }
                if verdict.status.limit == variant.rule.limit() {
                    policy.push_str(&variant.policy);
                } else {
                    let _ = write!(
                        policy,
                        "\"{}\";q={};w={}",
                        limit.name, verdict.status.limit, variant.window
                    );
                }
            }
            // Until more quota is available: on a refusal, the Retry-After of that limit. Of
            // the rule that decided: this instance's share, under the local fallback.
            let rule = share.map_or(variant.rule, |n| variant.rule.share(n));
            let t = verdict
                .status
                .more_quota_after(&rule)
                .div_ceil(MICROS_PER_SEC);
            let _ = write!(
                state,
                "\"{}\";r={};t={t}",
                limit.name, verdict.status.remaining
            );
        }
        let policy = match single {
            Some(header) => Ok(header),
            None => HeaderValue::try_from(policy),
        };
        match (policy, HeaderValue::try_from(state)) {
            (Ok(p), Ok(s)) => Some(Box::new((p, s))),
            _ => None,
        }
    }
}
