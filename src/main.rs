//! The `stagehand` command: `serve` runs the hub; `token` prints a signed token for trying it.

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use stagehand::auth::TokenKeys;
use stagehand::Config;
use stagehand_protocol::types::Role;
use stagehand_protocol::Claims;
use std::path::PathBuf;
use tracing_subscriber::filter::LevelFilter;

#[derive(Parser)]
#[command(name = "stagehand", version, about = "Real-time WebSocket hub for live-commerce rooms")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

// Parsed once at start-up: the size of the `Serve` variant (the whole `Config`) does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Run the hub.
    Serve {
        /// TOML file with any of the settings below (flags and STAGEHAND_* variables win).
        #[arg(long, env = "STAGEHAND_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        settings: Config,
    },
    /// Print a signed connection token (for trying the hub by hand).
    Token {
        /// User id (`sub`).
        #[arg(long)]
        user: String,
        /// Display name (defaults to the user id).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = parse_role, default_value = "viewer")]
        role: Role,
        /// Agency tokens: the agency id.
        #[arg(long)]
        agency: Option<String>,
        /// Agency tokens: the creator the agency works for.
        #[arg(long)]
        creator: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        #[arg(long, env = "STAGEHAND_JWT_SECRET", default_value = "stagehand-dev-secret", hide_env_values = true)]
        jwt_secret: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "creator" => Ok(Role::Creator),
        "viewer" => Ok(Role::Viewer),
        "agency" => Ok(Role::Agency),
        _ => Err("creator, viewer or agency".into()),
    }
}

fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        Cmd::Serve { config, .. } => {
            let serve_matches = matches.subcommand_matches("serve").context("serve arguments")?;
            let config = Config::load(config.as_deref(), serve_matches)?;
            init_logging(&config.log_format);
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(config))
        }
        Cmd::Token { user, name, role, agency, creator, ttl, jwt_secret } => {
            let exp = stagehand::clock::now_ms() / 1000 + ttl;
            let claims = Claims {
                name: name.unwrap_or_else(|| user.clone()),
                sub: user,
                role,
                exp,
                agency_name: agency.clone(),
                agency,
                creator,
            };
            println!("{}", TokenKeys::new(&jwt_secret, 0).sign(&claims)?);
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.jwt_secret == "stagehand-dev-secret" || config.api_key == "stagehand-dev-api-key" {
        tracing::warn!(
            "using the built-in development secret or API key; set STAGEHAND_JWT_SECRET and STAGEHAND_API_KEY"
        );
    }
    let running = stagehand::start(config).await.context("starting the hub")?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STAGEHAND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // tungstenite logs every frame it receives at trace — `connect` and `refresh` frames carry
    // tokens — so its protocol module goes no further than debug whatever STAGEHAND_LOG says
    // (tokens are never logged: tests/logs.rs), and no further than the rest of the hub either.
    let ceiling = filter.max_level_hint().unwrap_or(LevelFilter::INFO).min(LevelFilter::DEBUG);
    let filter = match format!("tungstenite::protocol={ceiling}").parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
