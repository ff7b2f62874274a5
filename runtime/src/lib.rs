//! The Jetway node's composition root and the `jetway` binary: the command
//! line, resource loading, the component factory, the node's lifecycle (what
//! starts in which order, and the orderly stop), `jetway run` and
//! `jetway bench`.

pub mod cli;
pub mod components;
pub mod embedded;
pub mod node;
pub mod resources;
pub mod run;
