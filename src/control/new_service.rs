//! `postkit new-service NAME`: a ready crate for a Postfix service on one
//! of postkit's skeletons, so that an author starts from something that
//! builds, runs under a master and passes `postkit check`, and changes the
//! handler.  Each skeleton's program is a small complete service that
//! declares one parameter of its own (`NAME_greeting`), to show the way.

use std::path::{Path, PathBuf};

const USAGE: &str = "usage: postkit new-service [--skeleton dgram|single|multi|event|trigger] [--postkit-path DIR] NAME [PARENT_DIR]
  write a crate for a service NAME on a postkit skeleton (multi by default) in
  PARENT_DIR/NAME (the current directory by default); its README says how to
  build it and the master.cf line that runs it
";

/// The skeletons, with the master.cf line of a service on each.
const SKELETONS: &[(&str, &str)] = &[
    ("dgram", "NAME  unix-dgram  n  -  n  -  1  NAME"),
    ("single", "127.0.0.1:7777  inet  n  -  n  -  4  NAME"),
    ("multi", "NAME  unix  -  n  n  -  2  NAME"),
    ("event", "NAME  unix  -  n  n  -  1  NAME"),
    ("trigger", "NAME  fifo  -  n  n  60  1  NAME"),
];

/// Runs the verb; its exit status.
pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(dir) => {
            println!(
                "postkit: wrote {}: build it with `cargo build --release` there; its README.md has the master.cf line",
                dir.display()
            );
            0
        }
        Err(why) if why.is_empty() => {
            print!("{USAGE}");
            0
        }
        Err(why) => {
            eprint!("postkit: fatal: {why}\n{USAGE}");
            2
        }
    }
}

fn run(args: &[String]) -> Result<PathBuf, String> {
    let mut skeleton = "multi".to_string();
    let mut postkit_path: Option<String> = None;
    let mut words = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--skeleton" => skeleton = it.next().ok_or("--skeleton needs a value")?.clone(),
            "--postkit-path" => {
                postkit_path = Some(it.next().ok_or("--postkit-path needs a value")?.clone())
            }
            o if o.starts_with('-') => return Err(format!("unknown option: {o}")),
            w => words.push(w.to_string()),
        }
    }
    let (name, parent) = match words.as_slice() {
        [name] => (name.clone(), ".".to_string()),
        [name, parent] => (name.clone(), parent.clone()),
        [] => return Err("a service name is needed".into()),
        _ => return Err(format!("unexpected argument '{}'", words[2])),
    };
    if !valid_name(&name) {
        return Err(format!(
            "bad service name \"{name}\": a lower-case letter, then letters, digits, '_' or '-'"
        ));
    }
    let line = SKELETONS
        .iter()
        .find(|(k, _)| *k == skeleton)
        .map(|(_, l)| *l)
        .ok_or_else(|| format!("unknown skeleton \"{skeleton}\""))?;
    let dir = Path::new(&parent).join(&name);
    // Made here, and everything in it made new (O_EXCL): in a directory
    // another user may write (/tmp), nothing of theirs is followed or
    // overwritten.
    std::fs::create_dir(&dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!("{} exists: not overwritten", dir.display()),
        _ => format!("mkdir {}: {e}", dir.display()),
    })?;
    std::fs::create_dir(dir.join("src"))
        .map_err(|e| format!("mkdir {}/src: {e}", dir.display()))?;
    let dependency = match postkit_path.or_else(source_tree) {
        Some(p) => format!("postkit = {{ path = \"{}\" }}", p.replace('"', "\\\"")),
        None => format!("postkit = \"{}\"", env!("CARGO_PKG_VERSION")),
    };
    let param = name.replace('-', "_");
    let write = |rel: &str, text: String| -> Result<(), String> {
        let path = dir.join(rel);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(|e| format!("write {}: {e}", path.display()))
    };
    write(
        "Cargo.toml",
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\n# Postfix's server skeletons.\n{dependency}\n\n\
             # A crate of its own, not a member of an enclosing workspace.\n[workspace]\n"
        ),
    )?;
    write(
        "src/main.rs",
        program(&skeleton)
            .replace("NAME", &name)
            .replace("PARAM", &param),
    )?;
    let abs = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
    let entry = line.replace("NAME", &name);
    write(
        "README.md",
        format!(
            "# {name}\n\nA Postfix service on postkit's `{skeleton}_server` skeleton.\n\n\
             ```sh\ncargo build --release\n\
             # A master runs commands from daemon_directory (postkit's and Postfix's alike):\n\
             ln -s {exe} \"$(postkit -c CONFIG_DIR postconf -h daemon_directory)/{name}\"\n```\n\n\
             then in master.cf, and `postkit -c CONFIG_DIR reload`:\n\n\
             ```text\n{entry}\n```\n\n`{param}_greeting` is its own parameter (main.cf, or `-o` in master.cf);\n\
             `postkit check` knows it.\n",
            exe = abs.join("target/release").join(&name).display()
        ),
    )?;
    Ok(dir)
}

