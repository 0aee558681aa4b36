//! The master/child protocol (status records, flow tokens, inherited
//! descriptors) and the datagram-server skeleton built on it.

pub mod dgram_server;
pub mod fds;
pub mod mail_flow;
pub mod master_proto;
pub mod master_spawn;
