//! `crv network create | list | show | delete`.

use super::Ctx;
use super::daemon::unexpected;
use crate::client::one_shot;
use crate::error::CliError;
use crate::network_args::{NetworkCommand, NetworkCreateArgs};
use crate::{network_output, output};
use corvus_protocol::{NetworkInfo, NetworkRef, NetworkSpec, Request, Response};

pub async fn run(ctx: &Ctx, command: NetworkCommand) -> Result<(), CliError> {
    match command {
        NetworkCommand::Create(args) => create(ctx, args).await,
        NetworkCommand::List => {
            match one_shot(&ctx.endpoint, Request::ListNetworks).await? {
                Response::Networks(networks) if ctx.json => output::json(&networks),
                Response::Networks(networks) => network_output::list(&networks),
                other => return Err(unexpected(other)),
            }
            Ok(())
        }
        NetworkCommand::Show(target) => {
            let request = Request::ShowNetwork {
                network: NetworkRef::parse(&target.network),
            };
            let network = expect_network(one_shot(&ctx.endpoint, request).await?)?;
            if ctx.json {
                output::json(&network);
            } else {
                network_output::show(&network);
            }
            Ok(())
        }
        NetworkCommand::Delete(target) => {
            let request = Request::DeleteNetwork {
                network: NetworkRef::parse(&target.network),
            };
            match one_shot(&ctx.endpoint, request).await? {
                Response::NetworkDeleted { id, name } if ctx.json => {
                    output::json(&serde_json::json!({ "deleted": { "id": id, "name": name } }));
                    Ok(())
                }
                Response::NetworkDeleted { id, name } => {
                    println!("deleted network '{name}' (id {id})");
                    Ok(())
                }
                other => Err(unexpected(other)),
            }
        }
    }
}

async fn create(ctx: &Ctx, args: NetworkCreateArgs) -> Result<(), CliError> {
    let spec = NetworkSpec {
        name: args.name,
        subnet: args.subnet,
        mode: args.mode,
        dhcp_range: args.dhcp_range,
        dns_domain: args.dns_domain,
    };
    let request = Request::CreateNetwork { spec };
    let network = expect_network(one_shot(&ctx.endpoint, request).await?)?;
    if ctx.json {
        output::json(&network);
    } else {
        println!(
            "created network '{}' (id {}, {} {}, gateway {})",
            network.name, network.id, network.mode, network.subnet, network.gateway
        );
    }
    Ok(())
}

fn expect_network(response: Response) -> Result<Box<NetworkInfo>, CliError> {
    match response {
        Response::Network(network) => Ok(network),
        other => Err(unexpected(other)),
    }
}
