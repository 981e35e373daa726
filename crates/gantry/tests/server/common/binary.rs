//! The real `gantry` binary, run as an operator runs it from a scratch directory: the banner
//! on stderr, the log on stdout.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// `gantry` without the caller's `GANTRY_*` settings.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    for var in ["GANTRY_ADMIN_PASSWORD", "GANTRY_DATABASE_URL", "GANTRY_CONFIG", "GANTRY_DATA_DIR", "GANTRY_FILES_URL"]
    {
        command.env_remove(var);
    }
    command
}

/// A `gantry serve` on a random port; killed when dropped.
pub struct Served {
    child: Child,
    /// stderr (true) and stdout lines as they come.
    lines: Receiver<(bool, String)>,
    /// The banner's text, up to its `Database` line.
    pub banner: String,
    /// The banner's `Open` URL (ends with `/`).
    pub url: String,
    /// The first admin's password from the banner.
    pub password: String,
}

impl Served {
    /// `gantry serve --listen 127.0.0.1:0 <args>` in `dir` with `env`, once its banner is out.
    pub fn start(dir: &Path, args: &[&OsStr], env: &[(&str, &OsStr)]) -> Self {
        let mut command = command();
        command.args(["serve", "--listen", "127.0.0.1:0"]).args(args).current_dir(dir);
        command.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let (lines_tx, lines) = std::sync::mpsc::channel();
        let outputs: [Box<dyn Read + Send>; 2] =
            [Box::new(child.stderr.take().unwrap()), Box::new(child.stdout.take().unwrap())];
        for (stderr, output) in [true, false].into_iter().zip(outputs) {
            let lines_tx = lines_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    let _ = lines_tx.send((stderr, line));
                }
            });
        }
        let mut served = Served { child, lines, banner: String::new(), url: String::new(), password: String::new() };
        loop {
            let (stderr, line) = served.next().unwrap_or_else(|| panic!("no banner: {}", served.banner));
            if !stderr {
                continue;
            }
            served.banner.push_str(&line);
            served.banner.push('\n');
            if line.trim_start().starts_with("Database") {
                served.url = served.banner_field("Open");
                served.password = served.banner_field("Sign in").trim_start_matches("admin / ").to_owned();
                return served;
            }
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value of the banner line starting with `name`.
    /// Logs in as the admin with the banner's password; returns the token.
    pub async fn admin_token(&self) -> String {
        let login = serde_json::json!({"username": "admin", "password": self.password});
        let url = format!("{}api/auth/login", self.url);
        let answer: serde_json::Value =
            reqwest::Client::new().post(url).json(&login).send().await.unwrap().json().await.unwrap();
        answer["data"]["token"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
    }

    pub fn banner_field(&self, name: &str) -> String {
        let line = self.banner.lines().map(str::trim_start).find(|l| l.starts_with(name));
        line.unwrap_or_else(|| panic!("no {name} in {}", self.banner))[name.len()..].trim().to_owned()
    }

    /// The next output line containing every one of `parts`.
    pub fn line_with(&self, parts: &[&str]) -> String {
        let mut seen = Vec::new();
        loop {
            let (_, line) = self.next().unwrap_or_else(|| panic!("no line with {parts:?} in {seen:#?}"));
            if parts.iter().all(|p| line.contains(p)) {
                return line;
            }
            seen.push(line);
        }
    }

    fn next(&self) -> Option<(bool, String)> {
        self.lines.recv_timeout(Duration::from_secs(30)).ok()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
