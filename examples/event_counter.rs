//! A complete datagram service on the postkit skeleton: it counts events by
//! key and logs the totals every `event_counter_report_interval` and when it
//! exits.  A datagram is one key (`login alice`, say: everything up to the
//! first white space is the key).  It answers nothing, so senders never wait.
//!
//! Running it under the README's `demo` master (the recipe it prints when
//! started by hand):
//!
//! ```text
//! cargo build --release --examples          # target/release/examples/event_counter
//! cargo run --release -- -c demo start      # daemon_directory is target/release
//! echo 'events unix-dgram n - n - 1 examples/event_counter -o event_counter_report_interval=5s' >> demo/master.cf
//! cargo run --release -- -c demo reload
//! python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"login alice", "demo/queue/public/events")'
//! sleep 6; grep event_counter demo/maillog  # ... postfix/event_counter[4711]: event login: 1
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use postkit::msg_info;
use postkit::server::dgram_server::DgramServer;

struct Counter {
    counts: BTreeMap<String, u64>,
    report_every: i32,
    last_report: Instant,
}

fn report(c: &mut Counter) {
    for (key, n) in &c.counts {
        msg_info!("event {key}: {n}");
    }
    c.last_report = Instant::now();
}

/// What to do instead of starting it by hand (a master sets GENERATION).
const RECIPE: &str = "event_counter is a service: a master starts it.  To run it under the README's demo master:

  cargo build --release --examples          # target/release/examples/event_counter
  cargo run --release -- -c demo start      # daemon_directory is target/release
  echo 'events unix-dgram n - n - 1 examples/event_counter -o event_counter_report_interval=5s' >> demo/master.cf
  cargo run --release -- -c demo reload
  python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b\"login alice\", \"demo/queue/public/events\")'
  sleep 6; grep event_counter demo/maillog  # ... postfix/event_counter[4711]: event login: 1
";

fn main() {
    if std::env::var_os("GENERATION").is_none() {
        eprint!("{RECIPE}");
        std::process::exit(2);
    }
    let state = Counter {
        counts: BTreeMap::new(),
        report_every: 60,
        last_report: Instant::now(),
    };
    DgramServer::new(state)
        .time_param("event_counter_report_interval", "60s", 1, 0, |c, v| {
            c.report_every = v
        })
        .solitary()
        .post_init(|_, ctx| ctx.max_use = 0)
        .loop_hook(|c, _| {
            let every = Duration::from_secs(c.report_every as u64);
            if c.last_report.elapsed() >= every {
                report(c);
            }
            Some(every.saturating_sub(c.last_report.elapsed()))
        })
        .exit_hook(|c, _| report(c))
        .run(|c, datagram, _| {
            let text = String::from_utf8_lossy(datagram);
            let key = text.split_whitespace().next().unwrap_or("(empty)");
            *c.counts.entry(key.to_string()).or_default() += 1;
        })
}
