//! `clawtalk_llm` against the in-process mock model server on 127.0.0.1.

use std::time::{Duration, Instant};

use clawtalk_llm::{
    ChatMessage, ChatRequest, ChatStream, LlmClient, LlmConfig, LlmError, ProviderPreset, RetryPolicy,
    StreamEvent, TimeoutPhase, Timeouts, ToolCall, ToolSpec,
};
use futures_util::StreamExt;
use llm_mock::{Failure, MockModel, OFFLINE_LABEL, Script};
use serde_json::json;

const KEY: &str = "sk-test-4f9a1c";

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        jitter: false,
        max_retry_after: Duration::from_secs(5),
    }
}

fn client_for(mock: &MockModel) -> LlmClient {
    LlmClient::new(
        LlmConfig::custom(mock.base_url(), KEY)
            .with_model("mock-model")
            .with_retry(fast_retry()),
    )
    .expect("valid config")
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new("", vec![ChatMessage::user(text)])
}

/// Every event of a stream, the error (if any) last.
async fn drain(mut s: ChatStream) -> (Vec<StreamEvent>, Option<LlmError>) {
    let mut events = Vec::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(e) => events.push(e),
            Err(e) => {
                assert!(s.next().await.is_none(), "nothing follows an error");
                return (events, Some(e));
            }
        }
    }
    (events, None)
}

fn content(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ContentDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn streamed_text_reassembles_exactly() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    let chunks = ["你好", "，", "wor", "ld! ", "👋🏽", "\n\"quoted\" ", "end"];
    mock.push(Script::chunks(chunks));
    let (events, err) = drain(client_for(&mock).stream(ask("hi")).await?).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(content(&events), chunks.concat());
    let deltas = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ContentDelta(_)))
        .count();
    assert_eq!(deltas, chunks.len());
    assert!(matches!(events.last(), Some(StreamEvent::Done { finish_reason: Some(r) }) if r == "stop"));
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Usage(_))));

    let rec = mock.last_request().unwrap();
    assert!(rec.stream);
    assert_eq!(rec.model, "mock-model");
    assert_eq!(rec.header("accept"), Some("text/event-stream"));
    Ok(())
}

#[tokio::test]
async fn reasoning_deltas_are_kept_apart_from_the_answer() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.push(Script::reasoning_then_text(
        "The user greets me; reply politely.",
        "Hello!",
    ));
    let r = client_for(&mock)
        .stream(ask("hi"))
        .await?
        .collect_response()
        .await?;
    assert_eq!(r.content, "Hello!");
    assert_eq!(
        r.reasoning.as_deref(),
        Some("The user greets me; reply politely.")
    );

    mock.push(Script::reasoning_then_text("think", "answer"));
    let r = client_for(&mock).complete(ask("hi")).await?;
    assert_eq!(
        (r.content.as_str(), r.reasoning.as_deref()),
        ("answer", Some("think"))
    );
    Ok(())
}

#[tokio::test]
async fn tool_calls_streamed_in_fragments_are_assembled() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    let args = r#"{"city":"杭州","days":3,"units":"metric"}"#;
    mock.push(Script::tool_call("get_weather", args).and_tool_call("now", "{}"));
    let tools = vec![ToolSpec {
        name: "get_weather".into(),
        description: "Weather forecast".into(),
        parameters: json!({"type":"object","properties":{"city":{"type":"string"}}}),
    }];
    let req = ask("weather in Hangzhou?").with_tools(tools);
    let (events, err) = drain(client_for(&mock).stream(req).await?).await;
    assert!(err.is_none(), "{err:?}");
    let fragments = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::ToolCallDelta { index: 0, .. }))
        .count();
    assert!(fragments > 3, "arguments arrived in {fragments} fragments");
    let calls: Vec<ToolCall> = events
        .iter()
        .find_map(|e| match e {
            StreamEvent::ToolCalls(c) => Some(c.clone()),
            _ => None,
        })
        .expect("assembled tool calls");
    assert_eq!(
        calls,
        vec![
            ToolCall {
                id: "call_0".into(),
                name: "get_weather".into(),
                arguments: args.into()
            },
            ToolCall {
                id: "call_1".into(),
                name: "now".into(),
                arguments: "{}".into()
            },
        ]
    );
    assert!(matches!(events.last(), Some(StreamEvent::Done { finish_reason: Some(r) }) if r == "tool_calls"));
    let sent_tools = &mock.last_request().unwrap().tools;
    assert_eq!(sent_tools[0]["function"]["name"], "get_weather");

    // The same call, not streamed.
    mock.push(Script::tool_call("get_weather", args));
    let r = client_for(&mock).complete(ask("again")).await?;
    assert_eq!(r.tool_calls[0].arguments, args);
    assert_eq!(r.to_message().tool_calls.len(), 1);
    Ok(())
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_wait_the_provider_asked_for() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.inject(Failure::rate_limited(Duration::from_millis(300)).times(2));
    mock.push(Script::text("finally"));
    let started = Instant::now();
    let r = client_for(&mock)
        .stream(ask("hi"))
        .await?
        .collect_response()
        .await?;
    assert_eq!(r.content, "finally");
    assert_eq!(mock.request_count(), 3, "two 429s, then success");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_fails_at_once() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.inject(Failure::rate_limited(Duration::from_secs(120)));
    let err = client_for(&mock).complete(ask("hi")).await.unwrap_err();
    match &err {
        LlmError::RateLimited { retry_after, .. } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(120)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.request_count(), 1);
    assert!(err.user_message().contains("模型服务暂时繁忙"));
    Ok(())
}

