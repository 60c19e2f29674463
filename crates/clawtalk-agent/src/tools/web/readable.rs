//! The readable text of an HTML page: what a person reads, without scripts, styles,
//! navigation, page headers and footers, forms or hidden parts. Headings stay marked
//! (`## …`), list items start with `- ` (or their number), table rows keep their cells on one
//! line separated by ` | `, preformatted text keeps its spacing, and everything else is
//! paragraphs. When a page marks its main content (`<main>`, one `<article>`), only that is read.

use scraper::{ElementRef, Html, Node, Selector};

/// A page's title and readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readable {
    /// The `<title>`, whitespace collapsed; `None` when absent or empty.
    pub title: Option<String>,
    /// The text.
    pub text: String,
}

/// Elements whose content is never page text.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "head", "nav", "header", "footer", "aside", "form", "button",
    "select", "option", "textarea", "input", "svg", "canvas", "iframe", "object", "embed", "audio", "video",
    "map", "dialog",
];

/// Elements that start a new line or paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "body",
    "blockquote",
    "figure",
    "figcaption",
    "dl",
    "dt",
    "dd",
    "address",
    "details",
    "summary",
    "hr",
    "center",
    "fieldset",
    "caption",
    "ul",
    "ol",
    "table",
    "thead",
    "tbody",
    "tfoot",
];

/// Nesting deeper than this is read as plain text: a hostile page cannot exhaust the stack.
const MAX_DEPTH: usize = 200;

/// Extracts the readable text of `html`.
#[must_use]
pub fn readable(html: &str) -> Readable {
    let document = Html::parse_document(html);
    let title = select_first(&document, "title")
        .map(|t| collapse(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let articles: Vec<_> = select_all(&document, "article");
    let root = select_first(&document, "main")
        .or_else(|| (articles.len() == 1).then(|| articles[0]))
        .or_else(|| select_first(&document, "body"))
        .unwrap_or_else(|| document.root_element());
    let mut out = Writer::default();
    walk(root, &mut out, 0);
    Readable {
        title,
        text: out.finish(),
    }
}

fn select_first<'a>(document: &'a Html, css: &str) -> Option<ElementRef<'a>> {
    let selector = Selector::parse(css).ok()?;
    document.select(&selector).next()
}

fn select_all<'a>(document: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    Selector::parse(css)
        .map(|selector| document.select(&selector).collect())
        .unwrap_or_default()
}

fn hidden(element: &ElementRef<'_>) -> bool {
    let e = element.value();
    e.attr("hidden").is_some()
        || e.attr("aria-hidden") == Some("true")
        || matches!(e.attr("role"), Some("navigation" | "banner" | "contentinfo"))
        || e.attr("style")
            .is_some_and(|s| s.replace(' ', "").to_ascii_lowercase().contains("display:none"))
}

fn walk(element: ElementRef<'_>, out: &mut Writer, depth: usize) {
    let name = element.value().name();
    if SKIPPED.contains(&name) || hidden(&element) {
        return;
    }
    if depth > MAX_DEPTH {
        out.inline(&element.text().collect::<String>());
        return;
    }
    match name {
        "br" => out.line_break(),
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level = usize::from(name.as_bytes()[1] - b'0');
            out.paragraph();
            out.raw(&"#".repeat(level));
            out.raw(" ");
            children(element, out, depth);
            out.paragraph();
        }
        "li" => {
            out.line_break();
            let marker = list_marker(&element);
            out.raw(&marker);
            children(element, out, depth);
            out.line_break();
        }
        "tr" => {
            out.line_break();
            let mut first = true;
            for cell in element.child_elements() {
                if !matches!(cell.value().name(), "td" | "th") || hidden(&cell) {
                    continue;
                }
                if !first {
                    out.raw(" | ");
                }
                first = false;
                children(cell, out, depth + 1);
            }
            out.line_break();
        }
        "pre" => {
            out.paragraph();
            out.raw(element.text().collect::<String>().trim_end());
            out.paragraph();
        }
        "img" => {
            if let Some(alt) = element
                .value()
                .attr("alt")
                .map(str::trim)
                .filter(|a| !a.is_empty())
            {
                out.inline(&format!("[{alt}]"));
            }
        }
        _ if BLOCKS.contains(&name) => {
            out.paragraph();
            children(element, out, depth);
            out.paragraph();
        }
        _ => children(element, out, depth),
    }
}

