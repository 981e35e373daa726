//! The executor's output cache, keyed like ComfyUI's classic cache by input signature.
//!
//! A node's signature covers its class, its `IS_CHANGED` value, its literal inputs and,
//! recursively, the signatures of the nodes it links to (not node ids). Only entries whose
//! signature occurs in the current prompt survive a new prompt.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::graph::{Graph, as_link};
use crate::nodes::NodeOutput;

/// Cached results by signature.
#[derive(Default)]
pub(crate) struct NodeCache {
    entries: HashMap<String, Arc<NodeOutput>>,
}

impl NodeCache {
    pub(crate) fn get(&self, signature: &str) -> Option<Arc<NodeOutput>> {
        self.entries.get(signature).cloned()
    }

    pub(crate) fn insert(&mut self, signature: String, output: NodeOutput) -> Arc<NodeOutput> {
        let output = Arc::new(output);
        self.entries.insert(signature, Arc::clone(&output));
        output
    }

    /// Keeps only entries the new prompt can use (`clean_unused`).
    pub(crate) fn retain_signatures(&mut self, keep: &HashSet<&String>) {
        self.entries.retain(|sig, _| keep.contains(sig));
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Signatures of every node of `graph`; `is_changed` holds `IS_CHANGED` values by node id.
pub(crate) fn signatures(graph: &Graph, is_changed: &HashMap<String, String>) -> HashMap<String, String> {
    let mut done = HashMap::new();
    let mut visiting = HashSet::new();
    for id in graph.ids() {
        signature(graph, id, is_changed, &mut done, &mut visiting);
    }
    done
}

fn signature(
    graph: &Graph,
    id: &str,
    is_changed: &HashMap<String, String>,
    done: &mut HashMap<String, String>,
    visiting: &mut HashSet<String>,
) -> String {
    if let Some(sig) = done.get(id) {
        return sig.clone();
    }
    let Some(node) = graph.get(id) else {
        return format!("missing:{id}");
    };
    if !visiting.insert(id.to_owned()) {
        return format!("cycle:{id}");
    }
    let mut inputs: Vec<(&String, &Value)> = node.inputs.iter().map(|(k, v)| (k, v)).collect();
    inputs.sort_by(|a, b| a.0.cmp(b.0));
    let parts: Vec<Value> = inputs
        .into_iter()
        .map(|(name, value)| match as_link(value) {
            Some(link) => {
                let upstream = signature(graph, &link.from, is_changed, done, visiting);
                json!([name, "link", upstream, link.slot])
            }
            None => json!([name, value]),
        })
        .collect();
    let canonical = json!([node.class_type, is_changed.get(id), parts]).to_string();
    let sig = hex::encode(Sha256::digest(canonical.as_bytes()));
    visiting.remove(id);
    done.insert(id.to_owned(), sig.clone());
    sig
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ordered::OrderedValue;

    fn graph(text: &str) -> Graph {
        Graph::from_ordered(serde_json::from_str::<OrderedValue>(text).unwrap()).unwrap()
    }

    #[test]
    fn signatures_ignore_node_ids_but_follow_inputs() {
        let a = graph(r#"{"1":{"class_type":"A","inputs":{"x":1}},"2":{"class_type":"B","inputs":{"in":["1",0]}}}"#);
        let b = graph(r#"{"7":{"class_type":"A","inputs":{"x":1}},"8":{"class_type":"B","inputs":{"in":["7",0]}}}"#);
        let c = graph(r#"{"1":{"class_type":"A","inputs":{"x":2}},"2":{"class_type":"B","inputs":{"in":["1",0]}}}"#);
        let none = HashMap::new();
        let (sa, sb, sc) = (signatures(&a, &none), signatures(&b, &none), signatures(&c, &none));
        assert_eq!(sa["2"], sb["8"]);
        assert_ne!(sa["2"], sc["2"]);
        let changed = HashMap::from([("1".to_owned(), "new".to_owned())]);
        assert_ne!(signatures(&a, &changed)["2"], sa["2"]);
    }
}
