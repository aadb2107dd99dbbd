use std::path::{Path, PathBuf};

use super::*;

/// A drill file in a temporary directory beside a copy of `faults/web-http-blocked.yaml`.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("firedrill-drill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("faults")).unwrap();
    let fault = "name: web-http-blocked\naction: security-group.revoke-ingress\ntarget:\n  names: [firedrill-web]\nparams:\n  ports: [80]\nduration: 15m\nhints:\n  - one\n  - two\n";
    std::fs::write(d.join("faults/web-http-blocked.yaml"), fault).unwrap();
    d
}

fn parse_in(d: &Path, text: &str) -> Result<Drill, Diagnostics> {
    let path = d.join("drill.yaml");
    std::fs::write(&path, text).unwrap();
    load(&path)
}

const GOOD: &str = "\
name: friday
teams:
  - name: blue
    scope: { team: blue }
  - name: red
    role_arn: arn:aws:iam::210987654321:role/firedrill
probes:
  site:
    http: { url: \"http://{{team.name}}.example.test/health\", body: ok, timeout: 2s }
    every: 10s
  fixed:
    restored: { step: dns }
steady_state: [site]
steps:
  - at: 0m
    fault: faults/web-http-blocked.yaml
  - name: dns
    at: 10m
    fault: { action: route53.change-record, target: { zone: example.test, names: [www.example.test], type: A }, params: { value: 10.0.0.9 } }
    hints: [{ after: 5m, text: Resolve it. }]
  - after: dns
    fault:
      action: iam.detach-policies
      target: { tags: { Role: web } }
stop_when:
  - probe: site
    failing_for: 20m
  - alarm: prod-5xx
end: 45m
";

#[test]
fn a_good_drill_loads_with_inline_faults_and_defaults() {
    let d = dir("good");
    let drill = parse_in(&d, GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(drill.teams.len(), 2);
    assert_eq!(drill.teams[1].role.as_ref().unwrap().role_arn, "arn:aws:iam::210987654321:role/firedrill");
    let names: Vec<&str> = drill.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web-http-blocked", "dns", "step-3"]);
    assert_eq!(drill.steps[0].duration, Some(Duration::from_secs(900)), "the fault file's duration");
    // The fault file's hints, spread over its duration.
    let hints: Vec<u64> = drill.steps[0].hints.iter().map(|h| h.after.as_secs()).collect();
    assert_eq!(hints, [300, 600]);
    assert_eq!(drill.steps[1].fault.action.info().name, "route53.change-record");
    assert!(matches!(&drill.steps[2].start, Start::After(s) if s == "dns"));
    assert_eq!(drill.end, Some(Duration::from_secs(45 * 60)));
    assert_eq!(drill.stop_when.len(), 2);
    let blue = drill.teams[0].scoped(&drill.steps[0].fault);
    assert_eq!(blue.target.tags.get("team").map(String::as_str), Some("blue"));
    let vars = drill.teams[0].template_vars("us-east-1");
    match drill.probes["site"].kind.render(&vars).unwrap() {
        ProbeKind::Http { url, .. } => assert_eq!(url, "http://blue.example.test/health"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let d = dir("bad");
    let text = "\
name: broken
teams:
  - name: blue
probes:
  site:
    http: { url: \"http://{{team.nme}}/\" }
steady_state: [sight]
steps:
  - at: 0m
    fault: faults/missing.yaml
  - name: a
    after: b
    fault: { action: security-group.revoke-ingres, target: { names: [x] } }
  - name: b
    after: a
    at: 1m
    fault: faults/web-http-blocked.yaml
  - name: c
    at: 50m
    fault: faults/web-http-blocked.yaml
end: 45m
";
    let err = parse_in(&d, text).unwrap_err().to_string();
    let want = [
        "drill.yaml:10:12: error: fault file `faults/missing.yaml` not found",
        "drill.yaml:13:22: error: unknown action `security-group.revoke-ingres`; did you mean `security-group.revoke-ingress`?",
        "drill.yaml:16:9: error: give `at` or `after`, not both",
        "drill.yaml:19:9: error: step starts at 50m but the drill ends at 45m",
        "drill.yaml:7:16: error: no probe named `sight` (known: site)",
        "error: probe `site`: unknown name `team.nme`",
    ];
    for w in want {
        assert!(err.contains(w), "missing {w:?} in:\n{err}");
    }
}

#[test]
fn cycles_and_unknown_steps_are_refused() {
    let d = dir("cycle");
    let text = "\
name: loop
teams: [{ name: blue }]
steps:
  - { name: a, after: b, fault: faults/web-http-blocked.yaml }
  - { name: b, after: a, fault: { name: other, action: security-group.revoke-ingress, target: { names: [y] } } }
  - { name: c, after: nope, fault: { action: security-group.revoke-ingress, target: { names: [z] } } }
";
    let err = parse_in(&d, text).unwrap_err().to_string();
    assert!(err.contains("steps wait on each other in a circle: a -> b -> a"), "{err}");
    assert!(err.contains("drill.yaml:6:23: error: no step named `nope`"), "{err}");
}

#[test]
fn inline_fault_source_keeps_positions() {
    let src = "a: 1\nsteps:\n  - fault:\n      action: x\n      target: { ids: [i] }\n    at: 0m\n";
    let text = inline_source(src, Pos::new(4, 7));
    assert_eq!(text, "\n\n\n      action: x\n      target: { ids: [i] }\n");
    let flow = "steps:\n  - fault: { action: x,\n      target: { ids: [\"}\"] } }\n    at: 0m\n";
    assert_eq!(inline_source(flow, Pos::new(2, 12)), "\n           { action: x,\n      target: { ids: [\"}\"] } }\n");
}

#[test]
fn end_reset_scoring_and_detection_are_read_and_checked() {
    let d = dir("game");
    let drill = parse_in(&d, GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((drill.end, drill.reset), (Some(std::time::Duration::from_secs(2700)), Reset::Keep));
    assert_eq!(drill.scoring, Scoring::default());
    let game = GOOD
        .replace("end: 45m\n", "end: { at: 45m, reset: exact }\nscoring: { changed: 0.5, regression: 0.2, hint: 5 }\nrunbook_base_url: https://wiki.example.test/runbooks/\n")
        .replace("    hints: [{ after: 5m, text: Resolve it. }]\n", "    hints: [{ after: 5m, text: Resolve it. }]\n    detect: [alarm: web-5xx, probe: site]\n");
    let drill = parse_in(&d, &game).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((drill.end, drill.reset), (Some(std::time::Duration::from_secs(2700)), Reset::Exact));
    assert_eq!(drill.scoring, Scoring { changed: 0.5, regression: 0.2, hint: 5 });
    assert_eq!(drill.runbook_base_url.as_deref(), Some("https://wiki.example.test/runbooks"));
    assert_eq!(drill.steps[1].detect, [Detect::Alarm("web-5xx".into()), Detect::Probe("site".into())]);

    let bad = game
        .replace("reset: exact", "reset: everything")
        .replace("changed: 0.5", "changed: 1.5")
        .replace("probe: site]", "probe: sight]");
    let err = parse_in(&d, &bad).unwrap_err().to_string();
    assert!(err.contains("`reset` is `keep` or `exact`, not `everything`"), "{err}");
    assert!(err.contains("`changed` is the share of the points kept"), "{err}");
    assert!(err.contains("sight"), "{err}");
    assert!(err.contains("drill.yaml:"), "positions: {err}");
}

#[test]
fn a_url_that_is_a_template_is_checked_once_rendered_for_each_team() {
    let d = dir("url");
    let good = GOOD
        .replace("    scope: { team: blue }\n", "    scope: { team: blue }\n    vars: { site: \"https://blue.example.test/health\" }\n")
        .replace("    role_arn: arn:aws:iam::210987654321:role/firedrill\n", "    role_arn: arn:aws:iam::210987654321:role/firedrill\n    vars: { site: \"http://red.example.test/\" }\n")
        .replace("url: \"http://{{team.name}}.example.test/health\"", "url: \"{{team.vars.site}}\"");
    let drill = parse_in(&d, &good).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        drill.probes["site"].kind.render(&drill.teams[1].template_vars("r")).map(|k| match k {
            probe::ProbeKind::Http { url, .. } => url,
            _ => String::new(),
        }),
        Ok("http://red.example.test/".to_owned())
    );
    let bad = good.replace("\"http://red.example.test/\"", "red.example.test");
    let err = parse_in(&d, &bad).unwrap_err().to_string();
    assert!(err.contains("for team red, `url` is `red.example.test`, which does not start with http://"), "{err}");
    assert!(!err.contains("team blue"), "blue's renders right: {err}");
}
