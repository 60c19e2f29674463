//! The mock's wire behaviour, checked with a plain HTTP client (the clawtalk client's tests
//! against the mock live in `crates/clawtalk/tests/llm_client.rs`).

use std::time::{Duration, Instant};

use llm_mock::{Failure, MockModel, OFFLINE_LABEL, Script, Synthetic};
use serde_json::{Value, json};

fn body(prompt: &str, stream: bool) -> Value {
    json!({"model": "m1", "stream": stream, "messages": [{"role": "user", "content": prompt}]})
}

async fn post(mock: &MockModel, path: &str, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut rb = dingtalk::tls::client_builder()
        .build()
        .unwrap()
        .post(format!("http://{}{path}", mock.addr()))
        .json(body);
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    rb.send().await.expect("mock reachable")
}

/// The `data:` payloads of an SSE body.
fn data_lines(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn streams_openai_chunks_and_done() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.push(Script::chunks(["Hel", "lo"]).usage(5, 2));
    let r = post(&mock, "/v1/chat/completions", Some("sk-1"), &body("hi", true)).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["x-request-id"], "mock-req-0");
    let lines = data_lines(&r.text().await?);
    assert_eq!(lines.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"));
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 5);
    assert_eq!(chunks[0]["model"], "m1");
    Ok(())
}

#[tokio::test]
async fn non_streamed_reply_with_tool_call_under_any_prefix() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.push(Script::tool_call("get_weather", r#"{"city":"杭州"}"#));
    let r = post(
        &mock,
        "/compatible-mode/v1/chat/completions",
        None,
        &body("weather?", false),
    )
    .await;
    let v: Value = r.json().await?;
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_0");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"city":"杭州"}"#);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let rec = mock.last_request().unwrap();
    assert_eq!(rec.path, "/compatible-mode/v1/chat/completions");
    assert!(!rec.auth.present);
    let r = post(&mock, "/v1/embeddings", None, &body("x", false)).await;
    assert_eq!(r.status(), 404);
    Ok(())
}

#[tokio::test]
async fn offline_model_answers_without_a_script() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    let r = post(&mock, "/v1/chat/completions", None, &body("你好 world", false)).await;
    let v: Value = r.json().await?;
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.starts_with(OFFLINE_LABEL), "{text}");
    assert!(text.contains("“你好 world”"));
    Ok(())
}

#[tokio::test]
async fn matchers_skip_unrelated_requests() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.push(Script::text("sunny").when_last_user_contains("weather"));
    let v: Value = post(&mock, "/v1/chat/completions", None, &body("hello", false))
        .await
        .json()
        .await?;
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("offline")
    );
    assert_eq!(mock.pending_scripts(), 1);
    let v: Value = post(&mock, "/v1/chat/completions", None, &body("the weather?", false))
        .await
        .json()
        .await?;
    assert_eq!(v["choices"][0]["message"]["content"], "sunny");
    assert_eq!(mock.pending_scripts(), 0);
    Ok(())
}

#[tokio::test]
async fn registered_keys_failures_per_key_and_records() -> anyhow::Result<()> {
    let mock = MockModel::builder()
        .api_key("a", "sk-key-a")
        .api_key("b", "sk-key-b")
        .start()
        .await?;
    mock.inject(
        Failure::rate_limited(Duration::from_millis(1500))
            .times(2)
            .for_key("a"),
    );
    let url = "/v1/chat/completions";
    let r = post(&mock, url, Some("sk-key-a"), &body("x", false)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.headers()["retry-after-ms"], "1500");
    assert_eq!(
        post(&mock, url, Some("sk-key-b"), &body("x", false))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&mock, url, Some("sk-key-a"), &body("x", false))
            .await
            .status(),
        429
    );
    assert_eq!(
        post(&mock, url, Some("sk-key-a"), &body("x", false))
            .await
            .status(),
        200
    );
    let r = post(&mock, url, Some("sk-wrong"), &body("x", false)).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.text().await?.contains("sk-wrong"),
        "echoes the key, as some providers do"
    );

    let recs = mock.requests();
    assert_eq!(recs.len(), 5);
    let ids: Vec<Option<&str>> = recs.iter().map(|r| r.auth.key_id.as_deref()).collect();
    assert_eq!(ids, [Some("a"), Some("b"), Some("a"), Some("a"), None]);
    assert!(
        recs.iter()
            .all(|r| r.auth.present && r.header("authorization").is_none())
    );
    Ok(())
}

