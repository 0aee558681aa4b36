//! The bare receivers `postkit-bench` measures against: what the socket
//! allows with no skeleton, no master and no status protocol.
//! `recv`: one recv() and one write() per datagram.  `mmsg`: recvmmsg() of
//! up to 64 datagrams and one write() per batch.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postkit::server::dgram_batch::BatchReceiver;

/// Kills the receiver when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start(exe: &Path, mode: &str, socket: &Path, log: &Path) -> Result<Child, String> {
    let child = Command::new(exe)
        .args(["receiver", mode])
        .arg(socket)
        .arg(log)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() {
        if Instant::now() > deadline {
            return Err("the bare receiver did not start".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(child)
}

/// `postkit bench-receiver recv|mmsg SOCKET LOG`.
pub fn main(args: &[String]) -> i32 {
    let [mode, socket, log] = args else {
        eprintln!(
            "usage: postkit-bench receiver recv|mmsg|count-recv|count-mmsg|spin-mmsg SOCKET LOG|COUNTER"
        );
        return 2;
    };
    let sock = UnixDatagram::bind(socket).expect("bind");
    let counter = || crate::count_service::map_counter(log);
    match mode.as_str() {
        "count-recv" => count(&sock, false, Duration::ZERO, counter()),
        "count-mmsg" => count(&sock, true, Duration::ZERO, counter()),
        "spin-mmsg" => count(&sock, true, Duration::from_micros(20), counter()),
        _ => {}
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    let mut line = Vec::with_capacity(64 * 4097);
    if mode == "recv" {
        let mut buf = vec![0u8; postkit::server::dgram_server::DGRAM_BUF_SIZE];
        loop {
            let n = sock.recv(&mut buf).expect("recv");
            line.clear();
            line.extend_from_slice(&buf[..n]);
            line.push(b'\n');
            out.write_all(&line).expect("write");
        }
    }
    let mut batch = BatchReceiver::new(64);
    sock.set_nonblocking(false).expect("blocking");
    loop {
        // Wait for the first datagram, then take what is queued.
        let mut pfd = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&sock),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::NONE);
        let n = batch.recv(&sock, 64);
        line.clear();
        for i in 0..n {
            line.extend_from_slice(batch.datagram(i));
            line.push(b'\n');
        }
        out.write_all(&line).expect("write");
    }
}

/// Receives forever, counting each datagram: one recv() each, or
/// recvmmsg() batches.
fn count(
    sock: &UnixDatagram,
    batched: bool,
    spin: Duration,
    counter: &std::sync::atomic::AtomicU64,
) -> ! {
    use std::sync::atomic::Ordering;
    let mut buf = vec![0u8; postkit::server::dgram_server::DGRAM_BUF_SIZE];
    let mut batch = BatchReceiver::new(64);
    loop {
        if !batched {
            sock.recv(&mut buf).expect("recv");
            counter.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut pfd = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(sock),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::NONE);
        let n = batch.recv(sock, 64);
        for _ in 0..n {
            let start = Instant::now();
            while start.elapsed() < spin {
                std::hint::spin_loop();
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}
