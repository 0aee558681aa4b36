//! Which program to run: by the name the executable was started under
//! (how a master starts `postlogd`), else by the command word:
//! `postkit [-c DIR] COMMAND [ARGS...]`.

const HELP: &str = "usage: postkit [-c config_dir] COMMAND [args...]
       postkit --version
control:
  start-fg [-v] [-V]  run the master in the foreground (writes a rootless
                      default configuration to config_dir if it has no main.cf)
  start               run the master in the background
  stop | reload       stop it, or make it re-read main.cf and master.cf
  abort               tell the master to stop, without waiting for it
  restart | upgrade   re-execute the master in place (upgrade: the program now
                      on disk), keeping every socket and running service
  status [--json | --prometheus]
                      each service's processes, busy/idle, spawns, throttles;
                      exit status 0 healthy, 1 not running, 3 a service throttled
  check               validate main.cf, master.cf and the queue directories
  logrotate           rotate maillog_file
(every verb answers --help)
authors:
  new-service [--skeleton dgram|single|multi|event|trigger] NAME [PARENT_DIR]
                      write a crate for a service on a postkit skeleton
programs:
  postconf [-dfhHnpx] [-M|-F|-P] [-e|-X|-#] [-C class] [-o name=value] [name...]
                                                show or edit parameters (as Postfix's
                                                postconf; -b/-t run Postfix's bounce,
                                                -a/-A/-T describe Postfix's own build and
                                                are answered by its postconf)
  postlog [-i] [-p priority] [-t tag] [text...] log a record
  master [-DdistvVw] [-e secs]                  the master daemon itself (as
                                                Postfix's master(8); -V: log to stderr)
  postlogd ...                                  the log service (run by a master)
";

/// `postkit VERSION (commit COMMIT; Postfix 3.7.11 compatible)`.
pub fn version() -> String {
    format!(
        "postkit {} (commit {}; compatible with Postfix {})",
        env!("CARGO_PKG_VERSION"),
        env!("POSTKIT_COMMIT"),
        crate::global::mail_params::find("mail_version")
            .map(|d| d.default_text(&crate::global::mail_conf::MailConf::empty("/")))
            .unwrap_or_default()
    )
}

/// Runs the program `args` asks for and returns its exit status.
pub fn dispatch(args: &[String]) -> i32 {
    let argv0 = args.first().map(String::as_str).unwrap_or("postkit");
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    match base {
        "postconf" => return crate::postconf::main(argv0, &args[1..]),
        "postlog" => return crate::postlog::main(&args[1..]),
        "master" => return crate::master::master::main(args),
        // Postfix's own command, for the verbs postkit's master serves.
        "postfix" => return crate::control::postfix_cmd::main(args),
        _ => {}
    }
    if let Some(d) = crate::daemons::find(base) {
        return (d.main)(args);
    }
    let mut rest = &args[1.min(args.len())..];
    let mut config_dir: Option<String> = None;
    while let Some(first) = rest.first() {
        if first == "-c" && rest.len() > 1 {
            config_dir = Some(rest[1].clone());
            rest = &rest[2..];
        } else if let Some(d) = first.strip_prefix("-c").filter(|d| !d.is_empty()) {
            config_dir = Some(d.to_string());
            rest = &rest[1..];
        } else {
            break;
        }
    }
    let with_config = |rest: &[String]| -> Vec<String> {
        let mut v = Vec::new();
        if let Some(d) = &config_dir {
            v.extend(["-c".to_string(), d.clone()]);
        }
        v.extend(rest.iter().cloned());
        v
    };
    let Some(command) = rest.first() else {
        print!("{HELP}");
        return 0;
    };
    if let Some(d) = crate::daemons::find(command) {
        let mut v = vec![command.to_string()];
        v.extend(rest[1..].iter().cloned());
        return (d.main)(&v);
    }
    match command.as_str() {
        "postconf" => crate::postconf::main("postconf", &with_config(&rest[1..])),
        "postlog" => crate::postlog::main(&with_config(&rest[1..])),
        "master" => {
            let mut v = vec!["master".to_string()];
            v.extend(with_config(&rest[1..]));
            crate::master::master::main(&v)
        }
        "start" | "start-fg" | "stop" | "abort" | "reload" | "restart" | "upgrade" | "status"
        | "check" | "logrotate" => {
            let dir = config_dir.unwrap_or_else(crate::global::mail_conf::config_dir_from_env);
            crate::control::run(&dir, command, &rest[1..])
        }
        "new-service" => crate::control::new_service::main(&rest[1..]),
        "--version" | "-V" | "version" => {
            println!("{}", version());
            0
        }
        "-h" | "--help" | "help" => {
            print!("{HELP}");
            0
        }
        other => {
            eprintln!("postkit: unknown command: {other}\n{HELP}");
            2
        }
    }
}
