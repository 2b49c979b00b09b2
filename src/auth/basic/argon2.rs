//! [`Argon2Users`]: an in-memory [`PasswordVerifier`] of Argon2 password hashes, with the
//! timing and memory guards a password check needs.

mod slots;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use ::argon2::{Algorithm, Argon2, Params, Version};
use arc_swap::ArcSwap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use self::slots::{Hashing, Memory, Slots};
use super::{Answer, Overloaded, PasswordVerifier, Principal, Secret};

/// Why [`Argon2Users::insert`] refused a user: its password hash, or its name. Never shows
/// the hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPasswordHash {
    /// Not a [PHC string](https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md)
    /// (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    #[error("not a PHC password hash string")]
    Malformed,
    /// A PHC string of another algorithm than `argon2id`, `argon2i` or `argon2d` (its
    /// identifier).
    #[error("`{0}` hashes are not supported; only Argon2 is")]
    UnsupportedAlgorithm(String),
    /// The version or the parameters are outside what Argon2 accepts, or the salt is shorter
    /// than 8 bytes.
    #[error("invalid Argon2 version, parameters or salt")]
    InvalidParameters,
    /// The string has no salt or no hash output (parameters only).
    #[error("the password hash string has no salt or no hash")]
    Incomplete,
    /// A user name with a `:` or an ASCII control character: Basic credentials cannot carry it
    /// ([RFC 7617 section 2](https://www.rfc-editor.org/rfc/rfc7617#section-2): the first
    /// colon ends the user-id), so the user could never sign in.
    #[error("a user name cannot hold a colon or a control character (RFC 7617 section 2)")]
    InvalidUsername,
}

/// An Argon2 hash, parsed once.
struct Stored {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Box<[u8]>,
    output: Box<[u8]>,
    #[cfg(test)]
    hashed: std::sync::atomic::AtomicUsize,
}

impl Stored {
    fn new(
        algorithm: Algorithm,
        version: Version,
        params: Params,
        salt: Box<[u8]>,
        output: Box<[u8]>,
    ) -> Self {
        Self {
            algorithm,
            version,
            params,
            salt,
            output,
            #[cfg(test)]
            hashed: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn parse(phc: &str) -> Result<Self, InvalidPasswordHash> {
        let hash = PasswordHash::new(phc).map_err(|_| InvalidPasswordHash::Malformed)?;
        let algorithm = Algorithm::try_from(hash.algorithm)
            .map_err(|_| InvalidPasswordHash::UnsupportedAlgorithm(hash.algorithm.to_string()))?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).map_err(|_| InvalidPasswordHash::InvalidParameters)?,
            None => Version::default(),
        };
        let params = Params::try_from(&hash).map_err(|_| InvalidPasswordHash::InvalidParameters)?;
        let (Some(salt), Some(output)) = (hash.salt, hash.hash) else {
            return Err(InvalidPasswordHash::Incomplete);
        };
        let mut buf = [0u8; 64];
        let salt = salt
            .decode_b64(&mut buf)
            .map_err(|_| InvalidPasswordHash::InvalidParameters)?;
        if salt.len() < ::argon2::MIN_SALT_LEN {
            return Err(InvalidPasswordHash::InvalidParameters);
        }
        Ok(Self::new(
            algorithm,
            version,
            params,
            salt.into(),
            output.as_bytes().into(),
        ))
    }

    /// A hash nobody's password matches, that costs what this one costs to check.
    fn dummy_like(&self) -> Self {
        let mut salt = vec![0u8; self.salt.len()];
        let mut output = vec![0u8; self.output.len()];
        let mut rng = rand::rng();
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut output);
        Self::new(
            self.algorithm,
            self.version,
            self.params.clone(),
            salt.into(),
            output.into(),
        )
    }

    /// The dummy of a set without users: what [`Argon2Users::hash_password`] makes.
    fn default_dummy() -> Self {
        // Parsed hashes carry their output length in their parameters; so does this one.
        let params = Params::new(
            Params::DEFAULT_M_COST,
            Params::DEFAULT_T_COST,
            Params::DEFAULT_P_COST,
            Some(Params::DEFAULT_OUTPUT_LEN),
        )
        .unwrap_or(Params::DEFAULT);
        let template = Self::new(
            Algorithm::Argon2id,
            Version::V0x13,
            params,
            Box::new([0; ::argon2::RECOMMENDED_SALT_LEN]),
            Box::new([0; Params::DEFAULT_OUTPUT_LEN]),
        );
        template.dummy_like()
    }

    fn same_cost(&self, other: &Stored) -> bool {
        self.algorithm == other.algorithm
            && self.version == other.version
            && self.params == other.params
            && self.salt.len() == other.salt.len()
            && self.output.len() == other.output.len()
    }

    /// Hashes `password` on `memory` (grown when too small) and compares, in constant time.
    fn matches(&self, password: &[u8], memory: &mut Memory) -> Choice {
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        let mut out = vec![0u8; self.output.len()];
        let blocks = memory.blocks(self.params.block_count());
        if argon2
            .hash_password_into_with_memory(password, &self.salt, &mut out, blocks)
            .is_err()
        {
            return Choice::from(0);
        }
        #[cfg(test)]
        self.hashed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        out.ct_eq(&self.output)
    }
}

