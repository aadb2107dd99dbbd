//! The game day as the teams see it: the live board in a real browser (headless
//! Chromium), scores that judge the fix, detection, `reset: exact`, and the board served
//! from a second process while the drill runs and after it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
use http_body_util::{BodyExt, Empty};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::drills::{finish, lines, score, team, wait_for};
use crate::harness::{Env, Stack};

/// `GET url`: the status and the body.
async fn get(url: &str) -> (u16, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let res = client.get(url.parse().unwrap()).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status().as_u16();
    (status, String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned())
}

/// The room's board served on `port`, once it answers and `want` holds of it (30 s at most).
async fn board_until(port: u16, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let url = format!("http://127.0.0.1:{port}/api/board");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            let (status, body) = get(&url).await;
            assert_eq!(status, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            if want(&v) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "the board on port {port} never showed {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The room's board of the newest drill, from `firedrill board` in a process of its own.
async fn replay(env: &Env) -> Value {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut board = env.spawn_firedrill(&["board", "--listen", &format!("127.0.0.1:{port}")], &[]);
    let board_json = board_until(port, "the drill's end", |v| v["outcome"].is_string()).await;
    let _ = board.kill();
    let _ = board.wait();
    board_json
}

/// The tokens file `run --tokens-file` wrote: who -> (token, page URL).
fn tokens(env: &Env, name: &str) -> BTreeMap<String, (String, String)> {
    let path = env.dir.join(name);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && !text.is_empty()
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the tokens are for the instructor's eyes only");
            return text
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    (f[0].to_owned(), (f[1].to_owned(), f[2].to_owned()))
                })
                .collect();
        }
        assert!(Instant::now() < deadline, "no tokens file");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Put the web group's HTTP rule back as the runbook says: exactly as it was.
async fn fix_exactly(env: &Env, stack: &Stack) {
    let from_lb = UserIdGroupPair::builder().group_id(&stack.lb_sg).description("HTTP from the lb").build();
    let rule =
        IpPermission::builder().ip_protocol("tcp").from_port(80).to_port(80).user_id_group_pairs(from_lb).build();
    env.ec2.authorize_security_group_ingress().group_id(&stack.web_sg).ip_permissions(rule).send().await.unwrap();
}

/// "Fix" it by opening HTTP to the whole internet.
async fn fix_open_to_world(env: &Env, stack: &Stack) {
    let world = IpRange::builder().cidr_ip("0.0.0.0/0").description("quick fix").build();
    let rule = IpPermission::builder().ip_protocol("tcp").from_port(80).to_port(80).ip_ranges(world).build();
    env.ec2.authorize_security_group_ingress().group_id(&stack.web_sg).ip_permissions(rule).send().await.unwrap();
}

/// Fix the database's rule differently: PostgreSQL from the VPC rather than from the web
/// group (it works; it is not what was there).
async fn fix_db_otherwise(env: &Env, stack: &Stack) {
    let vpc = IpRange::builder().cidr_ip("10.0.0.0/16").description("from the vpc").build();
    let rule = IpPermission::builder().ip_protocol("tcp").from_port(5432).to_port(5432).ip_ranges(vpc).build();
    env.ec2.authorize_security_group_ingress().group_id(&stack.db_sg).ip_permissions(rule).send().await.unwrap();
}

/// Debug text of Rust's that must never reach a report.
fn assert_no_debug_text(what: &str, text: &str) {
    for needle in ["Some(", "None", "{ name:", "ttl: ", "RecordSet {"] {
        assert!(!text.contains(needle), "{what} shows Rust debug text {needle:?}:\n{text}");
    }
}

const HTTP_STEP: &str = "  - name: http
    at: 1s
    fault: { action: security-group.revoke-ingress, target: { tags: { Tier: web } }, params: { protocol: tcp, ports: [80] }, runbook: runbooks/security-groups.md }
    duration: 60s
";

/// Two teams, one exact fix and one world-open fix of the same break; a second step one
/// team fixes another way and the other leaves alone. Points come out exact > changed >
/// regression > reverted, the regression named; `end: { reset: exact }` leaves both
/// stacks as they were captured, the world-open rule gone too.
#[tokio::test]
async fn scores_judge_the_fix_and_reset_exact_leaves_the_stacks_as_captured() {
    let (blue, red) = (Env::new().await, Env::new().await);
    let (blue_stack, red_stack) = (blue.seed_stack().await, red.seed_stack().await);
    let (blue_before, red_before) = (blue.world().await, red.world().await);
    let drill = format!(
        "name: judged
teams:
{}{}poll: 500ms
scoring: {{ changed: 0.7, regression: 0.4 }}
steps:
{HTTP_STEP}  - name: db
    at: 1s
    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: db }} }}, params: {{ protocol: tcp, ports: [5432] }} }}
    duration: 8s
