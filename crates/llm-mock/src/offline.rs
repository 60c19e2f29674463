//! The offline demo model: answers any request without a script.
//!
//! It is what `clawtalk demo` talks to when no API key is set, so every answer says plainly
//! that it comes from an offline model. It is deterministic (same request, same answer) and
//! knows one trick: when the request offers tools and the user's message names one, it calls
//! that tool, then reports the tool's result on the next turn. That is enough to demo an
//! agent loop end to end without a real model.

use serde_json::{Map, Value, json};

use crate::script::{Script, split_chars};

/// The label every offline answer starts with.
pub const OFFLINE_LABEL: &str = "[offline demo model · 离线演示模型]";

/// The text of a message's `content` (string, or the text parts of a list) and its number of
/// image parts.
pub(crate) fn message_text(m: &Value) -> (String, usize) {
    match m.get("content") {
        Some(Value::String(s)) => (s.clone(), 0),
        Some(Value::Array(parts)) => {
            let text: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            let images = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
                .count();
            (text.join("\n"), images)
        }
        _ => (String::new(), 0),
    }
}

/// The text of the last user message of a request body, if any.
pub(crate) fn last_user_text(body: &Value) -> Option<String> {
    body.get("messages")?
        .as_array()?
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| message_text(m).0)
}

/// The offline answer to a request body.
#[must_use]
pub fn offline_reply(body: &Value) -> Script {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(last) = messages.last() else {
        return Script::text(format!("{OFFLINE_LABEL} The request had no messages."));
    };
    if last.get("role").and_then(Value::as_str) == Some("tool") {
        // Closing the agent loop: report the tool result instead of calling again.
        let (result, _) = message_text(last);
        return Script::text(format!(
            "{OFFLINE_LABEL} The tool returned: {}",
            quote(&result, 300)
        ));
    }
    let (prompt, images) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(message_text)
        .unwrap_or_default();
    if let Some((name, args)) = pick_tool(body.get("tools"), &prompt) {
        return Script::tool_call(name, args.to_string());
    }
    Script::text(echo(&prompt, images))
}

fn echo(prompt: &str, images: usize) -> String {
    let chars = prompt.chars().count();
    let words = prompt.split_whitespace().count();
    let said = if prompt.trim().is_empty() {
        "You sent no text.".to_owned()
    } else {
        format!("You said: {}", quote(prompt, 200))
    };
    let images = match images {
        0 => String::new(),
        1 => ", 1 image".to_owned(),
        n => format!(", {n} images"),
    };
    format!(
        "{OFFLINE_LABEL} {said}\n\
         Summary: {words} words, {chars} characters{images}.\n\
         No model API key is configured, so this reply comes from the built-in offline model. \
         未配置模型 API Key，此回复来自内置的离线演示模型。"
    )
}

/// `“text”`, cut to `max` characters.
fn quote(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut pieces = split_chars(text, max).into_iter();
    let head = pieces.next().unwrap_or_default();
    let more = if pieces.next().is_some() { "…" } else { "" };
    format!("“{head}{more}”")
}

/// The tool the prompt names (as `get_time` or `get time`), with arguments made from the
/// rest of the prompt: every required string parameter gets the text after the tool's name.
fn pick_tool(tools: Option<&Value>, prompt: &str) -> Option<(String, Value)> {
    let lower = prompt.to_lowercase();
    tools?.as_array()?.iter().find_map(|t| {
        let f = t.get("function")?;
        let name = f.get("name")?.as_str()?;
        let spaced = name.replace('_', " ").to_lowercase();
        let (at, len) = [name.to_lowercase(), spaced]
            .iter()
            .find_map(|n| lower.find(n.as_str()).map(|at| (at, n.len())))?;
        // `to_lowercase` can change byte lengths for some scripts; fall back to the whole prompt.
        let rest = prompt
            .get(at + len..)
            .map(|r| r.trim_matches(|c: char| c.is_whitespace() || c == ':' || c == '：'))
            .filter(|r| !r.is_empty())
            .unwrap_or(prompt.trim());
        Some((name.to_owned(), arguments(f.get("parameters"), rest)))
    })
}

fn arguments(schema: Option<&Value>, text: &str) -> Value {
    let mut args = Map::new();
    let Some(schema) = schema else {
        return Value::Object(args);
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let ty = props
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str);
        if matches!(ty, Some("string") | None) {
            args.insert(name.to_owned(), json!(text));
        }
    }
    Value::Object(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Kind;

    fn text_of(s: &Script) -> String {
        match &s.kind {
            Kind::Reply(r) => r.content.concat(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn echoes_any_prompt_with_a_label_and_summary() {
        let body = json!({"messages":[{"role":"user","content":"hello offline world"}]});
        let t = text_of(&offline_reply(&body));
        assert!(t.starts_with(OFFLINE_LABEL));
        assert!(t.contains("“hello offline world”"));
        assert!(t.contains("3 words, 19 characters"));
        assert_eq!(t, text_of(&offline_reply(&body)), "deterministic");
        let long = "很长".repeat(300);
        let t = text_of(&offline_reply(
            &json!({"messages":[{"role":"user","content":long}]}),
        ));
        assert!(t.contains('…'));
        let none = text_of(&offline_reply(&json!({})));
        assert!(none.contains("no messages"));
    }

    #[test]
    fn multimodal_prompt_counts_images() {
        let body = json!({"messages":[{"role":"user","content":[
            {"type":"text","text":"what is this"},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]}]});
        assert!(text_of(&offline_reply(&body)).contains("1 image"));
    }

    #[test]
    fn calls_a_named_tool_then_reports_its_result() {
        let tools = json!([{"type":"function","function":{"name":"web_search","description":"",
            "parameters":{"type":"object","properties":{"query":{"type":"string"},"n":{"type":"integer"}},"required":["query","n"]}}}]);
        let body =
            json!({"tools": tools, "messages":[{"role":"user","content":"please web search: rust async"}]});
        match offline_reply(&body).kind {
            Kind::Reply(r) => {
                assert_eq!(r.tool_calls.len(), 1);
                assert_eq!(r.tool_calls[0].name, "web_search");
                assert_eq!(r.tool_calls[0].arguments, r#"{"query":"rust async"}"#);
            }
            other => panic!("{other:?}"),
        }
        let body = json!({"tools": tools, "messages":[
            {"role":"user","content":"web_search rust"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_0","type":"function","function":{"name":"web_search","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"call_0","content":"3 results"}]});
        assert!(text_of(&offline_reply(&body)).contains("“3 results”"));
        let body = json!({"tools": tools, "messages":[{"role":"user","content":"no tool here"}]});
        assert!(text_of(&offline_reply(&body)).contains("You said"));
    }
}
