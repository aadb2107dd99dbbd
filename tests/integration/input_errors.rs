//! Bad input and guardrails: each case asserts the message (with path:line:col where a
//! file is at fault), exit code 2, that nothing changed in the emulator, and that no run
//! was recorded.

use crate::harness::Env;

const GOOD: &str = "\
name: http-blocked
action: security-group.revoke-ingress
target:
  tags: { Tier: web }
params:
  protocol: tcp
  ports: [80]
";

/// Inject `fault` (with `config` as firedrill.yaml, if any) and assert it is refused
/// with every `needles` in stderr, exit 2, and nothing changed.
async fn assert_refused(fault: &str, config: Option<&str>, needles: &[&str]) {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("f.yaml", fault);
    if let Some(c) = config {
        env.write("firedrill.yaml", c);
    }
    let mut out = env.firedrill(&["inject", "f.yaml", "--yes"]).code(2);
    for n in needles {
        out = out.stderr_has(n);
    }
    assert_eq!(env.world().await, before, "a refused inject must change nothing");
    assert!(!env.has_runs(), "a refused inject must record no run");
}

#[tokio::test]
async fn malformed_yaml() {
    assert_refused(
        "name: x\naction: \"security-group.revoke-ingress\ntarget: {}\n",
        None,
        &["f.yaml:2:9: error: unclosed quote"],
    )
    .await;
}

#[tokio::test]
async fn unknown_key_suggests_the_right_one() {
    let bad = GOOD.replace("action:", "acton:");
    assert_refused(&bad, None, &["f.yaml:2:1: error: unknown field `acton`", "did you mean `action`?"]).await;
}

#[tokio::test]
async fn unknown_action_suggests_the_right_one() {
    let bad = GOOD.replace("revoke-ingress", "revoke-ingres");
    assert_refused(
        &bad,
        None,
        &[
            "f.yaml:2:9: error: unknown action `security-group.revoke-ingres`",
            "did you mean `security-group.revoke-ingress`?",
        ],
    )
    .await;
}

#[tokio::test]
async fn wrong_param_type_points_at_the_value() {
    let bad = GOOD.replace("ports: [80]", "ports: [http]");
    assert_refused(&bad, None, &["f.yaml:7:", "invalid port `http`"]).await;
}

#[tokio::test]
async fn unknown_param_value_suggests_the_right_one() {
    let bad = GOOD.replace("protocol: tcp", "protocol: tcpp");
    assert_refused(&bad, None, &["f.yaml:6:13: error: unknown variant `tcpp`", "did you mean `tcp`?"]).await;
}

#[tokio::test]
async fn every_problem_in_a_file_is_reported_at_once() {
    let bad =
        "name: x\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\n  count: 0\nduration: soon\n";
    assert_refused(
        bad,
        None,
        &["f.yaml:5:10: error: `count` must be at least 1", "f.yaml:6:11: error: invalid duration", "2 problems found"],
    )
    .await;
}

#[tokio::test]
async fn zero_matching_targets_is_an_error() {
    let bad = GOOD.replace("Tier: web", "Tier: nothing-has-this");
    assert_refused(&bad, None, &["no security group matches tags Tier=nothing-has-this", "nothing to break"]).await;
}

#[tokio::test]
async fn unknown_ids_are_an_error() {
    let bad = GOOD.replace("tags: { Tier: web }", "ids: [sg-0000000000000dead]");
    assert_refused(&bad, None, &["no security group sg-0000000000000dead matches"]).await;
}

#[tokio::test]
async fn too_many_targets() {
    let fault = "name: iso\naction: security-group.isolate-instance\ntarget:\n  tags: { Tier: web }\n";
    assert_refused(
        fault,
        Some("guardrails:\n  max_targets: 1\n"),
        &["guardrails.max_targets (firedrill.yaml)", "would break 2 targets"],
    )
    .await;
}

#[tokio::test]
async fn forbidden_account() {
    assert_refused(
        GOOD,
        Some("guardrails:\n  accounts: [\"999999999999\"]\n"),
        &["guardrails.accounts", "is not allowed (allowed: 999999999999)"],
    )
    .await;
}

#[tokio::test]
async fn forbidden_region() {
    assert_refused(
        GOOD,
        Some("guardrails:\n  regions: [eu-west-1]\n"),
        &["guardrails.regions", "region us-east-1 is not allowed"],
    )
    .await;
}

#[tokio::test]
async fn missing_required_tag() {
    // The lb group lacks firedrill=allowed; web and db carry it.
    let fault = GOOD.replace("Tier: web", "Tier: lb").replace("ports: [80]", "ports: []");
    assert_refused(
        &fault,
        Some("guardrails:\n  require_tag: { firedrill: allowed }\n"),
        &["guardrails.require_tag", "lacks the tag firedrill=allowed"],
    )
    .await;
}

