//! Postfix's own regression suite for postconf (issue 22): the 70 `testN`
//! targets of Postfix 3.7.11's `src/postconf/Makefile.in`, each recipe run
//! as make runs it (one shell per line, `$$` as `$`, stopping at the first
//! failing line, `HTABLE_FIX` as `NORANDOMIZE=1`), in a scratch directory
//! where `./postconf` is postkit.  The recipes and their expected outputs
//! are vendored as data (tests/data/postconf-suite, with Postfix's licence).
//! Debian's own postconf is run through the same harness first, when it is
//! installed, so that a failure is postkit's and not the harness's.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/postconf-suite")
}

/// The `testN` targets, each as its command lines (a line ending in a
/// backslash continues on the next, as make passes it to the shell).
fn targets() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(suite_dir().join("Makefile.in")).unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        if let Some((_, cmds)) = current.as_mut()
            && cmds.last().is_some_and(|l: &String| l.ends_with('\\'))
        {
            let last = cmds.last_mut().unwrap();
            last.push('\n');
            last.push_str(line.trim_start_matches('\t'));
            continue;
        }
        if let Some(cmd) = line.strip_prefix('\t') {
            if let Some((_, cmds)) = current.as_mut() {
                cmds.push(cmd.to_string());
            }
            continue;
        }
        if let Some(done) = current.take() {
            out.push(done);
        }
        if let Some((name, _)) = line.split_once(':')
            && name.starts_with("test")
            && name[4..].chars().next().is_some_and(|c| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric())
        {
            current = Some((name.to_string(), Vec::new()));
        }
    }
    out.extend(current);
    out
}

/// make's expansion of a recipe line, with the Makefile's own settings.
fn expand(line: &str) -> String {
    line.replace("$(HTABLE_FIX)", "NORANDOMIZE=1")
        .replace("$(SHLIB_ENV)", "")
        .replace("$(VALGRIND)", "")
        .replace("$(PROG)", "postconf")
        .replace("$(SHELL)", "sh")
        .replace("$$", "$")
        .trim_start_matches(['-', '@'])
        .to_string()
}

/// Runs every target with `program` as ./postconf; the failures, each
/// with what its last line printed.
fn run_suite(program: &Path) -> (usize, Vec<String>) {
    let targets = targets();
    let mut failed = Vec::new();
    for (name, cmds) in &targets {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(program, dir.path().join("postconf")).unwrap();
        for entry in std::fs::read_dir(suite_dir()).unwrap().flatten() {
            if entry.file_name().to_string_lossy().ends_with(".ref") {
                std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
            }
        }
        for cmd in cmds {
            let out = Command::new("sh")
                .arg("-c")
                .arg(expand(cmd))
                .current_dir(dir.path())
                .env_remove("MAIL_CONFIG")
                .env_remove("NORANDOMIZE")
                .output()
                .unwrap();
            if !out.status.success() {
                failed.push(format!(
                    "{name}: `{}` failed:\n{}{}",
                    expand(cmd),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
                break;
            }
        }
    }
    (targets.len(), failed)
}

#[test]
fn postfix_postconf_regression_suite_passes() {
    let (count, failed) = run_suite(&common::postkit());
    assert_eq!(count, 70, "the suite's testN targets");
    assert!(
        failed.is_empty(),
        "{} of {count} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// The harness itself, with Debian's postconf.
#[test]
fn the_harness_passes_debians_postconf() {
    if !common::have_postfix("the_harness_passes_debians_postconf") {
        return;
    }
    let (count, failed) = run_suite(Path::new("/usr/sbin/postconf"));
    assert_eq!(count, 70);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The options that hand work to Postfix's own programs answer exactly as
/// Debian's postconf does: `-b` and `-t` (Postfix's bounce daemon expands
/// or dumps the templates, built in or from a file it checks), `-a`, `-A`
/// and `-T` (Postfix's build), `-p` (the default output, by name).
#[test]
fn template_and_build_options_answer_as_postfix() {
    if !common::have_postfix("template_and_build_options_answer_as_postfix") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("main.cf"),
        "compatibility_level = 3.6\nmyhostname = host.example\n",
    )
    .unwrap();
    std::fs::write(d.join("master.cf"), "").unwrap();
    let tmpl = d.join("bounce.cf");
    std::fs::write(
        &tmpl,
        "failure_template = <<EOF\nSubject: gone ($myhostname)\n\nSorry.\nEOF\n",
    )
    .unwrap();
    let bad = d.join("bad.cf");
    std::fs::write(&bad, "no_such_template = <<EOF\nx\nEOF\n").unwrap();
    let ours_bin = d.join("ours");
    let theirs_bin = d.join("theirs");
    std::fs::create_dir(&ours_bin).unwrap();
    std::fs::create_dir(&theirs_bin).unwrap();
    std::os::unix::fs::symlink(common::postkit(), ours_bin.join("postconf")).unwrap();
    std::os::unix::fs::symlink("/usr/sbin/postconf", theirs_bin.join("postconf")).unwrap();
    let run = |bin: &Path, args: &[&str]| {
        let out = Command::new(bin.join("postconf"))
            .arg0("postconf")
            .arg("-c")
            .arg(d)
            .args(args)
            .env_remove("MAIL_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let tmpl = tmpl.to_str().unwrap();
    let bad = bad.to_str().unwrap();
    for args in [
        &["-b"][..],
        &["-t"],
        &["-b", tmpl],
        &["-t", tmpl],
        &["-b", bad],
        &["-b", tmpl, "extra"],
        &["-b", "-t"],
        &["-a"],
        &["-A"],
        &["-T", "compile-version"],
        &["-p", "-n"],
        &["-p", "-M"],
    ] {
        let theirs = run(&theirs_bin, args);
        let ours = run(&ours_bin, args);
        assert_eq!(theirs, ours, "postconf {args:?}");
    }
    // The file's template, expanded (its body) and dumped (as written).
    let (_, out, _) = run(&ours_bin, &["-b", tmpl]);
    assert!(
        out.contains("expanded_failure_text = <<EOF\nSorry.\nEOF"),
        "{out}"
    );
    let (_, out, _) = run(&ours_bin, &["-t", tmpl]);
    assert!(out.contains("Subject: gone ($myhostname)"), "{out}");
}
