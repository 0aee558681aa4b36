//! The control command (Postfix's `postfix` and `postfix-script`):
//! `postkit [-c DIR] start | start-fg | stop | abort | reload | status |
//! check | logrotate | restart | upgrade`.  Each says what it is doing and
//! records in the mail log what postfix-script records; `start-fg` in a
//! directory with no main.cf first writes a working rootless configuration
//! there.  Run as `postfix` (`postfix_cmd`), it speaks as Postfix's
//! command does: postfix-script's records only, on a terminal.

pub mod check;
pub mod default_config;
pub mod logrotate;
pub mod new_service;
pub mod postfix_cmd;
pub mod proven_master;
pub mod restart;
mod service_probe;
mod voice;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::master::master::{Master, MasterOptions, STARTUP_STDERR};
use crate::master::master_control::{CONTROL_SOCKET, query};
use crate::master::master_queue::{make_queue_dirs, running_master};
use crate::master::master_vars::MasterConf;
use crate::util::msg;
use proven_master::{MasterState, master_state};
pub(crate) use voice::postfix_script;
pub use voice::set_postfix_voice;
use voice::{already_running, fail, not_running, postfix_voice, record, say};

/// `postkit VERB --help`.
fn verb_help(command: &str) -> String {
    let (opts, what) = match command {
        "start" => (
            "",
            "run the master in the background; exit status 0 once it serves",
        ),
        "start-fg" => (
            " [-v] [-V]",
            "run the master in the foreground (-v: more verbose; -V: records to stderr too);\n  writes a rootless default configuration to config_dir if it has no main.cf",
        ),
        "stop" => (
            "",
            "stop the master: services drain what was accepted, the log service last",
        ),
        "abort" => ("", "tell the master to stop, without waiting for it"),
        "reload" => (
            "",
            "make the master re-read main.cf and master.cf (refused, with the reason, when\n  the master would refuse them)",
        ),
        "restart" => (
            "",
            "re-execute the master in place, keeping every socket and running service",
        ),
        "upgrade" => ("", "the same with the program now on disk, vetted first"),
        "status" => (
            " [--json | --prometheus]",
            "each service's processes, busy/idle, spawns, throttles; exit status 0 when every\n  service is healthy, 1 when no master runs, 3 when a service is throttled",
        ),
        "check" => ("", "validate main.cf, master.cf and the queue directories"),
        "logrotate" => ("", "rotate maillog_file"),
        _ => ("", ""),
    };
    format!("usage: postkit [-c config_dir] {command}{opts}\n  {what}\n")
}

