//! Run a command and write its wall time, CPU time (user + sys) and peak RSS, from
//! `wait4`, to a file as JSON: `bench_rusage OUT.json -- COMMAND ARGS...`. The command's
//! exit code is passed on.
//!
//! For `scripts/bench`: a process started straight from the Python driver would report
//! the driver's own peak RSS (Linux carries the old memory's high-water mark across
//! `exec`), so each tool is started from this small program instead.

use std::process::Command;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, command) = match args.split_first() {
        Some((out, rest)) if rest.first().is_some_and(|a| a == "--") && rest.len() > 1 => (out.clone(), &rest[1..]),
        _ => panic!("usage: bench_rusage OUT.json -- COMMAND ARGS..."),
    };
    let start = Instant::now();
    let child = Command::new(&command[0]).args(&command[1..]).spawn().expect("start the command");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our child's, and both pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
    let wall = start.elapsed().as_secs_f64();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let json = format!(
        "{{\"wall\":{wall:.6},\"cpu\":{:.6},\"max_rss_kib\":{}}}\n",
        secs(usage.ru_utime) + secs(usage.ru_stime),
        usage.ru_maxrss
    );
    std::fs::write(&out, json).expect("write the figures");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
    std::process::exit(code);
}
