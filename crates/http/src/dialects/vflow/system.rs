//! vflow `/system/info` and `/system/stats` (health lives with the auth routes).

use super::owner;
use crate::envelope::{ApiResult, Reply, Vflow};
use crate::error::ApiError;
use crate::extract::{Auth, QueryArgs};
use crate::state::AppState;
use axum::extract::State;
use gantry_automation::system::Period;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(info)).routes(routes!(stats))
}

/// `10MB`-style sizes.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes}B") } else { format!("{value:.1}{}", UNITS[unit]) }
}

fn usage((used, total): (u64, u64)) -> Value {
    let percentage = if total > 0 { (used as f64 * 100.0 / total as f64).round() } else { 0.0 };
    json!({ "usedBytes": used, "totalBytes": total, "used": human(used), "total": human(total), "percentage": percentage })
}

/// This server: host facts, what the caller may do, supported features, version and uptime.
#[utoipa::path(get, path = "/api/v1/system/info", tag = "vflow", security(("bearer" = [])),
    responses((status = 200, description = "{device: {brand, model, manufacturer, androidVersion (the OS/kernel), apiLevel, sdkVersion, …}, permissions, capabilities, server: {version, startTime, uptime}}")))]
async fn info(State(state): State<AppState>, Auth(caller, ..): Auth<Vflow>) -> ApiResult<Vflow, Value> {
    let h = state.automation.host_info();
    let mut features = vec![
        "cron_triggers",
        "webhook_triggers",
        "event_triggers",
        "comfyui_dispatch",
        "image_generation",
        "zip_import_export",
    ];
    if h.compute {
        features.push("vm_control");
    }
    let data = json!({
        "device": {
            "brand": "Gantry", "model": format!("Gantry server on {}", if h.hostname.is_empty() { "localhost" } else { &h.hostname }),
            "manufacturer": "Gantry", "androidVersion": h.kernel, "apiLevel": null, "sdkVersion": h.version,
            "os": h.os, "arch": h.arch, "hostname": h.hostname, "cpuCount": h.cpu_count, "cpuModel": h.cpu_model,
            "memoryTotalBytes": h.memory_total_bytes,
        },
        "permissions": [
            { "name": "ADMIN", "granted": caller.is_admin(), "description": "Manage instances, users and compute" },
            { "name": "INTERNAL_HTTP", "granted": h.internal_http && caller.is_admin(),
              "description": "http_request steps may reach loopback and private addresses" },
            { "name": "COMPUTE", "granted": h.compute, "description": "VM modules can act" },
        ],
        "capabilities": {
            "hasRoot": false, "hasShizuku": false, "hasCoreService": true, "supportedFeatures": features,
        },
        "server": { "version": h.version, "startTime": h.start_time, "uptime": h.uptime },
    });
    Ok(Reply::ok(data))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsParams {
    /// today (default), week, month or all.
    period: Option<String>,
}

/// The caller's automation statistics.
#[utoipa::path(get, path = "/api/v1/system/stats", tag = "vflow", security(("bearer" = [])), params(StatsParams),
    responses((status = 200, description = "{workflowCount, enabledWorkflowCount, folderCount, totalExecutions, todayExecutions, successfulExecutions, failedExecutions, successRate, averageExecutionTime, storageUsage, memoryUsage, topWorkflows}"),
        (status = 400, description = "unknown period")))]
async fn stats(
    State(state): State<AppState>,
    Auth(caller, ..): Auth<Vflow>,
    QueryArgs(q, ..): QueryArgs<Vflow, StatsParams>,
) -> ApiResult<Vflow, Value> {
    let name = q.period.unwrap_or_else(|| "today".into());
    let period = Period::parse(&name)
        .ok_or_else(|| ApiError::bad_request(format!("period `{name}`: use today, week, month or all")))?;
    let s = state.automation.stats(owner(&caller), period).await?;
    let top: Vec<Value> = s
        .top_workflows
        .iter()
        .map(|t| json!({ "workflowId": t.workflow_id, "name": t.workflow_name, "executionCount": t.execution_count }))
        .collect();
    Ok(Reply::ok(json!({
        "period": name, "workflowCount": s.workflow_count, "enabledWorkflowCount": s.enabled_workflow_count,
        "folderCount": s.folder_count, "totalExecutions": s.total_executions, "todayExecutions": s.today_executions,
        "successfulExecutions": s.successful_executions, "failedExecutions": s.failed_executions,
        "successRate": s.success_rate, "averageExecutionTime": s.average_execution_time,
        "storageUsage": usage(s.storage), "memoryUsage": usage(s.memory), "topWorkflows": top,
    })))
}
