//! `crv vm stats` and `crv top`.

use super::Ctx;
use super::daemon::unexpected;
use crate::args::TopArgs;
use crate::client::{Client, one_shot};
use crate::error::CliError;
use crate::output;
use crate::stats_view::{TopRow, print_top, print_vm, sort};
use crate::top;
use corvus_protocol::{Request, Response, VmRef};
use std::io::IsTerminal;
use std::time::Duration;

pub async fn vm_stats(ctx: &Ctx, vm: &str) -> Result<(), CliError> {
    let request = Request::VmStats {
        vm: VmRef::parse(vm),
    };
    match one_shot(&ctx.endpoint, request).await? {
        Response::VmStats(stats) if ctx.json => output::json(&stats),
        Response::VmStats(stats) => print_vm(&stats),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// The live screen on a terminal; one table (or JSON) otherwise, like
/// `top -b -n 1`.
pub async fn top(ctx: &Ctx, args: TopArgs) -> Result<(), CliError> {
    let mut client = Client::connect(&ctx.endpoint).await?;
    let once = args.once || ctx.json || !std::io::stdout().is_terminal();
    if !once {
        return top::run(&mut client, args.sort, Duration::from_secs(args.interval)).await;
    }
    let all = match client.request(Request::AllStats).await? {
        Response::AllStats(all) => all,
        other => return Err(unexpected(other)),
    };
    if ctx.json {
        output::json(&all);
    } else {
        let mut rows: Vec<TopRow> = all.iter().map(TopRow::of).collect();
        sort(&mut rows, args.sort, false);
        print_top(&rows, output::output_width());
    }
    Ok(())
}
