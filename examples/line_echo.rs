//! A line service on postkit's `single_server` skeleton: one client per
//! process at a time, as smtpd is run.  It greets the client (by the
//! address postscreen-style `pass` attributes give, when it has them),
//! answers each line with `echo: LINE`, and ends the connection at `quit`.
//!
//! In master.cf (the program in daemon_directory, as every command):
//!
//! ```text
//! 127.0.0.1:7777  inet  n  -  n  -  4  examples/line_echo
//! echopass        pass  n  -  n  -  4  examples/line_echo
//! ```
//!
//! then `nc 127.0.0.1 7777`; a `pass` service is handed connections by
//! another process (a descriptor and its attributes, as postscreen hands
//! them to `smtpd pass`).

use std::io::Write;

use postkit::server::single_server::SingleServer;

#[derive(Default)]
struct Echo {
    greeting: String,
}

fn main() {
    SingleServer::new(Echo::default())
        .str_param("line_echo_greeting", "hello", 0, 0, |e, v| e.greeting = v)
        .run(|e, client, ctx| {
            let from = client
                .pass_attrs()
                .and_then(|a| a.iter().find(|(n, _)| n == "client_address"))
                .map_or_else(|| "stranger".to_string(), |(_, v)| v.clone());
            if writeln!(client, "{} {from} ({})", e.greeting, ctx.service_name).is_err() {
                return;
            }
            while let Ok(Some(line)) = client.read_line() {
                if line.trim() == "quit" {
                    let _ = writeln!(client, "bye");
                    return;
                }
                if writeln!(client, "echo: {line}").is_err() {
                    return;
                }
            }
        })
}
