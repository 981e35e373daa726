//! Several gateways over one PostgreSQL database.
//!
//! - **Instances**: each ComfyUI instance is driven (monitored, given work, collected from)
//!   by one gateway at a time, under a lease in `instance_leases` renewed every heartbeat.
//!   Instances are spread over the live gateways by rendezvous hashing, so they move only
//!   when a gateway joins or leaves. A gateway that dies stops renewing: its leases expire
//!   and the instances' next owners take them over with their unfinished tasks, asking each
//!   instance what became of them exactly as after a restart. The other gateways show what
//!   the driver reports of each instance (the lease row).
//! - **The queue**: every gateway keeps the fair order of every pending task, so fairness
//!   holds across the cluster; a task goes to whichever gateway claims it first (the claim
//!   is a conditional update). Gateways tell each other of tasks that start or stop waiting
//!   over NOTIFY, and re-read the pending tasks now and then against lost notifications.
//! - **Configuration**: read back every heartbeat, so a change made through one gateway is
//!   in force on all within one.

use crate::config::FleetConfig;
use crate::queue::Pending;
use crate::repo::leases::{self, Seen};
use crate::repo::tasks;
use crate::{CONFIG_KEY, Inner, lock, pending_of};
use gantry_comfy::graph::ModelRef;
use gantry_core::events::{Envelope, Event};
use gantry_store::{cluster, settings};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// The NOTIFY channel of queue changes ([`Notices`]).
const CHANNEL: &str = "gantry_dispatch";
/// How often every pending task is re-read, against notifications lost while the listening
/// connection was down.
const RESYNC: Duration = Duration::from_secs(30);

/// This gateway, as one of several sharing the database.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Unique per running process.
    pub node: String,
    /// Where it serves (shown to operators).
    pub addr: String,
    /// How long an instance lease lasts without renewal.
    pub lease: Duration,
}

impl Membership {
    fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }
}

/// A change to the queue other gateways must hear of.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Notice {
    /// Waiting (new, or back after a failed attempt).
    Queued(Pending),
    /// Claimed for an instance.
    Dispatched(String),
    Cancelled(String),
}

/// Notices as received: a batch of one gateway's, in order.
#[derive(Deserialize)]
struct Notices {
    from: String,
    notices: Vec<Notice>,
}

/// Notices waiting to be sent before new ones are dropped (the periodic re-read repairs).
pub(crate) const NOTICE_BACKLOG: usize = 65_536;

impl Inner {
    /// Tells the other gateways of a queue change (nothing with one gateway). Sent in the
    /// background, batched with those made meanwhile.
    pub(crate) fn announce(&self, notice: Notice) {
        if let Some(notices) = &self.notices
            && notices.try_send(notice).is_err()
        {
            tracing::warn!("queue notices are behind; the other gateways will re-read the queue");
        }
    }

    /// Whether this gateway drives `instance_id`.
    pub(crate) fn drives(&self, instance_id: &str) -> bool {
        lock(&self.fleet).instances.get(instance_id).is_some_and(|i| i.owned)
    }
}

/// The gateway among `members` that should drive `instance_id` (highest rendezvous score).
fn owner_of<'a>(instance_id: &str, members: &'a [String]) -> Option<&'a str> {
    members.iter().max_by_key(|m| score(instance_id, m)).map(String::as_str)
}

