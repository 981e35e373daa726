//! The prompt queue, the running prompt, history and the benchmark timeline.
//!
//! Pending prompts live in a binary heap with the exact layout of Python's `heapq`, because
//! `GET /queue` returns them in heap order, not sorted.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::graph::Graph;
use crate::ordered::PairsAsMap;

/// A queued prompt: `[number, prompt_id, prompt, extra_data, outputs_to_execute]` on the wire.
#[derive(Debug)]
pub(crate) struct QueueItem {
    pub number: Value,
    pub priority: f64,
    pub prompt_id: String,
    pub graph: Graph,
    pub extra_data: Map<String, Value>,
    pub outputs: Vec<String>,
    pub timeline_slot: usize,
}

impl QueueItem {
    /// Python tuple order: by number, then by prompt id.
    fn before(&self, other: &Self) -> bool {
        match self.priority.partial_cmp(&other.priority) {
            Some(std::cmp::Ordering::Less) => true,
            Some(std::cmp::Ordering::Equal) => self.prompt_id < other.prompt_id,
            _ => false,
        }
    }

    /// `extra_data.client_id`, which routes this prompt's WebSocket events.
    pub(crate) fn client_id(&self) -> Option<String> {
        match self.extra_data.get("client_id")? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

impl Serialize for QueueItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(5))?;
        seq.serialize_element(&self.number)?;
        seq.serialize_element(&self.prompt_id)?;
        seq.serialize_element(&self.graph)?;
        seq.serialize_element(&self.extra_data)?;
        seq.serialize_element(&self.outputs)?;
        seq.end()
    }
}

/// A finished prompt as `/history` shows it.
#[derive(Debug)]
pub(crate) struct HistoryEntry {
    pub prompt: Arc<QueueItem>,
    pub outputs: Vec<(String, Value)>,
    pub status: ExecutionStatus,
    pub meta: Vec<(String, Value)>,
}

/// `status` of a history entry.
#[derive(Debug, Serialize)]
pub(crate) struct ExecutionStatus {
    pub status_str: &'static str,
    pub completed: bool,
    pub messages: Vec<(String, Value)>,
}

impl Serialize for HistoryEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("HistoryEntry", 4)?;
        s.serialize_field("prompt", &*self.prompt)?;
        s.serialize_field("outputs", &PairsAsMap(&self.outputs))?;
        s.serialize_field("status", &self.status)?;
        s.serialize_field("meta", &PairsAsMap(&self.meta))?;
        s.end()
    }
}

/// When one prompt was queued, started and finished (unix microseconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromptTiming {
    /// The prompt's id.
    pub prompt_id: String,
    /// When `POST /prompt` accepted it.
    pub queued_at: u64,
    /// When the executor took it; `None` while pending or if it never ran.
    pub started_at: Option<u64>,
    /// When its history entry was written (or it was removed from the queue).
    pub finished_at: Option<u64>,
    /// `success`, `error`, `interrupted` or `deleted`; `None` while in flight.
    pub outcome: Option<String>,
}

/// Microseconds since the unix epoch.
pub(crate) fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// Queue, running prompt and history, behind one lock like ComfyUI's `PromptQueue`.
#[derive(Debug)]
pub(crate) struct PromptQueue {
    heap: Vec<Arc<QueueItem>>,
    running: Option<(u64, Arc<QueueItem>)>,
    task_counter: u64,
    /// The server's prompt counter (`PromptServer.number`).
    pub counter: i64,
    history: IndexMap<String, HistoryEntry>,
    max_history: usize,
    /// `/free` flags, handled between prompts.
    pub unload_models: bool,
    pub free_memory: bool,
    timeline: Vec<PromptTiming>,
}

impl PromptQueue {
    pub(crate) fn new(max_history: usize) -> Self {
        Self {
            heap: Vec::new(),
            running: None,
            task_counter: 0,
            counter: 0,
            history: IndexMap::new(),
            max_history,
            unload_models: false,
            free_memory: false,
            timeline: Vec::new(),
        }
    }

    /// Pending plus running, as `queue_remaining` reports it.
    pub(crate) fn remaining(&self) -> usize {
        self.heap.len() + usize::from(self.running.is_some())
    }

    /// Starts a timeline record for a prompt about to be queued.
    pub(crate) fn timeline_slot(&mut self, prompt_id: &str) -> usize {
        self.timeline.push(PromptTiming {
            prompt_id: prompt_id.to_owned(),
            queued_at: unix_micros(),
            started_at: None,
            finished_at: None,
            outcome: None,
        });
        self.timeline.len() - 1
    }

    pub(crate) fn timeline(&self) -> Vec<PromptTiming> {
        self.timeline.clone()
    }

    fn finish_timing(&mut self, slot: usize, outcome: &str) {
        if let Some(t) = self.timeline.get_mut(slot) {
            t.finished_at = Some(unix_micros());
            t.outcome = Some(outcome.to_owned());
        }
    }

    /// `heapq.heappush`.
    pub(crate) fn push(&mut self, item: QueueItem) {
        self.heap.push(Arc::new(item));
        let last = self.heap.len() - 1;
        self.sift_down(0, last);
    }

