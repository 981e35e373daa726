//! Gantry's in-memory view of the pending queue (the database holds the truth). Higher
//! priority first; within a priority, users take turns (round robin), and each user's
//! tasks keep their submission order. One user's batch of 500 therefore never starves
//! another user's single task.

use gantry_comfy::graph::ModelRef;
use gantry_core::UserId;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A task waiting for an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: String,
    pub user_id: UserId,
    pub priority: i64,
    pub seq: i64,
    /// Models the task needs.
    pub models: Vec<ModelRef>,
}

impl Pending {
    /// The checkpoint the task loads first, the key of model affinity.
    pub fn checkpoint(&self) -> Option<&str> {
        self.models.iter().find(|m| m.folder == "checkpoints").map(|m| m.name.as_str())
    }
}

#[derive(Debug, Default)]
struct Level {
    /// Users with waiting tasks, in turn order.
    turn: VecDeque<UserId>,
    tasks: HashMap<UserId, VecDeque<Pending>>,
}

/// The fair queue.
#[derive(Debug, Default)]
pub struct FairQueue {
    levels: BTreeMap<Reverse<i64>, Level>,
    len: usize,
}

/// How far into each user's queue the scheduler looks for a task it can place, so one
/// task whose model no free instance has does not block that user's others.
const LOOKAHEAD: usize = 8;

impl FairQueue {
    /// Number of waiting tasks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a task behind the same user's earlier tasks (ordered by `seq`).
    pub fn push(&mut self, task: Pending) {
        let level = self.levels.entry(Reverse(task.priority)).or_default();
        let queue = level.tasks.entry(task.user_id).or_default();
        if queue.is_empty() {
            level.turn.push_back(task.user_id);
        }
        let at = queue.iter().position(|t| t.seq > task.seq).unwrap_or(queue.len());
        queue.insert(at, task);
        self.len += 1;
    }

    /// Removes a task by id (cancel). Returns whether it was queued.
    pub fn remove(&mut self, id: &str) -> bool {
        for (key, level) in self.levels.iter_mut() {
            for (user, queue) in level.tasks.iter_mut() {
                if let Some(at) = queue.iter().position(|t| t.id == id) {
                    queue.remove(at);
                    let (user, empty) = (*user, queue.is_empty());
                    if empty {
                        level.tasks.remove(&user);
                        level.turn.retain(|u| *u != user);
                    }
                    let drop_level = level.turn.is_empty().then_some(*key);
                    if let Some(key) = drop_level {
                        self.levels.remove(&key);
                    }
                    self.len -= 1;
                    return true;
                }
            }
        }
        false
    }

    /// Takes the next task that `placeable` accepts: highest priority first, users in
    /// turn, each user's tasks in order (looking a few tasks ahead per user). The user
    /// served goes to the back of the turn.
    pub fn pop_placeable(&mut self, mut placeable: impl FnMut(&Pending) -> bool) -> Option<Pending> {
        let mut found = None;
        'levels: for (key, level) in self.levels.iter() {
            for (turn_at, user) in level.turn.iter().enumerate() {
                let Some(queue) = level.tasks.get(user) else { continue };
                if let Some(at) = queue.iter().take(LOOKAHEAD).position(&mut placeable) {
                    found = Some((*key, turn_at, *user, at));
                    break 'levels;
                }
            }
        }
        let (key, turn_at, user, at) = found?;
        let level = self.levels.get_mut(&key)?;
        let queue = level.tasks.get_mut(&user)?;
        let task = queue.remove(at)?;
        level.turn.remove(turn_at);
        if queue.is_empty() {
            level.tasks.remove(&user);
        } else {
            level.turn.push_back(user);
        }
        if level.turn.is_empty() {
            self.levels.remove(&key);
        }
        self.len -= 1;
        Some(task)
    }

    /// 1-based position a task would be served at if every task were placeable now.
    pub fn position(&self, id: &str) -> Option<usize> {
        let mut ahead = 0;
        for level in self.levels.values() {
            // Simulate the turn order: round r serves each user's r-th task.
            let queues: Vec<&VecDeque<Pending>> = level.turn.iter().filter_map(|u| level.tasks.get(u)).collect();
            let rounds = queues.iter().map(|q| q.len()).max().unwrap_or(0);
            for round in 0..rounds {
                for queue in &queues {
                    if let Some(task) = queue.get(round) {
                        ahead += 1;
                        if task.id == id {
                            return Some(ahead);
                        }
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, user: UserId, priority: i64, seq: i64) -> Pending {
        Pending { id: id.into(), user_id: user, priority, seq, models: vec![] }
    }

    fn drain(queue: &mut FairQueue) -> Vec<String> {
        std::iter::from_fn(|| queue.pop_placeable(|_| true)).map(|t| t.id).collect()
    }

    #[test]
    fn users_take_turns_so_a_batch_does_not_starve_a_single_task() {
        let mut q = FairQueue::default();
        for i in 0..500 {
            q.push(task(&format!("a{i}"), 1, 0, i));
        }
        q.push(task("b0", 2, 0, 1000));
        assert_eq!(q.position("b0"), Some(2));
        let order = drain(&mut q);
        assert_eq!(&order[..3], ["a0", "b0", "a1"]);
        assert_eq!(order.len(), 501);
    }

    #[test]
    fn priority_wins_and_order_within_a_user_is_kept() {
        let mut q = FairQueue::default();
        q.push(task("late-low", 1, 0, 5));
        q.push(task("early-low", 1, 0, 1));
        q.push(task("high", 2, 5, 9));
        assert_eq!(drain(&mut q), ["high", "early-low", "late-low"]);
        assert!(q.is_empty());
    }

    #[test]
    fn unplaceable_tasks_do_not_block_others() {
        let mut q = FairQueue::default();
        q.push(Pending {
            models: vec![ModelRef { folder: "checkpoints".into(), name: "rare".into() }],
            ..task("rare", 1, 0, 0)
        });
        q.push(task("common", 1, 0, 1));
        let got = q.pop_placeable(|t| t.checkpoint().is_none()).unwrap();
        assert_eq!(got.id, "common");
        assert_eq!(q.len(), 1);
        assert!(q.remove("rare"));
        assert!(!q.remove("rare"));
        assert!(q.is_empty());
    }
}
