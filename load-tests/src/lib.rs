//! `stagehand-load`: a load harness for the Stagehand hub, and for nchan (nginx's pub/sub module)
//! with the same scenarios, so that both are measured the same way on the same machine.
//!
//! Layout:
//! - [`cli`]: the command line (one subcommand per scenario, `compare`) and [`cli::run`];
//! - [`target`]: which server, its URLs, and the tokens Stagehand wants;
//! - [`client`]: one subscriber connection: source address, handshake limit, join, read loop;
//! - [`publisher`]: the backend publisher (fixed rate, or closed loop for saturation);
//! - [`payload`]: the stamp (index, send time) that every published event and comment carries;
//! - [`metrics`]: counters, HdrHistogram latency, the server's CPU and RSS from `/proc`;
//! - [`report`]: the summary, the JSON report and the side-by-side table;
//! - [`progress`]: progress bars;
//! - [`scenarios`]: `fanout`, `comments`, `churn`, `reconnect-storm`, `idle`, and `floor` (no
//!   server: the kernel's own cost of one write per delivery, the lower bound for `fanout`).
//!
//! Every run is bounded (duration flags, timeouts) and only talks to loopback addresses.

pub mod cli;
pub mod client;
pub mod metrics;
pub mod payload;
pub mod progress;
pub mod publisher;
pub mod report;
pub mod scenarios;
pub mod target;

pub use cli::{run, Cli};
pub use report::Report;
