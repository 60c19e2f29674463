//! Extraction from documents the tests build themselves (zip + XML by hand, PDF with lopdf).

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

use super::*;

/// A zip with these `(name, content)` members.
pub fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in members {
        writer.start_file(*name, SimpleFileOptions::default()).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A minimal Word document with these paragraphs.
pub fn docx_of(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<w:p><w:r><w:t xml:space=\"preserve\">{p}</w:t></w:r></w:p>"))
        .collect();
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}<w:sectPr/></w:body></w:document>"#
    );
    zip_of(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ])
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#;

fn pptx_of(slides: &[(u32, &str)]) -> Vec<u8> {
    let xml: Vec<(String, String)> = slides
        .iter()
        .map(|(n, text)| {
            (
                format!("ppt/slides/slide{n}.xml"),
                format!(
                    r#"<p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#
                ),
            )
        })
        .collect();
    let mut members: Vec<(&str, &[u8])> = vec![("[Content_Types].xml", CONTENT_TYPES.as_bytes())];
    members.extend(xml.iter().map(|(n, x)| (n.as_str(), x.as_bytes())));
    zip_of(&members)
}

/// A one-sheet workbook (inline strings and numbers), the parts calamine needs.
fn xlsx_of(sheet: &str, rows: &[&[&str]]) -> Vec<u8> {
    let cells: String = rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let cols: String = row
                .iter()
                .enumerate()
                .map(|(c, v)| {
                    let col = char::from(b'A' + u8::try_from(c).unwrap());
                    let at = format!("{col}{}", r + 1);
                    if v.parse::<f64>().is_ok() {
                        format!(r#"<c r="{at}"><v>{v}</v></c>"#)
                    } else {
                        format!(r#"<c r="{at}" t="inlineStr"><is><t>{v}</t></is></c>"#)
                    }
                })
                .collect();
            format!(r#"<row r="{}">{cols}</row>"#, r + 1)
        })
        .collect();
    let ns = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;
    let workbook = format!(
        r#"<workbook {ns}><sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>"#
    );
    let rels = r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let worksheet = format!(r#"<worksheet {ns}><sheetData>{cells}</sheetData></worksheet>"#);
    let types = r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    let root_rels = r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    zip_of(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", root_rels.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/worksheets/sheet1.xml", worksheet.as_bytes()),
    ])
}

/// A PDF with one page per string, in Helvetica.
fn pdf_of(pages: &[&str]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for text in pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 24.into()]),
                Operation::new("Td", vec![72.into(), 720.into()]),
                Operation::new("Tj", vec![Object::string_literal(*text)]),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).unwrap();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count,
            "Resources" => resources_id, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn extract(bytes: Vec<u8>, kind: DocKind) -> Extracted {
    extract_reader(Cursor::new(bytes), kind, &ExtractLimits::default()).unwrap()
}

#[test]
fn kinds_come_from_the_extension() {
    assert_eq!(DocKind::of("Q3 report.PDF"), Some(DocKind::Pdf));
    assert_eq!(DocKind::of("a.tar.zip"), Some(DocKind::Zip));
    assert_eq!(DocKind::of("数据.csv"), Some(DocKind::Text));
    assert_eq!(DocKind::of("photo.heic"), None);
    assert_eq!(DocKind::of("README"), None);
    assert_eq!(DocKind::of(".md"), None);
}

#[test]
fn docx_paragraphs_become_lines_and_entities_are_resolved() {
    let out = extract(
        docx_of(&["Quarterly &amp; yearly plan", "第二段：上线时间"]),
        DocKind::Docx,
    );
    assert_eq!(out.text, "Quarterly & yearly plan\n第二段：上线时间\n");
    assert!(!out.truncated);
}

#[test]
fn pptx_slides_come_in_numeric_order() {
    let out = extract(pptx_of(&[(10, "Ten"), (2, "Two"), (1, "One")]), DocKind::Pptx);
    let one = out.text.find("One").unwrap();
    let two = out.text.find("Two").unwrap();
    let ten = out.text.find("Ten").unwrap();
    assert!(one < two && two < ten, "{}", out.text);
    assert!(out.text.contains("--- slide 10 ---"), "{}", out.text);
}

