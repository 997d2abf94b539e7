//! The `stagehand-load` binary: parse the command line, raise the file limit, run.

use clap::Parser;
use stagehand_load::cli::{main_with, raise_nofile_limit, Cli};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    raise_nofile_limit();
    // One worker per CPU the load generator may use (after `taskset`).
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(main_with(cli))
}
