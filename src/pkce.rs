//! Proof Key for Code Exchange ([RFC 7636](https://www.rfc-editor.org/rfc/rfc7636)): the
//! client's [`CodeVerifier`] and the [`CodeChallenge`] (method `S256`) it sends with an
//! authorization request, and the server's check that the verifier of the token request
//! matches the challenge.
//!
//! ```
//! use tower_shield::pkce::{CodeChallenge, CodeVerifier};
//!
//! // The client: a fresh verifier per authorization request, kept secret until the token
//! // request; its challenge goes into the authorization URL.
//! let verifier = CodeVerifier::generate();
//! let challenge = verifier.challenge();
//! let url = format!(
//!     "https://as.example.com/authorize?response_type=code&client_id=app\
//!      &code_challenge={}&code_challenge_method={}",
//!     challenge.as_str(),
//!     CodeChallenge::METHOD,
//! );
//! # let _ = url;
//!
//! // The server: the challenge stored with the code, the verifier from the token request.
//! let stored = CodeChallenge::parse(challenge.as_str(), Some("S256"))?;
//! assert!(stored.verify(verifier.as_str()));
//! assert!(!stored.verify(CodeVerifier::generate().as_str()));
//! # Ok::<(), tower_shield::pkce::PkceError>(())
//! ```
//!
//! Only `S256` is supported: `plain` (and a missing method, which means `plain`) offers no
//! protection once the authorization request is seen, and the OAuth 2.0 Security Best Current
//! Practice ([RFC 9700](https://www.rfc-editor.org/rfc/rfc9700) section 2.1.1) says to use
//! `S256`. [`CodeChallenge::parse`] refuses it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// The unreserved characters of [RFC 3986](https://www.rfc-editor.org/rfc/rfc3986#section-2.3)
/// a code verifier is made of.
const UNRESERVED: &[u8; 66] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// The shortest code verifier RFC 7636 allows.
pub const MIN_VERIFIER_LEN: usize = 43;
/// The longest code verifier RFC 7636 allows.
pub const MAX_VERIFIER_LEN: usize = 128;
/// The length of an `S256` challenge: 32 bytes in unpadded base64url.
const CHALLENGE_LEN: usize = 43;

/// Why a verifier or challenge is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkceError {
    /// A code verifier is 43 to 128 characters long.
    #[error("a code verifier is 43 to 128 characters long, not {0}")]
    VerifierLength(usize),
    /// A code verifier holds only `A-Z a-z 0-9 - . _ ~`.
    #[error("a code verifier holds only the characters A-Z a-z 0-9 - . _ ~")]
    VerifierCharacter,
    /// An `S256` challenge is 43 characters of unpadded base64url (a SHA-256 digest).
    #[error("an S256 code challenge is 43 characters of unpadded base64url")]
    InvalidChallenge,
    /// The challenge method is not `S256` (`plain`, a missing method, or an unknown one).
    #[error("the code challenge method must be S256, not {0:?}")]
    UnsupportedMethod(String),
}

/// A PKCE code verifier: 43 to 128 characters of the unreserved set. Secret until the token
/// request: its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// A fresh verifier of 64 characters from the operating system's CSPRNG
    /// (`rand::rng()`, reseeded from it): about 384 bits of entropy, more than the 256 RFC 7636
    /// recommends.
    pub fn generate() -> Self {
        Self::random(64)
    }

    /// A fresh verifier of `len` characters, each drawn uniformly from the 66 unreserved
    /// characters by the operating system's CSPRNG (about 6 bits each).
    ///
    /// # Errors
    ///
    /// [`PkceError::VerifierLength`] when `len` is not within 43..=128.
    pub fn generate_with_len(len: usize) -> Result<Self, PkceError> {
        if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&len) {
            return Err(PkceError::VerifierLength(len));
        }
        Ok(Self::random(len))
    }

    fn random(len: usize) -> Self {
        let mut rng = rand::rng();
        let verifier = (0..len)
            .map(|_| char::from(UNRESERVED[rng.random_range(0..UNRESERVED.len())]))
            .collect();
        Self(verifier)
    }

    /// A verifier received (a token request's `code_verifier`), checked.
    ///
    /// # Errors
    ///
    /// When it is not 43 to 128 characters of the unreserved set.
    pub fn parse(verifier: &str) -> Result<Self, PkceError> {
        check_verifier(verifier)?;
        Ok(Self(verifier.to_owned()))
    }

    /// The verifier, for the token request's `code_verifier`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its `S256` challenge: `BASE64URL(SHA256(ASCII(code_verifier)))`.
    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge(URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

fn check_verifier(verifier: &str) -> Result<(), PkceError> {
    if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&verifier.len()) {
        return Err(PkceError::VerifierLength(verifier.len()));
    }
    if !verifier.bytes().all(|b| UNRESERVED.contains(&b)) {
        return Err(PkceError::VerifierCharacter);
    }
    Ok(())
}