#[test]
fn xlsx_rows_are_tab_separated_per_sheet() {
    let out = extract(
        xlsx_of(
            "Budget",
            &[&["item", "cost"], &["servers", "1200"], &["云盘", "35.5"]],
        ),
        DocKind::Xlsx,
    );
    assert!(out.text.starts_with("--- sheet Budget ---\n"), "{}", out.text);
    assert!(out.text.contains("item\tcost\n"), "{}", out.text);
    assert!(out.text.contains("servers\t1200\n"), "{}", out.text);
    assert!(out.text.contains("云盘\t35.5\n"), "{}", out.text);
}

#[test]
fn pdf_text_is_extracted_page_by_page() {
    let out = extract(
        pdf_of(&["Incident report alpha", "Root cause beta"]),
        DocKind::Pdf,
    );
    assert!(out.text.contains("Incident report alpha"), "{:?}", out.text);
    assert!(out.text.contains("Root cause beta"), "{:?}", out.text);
    assert!(out.text.contains("--- page 2 ---"), "{:?}", out.text);
}

#[test]
fn zip_lists_members_and_extracts_the_supported_ones() {
    let inner_docx = docx_of(&["inside the archive"]);
    let archive = zip_of(&[
        ("notes.txt", "plain notes".as_bytes()),
        ("docs/spec.docx", &inner_docx),
        ("image.png", &[0x89, b'P', b'N', b'G']),
        ("nested.zip", &zip_of(&[("deep.txt", b"too deep")])),
    ]);
    let out = extract(archive, DocKind::Zip);
    assert!(out.text.starts_with("Archive with 4 entries:\n"), "{}", out.text);
    assert!(out.text.contains("- image.png (4 bytes)"), "{}", out.text);
    assert!(
        out.text.contains("=== notes.txt ===\nplain notes"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("=== docs/spec.docx ===\ninside the archive"),
        "{}",
        out.text
    );
    assert!(
        !out.text.contains("too deep"),
        "nested archives are not opened: {}",
        out.text
    );
}

#[test]
fn zip_members_over_the_limit_are_listed_not_read() {
    let big = vec![b'a'; 5000];
    let archive = zip_of(&[("big.txt", &big), ("small.txt", b"ok")]);
    let limits = ExtractLimits {
        max_member_bytes: 1000,
        ..ExtractLimits::default()
    };
    let out = extract_reader(Cursor::new(archive), DocKind::Zip, &limits).unwrap();
    assert!(
        out.text.contains("=== big.txt ===\n[not read: 5000 bytes"),
        "{}",
        out.text
    );
    assert!(out.text.contains("=== small.txt ===\nok"), "{}", out.text);
}

#[test]
fn long_text_is_cut_with_a_visible_note() {
    let limits = ExtractLimits {
        max_chars: 10,
        ..ExtractLimits::default()
    };
    let out = extract_reader(
        Cursor::new("一二三四五六七八九十十一".as_bytes().to_vec()),
        DocKind::Text,
        &limits,
    )
    .unwrap();
    assert!(out.truncated);
    assert!(
        out.text.starts_with("一二三四五六七八九十\n[truncated"),
        "{}",
        out.text
    );
    let exact = extract_reader(Cursor::new(b"0123456789".to_vec()), DocKind::Text, &limits).unwrap();
    assert!(!exact.truncated);
    assert_eq!(exact.text, "0123456789");
}

#[test]
fn gbk_text_is_decoded() {
    let (gbk, _, _) = encoding_rs::GBK.encode("项目预算");
    assert_eq!(decode_text(&gbk), "项目预算");
    assert_eq!(decode_text("\u{feff}bom".as_bytes()), "bom");
}

#[test]
fn damaged_documents_are_errors_not_panics() {
    for kind in [
        DocKind::Pdf,
        DocKind::Docx,
        DocKind::Xlsx,
        DocKind::Pptx,
        DocKind::Zip,
    ] {
        let err = extract_reader(
            Cursor::new(b"not a document at all".to_vec()),
            kind,
            &ExtractLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::Malformed { .. }), "{kind:?}: {err}");
    }
    let no_document = zip_of(&[("other.xml", b"<x/>")]);
    let err = extract_reader(Cursor::new(no_document), DocKind::Docx, &ExtractLimits::default()).unwrap_err();
    assert!(err.to_string().contains("word/document.xml is missing"), "{err}");
}
