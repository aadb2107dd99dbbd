//! Misuse and damage: a damaged journal, a run another process holds, secrets.

use crate::harness::Env;

const HTTP: &str = "name: http\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\nparams:\n  protocol: tcp\n  ports: [80]\n";

fn run_dir(env: &Env, run_id: &str) -> std::path::PathBuf {
    env.state.join("runs").join(run_id)
}

#[tokio::test]
async fn a_damaged_journal_is_reported_by_line_and_revert_still_restores_everything() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", HTTP);
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let run_id = run["run_id"].as_str().unwrap();
    // Damage the line that says the target was being injected, and the one after it.
    let path = run_dir(&env, run_id).join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let first_damaged = 1 + text.lines().position(|l| l.contains("\"injecting\"")).unwrap();
    let damaged: Vec<String> = text
        .lines()
        .map(|l| {
            if l.contains("\"injecting\"") || l.contains("\"injected\"") {
                "{\"event\": garbage".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&path, damaged.join("\n") + "\n").unwrap();

    let out = env.firedrill(&["status", run_id]).ok_allowing(&["unreadable journal line skipped"]);
    let warned = format!("journal.jsonl:{first_damaged}: unreadable journal line skipped");
    assert!(out.stderr.contains(&warned), "{}", out.stderr);
    env.firedrill(&["revert", run_id]).ok_allowing(&["unreadable journal line skipped"]);
    assert_eq!(env.world().await, before, "the target counted as possibly injected, and was restored");
}

#[tokio::test]
async fn a_run_another_process_holds_is_refused_clearly() {
    let env = Env::new().await;
    env.sandbox().await;
    env.write("f.yaml", HTTP);
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let run_id = run["run_id"].as_str().unwrap();
    let during = env.world().await;
    // Hold the run's lock, as a second firedrill process in the middle of a revert would.
    let lock = std::fs::OpenOptions::new().write(true).open(run_dir(&env, run_id).join("lock")).unwrap();
    lock.lock().unwrap();
    env.firedrill(&["revert", run_id]).code(2).stderr_has("is locked by another firedrill process");
    assert_eq!(env.world().await, during, "nothing changed");
    drop(lock);
    env.firedrill(&["revert", run_id]).ok();
}

#[tokio::test]
async fn no_credential_reaches_the_state_store_or_the_logs() {
    let env = Env::new().await;
    env.sandbox().await;
    env.write("f.yaml", HTTP);
    // Every line is a debug log here; what matters is that none holds a secret.
    let inject = env.firedrill(&["-vv", "inject", "f.yaml", "--yes"]).ok_allowing(&[""]);
    let revert = env.firedrill(&["-vv", "revert"]).ok_allowing(&[""]);
    let secrets = [env.creds.secret_access_key().to_owned(), env.creds.session_token().unwrap().to_owned()];
    let mut files = vec![env.state.clone()];
    let mut seen = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        seen += 1;
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a credential in {}", p.display());
        }
    }
    assert!(seen >= 4, "journal, lock, snapshots and the sandbox manifest were checked");
    for s in &secrets {
        assert!(!inject.stderr.contains(s.as_str()) && !revert.stderr.contains(s.as_str()), "a credential in the logs");
    }
    assert!(inject.stderr.contains("DEBUG"), "the logs were on");
}

#[tokio::test]
async fn sweep_finds_what_a_lost_state_directory_left_behind_and_deletes_it() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    // A quarantine group whose creation was never journaled (crash), a deny policy, and a
    // world-open rule — then the state directory is lost.
    env.write("iso.yaml", "name: iso\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n");
    env.write("deny.yaml", "name: deny\naction: iam.deny-actions\ntarget:\n  tags: { Tier: web }\nparams:\n  actions: [\"s3:GetObject\"]\n");
    env.write(
        "open.yaml",
        "name: open\naction: security-group.open-ingress\ntarget:\n  tags: { Tier: db }\nparams:\n  ports: [5432]\n",
    );
    let crashed = env.firedrill_env(&["inject", "iso.yaml", "--yes"], &[("FIREDRILL_FAILPOINT", "after-create")]);
    assert_eq!(crashed.code, None);
    env.firedrill(&["inject", "deny.yaml", "open.yaml", "--yes"]).ok();
    std::fs::remove_dir_all(&env.state).unwrap();
    let during = env.world().await;

    let found = env.firedrill(&["sweep", "--output", "json"]).ok().json();
    let mut kinds: Vec<&str> = found.as_array().unwrap().iter().map(|l| l["kind"].as_str().unwrap()).collect();
    kinds.sort();
    // The hold tags of this store's lost runs: two instances, the db group, the role.
    assert_eq!(
        kinds,
        ["hold-tag", "hold-tag", "hold-tag", "hold-tag", "inline-policy", "security-group", "security-group-rule"],
        "{found:#}"
    );
    assert!(found.as_array().unwrap().iter().all(|l| l.get("kept").is_none()), "all of them this store's: {found:#}");
    assert!(found.as_array().unwrap().iter().all(|l| l["why"] == "run unknown to this state store"));
    assert_eq!(env.world().await, during, "listing deletes nothing");

    env.firedrill(&["sweep", "--delete"]).ok();
    assert_eq!(env.world().await, before, "every leftover removed");
    env.firedrill(&["sweep"]).ok().stdout.contains("no leftovers").then_some(()).expect("nothing left");
}

#[tokio::test]
async fn sweep_leaves_what_an_open_run_owns_and_refuses_what_is_in_use() {
    let env = Env::new().await;
    env.sandbox().await;
    env.write("iso.yaml", "name: iso\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n");
    env.firedrill(&["inject", "iso.yaml", "--yes"]).ok();
    env.firedrill(&["sweep"]).ok().stdout.contains("no leftovers").then_some(()).expect("an open run owns its group");
    // The same group, once its run is forgotten, is still in use: sweep refuses it.
    let runs = env.state.join("runs");
    std::fs::remove_dir_all(&runs).unwrap();
    let out = env.firedrill(&["sweep", "--delete"]).code(3);
    assert!(out.stdout.contains("NOT deleted") && out.stdout.contains("is still used by eni-"), "{}", out.stdout);
}

#[tokio::test]
async fn an_unknown_run_is_a_clear_error() {
    let env = Env::new().await;
    env.firedrill(&["revert", "20991231T000000.000Z-dead"]).code(2).stderr_has("no run 20991231T000000.000Z-dead in");
    env.firedrill(&["status", "20991231T000000.000Z-dead", "--offline"]).code(2).stderr_has("no run");
}

/// `firedrill --version` names the commit it was built from (here, this checkout's).
#[test]
fn the_version_names_the_commit() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firedrill")).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(crate::harness::ROOT)
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    assert_eq!(version, format!("firedrill {} ({head})", env!("CARGO_PKG_VERSION")));
}
