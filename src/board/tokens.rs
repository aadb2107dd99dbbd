//! Who may open a team's page or the instructor's: one random token each, made when the
//! drill starts and shown once (printed with `--serve`, written with `--tokens-file`).
//! The drill's journal keeps only each token's SHA-256, so a board in any process that
//! reads the store checks a token without the store holding it.

use std::collections::BTreeMap;

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

use crate::{Error, Result};

/// Who holds the instructor's token.
pub const INSTRUCTOR: &str = "instructor";

/// The tokens of one drill, by who holds them (a team's name, or [`INSTRUCTOR`]).
#[derive(Clone, Debug, Serialize)]
pub struct Tokens(pub BTreeMap<String, String>);

impl Tokens {
    /// New random tokens for each team and the instructor.
    pub fn generate<'a>(teams: impl IntoIterator<Item = &'a str>) -> Result<Tokens> {
        let rng = SystemRandom::new();
        let mut out = BTreeMap::new();
        for who in teams.into_iter().chain([INSTRUCTOR]) {
            let mut bytes = [0u8; 16];
            rng.fill(&mut bytes).map_err(|_| Error::Failed("no randomness for the board's tokens".into()))?;
            out.insert(who.to_owned(), hex(&bytes));
        }
        Ok(Tokens(out))
    }

    /// Each token's SHA-256, by who holds it: what the journal keeps.
    pub fn hashes(&self) -> BTreeMap<String, String> {
        self.0.iter().map(|(who, t)| (who.clone(), hash(t))).collect()
    }
}

/// A token's SHA-256, as hex.
pub fn hash(token: &str) -> String {
    hex(digest(&SHA256, token.as_bytes()).as_ref())
}

/// Who holds `token`, by the hashes a drill recorded; `None` for a token it did not make.
/// Compares every hash whole, so the time taken says nothing of how close a guess was.
pub fn holder<'a>(hashes: &'a BTreeMap<String, String>, token: &str) -> Option<&'a str> {
    let given = hash(token);
    let mut found = None;
    for (who, h) in hashes {
        let same = h.len() == given.len() && h.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if same {
            found = Some(who.as_str());
        }
    }
    found
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_known_by_its_hash_only() {
        let t = Tokens::generate(["blue", "red"]).unwrap();
        assert_eq!(t.0.len(), 3);
        assert!(t.0.values().all(|v| v.len() == 32), "128 random bits each");
        let hashes = t.hashes();
        assert!(!hashes.values().any(|h| t.0.values().any(|v| v == h)), "no token in the hashes");
        assert_eq!(holder(&hashes, &t.0["red"]), Some("red"));
        assert_eq!(holder(&hashes, &t.0[INSTRUCTOR]), Some(INSTRUCTOR));
        assert_eq!(holder(&hashes, "0000"), None);
        assert_eq!(holder(&hashes, ""), None);
    }
}
