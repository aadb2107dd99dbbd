//! `firedrill man`: manual pages in roff, generated from the command line's own
//! definition (clap_mangen): `firedrill(1)` on stdout, or one page per command
//! (`firedrill-run.1`, `firedrill-schedule-check.1`, …) written into `--dir`.

use std::path::PathBuf;

use clap::CommandFactory;

use super::{Cli, Global};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
#[command(after_help = "Install, for example:\n  \
    firedrill man --dir ~/.local/share/man/man1 && man firedrill-run")]
pub struct Args {
    /// Write a page for firedrill and for every command into this directory (created if
    /// missing), instead of printing firedrill(1).
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub fn exec(args: Args, _g: &Global) -> Result<()> {
    let cmd = Cli::command();
    let Some(dir) = args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page).map_err(|e| Error::Failed(format!("man page: {e}")))?;
        crate::output::out(&String::from_utf8_lossy(&page));
        return Ok(());
    };
    let failed = |e: std::io::Error| Error::Failed(format!("{}: cannot write man pages: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(failed)?;
    clap_mangen::generate_to(cmd, &dir).map_err(failed)?;
    let mut pages: Vec<_> = std::fs::read_dir(&dir).map_err(failed)?.flatten().map(|e| e.file_name()).collect();
    pages.retain(|n| n.to_string_lossy().starts_with("firedrill") && n.to_string_lossy().ends_with(".1"));
    crate::errln!("wrote {} man pages into {}", pages.len(), dir.display());
    Ok(())
}
