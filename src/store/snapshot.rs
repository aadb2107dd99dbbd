//! Snapshot files: what a fault's targets looked like before it (and the exact change
//! planned for each), and right after it. One file per fault and phase, written whole and
//! fsync'd once, however many targets the fault has:
//!
//! ```text
//! snapshots/<n>-<fault>.json         {run_id, fault, fault_name, action, taken_at,
//!                                     targets: [{target, state, change}, ...]}
//! snapshots/<n>-<fault>.after.json   {run_id, fault, taken_at, targets: [{id, state}, ...]}
//! ```
//!
//! Runs recorded before these files held one target each (`snapshots/<n>-<i>-<id>.json`,
//! `{..., target, state, change}`; `.after.json`, `{taken_at, state}`) are read too.
//!
//! A run never trusts a file it did not write: the journal records the SHA-256 of every
//! file when it is written (`snapshot` events) and of every target's planned change (in
//! its `planned` event), and the reader checks both on the way back in. A snapshot that
//! was edited (a rule added, a change pointed at another group) is refused, naming the
//! file; revert restores nothing from it. Runs recorded before the digests are read
//! unchecked.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::target::Target;
use crate::{Error, Result};

/// A fault's snapshot: every target as described before the change, and the change.
/// `S` and `C` are the fault's `State` and `Change`, or JSON values.
#[derive(Debug, Serialize)]
pub struct Before<'a, S, C> {
    pub run_id: &'a str,
    pub fault: usize,
    pub fault_name: &'a str,
    pub action: &'a str,
    pub taken_at: String,
    pub targets: Vec<TargetBefore<'a, S, C>>,
}

/// One target's entry in a snapshot file: its state before, and the change.
#[derive(Debug, Serialize)]
pub struct TargetBefore<'a, S, C> {
    pub target: &'a Target,
    pub state: &'a S,
    pub change: &'a C,
}

/// The states of a fault's targets right after the change: what "still broken" looks like.
#[derive(Debug, Serialize)]
pub struct After<'a, S> {
    pub run_id: &'a str,
    pub fault: usize,
    pub taken_at: String,
    pub targets: Vec<TargetAfter<'a, S>>,
}

/// One target's entry in a post-break file: its state right after the change.
#[derive(Debug, Serialize)]
pub struct TargetAfter<'a, S> {
    pub id: &'a str,
    pub state: &'a S,
}

/// One target's entry in a fault's snapshot, as read back: its state before, and the change.
#[derive(Debug, Deserialize)]
pub struct BeforeEntry<S, C> {
    pub state: S,
    pub change: C,
}

/// One target's entry in a fault's post-break states, as read back.
#[derive(Debug, Deserialize)]
pub struct AfterEntry<S> {
    pub state: S,
}

/// Reads a run's snapshot files, each at most once however many of its targets are
/// asked for, keeping each file's text and where each target's entry is in it (parsed
/// into the fault's types only when asked for), and checking each against the digest
/// the journal recorded for it. Cloning shares what was read.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    /// Each file read, by path relative to the run directory.
    files: Arc<Mutex<HashMap<String, Arc<File>>>>,
    /// The SHA-256 each file had when the run wrote it, by relative path.
    digests: HashMap<String, String>,
}

