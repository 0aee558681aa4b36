//! Which program to run: by the name the executable was started under, else
//! by the first argument.

const HELP: &str = "usage: postkit [-c config_dir] COMMAND [args...]
commands:
  postconf [-c dir] [-dnxhH] [-o name=value] [name...]   show main.cf parameters
";

/// Runs the program `args` asks for and returns its exit status.
pub fn dispatch(args: &[String]) -> i32 {
    let argv0 = args.first().map(String::as_str).unwrap_or("postkit");
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    if base == "postconf" {
        return crate::postconf::main(&args[1..]);
    }
    match args.get(1).map(String::as_str) {
        Some("postconf") => crate::postconf::main(&args[2..]),
        Some("-h" | "--help" | "help") | None => {
            print!("{HELP}");
            0
        }
        Some(other) => {
            eprintln!("postkit: unknown command: {other}\n{HELP}");
            2
        }
    }
}
