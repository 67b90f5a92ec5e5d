//! `crv vm exec` and `crv vm ip`: what the guest agent does and says.

use super::Ctx;
use super::daemon::unexpected;
use crate::args::{ExecArgs, IpArgs};
use crate::client::one_shot;
use crate::error::CliError;
use crate::output;
use corvus_protocol::{ExecSpec, Request, Response, VmRef};
use std::io::{IsTerminal, Read, Write};

pub async fn exec(ctx: &Ctx, args: ExecArgs) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let input = if stdin.is_terminal() {
        None
    } else {
        let mut bytes = Vec::new();
        stdin
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|err| CliError::Failed(format!("cannot read stdin: {err}")))?;
        (!bytes.is_empty()).then_some(bytes)
    };
    let request = Request::GuestExec {
        vm: VmRef::parse(&args.vm),
        spec: ExecSpec {
            command: args.command,
            input,
            timeout_secs: args.timeout,
        },
    };
    let output = match one_shot(&ctx.endpoint, request).await? {
        Response::Exec(output) => output,
        other => return Err(unexpected(other)),
    };
    if ctx.json {
        output::json(&serde_json::json!({
            "exit_code": output.exit_code,
            "stdout": String::from_utf8_lossy(&output.stdout),
            "stderr": String::from_utf8_lossy(&output.stderr),
            "truncated": output.truncated,
        }));
    } else {
        // The command's own bytes, as a shell would show them.
        let _ = std::io::stdout().write_all(&output.stdout);
        let _ = std::io::stderr().write_all(&output.stderr);
        if output.truncated {
            eprintln!("crv: the guest agent cut the output (it keeps 16 MiB per stream)");
        }
    }
    let _ = std::io::stdout().flush();
    let code = output.exit_code;
    if code != 0 {
        // Like ssh: crv exits with the remote command's status (0-255).
        std::process::exit(code.clamp(0, 255));
    }
    Ok(())
}

pub async fn ip(ctx: &Ctx, args: IpArgs) -> Result<(), CliError> {
    let request = Request::GuestInterfaces {
        vm: VmRef::parse(&args.vm),
        timeout_secs: args.timeout,
    };
    let interfaces = match one_shot(&ctx.endpoint, request).await? {
        Response::GuestInterfaces(interfaces) => interfaces,
        other => return Err(unexpected(other)),
    };
    if ctx.json {
        output::json(&interfaces);
        return Ok(());
    }
    for interface in &interfaces {
        let mac = interface.mac_address.as_deref().unwrap_or("-");
        let addresses = if interface.addresses.is_empty() {
            "-".to_owned()
        } else {
            interface.addresses.join(" ")
        };
        println!(
            "{}",
            output::safe(&format!("{}  {mac}  {addresses}", interface.name))
        );
    }
    Ok(())
}
