//! Text of received documents, for models that only read text.
//!
//! Everything here is synchronous and CPU-bound: call it from `spawn_blocking`. Parsers of
//! untrusted files may fail in any way, so a failure is an [`ExtractError`] the turn turns into
//! a note, and a panic inside a parser is caught and reported the same way.

mod archive;
mod office;
mod pdf;
mod text;

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

pub use text::decode_text;

/// Documents whose text can be extracted, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// `.pdf`.
    Pdf,
    /// `.docx` (Word).
    Docx,
    /// `.xlsx` / `.xlsm` (Excel).
    Xlsx,
    /// `.pptx` (PowerPoint).
    Pptx,
    /// `.txt`, `.md`, `.json`, `.csv` and similar plain text.
    Text,
    /// `.zip`: a listing plus the text of supported members.
    Zip,
}

impl DocKind {
    /// The kind a file name's extension names, if supported.
    #[must_use]
    pub fn of(file_name: &str) -> Option<Self> {
        let ext = extension(file_name)?;
        Some(match ext.as_str() {
            "pdf" => Self::Pdf,
            "docx" => Self::Docx,
            "xlsx" | "xlsm" => Self::Xlsx,
            "pptx" => Self::Pptx,
            "zip" => Self::Zip,
            "txt" | "md" | "markdown" | "json" | "csv" | "tsv" | "log" | "yaml" | "yml" | "toml" | "xml"
            | "html" | "htm" => Self::Text,
            _ => return None,
        })
    }
}

/// The lower-cased extension of a file name.
pub fn extension(file_name: &str) -> Option<String> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// How much text and how many archive bytes one document may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Characters of text kept; the rest is cut with a visible note.
    pub max_chars: usize,
    /// Uncompressed bytes read from one archive member (zip bombs stop here).
    pub max_member_bytes: u64,
    /// Uncompressed bytes read from all members of one archive together.
    pub max_archive_bytes: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_chars: 30_000,
            max_member_bytes: 20 * 1024 * 1024,
            max_archive_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Extracted text, already capped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The text (ends with the truncation note when cut).
    pub text: String,
    /// Whether text was cut at [`ExtractLimits::max_chars`].
    pub truncated: bool,
}

/// Why no text came out of a document.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The content is not what its extension says, or is damaged.
    #[error("the {kind} file is damaged or not really a {kind} file: {detail}")]
    Malformed {
        /// `pdf`, `docx`…
        kind: &'static str,
        /// The parser's complaint.
        detail: String,
    },
    /// The document is password-protected.
    #[error("the file is encrypted (password-protected); ask for an unprotected copy")]
    Encrypted,
    /// An archive member or the whole archive unpacks to more than the limit.
    #[error("{what} unpacks to more than {limit} bytes; not read")]
    TooLarge {
        /// What was too large.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
}

impl ExtractError {
    pub fn malformed(kind: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Malformed {
            kind,
            detail: detail.to_string(),
        }
    }
}

/// Extracts the text of the file at `path`, whose kind is `kind`.
///
/// # Errors
/// [`ExtractError`]; never panics, even on hostile input.
pub fn extract_file(path: &Path, kind: DocKind, limits: &ExtractLimits) -> Result<Extracted, ExtractError> {
    let file = BufReader::new(File::open(path)?);
    extract_reader(file, kind, limits)
}

/// [`extract_file`] on any seekable reader.
///
/// # Errors
/// [`ExtractError`].
pub fn extract_reader<R: Read + Seek>(
    reader: R,
    kind: DocKind,
    limits: &ExtractLimits,
) -> Result<Extracted, ExtractError> {
    let mut budget = TextBudget::new(limits.max_chars);
    // Third-party parsers of untrusted input are known to panic on odd files; a panic must
    // become a note, not a lost message.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        extract_into(reader, kind, limits, &mut budget)
    }));
    match outcome {
        Ok(result) => result?,
        Err(_) => {
            return Err(ExtractError::malformed(
                kind_name(kind),
                "the parser gave up on this file",
            ));
        }
    }
    Ok(budget.finish())
}

fn extract_into<R: Read + Seek>(
    mut reader: R,
    kind: DocKind,
    limits: &ExtractLimits,
    budget: &mut TextBudget,
) -> Result<(), ExtractError> {
    match kind {
        DocKind::Pdf => pdf::extract(
            &read_capped(&mut reader, limits.max_member_bytes, "the PDF")?,
            budget,
        ),
        DocKind::Docx => office::docx(reader, limits, budget),
        DocKind::Xlsx => office::xlsx(reader, budget),
        DocKind::Pptx => office::pptx(reader, limits, budget),
        DocKind::Text => {
            let bytes = read_capped(&mut reader, limits.max_member_bytes, "the text file")?;
            budget.push(&decode_text(&bytes));
            Ok(())
        }
        DocKind::Zip => archive::extract(reader, limits, budget),
    }
}

pub fn kind_name(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Pdf => "pdf",
        DocKind::Docx => "docx",
        DocKind::Xlsx => "xlsx",
        DocKind::Pptx => "pptx",
        DocKind::Text => "text",
        DocKind::Zip => "zip",
    }
}

/// Reads at most `limit` bytes; more is an error rather than a silent cut (a cut PDF or
/// archive cannot be parsed).
pub fn read_capped<R: Read>(reader: R, limit: u64, what: &str) -> Result<Vec<u8>, ExtractError> {
    let mut bytes = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ExtractError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// Collects text up to a character budget and remembers whether anything was cut.
#[derive(Debug)]
pub struct TextBudget {
    text: String,
    left: usize,
    max: usize,
    truncated: bool,
}

impl TextBudget {
    pub fn new(max_chars: usize) -> Self {
        Self {
            text: String::new(),
            left: max_chars,
            max: max_chars,
            truncated: false,
        }
    }

    /// Appends as much of `s` as fits.
    pub fn push(&mut self, s: &str) {
        if self.truncated || s.is_empty() {
            return;
        }
        match s.char_indices().nth(self.left) {
            None => {
                self.left -= s.chars().count();
                self.text.push_str(s);
            }
            Some((cut, _)) => {
                self.text.push_str(&s[..cut]);
                self.left = 0;
                self.truncated = true;
            }
        }
    }

    /// Whether more text would be dropped (extractors stop early).
    pub fn is_full(&self) -> bool {
        self.truncated
    }

    pub fn finish(mut self) -> Extracted {
        if self.truncated {
            self.text.push_str(&format!(
                "\n[truncated: only the first {} characters are shown]",
                self.max
            ));
        }
        Extracted {
            text: self.text,
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
pub mod tests;
