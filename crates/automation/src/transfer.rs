//! Import and export. A workflow file is JSON `{format, formatVersion, exportedAt,
//! workflow}`; a ZIP holds one such file per workflow at its top level. Imports read at
//! most [`AutomationConfig::max_import_bytes`]; ZIPs are checked entry by entry against
//! the entry count, each entry's declared and actually inflated size (reading stops at
//! the cap) and the inflated total, and may not contain nested or escaping paths.
//!
//! [`AutomationConfig::max_import_bytes`]: gantry_core::config::AutomationConfig

use std::io::{Cursor, Read, Write};

use crate::repo::workflows::{self as repo, WorkflowFilter};
use gantry_core::config::AutomationConfig;
use gantry_workflow_engine::Workflow;
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

use crate::{Automation, AutomationError, AutomationResult, Owner};

/// The `format` of an exported workflow file.
pub const FORMAT: &str = "gantry-vflow-workflow";

/// A file to hand out.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// `(workflow id, name)`.
    pub imported: Vec<(String, String)>,
    /// `(name, reason)`.
    pub skipped: Vec<(String, String)>,
    /// `(file name, error)`.
    pub errors: Vec<(String, String)>,
}

impl ImportReport {
    /// Files or workflows looked at.
    pub fn total(&self) -> usize {
        self.imported.len() + self.skipped.len() + self.errors.len()
    }
}

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Replace a workflow of the same name in the target folder instead of skipping.
    pub replace: bool,
    /// Target folder (`None`: the root).
    pub folder_id: Option<String>,
}

/// A file name made of the workflow's name (ASCII letters, digits, `-`, `_`) and id.
pub fn file_stem(w: &Workflow) -> String {
    let mut stem: String = w
        .name
        .chars()
        .map(|c| if c.is_whitespace() { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(60)
        .collect();
    if stem.is_empty() {
        stem.push_str("workflow");
    }
    let short: String = w.id.chars().take(8).collect();
    format!("{stem}-{short}")
}

/// The export document of a workflow.
pub fn document(w: &Workflow, exported_at: i64) -> Value {
    json!({ "format": FORMAT, "formatVersion": 1, "exportedAt": exported_at, "workflow": w })
}

/// Reads a workflow from an export document, an API answer holding one, or a bare
/// workflow object.
pub fn parse_document(bytes: &[u8]) -> Result<Workflow, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("Invalid JSON format: {e}"))?;
    let inner =
        value.get("workflow").or_else(|| value.get("data").and_then(|d| d.get("workflow"))).cloned().unwrap_or(value);
    if !inner.is_object() || inner.get("name").is_none() {
        return Err("not a workflow: expected an object with `name` and `steps`".into());
    }
    serde_json::from_value(inner).map_err(|e| format!("not a workflow: {e}"))
}

fn without_steps(mut w: Workflow, include_steps: bool) -> Workflow {
    if !include_steps {
        w.steps.clear();
    }
    w
}

