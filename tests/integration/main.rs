//! The integration tests: one binary, one harness. They run the built `firedrill`
//! against the AWS emulator (moto in server mode on 127.0.0.1), which the harness starts
//! once for this binary; every test works in an account of its own.

mod browser;
mod harness;
mod proxy;

mod api_failures;
mod board;
mod buckets;
mod calls;
mod containers;
mod crashes;
mod dns;
mod drift;
mod drills;
mod errors;
mod files;
mod iam;
mod input_errors;
mod instances;
mod load_balancing;
mod misuse;
mod network;
mod runs;
mod safety;
mod sandbox;
mod schedules;
mod security_groups;
mod serverless;
mod state;
mod toolbox;
