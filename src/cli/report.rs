//! `firedrill report [DRILL|RUN] --format markdown|html|json`: a drill written up.

use std::path::PathBuf;

use super::Global;
use crate::Result;
use crate::drill::{journal, report};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Html,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A drill id, or the run id of one of its teams (default: the newest drill).
    pub drill: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    /// Write here instead of stdout.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

/// Write the report readable by all, writable by its owner only (0644), whatever the
/// umask or the mode of a report it replaces.
fn write_report(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let doing = crate::Error::store("write report", path);
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(path).map_err(doing)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(crate::Error::store("write report", path))?;
    file.write_all(text.as_bytes()).map_err(crate::Error::store("write report", path))
}

/// What `--format json` prints (its schema: `firedrill schema --command report`).
pub(super) type Output = crate::drill::report::Report;

pub fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    let id = journal::resolve(&store, args.drill.as_deref())?;
    let r = report::build(journal::read(&store, &id)?);
    let text = match args.format {
        ReportFormat::Markdown => report::markdown(&r),
        ReportFormat::Html => report::html(&r),
        ReportFormat::Json => serde_json::to_string_pretty(&r).expect("report serializes") + "\n",
    };
    match args.out {
        Some(path) => {
            write_report(&path, &text)?;
            crate::errln!("wrote {}", path.display());
        }
        None => crate::output::out(&text),
    }
    Ok(())
}
