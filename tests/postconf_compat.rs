//! `postkit postconf` against Debian's real `postconf` over a corpus of
//! main.cf files: stdout and exit status must be identical; stderr must hold
//! the same lines (Postfix prints its warnings in hash-table order, so the
//! lines are compared as sorted lists).

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::Command;

use common::{Outcome, have_postfix, make_cold, postkit, run};

struct Case {
    name: String,
    main_cf: String,
    args: Vec<String>,
    master_cf: bool,
    /// Append `zz_refs = $name ...` for the names asked for, so that
    /// user-defined ones are referenced (and so known to postconf).
    refs: bool,
}

/// Cases from tests/data/postconf_cases.txt: `=== name | args` starts a case,
/// the lines after it are its main.cf (`=== name | args | no-master` leaves
/// master.cf out).
fn file_cases() -> Vec<Case> {
    let text = include_str!("data/postconf_cases.txt");
    let mut cases = Vec::new();
    for block in text.split("\n=== ").skip(1) {
        let (head, body) = block.split_once('\n').unwrap_or((block, ""));
        let mut parts = head.split('|').map(str::trim);
        let name = parts.next().unwrap().to_string();
        let args = parts
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let flags = parts.next().unwrap_or("");
        cases.push(Case {
            name,
            main_cf: body.to_string(),
            args,
            master_cf: !flags.contains("no-master"),
            refs: !flags.contains("no-refs"),
        });
    }
    cases
}

/// Generated cases: every conditional form crossed with set, empty and
/// unset operands, and every relational operator over numeric, textual and
/// mixed operands.
fn generated_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let forms = [
        "${v?yes}",
        "${v:no}",
        "${v?{yes}}",
        "${v:{no}}",
        "${v?{yes}:{no}}",
        "${v?{yes}:no}",
        "${ v ?{ yes } : { no } }",
        "$(v)",
        "${v}",
        "[$v]",
    ];
    let operands = [("set", "v = value\n"), ("empty", "v =\n"), ("unset", "")];
    for (i, form) in forms.iter().enumerate() {
        for (label, def) in operands {
            cases.push(Case {
                name: format!("form{i}-{label}"),
                main_cf: format!("{def}r = {form}\n"),
                args: vec!["-x".into(), "r".into()],
                master_cf: true,
                refs: true,
            });
        }
    }
    // A NUL byte ends a value where Postfix's C strings end it (issue
    // 20.9): in a value, before a continuation, at the start of a line.
    for (i, main_cf) in [
        "a = abc\0def\n",
        "a = x\0y\n  continued\nb = after\n",
        "\0a = 1\nb = 2\n",
        "a = $b\0$c\nb = B\nc = C\n",
    ]
    .iter()
    .enumerate()
    {
        for args in [&["-h", "a", "b"][..], &["-n"][..]] {
            cases.push(Case {
                name: format!("nul{i}{}", args[0]),
                main_cf: main_cf.to_string(),
                args: args.iter().map(|a| a.to_string()).collect(),
                master_cf: true,
                refs: true,
            });
        }
    }
    let ops = ["==", "!=", "<", "<=", ">", ">="];
    let pairs = [
        ("9", "10"),
        ("10", "10"),
        ("abc", "abd"),
        ("10", "9x"),
        ("", "0"),
    ];
    for (i, op) in ops.iter().enumerate() {
        for (j, (a, b)) in pairs.iter().enumerate() {
            cases.push(Case {
                name: format!("relop{i}-{j}"),
                main_cf: format!("a = {a}\nb = {b}\nr = ${{{{$a}} {op} {{$b}} ? {{T}} : {{F}}}}\nbare = ${{{{$a}} {op} {{$b}}}}\n"),
                args: vec!["-x".into(), "r".into(), "bare".into()],
                master_cf: true,
                refs: true,
            });
        }
    }
    cases
}

