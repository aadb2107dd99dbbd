//! The one place YAML is parsed, so fault files and `firedrill.yaml` report errors alike.
//!
//! We use `serde-saphyr` (pure Rust, no unsafe, maintained): it reports line and column
//! for every error and, through [`serde_saphyr::Spanned`], for every value we keep, which
//! is what lets validation errors after parsing point at the offending value. It rejects
//! duplicate keys, bounds alias expansion, and with `strict_booleans` reads `yes`/`on` as
//! strings, not booleans (the "Norway problem"). `serde_yaml` is archived and `serde_yml`
//! unsound, so neither is an option.

use std::borrow::Cow;
use std::path::Path;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
pub use serde_saphyr::Location;

use crate::diagnostic::{Diagnostic, Pos, did_you_mean};

/// A value with where it was written: serde-saphyr's `Spanned`, whose JSON Schema is the
/// value's own, so `firedrill schema` describes what is written (a foreign type cannot be
/// given a foreign trait, hence this twin with the same fields).
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    /// Where the value was used (an alias's position, for an aliased value).
    pub referenced: Location,
    /// Where the value was written.
    pub defined: Location,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(Spanned { value: s.value, referenced: s.referenced, defined: s.defined })
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// The largest input file (a fault, drill, schedule or guardrails file) firedrill reads:
/// far above any real one (the largest shipped is a few KiB), far below what would make
/// parsing it a problem.
pub const MAX_INPUT: u64 = 1 << 20;

/// The text of the input file `path`, refused before it is read if it is not a regular
/// file (a FIFO would block, a device such as `/dev/zero` never ends) or is larger than
/// [`MAX_INPUT`].
pub fn read_input(path: &Path) -> Result<String, Diagnostic> {
    use std::io::Read;
    let refuse = |why: String| Diagnostic::file(path, why);
    let meta = std::fs::metadata(path).map_err(|e| refuse(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a directory" } else { "not a regular file (a FIFO, a socket or a device)" };
        return Err(refuse(format!("cannot read: {what}; name a YAML file")));
    }
    let too_big = || refuse(format!("larger than {} KiB: not a firedrill file", MAX_INPUT / 1024));
    if meta.len() > MAX_INPUT {
        return Err(too_big());
    }
    let file = std::fs::File::open(path).map_err(|e| refuse(format!("cannot read: {e}")))?;
    let mut text = String::new();
    // It may have grown since it was looked at: read no more than the cap, and one byte.
    file.take(MAX_INPUT + 1).read_to_string(&mut text).map_err(|e| refuse(format!("cannot read: {e}")))?;
    if text.len() as u64 > MAX_INPUT {
        return Err(too_big());
    }
    Ok(text)
}

/// Whether the file at `path` has one of `keys` (written `name:`) at the top level: how
/// `validate` tells drills, schedules and other files from fault files.
pub fn has_top_level_key(path: &Path, keys: &[&str]) -> bool {
    read_input(path).is_ok_and(|text| text.lines().any(|l| keys.iter().any(|k| l.starts_with(k))))
}

/// Parse `source` (the text of `path`) into `T`, or one located diagnostic.
pub fn parse<T: DeserializeOwned>(path: &Path, source: &str) -> Result<T, Diagnostic> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options::<T>(source, options).map_err(|err| {
        let pos = err.location().map(Pos::from).unwrap_or_default();
        let message = improve(&err.without_snippet().to_string());
        Diagnostic::at(path, source, pos, message)
    })
}

/// serde's messages, made to read well after `path:line:col: error:`: drop the location
/// the YAML crate appends (we print it in front), and add "did you mean" to unknown
/// field and variant errors.
fn improve(message: &str) -> String {
    let mut msg = message.trim().to_owned();
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    for what in ["unknown field `", "unknown variant `"] {
        let Some(start) = msg.find(what) else {
            continue;
        };
        let rest = &msg[start + what.len()..];
        let Some(end) = rest.find('`') else { continue };
        let word = rest[..end].to_owned();
        // serde writes "expected one of `a`, `b`"; serde-saphyr rewrites it without backticks.
        let expected: Vec<&str> = rest[end + 1..]
            .split_once("one of")
            .map(|(_, list)| list)
            .unwrap_or(&rest[end + 1..])
            .split(',')
            .map(|s| s.trim().trim_matches('`'))
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(best) = did_you_mean(&word, expected.iter().copied()) {
            msg = format!("{msg}; did you mean `{best}`?");
        }
        break;
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        action: String,
        count: Option<u32>,
    }

    #[test]
    fn unknown_field_gets_location_and_suggestion() {
        let err = parse::<Doc>(Path::new("f.yaml"), "action: x\nacton: y\n").unwrap_err();
        assert_eq!(err.pos, Pos::new(2, 1), "{err}");
        assert!(err.message.starts_with("unknown field `acton`"), "{err}");
        assert!(err.message.ends_with("did you mean `action`?"), "{err}");
        assert!(!err.message.contains("line 2"), "location printed twice: {err}");
    }

    #[test]
    fn wrong_type_points_at_value() {
        let err = parse::<Doc>(Path::new("f.yaml"), "action: x\ncount: lots\n").unwrap_err();
        assert_eq!(err.pos.line, 2, "{err}");
        assert_eq!(err.pos.column, 8, "{err}");
    }

    #[test]
    fn yes_is_not_a_boolean() {
        #[derive(Deserialize)]
        struct B {
            v: String,
        }
        let b: B = parse(Path::new("f.yaml"), "v: yes\n").unwrap();
        assert_eq!(b.v, "yes");
    }
}
