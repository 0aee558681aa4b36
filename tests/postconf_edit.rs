//! postconf's editing verbs against Debian's real postconf: the same edit
//! on two copies of the same main.cf (or master.cf) must leave the same
//! bytes, the same mode, no temporary file, the same messages and the same
//! exit status.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use common::{Outcome, have_postfix, postkit, run};

const MAIN_CF: &str = "# A main.cf with what administrators leave in one.\n\
myhostname = mail.example.com\n\
  # an indented comment\n\
\n\
relayhost = [relay.example.com]\n\
    :587\n\
biff = no\n\
smtpd_banner = $myhostname ESMTP\n\
biff = yes\n\
mynetworks = 127.0.0.0/8\n\
\t[::1]/128\n\
\n\
# smtpd_tls_security_level = may\n\
alias_maps=hash:/etc/aliases\n\
recipient_delimiter = +";

/// (name, main.cf or None for a missing one, arguments).
fn cases() -> Vec<(&'static str, Option<&'static str>, Vec<&'static str>)> {
    let m = Some(MAIN_CF);
    vec![
        (
            "set existing",
            m,
            vec!["-e", "relayhost=[other.example]:25"],
        ),
        (
            "set with blanks",
            m,
            vec!["-e", "myhostname = host.example"],
        ),
        ("set duplicate entry", m, vec!["-e", "biff=no"]),
        ("set new", m, vec!["-e", "inet_protocols=ipv4"]),
        ("set continued", m, vec!["-e", "mynetworks=10.0.0.0/8"]),
        (
            "set several",
            m,
            vec!["-e", "biff=no", "relayhost=", "alias_maps = hash:/x"],
        ),
        (
            "set twice on the command line",
            m,
            vec!["-e", "biff=no", "biff=yes"],
        ),
        (
            "set last line without newline",
            m,
            vec!["-e", "recipient_delimiter=-"],
        ),
        (
            "set commented-out name",
            m,
            vec!["-e", "smtpd_tls_security_level=may"],
        ),
        ("set empty file", Some(""), vec!["-e", "myorigin=$mydomain"]),
        ("remove", m, vec!["-X", "relayhost", "biff"]),
        ("remove missing", m, vec!["-X", "no_such_parameter"]),
        ("implied -e", m, vec!["biff=no"]),
        ("-e with -n", m, vec!["-n", "-e", "biff=no"]),
        ("-X with -#", m, vec!["-X", "-#", "biff"]),
        ("-X without names", m, vec!["-X"]),
        ("comment out", m, vec!["-#", "mynetworks", "relayhost"]),
        ("comment out duplicates", m, vec!["-#", "biff"]),
        ("no argument", m, vec!["-e"]),
        ("multi-line input", m, vec!["-e", "a=b\nc=d"]),
        ("comment input", m, vec!["-e", "  #a=b"]),
        ("no equals", m, vec!["-e", "relayhost"]),
        ("no name", m, vec!["-e", "=value"]),
        ("remove with value", m, vec!["-X", "biff=no"]),
        ("remove blank", m, vec!["-X", "  "]),
        ("missing main.cf", None, vec!["-e", "biff=no"]),
    ]
}

/// Runs one program on a fresh copy; returns what it printed (paths made
/// `DIR`), the file it left and its mode, and whether a `.tmp` remained.
fn edit(
    program: &mut Command,
    main_cf: Option<&str>,
    args: &[&str],
) -> (Outcome, Option<Vec<u8>>, u32, bool) {
    edit_file(program, "main.cf", main_cf, args)
}

