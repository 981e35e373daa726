//! Facts about this server (`/system/info`) and a user's automation statistics
//! (`/system/stats`). Host facts come from `/proc` where there is one.

use std::path::Path;

use crate::repo::executions::{self as repo, TopWorkflow};
use serde::Serialize;

use crate::{Automation, AutomationResult, Owner};

/// Host and server facts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostInfo {
    pub hostname: String,
    pub os: &'static str,
    pub arch: &'static str,
    /// e.g. `Linux 6.1.0-18-amd64`.
    pub kernel: String,
    pub cpu_count: usize,
    pub cpu_model: String,
    pub memory_total_bytes: u64,
    pub version: &'static str,
    /// ms since the epoch.
    pub start_time: i64,
    pub uptime: i64,
    /// Whether the VM modules can act (a compute context is wired).
    pub compute: bool,
    /// Whether admins' `http_request` steps may reach internal addresses.
    pub internal_http: bool,
}

/// A period of `/system/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Today,
    Week,
    Month,
    All,
}

impl Period {
    /// Parses `today`, `week`, `month`, `all`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "today" => Self::Today,
            "week" => Self::Week,
            "month" => Self::Month,
            "all" => Self::All,
            _ => return None,
        })
    }

    fn since(self, now_ms: i64) -> Option<i64> {
        const DAY: i64 = 86_400_000;
        match self {
            Self::Today => Some(now_ms - now_ms.rem_euclid(DAY)),
            Self::Week => Some(now_ms - 7 * DAY),
            Self::Month => Some(now_ms - 30 * DAY),
            Self::All => None,
        }
    }
}

/// A user's automation statistics over a period.
#[derive(Debug, Clone)]
pub struct Stats {
    pub workflow_count: i64,
    pub enabled_workflow_count: i64,
    pub folder_count: i64,
    pub total_executions: i64,
    pub today_executions: i64,
    pub successful_executions: i64,
    pub failed_executions: i64,
    pub success_rate: f64,
    pub average_execution_time: i64,
    /// `(used, total)` bytes of the file system holding the data directory.
    pub storage: (u64, u64),
    /// `(resident, total)` bytes of memory.
    pub memory: (u64, u64),
    pub top_workflows: Vec<TopWorkflow>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A `/proc/meminfo` field in bytes.
fn meminfo(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Resident memory of this process, bytes.
fn resident() -> u64 {
    meminfo(&read("/proc/self/status"), "VmRSS")
}

/// `(used, total)` bytes of the file system holding `dir`.
fn disk_usage(dir: &Path) -> (u64, u64) {
    match rustix::fs::statvfs(dir) {
        Ok(v) => {
            let total = v.f_blocks.saturating_mul(v.f_frsize);
            (total.saturating_sub(v.f_bfree.saturating_mul(v.f_frsize)), total)
        }
        Err(_) => (0, 0),
    }
}

impl Automation {
    /// Facts about this host and server.
    pub fn host_info(&self) -> HostInfo {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_owned()))
            .unwrap_or_default();
        let release = read("/proc/sys/kernel/osrelease");
        let os_type = read("/proc/sys/kernel/ostype");
        let kernel = match (os_type.trim(), release.trim()) {
            ("", "") => std::env::consts::OS.to_owned(),
            (t, r) => format!("{t} {r}").trim().to_owned(),
        };
        let now = self.now();
        HostInfo {
            hostname: read("/proc/sys/kernel/hostname").trim().to_owned(),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            kernel,
            cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_total_bytes: meminfo(&read("/proc/meminfo"), "MemTotal"),
            version: env!("CARGO_PKG_VERSION"),
            start_time: self.inner.started_at_ms,
            uptime: now - self.inner.started_at_ms,
            compute: self.inner.compute.is_some(),
            internal_http: self.inner.config.allow_internal_http,
        }
    }

    /// The owner's statistics over `period`.
    pub async fn stats(&self, owner: Owner, period: Period) -> AutomationResult<Stats> {
        let db = &self.inner.db;
        let now = self.now();
        let since = period.since(now);
        let (workflow_count, enabled_workflow_count) = crate::repo::workflows::counts(db, owner.user_id).await?;
        let folder_count = crate::repo::folders::count(db, owner.user_id).await?;
        let totals = repo::stats(db, owner.user_id, since).await?;
        let today = repo::stats(db, owner.user_id, Period::Today.since(now)).await?;
        let top_workflows = repo::top_workflows(db, owner.user_id, since, 5).await?;
        let dir = &self.inner.data_dir;
        let mem_total = meminfo(&read("/proc/meminfo"), "MemTotal");
        Ok(Stats {
            workflow_count,
            enabled_workflow_count,
            folder_count,
            total_executions: totals.total,
            today_executions: today.total,
            successful_executions: totals.successful,
            failed_executions: totals.failed,
            success_rate: if totals.total > 0 { totals.successful as f64 / totals.total as f64 } else { 0.0 },
            average_execution_time: totals.average_duration_ms.unwrap_or(0),
            storage: disk_usage(dir),
            memory: (resident(), mem_total),
            top_workflows,
        })
    }
}