end: {{ at: 30s, reset: exact }}
",
        team("blue", &blue),
        team("red", &red)
    );
    blue.write("drill.yaml", &drill);
    let mut child = blue.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    // Both teams' breaks, in whichever order they come.
    let started = std::cell::RefCell::new(std::collections::BTreeSet::new());
    wait_for(&mut child, &rx, "both db breaks", |v| {
        if v["event"] == "step-started" && v["step"] == "db" {
            started.borrow_mut().insert(v["team"].as_str().unwrap_or_default().to_owned());
        }
        started.borrow().len() == 2
    });
    fix_exactly(&blue, &blue_stack).await;
    fix_open_to_world(&red, &red_stack).await;
    fix_db_otherwise(&blue, &blue_stack).await;
    wait_for(&mut child, &rx, "red's fix", |v| v["event"] == "target-fixed" && v["team"] == "red");
    let (code, _, stderr) = finish(child, rx);
    assert_eq!(code, Some(0), "{stderr}");

    assert_eq!(blue.world().await, blue_before, "reset: exact puts blue's stack back as captured");
    assert_eq!(red.world().await, red_before, "and red's, its world-open rule gone");

    let report = blue.firedrill(&["report", "--format", "json"]).ok().json();
    let (exact, changed) = (score(&report, "blue", "http"), score(&report, "blue", "db"));
    let (regression, reverted) = (score(&report, "red", "http"), score(&report, "red", "db"));
    assert_eq!(
        (exact["fix"].as_str(), changed["fix"].as_str(), regression["fix"].as_str()),
        (Some("exact"), Some("changed"), Some("regression")),
        "{report:#}"
    );
    assert_eq!(reverted["recovered_by"], "revert");
    let points = |s: &Value| s["points"].as_u64().unwrap();
    assert!(
        points(exact) > points(changed)
            && points(changed) > points(regression)
            && points(regression) > points(reverted),
        "exact {} > changed {} > regression {} > reverted {}",
        points(exact),
        points(changed),
        points(regression),
        points(reverted)
    );
    let named = regression["regressions"].to_string();
    assert!(named.contains("0.0.0.0/0") && named.contains("open to the world"), "{named}");
    assert!(exact["time_to_fix_s"].as_f64().is_some() && exact["time_to_recover_s"].as_f64().is_some());

    for format in ["markdown", "html", "json"] {
        let out = blue.firedrill(&["report", "--format", format]).ok().stdout;
        assert_no_debug_text(&format!("the {format} report"), &out);
        if format != "json" {
            assert!(out.contains("open to the world"), "the {format} report names the regression");
        }
    }
}

