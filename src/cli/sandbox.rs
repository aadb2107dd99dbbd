//! `firedrill sandbox up|down`: the practice stack.

use super::Global;
use crate::output::emit;
use crate::{Result, sandbox};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create the practice stack in the account the credentials point at.
    Up {
        /// Name of the sandbox: prefixes every resource, tags them firedrill:sandbox=NAME.
        #[arg(long, default_value = "firedrill")]
        name: String,
        /// Image for the web instances (default: the newest Amazon Linux in the region).
        #[arg(long)]
        ami: Option<String>,
    },
    /// Delete exactly what `up` created.
    Down {
        #[arg(long, default_value = "firedrill")]
        name: String,
    },
}

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let aws = g.aws().await?;
    let (sb, verb) = match args.command {
        Command::Up { name, ami } => (sandbox::up(&aws, &g.state, &name, ami.as_deref()).await?, "created"),
        Command::Down { name } => (sandbox::down(&aws, &g.state, &name).await?, "deleted"),
    };
    emit(g.output, &sb, |sb| {
        let mut s = format!("sandbox {} {verb} in account {} ({})\n", sb.name, sb.account, sb.region);
        let health = match sb.healthy {
            Some(true) => " (healthy)",
            Some(false) => " (not healthy yet)",
            None => "",
        };
        let rows: [(&str, String); 11] = [
            ("site", sb.site.as_ref().map(|u| format!("{u}{health}")).unwrap_or_default()),
            ("vpc", sb.vpc.clone().unwrap_or_default()),
            ("public subnets (Tier=public)", sb.public_subnets.join(", ")),
            ("private subnets (Tier=private)", sb.private_subnets.join(", ")),
            (
                "security groups lb / web / db",
                [&sb.lb_security_group, &sb.web_security_group, &sb.db_security_group]
                    .map(|g| g.clone().unwrap_or_default())
                    .join(" / "),
            ),
            ("web instances (Tier=web)", sb.instances.join(", ")),
            ("instance role", sb.role.clone().unwrap_or_default()),
            ("load balancer", sb.load_balancer_dns.clone().unwrap_or_default()),
            ("target group", sb.target_group.clone().unwrap_or_default()),
            ("auto scaling group", sb.auto_scaling_group.clone().unwrap_or_default()),
            (
                "zone",
                format!("{} ({})", sb.zone_name.clone().unwrap_or_default(), sb.zone_id.clone().unwrap_or_default()),
            ),
        ];
        for (k, v) in rows {
            s += &format!("  {k:<32} {v}\n");
        }
        s
    });
    Ok(())
}