#[tokio::test]
async fn truncation_cuts_the_connection() -> anyhow::Result<()> {
    let mock = MockModel::start().await?;
    mock.push(Script::text("a fairly long answer that will not arrive").truncate_after(2));
    let r = post(&mock, "/v1/chat/completions", None, &body("x", true)).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.is_err(),
        "the body must end with an error, not cleanly"
    );
    Ok(())
}

#[tokio::test]
async fn delays_apply_unless_zero_delay() -> anyhow::Result<()> {
    let script =
        || Script::chunks(["a", "b", "c"]).delay(Duration::from_millis(100), Duration::from_millis(50));
    let mock = MockModel::start().await?;
    mock.push(script());
    let t = Instant::now();
    post(&mock, "/v1/chat/completions", None, &body("x", true))
        .await
        .text()
        .await?;
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());

    let fast = MockModel::builder().zero_delay().record(false).start().await?;
    fast.push(script());
    let t = Instant::now();
    post(&fast, "/v1/chat/completions", None, &body("x", true))
        .await
        .text()
        .await?;
    assert!(t.elapsed() < Duration::from_millis(100));
    assert!(fast.requests().is_empty());
    assert_eq!(fast.request_count(), 1);
    Ok(())
}

#[tokio::test]
async fn answer_delay_holds_back_offline_answers() -> anyhow::Result<()> {
    let slow = MockModel::builder()
        .answer_delay(Duration::from_millis(300))
        .start()
        .await?;
    let t = Instant::now();
    let text = post(&slow, "/v1/chat/completions", None, &body("load 7", false))
        .await
        .text()
        .await?;
    assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
    assert!(
        text.contains("load 7"),
        "the answer still echoes the prompt: {text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_many_concurrent_requests() -> anyhow::Result<()> {
    let mock = MockModel::builder().zero_delay().record(false).start().await?;
    let client = dingtalk::tls::client_builder().build().unwrap();
    let url = format!("{}/chat/completions", mock.base_url());
    let t = Instant::now();
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&body(&format!("n{i}"), i % 2 == 0))
                    .send()
                    .await?;
                r.text().await
            })
        })
        .collect();
    for t in tasks {
        let text = t.await??;
        assert!(text.contains("offline"));
    }
    assert_eq!(mock.request_count(), 400);
    let per_sec = 400.0 / t.elapsed().as_secs_f64();
    eprintln!("llm-mock: 400 requests (client included, debug build) at {per_sec:.0}/s");
    // Generous bound for a debug build on two shared cores; catches lock convoys, not speed.
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    Ok(())
}

#[tokio::test]
async fn answer_times_cover_each_completion_and_include_its_delay() -> anyhow::Result<()> {
    let mock = MockModel::builder().time_answers(true).start().await?;
    mock.push(Script::text("slow").delay(Duration::from_millis(30), Duration::ZERO));
    post(&mock, "/v1/chat/completions", None, &body("one", false)).await;
    post(&mock, "/v1/chat/completions", None, &body("two", true)).await;
    // Not a completion: not timed.
    dingtalk::tls::client_builder()
        .build()
        .unwrap()
        .get(format!("http://{}/v1/models", mock.addr()))
        .send()
        .await?;
    let times = mock.take_answer_times();
    assert_eq!(times.len(), 2, "{times:?}");
    assert!(times[0] >= Duration::from_millis(30), "{times:?}");
    assert!(
        mock.take_answer_times().is_empty(),
        "taking them empties the list"
    );

    let untimed = MockModel::start().await?;
    post(&untimed, "/v1/chat/completions", None, &body("three", false)).await;
    assert!(untimed.take_answer_times().is_empty());
    Ok(())
}

#[tokio::test]
async fn synthetic_answers_quote_the_question_at_the_set_pace() -> anyhow::Result<()> {
    let mock = MockModel::builder()
        .synthetic(Synthetic {
            first_token: Duration::from_millis(150),
            tokens_per_second: 200.0,
            tokens: 20,
        })
        .start()
        .await?;
    let started = Instant::now();
    let r = post(&mock, "/v1/chat/completions", None, &body("user 7 asks", true)).await;
    let lines = data_lines(&r.text().await?);
    let took = started.elapsed();
    let text: String = lines[..lines.len() - 1]
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert!(text.starts_with("re: user 7 asks ·"), "{text}");
    assert_eq!(text.matches(" w").count(), 20, "{text}");
    // 150 ms to the first token, then 20 gaps of 5 ms.
    assert!(took >= Duration::from_millis(240), "{took:?}");
    Ok(())
}