/// A step lists what should notice its break; the alarm goes off in blue's account only:
/// blue has a time to detect, red a detection gap.
#[tokio::test]
async fn detection_is_timed_per_team_and_the_gaps_are_listed() {
    let (blue, red) = (Env::new().await, Env::new().await);
    let (_, _) = (blue.seed_stack().await, red.seed_stack().await);
    for env in [&blue, &red] {
        env.alarm("web-5xx").await;
    }
    // The step gives no hints: the fault file's own are spread over its duration.
    blue.write(
        "http.yaml",
        "name: http\naction: security-group.revoke-ingress\ntarget: { tags: { Tier: web } }\nparams: { protocol: tcp, ports: [80] }\nduration: 4s\nhints: [Check the web group., Check its port 80 rule.]\n",
    );
    let drill = format!(
        "name: detect
teams:
{}{}poll: 500ms
steps:
  - name: http
    at: 0s
    fault: http.yaml
    detect: [alarm: web-5xx]
",
        team("blue", &blue),
        team("red", &red)
    );
    blue.write("drill.yaml", &drill);
    let mut child = blue.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    wait_for(&mut child, &rx, "blue's break", |v| v["event"] == "step-started" && v["team"] == "blue");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    blue.set_alarm("web-5xx", "ALARM").await;
    let detected = wait_for(&mut child, &rx, "blue's detection", |v| v["event"] == "detected");
    assert_eq!((detected["team"].as_str(), detected["by"].as_str()), (Some("blue"), Some("alarm web-5xx")));
    let (code, _, stderr) = finish(child, rx);
    assert_eq!(code, Some(0), "{stderr}");

    let report = blue.firedrill(&["report", "--format", "json"]).ok().json();
    let ttd = score(&report, "blue", "http")["time_to_detect_s"].as_f64().expect("blue detected it");
    assert!((1.0..4.0).contains(&ttd), "{ttd}");
    assert!(score(&report, "red", "http")["time_to_detect_s"].is_null());
    let hints: Vec<(String, String)> = report["hints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["team"].as_str().unwrap().to_owned(), h["text"].as_str().unwrap().to_owned()))
        .collect();
    for team in ["blue", "red"] {
        for text in ["Check the web group.", "Check its port 80 rule."] {
            assert!(
                hints.contains(&(team.to_owned(), text.to_owned())),
                "the fault file's hint {text:?} reached {team}: {hints:?}"
            );
        }
    }
    // And the board, replayed: each team's row shows both, released by the schedule.
    let room = replay(&blue).await;
    for t in room["teams"].as_array().unwrap() {
        let shown = &t["steps"][0]["hints"];
        assert_eq!(shown.as_array().map(Vec::len), Some(2), "{room:#}");
        assert_eq!(
            (shown[0]["by"].as_str(), shown[0]["text"].as_str()),
            (Some("schedule"), Some("")),
            "the room does not show what a hint says"
        );
    }
    let md = blue.firedrill(&["report", "--format", "markdown"]).ok().stdout;
    let gaps = md.split("## Detection gaps").nth(1).unwrap_or_else(|| panic!("no detection-gap table:\n{md}"));
    assert!(gaps.contains("| red | http | alarm web-5xx |"), "{gaps}");
    assert!(!gaps.split("##").next().unwrap().contains("| blue |"), "blue noticed: no gap");
}

/// The board from a second process (`firedrill board`): it shows the running drill, and
/// after the drill replays it as it ended.
#[tokio::test]
async fn a_board_in_another_process_shows_the_drill_and_replays_it_after() {
    board_in_another_process(Env::new().await).await;
}

/// The same with the drill's state in S3, and the board on another machine as far as
/// the store goes: another working directory, nothing shared but the bucket.
#[tokio::test]
async fn a_board_elsewhere_follows_a_drill_whose_state_is_in_s3() {
    let mut env = Env::new().await;
    env.use_s3_state().await;
    board_in_another_process(env).await;
}

async fn board_in_another_process(env: Env) {
    let elsewhere = env.dir.join("elsewhere").join("board");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let stack = env.seed_stack().await;
    let drill = format!("name: second\nteams:\n{}poll: 500ms\nsteps:\n{HTTP_STEP}", team("blue", &env));
    env.write("drill.yaml", &drill);
    let mut child = env.spawn_firedrill(&["run", "drill.yaml", "--yes", "--output", "json"], &[]);
    let rx = lines(&mut child);
    let started = wait_for(&mut child, &rx, "the break", |v| v["event"] == "step-started");
    assert_eq!(started["team"], "blue");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let mut board = env.spawn_firedrill_in(&elsewhere, &["board", "--listen", &listen], &[]);
    let look = |want: &'static str| board_until(port, want, move |b| b["teams"][0]["steps"][0]["state"] == want);
    let live = look("broken").await;
    assert!(live["outcome"].is_null(), "still running: {live:#}");
    fix_exactly(&env, &stack).await;
    let (code, _, stderr) = finish(child, rx);
    assert_eq!(code, Some(0), "{stderr}");
    // The drill has ended: wait for the board to have read its end too (the step's
    // recovery and the end may reach it in two looks).
    let after = board_until(port, "recovered and ended", |b| {
        b["teams"][0]["steps"][0]["state"] == "recovered" && !b["outcome"].is_null()
    })
    .await;
    assert_eq!(after["teams"][0]["steps"][0]["state"], "recovered");
    assert_eq!(after["outcome"], "completed");
    assert!(after["teams"][0]["points"].as_u64().unwrap() > 0, "{after:#}");
    let _ = board.kill();
    let _ = board.wait();

    // Later, a new board replays the finished drill the same way.
    let mut again = env.spawn_firedrill_in(&elsewhere, &["board", "--listen", &listen], &[]);
    let replayed = look("recovered").await;
    assert_eq!(replayed["teams"], after["teams"]);
    let _ = again.kill();
    let _ = again.wait();
}

/// The board in a real browser: the room page follows a break and a fix with no reload;
/// a team asks for a hint and sees it with its cost; a wrong token gets 403; the
/// instructor ends a step, which firedrill reverts, then stops the drill.
#[tokio::test]
async fn the_board_in_a_browser_follows_the_drill_and_takes_the_teams_and_instructors_requests() {
    let (blue, red) = (Env::new().await, Env::new().await);
    let (blue_stack, _) = (blue.seed_stack().await, red.seed_stack().await);
    let (blue_before, red_before) = (blue.world().await, red.world().await);
    let drill = format!(
        "name: browser
teams:
{}{}poll: 500ms
steps:
  - name: http
    at: 2s
    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: web }} }}, params: {{ protocol: tcp, ports: [80] }} }}
    duration: 120s
    hints: [{{ after: 100s, text: Look at the web group's inbound rules. }}, {{ after: 110s, text: From the load balancer's group. }}]
  - name: db
    at: 2s
    fault: {{ action: security-group.revoke-ingress, target: {{ tags: {{ Tier: db }} }}, params: {{ protocol: tcp, ports: [5432] }} }}
    duration: 120s
