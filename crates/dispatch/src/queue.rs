//! Gantry's in-memory view of the pending queue (the database holds the truth). Higher
//! priority first; within a priority, users take turns (round robin), and each user's
//! tasks keep their submission order. One user's batch of 500 therefore never starves
//! another user's single task.

use gantry_comfy::graph::ModelRef;
use gantry_core::UserId;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A task waiting for an instance.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Where each waiting task is: its level, its user and its `seq` (each user's tasks
    /// are sorted by `seq`, so a task is found by binary search, never by a scan).
    index: HashMap<String, Place>,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    level: Reverse<i64>,
    user_id: UserId,
    seq: i64,
}

/// How far into each user's queue the scheduler looks for a task it can place, so one
/// task whose model no free instance has does not block that user's others.
const LOOKAHEAD: usize = 8;

impl FairQueue {
    /// Number of waiting tasks.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether task `id` waits here.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// The ids of every waiting task, in no order.
    pub fn ids(&self) -> Vec<String> {
        self.index.keys().cloned().collect()
    }

    /// Adds a task behind the same user's earlier tasks (ordered by `seq`). A task waits
    /// once: pushed again, its earlier entry goes.
    pub fn push(&mut self, task: Pending) {
        self.remove(&task.id);
        let place = Place { level: Reverse(task.priority), user_id: task.user_id, seq: task.seq };
        let level = self.levels.entry(place.level).or_default();
        let queue = level.tasks.entry(task.user_id).or_default();
        if queue.is_empty() {
            level.turn.push_back(task.user_id);
        }
        let at = queue.partition_point(|t| t.seq <= task.seq);
        self.index.insert(task.id.clone(), place);
        queue.insert(at, task);
    }

    /// Removes a task by id (cancel). Returns whether it was queued.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(place) = self.index.remove(id) else { return false };
        let Some(level) = self.levels.get_mut(&place.level) else { return false };
        let Some(queue) = level.tasks.get_mut(&place.user_id) else { return false };
        let Some(at) = index_in(queue, &place, id) else { return false };
        queue.remove(at);
        if queue.is_empty() {
            level.tasks.remove(&place.user_id);
            level.turn.retain(|u| *u != place.user_id);
        }
        if level.turn.is_empty() {
            self.levels.remove(&place.level);
        }
        true
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
        self.index.remove(&task.id);
        Some(task)
    }

    /// 1-based position a task would be served at if every task were placeable now: all
    /// of the higher levels, then, within its own, `r` tasks of every user before round
    /// `r` (its index in its user's queue), and in round `r` the users ahead in turn.
    pub fn position(&self, id: &str) -> Option<usize> {
        let place = self.index.get(id)?;
        let higher: usize =
            self.levels.range(..place.level).flat_map(|(_, l)| l.tasks.values()).map(VecDeque::len).sum();
        let level = self.levels.get(&place.level)?;
        let queue = level.tasks.get(&place.user_id)?;
        let round = index_in(queue, place, id)?;
        let mut ahead = higher + 1;
        let mut before_in_turn = true;
        for user in &level.turn {
            let len = level.tasks.get(user).map_or(0, VecDeque::len);
            ahead += len.min(round);
            if *user == place.user_id {
                before_in_turn = false;
            } else if before_in_turn && len > round {
                ahead += 1;
            }
        }
        Some(ahead)
    }
}

/// Where task `id` is in its user's queue: found by `seq` (binary search), then by id
/// among tasks of the same `seq`.
fn index_in(queue: &VecDeque<Pending>, place: &Place, id: &str) -> Option<usize> {
    let from = queue.partition_point(|t| t.seq < place.seq);
    queue.range(from..).position(|t| t.id == id).map(|i| from + i)
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
    fn positions_follow_the_order_tasks_are_served_in() {
        let pushes = [(1, 0), (1, 0), (2, 0), (1, 0), (3, 5), (2, 0), (3, 0), (1, 5), (2, 0), (4, 0)];
        let (mut q, mut served) = (FairQueue::default(), FairQueue::default());
        for (i, (user, priority)) in pushes.into_iter().enumerate() {
            q.push(task(&format!("t{i}"), user, priority, i as i64));
            served.push(task(&format!("t{i}"), user, priority, i as i64));
        }
        q.push(task("t1", 1, 0, 1)); // pushed again: still one entry
        assert_eq!(q.len(), pushes.len());
        let order = drain(&mut served);
        for (at, id) in order.iter().enumerate() {
            assert_eq!(q.position(id), Some(at + 1), "{id} in {order:?}");
        }
        assert!(q.remove("t3"));
        assert_eq!((q.position("t3"), q.len()), (None, pushes.len() - 1));
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