#[tokio::test]
async fn server_errors_exhaust_the_retries_with_a_typed_error() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.inject(Failure::status(500).times(3));
    let err = client_for(&mock).stream(ask("hi")).await.unwrap_err();
    assert_eq!(mock.request_count(), 3, "max_attempts = 3");
    match &err {
        LlmError::Http {
            status,
            code,
            request_id,
            ..
        } => {
            assert_eq!(*status, 500);
            assert_eq!(code.as_deref(), Some("internal_error"));
            assert_eq!(request_id.as_deref(), Some("mock-req-2"), "the last attempt's id");
        }
        other => panic!("{other:?}"),
    }
    let msg = err.user_message();
    assert!(
        msg.contains("请稍后再试") && msg.contains("try again") && msg.contains("mock-req-2"),
        "{msg}"
    );

    // A 400 is the caller's fault: no retry.
    mock.inject(Failure::status(400));
    let before = mock.request_count();
    let err = client_for(&mock).complete(ask("hi")).await.unwrap_err();
    assert!(matches!(err, LlmError::Http { status: 400, .. }));
    assert_eq!(mock.request_count() - before, 1);
    Ok(())
}

#[tokio::test]
async fn a_stream_cut_mid_way_is_truncated_not_success() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.push(Script::chunks(["one ", "two ", "three ", "four"]).truncate_after(3));
    let (events, err) = drain(client_for(&mock).stream(ask("hi")).await?).await;
    assert_eq!(
        content(&events),
        "one two ",
        "output before the cut is delivered once"
    );
    assert!(matches!(err, Some(LlmError::Truncated { .. })), "{err:?}");
    assert_eq!(err.unwrap().request_id(), Some("mock-req-0"));
    assert_eq!(
        mock.request_count(),
        1,
        "never retried after output was handed out"
    );

    // A clean end of body without finish_reason or [DONE] is a truncation too.
    mock.push(Script::raw(
        "text/event-stream",
        ["data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}\n\n"],
    ));
    let err = client_for(&mock)
        .stream(ask("hi"))
        .await?
        .collect_response()
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Truncated { .. }), "{err:?}");
    assert!(err.user_message().contains("cut off"));

    // But a finished answer without [DONE] is fine.
    mock.push(Script::text("complete").without_done());
    let r = client_for(&mock)
        .stream(ask("hi"))
        .await?
        .collect_response()
        .await?;
    assert_eq!(r.content, "complete");

    // Non-streamed: half a JSON body. Nothing was handed out, so it is tried again.
    let before = mock.request_count();
    mock.push_all(vec![Script::text("whole answer").truncate_after(1); 3]);
    let err = client_for(&mock).complete(ask("hi")).await.unwrap_err();
    assert!(matches!(err, LlmError::Truncated { .. }), "{err:?}");
    assert_eq!(mock.request_count() - before, 3, "retried while nothing was said");

    // Streamed, cut before the first event (only the role chunk came): retried too.
    mock.push(Script::text("never seen").truncate_after(1));
    mock.push(Script::text("second try"));
    let r = client_for(&mock)
        .stream(ask("hi"))
        .await?
        .collect_response()
        .await?;
    assert_eq!(r.content, "second try");
    Ok(())
}