",
        team("blue", &blue),
        team("red", &red)
    );
    blue.write("drill.yaml", &drill);
    let mut child = blue.spawn_firedrill(
        &["run", "drill.yaml", "--yes", "--output", "json", "--serve", "127.0.0.1:0", "--tokens-file", "tokens.txt"],
        &[],
    );
    let rx = lines(&mut child);
    let tokens = tokens(&blue, "tokens.txt");
    let room = tokens["instructor"].1.split("/instructor").next().unwrap().to_owned() + "/";

    let browser = Browser::start().await;
    browser.goto(&room).await;
    let state = "return (document.querySelector(`[data-team='${arguments[0]}'][data-step='${arguments[1]}']`) || {dataset: {}}).dataset.state === arguments[2]";
    browser
        .wait_until("the room shows pending", state, json!(["blue", "http", "pending"]), Duration::from_secs(20))
        .await;
    wait_for(&mut child, &rx, "blue's break", |v| {
        v["event"] == "step-started" && v["team"] == "blue" && v["step"] == "http"
    });
    let shown_broken = browser
        .wait_until("the room shows the break", state, json!(["blue", "http", "broken"]), Duration::from_secs(3))
        .await;
    fix_exactly(&blue, &blue_stack).await;
    let fixed_at = Instant::now();
    let fixed = "const c = document.querySelector(`[data-team='blue'][data-step='http']`); return !!c && (c.dataset.state === 'fixed' || c.dataset.state === 'recovered')";
    browser.wait_until("the room shows the fix", fixed, json!([]), Duration::from_secs(3)).await;
    let shown_fixed = fixed_at.elapsed();
    eprintln!(
        "board latency: break shown {shown_broken:?} after the journal's event reached the test; fix shown {:?} after it was made (the drill looks every 500 ms)",
        shown_fixed
    );

    // A wrong token: 403, on the page and on the API.
    let wrong = tokens["red"].1.replace(&tokens["red"].0, "0123456789abcdef0123456789abcdef");
    assert_eq!(get(&wrong).await.0, 403);
    browser.goto(&wrong).await;
    assert!(browser.text().await.contains("403"), "{}", browser.text().await);

    // Red asks for a hint early: it shows, with its cost.
    browser.goto(&tokens["red"].1).await;
    browser
        .wait_until("red's page", "return !!document.querySelector('button.ask')", json!([]), Duration::from_secs(10))
        .await;
    assert!(!browser.text().await.contains("Look at the web group"), "no hint before it is released");
    browser.click("button.ask[data-step='http']").await;
    browser
        .wait_until("the hint on red's page", "return document.body.innerText.includes(\"Look at the web group's inbound rules.\") && document.body.innerText.includes('−10 points')", json!([]), Duration::from_secs(5))
        .await;
    assert!(browser.text().await.contains("you asked"));

    // The instructor ends red's db step: firedrill reverts it.
    browser.goto(&tokens["instructor"].1).await;
    let end = "button.act[data-action='end-step'][data-team='red'][data-step='db']";
    browser
        .wait_until(
            "the instructor's controls",
            &format!("return !!document.querySelector(\"{end}\")"),
            json!([]),
            Duration::from_secs(10),
        )
        .await;
    browser.click(end).await;
    wait_for(&mut child, &rx, "red's db reverted", |v| {
        v["event"] == "step-reverted" && v["team"] == "red" && v["step"] == "db"
    });
    browser.wait_until("the reverted step", state, json!(["red", "db", "reverted"]), Duration::from_secs(3)).await;

    // The room as the projector shows it now (docs/board.png is one of these).
    browser.goto(&room).await;
    browser.wait_until("the room again", state, json!(["red", "db", "reverted"]), Duration::from_secs(5)).await;
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("board-room.png");
    browser.screenshot(&png).await;
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000, "a screenshot of the room");

    // Stop takes two clicks; the drill reverts everything and ends.
    browser.goto(&tokens["instructor"].1).await;
    browser
        .wait_until("the stop button", "return !!document.querySelector('#stop')", json!([]), Duration::from_secs(5))
        .await;
    browser.click("#stop").await;
    browser.click("#stop").await;
    let (code, _, stderr) = finish(child, rx);
    assert_eq!(code, Some(1), "stopped early: {stderr}");
    assert!(stderr.contains("stopped by the instructor"), "{stderr}");
    assert_eq!(blue.world().await, blue_before);
    assert_eq!(red.world().await, red_before);
}
