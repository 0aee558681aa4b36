//! A trigger service on postkit's `trigger_server` skeleton, as pickup and
//! qmgr are run: it logs each wake-up it gets, from the master's timer
//! (master.cf's `wakeup` field) or from a client (`postkit::trigger`, or
//! Postfix's own, writing Postfix's wake-up byte `W`).
//!
//! ```text
//! # master.cf (the program in daemon_directory): woken every 60 s
//! tick  fifo  n  -  n  60  1  wakeup_log
//! ```

use postkit::msg_info;
use postkit::server::trigger_server::TriggerServer;

fn main() {
    TriggerServer::new(0u64)
        .solitary()
        .post_init(|_, ctx| ctx.max_use = 0)
        .run(|woken, trigger, _ctx| {
            *woken += 1;
            msg_info!(
                "wake-up {woken}: \"{}\"",
                String::from_utf8_lossy(trigger).escape_default()
            );
        })
}