#[tokio::test]
async fn a_bad_guardrails_file_is_located() {
    assert_refused(
        GOOD,
        Some("guardrails:\n  max_target: 3\n"),
        &["firedrill.yaml:2:3: error: unknown field `max_target`", "did you mean `max_targets`?"],
    )
    .await;
}

#[tokio::test]
async fn nothing_to_break_on_a_target_is_an_error() {
    let bad = GOOD.replace("ports: [80]", "ports: [9999]");
    assert_refused(&bad, None, &["no ingress rule matches tcp port 9999: nothing to break"]).await;
}

#[tokio::test]
async fn inject_without_yes_refuses_when_stdin_is_not_a_terminal() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("f.yaml", GOOD);
    env.firedrill(&["inject", "f.yaml"]).code(2).stderr_has("pass --yes to confirm (stdin is not a terminal)");
    assert_eq!(env.world().await, before);
    assert!(!env.has_runs());
}

#[tokio::test]
async fn one_run_may_break_a_resource_once() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("a.yaml", GOOD);
    env.write("b.yaml", &GOOD.replace("http-blocked", "other").replace("[80]", "[443]"));
    env.firedrill(&["inject", "a.yaml", "b.yaml", "--yes"])
        .code(2)
        .stderr_has("is a target of both `http-blocked` and `other`: a run may break a resource once");
    assert_eq!(env.world().await, before);
    assert!(!env.has_runs());
}

#[tokio::test]
async fn a_share_of_the_limits_or_a_deadline_out_of_range_is_refused_and_nothing_changes() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    env.write("f.yaml", GOOD);
    for (option, value, needle) in [
        ("--api-share", "0", "invalid value '0' for '--api-share <PERCENT>': 0 is not in 1..=100"),
        ("--api-share", "101", "101 is not in 1..=100"),
        ("--deadline", "0", "invalid value '0' for '--deadline <DEADLINE>'"),
        ("--deadline", "0s", "duration `0s` must be positive"),
        ("--deadline", "soon", "invalid duration `soon`"),
    ] {
        env.firedrill(&["inject", "f.yaml", "--yes", option, value]).code(2).stderr_has(needle);
    }
    let out = env.firedrill_env(&["inject", "f.yaml", "--yes"], &[("FIREDRILL_API_SHARE", "0")]).code(2);
    assert!(out.stderr.contains("0 is not in 1..=100"), "{}", out.stderr);
    assert_eq!(env.world().await, before);
    assert!(env.journals().is_empty(), "no run recorded");
}

