//! Office Open XML documents: Word and PowerPoint text from their XML parts, Excel cells
//! through `calamine`.

use std::io::{BufReader, Read, Seek};

use calamine::{Reader as _, Xlsx};
use quick_xml::events::Event;

use super::{ExtractError, ExtractLimits, TextBudget, read_capped};

/// `word/document.xml`: paragraphs become lines, tabs and breaks are kept.
pub(super) fn docx<R: Read + Seek>(
    reader: R,
    limits: &ExtractLimits,
    budget: &mut TextBudget,
) -> Result<(), ExtractError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| ExtractError::malformed("docx", e))?;
    let xml = part(&mut zip, "word/document.xml", "docx", limits)?;
    xml_text(&xml, "docx", budget, |tag| match tag {
        "p" => Some(Mark::EndLine),
        "tab" => Some(Mark::Tab),
        "br" | "cr" => Some(Mark::Break),
        "t" => Some(Mark::Text),
        _ => None,
    })
}

/// `ppt/slides/slideN.xml` in slide order, each under a `--- slide N ---` header.
pub(super) fn pptx<R: Read + Seek>(
    reader: R,
    limits: &ExtractLimits,
    budget: &mut TextBudget,
) -> Result<(), ExtractError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| ExtractError::malformed("pptx", e))?;
    let mut slides: Vec<(u32, String)> = zip
        .file_names()
        .filter_map(|name| {
            let name = name.ok()?.into_owned();
            let n = name
                .strip_prefix("ppt/slides/slide")?
                .strip_suffix(".xml")?
                .parse()
                .ok()?;
            Some((n, name))
        })
        .collect();
    if slides.is_empty() {
        return Err(ExtractError::malformed(
            "pptx",
            "no slides (ppt/slides/slide*.xml) found",
        ));
    }
    // `slide10` sorts after `slide9` only numerically.
    slides.sort_unstable();
    for (n, name) in slides {
        if budget.is_full() {
            break;
        }
        budget.push(&format!("--- slide {n} ---\n"));
        let xml = part(&mut zip, &name, "pptx", limits)?;
        xml_text(&xml, "pptx", budget, |tag| match tag {
            "p" => Some(Mark::EndLine),
            "br" => Some(Mark::Break),
            "t" => Some(Mark::Text),
            _ => None,
        })?;
    }
    Ok(())
}

/// Every sheet as tab-separated rows under a `--- sheet NAME ---` header.
pub(super) fn xlsx<R: Read + Seek>(reader: R, budget: &mut TextBudget) -> Result<(), ExtractError> {
    let mut book: Xlsx<_> = Xlsx::new(BufReader::new(reader)).map_err(|e| classify_xlsx(&e))?;
    for name in book.sheet_names() {
        if budget.is_full() {
            break;
        }
        let range = book.worksheet_range(&name).map_err(|e| classify_xlsx(&e))?;
        budget.push(&format!("--- sheet {name} ---\n"));
        for row in range.rows() {
            if budget.is_full() {
                break;
            }
            let cells: Vec<String> = row.iter().map(ToString::to_string).collect();
            // Trailing empty cells carry no information and cost tokens.
            let used = cells.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
            budget.push(&cells[..used].join("\t"));
            budget.push("\n");
        }
    }
    Ok(())
}

fn classify_xlsx(e: &calamine::XlsxError) -> ExtractError {
    let detail = e.to_string();
    if detail.to_ascii_lowercase().contains("encrypt") || detail.contains("password") {
        ExtractError::Encrypted
    } else {
        ExtractError::malformed("xlsx", detail)
    }
}

fn part<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    kind: &'static str,
    limits: &ExtractLimits,
) -> Result<Vec<u8>, ExtractError> {
    let file = zip.by_name(name).map_err(|e| match e {
        // Password-protected Office files are not zips at all, so a missing part means a
        // different format or a damaged file.
        zip::result::ZipError::FileNotFound => ExtractError::malformed(kind, format!("{name} is missing")),
        other => ExtractError::malformed(kind, other),
    })?;
    read_capped(file, limits.max_member_bytes, name)
}

/// What an element means for the text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Its text content is document text (`w:t`, `a:t`).
    Text,
    /// A paragraph: a newline after it.
    EndLine,
    /// A tab.
    Tab,
    /// A line break.
    Break,
}

/// Walks WordprocessingML / DrawingML, keeping the text of `Text` elements.
fn xml_text(
    xml: &[u8],
    kind: &'static str,
    budget: &mut TextBudget,
    mark: impl Fn(&str) -> Option<Mark>,
) -> Result<(), ExtractError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut in_text = 0usize;
    loop {
        if budget.is_full() {
            return Ok(());
        }
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| ExtractError::malformed(kind, e))?;
        match event {
            Event::Start(e) if mark(e.local_name().as_ref()) == Some(Mark::Text) => in_text += 1,
            Event::End(e) => match mark(e.local_name().as_ref()) {
                Some(Mark::Text) => in_text = in_text.saturating_sub(1),
                Some(Mark::EndLine) => budget.push("\n"),
                _ => {}
            },
            Event::Empty(e) => match mark(e.local_name().as_ref()) {
                Some(Mark::Tab) => budget.push("\t"),
                Some(Mark::Break | Mark::EndLine) => budget.push("\n"),
                _ => {}
            },
            Event::Text(t) if in_text > 0 => budget.push(&t.xml10_content()),
            Event::CData(t) if in_text > 0 => budget.push(&t.xml10_content()),
            Event::GeneralRef(r) if in_text > 0 => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => match r.xml10_content().as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                    Err(_) => None,
                };
                if let Some(c) = resolved {
                    budget.push(c.encode_utf8(&mut [0; 4]));
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}
