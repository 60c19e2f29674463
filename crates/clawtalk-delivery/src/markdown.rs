//! The model's markdown (CommonMark + GFM) rewritten into what DingTalk's markdown renders.
//!
//! DingTalk markdown messages (sessionWebhook / custom robot `markdown`, robot API
//! `sampleMarkdown`, action-card text) render headings, bold, italics, links, images,
//! ordered/unordered lists, quotes and (partly) fenced code, and nothing else (protocol §4.4).
//! So, parsed with `pulldown-cmark` and written back out:
//!
//! - **Tables** become one bullet per row, `- **Header**: cell · **Header**: cell` (DingTalk
//!   shows pipe tables as raw pipes).
//! - **Nested lists** keep `-`/`1.` only at the top level; deeper items are indented with
//!   full-width spaces (DingTalk collapses ASCII indentation) and marked `•`, `◦`, `▪`, or
//!   with their number.
//! - **Task lists** get ☐/☑, **footnotes** `[label]`, **GFM alerts** a bold label.
//! - **Code blocks** are always fenced (with backticks unless the info string has some) long
//!   enough for their content; code is kept verbatim, and never indented, so the fence still
//!   opens a block inside a list.
//! - **HTML** is reduced to its text (`<br>` and block ends become line breaks).
//! - Setext headings, `*`/`_` emphasis, autolinks and indented code come out in the one
//!   spelling DingTalk reads.
//! - **Links and images** to anything but `http(s)://` (`javascript:`, `data:`, `file:`, …)
//!   keep only their text ([`links`]).
//!
//! Nothing the reader could see is dropped: if the conversion ever came out empty for a
//! non-blank input, the input is sent as is.
//!
//! AI card content is *not* converted: a card's markdown component is a different renderer,
//! and a streamed card must end with exactly the model's text (see `delivery::card`).

pub mod links;

use pulldown_cmark::{BlockQuoteKind, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Indentation of one nesting level: DingTalk drops leading ASCII spaces, not U+3000.
const INDENT: &str = "\u{3000}\u{3000}";

/// Rewrites `markdown` into DingTalk's markdown subset.
#[must_use]
pub fn to_dingtalk(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM;
    let mut writer = Writer::default();
    for event in Parser::new_ext(markdown, options) {
        writer.event(event);
    }
    let out = writer.finish();
    if out.trim().is_empty() && !markdown.trim().is_empty() {
        return markdown.to_owned();
    }
    out
}

/// A container being written; its text is placed into the parent when it ends.
enum Frame {
    Root,
    Paragraph,
    Heading(HeadingLevel),
    Quote(Option<BlockQuoteKind>),
    List { next: Option<u64> },
    Item { marker: String },
    Code { lang: String },
    Html,
    Table(Table),
    Cell,
    Footnote(String),
}

#[derive(Default)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    row: Vec<String>,
}

struct Open {
    frame: Frame,
    buf: String,
}

struct Writer {
    stack: Vec<Open>,
    /// Link and image targets, closed by their end events; `None` for a dropped target.
    links: Vec<Option<String>>,
}

impl Default for Writer {
    fn default() -> Self {
        Self {
            stack: vec![Open {
                frame: Frame::Root,
                buf: String::new(),
            }],
            links: Vec::new(),
        }
    }
}

