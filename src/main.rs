//! The postkit multi-call executable.  Run as `postkit COMMAND ...`, or under
//! a daemon's own name (a link named `postlogd`, say), which is how a master
//! (postkit's or Postfix's) starts it from daemon_directory.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(postkit::internal::commands::dispatch(&args));
}