/// Runs a control command; `config_dir` comes from `-c` or MAIL_CONFIG.
pub fn run(config_dir: &str, command: &str, args: &[String]) -> i32 {
    msg::set_tag(if postfix_voice() {
        "postfix"
    } else {
        "postkit"
    });
    msg::set_stderr(true);
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", verb_help(command));
        return 0;
    }
    let status_request = match args.first().map(String::as_str) {
        Some("--json") => "status json",
        Some("--prometheus") => "status prometheus",
        _ => "status",
    };
    if args.iter().any(|a| a == "--json") && args.iter().any(|a| a == "--prometheus") {
        msg::log(
            msg::Level::Fatal,
            "--json and --prometheus together: choose one; usage: postkit [-c config_dir] status [--json | --prometheus]",
        );
        return 2;
    }
    // Only start-fg takes options; anything else after a verb is a mistake
    // to point out, not to ignore.
    let allowed: &[&str] = match command {
        "start-fg" => &["-v", "-V"],
        "status" => &["--json", "--prometheus"],
        _ => &[],
    };
    if let Some(bad) = args.iter().find(|a| !allowed.contains(&a.as_str())) {
        let opts = if command == "start-fg" {
            " [-v] [-V]"
        } else {
            ""
        };
        msg::log(
            msg::Level::Fatal,
            &format!("unexpected argument '{bad}'; usage: postkit [-c config_dir] {command}{opts}"),
        );
        return 2;
    }
    if command == "start-fg" || command == "start" {
        match default_config::ensure(config_dir) {
            Ok(Some(summary)) => say(&summary),
            Ok(None) => {}
            Err(e) => return fail(&e),
        }
    }
    // The master and its children work in queue_directory: a relative
    // configuration directory would point elsewhere there.
    let absolute = std::fs::canonicalize(config_dir).map(|p| p.display().to_string());
    let config_dir = absolute.as_deref().unwrap_or(config_dir);
    crate::util::safe_env::set_var("MAIL_CONFIG", config_dir);
    // main.cf as the master reads it: a value the master would refuse is
    // refused here, on the terminal.
    // A reload the master would refuse (it keeps its running
    // configuration and only logs why) is refused here, with the file,
    // line and reason, and exit status 1.  As `postfix`, Postfix's exit
    // status stays (0: postfix-script does not check).
    let refuse_reload = |why: &dyn std::fmt::Display, queue: Option<String>| -> i32 {
        let state = queue.map(|q| master_state(&q));
        let what = match state {
            Some(MasterState::Postkit(_)) => {
                "nothing reloaded: the master keeps its running configuration"
            }
            Some(MasterState::NotRunning) => "nothing reloaded (the mail system is not running)",
            _ => "nothing reloaded",
        };
        fail(format!("{why}; {what}"))
    };
    let mc = match MasterConf::load(config_dir) {
        Err(e) if command == "reload" && !postfix_voice() => {
            return refuse_reload(&e, lenient_queue_directory(config_dir));
        }
        Ok(mc) => mc,
        // A running master can still be asked, reloaded or stopped: the
        // operator may be fixing the very main.cf that is broken.
        Err(e)
            if matches!(
                command,
                "stop" | "abort" | "status" | "reload" | "restart" | "upgrade"
            ) =>
        {
            return match lenient_queue_directory(config_dir) {
                Some(q) => {
                    msg::warn(&format!("{e}; going on with queue_directory {q}"));
                    control_running(command, &q, &master_state(&q), None, status_request)
                }
                None => fail(e),
            };
        }
        Err(e) => return fail(&e),
    };
    let params = &mc.params;
    // As `postfix start` checks first: a master.cf the master would refuse
    // is reported here, on the terminal, not only in the log.
    // So is a built-in service that would die at start on a parameter,
    // and a command that does not exist.
    if command == "reload"
        && !postfix_voice()
        && let Err(e) = mc.read_master_cf_as_configured(config_dir)
    {
        return refuse_reload(&e, Some(mc.params.queue_directory.clone()));
    }
    if command == "start" || command == "start-fg" {
        match mc.read_master_cf_as_configured(config_dir) {
            Ok(ents) => {
                let problems = mc.check_services(config_dir, &ents);
                if !problems.is_empty() {
                    for p in &problems {
                        msg::log(msg::Level::Fatal, p);
                    }
                    return 1;
                }
            }
            Err(e) => return fail(&e),
        }
    }
    // `check` looks at files only: it never asks a master (a master that
    // runs `check` before an upgrade in place would be asking itself).
    let state = if command == "check" {
        MasterState::NotRunning
    } else {
        master_state(&params.queue_directory)
    };
    // Only a proven postkit master is ever signalled or asked.
    let running = match (&state, command) {
        (MasterState::Unproven(why), "start" | "start-fg") => {
            return fail(format!("the mail system is already running: {why}"));
        }
        (
            MasterState::Unproven(why),
            "stop" | "abort" | "reload" | "status" | "logrotate" | "restart" | "upgrade",
        ) => {
            return fail(why);
        }
        (MasterState::Postkit(pid), _) => Some(*pid),
        _ => None,
    };
    match command {
        "start-fg" => {
            if let Some(pid) = running {
                return already_running(params, pid);
            }
            if let Err(e) = make_queue_dirs(params) {
                return fail(&e);
            }
            let log = if params.maillog_file.is_empty() {
                "syslog"
            } else {
                params.maillog_file.as_str()
            };
            say(format!(
                "starting the master in the foreground (configuration {config_dir}, queue {}, log {log}); stop it with Ctrl-C or `postkit -c {config_dir} stop`",
                params.queue_directory
            ));
            let opts = MasterOptions {
                config_dir: Some(config_dir.to_string()),
                foreground: true,
                stderr: args.iter().any(|a| a == "-V"),
                verbose: args.iter().filter(|a| *a == "-v").count() as u32,
                ..Default::default()
            };
            record(params, "starting the Postfix mail system");
            msg::set_tag("postfix/master");
            Master::run(opts)
        }
        "start" => {
            if let Some(pid) = running {
                return already_running(params, pid);
            }
            if let Err(e) = make_queue_dirs(params) {
                return fail(&e);
            }
            say(format!(
                "starting the mail system (configuration {config_dir})"
            ));
            record(params, "starting the Postfix mail system");
            // A control socket a dead master left behind would pass for
            // readiness below.
            let _ = std::fs::remove_file(Path::new(&params.queue_directory).join(CONTROL_SOCKET));
            let exe = std::env::current_exe().unwrap_or_else(|_| "postkit".into());
            let mut cmd = std::process::Command::new(exe);
            // Until it is ready the master copies its records to stderr,
            // here: a reason it could not write to the log (out of
            // descriptors, say) still reaches the operator.
            cmd.args(["master", "-c", config_dir])
                .env(STARTUP_STDERR, "1")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => return fail(format!("cannot run the master: {e}")),
            };
            let startup_text = child.stderr.take().map(|mut pipe| {
                std::thread::spawn(move || {
                    let mut text = String::new();
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
                    text
                })
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                // Running and ready: its control socket is in place only
                // once every service listens.
                let control = Path::new(&params.queue_directory).join(CONTROL_SOCKET);
                if let Some(pid) = running_master(&params.queue_directory)
                    && control.exists()
                {
                    say(format!("the mail system is running: PID: {pid}"));
                    std::mem::forget(child);
                    // A service that fails at once (a bad -o value, a
                    // command that cannot run) is said now, not found later.
                    std::thread::sleep(Duration::from_secs(1));
                    let failed = failed_services(&params.queue_directory);
                    for line in &failed {
                        msg::warn(line);
                    }
                    return i32::from(!failed.is_empty());
                }
                if let Ok(Some(st)) = child.try_wait() {
                    // Its reason, as it wrote it on stderr (also in the log
                    // when it could write there).
                    let text = startup_text.and_then(|t| t.join().ok()).unwrap_or_default();
                    for line in text.lines() {
                        eprintln!("{line}");
                    }
                    return fail(format!("the master exited at start ({st})"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            fail("daemon initialization failure -- see logs for details")
        }
        "stop" | "abort" | "reload" | "status" | "restart" | "upgrade" => control_running(
            command,
            &params.queue_directory,
            &state,
            Some(params),
            status_request,
        ),
        "check" => check::check(config_dir, &mc),
        "logrotate" => logrotate::logrotate(params, running),
        other => fail(format!("unknown command: {other}")),
    }
}

/// `postkit status`'s exit status when the master runs but some service
/// is throttled (0: every service healthy; 1: not running).
pub const DEGRADED: i32 = 3;

/// One line on the health of the services, and whether all are healthy
/// (none throttled).
fn health(report: &serde_json::Value) -> (String, bool) {
    let services = report["services"].as_array().cloned().unwrap_or_default();
    let procs: u64 = services
        .iter()
        .map(|s| s["processes"].as_u64().unwrap_or(0))
        .sum();
    let throttled: Vec<String> = services
        .iter()
        .filter(|s| s["throttled"] == true)
        .map(|s| {
            let name = s["name"].as_str().unwrap_or("?");
            match s["last_failure"].as_str() {
                Some(why) => format!("{name} ({why})"),
                None => name.to_string(),
            }
        })
        .collect();
    if throttled.is_empty() {
        (
            format!("healthy: {} services, {procs} processes", services.len()),
            true,
        )
    } else {
        (
            format!(
                "degraded: {} of {} services throttled: {}",
                throttled.len(),
                services.len(),
                throttled.join(", ")
            ),
            false,
        )
    }
}

/// The services the master counts failures for, with their last reason.
fn failed_services(queue_directory: &str) -> Vec<String> {
    let Some(report) = status_json(queue_directory) else {
        return Vec::new();
    };
    let services = report["services"].as_array().cloned().unwrap_or_default();
    services
        .iter()
        .filter(|s| s["failures"].as_u64().unwrap_or(0) > 0)
        .map(|s| {
            format!(
                "service {} failed at start: {}",
                s["name"].as_str().unwrap_or("?"),
                s["last_failure"].as_str().unwrap_or("see the log")
            )
        })
        .collect()
}

/// The master's `status json` answer, parsed (the machine-readable report
/// is what the control command reads, not the text for people).
fn status_json(queue_directory: &str) -> Option<serde_json::Value> {
    let text = query(queue_directory, "status json").ok()?;
    serde_json::from_str(&text).ok()
}

/// main.cf's queue_directory alone (when the rest does not convert).
fn lenient_queue_directory(config_dir: &str) -> Option<String> {
    let mut conf = crate::global::mail_conf::MailConf::read(config_dir, &mut |_| {}).ok()?;
    crate::global::mail_params::find("queue_directory")?
        .convert(&mut conf)
        .ok()
}

/// stop, reload and status: the commands that act on a running master.
fn control_running(
    command: &str,
    queue_directory: &str,
    state: &MasterState,
    params: Option<&crate::global::mail_params::MailParams>,
    status_request: &str,
) -> i32 {
    let running = match state {
        MasterState::Unproven(why) => return fail(why),
        MasterState::Postkit(pid) => Some(*pid),
        MasterState::NotRunning => None,
    };
    match command {
        "stop" => {
            let Some(pid) = running else {
                return not_running(params);
            };
            say(format!("stopping the mail system (master PID {pid})"));
            if let Some(p) = params {
                record(p, "stopping the Postfix mail system");
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            if wait_stopped(queue_directory, Duration::from_secs(5)) {
                say("stopped");
                return 0;
            }
            // Force only on a master proven again now: the pid may have
            // changed hands in the meantime.
            if master_state(queue_directory) != MasterState::Postkit(pid) {
                return fail(format!(
                    "the master (PID {pid}) did not stop within 5 seconds and no longer answers as a postkit master; not killed"
                ));
            }
            say("stopping the mail system with force");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            if wait_stopped(queue_directory, Duration::from_secs(2)) {
                say("stopped");
                0
            } else {
                fail(format!("the master (PID {pid}) did not stop"))
            }
        }
        "abort" => {
            let Some(pid) = running else {
                return not_running(params);
            };
            // As postfix-script's abort: the master is told to stop, and
            // nobody waits for it.
            say(format!("aborting the mail system (master PID {pid})"));
            if let Some(p) = params {
                record(p, "aborting the Postfix mail system");
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            0
        }
        "reload" => {
            let Some(pid) = running else {
                return not_running(params);
            };
            say(format!("refreshing the mail system (master PID {pid})"));
            if let Some(p) = params {
                record(p, "refreshing the Postfix mail system");
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
            0
        }
        "restart" | "upgrade" => {
            let Some(pid) = running else {
                return not_running(params);
            };
            let what = if command == "upgrade" {
                "upgrading the mail system in place (the master re-executes the program on disk)"
            } else {
                "restarting the mail system in place"
            };
            say(format!(
                "{what} (master PID {pid}); sockets and running services are kept"
            ));
            restart::restart_in_place(queue_directory, pid, params)
        }
        "status" if postfix_voice() => {
            let text = match running {
                Some(pid) => format!("the Postfix mail system is running: PID: {pid}"),
                None => "the Postfix mail system is not running".to_string(),
            };
            postfix_script(params, msg::Level::Info, &text);
            i32::from(running.is_none())
        }
        "status" => {
            let Some(_) = running else {
                say("the mail system is not running");
                return 1;
            };
            let text = match query(queue_directory, status_request) {
                Ok(text) => text,
                Err(e) => return fail(format!("cannot ask the master: {e}")),
            };
            print!("{text}");
            // Health, for a monitor or a container's health check: the
            // exit status (Postfix's `postfix status` keeps 0), and for
            // people a last line.  Nothing is logged.
            let parsed = if status_request == "status json" {
                serde_json::from_str(&text).ok()
            } else {
                status_json(queue_directory)
            };
            let Some(report) = parsed else {
                return 0;
            };
            let (summary, healthy) = health(&report);
            if status_request == "status" {
                println!("{summary}");
            }
            if healthy || postfix_voice() {
                0
            } else {
                DEGRADED
            }
        }
        other => fail(format!("unknown command: {other}")),
    }
}

/// Waits up to `limit` for the pid file's lock to be released.
fn wait_stopped(queue_directory: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if running_master(queue_directory).is_none() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
