//! Errors a person can act on: when AWS cannot be reached or refuses, the message is one
//! line that says why and what to do (no credentials, an SSO session to start, an
//! endpoint that does not answer, access denied, credentials refused, no region), with
//! no Rust `Debug` dump; `-v` shows the SDK's whole chain. And names holding control
//! characters reach the terminal escaped.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{Env, Out, endpoint, firedrill_at};
use crate::proxy::Proxy;

const FAULT: &str = "name: http\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\n";

/// The binary with nothing of this machine's AWS set-up: no credentials, no config, no
/// instance metadata (so nothing is sent anywhere but loopback).
fn bare(dir: &PathBuf, args: &[&str], vars: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firedrill"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .current_dir(dir)
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Out::of(&mut cmd)
}

/// A failure's stderr is one line, starting `error:`, with no `Debug` output in it.
#[track_caller]
fn one_line(out: &Out, says: &[&str]) {
    assert_ne!(out.code, Some(0), "expected a failure:\n{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line:\n{}", out.stderr);
    assert!(lines[0].starts_with("error: "), "{}", out.stderr);
    for dump in ["Some(", "None)", "Error {", "Error(", " { source", "kind: "] {
        assert!(!out.stderr.contains(dump), "a Debug dump ({dump:?}) reached the user:\n{}", out.stderr);
    }
    for s in says {
        assert!(out.stderr.contains(s), "the message lacks {s:?}:\n{}", out.stderr);
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("errors").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f.yaml"), FAULT).unwrap();
    std::fs::write(dir.join("config"), "").unwrap();
    std::fs::write(dir.join("credentials"), "").unwrap();
    dir
}

#[test]
fn no_credentials_names_the_chain_and_the_fix() {
    let dir = scratch("no-credentials");
    let out = bare(&dir, &["plan", "f.yaml", "--region", "us-east-1", "--endpoint-url", endpoint()], &[]);
    one_line(&out, &["no AWS credentials found", "environment variables", "instance metadata", "--profile"]);
    // -v: the SDK's whole chain, for whoever debugs the set-up.
    let verbose = bare(&dir, &["-v", "plan", "f.yaml", "--region", "us-east-1", "--endpoint-url", endpoint()], &[]);
    assert!(
        verbose.stderr.contains("DispatchFailure") && verbose.stderr.contains("Ec2InstanceMetadata"),
        "{}",
        verbose.stderr
    );
}

#[test]
fn an_sso_session_never_started_says_to_log_in_with_the_profile() {
    let dir = scratch("sso");
    // A profile on IAM Identity Center with no cached token: the SDK fails reading the
    // cache, before any call (nothing leaves the machine).
    std::fs::write(
        dir.join("config"),
        "[profile gameday]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Instructor\nregion = us-east-1\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    )
    .unwrap();
    let out = bare(&dir, &["plan", "f.yaml", "--profile", "gameday", "--endpoint-url", endpoint()], &[]);
    one_line(&out, &["SSO session", "aws sso login --profile gameday"]);
    let out = bare(&dir, &["plan", "f.yaml", "--endpoint-url", endpoint()], &[("AWS_PROFILE", "gameday")]);
    one_line(&out, &["aws sso login --profile gameday"]);
}

#[test]
fn an_endpoint_that_does_not_answer_is_named_as_such() {
    let dir = scratch("no-answer");
    // Port 9 (discard) on loopback: nothing listens; the connection is refused.
    let keys = [("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "secret")];
    let out = bare(&dir, &["plan", "f.yaml", "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"], &keys);
    one_line(&out, &["no answer from the endpoint", "refused", "--endpoint-url"]);
}

#[test]
fn no_region_is_refused_with_how_to_name_one() {
    let dir = scratch("no-region");
    let keys = [("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "secret")];
    let out = bare(&dir, &["plan", "f.yaml", "--endpoint-url", endpoint()], &keys);
    one_line(&out, &["no AWS region", "--region"]);
    assert_eq!(out.code, Some(2));
}

#[tokio::test]
async fn access_denied_names_the_call_and_the_way_to_the_right_policy() {
    let env = Env::new().await;
    let proxy = Proxy::start(endpoint());
    proxy.set(|r| r.fail.push(("DescribeSecurityGroups".into(), String::new(), "UnauthorizedOperation".into())));
    env.write("f.yaml", FAULT);
    let out = env.firedrill_env(&["plan", "f.yaml"], &[("AWS_ENDPOINT_URL", proxy.endpoint.as_str())]);
    one_line(&out, &["UnauthorizedOperation", "ec2:DescribeSecurityGroups", "firedrill policy"]);
}

#[tokio::test]
async fn credentials_aws_refuses_say_to_renew_them() {
    let env = Env::new().await;
    let proxy = Proxy::start(endpoint());
    proxy.set(|r| r.fail.push(("GetCallerIdentity".into(), String::new(), "ExpiredToken".into())));
    env.write("f.yaml", FAULT);
    let via = [("AWS_ENDPOINT_URL", proxy.endpoint.as_str()), ("AWS_PROFILE", "")];
    let out = env.firedrill_env(&["plan", "f.yaml"], &via);
    one_line(&out, &["ExpiredToken", "did not accept these credentials", "aws sso login"]);
}

/// A name holding a carriage return and an ANSI escape (from a file here; a `Name` tag
/// could carry the same) is printed escaped: it cannot rewrite the terminal's line.
#[test]
fn control_characters_in_names_reach_the_terminal_escaped() {
    let dir = scratch("control");
    std::fs::write(
        dir.join("f.yaml"),
        "name: \"web\\r\\e[2Krestored\"\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\nduration: soon\n",
    )
    .unwrap();
    let out = firedrill_at(&dir, &["validate", "f.yaml"]);
    assert_ne!(out.code, Some(0));
    assert!(!out.stderr.contains('\r') && !out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    let ok = dir.join("ok.yaml");
    std::fs::write(
        &ok,
        "name: \"web\\r\\e[2Krestored\"\naction: security-group.revoke-ingress\ntarget:\n  tags: { Tier: web }\n",
    )
    .unwrap();
    let out = firedrill_at(&dir, &["validate", "ok.yaml"]);
    assert!(out.stdout.contains("web\\r\\u{1b}[2Krestored"), "{:?}", out.stdout);
    assert!(!out.stdout.contains('\r') && !out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
}
