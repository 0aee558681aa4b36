//! A test fixture for the skeleton: records what it sees in `probe_log` and
//! does what `probe_mode` asks, so that tests can check the skeleton from
//! the outside.  `PROBE_OPTS` (comma-separated: solitary, unlimited,
//! privileged, in_flow_delay) adds skeleton options.

use std::io::Write;
use std::time::Duration;

use postkit::server::dgram_server::DgramServer;

#[derive(Default)]
struct Probe {
    log: String,
    /// Opened at the first note (before any chroot or privilege drop) and
    /// kept, so that notes made in the jail still reach the file.
    file: Option<std::fs::File>,
    mode: String,
    sleep: i32,
    watchdog: i32,
    dsn_maps: String,
}

fn note(p: &mut Probe, what: &str) {
    if p.file.is_none() {
        p.file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p.log)
            .ok();
    }
    // One write per note: the processes of a pool share the file, and a
    // line written in pieces could be split by another's.
    if let Some(f) = p.file.as_mut() {
        let _ = f.write_all(format!("{what}\n").as_bytes());
    }
}

fn main() {
    let opts = std::env::var("PROBE_OPTS").unwrap_or_default();
    let mut server = DgramServer::new(Probe::default())
        .str_param("probe_log", "/dev/null", 1, 0, |p, v| p.log = v)
        .str_param("probe_mode", "record", 0, 0, |p, v| p.mode = v)
        .time_param("probe_sleep", "0s", 0, 0, |p, v| p.sleep = v)
        .time_param("probe_watchdog", "1000s", 0, 0, |p, v| p.watchdog = v)
        .str_param("probe_dsn_filter", "", 0, 0, |p, v| p.dsn_maps = v)
        .pre_init(|p, ctx| {
            note(
                p,
                &format!(
                    "pre_init pid={} uid={} args={:?}",
                    std::process::id(),
                    nix::unistd::geteuid(),
                    ctx.argv
                ),
            )
        })
        .post_init(|p, _| {
            let groups: Vec<String> = nix::unistd::getgroups()
                .unwrap_or_default()
                .iter()
                .map(|g| g.to_string())
                .collect();
            let root_ok = std::path::Path::new("/pid").exists();
            note(
                p,
                &format!(
                    "post_init uid={} euid={} gid={} egid={} groups={} chrooted={root_ok}",
                    nix::unistd::getuid(),
                    nix::unistd::geteuid(),
                    nix::unistd::getgid(),
                    nix::unistd::getegid(),
                    groups.join(",")
                ),
            )
        })
        .pre_accept(|p, _| note(p, "pre_accept"))
        .exit_hook(|p, _| note(p, "exit"))
        .loop_hook(|_, _| Some(Duration::from_secs(3600)));
    for o in opts.split(',') {
        server = match o {
            "solitary" => server.solitary(),
            "unlimited" => server.unlimited(),
            "privileged" => server.privileged(),
            "in_flow_delay" => server.in_flow_delay(),
            "bounce_init" => server.bounce_init("probe_dsn_filter", |p| p.dsn_maps.clone()),
            _ => server,
        };
    }
    server.watchdog(|p| p.watchdog).run(|p, data, ctx| {
        note(
            p,
            &format!(
                "got {} {}",
                data.len(),
                String::from_utf8_lossy(&data[..data.len().min(40)])
            ),
        );
        // "dsn X.Y.Z reason": show what the delivery status filter makes of it.
        let text = String::from_utf8_lossy(data);
        if let (Some(rest), Some(filter)) = (text.strip_prefix("dsn "), &ctx.dsn_filter) {
            let (status, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            let dsn = postkit::tables::Dsn {
                status: status.into(),
                action: "failed".into(),
                reason: reason.into(),
            };
            note(p, &format!("dsn -> {:?}", filter.lookup(&dsn)));
        }
        // "hang" sticks one request, as a handler with a bug would.
        if p.mode == "stuck" || data == b"hang" {
            loop {
                std::thread::sleep(Duration::from_secs(p.sleep.max(1) as u64));
            }
        }
        if p.sleep > 0 {
            std::thread::sleep(Duration::from_secs(p.sleep as u64));
        }
    })
}
