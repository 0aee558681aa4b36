//! Machine-readable status (issue 13): `postkit status --json` and
//! `--prometheus` against a running master.

mod common;

use common::instance::{Instance, POSTLOG};
use common::status::{Report, ServiceReport};

/// The README's example parses with the schema too.
#[test]
fn readme_example_of_status_json_follows_the_schema() {
    let readme = include_str!("../docs/operations.md");
    let start = readme
        .find("`postkit status --json` prints one object:\n\n```json\n")
        .expect("docs/operations.md documents status --json");
    let example = &readme[start..];
    let example = &example[example.find("{").unwrap()..example.find("\n```\n").unwrap()];
    let r: Report =
        serde_json::from_str(example).expect("the documented example follows the schema");
    assert_eq!(r.services[0].counters["records_written"], 4);
}

/// The Prometheus text, parsed by the Prometheus client's own parser
/// (Debian's python3-prometheus-client): one line per sample, as
/// `name{labels} value` with labels sorted.
fn prometheus_samples(text: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    assert f.documentation and f.type in ('counter', 'gauge'), f
    for s in f.samples:
        labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))
        print('%s %s{%s} %d' % (f.type, s.name, labels, s.value))
"#;
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the output (is python3-prometheus-client installed? \
         scripts/test.sh installs it): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn status_output(i: &Instance, flag: &str) -> std::process::Output {
    std::process::Command::new(common::postkit())
        .arg("-c")
        .arg(i.path())
        .args(["status", flag])
        .output()
        .unwrap()
}

