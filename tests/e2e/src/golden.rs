//! Golden comparisons of `rkube kubectl` with real kubectl 1.32: the same command on the same
//! cluster and objects must print the same text and exit with the same code.
//!
//! Ages (`5s`, `2m3s`, `<invalid>`) differ between two runs taken moments apart, and so do
//! the column widths they cause; [`normalize`] replaces age tokens and collapses runs of
//! blanks, so everything else — headers, cells, order, messages — is compared exactly.
//! Tests that need alignment checked byte for byte use [`assert_exact`].

use std::process::Stdio;

use crate::{rkube_bin, Cluster, Run, KUBECTL_1_32};

impl Cluster {
    /// `rkube kubectl ARGS` inside the cluster's namespace, like [`Cluster::kubectl`].
    pub fn rkubectl(&self, args: &[&str]) -> Run {
        let bin = rkube_bin();
        let mut c = self.command(&bin.display().to_string());
        c.arg("kubectl").args(args);
        crate::sh(&mut c)
    }

    /// `rkube kubectl ARGS` with `stdin` piped in.
    pub fn rkubectl_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let bin = rkube_bin();
        let mut child = self
            .command(&bin.display().to_string())
            .arg("kubectl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rkube kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        Run::from(child.wait_with_output().expect("rkube kubectl"))
    }

    /// Runs ARGS with kubectl 1.32 and with `rkube kubectl`; returns (kubectl, rkube).
    /// kubectl names itself by its file name in some messages; installed as `kubectl` it
    /// says `kubectl`, as rkube does, so that is what its output is compared as.
    pub fn both(&self, args: &[&str]) -> (Run, Run) {
        let mut k = self.kubectl_v(KUBECTL_1_32, args);
        k.stderr = k.stderr.replace("kubectl.1.32 ", "kubectl ");
        (k, self.rkubectl(args))
    }
}

/// Whether `t` is a human age as kubectl prints them (`5s`, `2m3s`, `3h`, `45d`, `2y10d`).
pub fn is_age(t: &str) -> bool {
    if t == "<invalid>" || t == "<unknown>" {
        return true;
    }
    let mut digits = false;
    let mut units = 0;
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits = true;
        } else if "smhdy".contains(c) && digits {
            digits = false;
            units += 1;
        } else {
            return false;
        }
    }
    !digits && (1..=2).contains(&units)
}

/// Replaces ages with `AGE` and collapses runs of spaces (see the module docs).
pub fn normalize(s: &str) -> String {
    s.lines()
        .map(|l| {
            l.split(' ')
                .filter(|t| !t.is_empty())
                .map(|t| if is_age(t) { "AGE" } else { t })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn show(args: &[&str], k: &Run, r: &Run) -> String {
    format!(
        "kubectl {}\n--- kubectl (exit {}):\n{}{}\n--- rkube kubectl (exit {}):\n{}{}",
        args.join(" "),
        k.code,
        k.stdout,
        k.stderr,
        r.code,
        r.stdout,
        r.stderr
    )
}

/// Asserts both clients agree on exit code, stdout and stderr (ages normalised).
#[track_caller]
pub fn assert_same(c: &Cluster, args: &[&str]) -> (Run, Run) {
    let (k, r) = c.both(args);
    assert_eq!(k.code, r.code, "exit codes differ: {}", show(args, &k, &r));
    assert_eq!(
        normalize(&k.stdout),
        normalize(&r.stdout),
        "stdout differs: {}",
        show(args, &k, &r)
    );
    assert_eq!(
        normalize(&k.stderr),
        normalize(&r.stderr),
        "stderr differs: {}",
        show(args, &k, &r)
    );
    (k, r)
}

/// Like [`assert_same`] but byte for byte (for output without ages).
#[track_caller]
pub fn assert_exact(c: &Cluster, args: &[&str]) -> (Run, Run) {
    let (k, r) = c.both(args);
    assert_eq!(k.code, r.code, "exit codes differ: {}", show(args, &k, &r));
    assert_eq!(k.stdout, r.stdout, "stdout differs: {}", show(args, &k, &r));
    assert_eq!(k.stderr, r.stderr, "stderr differs: {}", show(args, &k, &r));
    (k, r)
}

/// Asserts only the exit codes and stderr agree (for commands whose stdout names objects
/// that the two runs create separately).
#[track_caller]
pub fn assert_same_exit(c: &Cluster, args: &[&str]) -> (Run, Run) {
    let (k, r) = c.both(args);
    assert_eq!(k.code, r.code, "exit codes differ: {}", show(args, &k, &r));
    (k, r)
}

/// For commands that change state: runs `args` with kubectl in namespace `k` and with rkube in `r` and asserts the same
/// exit code and output (namespace names substituted).
#[track_caller]
pub fn same_in_ns(c: &Cluster, args: &[&str]) -> (Run, Run) {
    let mut ka: Vec<&str> = args.to_vec();
    ka.extend(["-n", "k"]);
    let mut ra: Vec<&str> = args.to_vec();
    ra.extend(["-n", "r"]);
    let mut k = volatile_removed(c.kubectl(&ka));
    // kubectl names itself by its binary name in some messages.
    k.stderr = k.stderr.replace("kubectl.1.32 ", "kubectl ");
    let r = volatile_removed(c.rkubectl(&ra));
    let fix = |s: &str| {
        s.replace("\"r\"", "\"k\"")
            .replace("\\\"r\\\"", "\\\"k\\\"")
            .replace("=r ", "=k ")
            .replace("namespace: r\n", "namespace: k\n")
    };
    let show = || {
        format!(
            "{args:?}\n--- kubectl ({}):\n{}{}\n--- rkube ({}):\n{}{}",
            k.code, k.stdout, k.stderr, r.code, r.stdout, r.stderr
        )
    };
    assert_eq!(k.code, r.code, "exit codes differ: {}", show());
    assert_eq!(k.stdout, fix(&r.stdout), "stdout differs: {}", show());
    assert_eq!(k.stderr, fix(&r.stderr), "stderr differs: {}", show());
    (k, r)
}

/// Drops the lines of printed objects that differ between any two objects (uids,
/// timestamps, resource versions).
pub fn volatile_removed(mut run: Run) -> Run {
    run.stdout = run
        .stdout
        .lines()
        .filter(|l| {
            !["uid", "creationTimestamp", "resourceVersion", "time"]
                .iter()
                .any(|k| {
                    l.trim_start().starts_with(&format!("{k}:")) || l.contains(&format!("\"{k}\":"))
                })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_blanks_are_normalised() {
        assert!(is_age("5s") && is_age("2m3s") && is_age("45d") && is_age("<invalid>"));
        assert!(!is_age("1/1") && !is_age("web") && !is_age("5") && !is_age("s"));
        assert_eq!(
            normalize("NAME   READY   AGE\nweb    1/1     10s"),
            "NAME READY AGE\nweb 1/1 AGE"
        );
    }
}
