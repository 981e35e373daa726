//! Lets workflow steps drive VMs: the automation context's [`VmControl`] over the compute
//! context. Compute is an operator surface, so only an admin's workflows may use it, as
//! only admins may use the openidcs routes.

use gantry_flows::{Owner, VmControl, VmFuture};
use gantry_machines::model::PowerRequest;
use gantry_machines::{Actor, Machines};
use serde_json::{Value, json};

/// [`VmControl`] backed by [`Machines`].
pub struct MachinesVmControl(pub Machines);

fn actor(owner: Owner) -> Result<Actor, String> {
    if !owner.is_admin {
        return Err("VM steps need a workflow owned by an admin".into());
    }
    Ok(Actor { name: format!("workflow of user {}", owner.user_id), user_id: Some(owner.user_id) })
}

fn answer(status: &gantry_machines::model::VmStatusView) -> Result<Value, String> {
    let mut value = serde_json::to_value(status).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut value {
        map.insert("state".into(), json!(status.power));
    }
    Ok(value)
}

impl VmControl for MachinesVmControl {
    fn power<'a>(&'a self, owner: Owner, host: &'a str, vm_uuid: &'a str, action: &'a str) -> VmFuture<'a> {
        Box::pin(async move {
            let actor = actor(owner)?;
            let request = PowerRequest { action: action.to_owned(), timeout: None };
            let done = self.0.vm_power(&actor, host, vm_uuid, request).await.map_err(|e| e.to_string())?;
            let mut value = answer(&done.status)?;
            if let Value::Object(map) = &mut value {
                map.insert("forced".into(), json!(done.forced));
                map.insert("taskId".into(), json!(done.task_id));
            }
            Ok(value)
        })
    }

    fn status<'a>(&'a self, owner: Owner, host: &'a str, vm_uuid: &'a str) -> VmFuture<'a> {
        Box::pin(async move {
            actor(owner)?;
            let status = self.0.vm_status(host, vm_uuid).await.map_err(|e| e.to_string())?;
            answer(&status)
        })
    }
}
