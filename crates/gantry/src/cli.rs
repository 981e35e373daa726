//! The `gantry` command line: `serve`, `user add|passwd|list|role`, `migrate`, `config check`.

use crate::settings::{ServeArgs, StorageArgs, serve_config, storage_config};
use clap::{Parser, Subcommand};
use gantry_core::Role;
use gantry_core::config::Config;
use gantry_core::events::EventBus;
use std::io::BufRead;

/// Gantry: one self-hosted server for ComfyUI fleets, generation sales, virtual
/// machines and workflow automation.
#[derive(Debug, Parser)]
#[command(name = "gantry", version)]
pub struct Cli {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration files (every key: gantry.example.toml).
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a TOML configuration file: every key known, every value of its type. Prints
    /// the settings that differ from the defaults.
    Check { file: std::path::PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password comes from GANTRY_USER_PASSWORD, or stdin with
    /// --password-stdin, or is generated and printed.
    Add {
        username: String,
        #[arg(long, default_value = "user", value_parser = ["user", "admin"])]
        role: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (ends their sessions). Password sources as for `add`.
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role.
    Role {
        username: String,
        #[arg(value_parser = ["user", "admin"])]
        role: String,
    },
    /// List users.
    List,
    /// Make a personal API token for a user (a bearer token acting as them until revoked);
    /// the token is printed this once.
    TokenAdd {
        username: String,
        #[arg(long)]
        label: String,
    },
    /// List a user's personal API tokens (never their secrets).
    Tokens { username: String },
    /// Revoke one of a user's personal API tokens by its id.
    TokenRevoke { username: String, id: String },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(serve) => {
            let config = serve_config(&cli.storage, &serve)?;
            let telemetry = crate::telemetry::init(config.log_format, config.otlp_endpoint.as_deref())?;
            let running = crate::start(config.clone(), serve.admin_password.clone()).await?;
            eprint!("{}", banner(&config, &running));
            let stopped = running.wait_for_signal_then_stop().await;
            telemetry.shutdown().await;
            stopped
        }
        Command::Config(ConfigCommand::Check { file }) => {
            let config = crate::settings::from_file(&file)?;
            let changed = crate::settings::differences(&config);
            println!("{}: ok", file.display());
            if changed.is_empty() {
                println!("every setting at its default");
            } else {
                println!("not at their defaults: {}", changed.join(", "));
            }
            Ok(())
        }
        Command::Migrate => {
            let config = storage_config(&cli.storage)?;
            require_database(&config)?;
            crate::open_database(&config).await?.close().await;
            println!("migrations applied to {}", crate::redact(&config.effective_database_url()));
            Ok(())
        }
        Command::User(command) => {
            let config = storage_config(&cli.storage)?;
            require_database(&config)?;
            let db = crate::open_database(&config).await?;
            let accounts = crate::open_accounts(&db, &config, &EventBus::default()).await?;
            let result = user_command(&accounts, command).await;
            db.close().await;
            result
        }
    }
}

async fn user_command(accounts: &gantry_accounts::Accounts, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { username, role, password_stdin } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let (password, generated) = password_from(password_stdin)?;
            let user = accounts.create_user(&username, &password, role).await?;
            println!("created {} (id {}, {})", user.username, user.id, user.role);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Passwd { username, password_stdin } => {
            let (password, generated) = password_from(password_stdin)?;
            accounts.set_password(&username, &password).await?;
            println!("password of {username} changed; their sessions were ended");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Role { username, role } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let user = accounts.user_by_username(&username).await?;
            accounts.set_role_unchecked(user.id, role).await?;
            println!("{username} is now {role}");
        }
        UserCommand::List => {
            let mut offset = 0;
            println!("{:<8} {:<32} {:<6} created", "id", "username", "role");
            loop {
                let (users, total) = accounts.list_users(500, offset).await?;
                for u in &users {
                    println!(
                        "{:<8} {:<32} {:<6} {}",
                        u.id,
                        u.username,
                        u.role,
                        gantry_core::clock::iso_millis(u.created_at)
                    );
                }
                offset += users.len() as i64;
                if users.is_empty() || offset >= total {
                    break;
                }
            }
        }
        UserCommand::TokenAdd { username, label } => {
            let user = accounts.user_by_username(&username).await?;
            let (token, secret) = accounts.create_personal_token(user.id, &label).await?;
            println!("token {} ({}) for {username}: {secret}", token.id, token.label);
        }
        UserCommand::Tokens { username } => {
            let user = accounts.user_by_username(&username).await?;
            println!("{:<14} {:<12} {:<24} {:<24} label", "id", "hint", "created", "last used");
            for t in accounts.personal_tokens(user.id).await? {
                let used = t.last_used_at.map(gantry_core::clock::iso_millis).unwrap_or_else(|| "never".into());
                let created = gantry_core::clock::iso_millis(t.created_at);
                println!("{:<14} {:<12} {:<24} {:<24} {}", t.id, t.hint, created, used, t.label);
            }
        }
        UserCommand::TokenRevoke { username, id } => {
            let user = accounts.user_by_username(&username).await?;
            accounts.revoke_personal_token(user.id, &id).await?;
            println!("token {id} of {username} revoked");
        }
    }
    Ok(())
}

/// The password to use: GANTRY_USER_PASSWORD, one line of stdin, or a generated one.
fn password_from(stdin: bool) -> anyhow::Result<(String, bool)> {
    if stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false));
    }
    if let Ok(password) = std::env::var("GANTRY_USER_PASSWORD") {
        return Ok((password, false));
    }
    Ok((gantry_accounts::secrets::random_token("")[..20].to_owned(), true))
}

/// What an operator needs after a start, whatever the log level: where to open Gantry,
/// the first admin's password (first start only), where its data lives. Plain text.
fn banner(config: &Config, running: &crate::Running) -> String {
    let addr = running.addr();
    let url = match &config.http.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        None => format!("http://{addr}"),
    };
    let admin = match running.first_admin_password() {
        Some(password) => {
            format!("admin / {password}\n           (shown only this once: change it with `gantry user passwd admin`)")
        }
        None => "admin (password as set before)".to_owned(),
    };
    let data_dir = std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let comfyui = match running.comfyui_addr() {
        Some(root) => format!("{url}/comfy and http://{root} (ComfyUI clients; a personal API token signs them in)"),
        None => format!("{url}/comfy (ComfyUI clients; a personal API token signs them in)"),
    };
    format!(
        "\nGantry is running (listening on {addr})\n  Open      {url}/\n  Sign in   {admin}\n  ComfyUI   {comfyui}\n  Data      {}\n  Database  {}\n\n",
        data_dir.display(),
        crate::redact(&config.effective_database_url()),
    )
}

/// Commands other than `serve` work on an existing SQLite database only: run from the
/// wrong directory, they would otherwise create an empty one there.
fn require_database(config: &Config) -> anyhow::Result<()> {
    let url = config.effective_database_url();
    let Some(path) = url.strip_prefix("sqlite://") else { return Ok(()) };
    let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
    if path.exists() {
        return Ok(());
    }
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    anyhow::bail!(
        "no database at {}: pass the server's --data-dir (or GANTRY_DATA_DIR / GANTRY_DATABASE_URL), \
         or start `gantry serve` once to create it",
        shown.display()
    )
}
