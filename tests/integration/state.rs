//! The S3 state store: runs reachable from any machine with nothing shared but the
//! bucket, locks that one process at a time holds, leases that run out, refusals of
//! buckets and prefixes that cannot be a store, and moving a store between the two kinds.

use crate::harness::Env;

const ISOLATE: &str = "name: iso\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n";

#[tokio::test]
async fn two_working_directories_share_runs_through_the_bucket_and_nothing_else() {
    let mut env = Env::new().await;
    let url = env.use_s3_state().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", ISOLATE);
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let id = run["run_id"].as_str().unwrap().to_owned();
    assert_ne!(env.world().await, before, "the fault broke the stack");
    assert!(!env.dir.join(".firedrill").exists(), "no local state was written");

    // Another terminal: its own directory, the same bucket.
    let runs = env.firedrill_elsewhere("b", &["runs", "--output", "json"], &[]).ok().json();
    assert_eq!(runs[0]["run_id"], id.as_str(), "{runs}");
    let status = env.firedrill_elsewhere("b", &["status", "--output", "json"], &[]).ok();
    assert!(status.stdout.contains("injected"), "{}", status.stdout);
    env.firedrill_elsewhere("b", &["revert", &id], &[]).ok();
    assert_eq!(env.world().await, before, "restored from the other directory");
    let shown = env.firedrill_elsewhere("c", &["show", &id], &[]).ok();
    assert!(shown.stdout.contains("reverted"), "{}", shown.stdout);

    // And the kill switch, from a third.
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    assert_ne!(env.world().await, before);
    env.firedrill_elsewhere("c", &["abort"], &[]).ok();
    assert_eq!(env.world().await, before, "aborted from the third directory");
    let (bucket, prefix) = url.trim_start_matches("s3://").split_once('/').unwrap();
    let keys = env.objects(bucket, prefix).await;
    let run_id = run["run_id"].as_str().unwrap();
    assert!(keys.iter().any(|k| k.ends_with("firedrill-store.json")), "{keys:#?}");
    assert!(keys.iter().any(|k| k.contains(&format!("runs/{run_id}/snapshots/"))), "{keys:#?}");
    assert!(keys.iter().any(|k| k.contains(&format!("runs/{run_id}/journal/000000000000.jsonl"))), "{keys:#?}");
    assert!(!keys.iter().any(|k| k.ends_with("/lock")), "every lock was released: {keys:#?}");
    for key in &keys {
        let head = env.s3().head_object().bucket(bucket).key(key).send().await.unwrap();
        assert_eq!(head.server_side_encryption().map(|e| e.as_str()), Some("AES256"), "{key}");
    }
}

#[tokio::test]
async fn with_a_kms_key_every_object_is_encrypted_with_it() {
    let mut env = Env::new().await;
    let url = env.use_s3_state().await;
    // The emulator records the key each object is encrypted with, without checking it
    // exists: what is tested is that firedrill asks for it on every object it writes.
    let key = format!("arn:aws:kms:us-east-1:{}:key/0b6d8f0e-4c7a-4f1e-9d0a-1a2b3c4d5e6f", env.account);
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", ISOLATE);
    let with_key = [("FIREDRILL_STATE_KMS_KEY", key.as_str())];
    let run = env.firedrill_env(&["inject", "f.yaml", "--yes", "--output", "json"], &with_key).ok().json();
    env.firedrill_env(&["revert", run["run_id"].as_str().unwrap()], &with_key).ok();
    assert_eq!(env.world().await, before);
    let (bucket, prefix) = url.trim_start_matches("s3://").split_once('/').unwrap();
    // The run's objects (the marker and the sandbox's manifest were written before, by
    // commands given no key).
    let keys = env.objects(bucket, &format!("{prefix}/runs/")).await;
    assert!(keys.len() > 3, "{keys:#?}");
    for k in &keys {
        let head = env.s3().head_object().bucket(bucket).key(k).send().await.unwrap();
        assert_eq!(head.server_side_encryption().map(|e| e.as_str()), Some("aws:kms"), "{k}");
        assert!(head.ssekms_key_id().is_some_and(|id| id.contains(&key)), "{k}: {:?}", head.ssekms_key_id());
    }
}

