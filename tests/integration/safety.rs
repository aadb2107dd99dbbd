//! Never leave a stack broken: each failure a new user met with two teams in two
//! accounts and a few ordinary mistakes, as a test. Wrong credentials or region for the
//! kill switch, a closed stdout, two runs on one target, a damaged store, paths and
//! links out of it, tampered snapshots and forged journal lines, a sweep that would
//! delete what is not firedrill's, a signal mid-revert, a full disk mid-inject, a
//! target's VPC, and an inject still running when the kill switch is pulled.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::drills::{lines, team, wait_for};
use crate::harness::Env;

const HTTP: &str = "name: http\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\nparams:\n  protocol: tcp\n  ports: [80]\n";
const DB: &str = "name: db\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: db }\n";
const ISOLATE: &str = "name: iso\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n";

/// This test's state directory, for running a command as another account's user.
fn store_of(env: &Env) -> (&'static str, String) {
    ("FIREDRILL_STATE", env.state.display().to_string())
}

/// The run id an inject printed.
fn run_id(out: &crate::harness::Out) -> String {
    out.json()["run_id"].as_str().unwrap().to_owned()
}

/// Wait for a line on the child's stderr containing `needle`; the rest is drained.
fn wait_stderr(child: &mut std::process::Child, needle: &str) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return rx;
            }
        }
    }
    let _ = child.kill();
    panic!("no {needle:?} on stderr:\n{}", seen.join("\n"));
}

/// What is left of the child's stderr, once it has exited.
fn drain(rest: &std::sync::mpsc::Receiver<String>) -> Vec<String> {
    std::iter::from_fn(|| rest.recv_timeout(Duration::from_secs(2)).ok()).collect()
}

#[tokio::test]
async fn abort_with_the_instructors_own_credentials_reverts_every_team_in_its_own_account() {
    let (blue, red, instructor) = (Env::new().await, Env::new().await, Env::new().await);
    blue.seed_stack().await;
    red.seed_stack().await;
    let (blue_before, red_before) = (blue.world().await, red.world().await);
    let drill = format!(
        "name: long\nteams:\n{}{}poll: 500ms\nsteps:\n  - name: http\n    at: 0s\n    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: web }} }}, params: {{ protocol: tcp, ports: [80] }} }}\nend: 10m\n",
        team("blue", &blue),
        team("red", &red)
    );
    blue.write("drill.yaml", &drill);
    let mut child = blue.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    // Both teams broken, in whichever order they come.
    let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
    wait_for(&mut child, &rx, "both teams' breaks", |v| {
        if v["event"] == "step-started" {
            seen.borrow_mut().insert(v["team"].as_str().unwrap_or_default().to_owned());
        }
        seen.borrow().len() == 2
    });
    // The drill dies (kill -9): both teams' stacks are broken, the runs open.
    child.kill().unwrap();
    child.wait().unwrap();
    let (blue_broken, red_broken) = (blue.world().await, red.world().await);
    assert_ne!(blue_broken, blue_before);
    assert_ne!(red_broken, red_before);

    // The instructor's own credentials (a third account) and the wrong region: each run
    // refused, none called restored or closed, nothing changed.
    let store = store_of(&blue);
    let out = instructor.firedrill_env(&["abort", "--region", "eu-west-1"], &[(store.0, &store.1)]).code(3);
    assert!(out.stdout.contains("is in region us-east-1, not eu-west-1"), "{}", out.stdout);
    assert!(!out.stdout.contains("everything restored"), "{}", out.stdout);
    assert_eq!((blue.world().await, red.world().await), (blue_broken.clone(), red_broken.clone()));

    // The same credentials, the runs' own region: each run is reverted in its team's
    // account through the role it recorded.
    let out = instructor.firedrill_env(&["abort"], &[(store.0, &store.1)]).ok();
    assert!(out.stdout.contains("everything restored"), "{}", out.stdout);
    assert!(out.stdout.contains(&blue.account) && out.stdout.contains(&red.account), "{}", out.stdout);
    assert_eq!(blue.world().await, blue_before, "blue's stack equals its capture");
    assert_eq!(red.world().await, red_before, "red's stack equals its capture");
}

