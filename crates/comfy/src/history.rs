//! History entries (`GET /history/{prompt_id}`): how a prompt ended and which files it wrote.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ComfyError;

/// One finished prompt as recorded in ComfyUI's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub prompt_id: String,
    pub outcome: Outcome,
    /// Every file in `outputs`, in the order of the parsed `outputs` object.
    pub outputs: Vec<OutputFile>,
    /// The entry as ComfyUI sent it (`prompt`, `outputs`, `status`, `meta`).
    pub raw: Value,
}

/// How a prompt ended, from the entry's `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Error {
        message: String,
        exception_type: String,
        node_id: Option<String>,
        node_type: Option<String>,
    },
    Interrupted,
    /// No usable `status` (ComfyUI before 2024-01, or an unknown `status_str`).
    Unknown,
}

/// A file a node wrote, fetchable with `GET /view`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutputFile {
    /// The node as the submitted graph names it (mapped through `meta.display_node`
    /// for nodes expanded from subgraphs).
    pub node_id: String,
    pub filename: String,
    pub subfolder: String,
    /// `"output"`, `"temp"` or `"input"`: the `type` query parameter of `/view`.
    pub kind: String,
    pub media: MediaKind,
}

/// What kind of media a file holds, judged from its extension and how the node reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Other,
}

impl MediaKind {
    /// Classifies `filename`. `animated` is the node's `animated` flag (SaveAnimatedWEBP,
    /// SaveVideo, …); `ui_key` is the `outputs` key the file was listed under (VHS uses `gifs`).
    pub fn classify(filename: &str, animated: bool, ui_key: &str) -> Self {
        let ext = filename.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "png" | "jpg" | "jpeg" | "webp" | "gif" | "bmp" | "tif" | "tiff" | "avif" => {
                if animated || ui_key == "gifs" { Self::Video } else { Self::Image }
            }
            "mp4" | "webm" | "mov" | "mkv" | "avi" | "m4v" => Self::Video,
            "wav" | "mp3" | "flac" | "ogg" | "opus" | "m4a" | "aac" => Self::Audio,
            _ => Self::Other,
        }
    }
}

impl HistoryEntry {
    /// Parses one entry (the value under the prompt id in `GET /history/{id}`).
    pub fn from_json(prompt_id: &str, raw: Value) -> Result<Self, ComfyError> {
        let Some(entry) = raw.as_object() else {
            return Err(ComfyError::Protocol(format!("history entry for {prompt_id} is not an object")));
        };
        let outcome = outcome(entry.get("status"));
        let outputs =
            output_files(entry.get("outputs").and_then(Value::as_object), entry.get("meta").and_then(Value::as_object));
        Ok(Self { prompt_id: prompt_id.to_owned(), outcome, outputs, raw })
    }
}

/// Reads `status`: `status_str` plus the last `execution_error`/`execution_interrupted`
/// message for details.
fn outcome(status: Option<&Value>) -> Outcome {
    let Some(status) = status.and_then(Value::as_object) else {
        return Outcome::Unknown;
    };
    match status.get("status_str").and_then(Value::as_str) {
        Some("success") => return Outcome::Success,
        Some("error") => {}
        _ => return Outcome::Unknown,
    }
    let messages = status.get("messages").and_then(Value::as_array);
    let last_terminal = messages.into_iter().flatten().rev().find_map(|message| {
        let pair = message.as_array()?;
        let event = pair.first()?.as_str()?;
        matches!(event, "execution_error" | "execution_interrupted")
            .then(|| (event, pair.get(1).unwrap_or(&Value::Null)))
    });
    match last_terminal {
        Some(("execution_interrupted", _)) => Outcome::Interrupted,
        Some((_, data)) => Outcome::Error {
            message: text(data, "exception_message").unwrap_or_default(),
            exception_type: text(data, "exception_type").unwrap_or_default(),
            node_id: text(data, "node_id"),
            node_type: text(data, "node_type"),
        },
        None => Outcome::Error {
            message: "ComfyUI reported an error without details".to_owned(),
            exception_type: String::new(),
            node_id: None,
            node_type: None,
        },
    }
}

/// Walks every `outputs[node][ui_key][i]` that has a `filename`.
fn output_files(outputs: Option<&Map<String, Value>>, meta: Option<&Map<String, Value>>) -> Vec<OutputFile> {
    let mut files = Vec::new();
    for (node, ui) in outputs.into_iter().flatten() {
        let Some(ui) = ui.as_object() else { continue };
        let node_id =
            meta.and_then(|meta| meta.get(node)).and_then(|m| text(m, "display_node")).unwrap_or_else(|| node.clone());
        let animated = ui.get("animated").and_then(Value::as_array);
        for (ui_key, items) in ui {
            let Some(items) = items.as_array() else {
                continue;
            };
            for (index, item) in items.iter().enumerate() {
                let Some(filename) = item.get("filename").and_then(Value::as_str) else {
                    continue;
                };
                // `animated` is usually a single flag for the whole node.
                let is_animated = animated
                    .and_then(|flags| flags.get(index).or_else(|| flags.first()))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                files.push(OutputFile {
                    node_id: node_id.clone(),
                    filename: filename.to_owned(),
                    subfolder: text(item, "subfolder").unwrap_or_default(),
                    kind: text(item, "type").unwrap_or_else(|| "output".to_owned()),
                    media: MediaKind::classify(filename, is_animated, ui_key),
                });
            }
        }
    }
    files
}

