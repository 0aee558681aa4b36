//! postkit: Postfix's datagram-server skeleton, master daemon and log service.
//!
//! The layout follows Postfix's own split: [`util`] holds what knows nothing of
//! mail, [`global`] the configuration and logging every program shares, and
//! [`master`] the master/child protocol and the `dgram_server` skeleton.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod commands;
pub mod control;
pub mod daemons;
pub mod global;
pub mod master;
pub mod postconf;
pub mod postlog;
pub mod postlogd;
pub mod server;
pub mod util;
