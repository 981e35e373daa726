//! Live state of every ComfyUI instance, and the placement rule.
//!
//! **Placement** (the spec leaves it to us): a task goes to an instance that is enabled,
//! alive, has a free slot (one running prompt plus `prefetch` waiting inside ComfyUI) and
//! has every model the task needs. Among those, idle instances come first, then the one
//! whose last checkpoint matches the task's (the model is likely still loaded), then the
//! least loaded, then the one that received work least recently (then by id, so
//! placement is deterministic).

use crate::config::InstanceSpec;
use crate::queue::Pending;
use gantry_comfy::graph::ModelRef;
use std::collections::{HashMap, HashSet};

/// One instance as Gantry sees it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub spec: InstanceSpec,
    /// Operator switch (`PUT /api/instances/:id`), persisted.
    pub enabled: bool,
    pub alive: bool,
    /// Last successful contact, Unix ms.
    pub last_heartbeat: Option<i64>,
    /// Models the instance reported; `None` until first probed.
    pub models: Option<HashSet<ModelRef>>,
    /// The checkpoint of the last task it ran (model affinity).
    pub last_checkpoint: Option<String>,
    /// Tasks handed to it and not finished: prompt id → task id.
    pub slots: HashMap<String, String>,
    /// Prompts Gantry gave up on here (their task moved elsewhere or ended) that may still
    /// be queued, running or in its history: interrupted and deleted before the instance
    /// gets new work, so nothing runs twice and its history does not fill up.
    pub abandoned: HashSet<String>,
    /// ComfyUI's own queue_remaining, from its WebSocket.
    pub queue_remaining: u64,
    /// Monotonic counter of assignments, for least-recently-used tie breaks.
    pub last_assigned: u64,
    /// Whether this gateway drives it (always, with one gateway). The others show what its
    /// driver reports and never place work on it.
    pub owned: bool,
    /// Owned, and being handed to another gateway: it gets no new work meanwhile.
    pub handing_off: bool,
    /// Owned until (Unix ms): the lease, renewed every heartbeat.
    pub lease_until: i64,
    /// Unfinished tasks its driving gateway reports (for instances this one does not drive).
    pub reported_active: u64,
}

impl Instance {
    /// A new, not yet contacted instance.
    pub fn new(spec: InstanceSpec, enabled: bool) -> Self {
        Self {
            spec,
            enabled,
            alive: false,
            last_heartbeat: None,
            models: None,
            last_checkpoint: None,
            slots: HashMap::new(),
            abandoned: HashSet::new(),
            queue_remaining: 0,
            last_assigned: 0,
            owned: true,
            handing_off: false,
            lease_until: i64::MAX,
            reported_active: 0,
        }
    }

    /// Whether it is working on anything.
    pub fn busy(&self) -> bool {
        self.active() > 0 || self.queue_remaining > 0
    }

    /// Tasks handed to it that have not finished.
    pub fn active(&self) -> u64 {
        if self.owned { self.slots.len() as u64 } else { self.reported_active }
    }

    /// Whether it may receive work at all.
    pub fn usable(&self) -> bool {
        self.enabled && self.spec.server_enabled && self.alive
    }

    /// Whether it has all `models` (unknown model lists count as not having them).
    pub fn has_models(&self, models: &[ModelRef]) -> bool {
        models.is_empty() || self.models.as_ref().is_some_and(|have| models.iter().all(|m| have.contains(m)))
    }
}

/// All instances.
#[derive(Debug, Default)]
pub struct Fleet {
    pub instances: HashMap<String, Instance>,
    /// Configuration order, for listing.
    pub order: Vec<String>,
    assignments: u64,
}

impl Fleet {
    /// Instances in configuration order.
    pub fn list(&self) -> impl Iterator<Item = &Instance> {
        self.order.iter().filter_map(|id| self.instances.get(id))
    }

    /// The best instance for `task` with at most `slots_per_instance` tasks, if any.
    pub fn place(&self, task: &Pending, slots_per_instance: usize) -> Option<&str> {
        let checkpoint = task.checkpoint();
        self.instances
            .values()
            .filter(|i| {
                i.owned
                    && !i.handing_off
                    && i.usable()
                    && i.slots.len() < slots_per_instance
                    && i.has_models(&task.models)
            })
            .min_by_key(|i| {
                let affinity_miss = checkpoint.is_some() && i.last_checkpoint.as_deref() != checkpoint;
                (i.slots.len(), affinity_miss, i.last_assigned, i.spec.id.as_str())
            })
            .map(|i| i.spec.id.as_str())
    }