struct Entry {
    name: Box<str>,
    digest: [u8; 32],
    hash: Stored,
    principal: Principal,
}

/// One snapshot of the users.
#[derive(Clone)]
struct Users {
    entries: Vec<Arc<Entry>>,
    dummy: Arc<Stored>,
    dummy_from_user: bool,
}

impl Users {
    /// The principal, when `username` is a user and `password` is theirs. Every name is
    /// compared (in constant time) and exactly one hash is computed, on `memory`, known user or
    /// not.
    fn check(&self, username: &str, password: &[u8], memory: &mut Memory) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(username.as_bytes()).into();
        let mut index = 0u64;
        let mut found = Choice::from(0);
        for (i, entry) in self.entries.iter().enumerate() {
            let same = entry.digest.ct_eq(&digest);
            index.conditional_assign(&(i as u64), same);
            found |= same;
        }
        let entry = self.entries.get(index as usize);
        let stored = match entry {
            Some(entry) if bool::from(found) => &entry.hash,
            _ => &*self.dummy,
        };
        let matched = stored.matches(password, memory);
        if bool::from(found & matched) {
            entry.map(|e| e.principal.clone())
        } else {
            None
        }
    }
}

/// An in-memory [`PasswordVerifier`] of users and their Argon2 password hashes (PHC strings,
/// as [`hash_password`](Self::hash_password) makes and password databases store): the
/// passwords themselves are never stored, nor logged.
///
/// Clones share the same users, so a clone kept by an admin endpoint can add and remove users
/// while the layer serves; changes copy the list, which suits sets that change rarely.
///
/// # Timing
///
/// An unknown username costs what a known one costs: its password is hashed against a dummy
/// hash with the parameters of the first hash inserted (the defaults of
/// [`hash_password`](Self::hash_password) while there is none), and every username is compared
/// in constant time. Keep all hashes on the same parameters: a user whose hash has others
/// takes a different time to check than an unknown name (a warning is logged on insert).
/// Checking compares against every username: meant for up to some thousands of users; a
/// larger set belongs in a database behind a [`PasswordVerifier`] of yours.
///
/// # Blocking, memory and floods
///
/// An Argon2 hash takes tens of milliseconds and, with the default parameters, 19 MiB. Inside
/// a tokio runtime it runs on the blocking pool ([`spawn_blocking`]) in one of a fixed number
/// of *hashing slots* ([`Argon2Builder::max_concurrent_hashes`]; by default all the
/// `Argon2Users` of the process share one slot per CPU). Each slot allocates its memory on its
/// first hash and keeps it for every later one, so however long a flood of Basic requests
/// lasts, hashing holds at most one block per slot (19 MiB each with the default parameters;
/// the largest memory cost among the hashes otherwise). Allocating a block per hash, as
/// `Argon2::hash_password_into` does, let the allocator's per-thread arenas keep hundreds of
/// megabytes after a flood.
///
/// In front of the slots is a bounded queue ([`Argon2Builder::max_queue`], default 4 per
/// slot; [`Argon2Builder::max_wait`], default 1 s): a verification that finds it full, or
/// whose turn comes after the longest wait, is not hashed but [`Overloaded`], which
/// [`BasicAuth`](super::BasicAuth) answers `503` with `Retry-After`. A flood thus cannot make
/// real users wait seconds behind it; they wait a few hashes or are told to retry. The queue
/// refuses before the username is looked at: a `503` says nothing of whether a user exists.
///
/// Outside a runtime the hash runs on the calling thread, on memory of its own.
///
/// [`spawn_blocking`]: tokio::task::spawn_blocking
#[derive(Clone)]
pub struct Argon2Users {
    users: Arc<ArcSwap<Users>>,
    writer: Arc<Mutex<()>>,
    hashing: Arc<Hashing>,
}