/// A crate name that is also a Postfix service and program name.
fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// postkit's own source tree, when this program was built from one that
/// is still there.
fn source_tree() -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let manifest = std::fs::read_to_string(Path::new(dir).join("Cargo.toml")).ok()?;
    manifest
        .contains("name = \"postkit\"")
        .then(|| dir.to_string())
}

/// The program for a skeleton (NAME and PARAM filled in by the caller).
fn program(skeleton: &str) -> String {
    let body = match skeleton {
        "dgram" => DGRAM,
        "single" => SINGLE,
        "event" => EVENT,
        "trigger" => TRIGGER,
        _ => MULTI,
    };
    format!("//! NAME: a Postfix service on postkit's {skeleton}_server skeleton.\n{body}")
}

const DGRAM: &str = r#"
use postkit::msg_info;
use postkit::server::dgram_server::DgramServer;

#[derive(Default)]
struct Service {
    greeting: String,
    seen: u64,
}

fn main() {
    DgramServer::new(Service::default())
        .str_param("PARAM_greeting", "hello", 0, 0, |s, v| s.greeting = v)
        .run(|s, datagram, _ctx| {
            s.seen += 1;
            msg_info!("{} #{}: {} bytes", s.greeting, s.seen, datagram.len());
        })
}
"#;

const SINGLE: &str = r#"
use std::io::Write;

use postkit::server::single_server::SingleServer;

#[derive(Default)]
struct Service {
    greeting: String,
}

fn main() {
    SingleServer::new(Service::default())
        .str_param("PARAM_greeting", "hello", 0, 0, |s, v| s.greeting = v)
        .run(|s, client, _ctx| {
            if writeln!(client, "{}", s.greeting).is_err() {
                return;
            }
            while let Ok(Some(line)) = client.read_line() {
                if writeln!(client, "echo: {line}").is_err() {
                    return;
                }
            }
        })
}
"#;

const MULTI: &str = r#"
use std::io::Write;

use postkit::server::multi_server::MultiServer;

#[derive(Default)]
struct Service {
    greeting: String,
}

fn main() {
    MultiServer::new(Service::default())
        .str_param("PARAM_greeting", "hello", 0, 0, |s, v| s.greeting = v)
        .run(|s, client, _ctx| match client.read_line() {
            Ok(Some(line)) => {
                if writeln!(client, "{} {line}", s.greeting).is_err() {
                    client.disconnect();
                }
            }
            _ => client.disconnect(),
        })
}
"#;

const EVENT: &str = r#"
use std::io::Write;

use postkit::server::event_server::EventServer;

#[derive(Default)]
struct Service {
    greeting: String,
    lines: u64,
}

fn main() {
    EventServer::new(Service::default())
        .str_param("PARAM_greeting", "hello", 0, 0, |s, v| s.greeting = v)
        .run(
            |s, client, _ctx| {
                if writeln!(client, "{}", s.greeting).is_err() {
                    client.disconnect();
                }
            },
            |s, client, _ctx| match client.read_line() {
                Ok(Some(_)) => {
                    s.lines += 1;
                    if writeln!(client, "{}", s.lines).is_err() {
                        client.disconnect();
                    }
                }
                _ => client.disconnect(),
            },
        )
}
"#;

const TRIGGER: &str = r#"
use postkit::msg_info;
use postkit::server::trigger_server::TriggerServer;

#[derive(Default)]
struct Service {
    greeting: String,
}

fn main() {
    TriggerServer::new(Service::default())
        .str_param("PARAM_greeting", "hello", 0, 0, |s, v| s.greeting = v)
        .solitary()
        .run(|s, trigger, _ctx| {
            msg_info!("{}: woken with {:?}", s.greeting, String::from_utf8_lossy(trigger));
        })
}
"#;
