//! Real-QEMU tests of the corvus-qemu crate: one binary, a file per scenario.

mod adopt;
mod common;
mod drives;
mod images;
mod lifecycle;
mod network;
mod shares;
