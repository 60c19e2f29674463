//! PDF text through `pdf-extract` (layout-aware, handles CJK fonts with ToUnicode maps).

use super::{ExtractError, TextBudget};

pub(super) fn extract(bytes: &[u8], budget: &mut TextBudget) -> Result<(), ExtractError> {
    let pages = pdf_extract::extract_text_from_mem_by_pages(bytes).map_err(|e| {
        let detail = e.to_string();
        if detail.to_ascii_lowercase().contains("encrypt") {
            ExtractError::Encrypted
        } else {
            ExtractError::malformed("pdf", detail)
        }
    })?;
    let many = pages.len() > 1;
    for (i, page) in pages.iter().enumerate() {
        if budget.is_full() {
            break;
        }
        if many {
            budget.push(&format!("--- page {} ---\n", i + 1));
        }
        budget.push(page.trim_end());
        budget.push("\n");
    }
    Ok(())
}
