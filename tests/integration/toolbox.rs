//! What fits firedrill into an editor and a shell: the JSON Schemas (checked by an
//! independent validator), completions and man pages. None of these touch AWS.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Env, Out, ROOT};

/// The commands whose `--output json` has a published schema (`schemas/output/`).
const COMMANDS: [&str; 15] = [
    "validate", "actions", "plan", "inject", "status", "revert", "runs", "diff", "abort", "sweep", "show", "report",
    "sandbox", "state", "schedule",
];

fn firedrill(args: &[&str]) -> Out {
    crate::harness::firedrill_at(Path::new(ROOT), args)
}

/// `scripts/check_schemas.py` (python-jsonschema, draft 2020-12) with `args`.
fn check_schemas_with(args: &[&std::ffi::OsStr]) -> Out {
    let python = std::env::var("FIREDRILL_PYTHON").unwrap_or_else(|_| format!("{ROOT}/.venv/bin/python"));
    Out::of(Command::new(python).arg(format!("{ROOT}/scripts/check_schemas.py")).args(args))
}

/// YAML `files` against the schemas in `schema_dir` each names.
fn check_schemas(schema_dir: &Path, files: &[PathBuf]) -> Out {
    let mut args = vec![schema_dir.as_os_str()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    check_schemas_with(&args)
}

/// Every YAML file firedrill ships for users to read and copy: the fault catalogue and
/// the examples (not the Kubernetes manifests, which are Kubernetes').
fn shipped_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["faults", "examples"] {
        for e in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_shipped_schemas_are_what_firedrill_prints() {
    for kind in ["fault", "drill", "schedule", "config"] {
        let printed = firedrill(&["schema", kind]).ok().stdout;
        let shipped = std::fs::read_to_string(Path::new(ROOT).join("schemas").join(format!("{kind}.schema.json")))
            .unwrap_or_else(|e| panic!("schemas/{kind}.schema.json: {e}"));
        assert_eq!(
            printed.trim_end(),
            shipped.trim_end(),
            "schemas/{kind}.schema.json is stale: regenerate it with `firedrill schema {kind} > schemas/{kind}.schema.json`"
        );
    }
}

#[test]
fn the_shipped_output_schemas_are_what_firedrill_prints() {
    for command in COMMANDS {
        let printed = firedrill(&["schema", "--command", command]).ok().stdout;
        let path = Path::new(ROOT).join("schemas/output").join(format!("{command}.schema.json"));
        let shipped = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            printed.trim_end(),
            shipped.trim_end(),
            "{} is stale: regenerate it with `firedrill schema --command {command} > {}`",
            path.display(),
            path.display()
        );
    }
}

/// What each command prints with `--output json`, on a real run against the emulator,
/// validates against its published schema (an independent validator).
#[tokio::test]
async fn every_commands_json_output_validates_against_its_schema() {
    let env = Env::new().await;
    let sandbox = env.sandbox().await;
    env.write("f.yaml", "name: http\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\n");
    env.write(
        "drill.yaml",
        "name: d\nteams: [{ name: t }]\nsteps:\n  - at: 0s\n    fault: f.yaml\n    duration: 1s\nend: 3s\npoll: 500ms\n",
    );
    let mut outputs = vec![("sandbox".to_owned(), env.dir.join("sandbox.json"))];
    std::fs::write(&outputs[0].1, sandbox.to_string()).unwrap();
    let mut run = |command: &str, args: &[&str], code: i32| {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = env.firedrill(&all).code(code);
        let file = env.dir.join(format!("{command}.json"));
        std::fs::write(&file, &out.stdout).unwrap();
        outputs.push((command.to_owned(), file));
    };
    run("validate", &["validate", "f.yaml"], 0);
    run("actions", &["actions"], 0);
    run("plan", &["plan", "f.yaml"], 0);
    run("inject", &["inject", "f.yaml", "--yes"], 0);
    run("status", &["status"], 0);
    run("diff", &["diff"], 0);
    run("runs", &["runs"], 0);
    run("revert", &["revert"], 0);
    run("sweep", &["sweep"], 0);
    run("abort", &["abort"], 0);
    run("show", &["show"], 0);
    let elsewhere = env.dir.join("migrated");
    run("state", &["state", "migrate", "--from", env.state.to_str().unwrap(), "--to", elsewhere.to_str().unwrap()], 0);
    run("schedule", &["schedule", "check", &format!("{ROOT}/examples/schedules.yaml")], 0);
    env.firedrill(&["run", "drill.yaml", "--yes"]).ok_allowing(&[""]);
    let report = env.firedrill(&["report", "--format", "json"]).ok();
    outputs.push(("report".to_owned(), env.dir.join("report.json")));
    std::fs::write(&outputs.last().unwrap().1, &report.stdout).unwrap();
    let mut covered: Vec<&str> = outputs.iter().map(|(c, _)| c.as_str()).collect();
    let mut all = COMMANDS.to_vec();
    covered.sort();
    all.sort();
    assert_eq!(covered, all, "every command with a schema is checked");
    for (command, file) in outputs {
        let schema = Path::new(ROOT).join("schemas/output").join(format!("{command}.schema.json"));
        let check = check_schemas_with(&["--json".as_ref(), schema.as_os_str(), file.as_os_str()]);
        assert_eq!(check.code, Some(0), "{command}: {}\n{}", check.stdout, std::fs::read_to_string(&file).unwrap());
    }
}

/// Every shipped file names its schema on its first line, validates against it with an
/// independent validator, and passes `firedrill validate`: the schema and the loader
/// agree on what is shipped.
#[test]
fn every_shipped_file_validates_against_its_schema() {
    let files = shipped_files();
    assert!(files.len() >= 25, "found only {files:?}");
    let out = check_schemas(&Path::new(ROOT).join("schemas"), &files).ok();
    let kinds: Vec<&str> = out.stdout.lines().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert_eq!(kinds.len(), files.len(), "{}", out.stdout);
    for kind in ["fault", "drill", "schedule", "config"] {
        assert!(kinds.contains(&kind), "no shipped {kind} file was checked:\n{}", out.stdout);
    }
    let paths: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let mut args = vec!["validate"];
    args.extend(&paths);
    firedrill(&args).ok();
}

/// What `validate` refuses for its shape, the schema refuses too, at the same key: an
/// editor shows it inline before `validate` is ever run. And what both accept (a drill
/// step with its fault inline and no name), both accept.
#[test]
fn the_schemas_refuse_what_validate_refuses() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemas-refuse");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let line = |kind: &str| format!("# yaml-language-server: $schema={ROOT}/schemas/{kind}.schema.json\n");
    let cases: &[(&str, &str, &str, &str)] = &[
        // (file, kind, text, what both name)
        (
            "typo-param.yaml",
            "fault",
            "name: x\naction: route53.change-record\ntarget: { names: [api] }\nparams: { vlaue: 10.0.0.1 }\n",
            "vlaue",
        ),
        (
            "bad-enum.yaml",
            "fault",
            "name: x\naction: network-acl.deny-traffic\ntarget: { names: [a] }\nparams: { direction: sideways }\n",
            "sideways",
        ),
        (
            "bad-target.yaml",
            "fault",
            "name: x\naction: ec2.stop-instances\ntarget: { names: [a], colour: red }\n",
            "colour",
        ),
        (
            "bad-action.yaml",
            "fault",
            "name: x\naction: ec2.melt-instances\ntarget: { names: [a] }\n",
            "ec2.melt-instances",
        ),
        ("no-name.yaml", "fault", "action: ec2.stop-instances\ntarget: { names: [a] }\n", "name"),
        (
            "bad-step.yaml",
            "drill",
            "name: d\nteams: [{ name: t }]\nsteps:\n  - at: 0s\n    fault: { action: ec2.stop-instances, target: { names: [a] }, params: { hibernate: maybe } }\n",
            "maybe",
        ),
        (
            "bad-schedule.yaml",
            "schedule",
            "schedules:\n  - name: s\n    fault: f.yaml\n    cron: '0 10 * * *'\n    every: 1h\n",
            "every",
        ),
        ("bad-config.yaml", "config", "guardrails:\n  acounts: ['123456789012']\n", "acounts"),
    ];
    for (file, kind, text, named) in cases {
        let path = dir.join(file);
        std::fs::write(&path, format!("{}{text}", line(kind))).unwrap();
        let schema = check_schemas(&Path::new(ROOT).join("schemas"), std::slice::from_ref(&path)).code(1);
        assert!(schema.stdout.contains(named), "{file}: the schema check does not name {named:?}:\n{}", schema.stdout);
        let validate = firedrill(&["validate", path.to_str().unwrap()]);
        assert_ne!(validate.code, Some(0), "{file}: validate accepted it:\n{}", validate.stderr);
    }
    let good = dir.join("inline.yaml");
    let drill = "name: d\nteams: [{ name: t }]\nsteps:\n  - at: 0s\n    fault: { action: ec2.stop-instances, target: { names: [a] } }\n";
    std::fs::write(&good, format!("{}{drill}", line("drill"))).unwrap();
    check_schemas(&Path::new(ROOT).join("schemas"), std::slice::from_ref(&good)).ok();
    firedrill(&["validate", good.to_str().unwrap()]).ok();
}