impl Default for Argon2Users {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Argon2Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2Users")
            .field("users", &self.len())
            .field("hashing_slots", &self.hashing.slots.count())
            .field("max_queue", &self.hashing.max_queue())
            .field("max_wait", &self.hashing.max_wait())
            .finish_non_exhaustive()
    }
}

/// How long a verification waits for a hashing slot at most, by default.
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(1);
/// How many verifications may wait per hashing slot, by default.
const DEFAULT_QUEUE_PER_SLOT: usize = 4;

impl Argon2Users {
    /// No users yet; the process-wide hashing slots and the default queue (see
    /// [`Argon2Builder`]).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures the hashing slots and the queue in front of them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_shield::auth::basic::Argon2Users;
    ///
    /// let users = Argon2Users::builder()
    ///     .max_concurrent_hashes(2) // 2 × 19 MiB at most
    ///     .max_queue(8)
    ///     .max_wait(Duration::from_millis(500))
    ///     .build();
    /// ```
    pub fn builder() -> Argon2Builder {
        Argon2Builder {
            slots: None,
            max_queue: None,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// Adds user `username` (or replaces the one of that name) with password hash `phc_hash`,
    /// a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`; a valid password
    /// authenticates as `principal` (usually
    /// `Principal::builder(username, AuthMethod::Basic)` with the user's scopes).
    ///
    /// # Errors
    ///
    /// When `phc_hash` is not a PHC string, is not an Argon2 hash (`argon2id`, `argon2i` or
    /// `argon2d`), has parameters Argon2 refuses, or lacks its salt or hash; when `username`
    /// holds a `:` or a control character ([`InvalidPasswordHash::InvalidUsername`]).
    pub fn insert(
        &self,
        username: impl Into<Box<str>>,
        phc_hash: &str,
        principal: Principal,
    ) -> Result<(), InvalidPasswordHash> {
        let name = username.into();
        if name.chars().any(|c| c == ':' || c.is_ascii_control()) {
            return Err(InvalidPasswordHash::InvalidUsername);
        }
        let hash = Stored::parse(phc_hash)?;
        let digest = Sha256::digest(name.as_bytes()).into();
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut users = Users::clone(&self.users.load());
        if !users.dummy_from_user {
            users.dummy = Arc::new(hash.dummy_like());
            users.dummy_from_user = true;
        } else if !hash.same_cost(&users.dummy) {
            tracing::warn!(
                target: "tower_shield::auth",
                username = &*name,
                "password hash parameters differ from the first user's: \
                 checking this user takes a different time than an unknown name"
            );
        }
        let entry = Arc::new(Entry {
            name,
            digest,
            hash,
            principal,
        });
        match users.entries.iter_mut().find(|e| e.name == entry.name) {
            Some(existing) => *existing = entry,
            None => users.entries.push(entry),
        }
        self.users.store(Arc::new(users));
        Ok(())
    }

    /// Removes user `username`; `false` when there is none.
    pub fn remove(&self, username: &str) -> bool {
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut users = Users::clone(&self.users.load());
        let before = users.entries.len();
        users.entries.retain(|e| &*e.name != username);
        let removed = users.entries.len() != before;
        self.users.store(Arc::new(users));
        removed
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.load().entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hashes `password` into a PHC string to store: Argon2id, version 19, 19 MiB of memory,
    /// 2 iterations, 1 lane (the first of
    /// [OWASP's recommended settings](https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#argon2id)),
    /// a random 16-byte salt and a 32-byte output.
    ///
    /// It takes tens of milliseconds: inside an async runtime, call it from
    /// `spawn_blocking`.
    ///
    /// ```
    /// use tower_shield::auth::{Argon2Users, AuthMethod, Principal};
    ///
    /// let hash = Argon2Users::hash_password("correct horse battery staple");
    /// assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    /// assert_ne!(hash, Argon2Users::hash_password("correct horse battery staple")); // salted
    ///
    /// let users = Argon2Users::new();
    /// users.insert("jane", &hash, Principal::builder("jane", AuthMethod::Basic).build())?;
    /// # Ok::<(), tower_shield::auth::InvalidPasswordHash>(())
    /// ```
    ///
    /// # Panics
    ///
    /// When `password` is longer than Argon2's limit of 4 GiB.
    pub fn hash_password(password: &str) -> String {
        let mut salt = [0u8; ::argon2::RECOMMENDED_SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let hashed = SaltString::encode_b64(&salt).and_then(|salt| {
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
        });
        match hashed {
            Ok(phc) => phc,
            Err(e) => panic!("Argon2 refused to hash the password: {e}"),
        }
    }
}

/// Builds an [`Argon2Users`]; see [`Argon2Users::builder`].
///
/// Defaults: the process-wide slots (one per CPU, shared by every `Argon2Users` without a
/// number of its own), a queue of 4 verifications per slot, a wait of at most 1 s.
#[derive(Clone, Debug)]
#[must_use]
pub struct Argon2Builder {
    slots: Option<usize>,
    max_queue: Option<usize>,
    max_wait: Duration,
}

impl Argon2Builder {
    /// At most `n` hashes of this set (and its clones) run at once, in slots of its own,
    /// instead of the process-wide slots (one per CPU); `0` counts as `1`. Each slot keeps one
    /// memory block for every hash it runs, so memory is about `n` times the hashes' memory
    /// cost (19 MiB with the default parameters), whatever the load.
    pub fn max_concurrent_hashes(mut self, n: usize) -> Self {
        self.slots = Some(n);
        self
    }

    /// At most `n` verifications of this set wait for a slot beyond as many as there are
    /// slots (default 4 per slot): a verification that finds `slots + n` waiting or hashing is
    /// [`Overloaded`] at once, without hashing. `0`: none waits beyond the slots.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = Some(n);
        self
    }

    /// A verification whose turn for a slot comes after it waited longer than `wait` (default
    /// 1 s) is [`Overloaded`] instead of hashed; `Retry-After` is this wait in whole seconds,
    /// at least 1. Waiters take their turn as slots free, so one is answered at most one hash
    /// after its wait is over; [`max_queue`](Self::max_queue) bounds how many hashes it waits
    /// for in the first place.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// The verifier, without users yet.
    pub fn build(self) -> Argon2Users {
        let slots = match self.slots {
            Some(n) => Arc::new(Slots::new(n)),
            None => Slots::shared(),
        };
        let max_queue = self
            .max_queue
            .unwrap_or_else(|| slots.count().saturating_mul(DEFAULT_QUEUE_PER_SLOT));
        Argon2Users {
            users: Arc::new(ArcSwap::from_pointee(Users {
                entries: Vec::new(),
                dummy: Arc::new(Stored::default_dummy()),
                dummy_from_user: false,
            })),
            writer: Arc::new(Mutex::new(())),
            hashing: Arc::new(Hashing::new(slots, max_queue, self.max_wait)),
        }
    }
}

impl PasswordVerifier for Argon2Users {
    /// [`try_verify`](PasswordVerifier::try_verify), with an overloaded check answered `None`
    /// (as a wrong password).
    fn verify(&self, username: &str, password: &str) -> Answer<Option<Principal>> {
        self.try_verify(username, password)
            .map(|found| found.unwrap_or(None))
    }

    /// Hashes `password` on the blocking pool in a hashing slot, after at most the queue's
    /// wait (on this thread outside a tokio runtime); [`Overloaded`] when the queue is full or
    /// the wait too long. A hash that cannot run (the runtime is shutting down) is a `None`.
    fn try_verify(
        &self,
        username: &str,
        password: &str,
    ) -> Answer<Result<Option<Principal>, Overloaded>> {
        let users = self.users.load_full();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let mut memory = Memory::default();
            return Answer::ready(Ok(users.check(username, password.as_bytes(), &mut memory)));
        };
        let overloaded = Overloaded::new(self.hashing.max_wait());
        // A full queue is refused now, before anything is copied or boxed.
        let Some(queued) = self.hashing.admit() else {
            return Answer::ready(Err(overloaded));
        };
        let username = username.to_owned();
        let password = Secret(password.to_owned());
        let hashing = Arc::clone(&self.hashing);
        Answer::later(async move {
            let Ok(slot) = hashing.slot().await else {
                return Err(overloaded);
            };
            // The slot and the place in the queue go with the hash: they are held until the
            // hash ends, even when the request is dropped meanwhile.
            let hash = runtime.spawn_blocking(move || {
                let _queued = queued;
                hashing.slots.hash(slot, |memory| {
                    users.check(&username, password.0.as_bytes(), memory)
                })
            });
            Ok(hash.await.unwrap_or(None))
        })
    }
}

#[cfg(test)]
mod tests;
