//! Output files: ComfyUI's `<prefix>_<counter:05>_.<ext>` naming and PNG writing.

use std::fs;
use std::io::BufWriter;
use std::path::{Component, Path, PathBuf};

use image::RgbImage;
use rand::Rng;

/// Where the next files for a prefix go (`folder_paths.get_save_image_path`).
#[derive(Debug, Clone)]
pub(crate) struct SaveTarget {
    pub folder: PathBuf,
    pub filename: String,
    pub counter: u32,
    pub subfolder: String,
}

impl SaveTarget {
    /// Resolves a `filename_prefix` below `root`; `%width%`, `%height%` and date tokens are expanded,
    /// and a `/` in the prefix makes a subfolder. The counter continues after the highest existing one.
    pub(crate) fn resolve(root: &Path, prefix: &str, width: u32, height: u32) -> Result<Self, String> {
        let prefix = if prefix.contains('%') { expand_tokens(prefix, width, height) } else { prefix.to_owned() };
        let normalized = normalize(Path::new(&prefix));
        let filename = normalized.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let subfolder_path = normalized.parent().map(Path::to_path_buf).unwrap_or_default();
        let folder = normalize(&root.join(&subfolder_path));
        if !folder.starts_with(root) {
            return Err(format!(
                "**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: {}\n         output_dir: {}\n         commonpath: {}",
                folder.display(),
                root.display(),
                root.display()
            ));
        }
        let counter = match fs::read_dir(&folder) {
            Ok(entries) => {
                let highest = entries
                    .filter_map(Result::ok)
                    .filter_map(|e| counter_of(&e.file_name().to_string_lossy(), &filename))
                    .max();
                highest.map_or(1, |n| n + 1)
            }
            Err(_) => {
                fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
                1
            }
        };
        Ok(Self { folder, filename, counter, subfolder: subfolder_path.to_string_lossy().into_owned() })
    }

    /// The next file name with `ext`, advancing the counter.
    pub(crate) fn next_file(&mut self, ext: &str) -> String {
        let name = format!("{}_{:05}_.{ext}", self.filename, self.counter);
        self.counter += 1;
        name
    }
}

/// The counter of `name` if it is `<prefix>_<digits>_...`, as ComfyUI's `map_filename` reads it.
fn counter_of(name: &str, prefix: &str) -> Option<u32> {
    let head = name.get(..prefix.len() + 1)?;
    let (stem, sep) = head.split_at(prefix.len());
    if stem != prefix || sep != "_" {
        return None;
    }
    let digits = name[prefix.len() + 1..].split('_').next()?;
    Some(digits.parse().unwrap_or(0))
}

fn expand_tokens(prefix: &str, width: u32, height: u32) -> String {
    let now = chrono::Local::now();
    prefix
        .replace("%width%", &width.to_string())
        .replace("%height%", &height.to_string())
        .replace("%year%", &now.format("%Y").to_string())
        .replace("%month%", &now.format("%m").to_string())
        .replace("%day%", &now.format("%d").to_string())
        .replace("%hour%", &now.format("%H").to_string())
        .replace("%minute%", &now.format("%M").to_string())
        .replace("%second%", &now.format("%S").to_string())
}

/// Lexical path normalization (`os.path.normpath`): drops `.` and resolves `..` without touching the disk.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The `_temp_xxxxx` suffix PreviewImage appends to its prefix.
pub(crate) fn temp_suffix() -> String {
    let mut rng = rand::rng();
    let letters: String = (0..5).map(|_| char::from(rng.random_range(b'a'..=b'z'))).collect();
    format!("_temp_{letters}")
}

/// Writes an RGB PNG with text chunks (ComfyUI stores `prompt` and `workflow` this way).
pub(crate) fn write_png(path: &Path, img: &RgbImage, texts: &[(String, String)]) -> Result<(), String> {
    let file = fs::File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), img.width(), img.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    for (key, text) in texts {
        let added = if text.chars().all(|c| (c as u32) < 256) {
            encoder.add_text_chunk(key.clone(), text.clone())
        } else {
            encoder.add_itxt_chunk(key.clone(), text.clone())
        };
        added.map_err(|e| e.to_string())?;
    }
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(img.as_raw()).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_continue_per_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut target = SaveTarget::resolve(root, "gantry/job1/img", 8, 8).unwrap();
        assert_eq!(target.subfolder, "gantry/job1");
        assert_eq!(target.counter, 1);
        let first = target.next_file("png");
        assert_eq!(first, "img_00001_.png");
        fs::write(target.folder.join(&first), b"x").unwrap();
        fs::write(target.folder.join("img_00007_.png"), b"x").unwrap();
        fs::write(target.folder.join("imgother_00050_.png"), b"x").unwrap();
        let again = SaveTarget::resolve(root, "gantry/job1/img", 8, 8).unwrap();
        assert_eq!(again.counter, 8);
        assert!(SaveTarget::resolve(root, "../escape", 8, 8).is_err());
    }
}
