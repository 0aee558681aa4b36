//! Protocol constants every program shares (as Postfix's mail_proto.h).

/// The largest datagram a request may be: the skeleton's receive buffer,
/// so longer ones are cut by the kernel.  A log record is one datagram, so
/// this is also the longest record postlogd writes, the longest one its
/// clients send, and the longest line the log writers' cut-line check
/// expects.
pub const DGRAM_BUF_SIZE: usize = 4096;