#[tokio::test]
async fn a_crashed_holders_lock_is_taken_over_once_its_lease_ran_out_and_the_journal_says_so() {
    let mut env = Env::new().await;
    env.use_s3_state().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", ISOLATE);
    // The process dies holding a lock with a lease of 5 s.
    let lease = [("FIREDRILL_FAILPOINT", "after-injected"), ("FIREDRILL_STATE_LEASE", "5")];
    let out = env.firedrill_env(&["inject", "f.yaml", "--yes"], &lease);
    let died = std::time::Instant::now();
    assert_eq!(out.code, None, "aborted: {out:?}");
    let runs = env.firedrill_elsewhere("b", &["runs", "--output", "json"], &[]).ok().json();
    let id = runs[0]["run_id"].as_str().unwrap().to_owned();
    // Its lease has not run out yet: refused, naming the holder and its lease.
    let out = env.firedrill_elsewhere("b", &["revert", &id], &[]).code(2);
    assert!(died.elapsed() < std::time::Duration::from_secs(4), "the refusal came while the lease held");
    assert!(out.stderr.contains("locked") && out.stderr.contains("lease runs out in"), "{}", out.stderr);
    std::thread::sleep(
        std::time::Duration::from_secs(5).saturating_sub(died.elapsed()) + std::time::Duration::from_millis(300),
    );
    env.firedrill_elsewhere("b", &["revert", &id], &[]).ok_allowing(&["took over the lock"]);
    assert_eq!(env.world().await, before);
    let shown = env.firedrill_elsewhere("c", &["show", &id], &[]).ok();
    assert!(shown.stdout.contains("took over the run's lock from pid"), "{}", shown.stdout);
}

#[tokio::test]
async fn of_two_processes_racing_for_a_runs_lock_exactly_one_wins() {
    let mut env = Env::new().await;
    env.use_s3_state().await;
    // The emulator checks a conditional write, then writes: two at once could both pass.
    // The proxy makes the race deterministic: the first lock write waits until a second
    // one has been answered, then goes, and must find the lock taken.
    let proxy = crate::proxy::Proxy::start(crate::harness::endpoint());
    env.aws = proxy.endpoint.clone();
    env.sandbox().await;
    env.write("f.yaml", ISOLATE);
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let id = run["run_id"].as_str().unwrap().to_owned();
    // Two reverts race for the run's lock; the first to ask waits for the second's answer.
    proxy.set(|r| r.hold_first = Some(("PUT", format!("runs/{id}/lock"))));
    let racers: Vec<_> = ["a", "b"]
        .iter()
        .map(|d| {
            let dir = env.dir.join("elsewhere").join(d);
            std::fs::create_dir_all(&dir).unwrap();
            // A lease longer than the race: S3 dates by the second, so a 1 s lease could
            // be judged run out while its holder still renews it.
            env.spawn_firedrill_in(&dir, &["revert", &id], &[("FIREDRILL_STATE_LEASE", "30")])
        })
        .collect();
    let outs: Vec<_> = racers.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [Some(0), Some(2)], "one wins, one is refused: {outs:#?}");
    let loser = outs.iter().find(|o| o.status.code() == Some(2)).unwrap();
    let stderr = String::from_utf8_lossy(&loser.stderr);
    assert!(stderr.contains("locked") && stderr.contains("pid "), "the holder is named: {stderr}");
    assert!(proxy.held() >= 1, "the race went through the held write");
}