/// FNV-1a of `instance_id`, a separator and `member`: stable across processes and builds.
fn score(instance_id: &str, member: &str) -> u64 {
    let bytes = instance_id.bytes().chain([0u8]).chain(member.bytes());
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Heartbeats, instance leases and configuration, until shutdown; then gives everything up
/// so the other gateways take over at once.
pub(crate) async fn run(inner: Arc<Inner>, me: Membership) {
    let every = (me.lease / 4).max(Duration::from_millis(100));
    loop {
        if let Err(e) = tick(&inner, &me).await {
            tracing::warn!(error = %e, "cluster heartbeat failed");
            drop_expired(&inner);
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = inner.supervisor.stopping() => break,
        }
    }
    let owned: Vec<String> =
        lock(&inner.fleet).instances.values().filter(|i| i.owned).map(|i| i.spec.id.clone()).collect();
    for id in owned {
        let _ = leases::release(&inner.db, &id, &me.node).await;
    }
    let _ = cluster::leave(&inner.db, &me.node, inner.now() - 10 * me.lease_ms()).await;
}

async fn tick(inner: &Arc<Inner>, me: &Membership) -> Result<(), gantry_store::StoreError> {
    let now = inner.now();
    let until = now + me.lease_ms();
    cluster::beat(&inner.db, &me.node, &me.addr, now).await?;
    let members = cluster::live(&inner.db, now - me.lease_ms()).await?;
    follow_config(inner).await?;
    let rows: HashMap<String, leases::Lease> =
        leases::all(&inner.db).await?.into_iter().map(|l| (l.instance_id.clone(), l)).collect();
    let configured: HashSet<String> = inner.configured_ids();
    let ids: Vec<String> = lock(&inner.fleet).order.clone();
    for id in ids {
        let want = !configured.contains(&id) || owner_of(&id, &members).is_none_or(|o| o == me.node);
        let owned = inner.drives(&id);
        if owned && !want {
            hand_off(inner, &id, me).await?;
        } else if owned {
            let seen = seen_of(inner, &id);
            if leases::renew(&inner.db, &id, &me.node, until, &seen).await? {
                set_lease_until(inner, &id, until);
            } else {
                tracing::warn!(instance = %id, "another gateway took this instance over");
                inner.let_go(&id);
            }
        } else if want && configured.contains(&id) && leases::acquire(&inner.db, &id, &me.node, now, until).await? {
            inner.adopt(&id, until).await?;
        } else if let Some(row) = rows.get(&id) {
            show(inner, &id, row, now);
        }
    }
    Ok(())
}

/// Stops driving an instance whose lease could not be renewed in time (the database is
/// unreachable): another gateway may hold it by now.
fn drop_expired(inner: &Inner) {
    let now = inner.now();
    let expired: Vec<String> = lock(&inner.fleet)
        .instances
        .values()
        .filter(|i| i.owned && i.lease_until < now)
        .map(|i| i.spec.id.clone())
        .collect();
    for id in expired {
        tracing::warn!(instance = %id, "instance lease ran out; no longer driving it");
        inner.let_go(&id);
    }
}

fn set_lease_until(inner: &Inner, instance_id: &str, until: i64) {
    if let Some(i) = lock(&inner.fleet).instances.get_mut(instance_id) {
        i.lease_until = until;
    }
}

/// Gives an instance to the gateway that should drive it, once no prompt is being posted to
/// it (the new driver must find every prompt this one handed over in the instance's queue
/// or history).
async fn hand_off(inner: &Inner, instance_id: &str, me: &Membership) -> Result<(), gantry_store::StoreError> {
    let posting = {
        let mut fleet = lock(&inner.fleet);
        let posting = lock(&inner.posting);
        let Some(instance) = fleet.instances.get_mut(instance_id) else { return Ok(()) };
        instance.handing_off = true;
        instance.slots.keys().any(|p| posting.contains(p))
    };
    if posting {
        return Ok(());
    }
    inner.let_go(instance_id);
    tracing::info!(instance = %instance_id, "instance handed to another gateway");
    leases::release(&inner.db, instance_id, &me.node).await
}

/// What this gateway sees of an instance it drives, for the others.
fn seen_of(inner: &Inner, instance_id: &str) -> Seen {
    let fleet = lock(&inner.fleet);
    let Some(i) = fleet.instances.get(instance_id) else { return Seen::default() };
    Seen {
        alive: i.alive,
        heartbeat_at: i.last_heartbeat,
        queue_remaining: i.queue_remaining,
        active: i.slots.len() as u64,
        models: i.models.as_ref().map(|m| {
            let mut list: Vec<&ModelRef> = m.iter().collect();
            list.sort_by(|a, b| (&a.folder, &a.name).cmp(&(&b.folder, &b.name)));
            serde_json::to_string(&list).unwrap_or_default()
        }),
    }
}

/// Shows an instance another gateway drives as its driver reports it (dead once its lease
/// ran out).
fn show(inner: &Inner, instance_id: &str, row: &leases::Lease, now: i64) {
    let mut fleet = lock(&inner.fleet);
    let Some(i) = fleet.instances.get_mut(instance_id) else { return };
    i.alive = row.seen.alive && row.expires_at >= now;
    i.last_heartbeat = row.seen.heartbeat_at;
    i.queue_remaining = row.seen.queue_remaining;
    i.reported_active = row.seen.active;
    i.models =
        row.seen.models.as_deref().and_then(|m| serde_json::from_str::<Vec<ModelRef>>(m).ok()).map(HashSet::from_iter);
}

/// Brings in a configuration change or an instance switch made through another gateway.
async fn follow_config(inner: &Arc<Inner>) -> Result<(), gantry_store::StoreError> {
    let stored: Option<FleetConfig> =
        settings::get(&inner.db, CONFIG_KEY).await?.and_then(|json| serde_json::from_str(&json).ok());
    let flags: HashMap<String, bool> = crate::repo::instances::flags(&inner.db).await?.into_iter().collect();
    let _writing = inner.config_writes.lock().await;
    let config =
        stored.unwrap_or_else(|| inner.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone());
    let changed = *inner.config.read().unwrap_or_else(std::sync::PoisonError::into_inner) != config;
    let switched = {
        let fleet = lock(&inner.fleet);
        fleet.instances.values().any(|i| flags.get(&i.spec.id).copied().unwrap_or(true) != i.enabled)
    };
    if changed || switched {
        *inner.config.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config.clone();
        inner.apply_instances(&config, &flags);
        inner.spawn_monitors();
        inner.wake.notify_one();
    }
    Ok(())
}

/// Hears the other gateways' queue changes until shutdown, re-reading every pending task
/// whenever it (re)connects and every [`RESYNC`].
pub(crate) async fn listen(inner: Arc<Inner>) {
    loop {
        let mut listener = tokio::select! {
            () = inner.supervisor.stopping() => return,
            listening = cluster::listen(&inner.db, &[CHANNEL]) => match listening {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for the other gateways' queue changes; retrying");
                    tokio::select! {
                        () = inner.supervisor.stopping() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        resync(&inner).await;
        let mut every = tokio::time::interval(RESYNC);
        every.tick().await;
        loop {
            let received = tokio::select! {
                () = inner.supervisor.stopping() => return,
                _ = every.tick() => {
                    resync(&inner).await;
                    continue;
                }
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => on_notice(&inner, notification.payload()).await,
                Ok(None) => {
                    tracing::warn!("lost the connection carrying queue changes; reconnecting");
                    resync(&inner).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "queue changes failed; listening again");
                    break;
                }
            }
        }
    }
}

/// Tasks whose progress is followed at most (a bound on memory should their ends be missed).
const MAX_FOLLOWED: usize = 100_000;

/// Keeps the progress other gateways report of the tasks they run, so every gateway shows a
/// running task's progress.
pub(crate) async fn follow_progress(inner: Arc<Inner>, mut events: broadcast::Receiver<Envelope>) {
    loop {
        let envelope = tokio::select! {
            () = inner.supervisor.stopping() => return,
            received = events.recv() => match received {
                Ok(envelope) => envelope,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if !envelope.remote {
            continue;
        }
        let mut followed = lock(&inner.remote_progress);
        match envelope.event {
            Event::TaskProgress { task_id, progress, .. } => {
                if followed.len() >= MAX_FOLLOWED {
                    followed.clear();
                }
                followed.insert(task_id, progress);
            }
            Event::TaskCompleted { task_id, .. }
            | Event::TaskFailed { task_id, .. }
            | Event::TaskCancelled { task_id, .. } => {
                followed.remove(&task_id);
            }
            _ => {}
        }
    }
}

/// Sends this gateway's notices until shutdown, as many in one notification as fit.
pub(crate) async fn send_notices(inner: Arc<Inner>, node: String, mut rx: mpsc::Receiver<Notice>) {
    loop {
        let first = tokio::select! {
            () = inner.supervisor.stopping() => return,
            next = rx.recv() => match next { Some(notice) => notice, None => return },
        };
        let encode = |notice: Notice| serde_json::to_string(&notice).unwrap_or_default();
        let body = cluster::batch(&node, "notices", encode(first), || rx.try_recv().ok().map(encode));
        if let Err(e) = cluster::notify(&inner.db, CHANNEL, &body, inner.now()).await {
            tracing::warn!(error = %e, "cannot tell the other gateways of queue changes");
        }
    }
}

async fn on_notice(inner: &Inner, payload: &str) {
    let body = match cluster::body_of_payload(&inner.db, payload).await {
        Ok(Some(body)) => body,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read queue notices");
            return;
        }
    };
    let Ok(batch) = serde_json::from_str::<Notices>(&body) else {
        tracing::warn!("unreadable queue notices");
        return;
    };
    if inner.membership.as_ref().is_some_and(|me| me.node == batch.from) {
        return;
    }
    for notice in batch.notices {
        match notice {
            Notice::Queued(task) => {
                lock(&inner.queue).push(task);
                inner.wake.notify_one();
            }
            Notice::Dispatched(id) => {
                lock(&inner.queue).remove(&id);
            }
            Notice::Cancelled(id) => inner.cancelled_elsewhere(&id).await,
        }
    }
}

/// Makes the queue match the pending tasks in the database: adds those it lacks, drops
/// those that stopped waiting (claimed or cancelled through another gateway).
async fn resync(inner: &Inner) {
    let before: HashSet<String> = lock(&inner.queue).ids().into_iter().collect();
    let pending = match tasks::waiting(&inner.db, None).await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "cannot re-read the queue");
            return;
        }
    };
    let waiting: HashSet<&str> = pending.iter().map(|p| p.id.as_str()).collect();
    let gone: Vec<&String> = before.iter().filter(|id| !waiting.contains(id.as_str())).collect();
    {
        let mut queue = lock(&inner.queue);
        for id in gone {
            queue.remove(id);
        }
        for task in pending {
            if !queue.contains(&task.id) {
                queue.push(task);
            }
        }
    }
    inner.wake.notify_one();
}

impl Inner {
    /// Starts driving `instance_id` with the tasks another gateway left on it; its monitor
    /// asks the instance what became of each.
    async fn adopt(self: &Arc<Self>, instance_id: &str, until: i64) -> Result<(), gantry_store::StoreError> {
        let held = tasks::on_instance(&self.db, instance_id).await?;
        {
            let mut fleet = lock(&self.fleet);
            let Some(instance) = fleet.instances.get_mut(instance_id) else { return Ok(()) };
            instance.owned = true;
            instance.handing_off = false;
            instance.lease_until = until;
            instance.alive = false;
            instance.models = None;
            instance.reported_active = 0;
            for task in &held {
                if let Some(prompt) = &task.prompt_id {
                    fleet.occupy(instance_id, prompt, &pending_of(task));
                }
            }
        }
        tracing::info!(instance = %instance_id, tasks = held.len(), "driving this instance");
        self.spawn_monitors();
        Ok(())
    }

    /// Stops driving `instance_id` (another gateway carries on with its tasks).
    fn let_go(&self, instance_id: &str) {
        if let Some(stop) = lock(&self.monitors).remove(instance_id) {
            stop.cancel();
        }
        let tasks: Vec<String> = {
            let mut fleet = lock(&self.fleet);
            let Some(instance) = fleet.instances.get_mut(instance_id) else { return };
            instance.owned = false;
            instance.handing_off = false;
            instance.abandoned.clear();
            instance.slots.drain().map(|(_, task)| task).collect()
        };
        for task in tasks {
            self.forget_live(&task);
        }
    }

    /// A task was cancelled through another gateway: it stops waiting here, and if it is on
    /// an instance this gateway drives, it is taken back from there.
    async fn cancelled_elsewhere(&self, task_id: &str) {
        lock(&self.queue).remove(task_id);
        let held = {
            let fleet = lock(&self.fleet);
            let posting = lock(&self.posting);
            fleet.instances.values().filter(|i| i.owned).find_map(|i| {
                i.slots
                    .iter()
                    .find(|(prompt, task)| *task == task_id && !posting.contains(*prompt))
                    .map(|(prompt, _)| (i.spec.id.clone(), prompt.clone()))
            })
        };
        self.forget_live(task_id);
        if let Some((instance, prompt)) = held
            && let Some(client) = self.client_of(&instance)
        {
            crate::runner::withdraw(self, &client, &instance, &prompt).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::owner_of;

    #[test]
    fn instances_spread_over_gateways_and_move_only_when_theirs_leaves() {
        let three: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let instances: Vec<String> = (0..60).map(|i| format!("10.0.0.{i}:8188")).collect();
        let before: Vec<&str> = instances.iter().map(|i| owner_of(i, &three).unwrap()).collect();
        for g in &three {
            let n = before.iter().filter(|o| **o == g.as_str()).count();
            assert!(n >= 10, "gateway {g} drives {n} of 60");
        }
        let two: Vec<String> = ["a", "c"].map(String::from).to_vec();
        for (instance, was) in instances.iter().zip(&before) {
            let now = owner_of(instance, &two).unwrap();
            if *was != "b" {
                assert_eq!(now, *was, "{instance} moved although its gateway stayed");
            }
        }
        assert_eq!(owner_of("x", &[]), None);
    }
}