/// Completion scripts for every shell clap knows, naming the commands and their options;
/// bash's parses (`bash -n`) and completes a command after `firedrill `.
#[test]
fn completions_know_every_command() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = firedrill(&["completions", shell]).ok();
        for word in ["inject", "revert", "schedule", "state-kms-key", "completions"] {
            assert!(out.stdout.contains(word), "{shell} completions lack {word}");
        }
    }
    let script = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("firedrill.bash");
    std::fs::write(&script, firedrill(&["completions", "bash"]).ok().stdout).unwrap();
    let complete = format!(
        "source {}; COMP_WORDS=(firedrill rev); COMP_CWORD=1; COMP_LINE='firedrill rev'; COMP_POINT=13; \
         _firedrill firedrill rev firedrill; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = Out::of(Command::new("bash").args(["-c", &complete])).ok();
    assert_eq!(out.stdout.trim(), "revert", "bash completed `firedrill rev` to:\n{}", out.stdout);
}

/// `firedrill man` prints firedrill(1); `--dir` writes a page per command, which `man`
/// renders, with the command's options in it.
#[test]
fn man_pages_render() {
    let page = firedrill(&["man"]).ok().stdout;
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH firedrill 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("man");
    let _ = std::fs::remove_dir_all(&dir);
    firedrill(&["man", "--dir", dir.to_str().unwrap()]).ok_allowing(&["wrote"]);
    for page in ["firedrill.1", "firedrill-inject.1", "firedrill-revert.1", "firedrill-schedule-run.1"] {
        assert!(dir.join(page).exists(), "no {page} in {}", dir.display());
    }
    let rendered = Out::of(
        Command::new("man").args(["-l", "-P", "cat"]).arg(dir.join("firedrill-revert.1")).env("MANWIDTH", "100"),
    )
    .ok_allowing(&["warning"]);
    for text in ["firedrill-revert", "Restore every target", "--state"] {
        assert!(rendered.stdout.contains(text), "the rendered page lacks {text:?}:\n{}", rendered.stdout);
    }
}