/// A string field, or a number rendered as a string (node ids are sometimes numbers).
pub(crate) fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_media() {
        assert_eq!(MediaKind::classify("a_00001_.png", false, "images"), MediaKind::Image);
        assert_eq!(MediaKind::classify("a.JPG", false, "images"), MediaKind::Image);
        assert_eq!(MediaKind::classify("a.webp", true, "images"), MediaKind::Video);
        assert_eq!(MediaKind::classify("a.gif", false, "images"), MediaKind::Image);
        assert_eq!(MediaKind::classify("a.gif", false, "gifs"), MediaKind::Video);
        assert_eq!(MediaKind::classify("a.mp4", false, "gifs"), MediaKind::Video);
        assert_eq!(MediaKind::classify("a.webm", true, "images"), MediaKind::Video);
        assert_eq!(MediaKind::classify("a.flac", false, "audio"), MediaKind::Audio);
        assert_eq!(MediaKind::classify("a.txt", false, "text"), MediaKind::Other);
        assert_eq!(MediaKind::classify("noext", false, "images"), MediaKind::Other);
    }

    #[test]
    fn parses_success_with_all_output_kinds() {
        let raw = json!({
            "prompt": [3, "p1", {}, {}, ["9"]],
            "outputs": {
                "9": {"images": [{"filename": "g_00001_.png", "subfolder": "gantry/t1", "type": "output"}]},
                "10": {"images": [{"filename": "v_00001_.webp", "subfolder": "", "type": "output"}], "animated": [true]},
                "11": {"gifs": [{"filename": "c_00001.mp4", "subfolder": "", "type": "temp", "fullpath": "/x"}]},
                "12": {"audio": [{"filename": "s.flac", "subfolder": "", "type": "output"}]},
                "13": {"text": ["not a file"]},
                "5:2": {"images": [{"filename": "sub.png"}]}
            },
            "status": {"status_str": "success", "completed": true, "messages": [
                ["execution_start", {"prompt_id": "p1"}], ["execution_success", {"prompt_id": "p1"}]]},
            "meta": {"5:2": {"node_id": "5:2", "display_node": "5"}}
        });
        let entry = HistoryEntry::from_json("p1", raw.clone()).expect("entry");
        assert_eq!(entry.outcome, Outcome::Success);
        assert_eq!(entry.raw, raw);
        let mut summary: Vec<_> = entry
            .outputs
            .iter()
            .map(|f| (f.node_id.as_str(), f.filename.as_str(), f.subfolder.as_str(), f.kind.as_str(), f.media))
            .collect();
        summary.sort();
        assert_eq!(
            summary,
            vec![
                ("10", "v_00001_.webp", "", "output", MediaKind::Video),
                ("11", "c_00001.mp4", "", "temp", MediaKind::Video),
                ("12", "s.flac", "", "output", MediaKind::Audio),
                ("5", "sub.png", "", "output", MediaKind::Image),
                ("9", "g_00001_.png", "gantry/t1", "output", MediaKind::Image),
            ]
        );
    }

    #[test]
    fn parses_error_and_interrupt() {
        let error = json!({"outputs": {}, "status": {"status_str": "error", "completed": false, "messages": [
            ["execution_start", {}],
            ["execution_error", {"prompt_id": "p", "node_id": "3", "node_type": "KSampler",
              "exception_message": "CUDA out of memory", "exception_type": "torch.cuda.OutOfMemoryError"}]]}});
        assert_eq!(
            HistoryEntry::from_json("p", error).expect("entry").outcome,
            Outcome::Error {
                message: "CUDA out of memory".into(),
                exception_type: "torch.cuda.OutOfMemoryError".into(),
                node_id: Some("3".into()),
                node_type: Some("KSampler".into()),
            }
        );
        let interrupted = json!({"outputs": {}, "status": {"status_str": "error", "completed": false, "messages": [
            ["execution_start", {}], ["execution_interrupted", {"prompt_id": "p", "node_id": "3"}]]}});
        assert_eq!(HistoryEntry::from_json("p", interrupted).expect("entry").outcome, Outcome::Interrupted);
        let bare = json!({"status": {"status_str": "error", "messages": []}});
        assert!(matches!(
            HistoryEntry::from_json("p", bare).expect("entry").outcome,
            Outcome::Error { node_id: None, .. }
        ));
    }

    #[test]
    fn old_entries_have_unknown_outcome_and_non_objects_fail() {
        let old = json!({"prompt": [], "outputs": {}});
        assert_eq!(HistoryEntry::from_json("p", old).expect("entry").outcome, Outcome::Unknown);
        assert!(matches!(HistoryEntry::from_json("p", json!([1])), Err(ComfyError::Protocol(_))));
    }
}