#[tokio::test]
async fn buckets_and_prefixes_that_cannot_be_a_store_are_refused_with_the_reason() {
    let env = Env::new().await;
    let state = |url: &str| vec![("FIREDRILL_STATE", url.to_owned())];
    let run = |url: &str, args: &[&str]| {
        let extra = state(url);
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.firedrill_env(args, &extra)
    };
    let out = run("s3://no-such-bucket-anywhere/x", &["runs"]).code(2);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    let plain = env.bucket(false).await;
    let out = run(&format!("s3://{plain}/x"), &["runs"]).code(2);
    assert!(out.stderr.contains("no versioning") && out.stderr.contains("--allow-unversioned"), "{}", out.stderr);
    run(&format!("s3://{plain}/x"), &["runs", "--allow-unversioned"]).ok();
    let versioned = env.bucket(true).await;
    let s3 = env.s3();
    s3.put_object()
        .bucket(&versioned)
        .key("tfstate/terraform.tfstate")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    let out = run(&format!("s3://{versioned}/tfstate"), &["runs"]).code(2);
    assert!(out.stderr.contains("is not a firedrill store"), "{}", out.stderr);
    let out = run("s3://Not_A_Bucket/x", &["runs"]).code(2);
    assert!(out.stderr.contains("not an S3 bucket name"), "{}", out.stderr);
    // A journal entry that is not JSON: listed as damaged, the store still usable.
    let url = format!("s3://{versioned}/good");
    run(&url, &["runs"]).ok();
    s3.put_object()
        .bucket(&versioned)
        .key("good/firedrill-store.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    let key = "good/runs/20261206T000000.000Z-0bad/journal/000000000000.jsonl";
    s3.put_object().bucket(&versioned).key(key).body(b"not json\n".to_vec().into()).send().await.unwrap();
    let out = run(&url, &["runs"]).ok();
    assert!(out.stdout.contains("0bad") && out.stdout.contains("damaged"), "{}", out.stdout);
}

#[tokio::test]
async fn a_store_moves_to_s3_and_back_and_its_runs_still_revert() {
    let mut env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", ISOLATE);
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let id = run["run_id"].as_str().unwrap().to_owned();
    let local = env.state.display().to_string();
    let bucket = env.bucket(true).await;
    let url = format!("s3://{bucket}/moved");
    // Not while a process is changing a run: its lock is held (here, a revert paused
    // mid-call), and the copy would miss what it writes next.
    let pause = [("FIREDRILL_FAILPOINT", "pause-after-revert-call"), ("FIREDRILL_FAILPOINT_PAUSE", "30")];
    let mut busy = env.spawn_firedrill(&["revert", &id], &pause);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(busy.stderr.take().unwrap()));
    assert!(lines.any(|l| l.unwrap().contains("pausing")), "the revert never reached the pause");
    let out = env.firedrill(&["state", "migrate", "--from", &local, "--to", &url]).code(2);
    assert!(out.stderr.contains("locked") && out.stderr.contains(&id), "{}", out.stderr);
    assert!(env.objects(&bucket, "moved").await.is_empty(), "nothing copied");
    busy.kill().unwrap();
    busy.wait().unwrap();
    let out = env.firedrill(&["state", "migrate", "--from", &local, "--to", &url]).ok();
    assert!(out.stdout.contains("1 run"), "{}", out.stdout);
    // Migrating again is refused: the destination has runs already.
    env.firedrill(&["state", "migrate", "--from", &local, "--to", &url]).code(2);
    // A run being changed is not moved: its lock is held.
    env.state_url = Some(url.clone());
    let back = env.dir.join("back").display().to_string();
    env.firedrill(&["state", "migrate", "--from", &url, "--to", &back]).ok();
    env.firedrill(&["status", &id, "--state", &back]).ok();
    env.firedrill(&["revert", &id]).ok();
    assert_eq!(env.world().await, before, "reverted from the S3 copy");
}

#[tokio::test]
async fn a_writer_whose_lease_was_taken_over_can_write_nothing_more() {
    let mut env = Env::new().await;
    env.use_s3_state().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", ISOLATE);
    let pause = [("FIREDRILL_FAILPOINT", "pause-after-inject-call"), ("FIREDRILL_FAILPOINT_PAUSE", "3")];
    let mut child = env.spawn_firedrill(&["inject", "f.yaml", "--yes"], &pause);
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    assert!(lines.any(|l| l.unwrap().contains("pausing")), "inject never reached the pause");
    // Freeze it, lease renewals and all (a laptop lid closed, a partitioned runner).
    let signal = |s: &str| std::process::Command::new("kill").arg(s).arg(child.id().to_string()).status().unwrap();
    assert!(signal("-STOP").success());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let runs = env.firedrill_elsewhere("b", &["runs", "--output", "json"], &[]).ok().json();
    let id = runs[0]["run_id"].as_str().unwrap().to_owned();
    env.firedrill_elsewhere("b", &["revert", &id], &[]).ok_allowing(&["took over the lock"]);
    assert_eq!(env.world().await, before, "reverted by the process that took the lock over");
    let journal_before = env.firedrill_elsewhere("b", &["show", &id, "--output", "json"], &[]).ok().stdout;
    // It wakes up: its next journal entry is refused, so it changes nothing more.
    assert!(signal("-CONT").success());
    let out = child.wait_with_output().unwrap();
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    assert_ne!(out.status.code(), Some(0), "{rest:#?}");
    assert!(rest.iter().any(|l| l.contains("no longer holds the run's lock")), "{rest:#?}");
    assert_eq!(env.world().await, before, "the stale writer changed nothing");
    let journal_after = env.firedrill_elsewhere("b", &["show", &id, "--output", "json"], &[]).ok().stdout;
    assert_eq!(journal_after, journal_before, "not one event from the stale writer");
}

