//! `firedrill completions SHELL`: the shell's completion script, generated from the
//! command line's own definition (clap_complete), so it knows every command and option.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Global};
use crate::Result;

#[derive(Debug, clap::Args)]
#[command(after_help = "Install, for example:\n  \
    bash: firedrill completions bash > ~/.local/share/bash-completion/completions/firedrill\n  \
    zsh:  firedrill completions zsh > \"${fpath[1]}/_firedrill\"\n  \
    fish: firedrill completions fish > ~/.config/fish/completions/firedrill.fish\n  \
    PowerShell: firedrill completions powershell >> $PROFILE")]
pub struct Args {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn exec(args: Args, _g: &Global) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "firedrill", &mut script);
    crate::output::out(&String::from_utf8_lossy(&script));
    Ok(())
}