#[tokio::test]
async fn errors_inside_the_stream_are_typed() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.push(
        Script::chunks(["partial ", "answer"]).then_stream_error(
            json!({"error":{"message":"upstream model crashed","code":"internal_error"},"request_id":"in-body-7"}),
        ),
    );
    let (events, err) = drain(client_for(&mock).stream(ask("hi")).await?).await;
    assert_eq!(content(&events), "partial answer");
    match err {
        Some(LlmError::Provider { code, message, .. }) => {
            assert_eq!(code.as_deref(), Some("internal_error"));
            assert_eq!(message, "upstream model crashed");
        }
        other => panic!("{other:?}"),
    }

    // Content moderation (DashScope's code), as the first event.
    mock.push(Script::stream_error(
        json!({"error":{"message":"Input data may contain inappropriate content.","code":"data_inspection_failed"}}),
    ));
    let err = client_for(&mock).stream(ask("hi")).await.unwrap_err();
    assert!(matches!(err, LlmError::ContentFiltered { .. }), "{err:?}");
    assert!(err.user_message().contains("内容安全审核"));
    Ok(())
}

#[tokio::test]
async fn a_rate_limit_event_before_any_output_is_retried() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.push(Script::stream_error(
        json!({"error":{"message":"Requests rate limit exceeded","code":"rate_limit_exceeded"}}),
    ));
    mock.push(Script::text("second time lucky"));
    let r = client_for(&mock)
        .stream(ask("hi"))
        .await?
        .collect_response()
        .await?;
    assert_eq!(r.content, "second time lucky");
    assert_eq!(mock.request_count(), 2);
    Ok(())
}

#[tokio::test]
async fn auth_header_is_sent_and_the_key_never_leaks() -> anyhow::Result<()> {
    let mock = MockModel::builder().api_key("main", KEY).start().await?;
    client_for(&mock).complete(ask("hi")).await?;
    let rec = mock.last_request().unwrap();
    assert!(rec.auth.present);
    assert_eq!(rec.auth.key_id.as_deref(), Some("main"));

    let wrong_key = "sk-wrong-77e1d2";
    let client = LlmClient::new(
        LlmConfig::custom(mock.base_url(), wrong_key)
            .with_model("m")
            .with_retry(fast_retry()),
    )?;
    let err = client.stream(ask("hi")).await.unwrap_err();
    assert!(matches!(err, LlmError::Auth { status: 401, .. }), "{err:?}");
    assert_eq!(mock.request_count(), 2, "401 is not retried");
    let shown = format!("{err} | {err:?} | {} | {client:?}", err.user_message());
    assert!(!shown.contains(wrong_key), "{shown}");
    assert!(shown.contains("check the API key"));
    assert_eq!(err.request_id(), Some("mock-req-1"));
    Ok(())
}

#[tokio::test]
async fn presets_pointed_at_the_mock_apply_their_quirks() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    let base = format!("http://{}/compatible-mode/v1", mock.addr());
    let qwen = LlmClient::new(LlmConfig::new(ProviderPreset::DashScope, KEY).with_base_url(base))?;
    assert_eq!(qwen.default_model(), Some("qwen-plus"));
    qwen.stream(ask("hi")).await?.collect_response().await?;
    let rec = mock.last_request().unwrap();
    assert_eq!(rec.path, "/compatible-mode/v1/chat/completions");
    assert_eq!(rec.model, "qwen-plus");
    assert_eq!(rec.body["stream_options"]["include_usage"], true);
    qwen.complete(ask("hi")).await?;
    let rec = mock.last_request().unwrap();
    assert_eq!(rec.body["enable_thinking"], false);
    assert!(rec.body.get("stream_options").is_none());

    let custom_extra = ask("hi").with_extra("enable_thinking", json!(true));
    qwen.stream(custom_extra).await?.collect_response().await?;
    assert_eq!(mock.last_request().unwrap().body["enable_thinking"], true);
    Ok(())
}