    /// Records that `task` now occupies a slot of `instance_id` under `prompt_id`.
    pub fn occupy(&mut self, instance_id: &str, prompt_id: &str, task: &Pending) {
        self.assignments += 1;
        let counter = self.assignments;
        if let Some(instance) = self.instances.get_mut(instance_id) {
            instance.slots.insert(prompt_id.to_owned(), task.id.clone());
            instance.last_assigned = counter;
            if let Some(checkpoint) = task.checkpoint() {
                instance.last_checkpoint = Some(checkpoint.to_owned());
            }
        }
    }

    /// Frees the slot of `prompt_id` on `instance_id`; returns the task id it held.
    pub fn release(&mut self, instance_id: &str, prompt_id: &str) -> Option<String> {
        self.instances.get_mut(instance_id)?.slots.remove(prompt_id)
    }

    /// Whether any instance could ever run a task needing `models`: some instance has
    /// them, or some instance's models are not known yet.
    pub fn could_run(&self, models: &[ModelRef]) -> bool {
        models.is_empty()
            || self
                .instances
                .values()
                .any(|i| i.enabled && i.spec.server_enabled && (i.models.is_none() || i.has_models(models)))
    }

    /// Whether any instance is usable now.
    pub fn any_usable(&self) -> bool {
        self.instances.values().any(Instance::usable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(port: u16) -> InstanceSpec {
        InstanceSpec {
            id: format!("127.0.0.1:{port}"),
            server_id: "s".into(),
            server_name: "s".into(),
            ip: "127.0.0.1".into(),
            port,
            server_enabled: true,
        }
    }

    fn model(name: &str) -> ModelRef {
        ModelRef { folder: "checkpoints".into(), name: name.into() }
    }

    fn fleet(models: &[(u16, &[&str])]) -> Fleet {
        let mut fleet = Fleet::default();
        for (port, names) in models {
            let mut instance = Instance::new(spec(*port), true);
            instance.alive = true;
            instance.models = Some(names.iter().map(|n| model(n)).collect());
            fleet.order.push(instance.spec.id.clone());
            fleet.instances.insert(instance.spec.id.clone(), instance);
        }
        fleet
    }

    fn task(id: &str, ckpt: &str) -> Pending {
        Pending { id: id.into(), user_id: 1, priority: 0, seq: 0, models: vec![model(ckpt)] }
    }

    #[test]
    fn places_on_instances_that_have_the_model() {
        let fleet = fleet(&[(1, &["a"]), (2, &["b"])]);
        assert_eq!(fleet.place(&task("t", "b"), 2), Some("127.0.0.1:2"));
        assert_eq!(fleet.place(&task("t", "c"), 2), None);
        assert!(!fleet.could_run(&[model("c")]));
        assert!(fleet.could_run(&[model("a")]));
    }

    #[test]
    fn prefers_idle_then_affinity_then_least_recently_used() {
        let mut fleet = fleet(&[(1, &["a", "b"]), (2, &["a", "b"]), (3, &["a", "b"])]);
        let first = fleet.place(&task("t1", "a"), 2).unwrap().to_owned();
        fleet.occupy(&first, "p1", &task("t1", "a"));
        let second = fleet.place(&task("t2", "a"), 2).unwrap().to_owned();
        assert_ne!(second, first, "an idle instance beats a busy one");
        fleet.occupy(&second, "p2", &task("t2", "a"));
        fleet.release(&first, "p1");
        fleet.release(&second, "p2");
        // Both idle and both last ran `a`; the third never ran anything.
        assert_eq!(fleet.place(&task("t3", "a"), 2), Some(first.as_str()), "affinity, then least recently used");
        assert_eq!(fleet.place(&task("t4", "b"), 2), Some("127.0.0.1:3"), "no affinity anywhere: the unused one");
    }

    #[test]
    fn full_dead_or_disabled_instances_get_nothing() {
        let mut fleet = fleet(&[(1, &["a"])]);
        fleet.occupy("127.0.0.1:1", "p1", &task("t1", "a"));
        assert_eq!(fleet.place(&task("t2", "a"), 1), None, "no free slot");
        assert_eq!(fleet.place(&task("t2", "a"), 2), Some("127.0.0.1:1"), "prefetch slot");
        fleet.instances.get_mut("127.0.0.1:1").unwrap().alive = false;
        assert_eq!(fleet.place(&task("t2", "a"), 2), None);
        let i = fleet.instances.get_mut("127.0.0.1:1").unwrap();
        i.alive = true;
        i.enabled = false;
        assert_eq!(fleet.place(&task("t2", "a"), 2), None);
    }
}
