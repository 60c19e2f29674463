//! A tool result (MCP `CallToolResult`) as the text the model reads.
//!
//! Content blocks are read from their JSON form (the spec's `type` tags: `text`, `image`,
//! `audio`, `resource`, `resource_link`), so a block kind this SDK version does not model
//! still shows up as what it is. Images and audio are described, not inlined: the tool
//! result of a chat-completions request is text.

use base64::Engine as _;
use serde_json::Value;

/// Most characters of one result handed to the model; the rest is cut with a marker.
pub const MAX_RESULT_CHARS: usize = 64 * 1024;

/// The model's view of a result: `Ok(text)`, or `Err(text)` when the server set `isError`.
pub fn render(result: &Value) -> Result<String, String> {
    let blocks = result
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut parts: Vec<String> = blocks.iter().map(render_block).collect();
    if parts.is_empty()
        && let Some(structured) = result.get("structuredContent").filter(|v| !v.is_null())
    {
        parts.push(structured.to_string());
    }
    let text = cap(parts.join("\n"));
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        Err(if text.is_empty() {
            "the tool reported an error without a message".to_owned()
        } else {
            text
        })
    } else {
        Ok(text)
    }
}

fn render_block(block: &Value) -> String {
    let field = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or_default();
    match field("type") {
        "text" => field("text").to_owned(),
        kind @ ("image" | "audio") => format!(
            "[{kind}: {}, {} bytes]",
            or_unknown(field("mimeType")),
            decoded_len(field("data"))
        ),
        "resource" => {
            let resource = block.get("resource").unwrap_or(&Value::Null);
            let get = |k: &str| resource.get(k).and_then(Value::as_str);
            let uri = get("uri").unwrap_or_default();
            match (get("text"), get("blob")) {
                (Some(text), _) => format!("[resource {uri}]\n{text}"),
                (None, Some(blob)) => format!(
                    "[resource {uri}: {}, {} bytes]",
                    or_unknown(get("mimeType").unwrap_or_default()),
                    decoded_len(blob)
                ),
                (None, None) => format!("[resource {uri}]"),
            }
        }
        "resource_link" => {
            let name = field("name");
            if name.is_empty() {
                format!("[resource link: {}]", field("uri"))
            } else {
                format!("[resource link: {} ({name})]", field("uri"))
            }
        }
        other => format!("[{} content]", or_unknown(other)),
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

/// Bytes a base64 payload decodes to (its length when it is not valid base64).
fn decoded_len(data: &str) -> usize {
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_or(data.len(), |bytes| bytes.len())
}

fn cap(text: String) -> String {
    if text.chars().count() <= MAX_RESULT_CHARS {
        return text;
    }
    let total = text.chars().count();
    let kept: String = text.chars().take(MAX_RESULT_CHARS).collect();
    format!("{kept}\n[result truncated: {total} characters, first {MAX_RESULT_CHARS} shown]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_images_and_resources_become_text() {
        let result = json!({ "content": [
            { "type": "text", "text": "Here it is:" },
            { "type": "image", "mimeType": "image/png", "data": "aGVsbG8=" },
            { "type": "resource", "resource": { "uri": "file:///a.txt", "text": "alpha" } },
            { "type": "resource", "resource": { "uri": "file:///b.bin", "mimeType": "application/zip", "blob": "AAEC" } },
            { "type": "resource_link", "uri": "demo://resource/1", "name": "Resource 1" },
            { "type": "audio", "mimeType": "audio/wav", "data": "AAAA" },
            { "type": "hologram" },
        ]});
        let text = render(&result).unwrap();
        assert_eq!(
            text,
            "Here it is:\n[image: image/png, 5 bytes]\n[resource file:///a.txt]\nalpha\n\
             [resource file:///b.bin: application/zip, 3 bytes]\n\
             [resource link: demo://resource/1 (Resource 1)]\n[audio: audio/wav, 3 bytes]\n[hologram content]"
        );
    }

    #[test]
    fn errors_and_structured_results() {
        let failed = json!({ "isError": true, "content": [{ "type": "text", "text": "bad input" }] });
        assert_eq!(render(&failed), Err("bad input".into()));
        assert!(
            render(&json!({ "isError": true }))
                .unwrap_err()
                .contains("without a message")
        );
        let structured = json!({ "content": [], "structuredContent": { "temperature": 22.5 } });
        assert_eq!(render(&structured).unwrap(), r#"{"temperature":22.5}"#);
    }

    #[test]
    fn long_results_are_cut_with_a_marker() {
        let long = "x".repeat(MAX_RESULT_CHARS + 10);
        let text = render(&json!({ "content": [{ "type": "text", "text": long }] })).unwrap();
        assert!(text.ends_with(&format!(
            "[result truncated: {} characters, first {MAX_RESULT_CHARS} shown]",
            MAX_RESULT_CHARS + 10
        )));
    }
}
