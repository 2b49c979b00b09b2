//! New ids: the [`MakeRequestId`] strategy and its default, [`UuidV7`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use rand::RngCore;

use crate::core::RequestId;

/// Makes the ids of requests that do not bring an acceptable one.
///
/// Implemented by [`UuidV7`] (the default) and by every `Fn() -> RequestId`:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use tower_shield::request_id::{MakeRequestId, UuidV7};
/// use tower_shield::{RequestId, RequestIdLayer};
///
/// # fn main() -> Result<(), tower_shield::request_id::ConfigError> {
/// let next = AtomicU64::new(1);
/// let layer = RequestIdLayer::builder()
///     .generator(move || {
///         let n = next.fetch_add(1, Ordering::Relaxed);
///         // Never panic here: this runs for every request.
///         RequestId::new(&format!("req-{n}")).unwrap_or_else(|_| UuidV7.make_request_id())
///     })
///     .build()?;
/// # Ok(()) }
/// ```
pub trait MakeRequestId: Send + Sync + 'static {
    /// A new id.
    fn make_request_id(&self) -> RequestId;
}

impl<F> MakeRequestId for F
where
    F: Fn() -> RequestId + Send + Sync + 'static,
{
    fn make_request_id(&self) -> RequestId {
        self()
    }
}

/// Makes UUID v7 ids (RFC 9562): 48 bits of Unix milliseconds and a 12-bit counter (RFC 9562
/// section 6.2, method 1), then 62 bits from the thread-local CSPRNG, written lowercase with
/// hyphens (36 characters). The counter starts each millisecond at a random value below 2,048
/// (section 6.2's counter seeding, its top bit a rollover guard): an id does not tell how
/// many the process made before it in that millisecond.
///
/// The ids a process makes are strictly increasing, as text and as numbers: within one
/// millisecond the counter orders them, and a clock that steps back does not take them back
/// (the last timestamp is kept, and counted on, until the clock passes it; past 4,096 ids in
/// one millisecond the timestamp moves one ahead, as section 6.2 allows). Logs and database
/// indexes stay in arrival order; the random part keeps ids unguessable, and makes a collision
/// between processes as unlikely as for UUID v4.
///
/// # Panics
///
/// Only if the operating system's random source fails when a thread first seeds its CSPRNG
/// (`rand::rng()`), which Linux, macOS and Windows do not do once booted.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7;

/// The last id's timestamp and counter, `millis << 12 | counter`: the next one is above it.
static LAST: AtomicU64 = AtomicU64::new(0);

/// The timestamp and counter of a new id made at `millis`: the first of that millisecond (its
/// counter `seed`, below 2,048), or one past the last id's when that is not below it (same
/// millisecond, or a clock gone back).
pub(super) fn next_stamp(millis: u64, seed: u64) -> u64 {
    next_stamp_after(&LAST, millis, seed)
}

/// [`next_stamp`] with the last stamp in `last`.
pub(super) fn next_stamp_after(last_stamp: &AtomicU64, millis: u64, seed: u64) -> u64 {
    let now = ((millis & ((1 << 48) - 1)) << 12) | (seed & 0x7ff);
    let mut last = last_stamp.load(Ordering::Relaxed);
    loop {
        // A new millisecond starts from its seed; within the last one (or behind it), the
        // counter goes on.
        let next = if now >> 12 > last >> 12 {
            now
        } else {
            last.wrapping_add(1)
        };
        match last_stamp.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

impl MakeRequestId for UuidV7 {
    fn make_request_id(&self) -> RequestId {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // RFC 9562 section 5.7: 48-bit big-endian Unix milliseconds, version 7, 12 bits (the
        // counter), variant 0b10, 62 random bits.
        let mut uuid = [0u8; 16];
        let mut rng = rand::rng();
        rng.fill_bytes(&mut uuid[8..]);
        let stamp = next_stamp(millis, u64::from(rng.next_u32()));
        uuid[..8].copy_from_slice(&(stamp << 4).to_be_bytes());
        // The version nibble sits between the timestamp and the counter.
        uuid[6] = 0x70 | ((stamp >> 8) & 0x0f) as u8;
        uuid[7] = (stamp & 0xff) as u8;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut at = 0;
        for (i, byte) in uuid.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            text[at] = HEX[usize::from(byte >> 4)];
            text[at + 1] = HEX[usize::from(byte & 0x0f)];
            at += 2;
        }
        // One allocation shared by the request header, the extension and the response header
        // (a `Bytes` made from a `Vec` would allocate again on its first clone). Hex digits and
        // hyphens are always a valid header value.
        RequestId(
            HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(text)).unwrap_or(
                HeaderValue::from_static("00000000-0000-7000-8000-000000000000"),
            ),
        )
    }
}