#[tokio::test]
async fn the_offline_model_answers_any_prompt() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    let client = client_for(&mock);
    for prompt in ["hello", "帮我写一首关于钉钉的诗", "", "a\nmulti-line\nprompt"] {
        let r = client.stream(ask(prompt)).await?.collect_response().await?;
        assert!(r.content.starts_with(OFFLINE_LABEL), "{}", r.content);
        let c = client.complete(ask(prompt)).await?;
        assert_eq!(c.content, r.content, "streamed and not: same answer");
    }
    // With a tool named in the prompt, it calls the tool, then reports the result.
    let tools = vec![ToolSpec {
        name: "get_time".into(),
        description: "Current time".into(),
        parameters: json!({"type":"object","properties":{"zone":{"type":"string"}},"required":["zone"]}),
    }];
    let mut messages = vec![ChatMessage::user("use get_time Asia/Shanghai")];
    let first = client
        .stream(ChatRequest::new("", messages.clone()).with_tools(tools.clone()))
        .await?
        .collect_response()
        .await?;
    assert_eq!(first.tool_calls.len(), 1);
    assert_eq!(first.tool_calls[0].arguments, r#"{"zone":"Asia/Shanghai"}"#);
    messages.push(first.to_message());
    messages.push(ChatMessage::tool(&first.tool_calls[0].id, "12:00 CST"));
    let second = client
        .stream(ChatRequest::new("", messages).with_tools(tools))
        .await?
        .collect_response()
        .await?;
    assert!(second.content.contains("12:00 CST"), "{}", second.content);
    assert!(second.tool_calls.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_slow_first_byte_is_retried_but_a_stall_mid_stream_is_not() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    let timeouts = Timeouts {
        first_byte: Duration::from_millis(200),
        idle: Duration::from_millis(200),
        ..Timeouts::default()
    };
    let client = LlmClient::new(
        LlmConfig::custom(mock.base_url(), KEY)
            .with_model("m")
            .with_retry(fast_retry())
            .with_timeouts(timeouts),
    )?;
    // No bytes at all within the first-byte budget.
    mock.push(Script::text("too slow").delay(Duration::from_secs(3), Duration::ZERO));
    // Headers and the empty role chunk at once, then nothing: still no output, still retried.
    mock.push(Script::chunks(["late"]).delay(Duration::ZERO, Duration::from_secs(3)));
    mock.push(Script::text("on time"));
    let r = client.stream(ask("hi")).await?.collect_response().await?;
    assert_eq!(r.content, "on time");
    assert_eq!(mock.request_count(), 3);

    // Output, then silence: reported, never retried (the user already saw "a").
    let event = |text: &str| {
        format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
    };
    mock.push(
        Script::raw("text/event-stream", [event("a"), event("b")])
            .delay(Duration::ZERO, Duration::from_secs(3)),
    );
    let (events, err) = drain(client.stream(ask("hi")).await?).await;
    assert_eq!(content(&events), "a");
    assert!(
        matches!(
            err,
            Some(LlmError::Timeout {
                phase: TimeoutPhase::Idle,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(mock.request_count(), 4);
    Ok(())
}

#[tokio::test]
async fn odd_but_valid_sse_is_understood() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    // CRLF line ends, comments, a JSON event split over two `data:` lines, an event split
    // across body chunks, an empty-choices chunk, and usage inside the choice (Kimi).
    mock.push(Script::raw(
        "text/event-stream; charset=utf-8",
        [
            ": keep-alive\r\n\r\n".to_owned(),
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\r\ndata: \"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n".to_owned(),
            "data: {\"choices\":[]}\r\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"con".to_owned(),
            "tent\":\" there\"},\"finish_reason\":\"stop\",\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}]}\r\n\r\n".to_owned(),
            "data: [DONE]\r\n\r\n".to_owned(),
        ],
    ));
    let r = client_for(&mock)
        .stream(ask("hi"))
        .await?
        .collect_response()
        .await?;
    assert_eq!(r.content, "Hi there");
    assert_eq!(r.usage.map(|u| u.completion_tokens), Some(2));
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));

    // A provider that ignores `stream: true` and answers with plain JSON.
    mock.push(Script::raw(
        "application/json",
        [r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}]}"#],
    ));
    let r = client_for(&mock)
        .stream(ask("hi"))
        .await?
        .collect_response()
        .await?;
    assert_eq!(r.content, "whole");

    // Garbage is a decode error, with a snippet for the logs.
    mock.push(Script::raw("text/event-stream", ["data: <html>oops</html>\n\n"]));
    let err = client_for(&mock).stream(ask("hi")).await.unwrap_err();
    assert!(matches!(err, LlmError::Decode { .. }), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() -> anyhow::Result<()> {
    // A port that was free a moment ago and has no listener now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let client = LlmClient::new(
        LlmConfig::custom(format!("http://127.0.0.1:{port}/v1"), KEY)
            .with_model("m")
            .with_retry(fast_retry()),
    )?;
    let started = Instant::now();
    let err = client.complete(ask("hi")).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Transport { connect: true, .. }),
        "{err:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "two backoff waits"
    );
    assert!(err.user_message().contains("无法连接"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_streams() -> anyhow::Result<()> {
    let mock = MockModel::builder().zero_delay().record(false).start().await?;
    let client = client_for(&mock);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let r = client
                    .stream(ask(&format!("prompt {i}")))
                    .await?
                    .collect_response()
                    .await?;
                anyhow::ensure!(r.content.contains(&format!("prompt {i}")));
                Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    assert_eq!(mock.request_count(), 200);
    Ok(())
}