impl Writer {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.write(&text),
            Event::Code(code) => {
                let code = inline_code(&code);
                self.write(&code);
            }
            Event::InlineMath(math) | Event::DisplayMath(math) => self.write(&math),
            Event::Html(html) | Event::InlineHtml(html) => {
                if matches!(self.top().frame, Frame::Html | Frame::Code { .. }) {
                    self.write(&html);
                } else {
                    let text = strip_html(&html);
                    self.write(&text);
                }
            }
            Event::FootnoteReference(label) => self.write(&format!("[{label}]")),
            Event::SoftBreak | Event::HardBreak => self.write("\n"),
            Event::Rule => self.block("---".to_owned()),
            Event::TaskListMarker(done) => self.write(if done { "☑ " } else { "☐ " }),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        let frame = match tag {
            Tag::Paragraph => Frame::Paragraph,
            Tag::Heading { level, .. } => Frame::Heading(level),
            Tag::BlockQuote(kind) => Frame::Quote(kind),
            Tag::CodeBlock(kind) => Frame::Code {
                lang: match kind {
                    CodeBlockKind::Fenced(info) => info.trim().to_owned(),
                    CodeBlockKind::Indented => String::new(),
                },
            },
            Tag::HtmlBlock => Frame::Html,
            Tag::List(first) => Frame::List { next: first },
            Tag::Item => Frame::Item {
                marker: self.item_marker(),
            },
            Tag::FootnoteDefinition(label) => Frame::Footnote(label.to_string()),
            Tag::Table(_) => Frame::Table(Table::default()),
            Tag::TableCell => Frame::Cell,
            // Rows are collected by the table itself; definition lists (not enabled) and
            // metadata blocks (not enabled) would land here too and keep their text.
            Tag::TableHead
            | Tag::TableRow
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_)
            | Tag::Superscript
            | Tag::Subscript => return,
            Tag::Emphasis => return self.write("*"),
            Tag::Strong => return self.write("**"),
            Tag::Strikethrough => return self.write("~~"),
            // A link or image to anything but http(s) keeps only its text (see `links`).
            Tag::Link { dest_url, .. } => {
                let safe = links::is_safe(&dest_url).then(|| dest_url.to_string());
                let open = if safe.is_some() { "[" } else { "" };
                self.links.push(safe);
                return self.write(open);
            }
            Tag::Image { dest_url, .. } => {
                let safe = links::is_safe(&dest_url).then(|| dest_url.to_string());
                let open = if safe.is_some() { "![" } else { "" };
                self.links.push(safe);
                return self.write(open);
            }
        };
        self.stack.push(Open {
            frame,
            buf: String::new(),
        });
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Emphasis => return self.write("*"),
            TagEnd::Strong => return self.write("**"),
            TagEnd::Strikethrough => return self.write("~~"),
            TagEnd::Link | TagEnd::Image => {
                if let Some(Some(dest)) = self.links.pop() {
                    self.write(&format!("]({dest})"));
                }
                return;
            }
            TagEnd::TableHead => {
                if let Frame::Table(t) = &mut self.top_mut().frame {
                    t.header = std::mem::take(&mut t.row);
                }
                return;
            }
            TagEnd::TableRow => {
                if let Frame::Table(t) = &mut self.top_mut().frame {
                    let row = std::mem::take(&mut t.row);
                    t.rows.push(row);
                }
                return;
            }
            TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::MetadataBlock(_)
            | TagEnd::Superscript
            | TagEnd::Subscript => return,
            _ => {}
        }
        // Every other end closes the frame its start opened; the root is never popped.
        if self.stack.len() < 2 {
            return;
        }
        let Some(Open { frame, buf }) = self.stack.pop() else {
            return;
        };
        match frame {
            Frame::Root => {}
            Frame::Paragraph => self.block(buf),
            Frame::Heading(level) => {
                let hashes = "#".repeat(level as usize);
                let text = buf.trim().replace('\n', " ");
                self.block(format!("{hashes} {text}"));
            }
            Frame::Quote(kind) => {
                let mut text = String::new();
                if let Some(kind) = kind {
                    text.push_str(&format!("**{}**\n", alert_label(kind)));
                }
                text.push_str(buf.trim_end());
                self.block(prefix_lines(&text, "> ", ">"));
            }
            Frame::List { .. } => self.block(buf),
            Frame::Item { marker } => {
                let body = buf.trim_end();
                let text = format!("{marker}{}", indent_continuation(body));
                let list = self.top_mut();
                if !list.buf.is_empty() {
                    list.buf.push('\n');
                }
                list.buf.push_str(&text);
            }
            Frame::Code { lang } => {
                // A backtick fence cannot carry an info string with backticks in it.
                let c = if lang.contains('`') { '~' } else { '`' };
                let fence = c.to_string().repeat(longest_run(&buf, c).max(2) + 1);
                let newline = if buf.ends_with('\n') { "" } else { "\n" };
                self.block(format!("{fence}{lang}\n{buf}{newline}{fence}"));
            }
            Frame::Html => {
                let text = strip_html(&buf);
                let text = text.trim();
                if !text.is_empty() {
                    self.block(text.to_owned());
                }
            }
            Frame::Cell => {
                if let Frame::Table(t) = &mut self.top_mut().frame {
                    t.row.push(buf.trim().replace('\n', " "));
                }
            }
            Frame::Table(table) => {
                let text = table_rows(&table);
                if !text.is_empty() {
                    self.block(text);
                }
            }
            Frame::Footnote(label) => self.block(format!("[{label}]: {}", buf.trim())),
        }
    }

    /// The marker of an item starting in the list on top of the stack.
    fn item_marker(&mut self) -> String {
        let depth = self
            .stack
            .iter()
            .filter(|o| matches!(o.frame, Frame::List { .. }))
            .count();
        let Frame::List { next } = &mut self.top_mut().frame else {
            return "- ".to_owned();
        };
        match next {
            Some(n) => {
                let marker = format!("{n}. ");
                *n = n.saturating_add(1);
                marker
            }
            None if depth <= 1 => "- ".to_owned(),
            None => match depth {
                2 => "• ",
                3 => "◦ ",
                _ => "▪ ",
            }
            .to_owned(),
        }
    }

    /// Appends a finished block to the enclosing container, separated from what is there.
    fn block(&mut self, text: String) {
        let top = self.top_mut();
        // Inside a list item blocks follow each other line by line (a tight item's text and
        // its sub-list); everywhere else a blank line separates them.
        let sep = if matches!(top.frame, Frame::Item { .. }) {
            "\n"
        } else {
            "\n\n"
        };
        if !top.buf.is_empty() && !top.buf.ends_with(sep) {
            let trimmed = top.buf.trim_end_matches('\n').len();
            top.buf.truncate(trimmed);
            top.buf.push_str(sep);
        }
        top.buf.push_str(&text);
    }

    fn write(&mut self, text: &str) {
        self.top_mut().buf.push_str(text);
    }

    fn top(&self) -> &Open {
        // The root frame is pushed at construction and never popped.
        &self.stack[self.stack.len() - 1]
    }

    fn top_mut(&mut self) -> &mut Open {
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn finish(mut self) -> String {
        // Unbalanced events cannot come from pulldown-cmark, but fold any leftovers anyway.
        while self.stack.len() > 1 {
            if let Some(open) = self.stack.pop() {
                self.block(open.buf);
            }
        }
        let root = self.stack.pop().map(|o| o.buf).unwrap_or_default();
        root.trim_end_matches('\n').to_owned()
    }
}

