//! Markdown to HTML for the console (agent answers in transcripts and WebChat), with
//! pulldown-cmark's parser (already used for DingTalk's markdown) and this small writer.
//!
//! Nothing in the text can become markup of its own: raw HTML is shown as text, links keep
//! only `http`, `https` and `mailto` targets, and images are shown as links (the page loads
//! nothing from elsewhere).

use std::fmt::Write;

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// `text` (CommonMark with tables, strikethrough and task lists) as HTML.
pub(crate) fn to_html(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut writer = Writer::default();
    for event in Parser::new_ext(text, options) {
        writer.event(event);
    }
    writer.out
}

#[derive(Default)]
struct Writer {
    out: String,
    /// The closing markup of each open element, innermost last.
    closing: Vec<&'static str>,
    /// Column alignments of the table being written.
    alignments: Vec<Alignment>,
    /// Inside the table's head row (cells are `th`).
    in_head: bool,
    /// The next cell's column.
    column: usize,
}

impl Writer {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(end) => self.end(&end),
            Event::Text(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                escape(&mut self.out, &text);
            }
            Event::Html(text) | Event::InlineHtml(text) => escape(&mut self.out, &text),
            Event::Code(code) => {
                self.out.push_str("<code>");
                escape(&mut self.out, &code);
                self.out.push_str("</code>");
            }
            Event::FootnoteReference(name) => {
                self.out.push_str("<sup>");
                escape(&mut self.out, &name);
                self.out.push_str("</sup>");
            }
            Event::SoftBreak => self.out.push('\n'),
            Event::HardBreak => self.out.push_str("<br>"),
            Event::Rule => self.out.push_str("<hr>"),
            Event::TaskListMarker(done) => self.out.push_str(if done {
                "<input type=\"checkbox\" checked disabled> "
            } else {
                "<input type=\"checkbox\" disabled> "
            }),
        }
    }

    fn open(&mut self, markup: &str, closing: &'static str) {
        self.out.push_str(markup);
        self.closing.push(closing);
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.open("<p>", "</p>"),
            Tag::Heading { level, .. } => {
                let (open, close) = heading(level);
                self.open(open, close);
            }
            Tag::BlockQuote(_) => self.open("<blockquote>", "</blockquote>"),
            Tag::CodeBlock(kind) => {
                self.out.push_str("<pre><code");
                if let CodeBlockKind::Fenced(info) = kind
                    && let Some(language) = info.split_whitespace().next()
                {
                    self.out.push_str(" class=\"language-");
                    escape(&mut self.out, language);
                    self.out.push('"');
                }
                self.out.push('>');
                self.closing.push("</code></pre>");
            }
            Tag::List(Some(first)) if first != 1 => {
                let _ = write!(self.out, "<ol start=\"{first}\">");
                self.closing.push("</ol>");
            }
            Tag::List(Some(_)) => self.open("<ol>", "</ol>"),
            Tag::List(None) => self.open("<ul>", "</ul>"),
            Tag::Item => self.open("<li>", "</li>"),
            Tag::Table(alignments) => {
                self.alignments = alignments;
                self.open("<table class=\"md\">", "</tbody></table>");
            }
            Tag::TableHead => {
                self.in_head = true;
                self.column = 0;
                self.open("<thead><tr>", "</tr></thead><tbody>");
            }
            Tag::TableRow => {
                self.column = 0;
                self.open("<tr>", "</tr>");
            }
            Tag::TableCell => {
                let cell = if self.in_head { "th" } else { "td" };
                let align = match self.alignments.get(self.column) {
                    Some(Alignment::Left) => " style=\"text-align:left\"",
                    Some(Alignment::Center) => " style=\"text-align:center\"",
                    Some(Alignment::Right) => " style=\"text-align:right\"",
                    _ => "",
                };
                let _ = write!(self.out, "<{cell}{align}>");
                self.closing.push(if self.in_head { "</th>" } else { "</td>" });
                self.column += 1;
            }
            Tag::Emphasis => self.open("<em>", "</em>"),
            Tag::Strong => self.open("<strong>", "</strong>"),
            Tag::Strikethrough => self.open("<del>", "</del>"),
            Tag::Superscript => self.open("<sup>", "</sup>"),
            Tag::Subscript => self.open("<sub>", "</sub>"),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                if safe_link(&dest_url) {
                    self.out.push_str("<a rel=\"noopener noreferrer\" href=\"");
                    escape(&mut self.out, &dest_url);
                    self.out.push_str("\">");
                    self.closing.push("</a>");
                } else {
                    self.open("<span>", "</span>");
                }
            }
            // Raw HTML blocks arrive as `Event::Html` (escaped); the rest are not enabled.
            _ => self.open("<div>", "</div>"),
        }
    }

    fn end(&mut self, end: &TagEnd) {
        if matches!(end, TagEnd::TableHead) {
            self.in_head = false;
        }
        if let Some(closing) = self.closing.pop() {
            self.out.push_str(closing);
        }
    }
}

fn heading(level: HeadingLevel) -> (&'static str, &'static str) {
    // Answers sit inside the page under its own `h1`: their headings start one lower.
    match level {
        HeadingLevel::H1 => ("<h2>", "</h2>"),
        HeadingLevel::H2 => ("<h3>", "</h3>"),
        HeadingLevel::H3 => ("<h4>", "</h4>"),
        HeadingLevel::H4 => ("<h5>", "</h5>"),
        HeadingLevel::H5 | HeadingLevel::H6 => ("<h6>", "</h6>"),
    }
}

fn safe_link(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_code_and_inline_markup() {
        let html = to_html(
            "# Report\n\n| name | n |\n|:--|--:|\n| a | **1** |\n\n```rust\nlet x = 1 < 2;\n```\n\n- one\n- `two`\n",
        );
        assert!(html.contains("<h2>Report</h2>"), "{html}");
        assert!(
            html.contains(
                "<table class=\"md\"><thead><tr><th style=\"text-align:left\">name</th><th style=\"text-align:right\">n</th></tr></thead><tbody><tr><td style=\"text-align:left\">a</td><td style=\"text-align:right\"><strong>1</strong></td></tr></tbody></table>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<pre><code class=\"language-rust\">let x = 1 &lt; 2;\n</code></pre>"),
            "{html}"
        );
        assert!(
            html.contains("<ul><li>one</li><li><code>two</code></li></ul>"),
            "{html}"
        );
    }

    #[test]
    fn html_and_scripts_stay_text() {
        let html = to_html(
            "<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)> [x](javascript:alert(1)) ![p](https://e.example/p.png)",
        );
        assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(
            html.contains("<a rel=\"noopener noreferrer\" href=\"https://e.example/p.png\">p</a>"),
            "{html}"
        );
    }

    #[test]
    fn numbered_lists_keep_their_start() {
        assert_eq!(to_html("3. c\n4. d"), "<ol start=\"3\"><li>c</li><li>d</li></ol>");
    }
}