#[tokio::test]
async fn a_run_whose_account_cannot_be_reached_stays_open_and_says_so() {
    let (blue, instructor) = (Env::new().await, Env::new().await);
    blue.sandbox().await;
    let before = blue.world().await;
    blue.write("f.yaml", HTTP);
    let id = run_id(&blue.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok());
    let broken = blue.world().await;
    // The run was made with blue's own credentials (no role to assume): the instructor's
    // reach another account, which is never "gone" and never "restored".
    let store = store_of(&blue);
    for args in [&["abort"][..], &["revert", "--force"][..]] {
        let out = instructor.firedrill_env(args, &[(store.0, &store.1)]);
        assert!(matches!(out.code, Some(2 | 3)), "{args:?}: {out:?}");
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(said.contains(&format!("was made in account {}", blue.account)), "{said}");
        assert!(!said.contains("everything restored") && !said.contains("gone"), "{said}");
    }
    assert_eq!(blue.world().await, broken, "nothing changed");
    let runs = blue.firedrill(&["runs", "--output", "json"]).ok().json();
    assert_eq!(runs[0]["run_id"], id.as_str());
    assert_eq!(runs[0]["needs_revert"], true, "the run stays open: {runs:#}");
    blue.firedrill(&["revert"]).ok();
    assert_eq!(blue.world().await, before);
}