/// An `S256` code challenge: the authorization request's `code_challenge`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// The challenge method this crate makes and accepts: `S256`.
    pub const METHOD: &'static str = "S256";

    /// A challenge received with an authorization request: `code_challenge` and
    /// `code_challenge_method`.
    ///
    /// # Errors
    ///
    /// [`PkceError::UnsupportedMethod`] when the method is not `S256` (a missing one means
    /// `plain`, refused too); [`PkceError::InvalidChallenge`] when the challenge is not 43
    /// characters of unpadded base64url.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        match method {
            Some(Self::METHOD) => {}
            other => return Err(PkceError::UnsupportedMethod(other.unwrap_or("").to_owned())),
        }
        let decodes = URL_SAFE_NO_PAD
            .decode(challenge)
            .is_ok_and(|digest| digest.len() == 32);
        if challenge.len() != CHALLENGE_LEN || !decodes {
            return Err(PkceError::InvalidChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The challenge, for the authorization request's `code_challenge`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` (a token request's `code_verifier`) is the one this challenge was
    /// made from. A verifier that is not 43 to 128 unreserved characters does not match. The
    /// comparison is in constant time.
    pub fn verify(&self, verifier: &str) -> bool {
        if check_verifier(verifier).is_err() {
            return false;
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        computed.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

impl fmt::Display for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B, verbatim: the 32 octets, the verifier, the SHA-256 octets and the
    /// challenge.
    #[test]
    fn rfc7636_appendix_b() {
        let octets: [u8; 32] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let code_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(URL_SAFE_NO_PAD.encode(octets), code_verifier);
        let digest: [u8; 32] = [
            19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8, 118, 168, 120,
            173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195,
        ];
        assert_eq!(<[u8; 32]>::from(Sha256::digest(code_verifier)), digest);
        let code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

        let verifier = CodeVerifier::parse(code_verifier).unwrap();
        assert_eq!(verifier.challenge().as_str(), code_challenge);
        let challenge = CodeChallenge::parse(code_challenge, Some("S256")).unwrap();
        assert!(challenge.verify(code_verifier));
        assert!(!challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl"));
    }

    #[test]
    fn generated_verifiers_are_unreserved_of_the_asked_length_and_differ() {
        let a = CodeVerifier::generate();
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|b| UNRESERVED.contains(&b)));
        assert_ne!(a, CodeVerifier::generate());
        for len in [43, 100, 128] {
            let v = CodeVerifier::generate_with_len(len).unwrap();
            assert_eq!(v.as_str().len(), len);
            assert!(CodeVerifier::parse(v.as_str()).is_ok());
            assert!(v.challenge().verify(v.as_str()));
        }
        assert_eq!(
            CodeVerifier::generate_with_len(42),
            Err(PkceError::VerifierLength(42))
        );
        assert_eq!(
            CodeVerifier::generate_with_len(129),
            Err(PkceError::VerifierLength(129))
        );
    }

    #[test]
    fn every_unreserved_character_is_drawn() {
        let mut seen = [false; 256];
        for _ in 0..200 {
            for b in CodeVerifier::generate_with_len(128).unwrap().0.bytes() {
                seen[usize::from(b)] = true;
            }
        }
        assert!(UNRESERVED.iter().all(|&b| seen[usize::from(b)]));
    }

    #[test]
    fn bad_verifiers_and_challenges_are_refused() {
        assert_eq!(
            CodeVerifier::parse("short"),
            Err(PkceError::VerifierLength(5))
        );
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(129)),
            Err(PkceError::VerifierLength(129))
        );
        assert_eq!(
            CodeVerifier::parse(&format!("{}+", "a".repeat(42))),
            Err(PkceError::VerifierCharacter)
        );
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            CodeChallenge::parse(challenge, Some("plain")),
            Err(PkceError::UnsupportedMethod("plain".into()))
        );
        assert_eq!(
            CodeChallenge::parse(challenge, None),
            Err(PkceError::UnsupportedMethod(String::new()))
        );
        assert_eq!(
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM", Some("S256")),
            Err(PkceError::InvalidChallenge)
        );
        assert_eq!(
            CodeChallenge::parse(&challenge[..42], Some("S256")),
            Err(PkceError::InvalidChallenge)
        );
        let parsed = CodeChallenge::parse(challenge, Some("S256")).unwrap();
        // A verifier that is not one (too short, a bad character) never matches.
        assert!(!parsed.verify(""));
        assert!(!parsed.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk "));
    }

    #[test]
    fn debug_redacts_the_verifier() {
        let v = CodeVerifier::generate();
        let debug = format!("{v:?}");
        assert!(!debug.contains(v.as_str()));
        assert_eq!(debug, "CodeVerifier(<redacted>)");
    }
}