/// Inflates the top-level entries of a ZIP within the limits: `(name, bytes)`.
fn read_zip(bytes: Vec<u8>, limits: &AutomationConfig) -> AutomationResult<Vec<(String, Vec<u8>)>> {
    let bad = |e: zip::result::ZipError| AutomationError::BadFormat(format!("not a readable ZIP: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(bad)?;
    if archive.len() > limits.max_zip_entries {
        return Err(AutomationError::TooLarge(format!("the ZIP holds more than {} entries", limits.max_zip_entries)));
    }
    let cap = limits.max_zip_entry_bytes as u64;
    let mut total = 0usize;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(bad)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(bad)?.into_owned();
        if name.contains('/') || name.contains('\\') || name.contains("..") || name.contains(':') {
            return Err(AutomationError::BadFormat(format!("`{name}`: nested or escaping paths are not allowed")));
        }
        if entry.size() > cap {
            return Err(AutomationError::TooLarge(format!("`{name}` inflates to more than {cap} bytes")));
        }
        let mut data = Vec::new();
        entry.take(cap + 1).read_to_end(&mut data).map_err(|e| AutomationError::BadFormat(format!("`{name}`: {e}")))?;
        if data.len() as u64 > cap {
            return Err(AutomationError::TooLarge(format!("`{name}` inflates to more than {cap} bytes")));
        }
        total += data.len();
        if total > limits.max_import_bytes {
            return Err(AutomationError::TooLarge(format!(
                "the ZIP inflates to more than {} bytes",
                limits.max_import_bytes
            )));
        }
        out.push((name, data));
    }
    Ok(out)
}

/// Whether `bytes` start like a ZIP archive.
fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

impl Automation {
    /// The export document of one workflow.
    pub async fn export_json(&self, owner: Owner, id: &str, include_steps: bool) -> AutomationResult<Value> {
        let w = self.inner.load(owner, id).await?.workflow;
        Ok(document(&without_steps(w, include_steps), self.now()))
    }

    /// A ZIP with one export document per workflow (every id must be the owner's).
    pub async fn export_zip(&self, owner: Owner, ids: &[String], include_steps: bool) -> AutomationResult<ExportFile> {
        if ids.is_empty() || ids.len() > self.inner.config.max_zip_entries {
            return Err(AutomationError::Invalid(format!(
                "workflowIds must hold 1-{} ids",
                self.inner.config.max_zip_entries
            )));
        }
        let now = self.now();
        let mut docs = Vec::new();
        for id in ids {
            let w = without_steps(self.inner.load(owner, id).await?.workflow, include_steps);
            docs.push((format!("{}.json", file_stem(&w)), document(&w, now)));
        }
        let filename = match docs.as_slice() {
            [(name, _)] => name.replace(".json", ".zip"),
            _ => "workflows-export.zip".to_owned(),
        };
        let write = |docs: Vec<(String, Value)>| -> zip::result::ZipResult<Vec<u8>> {
            let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            for (name, doc) in docs {
                zip.start_file(name, options)?;
                zip.write_all(doc.to_string().as_bytes())?;
            }
            Ok(zip.finish()?.into_inner())
        };
        let bytes = write(docs).map_err(|e| AutomationError::Invalid(format!("cannot build the ZIP: {e}")))?;
        Ok(ExportFile { filename, bytes })
    }

    /// Imports a workflow JSON file, or every `.json` entry of a ZIP (per-file errors
    /// are reported, not fatal). Imported workflows get new ids and start disabled.
    pub async fn import(&self, owner: Owner, bytes: Vec<u8>, opts: ImportOptions) -> AutomationResult<ImportReport> {
        if bytes.len() > self.inner.config.max_import_bytes {
            return Err(AutomationError::TooLarge(format!(
                "files are limited to {} bytes",
                self.inner.config.max_import_bytes
            )));
        }
        if let Some(folder) = &opts.folder_id {
            self.folder(owner, folder).await?;
        }
        let mut report = ImportReport::default();
        if !is_zip(&bytes) {
            let w = parse_document(&bytes).map_err(AutomationError::BadFormat)?;
            self.import_one(owner, w, &opts, &mut report).await?;
            return Ok(report);
        }
        let limits = self.inner.config.clone();
        let entries = tokio::task::spawn_blocking(move || read_zip(bytes, &limits))
            .await
            .map_err(|e| AutomationError::Invalid(format!("ZIP reader failed: {e}")))??;
        for (name, data) in entries {
            if !name.to_ascii_lowercase().ends_with(".json") {
                report.errors.push((name, "not a .json file".into()));
                continue;
            }
            let w = match parse_document(&data) {
                Ok(w) => w,
                Err(e) => {
                    report.errors.push((name, e));
                    continue;
                }
            };
            if let Err(e) = self.import_one(owner, w, &opts, &mut report).await {
                match e {
                    AutomationError::Store(_) => return Err(e),
                    other => report.errors.push((name, other.to_string())),
                }
            }
        }
        Ok(report)
    }

    async fn import_one(
        &self,
        owner: Owner,
        w: Workflow,
        opts: &ImportOptions,
        report: &mut ImportReport,
    ) -> AutomationResult<()> {
        let mut w = Workflow {
            id: self.inner.ids.random().to_string(),
            folder_id: opts.folder_id.clone(),
            is_enabled: false,
            modified_at: None,
            ..w
        };
        w.name = w.name.trim().to_owned();
        match self.inner.insert(owner, &w).await {
            Ok(stored) => report.imported.push((stored.workflow.id, stored.workflow.name)),
            Err(AutomationError::WorkflowNameTaken(name)) if !opts.replace => {
                report.skipped.push((name, "Already exists".into()))
            }
            Err(AutomationError::WorkflowNameTaken(_)) => {
                // The replaced workflow keeps its id and whether it is enabled (its
                // triggers go on as before).
                let (id, enabled) = self.same_name(owner, &w).await?;
                (w.id, w.is_enabled) = (id, enabled);
                let stored = self.inner.replace(owner, &w).await?;
                report.imported.push((stored.workflow.id, stored.workflow.name));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The id of the owner's workflow named like `w` in `w`'s folder, and whether it is
    /// enabled.
    async fn same_name(&self, owner: Owner, w: &Workflow) -> AutomationResult<(String, bool)> {
        let filter = WorkflowFilter { search: Some(w.name.clone()), ..WorkflowFilter::default() };
        let (rows, _) = repo::list(&self.inner.db, owner.user_id, &filter).await?;
        rows.into_iter()
            .find(|r| r.name == w.name && r.folder_id == w.folder_id)
            .map(|r| (r.id, r.is_enabled))
            .ok_or_else(|| AutomationError::WorkflowNameTaken(w.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AutomationConfig {
        AutomationConfig { max_zip_entry_bytes: 1024, max_import_bytes: 4096, ..AutomationConfig::default() }
    }

    fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(name, options).unwrap();
        zip.write_all(data).unwrap();
        zip.finish().unwrap().into_inner()
    }

    /// Overwrites every declared uncompressed size (local and central headers) with `size`.
    fn lie_about_size(mut bytes: Vec<u8>, size: u32) -> Vec<u8> {
        for (signature, offset) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
            let at = bytes.windows(4).position(|w| w == signature).unwrap();
            bytes[at + offset..at + offset + 4].copy_from_slice(&size.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn an_entry_that_lies_about_its_size_is_never_inflated_past_the_cap() {
        let honest = zip_of("a.json", &[b' '; 8192]);
        assert!(matches!(read_zip(honest.clone(), &limits()), Err(AutomationError::TooLarge(_))));
        match read_zip(lie_about_size(honest, 10), &limits()) {
            Err(AutomationError::TooLarge(_) | AutomationError::BadFormat(_)) => {}
            Ok(entries) => assert!(entries.iter().all(|(_, d)| d.len() <= 1024), "read past the cap"),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn small_top_level_entries_are_read_and_documents_parse() {
        let doc = json!({"workflow": {"name": "n", "steps": [{"id": "a", "moduleId": "log"}]}}).to_string();
        let entries = read_zip(zip_of("w.json", doc.as_bytes()), &limits()).unwrap();
        assert_eq!(entries[0].0, "w.json");
        let w = parse_document(&entries[0].1).unwrap();
        assert_eq!((w.name.as_str(), w.steps[0].module_id.as_str()), ("n", "log"));
        assert!(parse_document(b"[1]").is_err());
        assert!(parse_document(br#"{"name": "bare", "steps": []}"#).is_ok());
        assert!(matches!(read_zip(zip_of("a/b.json", b"{}"), &limits()), Err(AutomationError::BadFormat(_))));
    }
}