#[tokio::test]
async fn a_closed_stdout_never_stops_a_drill_or_its_revert() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    let drill = |duration: &str| {
        format!(
            "name: piped\nteams:\n{}poll: 300ms\nsteps:\n  - name: http\n    at: 0s\n    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: web }} }}, params: {{ protocol: tcp, ports: [80] }} }}\n    duration: {duration}\nend: 60s\n",
            team("blue", &env)
        )
    };
    // `firedrill run drill.yaml | head -1`, with head gone before the first line.
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Stdio::from(writer)
    };
    env.write("short.yaml", &drill("2s"));
    let child = env.spawn_firedrill_to(&["run", "short.yaml", "--yes"], &[], closed());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(env.world().await, before, "the drill ran to its end and reverted");

    // `| tee log` and Ctrl-C, which ends tee too: stdout closed, then SIGINT mid-drill.
    env.write("long.yaml", &drill("10m"));
    let mut child = env.spawn_firedrill_to(&["run", "long.yaml", "--yes"], &[], closed());
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.world().await == before {
        assert!(Instant::now() < deadline, "the break never came");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    let code = child.wait().unwrap().code();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(env.world().await, before, "everything reverted");

    // `firedrill actions | head`.
    let out = env.spawn_firedrill_to(&["actions"], &[], closed()).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_second_run_on_a_held_target_is_refused_and_stacked_runs_revert_newest_first() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("iso.yaml", ISOLATE);
    let dns = |value: &str| {
        format!(
            "name: api-{value}\naction: route53.change-record\ntarget:\n  zone: firedrill.firedrill.test\n  names: [api.firedrill.firedrill.test]\n  type: A\nparams:\n  value: {value}\n"
        )
    };
    env.write("dns.yaml", &dns("10.42.99.99"));
    env.write("dns2.yaml", &dns("10.42.88.88"));
    let first = run_id(&env.firedrill(&["inject", "iso.yaml", "dns.yaml", "--yes", "--output", "json"]).ok());
    let during = env.world().await;

    // The same targets again: refused, naming the run, nothing changed.
    for f in ["iso.yaml", "dns2.yaml"] {
        let out = env.firedrill(&["inject", f, "--yes"]).code(2);
        assert!(out.stderr.contains(&format!("is held by open run {first} of this state store")), "{}", out.stderr);
    }
    // From another state store (a second instructor): the hold tag says so. Route 53
    // records carry no tags: the local store is what holds them.
    let other = [("FIREDRILL_STATE", "other-store")];
    let out = env.firedrill_env(&["inject", "iso.yaml", "--yes"], &other).code(2);
    assert!(out.stderr.contains(&format!("held by run {first}")), "{}", out.stderr);
    assert!(out.stderr.contains("which this state store does not know"), "{}", out.stderr);
    assert_eq!(env.world().await, during, "nothing changed");

    // --stack breaks them again on top; the older run cannot be reverted first.
    let second =
        run_id(&env.firedrill(&["inject", "iso.yaml", "dns2.yaml", "--yes", "--stack", "--output", "json"]).ok());
    let out = env.firedrill(&["revert", &first]).code(2);
    assert!(out.stderr.contains(&format!("run {second} is newer and still open")), "{}", out.stderr);
    // The kill switch reverts the newest first, each from its own snapshot: the account
    // reads back as before the first break (the record's value, the interfaces' groups).
    let out = env.firedrill(&["abort"]).ok();
    assert!(out.stdout.contains("everything restored"), "{}", out.stdout);
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn two_stores_injecting_at_once_never_both_break_a_target() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    env.many_groups(sb["vpc"].as_str().unwrap(), 22, "race").await;
    let before = env.world().await;
    env.write("f.yaml", "name: race\naction: security-group.revoke-ingress\ntarget:\n  tags: { Many: race }\n");
    let children: Vec<_> = ["store-a", "store-b"]
        .map(|s| env.spawn_firedrill(&["inject", "f.yaml", "--yes"], &[("FIREDRILL_STATE", s)]))
        .into_iter()
        .collect();
    let outs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let won: Vec<&str> =
        ["store-a", "store-b"].into_iter().zip(&outs).filter(|(_, o)| o.status.success()).map(|(s, _)| s).collect();
    for o in &outs {
        assert!(matches!(o.status.code(), Some(0 | 2)), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(won.len() <= 1, "both broke the same groups");
    for s in won {
        env.firedrill_env(&["revert"], &[("FIREDRILL_STATE", s)]).ok();
    }
    assert_eq!(env.world().await, before, "every group has its rule, and no hold tag is left");
}

#[tokio::test]
async fn one_bad_run_directory_never_disables_the_kill_switch() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    env.write("db.yaml", DB);
    let good = run_id(&env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok());
    let runs = env.state.join("runs");

    // A stray directory: `revert` writes nothing into what is not a run.
    std::fs::create_dir(runs.join("stray")).unwrap();
    env.firedrill(&["revert", "stray"]).code(2).stderr_has("is not a firedrill run");
    assert_eq!(std::fs::read_dir(runs.join("stray")).unwrap().count(), 0, "no lock, no journal");
    // A journal whose first line is garbled.
    let damaged = runs.join("20200101T000000.000Z-dead");
    std::fs::create_dir(&damaged).unwrap();
    std::fs::write(damaged.join("journal.jsonl"), "{\"event\":\"run-sta\n{\"event\":\"injecting\"}\n").unwrap();
    // A kill between the run's directory and its first journal line.
    let killed = env.firedrill_env(&["inject", "db.yaml", "--yes"], &[("FIREDRILL_FAILPOINT", "before-run-started")]);
    assert_eq!(killed.code, None, "{killed:?}");

    let listed = env.firedrill(&["runs", "--output", "json"]).ok().json();
    let status: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["run_id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status, [(good.as_str(), "injected"), ("20200101T000000.000Z-dead", "damaged")], "{listed:#}");
    env.firedrill(&["status"]).ok();
    env.firedrill(&["sweep"]).ok();
    // The kill switch aborts the rest and names the damaged one.
    let out = env.firedrill(&["abort"]).code(3);
    assert!(out.stdout.contains("DAMAGED run directory 20200101T000000.000Z-dead"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("run {good}  reverted")), "{}", out.stdout);
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn paths_and_links_never_lead_outside_the_state_directory() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    let id = run_id(&env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok());
    let during = env.world().await;

    env.firedrill(&["revert", "../../elsewhere/dir"]).code(2).stderr_has("is not a run id");
    assert!(!env.dir.join("elsewhere").exists() && !env.state.join("elsewhere").exists());
    env.firedrill(&["sandbox", "up", "--name", "../../x"]).code(2).stderr_has("is not a sandbox name");
    assert!(!env.dir.join("x.json").exists() && !env.state.join("x.json").exists());

    // A lock (then a journal) replaced by a link to someone's file: refused, not written through.
    let run = env.state.join("runs").join(&id);
    let victim = env.dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::remove_file(run.join("lock")).unwrap();
    std::os::unix::fs::symlink(&victim, run.join("lock")).unwrap();
    env.firedrill(&["revert", &id]).code(2).stderr_has("is a symbolic link");
    std::fs::remove_file(run.join("lock")).unwrap();
    let journal = run.join("journal.jsonl");
    std::fs::rename(&journal, env.dir.join("journal-copy")).unwrap();
    std::os::unix::fs::symlink(env.dir.join("journal-copy"), &journal).unwrap();
    env.firedrill(&["revert", &id]).code(2).stderr_has("symbolic link");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(env.world().await, during, "nothing changed");
    std::fs::remove_file(&journal).unwrap();
    std::fs::rename(env.dir.join("journal-copy"), &journal).unwrap();
    env.firedrill(&["revert", &id]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_tampered_snapshot_is_refused_and_a_forged_reverted_line_is_caught() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let before = env.world().await;
    let web = sb["web_security_group"].as_str().unwrap().to_owned();
    let db = sb["db_security_group"].as_str().unwrap().to_owned();
    env.write("f.yaml", HTTP);
    let id = run_id(&env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok());
    let during = env.world().await;
    let run = env.state.join("runs").join(&id);
    let snapshot = run.join("snapshots/0-http.json");
    let original = std::fs::read_to_string(&snapshot).unwrap();

    // A world-open rule added to the snapshot: refused, naming the file.
    let mut edited: serde_json::Value = serde_json::from_str(&original).unwrap();
    edited["targets"][0]["change"]["rules"].as_array_mut().unwrap().push(serde_json::json!(
        {"protocol": "tcp", "from_port": 0, "to_port": 65535, "cidr": "0.0.0.0/0"}
    ));
    std::fs::write(&snapshot, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let out = env.firedrill(&["revert", &id]).code(2);
    assert!(out.stderr.contains("0-http.json is not the file this run wrote"), "{}", out.stderr);
    assert_eq!(env.world().await, during, "nothing restored from it");

    // The change pointed at another group, with the journal's digests forged to match:
    // a revert touches only the run's own targets.
    let mut pointed: serde_json::Value = serde_json::from_str(&original).unwrap();
    pointed["targets"][0]["change"]["group_id"] = serde_json::Value::String(db.clone());
    let bytes = serde_json::to_vec_pretty(&pointed).unwrap();
    std::fs::write(&snapshot, &bytes).unwrap();
    let journal = run.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let forged: Vec<String> = text
        .lines()
        .map(|l| {
            let mut e: serde_json::Value = serde_json::from_str(l).unwrap();
            if e["event"] == "snapshot" && e["file"] == "snapshots/0-http.json" {
                e["sha256"] = firedrill::store::snapshot::sha256(&bytes).into();
            }
            if e["event"] == "planned" {
                let change = &pointed["targets"][0]["change"];
                e["change_sha256"] = firedrill::store::snapshot::change_sha256(change).into();
            }
            e.to_string()
        })
        .collect();
    std::fs::write(&journal, forged.join("\n") + "\n").unwrap();
    let out = env.firedrill(&["revert", &id]).code(2);
    assert!(out.stderr.contains(&format!("is about {db}, not {web}")), "{}", out.stderr);
    assert_eq!(env.world().await, during, "the db group was not touched");
    std::fs::write(&snapshot, &original).unwrap();
    std::fs::write(&journal, &text).unwrap();
    env.firedrill(&["revert", &id]).ok();
    assert_eq!(env.world().await, before);

    // A forged `reverted` line: the journal says done, a look says broken.
    let id = run_id(&env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok());
    let journal = env.state.join("runs").join(&id).join("journal.jsonl");
    let mut j = std::fs::OpenOptions::new().append(true).open(&journal).unwrap();
    std::io::Write::write_all(
        &mut j,
        format!("{{\"event\":\"reverted\",\"at\":\"t\",\"fault\":0,\"target\":\"{web}\"}}\n").as_bytes(),
    )
    .unwrap();
    let out = env.firedrill(&["status", &id, "--verify"]).code(3);
    assert!(out.stderr.contains(&format!("{web} (recorded reverted, broken now)")), "{}", out.stderr);
    let again = "broken again: restoring it";
    env.firedrill(&["revert", &id, "--verify"]).ok_allowing(&[again]).stderr_has(again);
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn sweep_deletes_only_what_is_unmistakably_firedrills() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    // A production group with rules, carrying a stale run tag of long ago.
    let vpc = sb["vpc"].as_str().unwrap();
    let prod = env.group_with_rule(vpc, "prod-api", &[("firedrill:run", "legacy-2019")], 443, "0.0.0.0/0").await;
    let before = env.world().await;
    let out = env.firedrill(&["sweep", "--delete"]).ok();
    assert!(out.stdout.contains(&format!("security-group {prod}")), "listed: {}", out.stdout);
    assert!(out.stdout.contains("left alone: lacks firedrill's full tag set"), "{}", out.stdout);
    assert_eq!(env.world().await, before, "the production group and its rule are still there");
}

#[tokio::test]
async fn sigterm_mid_revert_finishes_the_calls_in_flight_and_a_rerun_completes() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    env.many_groups(sb["vpc"].as_str().unwrap(), 100, "term").await;
    let before = env.world().await;
    env.write("f.yaml", "name: many\naction: security-group.revoke-ingress\ntarget:\n  tags: { Many: term }\n");
    let id = run_id(&env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok());

    let slow = [("FIREDRILL_FAILPOINT", "pause-after-revert-call"), ("FIREDRILL_FAILPOINT_PAUSE", "1.5")];
    let mut child = env.spawn_firedrill(&["revert", &id, "--concurrency", "4"], &slow);
    let rest = wait_stderr(&mut child, "pausing");
    std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let code = child.wait().unwrap().code();
    let said = drain(&rest);
    assert_eq!(code, Some(130), "{said:#?}");
    assert!(said.iter().any(|l| l.contains("finishing the revert calls in flight")), "{said:#?}");
    let status = env.firedrill(&["status", &id, "--offline", "--output", "json"]).ok().json();
    let phases: Vec<&str> =
        status["faults"][0]["targets"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    let reverted = phases.iter().filter(|p| **p == "reverted").count();
    assert!((1..100).contains(&reverted), "the calls in flight were journaled, no more: {phases:?}");
    assert!(phases.iter().all(|p| matches!(*p, "reverted" | "revert-failed" | "injected")), "{phases:?}");

    env.firedrill(&["revert", &id]).ok();
    assert_eq!(env.world().await, before, "nothing lost");
}

/// A tmpfs of `size`, mounted (as root, as CI runs) for one test and unmounted after it.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: std::path::PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(&at)
            .output()
            .unwrap();
        assert!(out.status.success(), "this test mounts a tmpfs, as root (CI runs as root): {out:?}");
        SmallDisk(at)
    }

    /// Write until the disk is full.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while std::io::Write::write_all(&mut f, &block).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_mid_inject_names_what_is_still_broken_and_leaves_no_temporary_file() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    env.many_groups(sb["vpc"].as_str().unwrap(), 100, "full").await;
    let before = env.world().await;
    let disk = SmallDisk::mount(env.dir.join("disk"), "8m");
    let state = disk.0.join(".firedrill").display().to_string();
    env.write("f.yaml", "name: many\naction: security-group.revoke-ingress\ntarget:\n  tags: { Many: full }\n");

    let env_vars = [
        ("FIREDRILL_STATE", state.as_str()),
        ("FIREDRILL_FAILPOINT", "pause-after-inject-call"),
        ("FIREDRILL_FAILPOINT_PAUSE", "2"),
    ];
    let mut child = env.spawn_firedrill(&["inject", "f.yaml", "--yes", "--concurrency", "8"], &env_vars);
    let rest = wait_stderr(&mut child, "pausing");
    disk.fill();
    let code = child.wait().unwrap().code();
    let said = drain(&rest);
    let said = said.join("\n");
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("still broken: sg-"), "the message names what is broken: {said}");
    let mut tmp = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(&state)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else if e.file_name().to_string_lossy().ends_with(".tmp") {
                tmp.push(e.path());
            }
        }
    }
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");

    // Room again: the run is finished from what the store holds.
    std::fs::remove_file(disk.0.join("filler")).unwrap();
    env.firedrill_env(&["revert"], &[("FIREDRILL_STATE", state.as_str())]).ok();
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn plan_says_where_a_target_is_and_a_fault_or_the_guardrails_can_pin_a_vpc() {
    let env = Env::new().await;
    let sb = env.sandbox().await;
    let ours = sb["vpc"].as_str().unwrap().to_owned();
    // A production VPC with a group of the same name and tag.
    let prod = env.ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let twin = env.group_with_rule(&prod, "firedrill-web", &[("Tier", "web")], 80, "10.9.0.0/16").await;

    env.write("f.yaml", HTTP);
    let plan = env.firedrill(&["plan", "f.yaml"]).ok().stdout;
    assert!(plan.contains(&format!("(firedrill-web) in {ours}")), "{plan}");
    assert!(plan.contains(&format!("{twin} (firedrill-web) in {prod}")), "both VPCs' groups, each named: {plan}");
    env.write(
        "pinned.yaml",
        &HTTP.replace("  tags: { Tier: web }\n", &format!("  tags: {{ Tier: web }}\n  vpc: {ours}\n")),
    );
    let pinned = env.firedrill(&["plan", "pinned.yaml", "--output", "json"]).ok().json();
    let picked: Vec<&str> =
        pinned["faults"][0]["targets"].as_array().unwrap().iter().map(|t| t["vpc"].as_str().unwrap()).collect();
    assert_eq!(picked, [ours.as_str()], "{pinned:#}");
    env.write("firedrill.yaml", &format!("guardrails:\n  vpcs: [{ours}]\n"));
    env.firedrill(&["plan", "f.yaml"])
        .code(2)
        .stderr_has(&format!("guardrails.vpcs (firedrill.yaml): {twin} (firedrill-web) is in {prod}"));
    env.write("bad.yaml", "name: r\naction: iam.detach-policies\ntarget:\n  tags: { Tier: web }\n  vpc: vpc-1\n");
    env.firedrill(&["validate", "bad.yaml"])
        .code(2)
        .stderr_has("bad.yaml:5:8: error: `vpc` applies to targets that live in a VPC");
}

#[tokio::test]
async fn abort_stops_an_inject_in_progress_and_everything_is_restored() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    let slow = [("FIREDRILL_FAILPOINT", "pause-after-inject-call"), ("FIREDRILL_FAILPOINT_PAUSE", "30")];
    let mut child = env.spawn_firedrill(&["inject", "f.yaml", "--yes"], &slow);
    let rest = wait_stderr(&mut child, "pausing");
    let out = env.firedrill(&["abort"]).ok();
    assert!(out.stdout.contains(&format!("told pid {}", child.id())), "{}", out.stdout);
    assert!(out.stdout.contains("everything restored"), "{}", out.stdout);
    let code = child.wait().unwrap().code();
    let said = drain(&rest);
    assert_eq!(code, Some(130), "the inject rolled back on SIGTERM: {said:#?}");
    assert_eq!(env.world().await, before);
}

#[tokio::test]
async fn a_lost_post_break_file_does_not_block_revert() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    let id = run_id(&env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok());
    std::fs::remove_file(env.state.join("runs").join(&id).join("snapshots/0-http.after.json")).unwrap();
    let lost = "the state right after the fault cannot be used";
    env.firedrill(&["revert", &id]).ok_allowing(&[lost]).stderr_has(lost);
    assert_eq!(env.world().await, before, "restored from the pre-break snapshot alone");
}