fn alert_label(kind: BlockQuoteKind) -> &'static str {
    match kind {
        BlockQuoteKind::Note => "Note",
        BlockQuoteKind::Tip => "Tip",
        BlockQuoteKind::Important => "Important",
        BlockQuoteKind::Warning => "Warning",
        BlockQuoteKind::Caution => "Caution",
    }
}

/// `- **H**: cell · **H**: cell` per row (an empty cell under a header shows as `—`, so a
/// column header is never lost); a header-only table becomes one bold line.
fn table_rows(table: &Table) -> String {
    if table.rows.is_empty() {
        let cells: Vec<String> = table
            .header
            .iter()
            .filter(|h| !h.is_empty())
            .map(|h| format!("**{h}**"))
            .collect();
        return cells.join(" · ");
    }
    table
        .rows
        .iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .filter_map(|(i, cell)| match table.header.get(i).filter(|h| !h.is_empty()) {
                    Some(h) if cell.is_empty() => Some(format!("**{h}**: —")),
                    Some(h) => Some(format!("**{h}**: {cell}")),
                    None if cell.is_empty() => None,
                    None => Some(cell.clone()),
                })
                .collect();
            format!("- {}", cells.join(" · "))
        })
        .filter(|line| line.len() > 2)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prefixes every line (`empty` for blank ones).
fn prefix_lines(text: &str, prefix: &str, empty: &str) -> String {
    text.split('\n')
        .map(|line| {
            if line.is_empty() {
                empty.to_owned()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Indents every line after the first one level, except inside fenced code (an indented
/// fence would no longer open a code block).
fn indent_continuation(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 16);
    let mut fence: Option<(char, usize)> = None;
    for (i, line) in body.split('\n').enumerate() {
        let marker = fence_marker(line);
        if i > 0 {
            out.push('\n');
            if fence.is_none() && marker.is_none() && !line.is_empty() {
                out.push_str(INDENT);
            }
        }
        out.push_str(line);
        match (fence, marker) {
            (Some((c, open)), Some((m, run)))
                if m == c && run >= open && line.trim_start_matches(c).trim().is_empty() =>
            {
                fence = None;
            }
            (None, Some(marker)) => fence = Some(marker),
            _ => {}
        }
    }
    out
}

/// The fence character and run length a line starts with, when it is a fence line.
fn fence_marker(line: &str) -> Option<(char, usize)> {
    let c = line.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let run = line.len() - line.trim_start_matches(c).len();
    (run >= 3).then_some((c, run))
}

/// Inline code in enough backticks that its own backticks cannot close it.
fn inline_code(code: &str) -> String {
    let ticks = "`".repeat(longest_run(code, '`') + 1);
    let pad = if code.starts_with('`') || code.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{code}{pad}{ticks}")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// The text of an HTML fragment: tags removed, line-breaking tags turned into newlines, the
/// common entities decoded. A `<` that does not open a tag is kept.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let opens_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        match after.find('>').filter(|_| opens_tag) {
            Some(end) => {
                let tag = after[..end].trim_start_matches('/').to_ascii_lowercase();
                let name = tag
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("");
                if matches!(
                    name,
                    "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
                ) && (name == "br" || after.starts_with('/'))
                {
                    out.push('\n');
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    decode_entities(&out)
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests;