/// The SHA-256 of `bytes`, in lower-case hex.
pub fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The digest of a change as recorded: of its compact JSON (keys in the order serde
/// writes them, which reading it back preserves).
pub fn change_sha256(change: &serde_json::Value) -> String {
    sha256(&serde_json::to_vec(change).expect("changes serialize"))
}

/// [`change_sha256`] of a change read back as its JSON text, pretty-printed or not:
/// whitespace outside strings is all that the pretty form adds, so without it the text
/// is the compact form again. No tree is built.
pub fn raw_sha256(json: &str) -> String {
    let mut compact = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json.as_bytes() {
        if in_string {
            compact.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if !b.is_ascii_whitespace() {
            in_string = b == b'"';
            compact.push(b);
        }
    }
    sha256(&compact)
}

#[derive(Debug)]
struct File {
    text: String,
    /// Where each target's entry is in `text`, by target id; `None` for a one-target file
    /// of an earlier run, which is the entry itself.
    entries: Option<HashMap<String, Range<usize>>>,
}

impl Reader {
    /// Expect the file `rel` to have the SHA-256 `digest` (from the journal).
    pub fn expect(&mut self, rel: &str, digest: &str) {
        self.digests.insert(rel.to_owned(), digest.to_owned());
    }

    /// Whether the journal recorded a digest for the file `rel`.
    pub fn knows(&self, rel: &str) -> bool {
        self.digests.contains_key(rel)
    }

    /// Target `id`'s entry in the run's file `rel`. `T` is a [`BeforeEntry`] or an
    /// [`AfterEntry`].
    pub fn entry<T: DeserializeOwned>(&self, files: &super::RunFiles, rel: &str, id: &str) -> Result<T> {
        let path = files.location_of(rel);
        let corrupt = |message: String| Error::Corrupt { path: path.clone(), message };
        let file = self.file(files, &path, rel)?;
        let text = match &file.entries {
            None => &file.text[..],
            Some(entries) => &file.text[entries.get(id).ok_or_else(|| corrupt(format!("no entry for {id}")))?.clone()],
        };
        serde_json::from_str(text).map_err(|e| corrupt(format!("{id}: {e}")))
    }

    fn file(&self, files: &super::RunFiles, path: &Path, rel: &str) -> Result<Arc<File>> {
        if let Some(f) = self.files.lock().unwrap_or_else(|e| e.into_inner()).get(rel) {
            return Ok(f.clone());
        }
        let bytes = files.read(rel)?;
        if let Some(expected) = self.digests.get(rel)
            && sha256(&bytes) != *expected
        {
            return Err(Error::Tampered(format!(
                "{} is not the file this run wrote: its SHA-256 differs from the one the journal recorded when it was written",
                path.display()
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::Corrupt { path: path.to_owned(), message: format!("not UTF-8: {e}") })?;
        let entries = index(&text).map_err(|e| Error::Corrupt { path: path.to_owned(), message: e.to_string() })?;
        let file = Arc::new(File { text, entries });
        self.files.lock().unwrap_or_else(|e| e.into_inner()).insert(rel.to_owned(), file.clone());
        Ok(file)
    }
}

/// Where each entry of a fault's file is, by target id (`None`: a one-target file).
fn index(text: &str) -> serde_json::Result<Option<HashMap<String, Range<usize>>>> {
    #[derive(Deserialize)]
    struct Entries<'a> {
        #[serde(borrow, default)]
        targets: Option<Vec<&'a RawValue>>,
    }
    #[derive(Deserialize)]
    struct Named {
        #[serde(default)]
        target: Option<Id>,
        #[serde(default)]
        id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let Some(targets) = serde_json::from_str::<Entries<'_>>(text)?.targets else {
        return Ok(None);
    };
    let mut entries = HashMap::with_capacity(targets.len());
    for raw in targets {
        let named: Named = serde_json::from_str(raw.get())?;
        if let Some(id) = named.target.map(|t| t.id).or(named.id) {
            // A borrowed raw value is a slice of `text`.
            let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            entries.insert(id, start..start + raw.get().len());
        }
    }
    Ok(Some(entries))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::{Value, json};

    use super::*;

    /// A run's files in a fresh local store, and the run's directory.
    fn dir(name: &str) -> (crate::store::RunFiles, PathBuf) {
        let root = std::env::temp_dir().join(format!("firedrill-snap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let d = root.join("runs/r");
        std::fs::create_dir_all(d.join("snapshots")).unwrap();
        (crate::store::Store::new(root).files("r"), d)
    }

    #[test]
    fn reads_each_target_of_a_fault_file_and_the_file_once() {
        let (files, d) = dir("many");
        let t = |id: &str| Target { id: id.into(), ..Target::default() };
        let (a, b) = (t("sg-a"), t("sg-b"));
        let (one, two, x, y) = (json!({"n": 1}), json!({"n": 2}), json!("x"), json!("y"));
        let before = Before {
            run_id: "r",
            fault: 0,
            fault_name: "web",
            action: "security-group.revoke-ingress",
            taken_at: "t".into(),
            targets: vec![
                TargetBefore { target: &a, state: &one, change: &x },
                TargetBefore { target: &b, state: &two, change: &y },
            ],
        };
        let (rel, digest) = files.write_json_all(&[("0-web".to_owned(), before)]).unwrap().remove(0);
        let mut reader = Reader::default();
        reader.expect(&rel, &digest);
        let e: BeforeEntry<Value, String> = reader.entry(&files, &rel, "sg-b").unwrap();
        assert_eq!((e.state, e.change.as_str()), (json!({"n": 2}), "y"));
        std::fs::remove_file(d.join(&rel)).unwrap();
        let e: BeforeEntry<Value, String> = reader.entry(&files, &rel, "sg-a").unwrap();
        assert_eq!(e.state, json!({"n": 1}), "read from what was read before");
        assert!(matches!(reader.entry::<BeforeEntry<Value, String>>(&files, &rel, "sg-c"), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn a_file_edited_after_it_was_written_is_refused() {
        let (files, d) = dir("edited");
        let t = Target { id: "sg-a".into(), ..Target::default() };
        let (state, change) = (json!({"rules": ["tcp 80"]}), json!("x"));
        let before = Before {
            run_id: "r",
            fault: 0,
            fault_name: "web",
            action: "a",
            taken_at: "t".into(),
            targets: vec![TargetBefore { target: &t, state: &state, change: &change }],
        };
        let (rel, digest) = files.write_json_all(&[("0-web".to_owned(), before)]).unwrap().remove(0);
        let path = d.join(&rel);
        let text = std::fs::read_to_string(&path).unwrap().replace("tcp 80", "tcp 0-65535 0.0.0.0/0");
        std::fs::write(&path, text).unwrap();
        let mut reader = Reader::default();
        reader.expect(&rel, &digest);
        let read = reader.entry::<BeforeEntry<Value, Value>>(&files, &rel, "sg-a");
        assert!(matches!(read, Err(Error::Tampered(ref m)) if m.contains("0-web.json")), "{read:?}");
        let change = json!({"rules": [{"description": "say \\\"hi\\\" ", "from_port": 80}], "group_id": "sg-1"});
        let pretty = serde_json::to_string_pretty(&change).unwrap();
        assert_eq!(raw_sha256(&pretty), change_sha256(&change), "the text read back hashes as the change did");
    }

    #[test]
    fn reads_the_one_target_files_of_earlier_runs() {
        let (files, d) = dir("one");
        let old = json!({"run_id": "r", "fault": 0, "fault_name": "web", "action": "a",
            "target": {"id": "sg-a"}, "taken_at": "t", "state": {"n": 1}, "change": "x"});
        std::fs::write(d.join("snapshots/0-0-sg-a.json"), old.to_string()).unwrap();
        std::fs::write(
            d.join("snapshots/0-0-sg-a.after.json"),
            json!({"taken_at": "t", "state": {"n": 0}}).to_string(),
        )
        .unwrap();
        let reader = Reader::default();
        let e: BeforeEntry<Value, String> = reader.entry(&files, "snapshots/0-0-sg-a.json", "sg-a").unwrap();
        assert_eq!((e.state, e.change.as_str()), (json!({"n": 1}), "x"));
        let e: AfterEntry<Value> = reader.entry(&files, "snapshots/0-0-sg-a.after.json", "sg-a").unwrap();
        assert_eq!(e.state, json!({"n": 0}));
    }
}