    /// Takes the next prompt (`heapq.heappop`) and marks it running.
    pub(crate) fn take_next(&mut self) -> Option<Arc<QueueItem>> {
        let last = self.heap.pop()?;
        let item = if self.heap.is_empty() {
            last
        } else {
            let top = std::mem::replace(&mut self.heap[0], last);
            self.sift_up(0);
            top
        };
        self.running = Some((self.task_counter, Arc::clone(&item)));
        self.task_counter += 1;
        if let Some(t) = self.timeline.get_mut(item.timeline_slot) {
            t.started_at = Some(unix_micros());
        }
        Some(item)
    }

    /// `task_done`: the running prompt leaves the queue and enters the history.
    pub(crate) fn finish(&mut self, entry: HistoryEntry, outcome: &str) {
        self.running = None;
        self.finish_timing(entry.prompt.timeline_slot, outcome);
        if self.history.len() > self.max_history {
            self.history.shift_remove_index(0);
        }
        let id = entry.prompt.prompt_id.clone();
        self.history.insert(id, entry);
    }

    pub(crate) fn running(&self) -> Option<&Arc<QueueItem>> {
        self.running.as_ref().map(|(_, item)| item)
    }

    pub(crate) fn pending(&self) -> &[Arc<QueueItem>] {
        &self.heap
    }

    /// `wipe_queue`.
    pub(crate) fn clear_pending(&mut self) {
        for item in std::mem::take(&mut self.heap) {
            self.finish_timing(item.timeline_slot, "deleted");
        }
    }

    /// `delete_queue_item`: removes the first pending item with this id; true if one was found.
    pub(crate) fn delete_pending(&mut self, prompt_id: &str) -> bool {
        let Some(pos) = self.heap.iter().position(|i| i.prompt_id == prompt_id) else {
            return false;
        };
        let item = self.heap.remove(pos);
        self.finish_timing(item.timeline_slot, "deleted");
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_up(i);
        }
        true
    }

    /// `get_history(max_items, offset)` with Python's quirks (a negative offset means "the last N").
    pub(crate) fn history(&self, max_items: Option<i64>, offset: i64) -> Vec<(&str, &HistoryEntry)> {
        let len = i64::try_from(self.history.len()).unwrap_or(i64::MAX);
        let offset = match max_items {
            Some(max) if offset < 0 => len - max,
            _ => offset,
        };
        let mut out = Vec::new();
        for (i, (id, entry)) in self.history.iter().enumerate() {
            if i64::try_from(i).unwrap_or(i64::MAX) >= offset {
                out.push((id.as_str(), entry));
                if max_items.is_some_and(|m| i64::try_from(out.len()).unwrap_or(i64::MAX) >= m) {
                    break;
                }
            }
        }
        out
    }

    pub(crate) fn history_entry(&self, prompt_id: &str) -> Option<&HistoryEntry> {
        self.history.get(prompt_id)
    }

    pub(crate) fn clear_history(&mut self) {
        self.history.clear();
    }

    pub(crate) fn delete_history(&mut self, prompt_id: &str) {
        self.history.shift_remove(prompt_id);
    }

    /// `heapq._siftdown`: moves the item at `pos` up towards `start` while it is smaller than its parent.
    fn sift_down(&mut self, start: usize, mut pos: usize) {
        let item = Arc::clone(&self.heap[pos]);
        while pos > start {
            let parent = (pos - 1) >> 1;
            if item.before(&self.heap[parent]) {
                self.heap[pos] = Arc::clone(&self.heap[parent]);
                pos = parent;
            } else {
                break;
            }
        }
        self.heap[pos] = item;
    }

    /// `heapq._siftup`: sinks the item at `pos` to a leaf along smaller children, then sifts it back.
    fn sift_up(&mut self, mut pos: usize) {
        let end = self.heap.len();
        let start = pos;
        let item = Arc::clone(&self.heap[pos]);
        let mut child = 2 * pos + 1;
        while child < end {
            let right = child + 1;
            if right < end && !self.heap[child].before(&self.heap[right]) {
                child = right;
            }
            self.heap[pos] = Arc::clone(&self.heap[child]);
            pos = child;
            child = 2 * pos + 1;
        }
        self.heap[pos] = item;
        self.sift_down(start, pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(q: &mut PromptQueue, number: f64, id: &str) -> QueueItem {
        QueueItem {
            number: Value::from(number),
            priority: number,
            prompt_id: id.to_owned(),
            graph: Graph::default(),
            extra_data: Map::new(),
            outputs: Vec::new(),
            timeline_slot: q.timeline_slot(id),
        }
    }

    fn ids(q: &PromptQueue) -> Vec<&str> {
        q.pending().iter().map(|i| i.prompt_id.as_str()).collect()
    }

    #[test]
    fn keeps_python_heap_order() {
        let mut q = PromptQueue::new(10);
        for (n, id) in [(3.0, "c"), (1.0, "a"), (2.0, "b"), (0.0, "z"), (5.0, "e")] {
            let it = item(&mut q, n, id);
            q.push(it);
        }
        // Same layout heapq produces for these pushes.
        assert_eq!(ids(&q), ["z", "a", "b", "c", "e"]);
        assert!(q.delete_pending("a"));
        assert_eq!(ids(&q), ["z", "b", "c", "e"]);
        let order: Vec<String> = std::iter::from_fn(|| q.take_next().map(|i| i.prompt_id.clone())).collect();
        assert_eq!(order, ["z", "b", "c", "e"]);
        assert_eq!(q.remaining(), 1);
    }
}