#[tokio::test]
async fn s3_slowing_down_delays_the_run_and_loses_nothing() {
    let mut env = Env::new().await;
    env.use_s3_state().await;
    let proxy = crate::proxy::Proxy::start(crate::harness::endpoint());
    // Every third S3 call answered `503 SlowDown`, eight times.
    proxy.set(|r| r.s3_slow_down = Some((3, 8)));
    env.aws = proxy.endpoint.clone();
    env.sandbox().await;
    let before = env.world().await;
    env.write("f.yaml", ISOLATE);
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let id = run["run_id"].as_str().unwrap().to_owned();
    env.firedrill_elsewhere("b", &["revert", &id], &[]).ok();
    assert_eq!(env.world().await, before);
    let (calls, slowed) = proxy.s3_calls();
    assert_eq!(slowed, 8, "{slowed} of {calls} S3 calls answered SlowDown");
    // Every event once, in order: the journal reads back whole.
    let shown = env.firedrill_elsewhere("c", &["show", &id, "--output", "json"], &[]).ok().json();
    let events: Vec<&str> = shown.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events.iter().filter(|e| **e == "run-started").count(), 1, "{events:?}");
    let planned = events.iter().filter(|e| **e == "planned").count();
    assert!(planned >= 1, "{events:?}");
    assert_eq!(events.iter().filter(|e| **e == "injected").count(), planned, "{events:?}");
    assert_eq!(events.iter().filter(|e| **e == "reverted").count(), planned, "{events:?}");
}

/// Every call a fault's life makes with the store on S3 (plan, inject, status, show, runs,
/// revert, sweep; the store's checks, locks, journal and snapshots) is allowed by
/// `firedrill policy` for that store, and the store's statements stay in its prefix.
#[tokio::test]
async fn the_policy_allows_every_call_a_run_on_s3_makes() {
    let mut env = Env::new().await;
    let url = env.use_s3_state().await;
    let proxy = crate::proxy::Proxy::start(crate::harness::endpoint());
    env.aws = proxy.endpoint.clone();
    env.sandbox().await;
    env.write("f.yaml", ISOLATE);
    proxy.take_iam_actions();
    env.firedrill(&["plan", "f.yaml"]).ok();
    let run = env.firedrill(&["inject", "f.yaml", "--yes", "--output", "json"]).ok().json();
    let id = run["run_id"].as_str().unwrap();
    for args in [&["status", id][..], &["show", id], &["runs"], &["revert", id], &["sweep"]] {
        env.firedrill(args).ok();
    }
    let calls = proxy.take_iam_actions();
    assert!(calls.iter().any(|c| c.starts_with("s3:")), "the store's calls went through the proxy: {calls:?}");
    let policy = env.firedrill(&["policy", "f.yaml"]).ok().json();
    let allowed = crate::harness::allowed_actions(&policy);
    let missing: Vec<_> = calls.difference(&allowed).collect();
    assert!(missing.is_empty(), "the policy does not allow calls the run made: {missing:?}");
    let bucket = url.trim_start_matches("s3://").split('/').next().unwrap();
    let text = policy.to_string();
    assert!(text.contains(&format!("arn:aws:s3:::{bucket}/gamedays/*")), "objects only under the prefix: {policy:#}");
    assert!(!text.contains(&format!("arn:aws:s3:::{bucket}/*")), "never the whole bucket: {policy:#}");
}
