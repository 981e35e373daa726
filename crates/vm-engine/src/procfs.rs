//! Small readers of `/proc` and process helpers (Linux only).
// The three libc calls below (sysconf, kill, statvfs) have no safe wrapper among our
// dependencies; each is a plain FFI call on owned, initialised arguments.
#![allow(unsafe_code)]

use std::path::Path;
use std::time::Duration;

/// Reads a pid file (`-pidfile`); `None` if missing or not a number.
pub fn read_pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `D`, `Z`…), `None` if no such process.
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next()?.chars().next()
}

/// True if `pid` exists and is not a zombie (a daemonized QEMU may be reparented to an init that
/// reaps late; a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    matches!(state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// The NUL-separated command line of `pid`, joined with spaces.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(raw.split(|b| *b == 0).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" "))
}

/// True if `pid` is alive and its command line mentions `needle` (guards against pid reuse: a
/// VM's QEMU always has its own directory on its command line).
pub fn alive_with(pid: u32, needle: &str) -> bool {
    alive(pid) && cmdline(pid).is_some_and(|c| c.contains(needle))
}

/// CPU time (user + system) of `pid` in clock ticks, and its start time in ticks after boot.
pub fn cpu_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    // After "pid (comm) ": state=0 ... utime=11 stime=12 ... starttime=19
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let start: u64 = fields.get(19)?.parse().ok()?;
    Some((utime + stime, start))
}

/// Resident memory of `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// Seconds since boot (`/proc/uptime`).
pub fn uptime() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()
}

/// How long `pid` has been running.
pub fn process_age(pid: u32) -> Option<Duration> {
    let (_, start) = cpu_ticks(pid)?;
    let secs = uptime()? - start as f64 / clk_tck() as f64;
    Some(Duration::from_secs_f64(secs.max(0.0)))
}

/// Sends a signal; false if the process does not exist.
pub fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// Waits until `pid` is gone (or a zombie), polling; true if it went within `timeout`.
pub async fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if !alive(pid) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `/proc/meminfo` as (MemTotal, MemAvailable) in KiB.
pub fn meminfo() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let get = |key: &str| -> Option<u64> {
        text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    Some((get("MemTotal:")?, get("MemAvailable:").or_else(|| get("MemFree:"))?))
}

/// Aggregate CPU counters from `/proc/stat`: (busy, total) jiffies.
pub fn cpu_counters() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Total and available bytes of the file system holding `path` (`statvfs`).
pub fn disk_space(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated string and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(alive(me));
        assert!(cpu_ticks(me).is_some());
        assert!(rss_kib(me).unwrap() > 0);
        assert!(process_age(me).is_some());
        assert!(meminfo().unwrap().0 > 0);
        let (busy, total) = cpu_counters().unwrap();
        assert!(total >= busy);
        let (t, f) = disk_space(Path::new("/")).unwrap();
        assert!(t >= f && t > 0);
        assert!(!alive(u32::MAX / 2));
    }
}
