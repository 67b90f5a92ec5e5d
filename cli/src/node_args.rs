//! The `crv node` command line. Doc comments are the help text.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the nodes: address, state (live or dead), CPUs, RAM, free RAM, VMs
    List,
    /// Show one node
    Show(NodeTarget),
}

#[derive(Debug, Args)]
pub struct NodeTarget {
    /// Node name
    pub node: String,
}
