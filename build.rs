//! Names the commit a binary was built from, for `firedrill --version`:
//! `FIREDRILL_COMMIT` is the checkout's short commit, or `unknown` outside a git checkout
//! (a source tarball). Nothing else is built here.

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=FIREDRILL_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit or a checkout changes HEAD, or the branch it points at.
    if std::path::Path::new(".git/HEAD").exists() {
        println!("cargo:rerun-if-changed=.git/HEAD");
    }
    // A branch's ref is its own file, or a line of packed-refs (as after a clone); a path
    // that does not exist would make cargo run this script at every build.
    if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let loose = format!(".git/{head}");
        let watched = if std::path::Path::new(&loose).exists() { loose } else { ".git/packed-refs".into() };
        if std::path::Path::new(&watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
}
