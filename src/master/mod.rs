//! The master/child protocol (status records, flow tokens, inherited
//! descriptors) and the datagram-server skeleton built on it.

pub mod dgram_batch;
pub mod dgram_server;
pub mod fds;
pub mod mail_flow;
// As Postfix's src/master/master.c: the daemon itself.
#[allow(clippy::module_inception)]
pub mod master;
pub mod master_ent;
pub mod master_listen;
pub mod master_proto;
pub mod master_spawn;
pub mod master_status;
