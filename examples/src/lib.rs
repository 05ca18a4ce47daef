//! `lockfetch`: fill a content-addressed tarball cache from a pnpm v9 lockfile, with every download
//! scheduled by `fetch-scheduler` on smol. The crate also ships the mock registry and the install
//! simulation shared by the demo, the tests and the benchmarks.

// Registry side, the generator and the simulation.
pub mod demo;
pub mod generate;
pub mod output;
pub mod plot;
pub mod registry;
pub mod sim;

// The real `fetch` command.
pub mod cache;
pub mod config;
pub mod fetch;
pub mod http;
pub mod integrity;
pub mod lockfile;
pub mod platform;
pub mod progress;
pub mod trace;
