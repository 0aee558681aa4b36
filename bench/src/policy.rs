//! A policy service inside real Postfix (issue 24's second performance
//! row): Debian's stock host (as the host section makes it) with
//! `check_policy_service` in smtpd's recipient restrictions, the policy
//! answered by postkit's multi_server (`bench_policy`, the example's
//! protocol: attributes in, `action=DUNNO` out) or by a small Python
//! policy daemon of the kind people run today (socketserver, a thread per
//! connection, on the same socket path), against no policy at all.
//! Figures: messages per second (smtp-source, 20 sessions) and the time of
//! the RCPT command, where smtpd asks the policy (p50 and p99 over
//! sequential transactions of the bench's own SMTP client).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postkit_kit::stock::StockHost;

use crate::stats::{fmt_range, stats};

/// The Python daemon: `python3 -c PY SOCKET`.
const PY: &str = r#"
import os, socketserver, sys
class Policy(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            attrs = {}
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                line = line.rstrip(b"\n")
                if not line:
                    break
                k, _, v = line.partition(b"=")
                attrs[k] = v
            self.wfile.write(b"action=DUNNO\n\n")
            self.wfile.flush()
path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
server = socketserver.ThreadingUnixStreamServer(path, Policy)
os.chmod(path, 0o666)
server.daemon_threads = True
server.serve_forever()
"#;

/// postkit's policy service, run by the master as `bench_policy`.
pub fn policy_service(args: &[String]) -> ! {
    use postkit::server::multi_server::MultiServer;
    MultiServer::new(()).run_with_args(args, |_, client, _| match client.read_attrs_plain() {
        Ok(_) => {
            if client.write_attrs_plain(&[("action", "DUNNO")]).is_err() {
                client.disconnect();
            }
        }
        Err(_) => client.disconnect(),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Policy {
    None,
    Postkit,
    Python,
}

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Policy::None => "no policy",
            Policy::Postkit => "postkit multi_server policy",
            Policy::Python => "Python policy daemon",
        }
    }
}

/// Kills the Python daemon when dropped.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn policy_host(exe: &std::path::Path, policy: Policy) -> StockHost {
    let host = crate::host::host(crate::host::Config::Postkit);
    let libexec = host.path().join("libexec");
    std::os::unix::fs::symlink(exe, libexec.join("bench_policy")).expect("symlink");
    let restriction = match policy {
        Policy::None => String::new(),
        Policy::Postkit => "check_policy_service unix:private/policy, ".into(),
        Policy::Python => "check_policy_service unix:private/pypolicy, ".into(),
    };
    let main_cf = host.path().join("main.cf");
    let mut text = std::fs::read_to_string(&main_cf).expect("main.cf");
    text.push_str(&format!(
        "smtpd_recipient_restrictions = {restriction}permit_mynetworks, reject_unauth_destination\n"
    ));
    std::fs::write(&main_cf, text).expect("main.cf");
    let master_cf = host.path().join("master.cf");
    let mut text = std::fs::read_to_string(&master_cf).expect("master.cf");
    // One process serves every smtpd (many clients per process), alone.
    text.push_str("policy unix - n n - 1 bench_policy\n");
    std::fs::write(&master_cf, text).expect("master.cf");
    host
}

