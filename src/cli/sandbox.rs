//! `firedrill sandbox up|down`: the practice stack.

use std::path::PathBuf;

use super::Global;
use crate::aws::Aws;
use crate::output::{Format, emit};
use crate::{Error, Result, sandbox};

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
        /// One stack for every team of this drill, each in its own account through the
        /// drill's profile or role for it.
        #[arg(long, value_name = "DRILL")]
        drill: Option<PathBuf>,
        /// Parts beyond the classic stack (EC2, load balancer, auto scaling, DNS, IAM):
        /// `serverless` adds a REST API (stage prod) → a Lambda function → a DynamoDB
        /// table, and an S3 bucket of static content with a bucket policy; `containers`
        /// an ECS cluster with a Fargate service behind the load balancer (`/container*`).
        #[arg(long, value_enum, value_delimiter = ',')]
        with: Vec<sandbox::Extra>,
    },
    /// Delete exactly what `up` created, and what firedrill launched into the stack.
    Down {
        #[arg(long, default_value = "firedrill")]
        name: String,
        /// Every team's stack of this drill.
        #[arg(long, value_name = "DRILL")]
        drill: Option<PathBuf>,
        /// Images and snapshots firedrill took of the stack's instances before
        /// terminating them: listed and kept for the investigation, or deleted.
        #[arg(long, value_enum, default_value_t = Evidence::Keep)]
        evidence: Evidence,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Evidence {
    Keep,
    Delete,
}

/// What `--output json` prints for one stack (its schema: `firedrill schema --command
/// sandbox`); with `--drill`, an array of them, one per team.
pub(super) type Output = crate::sandbox::Sandbox;

pub async fn exec(args: Args, g: &Global) -> Result<()> {
    let drill = match &args.command {
        Command::Up { drill, .. } | Command::Down { drill, .. } => drill.clone(),
    };
    // Where each stack goes: the credentials' account, or every team's.
    let per_team = drill.is_some();
    let places: Vec<(Option<String>, Aws)> = match drill {
        None => vec![(None, g.aws().await?)],
        Some(path) => {
            let drill = crate::drill::load(&path).map_err(Error::Input)?;
            let teams = crate::drill::runner::connect(&drill, &g.aws).await?;
            teams.into_iter().map(|t| (Some(t.team.name.clone()), t.aws)).collect()
        }
    };
    // In JSON, one stack's document, or with --drill an array of every team's.
    let mut all = Vec::new();
    for (team, aws) in &places {
        let (sb, verb) = match &args.command {
            Command::Up { name, ami, with, .. } => {
                (sandbox::up(aws, &g.store()?, name, ami.as_deref(), with).await?, "created")
            }
            Command::Down { name, evidence, .. } => {
                (sandbox::down(aws, &g.store()?, name, *evidence == Evidence::Delete).await?, "deleted")
            }
        };
        if g.output == Format::Text {
            print(&sb, team.as_deref(), verb);
        }
        all.push(sb);
    }
    match (g.output, per_team) {
        (Format::Json, false) => emit(g.output, &all[0], |_| String::new()),
        (Format::Json, true) => emit(g.output, &all, |_| String::new()),
        (Format::Text, _) => {}
    }
    Ok(())
}

fn print(sb: &sandbox::Sandbox, team: Option<&str>, verb: &str) {
    let team = team.map(|t| format!("team {t}: ")).unwrap_or_default();
    emit(Format::Text, sb, |sb| {
        let mut s = format!("{team}sandbox {} {verb} in account {} ({})\n", sb.name, sb.account, sb.region);
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
        let extras: [(&str, &Option<String>); 6] = [
            ("bucket (Tier=static)", &sb.bucket),
            ("table (Tier=data)", &sb.table),
            ("function (Tier=function)", &sb.function),
            ("API prod stage (Tier=api)", &sb.api_url),
            ("ECS cluster (Tier=containers)", &sb.cluster),
            ("ECS service (Tier=containers)", &sb.service),
        ];
        let extras = extras.into_iter().filter_map(|(k, v)| Some((k, v.clone()?)));
        for (k, v) in rows.into_iter().chain(extras) {
            s += &format!("  {k:<32} {v}\n");
        }
        for e in &sb.evidence {
            let what = if e.deleted { "deleted" } else { "kept" };
            let run = e.run.as_deref().map(|r| format!(", run {r}")).unwrap_or_default();
            s += &format!("  evidence {what:<23} {} {} (of {}{run})\n", e.kind, e.id, e.of);
        }
        if sb.evidence.iter().any(|e| !e.deleted) {
            s += "  (evidence is kept for the investigation; `sandbox down --evidence delete` deletes it)\n";
        }
        s
    });
}
