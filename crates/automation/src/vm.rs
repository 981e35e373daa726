//! The VM steps (`gantry_vm_action`, `gantry_vm_status`) over the compute context. Compute is
//! an operator surface, so only an admin's workflows may drive VMs, as only admins may use
//! the openidcs routes.

use gantry_compute::model::VmStatusView;
use gantry_compute::{Actor, Compute};
use gantry_vm_engine::PowerAction;
use serde_json::{Value, json};

use crate::Owner;

/// Who a workflow acts as towards compute; refused unless its owner is an admin.
fn actor(owner: Owner) -> Result<Actor, String> {
    if !owner.is_admin {
        return Err("VM steps need a workflow owned by an admin".into());
    }
    Ok(Actor { name: format!("workflow of user {}", owner.user_id), user_id: Some(owner.user_id) })
}

/// A step's `result`: the VM's status, with `state` its power state.
fn status_value(status: &VmStatusView) -> Result<Value, String> {
    let mut value = serde_json::to_value(status).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut value {
        map.insert("state".into(), json!(status.power));
    }
    Ok(value)
}

/// Runs a power action (`start`, `stop`, `shutdown`, `reboot`, `reset`, `pause`, `resume`).
pub(crate) async fn power(
    compute: &Compute,
    owner: Owner,
    host: &str,
    vm_uuid: &str,
    action: &str,
) -> Result<Value, String> {
    let actor = actor(owner)?;
    let action = PowerAction::from_name(action).ok_or_else(|| format!("unknown VM action `{action}`"))?;
    let done = compute.vm_power(&actor, host, vm_uuid, action).await.map_err(|e| e.to_string())?;
    let mut value = status_value(&done.status)?;
    if let Value::Object(map) = &mut value {
        map.insert("forced".into(), json!(done.forced));
        map.insert("taskId".into(), json!(done.task_id));
    }
    Ok(value)
}

/// The VM's status.
pub(crate) async fn status(compute: &Compute, owner: Owner, host: &str, vm_uuid: &str) -> Result<Value, String> {
    actor(owner)?;
    let status = compute.vm_status(host, vm_uuid).await.map_err(|e| e.to_string())?;
    status_value(&status)
}
