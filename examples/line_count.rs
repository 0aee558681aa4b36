//! A service on postkit's `event_server` skeleton: its clients stay
//! connected as long as they like.  It greets each new client, answers
//! every line with the number of lines all its clients have sent so far,
//! and lets a client go at end of input.
//!
//! ```text
//! # master.cf (the program in daemon_directory)
//! count  unix  n  -  n  -  1  line_count
//! ```

use std::io::Write;

use postkit::server::event_server::EventServer;

fn main() {
    EventServer::new(0u64).run(
        |_, client, _ctx| {
            if writeln!(client, "ready").is_err() {
                client.disconnect();
            }
        },
        |lines, client, _ctx| match client.read_line() {
            Ok(Some(_)) => {
                *lines += 1;
                if writeln!(client, "{lines}").is_err() {
                    client.disconnect();
                }
            }
            _ => client.disconnect(),
        },
    )
}