fn edit_file(
    program: &mut Command,
    file: &str,
    main_cf: Option<&str>,
    args: &[&str],
) -> (Outcome, Option<Vec<u8>>, u32, bool) {
    let dir = tempfile::tempdir().unwrap();
    if file != "main.cf" {
        std::fs::write(dir.path().join("main.cf"), "# main.cf\n").unwrap();
    }
    let path = dir.path().join(file);
    if let Some(text) = main_cf {
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let mut out = run(program
        .arg("-c")
        .arg(dir.path())
        .args(args)
        .env_remove("MAIL_CONFIG"));
    let d = dir.path().display().to_string();
    out.stderr = out.stderr.iter().map(|l| l.replace(&d, "DIR")).collect();
    out.stderr.sort();
    let text = std::fs::read(&path).ok();
    let mode = std::fs::metadata(&path).map_or(0, |m| m.permissions().mode() & 0o7777);
    let tmp = dir.path().join(format!("{file}.tmp")).exists();
    (out, text, mode, tmp)
}

#[test]
fn edits_leave_what_real_postconf_leaves() {
    if !have_postfix("edits_leave_what_real_postconf_leaves") {
        return;
    }
    let failures: Vec<String> = cases()
        .into_iter()
        .filter_map(|(name, main_cf, args)| differs(name, "main.cf", main_cf, &args))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The same edit with Debian's postconf and with postkit's, on copies of
/// the same file: None when they leave and say the same.
fn differs(name: &str, file: &str, content: Option<&str>, args: &[&str]) -> Option<String> {
    let real = edit_file(
        Command::new("/usr/sbin/postconf").arg0("postconf"),
        file,
        content,
        args,
    );
    let ours = edit_file(Command::new(postkit()).arg("postconf"), file, content, args);
    let text = |t: &Option<Vec<u8>>| {
        String::from_utf8_lossy(t.as_deref().unwrap_or(b"(none)")).into_owned()
    };
    (real != ours).then(|| {
        format!(
            "{name} {args:?}:\n--- postconf\n{:?}\n{}\n--- postkit\n{:?}\n{}",
            real.0,
            text(&real.1),
            ours.0,
            text(&ours.1),
        )
    })
}

/// Postfix appends several new names in its randomly seeded hash order;
/// postkit in command-line order: the same lines either way.
#[test]
fn several_new_names_are_the_same_lines() {
    if !have_postfix("several_new_names_are_the_same_lines") {
        return;
    }
    let args = ["-e", "new_one = 1", "new_two=2", "new_three =3"];
    // (A last line without a newline gets the first new name glued to it,
    // by Postfix and by postkit alike: "set last line without newline".)
    let main_cf = format!("{MAIN_CF}\n");
    let (_, real, _, _) = edit(
        Command::new("/usr/sbin/postconf").arg0("postconf"),
        Some(&main_cf),
        &args,
    );
    let (_, ours, _, _) = edit(
        Command::new(postkit()).arg("postconf"),
        Some(&main_cf),
        &args,
    );
    let lines = |t: Option<Vec<u8>>| {
        let mut l: Vec<String> = String::from_utf8(t.unwrap())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        l.sort();
        l
    };
    let ours = lines(ours);
    assert_eq!(lines(real), ours);
    assert!(ours.contains(&"new_three = 3".to_string()));
}

const MASTER_CF: &str = "# A master.cf with what administrators leave in one.\n\
smtp      inet  n       -       y       -       -       smtpd\n\
#submission inet n       -       y       -       -       smtpd\n\
#  -o syslog_name=postfix/submission\n\
pickup    unix  n       -       y       60      1       pickup\n\
relay     unix  -       -       y       -       -       smtp\n\
        -o syslog_name=postfix/$service_name\n\
  # a comment inside the entry\n\
        -o smtp_helo_timeout=5 -o smtp_connect_timeout=5\n\
maildrop  unix  -       n       n       -       -       pipe\n\
  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}\n\
postlog   unix-dgram n  -       n       -       1       postlogd\n";

/// master.cf's edits: the same master.cf, the same messages.
#[test]
fn master_cf_edits_leave_what_real_postconf_leaves() {
    if !have_postfix("master_cf_edits_leave_what_real_postconf_leaves") {
        return;
    }
    let cases: Vec<Vec<&str>> = vec![
        vec!["-Me", "relay/unix=relay unix - - n - 5 smtp -o a=b"],
        vec!["-Me", "new/unix=new unix - - n - - newcmd -o { x = a b }"],
        vec!["-Me", "smtp/inet=smtp inet n - y - 1 postscreen"],
        vec!["-MX", "relay/unix"],
        vec!["-MX", "relay"],
        vec!["-M#", "relay/unix", "maildrop/unix"],
        vec!["-Fe", "relay/unix/chroot=n"],
        vec![
            "-Fe",
            "maildrop/unix/command=pipe flags=X user=vmail argv=/bin/true ${recipient}",
        ],
        vec!["-Fe", "relay/unix/chroot=a b"],
        vec!["-Fe", "relay/unix/*=x"],
        vec!["-Fe", "relay/unix/wakeup=abc"],
        vec!["-Fe", "relay/unix/bogus=1"],
        vec!["-Pe", "relay/unix/syslog_name=other"],
        vec![
            "-Pe",
            "pickup/unix/foo=bar",
            "relay/unix/smtp_helo_timeout=9",
        ],
        vec!["-Pe", "*/unix/x=1"],
        vec!["-Pe", "nosuch/unix/a=b"],
        vec!["-Pe", "relay/unix/a=b c"],
        vec![
            "-PX",
            "relay/unix/syslog_name",
            "relay/unix/smtp_connect_timeout",
        ],
        vec!["-Me", "x=y"],
        vec!["-M#", "a=b"],
        vec!["-FX", "relay/unix/chroot"],
        vec!["-P#", "relay/unix/syslog_name"],
    ];
    let mut failures: Vec<String> = cases
        .iter()
        .filter_map(|args| differs("master.cf", "master.cf", Some(MASTER_CF), args))
        .collect();
    for (name, content) in [("missing master.cf", None), ("empty master.cf", Some(""))] {
        failures.extend(differs(
            name,
            "master.cf",
            content,
            &["-Me", "x/unix=x unix - - n - - x"],
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `-m` and `-l` list what postkit supports.
#[test]
fn lists_of_what_postkit_supports() {
    let out = Command::new(postkit())
        .args(["postconf", "-m"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "inline\nstatic\ntexthash\n"
    );
    let out = Command::new(postkit())
        .args(["postconf", "-l"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "flock\n");
}

/// Issue 20.9: in a sticky, world-writable directory another user plants
/// `main.cf.tmp`, as a link to a file and as a file of theirs.  As root,
/// `postconf -e` removes it and edits main.cf, as Postfix does; the link's
/// target is untouched and main.cf stays root's.
#[test]
#[cfg_attr(postkit_unprivileged_build, ignore = "needs root")]
fn a_planted_tmp_in_a_sticky_directory_is_removed() {
    if !common::needs_root("a_planted_tmp_in_a_sticky_directory_is_removed") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    // As on most hosts (Debian's defaults): the kernel refuses root a link
    // or file another user owns in a sticky directory.
    let _protected = Sysctls::set(&[
        ("/proc/sys/fs/protected_symlinks", "1"),
        ("/proc/sys/fs/protected_regular", "2"),
    ]);
    for planted in ["link", "file"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let main_cf = dir.path().join("main.cf");
        std::fs::write(&main_cf, "a = 1\n").unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let tmp = dir.path().join("main.cf.tmp");
        match planted {
            "link" => std::os::unix::fs::symlink(&victim, &tmp).unwrap(),
            _ => {
                std::fs::write(&tmp, "").unwrap();
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        std::os::unix::fs::lchown(&tmp, Some(65534), Some(65534)).unwrap();
        let out = run(Command::new(common::postkit())
            .arg("postconf")
            .arg("-c")
            .arg(dir.path())
            .args(["-e", "a = 2"]));
        assert_eq!(out.status, 0, "{planted}: {out:?}");
        assert_eq!(std::fs::read_to_string(&main_cf).unwrap(), "a = 2\n");
        assert_eq!(std::fs::metadata(&main_cf).unwrap().uid(), 0, "{planted}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }
}

/// Kernel settings changed for a test, put back on drop.
struct Sysctls(Vec<(&'static str, String)>);

impl Sysctls {
    fn set(values: &[(&'static str, &str)]) -> Sysctls {
        let mut saved = Vec::new();
        for (path, value) in values {
            if let Ok(old) = std::fs::read_to_string(path)
                && std::fs::write(path, value).is_ok()
            {
                saved.push((*path, old.trim().to_string()));
            }
        }
        Sysctls(saved)
    }
}

impl Drop for Sysctls {
    fn drop(&mut self) {
        for (path, old) in &self.0 {
            let _ = std::fs::write(path, old);
        }
    }
}
