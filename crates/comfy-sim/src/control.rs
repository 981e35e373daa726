//! Runtime control of timing and failure injection (`/sim/control` and [`crate::SimHandle::control`]).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{FailSpec, Knobs};
use crate::state::{Sim, lock};

/// A change to the running sim; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Time per sampler step, ms.
    pub step_ms: Option<u64>,
    /// Checkpoint load time, ms.
    pub load_ms: Option<u64>,
    /// Binary preview frames during sampling.
    pub preview: Option<bool>,
    /// `progress_state` messages.
    pub progress_state: Option<bool>,
    /// Crash after this many sampler steps of a running prompt; 0 disarms.
    pub die_after_steps: Option<u32>,
    /// Close (true) or reopen (false) the listening socket.
    pub refuse: Option<bool>,
    /// With `refuse: true`: reopen automatically after this many ms.
    pub refuse_for_ms: Option<u64>,
    /// Delay every HTTP response (except `/sim/*`) by this many ms.
    pub slow_ms: Option<u64>,
    /// Delay every WebSocket frame by this many ms from when it was sent.
    pub ws_lag_ms: Option<u64>,
    /// `true` arms an out-of-memory failure for the next prompt, an object arms a custom one,
    /// `false` disarms.
    pub fail_next: Option<FailNext>,
    /// `/view` answers 500 while set.
    pub fail_view: Option<bool>,
    /// Drop every WebSocket now (no close handshake); the server keeps running.
    #[serde(default)]
    pub drop_ws: bool,
    /// Replace the model lists of these folders.
    pub models: Option<BTreeMap<String, Vec<String>>>,
}

/// `fail_next` as a flag or a full exception description.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FailNext {
    /// `true`: out of memory; `false`: disarm.
    Flag(bool),
    /// A custom exception.
    Spec(FailSpec),
}

/// The state `/sim/control` reports.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ControlState {
    #[serde(flatten)]
    knobs: Knobs,
    websockets: usize,
    queue_remaining: usize,
    models: BTreeMap<String, Vec<String>>,
}

pub(crate) fn state(sim: &Sim) -> ControlState {
    ControlState {
        knobs: sim.knobs(),
        websockets: sim.hub.open_connections(),
        queue_remaining: lock(&sim.queue).remaining(),
        models: sim.models.read().unwrap_or_else(PoisonError::into_inner).clone(),
    }
}

/// Applies a change and returns the resulting state.
pub(crate) fn apply(sim: &Arc<Sim>, change: Control) -> ControlState {
    {
        let mut k = lock(&sim.knobs);
        set(&mut k.step_ms, change.step_ms);
        set(&mut k.load_ms, change.load_ms);
        set(&mut k.preview, change.preview);
        set(&mut k.progress_state, change.progress_state);
        set(&mut k.die_after_steps, change.die_after_steps);
        set(&mut k.slow_ms, change.slow_ms);
        set(&mut k.ws_lag_ms, change.ws_lag_ms);
        set(&mut k.fail_view, change.fail_view);
        match change.fail_next {
            Some(FailNext::Flag(true)) => k.fail_next = Some(FailSpec::default()),
            Some(FailNext::Flag(false)) => k.fail_next = None,
            Some(FailNext::Spec(spec)) => k.fail_next = Some(spec),
            None => {}
        }
    }
    if let Some(models) = change.models {
        sim.models.write().unwrap_or_else(PoisonError::into_inner).extend(models);
    }
    if let Some(refuse) = change.refuse {
        set_refuse(sim, refuse);
        if let (true, Some(ms)) = (refuse, change.refuse_for_ms) {
            // A plain thread, so this also works from outside a Tokio runtime.
            let sim = Arc::clone(sim);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                set_refuse(&sim, false);
            });
        }
    }
    if change.drop_ws {
        sim.hub.drop_all();
    }
    state(sim)
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn set_refuse(sim: &Sim, refuse: bool) {
    lock(&sim.knobs).refuse = refuse;
    sim.refuse.send_replace(refuse);
}
