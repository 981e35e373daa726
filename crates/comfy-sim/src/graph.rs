//! API-format prompts: `{node_id: {class_type, inputs: {name: literal | [node_id, slot]}, _meta?}}`.

use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::ordered::{OrderedValue, PairsAsMap};

/// A prompt graph in document order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    nodes: Vec<(String, Node)>,
    index: HashMap<String, usize>,
}

/// One node of a prompt. `raw` keeps the submitted JSON so the queue and history echo it.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub class_type: Option<String>,
    pub inputs: Vec<(String, Value)>,
    raw: OrderedValue,
}

/// A resolved link to another node's output slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Link {
    pub from: String,
    pub slot: usize,
}

impl Graph {
    /// Builds a graph from the `prompt` field; `None` when it is not a JSON object.
    pub(crate) fn from_ordered(value: OrderedValue) -> Option<Self> {
        let OrderedValue::Object(pairs) = value else {
            return None;
        };
        let nodes: Vec<(String, Node)> = pairs.into_iter().map(|(id, raw)| (id, Node::from_raw(raw))).collect();
        let index = nodes.iter().enumerate().map(|(i, (id, _))| (id.clone(), i)).collect();
        Some(Self { nodes, index })
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Node> {
        self.index.get(id).map(|&i| &self.nodes[i].1)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Node> {
        self.index.get(id).map(|&i| &mut self.nodes[i].1)
    }

    /// Node ids in document order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|(id, _)| id.as_str())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(id, n)| (id.as_str(), n))
    }

    pub(crate) fn class_of(&self, id: &str) -> &str {
        self.get(id).and_then(|n| n.class_type.as_deref()).unwrap_or("")
    }
}

impl Node {
    fn from_raw(raw: OrderedValue) -> Self {
        let mut class_type = None;
        let mut inputs = Vec::new();
        if let OrderedValue::Object(pairs) = &raw {
            for (key, value) in pairs {
                match (key.as_str(), value) {
                    ("class_type", OrderedValue::Scalar(Value::String(s))) => {
                        class_type = Some(s.clone());
                    }
                    ("inputs", OrderedValue::Object(fields)) => {
                        inputs = fields.iter().map(|(k, v)| (k.clone(), v.clone().into_value())).collect();
                    }
                    _ => {}
                }
            }
        }
        Self { class_type, inputs, raw }
    }

    pub(crate) fn input(&self, name: &str) -> Option<&Value> {
        self.inputs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub(crate) fn set_input(&mut self, name: &str, value: Value) {
        if let Some(slot) = self.inputs.iter_mut().find(|(k, _)| k == name) {
            slot.1 = value;
        }
    }

    /// Links among this node's inputs, in input order (ComfyUI's `is_link`).
    pub(crate) fn links(&self) -> impl Iterator<Item = (&str, Link)> {
        self.inputs.iter().filter_map(|(name, value)| as_link(value).map(|link| (name.as_str(), link)))
    }
}

/// ComfyUI's `is_link`: a two-element list of a string id and a numeric slot.
pub(crate) fn as_link(value: &Value) -> Option<Link> {
    let Value::Array(items) = value else {
        return None;
    };
    let [Value::String(from), Value::Number(slot)] = items.as_slice() else {
        return None;
    };
    let slot = slot.as_u64().or_else(|| slot.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))?;
    Some(Link { from: from.clone(), slot: usize::try_from(slot).ok()? })
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let OrderedValue::Object(pairs) = &self.raw else {
            return self.raw.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(pairs.len()))?;
        for (key, value) in pairs {
            if key == "inputs" && matches!(value, OrderedValue::Object(_)) {
                map.serialize_entry(key, &PairsAsMap(&self.inputs))?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Serialize for Graph {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PairsAsMap(&self.nodes).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_echoes_in_document_order() {
        let text = r#"{"9":{"inputs":{"images":["8",0],"filename_prefix":"x"},"class_type":"SaveImage","_meta":{"title":"Out"}},"8":{"class_type":"VAEDecode","inputs":{}}}"#;
        let ordered: OrderedValue = serde_json::from_str(text).unwrap();
        let graph = Graph::from_ordered(ordered).unwrap();
        assert_eq!(graph.ids().collect::<Vec<_>>(), ["9", "8"]);
        let save = graph.get("9").unwrap();
        assert_eq!(save.class_type.as_deref(), Some("SaveImage"));
        let links: Vec<_> = save.links().collect();
        assert_eq!(links, [("images", Link { from: "8".into(), slot: 0 })]);
        assert_eq!(serde_json::to_string(&graph).unwrap(), text);
    }
}
