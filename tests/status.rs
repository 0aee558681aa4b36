//! Machine-readable status (issue 13): `postkit status --json` and
//! `--prometheus` against a running master.

mod common;

use common::instance::{Instance, POSTLOG};

fn json(i: &Instance) -> serde_json::Value {
    let (code, out, err) = i.ctl_with(&[], "status");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("master pid "), "{out}");
    let out = std::process::Command::new(common::postkit())
        .arg("-c")
        .arg(i.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
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
    // Every sample has its HELP and TYPE.
    for sample in text.lines().filter(|l| !l.starts_with('#')) {
        let name = sample.split(['{', ' ']).next().unwrap();
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
}
