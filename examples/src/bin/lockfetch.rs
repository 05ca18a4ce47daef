//! `lockfetch`: fill a content-addressed tarball cache from a pnpm v9 lockfile (`fetch`), or run
//! the install simulation against the embedded mock registry (`demo`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Fill a content-addressed tarball cache from a pnpm v9 lockfile, scheduled by fetch-scheduler.
#[derive(Debug, Parser)]
#[command(name = "lockfetch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the install simulation for every strategy against the embedded mock registry.
    Demo(lockfetch::demo::DemoArgs),
    /// Download every tarball of a lockfile into the cache, verifying its integrity.
    Fetch(lockfetch::fetch::FetchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Demo(args) => lockfetch::demo::run(args),
        Command::Fetch(args) => lockfetch::fetch::main(args),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
