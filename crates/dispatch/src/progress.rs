//! What a user sees of a running task's progress.

use gantry_core::UserId;

/// Live progress of a task that is executing. What a user sees never goes back, and
/// reaches 100 only when the task completes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress {
    pub user_id: UserId,
    pub percent: u8,
    /// Sampler steps the graph asks for (0: no sampler).
    pub total_steps: u64,
    /// Nodes the prompt will execute: the graph's, less those its instance had cached.
    pub nodes_to_run: u64,
    /// Nodes that started executing.
    pub nodes_started: u64,
    /// Progress ticks of nodes already finished (every node with a progress bar counts).
    pub done_steps: u64,
    pub current_node: Option<u64>,
    pub current_value: u64,
    pub current_max: u64,
}

impl Progress {
    /// Records a tick (`value` of `max`) of `node`; returns the step, the total known so
    /// far, and the new percentage if it grew.
    pub fn tick(&mut self, node: Option<u64>, value: u64, max: u64) -> (u64, u64, Option<u8>) {
        if node != self.current_node {
            self.done_steps += self.current_max;
            self.current_node = node;
        }
        self.current_value = value.min(max);
        self.current_max = max;
        let total = self.total_steps.max(self.done_steps + max).max(1);
        let step = self.done_steps + self.current_value;
        let estimate = if self.total_steps > 0 {
            // Sampler steps dominate the run time: count them.
            step * 100 / total
        } else {
            // Otherwise each node is a share of the run, and the ticks divide its share.
            let nodes = self.nodes_to_run.max(self.nodes_started).max(1);
            let before = self.nodes_started.saturating_sub(1).min(nodes - 1);
            (before * max.max(1) + self.current_value) * 100 / (nodes * max.max(1))
        };
        let percent = (estimate.min(99) as u8).max(self.percent);
        let grew = (percent > self.percent).then_some(percent);
        self.percent = percent;
        (step, total, grew)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every percentage a run of `ticks` (node, value, max) produces.
    fn percents(mut p: Progress, ticks: &[(u64, u64, u64)]) -> Vec<u8> {
        ticks.iter().filter_map(|&(node, value, max)| p.tick(Some(node), value, max).2).collect()
    }

    #[test]
    fn a_second_node_with_a_progress_bar_does_not_send_it_back() {
        // ComfyUI's tiled VAE, no sampler: node 3 (encode) then node 4 (decode) of five,
        // 3072 ticks each. Counting ticks alone went 99% → 50% at the second node.
        let mut p = Progress { nodes_to_run: 5, nodes_started: 3, ..Progress::default() };
        let mut seen = Vec::new();
        for node in [3, 4] {
            if node == 4 {
                p.nodes_started += 1;
            }
            seen.extend((1..=3072).filter_map(|v| p.tick(Some(node), v, 3072).2));
            let share_end = node as u8 * 20;
            assert_eq!(seen.last(), Some(&share_end), "node {node} of 5 ends at {share_end}%");
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "only ever grows: {seen:?}");
    }

    #[test]
    fn sampler_steps_count_and_stay_below_100_until_completion() {
        let p = Progress { total_steps: 20, nodes_to_run: 7, ..Progress::default() };
        let mut ticks: Vec<(u64, u64, u64)> = (1..=20).map(|v| (3, v, 20)).collect();
        // An upscaler after the sampler reports ticks of its own.
        ticks.extend((1..=16).map(|v| (9, v, 16)));
        let seen = percents(p, &ticks);
        assert_eq!(seen.first(), Some(&5));
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "only ever grows: {seen:?}");
        assert_eq!(seen.last(), Some(&99), "never 100 before the task completes");
    }
}