/// Files that are not files firedrill could have been meant to read: a device that never
/// ends, a FIFO that would block, something far larger than any fault. Each
/// refused at once, naming the path, before it is read, and nothing changes.
#[tokio::test]
async fn devices_fifos_and_huge_files_are_refused_before_they_are_read() {
    let env = Env::new().await;
    env.seed_stack().await;
    let before = env.world().await;
    let fifo = env.dir.join("fifo.yaml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let huge = env.write("huge.yaml", &format!("name: huge\n# {}\n", "x".repeat(2 << 20)));
    let cases = [
        ("/dev/zero".to_owned(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (huge.display().to_string(), "larger than 1024 KiB"),
    ];
    for (path, why) in &cases {
        for args in [&["validate", path.as_str()][..], &["inject", path.as_str(), "--yes"][..]] {
            let started = std::time::Instant::now();
            let out = env.firedrill(args).code(2);
            assert!(out.stderr.contains(path.as_str()) && out.stderr.contains(why), "{args:?}: {}", out.stderr);
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "{args:?} was not refused at once");
        }
    }
    // The guardrails file too.
    env.write("f.yaml", GOOD);
    let out = env.firedrill(&["plan", "--config", "/dev/zero", "f.yaml"]).code(2);
    assert!(out.stderr.contains("/dev/zero") && out.stderr.contains("not a regular file"), "{}", out.stderr);
    assert_eq!(env.world().await, before);
    assert!(!env.has_runs());
}

/// Logs are coloured on a terminal only, and never with `NO_COLOR` set: the command runs
/// under a pseudo-terminal (`script`, from util-linux), and piped.
#[tokio::test]
async fn logs_are_coloured_only_on_a_terminal_and_never_with_no_color() {
    let env = Env::new().await;
    // A store nobody answers for: the command logs its attempts at debug level, then fails.
    let cmd = format!(
        "{} -vv runs --state s3://nobody-here/x --state-endpoint-url http://127.0.0.1:9 --deadline 2s",
        env!("CARGO_BIN_EXE_firedrill")
    );
    let ansi = |no_color: bool, terminal: bool| {
        let mut c = if terminal {
            let mut c = std::process::Command::new("script");
            c.args(["-qec", &cmd, "/dev/null"]);
            c
        } else {
            let mut c = std::process::Command::new("sh");
            c.args(["-c", &format!("{cmd} 2>&1")]);
            c
        };
        c.current_dir(&env.dir).env("AWS_ACCESS_KEY_ID", "x").env("AWS_SECRET_ACCESS_KEY", "x");
        c.env("AWS_REGION", "us-east-1").env_remove("AWS_ENDPOINT_URL").stdin(std::process::Stdio::null());
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        let out = c.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("DEBUG"), "the command logged: {text}");
        text.matches("\x1b[").count()
    };
    assert!(ansi(false, true) > 0, "a terminal gets colour");
    assert_eq!(ansi(true, true), 0, "NO_COLOR: none");
    assert_eq!(ansi(false, false), 0, "a pipe: none");
}

/// A guardrails file is one by its keys, whatever its name: `validate` checks it as
/// guardrails (and points into it), never as a fault file missing its `action`.
#[tokio::test]
async fn a_guardrails_file_is_recognised_by_its_keys_whatever_its_name() {
    let env = Env::new().await;
    env.write("prod-guardrails.yaml", "guardrails:\n  regions: [us-east-1]\nstate: s3://gameday-state/firedrill\n");
    let out = env.firedrill(&["validate", "prod-guardrails.yaml"]).ok();
    assert!(out.stdout.contains("ok  prod-guardrails.yaml  (guardrails, -)"), "{}", out.stdout);
    env.write("bad-guardrails.yaml", "guardrails:\n  regoins: [us-east-1]\n");
    let out = env.firedrill(&["validate", "bad-guardrails.yaml"]).code(2);
    assert!(out.stderr.contains("bad-guardrails.yaml:2:3") && out.stderr.contains("regions"), "{}", out.stderr);
    assert!(!out.stderr.contains("action"), "not read as a fault file: {}", out.stderr);
}

/// Values AWS would reject are refused before anything is sent, each at its key.
#[tokio::test]
async fn values_aws_would_reject_are_refused_at_their_key() {
    let record = |value: &str, ttl: &str| {
        format!(
            "name: r\naction: route53.change-record\ntarget:\n  zone: firedrill.test\n  names: [api.firedrill.test]\n  type: A\nparams:\n  value: \"{value}\"\n  ttl: {ttl}\n"
        )
    };
    assert_refused(
        &record("999.1.1.1", "60"),
        None,
        &["f.yaml:8:10: error: `value` `999.1.1.1` is not an IPv4 address"],
    )
    .await;
    assert_refused(&record("10.0.0.9", "-5"), None, &["f.yaml:9:8: error: `ttl` is -5", "0 to 2147483647"]).await;
    let open = |cidr: &str, description: &str| {
        format!(
            "name: o\naction: security-group.open-ingress\ntarget:\n  tags: {{ Tier: web }}\nparams:\n  protocol: tcp\n  ports: [22]\n  cidr: \"{cidr}\"\n  description: \"{description}\"\n"
        )
    };
    assert_refused(
        &open("10.0.0.1/8", "ok"),
        None,
        &["f.yaml:8:9: error: `cidr` `10.0.0.1/8` has host bits set", "10.0.0.0/8"],
    )
    .await;
    assert_refused(
        &open("10.0.0.0/8", &"x".repeat(256)),
        None,
        &["f.yaml:9:16: error: `description` is 256 characters"],
    )
    .await;
    assert_refused(&open("10.0.0.0/8", "caf\u{e9}"), None, &["f.yaml:9:16: error: `description` holds 'é'"]).await;
}

/// A capacity beyond the group's own maximum is refused at plan time, at the param in
/// the fault file, instead of raising the maximum nobody asked to change.
#[tokio::test]
async fn a_capacity_above_the_groups_maximum_is_refused_at_plan_time() {
    let env = Env::new().await;
    env.sandbox().await;
    let before = env.world().await;
    env.write(
        "f.yaml",
        "name: c\naction: autoscaling.set-capacity\ntarget:\n  tags: { Tier: web }\nparams:\n  min: 0\n  desired: 9\n",
    );
    env.firedrill(&["plan", "f.yaml"])
        .code(2)
        .stderr_has("f.yaml:7:12: error: fault `c`: `desired` (9) is above the maximum of");
    env.firedrill(&["inject", "f.yaml", "--yes"]).code(2).stderr_has("set `max` too");
    assert_eq!(env.world().await, before, "nothing changed");
    assert!(!env.has_runs());
}