/// Sequential SMTP transactions; the RCPT command's round trips, in µs.
fn rcpt_times(port: u16, n: usize) -> Result<Vec<f64>, String> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let mut w = s.try_clone().map_err(|e| e.to_string())?;
        let mut r = BufReader::new(s);
        // A reply, multi-line ones whole; its code.
        let reply = |r: &mut BufReader<TcpStream>| -> Result<String, String> {
            let mut line = String::new();
            loop {
                line.clear();
                r.read_line(&mut line).map_err(|e| e.to_string())?;
                if line.len() < 4 || line.as_bytes()[3] != b'-' {
                    return Ok(line.get(..3).unwrap_or("").to_string());
                }
            }
        };
        let cmd = |w: &mut TcpStream, r: &mut BufReader<TcpStream>, c: &str| {
            w.write_all(c.as_bytes()).map_err(|e| e.to_string())?;
            reply(r)
        };
        reply(&mut r)?;
        cmd(&mut w, &mut r, "EHLO bench.example.com\r\n")?;
        cmd(&mut w, &mut r, "MAIL FROM:<bench@example.com>\r\n")?;
        let t = Instant::now();
        let code = cmd(&mut w, &mut r, "RCPT TO:<sink@example.com>\r\n")?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        if code != "250" {
            return Err(format!("RCPT answered {code}"));
        }
        cmd(&mut w, &mut r, "DATA\r\n")?;
        cmd(&mut w, &mut r, "Subject: policy bench\r\n\r\nbody\r\n.\r\n")?;
        cmd(&mut w, &mut r, "QUIT\r\n")?;
    }
    Ok(times)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub fn run(exe: &std::path::Path, rounds: usize, scale: f64) -> Result<(), String> {
    println!(
        "\n## A policy service inside real Postfix: smtpd's check_policy_service answered by postkit's multi_server or by a Python daemon\n"
    );
    let messages = ((2000.0 * scale) as usize).max(200);
    let sequential = ((500.0 * scale) as usize).max(100);
    let rounds = rounds.min(3);
    let policies = [Policy::None, Policy::Postkit, Policy::Python];
    let hosts: Vec<StockHost> = policies.iter().map(|&p| policy_host(exe, p)).collect();
    let mut rates = vec![Vec::new(); policies.len()];
    let mut p50 = vec![Vec::new(); policies.len()];
    let mut p99 = vec![Vec::new(); policies.len()];
    for _ in 0..rounds {
        for (pi, (&policy, host)) in policies.iter().zip(&hosts).enumerate() {
            let (code, _, err) = host.postkit(&["start"]);
            if code != 0 {
                return Err(format!("start: {err}"));
            }
            let _daemon = Guard(if policy == Policy::Python {
                let sock = host.path().join("queue/private/pypolicy");
                let child = Command::new("python3")
                    .args(["-c", PY])
                    .arg(&sock)
                    .stdin(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("python3: {e}"))?;
                let deadline = Instant::now() + Duration::from_secs(10);
                while !sock.exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Some(child)
            } else {
                None
            });
            let result = (|| -> Result<(), String> {
                rcpt_times(host.port, 10)?;
                let before = host.log().matches("status=sent").count();
                let started = Instant::now();
                let out = Command::new("/usr/sbin/smtp-source")
                    .args(["-s", "20", "-m", &messages.to_string(), "-l", "512"])
                    .args(["-f", "bench@example.com", "-t", "sink@example.com"])
                    .arg(format!("127.0.0.1:{}", host.port))
                    .output()
                    .map_err(|e| format!("smtp-source: {e}"))?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
                let deadline = Instant::now() + Duration::from_secs(300);
                while host.log().matches("status=sent").count() < before + messages {
                    if Instant::now() > deadline {
                        return Err("messages not all discarded".into());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                rates[pi].push(messages as f64 / started.elapsed().as_secs_f64());
                let mut t = rcpt_times(host.port, sequential)?;
                p50[pi].push(percentile(&mut t, 0.5));
                p99[pi].push(percentile(&mut t, 0.99));
                Ok(())
            })();
            let _ = host.postkit(&["stop"]);
            result.map_err(|e| format!("{}: {e}", policy.name()))?;
            eprintln!(
                "  {:<28} {:.0} msg/s",
                policy.name(),
                rates[pi].last().copied().unwrap_or(0.0)
            );
        }
    }
    println!(
        "smtp-source: {messages} messages, 20 sessions; RCPT round trip over {sequential} sequential transactions; median (min-max) of {rounds} rounds\n"
    );
    println!("| policy | msg/s | RCPT p50 | RCPT p99 | added to RCPT p50 / p99 |");
    println!("|---|---|---|---|---|");
    let base = (stats(&p50[0]).median, stats(&p99[0]).median);
    for (pi, policy) in policies.iter().enumerate() {
        let (a, b) = (stats(&p50[pi]), stats(&p99[pi]));
        println!(
            "| {} | {} | {} µs | {} µs | {:.0} / {:.0} µs |",
            policy.name(),
            fmt_range(&stats(&rates[pi]), 0),
            fmt_range(&a, 0),
            fmt_range(&b, 0),
            a.median - base.0,
            b.median - base.1
        );
    }
    Ok(())
}
