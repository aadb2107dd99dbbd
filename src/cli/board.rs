//! `firedrill board [DRILL] --listen ADDR`: the live scoreboard of a drill, from any
//! process that can read the state store: a drill another terminal (or a colleague, or
//! a scheduler) is running, or one that ended, replayed as it finished. Teams and the
//! instructor use the tokens the drill handed out (`run --tokens-file`).

use std::net::SocketAddr;

use super::Global;
use crate::Result;
use crate::drill::journal;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A drill id, or the id of one of its team runs (default: the newest drill).
    pub drill: Option<String>,
    /// Where to serve it: 127.0.0.1 keeps it on this machine; 0.0.0.0 opens it to the
    /// room's network (team and instructor pages still need their tokens).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let store = g.store()?;
    let id = journal::resolve(&store, args.drill.as_deref())?;
    let addr = crate::board::serve(store, id.clone(), args.listen).await?;
    crate::errln!("board of drill {id}: the room at http://{addr}/ (Ctrl-C to stop serving)");
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}