fn children(element: ElementRef<'_>, out: &mut Writer, depth: usize) {
    for child in element.children() {
        match child.value() {
            Node::Text(text) => out.inline(text),
            Node::Element(_) => {
                if let Some(child) = ElementRef::wrap(child) {
                    walk(child, out, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// `- ` in an unordered list, `n. ` in an ordered one (counting from its `start`).
fn list_marker(item: &ElementRef<'_>) -> String {
    let Some(list) = item.parent().and_then(ElementRef::wrap) else {
        return "- ".to_owned();
    };
    if list.value().name() != "ol" {
        return "- ".to_owned();
    }
    let start: i64 = list
        .value()
        .attr("start")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1);
    let before = item
        .prev_siblings()
        .filter_map(ElementRef::wrap)
        .filter(|e| e.value().name() == "li")
        .count();
    format!("{}. ", start + i64::try_from(before).unwrap_or(0))
}

/// Collapses runs of whitespace into one space.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds the text: inline runs collapse their whitespace; breaks are kept as the strongest
/// one asked for since the last text, so nested blocks give one blank line, not many.
#[derive(Default)]
struct Writer {
    text: String,
    /// 0: none, 1: new line, 2: blank line, waiting for the next text.
    pending: u8,
    /// The last character written was a space (or the line is empty).
    after_space: bool,
}

impl Writer {
    fn line_break(&mut self) {
        self.pending = self.pending.max(1);
    }

    fn paragraph(&mut self) {
        self.pending = 2;
    }

    fn flush_break(&mut self) {
        if self.pending > 0 && !self.text.is_empty() {
            let trimmed = self.text.trim_end_matches(' ').len();
            self.text.truncate(trimmed);
            self.text.push_str(if self.pending == 2 { "\n\n" } else { "\n" });
            self.after_space = true;
        }
        self.pending = 0;
        if self.text.is_empty() {
            self.after_space = true;
        }
    }

    /// Text as it is (markers, preformatted blocks).
    fn raw(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.flush_break();
        self.text.push_str(s);
        self.after_space = s.ends_with([' ', '\n']);
    }

    /// Flowing text: whitespace runs become one space, none at the start of a line.
    fn inline(&mut self, s: &str) {
        let mut words = s.split_whitespace().peekable();
        if words.peek().is_none() {
            if !s.is_empty() && !self.after_space && self.pending == 0 {
                self.text.push(' ');
                self.after_space = true;
            }
            return;
        }
        self.flush_break();
        if s.starts_with(char::is_whitespace) && !self.after_space {
            self.text.push(' ');
        }
        let mut first = true;
        for word in words {
            if !first {
                self.text.push(' ');
            }
            first = false;
            self.text.push_str(word);
        }
        self.after_space = false;
        if s.ends_with(char::is_whitespace) {
            self.text.push(' ');
            self.after_space = true;
        }
    }

    fn finish(self) -> String {
        self.text
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_headings_paragraphs_lists_and_tables_and_drops_the_rest() {
        let page = r#"<!doctype html><html><head><title> Beijing
            weather </title><style>p{color:red}</style><script>var secret = "script text";</script></head>
            <body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>
            <header>Site banner</header>
            <h1>Beijing <em>today</em></h1>
            <p>Sunny,   high of <b>23&nbsp;°C</b>.<br>Wind: 3 m/s</p>
            <ul><li>Morning: 15 °C</li><li>Evening: 18 °C</li></ul>
            <ol start="3"><li>third</li><li>fourth</li></ol>
            <table><tr><th>Day</th><th>High</th></tr><tr><td>Mon</td><td>23</td></tr></table>
            <div hidden>hidden text</div><div style="display: none">also hidden</div>
            <pre>  a   b
  c</pre>
            <footer>Copyright</footer><form><input value="q"><button>Go</button></form>
            </body></html>"#;
        let r = readable(page);
        assert_eq!(r.title.as_deref(), Some("Beijing weather"));
        let expected = "# Beijing today\n\nSunny, high of 23 °C.\nWind: 3 m/s\n\n- Morning: 15 °C\n- Evening: 18 °C\n\n3. third\n4. fourth\n\nDay | High\nMon | 23\n\n  a   b\n  c";
        assert_eq!(r.text, expected, "{}", r.text);
        for gone in [
            "script text",
            "color:red",
            "Home",
            "banner",
            "hidden",
            "Copyright",
            "Go",
        ] {
            assert!(!r.text.contains(gone), "{gone} in {}", r.text);
        }
    }

    #[test]
    fn reads_only_the_main_content_when_the_page_marks_it() {
        let page = "<body><div>sidebar links</div><main><h2>Story</h2><p>The figure is 42.</p></main></body>";
        assert_eq!(readable(page).text, "## Story\n\nThe figure is 42.");
        let one_article = "<body><div>menu</div><article><p>Body text</p></article></body>";
        assert_eq!(readable(one_article).text, "Body text");
    }

    #[test]
    fn deep_nesting_and_broken_markup_do_not_break_it() {
        let deep = format!("{}deep text{}", "<div>".repeat(5000), "</div>".repeat(5000));
        assert!(readable(&deep).text.contains("deep text"));
        let broken = "<p>unclosed <b>bold <i>both</p><p>next";
        assert_eq!(readable(broken).text, "unclosed bold both\n\nnext");
        assert_eq!(readable("").text, "");
    }

    #[test]
    fn chinese_text_is_kept() {
        let r = readable("<title>北京天气</title><p>晴，最高气温 23°C</p>");
        assert_eq!(r.title.as_deref(), Some("北京天气"));
        assert_eq!(r.text, "晴，最高气温 23°C");
    }
}
