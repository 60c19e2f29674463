//! A small DingTalk-like chat page at `/` (plain HTML + JS over the control API).

use axum::response::Html;

const PAGE: &str = include_str!("chat.html");

pub(crate) async fn page() -> Html<&'static str> {
    Html(PAGE)
}
