//! Builds the web console (`web/`, TypeScript) with its own build script and embeds the
//! result: `npm ci` when `web/node_modules` is missing or older than the lock file, then
//! `node build.mjs --outdir $OUT_DIR/web`. `GANTRY_WEB_DIST=<dir>` embeds a console built
//! elsewhere instead (a machine without Node.js can build with one built on another).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let web = manifest.join("../../web");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    println!("cargo::rerun-if-env-changed=GANTRY_WEB_DIST");
    for input in ["src", "build.mjs", "index.html", "package.json", "package-lock.json", "tsconfig.json"] {
        println!("cargo::rerun-if-changed={}", web.join(input).display());
    }
    let dist = match std::env::var_os("GANTRY_WEB_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dist = out.join("web");
            build_console(&web, &dist);
            dist
        }
    };
    let mut files = Vec::new();
    collect(&dist, &dist, &mut files);
    files.sort();
    let mut code =
        String::from("/// Every file of the built console, sorted by path.\npub static ASSETS: &[Asset] = &[\n");
    for (path, absolute) in &files {
        if path.ends_with(".gz") {
            continue;
        }
        let gzip = files
            .iter()
            .find(|(p, _)| *p == format!("{path}.gz"))
            .map_or_else(|| "None".to_owned(), |(_, a)| format!("Some(include_bytes!({a:?}))"));
        let _ = writeln!(code, "    Asset {{ path: {path:?}, body: include_bytes!({absolute:?}), gzip: {gzip} }},");
    }
    code.push_str("];\n");
    if let Err(error) = std::fs::write(out.join("assets.rs"), code) {
        panic!("cannot write the console's asset table: {error}");
    }
}

fn build_console(web: &Path, dist: &Path) {
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    let stale = match (modified(&lock), modified(&installed)) {
        (Some(lock), Some(installed)) => lock > installed,
        _ => true,
    };
    if stale {
        run(
            Command::new("npm")
                .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(web),
            "npm ci",
        );
    }
    run(Command::new("node").arg("build.mjs").arg("--outdir").arg(dist).current_dir(web), "node build.mjs");
}

fn run(command: &mut Command, what: &str) {
    let hint = "the web console is built with Node.js (18 or newer) and npm: install them (Debian: apt-get install nodejs npm), \
                or set GANTRY_WEB_DIST to a console built elsewhere (node web/build.mjs --outdir DIR)";
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("{what} failed ({status}); {hint}"),
        Err(error) => panic!("{what} could not run ({error}); {hint}"),
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("the console's build output {} cannot be read", dir.display());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            files.push((name, path.display().to_string()));
        }
    }
}