fn json(i: &Instance) -> serde_json::Value {
    let (code, out, err) = i.ctl_with(&[], "status");
    assert!(code == 0 || code == 3, "{code}: {err}");
    assert!(out.starts_with("master pid "), "{out}");
    let out = status_output(i, "--json");
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

fn service<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[test]
fn status_json_and_prometheus_report_services_and_postlogd_counters() {
    let mut i = Instance::new(
        &format!("{POSTLOG}broken unix-dgram n n n - 1 failing\n"),
        "",
    );
    i.start();
    for n in 0..10 {
        i.send("postlog", format!("record {n}").as_bytes());
    }
    i.send("broken", b"makes it fail");
    i.wait_for(
        |i| {
            let v = json(i);
            let p = service(&v, "postlog");
            p["counters"]["records_written"].as_u64().unwrap_or(0) >= 11
                && service(&v, "broken")["throttled"] == true
        },
        "the counters and the throttle",
    );
    let v = json(&i);
    assert_eq!(v["master"]["pid"], i.master_pid());
    let p = service(&v, "postlog");
    assert_eq!(p["type"], "unix-dgram");
    assert_eq!(p["endpoint"], "public/postlog");
    assert_eq!(p["limit"], 1);
    assert_eq!(p["processes"], 1);
    let c = &p["counters"];
    assert_eq!(c["handled"], c["records_written"], "{c}");
    assert!(c["bytes_written"].as_u64().unwrap() > 100, "{c}");
    assert_eq!(c["records_held"], 0);
    let b = service(&v, "broken");
    assert_eq!(b["last_failure"], "exit status 1", "{b}");
    assert!(b["throttle_seconds_left"].as_u64().unwrap() > 0, "{b}");

    let r: Report = serde_json::from_value(v.clone()).expect("status --json follows the schema");
    assert_eq!(r.master.pid, i.master_pid() as u32);
    assert_eq!(r.master.execs, 0);
    assert!(r.master.version.starts_with("postkit-"), "{r:?}");
    assert!(std::path::Path::new(&r.master.configuration).ends_with(i.path().file_name().unwrap()));
    let postlog = r.services.iter().find(|s| s.name == "postlog").unwrap();
    assert_eq!(
        (postlog.command.as_str(), postlog.busy + postlog.idle),
        ("postlogd", 1)
    );
    assert_eq!((postlog.processes, postlog.throttle_seconds_left), (1, 0));
    assert!(!postlog.throttled && postlog.failures == 0 && postlog.last_failure.is_none());
    assert!(
        !postlog.stress,
        "a unix-dgram service is never under stress"
    );
    let broken = r.services.iter().find(|s| s.name == "broken").unwrap();
    assert!(
        broken.throttled && broken.throttles >= 1 && broken.spawns >= 1,
        "{broken:?}"
    );
    assert_eq!(
        (broken.kind.as_str(), broken.endpoint.as_str()),
        ("unix-dgram", "public/broken")
    );

    let out = std::process::Command::new(common::postkit())
        .arg("-c")
        .arg(i.path())
        .args(["status", "--prometheus"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let written = c["records_written"].as_u64().unwrap();
    for line in [
        "# TYPE postkit_service_processes gauge".to_string(),
        "postkit_service_processes{service=\"postlog\",type=\"unix-dgram\"} 1".to_string(),
        "postkit_service_throttled{service=\"broken\",type=\"unix-dgram\"} 1".to_string(),
        "# TYPE postkit_service_records_written_total counter".to_string(),
        format!(
            "postkit_service_records_written_total{{service=\"postlog\",type=\"unix-dgram\"}} {written}"
        ),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    // The Prometheus client's parser takes it, and its samples are the
    // JSON report's numbers.
    let samples = prometheus_samples(&text);
    let labels = |s: &ServiceReport| format!("service={},type={}", s.name, s.kind);
    for s in &r.services {
        for line in [
            format!(
                "gauge postkit_service_process_limit{{{}}} {}",
                labels(s),
                s.limit.max(0)
            ),
            format!(
                "counter postkit_service_failures_total{{{}}} {}",
                labels(s),
                s.failures
            ),
            format!(
                "gauge postkit_service_throttled{{{}}} {}",
                labels(s),
                u8::from(s.throttled)
            ),
        ] {
            assert!(samples.contains(&line), "no {line:?} in {samples:#?}");
        }
    }
    for line in [
        format!(
            "counter postkit_service_records_written_total{{{}}} {written}",
            labels(postlog)
        ),
        format!(
            "gauge postkit_service_records_held{{{}}} 0",
            labels(postlog)
        ),
        "counter postkit_master_execs_total{} 0".to_string(),
    ] {
        assert!(samples.contains(&line), "no {line:?} in {samples:#?}");
    }
    // Every sample has its HELP and TYPE.
    for sample in text.lines().filter(|l| !l.starts_with('#')) {
        let name = sample.split(['{', ' ']).next().unwrap();
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
}

/// A service command that forges counters on the channel its stderr is:
/// names that are not metric names, names of the master's own metrics, a
/// value at the top of u64, and 20,000 new names; it exits, and the next
/// one reports a little more and idles.
const FORGER: &str = r#"#!/bin/sh
if [ ! -e "$0.first" ]; then
    : > "$0.first"
    echo "postkit-stats: pid=$$ bad\"name=1 uniSNOWMAN=2 x{}=3 #HELP=4 spawns=0 failures=0 busy=7 handled=1" >&2
    seq 1 20000 | sed "s/.*/postkit-stats: pid=$$ name&=1/" >&2
    echo "postkit-stats: pid=$$ handled=18446744073709551615 $(seq 1 17 | sed 's/.*/name&=1/' | tr '\n' ' ')name20000=1" >&2
    exit 0
fi
echo "postkit-stats: pid=$$ handled=5" >&2
exec sleep 3600
"#;

/// Issue 20.4: a compromised service writes forged counters.  Names
/// outside the known set and the service's bounded own set are ignored and
/// counted, values saturate, and the Prometheus output stays valid, with
/// one family per name.
#[test]
fn forged_counters_cannot_break_the_output_or_grow_the_master() {
    let mut i = Instance::new(
        &format!("{POSTLOG}forger unix-dgram n n n - 1 forger\n"),
        "",
    );
    i.install_command("forger", &FORGER.replace("SNOWMAN", "\u{2603}"));
    i.start();
    let rss_before = common::procs::rss_kb(i.master_pid()).unwrap();
    // Work nobody takes: the first forger, then the second.
    i.send("forger", b"one");
    i.wait_for(
        |i| {
            let v = json(i);
            let f = service(&v, "forger");
            f["spawns"] == 2 && f["counters"]["handled"].as_u64() == Some(u64::MAX)
        },
        "both forgers' reports",
    );
    let v = json(&i);
    let r: Report = serde_json::from_value(v).expect("status --json follows the schema");
    let f = r.services.iter().find(|s| s.name == "forger").unwrap();
    let own: Vec<&String> = f.counters.keys().filter(|k| *k != "handled").collect();
    assert_eq!(own.len(), 16, "at most 16 names of its own: {own:?}");
    assert!(
        (1..=16).all(|n| f.counters[&format!("name{n}")] == 1),
        "{own:?}"
    );
    assert_eq!(f.counters_ignored, 7 + (20_000 - 16) + 2);
    let rss_after = common::procs::rss_kb(i.master_pid()).unwrap();
    eprintln!("master RSS: {rss_before} kB before, {rss_after} kB after 20,000 forged names");
    let out = status_output(&i, "--prometheus");
    let text = String::from_utf8_lossy(&out.stdout);
    prometheus_samples(&text);
    assert_eq!(
        text.matches("# TYPE postkit_service_spawns_total ").count(),
        1,
        "one spawns family\n{text}"
    );
    assert!(!text.contains("postkit_service_busy_total"), "{text}");
    assert!(text.lines().any(|l| l.starts_with(
        "postkit_service_counters_ignored_total{service=\"forger\",type=\"unix-dgram\"} 19993"
    )));
}

/// Issue 20.5: with a thousand services the answers are larger than a
/// socket buffer; each is read whole: the JSON parses, the Prometheus text
/// parses, and `restart` (which reads the JSON) works.
#[test]
fn answers_larger_than_a_socket_buffer_arrive_whole() {
    let cf: String = (0..1000)
        .map(|n| format!("service-with-a-long-name-{n:04} unix-dgram n n n - 1 skeleton_probe\n"))
        .collect();
    let mut i = Instance::new(&cf, "");
    i.start();
    for _ in 0..3 {
        let out = status_output(&i, "--json");
        assert!(out.status.success());
        assert!(out.stdout.len() > 300_000, "{} bytes", out.stdout.len());
        let r: Report = serde_json::from_slice(&out.stdout).expect("the whole JSON answer");
        assert_eq!(r.services.len(), 1000);
        let out = status_output(&i, "--prometheus");
        assert!(out.status.success());
        let samples = prometheus_samples(&String::from_utf8_lossy(&out.stdout));
        assert!(samples.len() >= 10_000, "{}", samples.len());
    }
    let (code, _, err) = i.ctl("restart");
    assert_eq!(code, 0, "{err}");
    let out = status_output(&i, "--json");
    let r: Report = serde_json::from_slice(&out.stdout).expect("the whole JSON answer");
    assert_eq!(r.master.execs, 1);
}

/// Issue 20.9: a child's fatal text with terminal escape sequences is
/// shown by `status` (and `--json`) as postlogd would log it: control
/// characters become `?`.
#[test]
fn a_childs_escape_sequences_never_reach_the_terminal() {
    let mut i = Instance::new(
        &format!("{POSTLOG}shouter unix-dgram n n n - 1 shouter\n"),
        "",
    );
    i.install_command(
        "shouter",
        "#!/bin/sh\nprintf 'postfix/shouter[1]: fatal: \\033[2J\\033[31mred\\a\\n' >&2\nexit 1\n",
    );
    i.start();
    i.send("shouter", b"wake it");
    i.wait_for(
        |i| {
            service(&json(i), "shouter")["failures"]
                .as_u64()
                .unwrap_or(0)
                >= 1
        },
        "the failure",
    );
    let text = i.status_line("shouter");
    assert!(text.contains("fatal: ?[2J?[31mred?"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    let v = json(&i);
    let why = service(&v, "shouter")["last_failure"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(why, "fatal: ?[2J?[31mred?");
}

/// Issue 23.4: `status` says whether every service is healthy, in its exit
/// status (0 healthy, 3 a service throttled, 1 no master) and a last line,
/// for a monitor or a container's health check; it logs nothing.
#[test]
fn status_exit_code_says_whether_every_service_is_healthy() {
    let mut i = Instance::new(
        &format!("{POSTLOG}broken unix-dgram n n n - 1 failing\n"),
        "",
    );
    let (code, out, _) = i.ctl("status");
    assert_eq!((code, out.as_str()), (1, ""), "no master");
    i.start();
    let (code, out, err) = i.ctl("status");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .last()
            .is_some_and(|l| l.starts_with("healthy: 2 services, ") && l.ends_with(" processes")),
        "{out}"
    );
    let log_before = i.log();
    i.send("broken", b"makes it fail");
    i.wait_for(|i| i.service("broken").throttled, "the throttle");
    let (code, out, _) = i.ctl("status");
    assert_eq!(code, 3, "{out}");
    assert_eq!(
        out.lines().last(),
        Some("degraded: 1 of 2 services throttled: broken (exit status 1)"),
        "{out}"
    );
    for flag in ["--json", "--prometheus"] {
        let o = status_output(&i, flag);
        assert_eq!(o.status.code(), Some(3), "{flag}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("degraded"));
    }
    let log = i.log();
    assert!(
        !log[log_before.len()..].contains("postfix-script"),
        "status logs nothing"
    );
    let o = std::process::Command::new(common::postkit())
        .arg("-c")
        .arg(i.path())
        .args(["status", "--json", "--prometheus"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("choose one"));
}

/// Issue 23.3: every verb answers --help with its usage, exit status 0,
/// and nothing else happens.
#[test]
fn every_verb_answers_help() {
    let i = Instance::new(POSTLOG, "");
    for verb in [
        "start",
        "start-fg",
        "stop",
        "abort",
        "reload",
        "restart",
        "upgrade",
        "status",
        "check",
        "logrotate",
    ] {
        let o = std::process::Command::new(common::postkit())
            .arg("-c")
            .arg(i.path())
            .args([verb, "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{verb}: {o:?}");
        assert!(
            text.starts_with(&format!("usage: postkit [-c config_dir] {verb}")),
            "{verb}: {text}"
        );
    }
    assert!(!i.path().join("queue").exists(), "nothing was started");
}
