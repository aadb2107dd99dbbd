//! Source-located problems: `path:line:col: error: message`, then the source line with a
//! caret under the column, the way compilers print them. A file's problems are collected
//! and reported together ([`Diagnostics`]) so a user fixes them in one pass.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column in a source file. `line == 0` means "the whole file".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    /// A 1-based line and column.
    pub fn new(line: u64, column: u64) -> Self {
        Pos { line, column }
    }
}

impl From<serde_saphyr::Location> for Pos {
    fn from(loc: serde_saphyr::Location) -> Self {
        Pos::new(loc.line(), loc.column())
    }
}

/// One problem in an input file: where it is, what is wrong, and the source line.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub pos: Pos,
    pub message: String,
    /// The source line at `pos`, for the caret display.
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// A problem at `pos` in `source` (the file's text).
    pub fn at(path: &Path, source: &str, pos: Pos, message: impl Into<String>) -> Self {
        let source_line =
            (pos.line > 0).then(|| source.lines().nth(pos.line as usize - 1).map(str::to_owned)).flatten();
        Diagnostic { path: path.to_owned(), pos, message: message.into(), source_line }
    }

    /// A problem with the file as a whole (unreadable, empty, ...).
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Diagnostic { path: path.to_owned(), pos: Pos::default(), message: message.into(), source_line: None }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        if self.pos.line == 0 {
            return write!(f, "{path}: error: {}", self.message);
        }
        write!(f, "{path}:{}:{}: error: {}", self.pos.line, self.pos.column, self.message)?;
        if let Some(line) = &self.source_line {
            let num = self.pos.line.to_string();
            let pad = " ".repeat(num.len());
            // Keep the caret under the right character even when the line has tabs.
            let lead: String = line
                .chars()
                .take(self.pos.column.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n{pad} |\n{num} | {line}\n{pad} | {lead}^")?;
        }
        Ok(())
    }
}

/// Every problem found, across one or more files.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Add a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    /// Whether there are no problems.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Add every problem of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    /// `Ok(value)` when there were no problems, else every problem as one error.
    pub fn into_result<T>(self, value: T) -> crate::Result<T> {
        if self.0.is_empty() { Ok(value) } else { Err(crate::Error::Input(self)) }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() > 1 {
            write!(f, "\n{} problems found", self.0.len())?;
        }
        Ok(())
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["name", "action", "target", "params"];
        assert_eq!(did_you_mean("acton", keys), Some("action"));
        assert_eq!(did_you_mean("param", keys), Some("params"));
        assert_eq!(did_you_mean("zzzzzz", keys), None);
    }

    #[test]
    fn renders_location_and_caret() {
        let src = "name: x\n  acton: y\n";
        let d = Diagnostic::at(Path::new("f.yaml"), src, Pos::new(2, 3), "unknown field");
        assert_eq!(d.to_string(), "f.yaml:2:3: error: unknown field\n  |\n2 |   acton: y\n  |   ^");
    }
}
