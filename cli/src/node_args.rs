//! The `crv node` command line. Doc comments are the help text.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the nodes: address, state (live or dead), CPUs, RAM, free RAM, VMs
    List,
    /// Show one node
    Show(NodeTarget),
    /// Give a node no new VMs (placement skips it; its VMs keep running)
    Cordon(NodeTarget),
    /// Let a cordoned node take new VMs again
    Uncordon(NodeTarget),
    /// Cordon a node, then move its stopped VMs whose paths are all shared
    /// to the live node with the most free RAM, reporting each VM
    Drain(DrainArgs),
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Node name
    pub node: String,
    /// Also stop its running VMs whose paths are all shared, move them and
    /// start them on their new node
    #[arg(long)]
    pub stop: bool,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    /// VM name or id
    pub vm: String,
    /// The node to give it to: live, not cordoned
    #[arg(long)]
    pub node: String,
}

#[derive(Debug, Args)]
pub struct NodeTarget {
    /// Node name
    pub node: String,
}
