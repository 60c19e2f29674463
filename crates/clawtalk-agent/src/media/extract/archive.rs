//! Zip archives: a listing of every member, then the text of each supported one.
//!
//! Members are read into memory one at a time, each capped, and all of them together capped,
//! so a zip bomb costs at most [`ExtractLimits::max_archive_bytes`] of reading. Nothing is
//! written to disk, so hostile member paths (`../../x`) are harmless. Archives inside the
//! archive are listed but not opened.

use std::io::{Cursor, Read, Seek};

use super::{DocKind, ExtractError, ExtractLimits, TextBudget, decode_text, extract_into, read_capped};

pub(super) fn extract<R: Read + Seek>(
    reader: R,
    limits: &ExtractLimits,
    budget: &mut TextBudget,
) -> Result<(), ExtractError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| ExtractError::malformed("zip", e))?;
    let mut members = Vec::with_capacity(zip.len());
    budget.push(&format!("Archive with {} entries:\n", zip.len()));
    for i in 0..zip.len() {
        let file = zip
            .by_index_raw(i)
            .map_err(|e| ExtractError::malformed("zip", e))?;
        // Names without the UTF-8 flag are often GBK (Windows in China), not CP437.
        let name = decode_text(file.name_raw()).into_owned();
        if file.is_dir() {
            continue;
        }
        budget.push(&format!("- {name} ({} bytes)\n", file.size()));
        members.push((i, name, file.size(), file.encrypted()));
    }
    let mut read_total: u64 = 0;
    for (i, name, size, encrypted) in members {
        if budget.is_full() {
            break;
        }
        let Some(kind) = DocKind::of(&name).filter(|k| *k != DocKind::Zip) else {
            continue;
        };
        budget.push(&format!("\n=== {name} ===\n"));
        if encrypted {
            budget.push("[not read: the member is password-protected]\n");
            continue;
        }
        if size > limits.max_member_bytes || read_total.saturating_add(size) > limits.max_archive_bytes {
            budget.push(&format!("[not read: {size} bytes unpacked is over the limit]\n"));
            continue;
        }
        let bytes = match zip.by_index(i) {
            Ok(file) => read_capped(file, limits.max_member_bytes, &name),
            Err(e) => Err(ExtractError::malformed("zip", e)),
        };
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => {
                budget.push(&format!("[not read: {e}]\n"));
                continue;
            }
        };
        read_total += bytes.len() as u64;
        if let Err(e) = extract_into(Cursor::new(bytes), kind, limits, budget) {
            budget.push(&format!("[not read: {e}]\n"));
        }
    }
    Ok(())
}