fn run_both(case: &Case) -> (Outcome, Outcome) {
    let dir = tempfile::tempdir().unwrap();
    let main_cf = dir.path().join("main.cf");
    let mut text = case.main_cf.clone();
    if case.refs {
        let mut refs = Vec::new();
        let mut args = case.args.iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "-o" | "-c" => {
                    args.next();
                }
                a if a.starts_with('-') => {}
                name => refs.push(format!("${name}")),
            }
        }
        text.push_str(&format!("zz_refs = {}\n", refs.join(" ")));
    }
    fs::write(&main_cf, &text).unwrap();
    make_cold(&main_cf);
    if case.master_cf {
        fs::write(
            dir.path().join("master.cf"),
            "postlog   unix-dgram n  -       n       -       1       postlogd\n",
        )
        .unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let mut real = Command::new("/usr/sbin/postconf");
    real.arg0("postconf");
    real.arg("-c")
        .arg(d)
        .args(&case.args)
        .env_remove("MAIL_CONFIG");
    let mut ours = Command::new(postkit());
    ours.arg("postconf")
        .arg("-c")
        .arg(d)
        .args(&case.args)
        .env_remove("MAIL_CONFIG");
    let (mut a, mut b) = (run(&mut real), run(&mut ours));
    a.stderr.sort();
    b.stderr.sort();
    (a, b)
}

