//! Progress bars on the terminal (`indicatif`), hidden with `--quiet` or when stderr is not a
//! terminal, so that CI logs and `--json -` output stay clean.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: MultiProgress,
    hidden: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        Progress { multi, hidden: quiet }
    }

    /// A bar of `len` steps named `what`.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if self.hidden {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = self.multi.add(ProgressBar::new(len).with_style(style));
        bar.set_prefix(what.to_owned());
        bar
    }
}
