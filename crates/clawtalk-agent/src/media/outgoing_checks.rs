//! Checks on a file the agent sends that go beyond DingTalk's own rules: the file is opened
//! without following a symlink and must have one link only, its content must be what its
//! extension says, and the name shown in the chat is made safe.
//!
//! Why: the path check (`send::resolve_in_workspace`) sees only names. A hard link in the
//! workspace to a file elsewhere (`ln /home/me/.ssh/id_ed25519 notes.pdf`) has a name inside
//! the workspace and another file's content, and a symlink can be swapped in after the check.
//! A name like `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`, and `../x` or control
//! characters in a name are at best confusing in the chat.

use std::fs::{File, Metadata};
use std::path::Path;

/// Longest name sent, in characters; longer names keep their end (the extension).
const MAX_NAME_CHARS: usize = 120;

/// Opens `path` for reading without following a final symlink and checks it is a regular
/// file with no other hard link.
///
/// # Errors
/// A message for the model saying why the file cannot be sent.
pub fn open_single_link(path: &Path) -> Result<(File, Metadata), String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = options
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Err(format!(
                "{} has {} hard links, and another of them may be outside the workspace; \
                 only files with a single link can be sent (copy the file instead of linking it)",
                path.display(),
                meta.nlink()
            ));
        }
    }
    Ok((file, meta))
}

/// Whether `bytes` start the way files of `file_type` (a lower-case extension) do. Formats
/// without a signature check are refused: a type is only sent when its content says so.
#[must_use]
pub fn content_matches(file_type: &str, bytes: &[u8]) -> bool {
    // Signatures: PDF 1.7 (ISO 32000-1) §7.5.2 header; OLE2 compound file (MS-CFB §2.2) for
    // the legacy Office formats; ZIP local-file / empty-archive / spanned headers (PKWARE
    // APPNOTE §4.3.7) for zip and the OOXML formats, which are ZIP packages (ECMA-376 Part 2);
    // RAR 4 and 5 markers ("Rar!\x1A\x07"); the image magics of `attach::image_mime`.
    const OLE2: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let zip = bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"PK\x05\x06")
        || bytes.starts_with(b"PK\x07\x08");
    let image = super::attach::image_mime(bytes);
    match file_type {
        "pdf" => bytes.starts_with(b"%PDF-"),
        "doc" | "xls" | "ppt" => bytes.starts_with(OLE2),
        "docx" | "xlsx" | "pptx" | "zip" => zip,
        "rar" => bytes.starts_with(b"Rar!\x1A\x07"),
        "jpg" | "jpeg" => image == Some("image/jpeg"),
        "png" => image == Some("image/png"),
        "gif" => image == Some("image/gif"),
        "bmp" => image == Some("image/bmp"),
        _ => false,
    }
}

/// The name to show in the chat: the last path component only, without control, bidi and
/// zero-width characters and without characters file systems refuse, no leading dots, at most
/// [`MAX_NAME_CHARS`] characters (the end, with the extension, is kept).
///
/// # Errors
/// Nothing usable is left.
pub fn sanitize_file_name(name: &str) -> Result<String, String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c))
        .map(|c| {
            if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' '])
        .trim();
    let count = trimmed.chars().count();
    let kept: String = trimmed
        .chars()
        .skip(count.saturating_sub(MAX_NAME_CHARS))
        .collect();
    let kept = kept.trim_start_matches('.').trim().to_owned();
    if kept.is_empty() {
        return Err(format!(
            "the file name {name:?} has no usable characters; pass `file_name` like \"report.pdf\""
        ));
    }
    Ok(kept)
}

/// Bidi embeddings, overrides, isolates and marks, zero-width characters and the BOM: they
/// change how a name reads without being seen.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_and_invisible_or_reserved_characters() {
        assert_eq!(sanitize_file_name("Q3 报告.pdf").unwrap(), "Q3 报告.pdf");
        assert_eq!(sanitize_file_name("../../etc/passwd.pdf").unwrap(), "passwd.pdf");
        assert_eq!(sanitize_file_name("C:\\Users\\x\\a.docx").unwrap(), "a.docx");
        assert_eq!(
            sanitize_file_name("invoice\u{202E}fdp.exe").unwrap(),
            "invoicefdp.exe"
        );
        assert_eq!(sanitize_file_name("a\nb\u{0}c\u{200B}.pdf").unwrap(), "abc.pdf");
        assert_eq!(sanitize_file_name("what?<x>|y\".pdf").unwrap(), "what__x__y_.pdf");
        assert_eq!(sanitize_file_name("..hidden.pdf").unwrap(), "hidden.pdf");
        let long = format!("{}.pdf", "长".repeat(300));
        let cut = sanitize_file_name(&long).unwrap();
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS);
        assert!(cut.ends_with(".pdf"));
        for bad in ["", "..", "/", " . ", "\u{202E}"] {
            assert!(sanitize_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn content_must_match_the_extension() {
        assert!(content_matches("pdf", b"%PDF-1.7 ..."));
        assert!(!content_matches("pdf", b"#!/bin/sh\nrm -rf ~"));
        assert!(content_matches("docx", b"PK\x03\x04rest"));
        assert!(content_matches("zip", b"PK\x05\x06"));
        assert!(!content_matches("docx", b"%PDF-1.4"));
        assert!(content_matches(
            "xls",
            &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]
        ));
        assert!(content_matches("rar", b"Rar!\x1A\x07\x01\x00"));
        assert!(content_matches("jpg", &[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(
            !content_matches("png", &[0xFF, 0xD8, 0xFF, 0xE0]),
            "a JPEG named .png"
        );
        assert!(!content_matches("exe", b"MZ"));
    }

    #[cfg(unix)]
    #[test]
    fn hard_links_and_symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("id_ed25519");
        std::fs::write(&outside, "%PDF-1.4 private key").unwrap();
        let linked = dir.path().join("notes.pdf");
        std::fs::hard_link(&outside, &linked).unwrap();
        let error = open_single_link(&linked).unwrap_err();
        assert!(error.contains("2 hard links"), "{error}");
        let symlink = dir.path().join("sym.pdf");
        std::os::unix::fs::symlink(&outside, &symlink).unwrap();
        assert!(open_single_link(&symlink).is_err());
        std::fs::remove_file(&linked).unwrap();
        assert!(open_single_link(&outside).is_ok());
    }
}
