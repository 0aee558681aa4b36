//! The child's side of the master/child protocol and the skeleton built on
//! it: `master_proto` (descriptors 3-6, the status record, `GENERATION`),
//! `mail_flow` (flow tokens), `fds` (claiming inherited descriptors),
//! `dgram_batch` (recvmmsg batches) and `dgram_server` (the skeleton a
//! datagram service is written on).

pub mod dgram_batch;
pub mod dgram_server;
#[doc(hidden)]
pub mod fds;
pub mod mail_flow;
pub mod master_proto;