#[test]
fn postconf_agrees_with_real_postconf() {
    if !have_postfix("postconf_agrees_with_real_postconf") {
        return;
    }
    let mut cases = file_cases();
    cases.extend(generated_cases());
    assert!(
        cases.len() >= 100,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let (real, ours) = run_both(case);
        if real != ours {
            failures.push(format!(
                "case {} (args {:?}):\n--- postconf\n{real:#?}\n--- postkit\n{ours:#?}",
                case.name, case.args
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every parameter postkit knows has Debian's default, expanded or not.
#[test]
fn defaults_agree_with_real_postconf() {
    if !have_postfix("defaults_agree_with_real_postconf") {
        return;
    }
    let names: Vec<&str> = postkit::internal::global::mail_params::PARAMS
        .iter()
        // process_id is each program's own pid; maillog_file_permissions
        // arrived in Postfix 3.9 and Debian ships 3.7; dgram_batch_limit is
        // postkit's own.
        .filter(|d| {
            !matches!(
                d.name,
                "process_id" | "process_name" | "maillog_file_permissions" | "dgram_batch_limit"
            )
        })
        .map(|d| d.name)
        .collect();
    for flags in [&["-d"][..], &["-d", "-x"][..]] {
        let real = run(Command::new("/usr/sbin/postconf")
            .arg0("postconf")
            .args(flags)
            .args(&names));
        let ours = run(Command::new(postkit())
            .arg("postconf")
            .args(flags)
            .args(&names));
        assert_eq!(real, ours, "postconf {flags:?}");
    }
}

/// The stock configuration of the host's Postfix package (main.cf and
/// master.cf as Debian installed them, and with Debian's postscreen lines
/// uncommented), a small one with a dotted myhostname, and one with
/// restriction classes and user-defined parameters in main.cf and
/// master.cf, and one with legacy LDAP, MySQL, PostgreSQL, SQLite and
/// memcache tables: `postconf`,
/// `-n`, `-d`, `-x`, `-nx`, `-dx` answer as Debian's postconf does, every
/// one of its parameters (service parameters from master.cf included),
/// byte for byte (each program's own `process_id` aside).
#[test]
fn stock_configuration_answers_as_postconf() {
    if !have_postfix("stock_configuration_answers_as_postconf") {
        return;
    }
    let stock = |name: &str, template: &str| {
        fs::read_to_string(std::path::Path::new("/etc/postfix").join(name))
            .or_else(|_| {
                fs::read_to_string(std::path::Path::new("/usr/share/postfix").join(template))
            })
            .unwrap()
    };
    let main_cf = stock("main.cf", "main.cf.debian");
    let master_cf = stock("master.cf", "master.cf.dist");
    let postscreen: String = master_cf
        .lines()
        .map(|l| match l.split_whitespace().next() {
            Some("#smtp" | "#smtpd" | "#dnsblog" | "#tlsproxy") => format!("{}\n", &l[1..]),
            _ => format!("{l}\n"),
        })
        .collect();
    let configs = [
        ("stock", main_cf.clone(), master_cf.clone()),
        ("postscreen", main_cf, postscreen),
        (
            "small",
            "myhostname = mail.example\nmynetworks_style = class\n".to_string(),
            master_cf,
        ),
        (
            "user parameters",
            "smtpd_restriction_classes = friends, foes\nfriends = permit\nfoes = reject\n\
             mua_client_restrictions = permit_sasl_authenticated, reject\nunused_thing = 1\n\
             notify = $undefined_one\nvirtual_maps = hash:/etc/postfix/virtual\n"
                .to_string(),
            "smtp inet n - y - - smtpd\nsubmission inet n - y - - smtpd\n\
             \x20 -o syslog_name=postfix/submission\n\
             \x20 -o smtpd_client_restrictions=$mua_client_restrictions\n\
             \x20 -o local_only=$mua_thing -o mua_thing=yes -o never_used=1\n\
             \x20 -o smtpd_restriction_classes=local_class -o local_class=permit\n\
             relay unix - - y - - smtp\n"
                .to_string(),
        ),
        (
            "tables",
            "virtual_alias_maps = ldap:foo, proxy:mysql:bar {pgsql:baz} mysql:@DIR@/my.cf\n\
             foo_server_host = x\nfoo_bogus = 1\nbar_hosts = h\nbaz_dbname = d\n\
             relay_recipient_maps = sqlite:/nonexistent/x.cf\n"
                .to_string(),
            "relay unix - - y - - smtp\n  -o smtp_sasl_password_maps=memcache:mc\n  -o mc_ttl=5\n"
                .to_string(),
        ),
    ];
    let mask = |mut o: Outcome| {
        o.stdout = o
            .stdout
            .lines()
            .filter(|l| !l.starts_with("process_id = "))
            .map(|l| format!("{l}\n"))
            .collect();
        o.stderr.sort();
        o
    };
    let mut failures = Vec::new();
    for (label, main_cf, master_cf) in &configs {
        let dir = tempfile::tempdir().unwrap();
        let main_cf = main_cf.replace("@DIR@", &dir.path().display().to_string());
        fs::write(dir.path().join("my.cf"), "hosts = x\nbogus = 2\n").unwrap();
        fs::write(dir.path().join("main.cf"), main_cf).unwrap();
        fs::write(dir.path().join("master.cf"), master_cf).unwrap();
        make_cold(&dir.path().join("main.cf"));
        for args in [
            &[][..],
            &["-n"],
            &["-d"],
            &["-x"],
            &["-nx"],
            &["-dx"],
            &["-f"],
            &["-nf"],
            &["-xf"],
            &["-M"],
            &["-Mf"],
            &["-Mx"],
            &["-F"],
            &["-Fx"],
            &["-Ff"],
            &["-FH"],
            &["-P"],
            &["-Px"],
            &["-Ph"],
            &["-M", "smtp", "relay/unix", "nosuch"],
            &["-F", "*/*/chroot", "relay/unix/command", "x/y/bogus"],
            &["-P", "*/*/syslog_name", "smtpd/pass"],
            &["-M", "/bad"],
            &["-Md"],
            &["-Fn"],
        ] {
            let real = mask(run(Command::new("/usr/sbin/postconf")
                .arg0("postconf")
                .arg("-c")
                .arg(dir.path())
                .args(args)
                .env_remove("MAIL_CONFIG")));
            let ours = mask(run(Command::new(postkit())
                .arg("postconf")
                .arg("-c")
                .arg(dir.path())
                .args(args)
                .env_remove("MAIL_CONFIG")));
            if args.is_empty() || (args == ["-M"] && *label == "stock") {
                assert!(
                    real.stdout.lines().count() > 5,
                    "{label} {args:?}: {real:?}"
                );
            }
            if real != ours {
                let diff: Vec<String> = real
                    .stdout
                    .lines()
                    .filter(|l| !ours.stdout.contains(l))
                    .map(|l| format!("- {l}"))
                    .chain(
                        ours.stdout
                            .lines()
                            .filter(|l| !real.stdout.contains(l))
                            .map(|l| format!("+ {l}")),
                    )
                    .take(20)
                    .collect();
                failures.push(format!(
                    "{label} {args:?}: status {:?}/{:?}, stderr {:?} / {:?}\n{}",
                    real.status,
                    ours.status,
                    real.stderr,
                    ours.stderr,
                    diff.join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
