//! The child's side of the master/child protocol and the skeletons built
//! on it: `master_proto` (descriptors 3-6, the status record,
//! `GENERATION`), `mail_flow` (flow tokens), `fds` (claiming inherited
//! descriptors), `mail_server` (what every skeleton shares: the builder,
//! the context, the start-up), and the skeletons: `dgram_server` (with
//! `dgram_batch`, recvmmsg batches), `single_server`, `multi_server` and
//! `event_server` (stream clients, `client` and `stream_accept`) and
//! `trigger_server` (wake-ups).

pub mod client;
pub mod dgram_batch;
pub mod dgram_server;
pub(crate) mod drain;
pub mod event_server;
#[doc(hidden)]
pub mod fds;
pub mod mail_flow;
pub mod mail_server;
pub mod master_proto;
pub mod multi_server;
pub mod single_server;
#[doc(hidden)]
pub(crate) mod stream_accept;
pub mod trigger_server;
