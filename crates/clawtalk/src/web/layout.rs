//! The frame of every page (navigation, embedded CSS) and small display helpers. maud
//! escapes every interpolated value, so user content can never become markup.

use clawtalk_core::clock::EpochMs;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::i18n::{Lang, t, tf};

/// The whole stylesheet: small enough to embed in each page.
const CSS: &str = "
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;color:#1f2329;background:#f5f6f7}
header{background:#1677ff;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none;opacity:.85}
header a.on,header a:hover{opacity:1;text-decoration:underline}
header strong{margin-right:1em}
header form{margin-left:auto}
main{max-width:1100px;margin:1.2em auto;padding:0 1.2em}
h1{font-size:1.35em;margin:.2em 0 .8em}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:1.2em}
th,td{text-align:left;padding:.45em .6em;border-bottom:1px solid #e5e6eb;vertical-align:top}
th{background:#f2f3f5;font-weight:600}
.ok{color:#00a870;font-weight:600}.bad{color:#d54941;font-weight:600}.muted{color:#86909c}
.notice{background:#e8f3ff;border:1px solid #1677ff;padding:.6em .8em;margin-bottom:1em}
.error{background:#fff0ed;border:1px solid #d54941;padding:.6em .8em;margin-bottom:1em}
button{background:#1677ff;color:#fff;border:0;padding:.4em .9em;border-radius:4px;cursor:pointer;font:inherit}
button.secondary{background:#86909c}
header button{background:transparent;border:1px solid #fff}
input,select,textarea{font:inherit;padding:.35em .5em;border:1px solid #c9cdd4;border-radius:4px}
textarea{width:100%;min-height:5em}
pre{background:#fff;padding:1em;overflow:auto;border:1px solid #e5e6eb;white-space:pre-wrap}
.msg{background:#fff;border:1px solid #e5e6eb;border-radius:6px;padding:.5em .8em;margin:.5em 0;white-space:pre-wrap}
.msg.user{background:#e8f3ff;margin-left:15%}
.msg.assistant{margin-right:15%}
.msg.tool,.msg.system{font-size:.9em;color:#4e5969}
.who{font-size:.8em;color:#86909c;display:block}
.login{max-width:380px;margin:4em auto;background:#fff;padding:1.5em;border:1px solid #e5e6eb}
.login input{width:100%;margin:.5em 0 1em}
.msg .md,.msg .call{white-space:normal}
.msg .approval{border:1px solid #f7ba1e;background:#fffbe6;border-radius:6px;padding:.4em .7em;margin:.4em 0;white-space:normal}
.md p{margin:.3em 0}.md pre{margin:.4em 0;white-space:pre;padding:.6em}
.md table{width:auto;margin:.4em 0}.md th,.md td{border:1px solid #e5e6eb}
.md code{background:#f2f3f5;padding:0 .2em;border-radius:3px}.md pre code{background:none;padding:0}
.call{font-size:.85em;color:#4e5969;font-family:ui-monospace,monospace}
#lang-switch{margin-left:auto}
h2{font-size:1.15em;margin:.2em 0 .5em}
.card{background:#fff;border:1px solid #e5e6eb;border-radius:6px;padding:1em 1.2em;margin-bottom:1.2em}
form.setup label{display:block;margin:.6em 0 .2em}
form.setup input[type=text],form.setup input[type=url],form.setup input[type=password],form.setup select{width:100%;max-width:38em}
form.setup .choice label{font-size:.9em;margin:.25em 0}
form.setup .choice input[type=text]{width:auto;max-width:20em}
fieldset{border:1px solid #e5e6eb;border-radius:4px;margin:.9em 0;padding:.4em .9em .8em}
.outcome p{margin:.2em 0}
#log{font:12px/1.4 ui-monospace,monospace;max-height:none}
#log .l-error{color:#d54941}#log .l-warn{color:#b86e00}#log .l-debug,#log .l-trace{color:#86909c}
#log-filter{margin-bottom:.8em}
#config-text{font:13px/1.4 ui-monospace,monospace;min-height:30em}
#config-errors code.key{font-weight:600}
header #lang-switch+form{margin-left:0}
";

/// Navigation entries: path and label, an [`super::i18n`] key (or an English label, shown
/// as it is in both languages).
const NAV: [(&str, &str); 12] = [
    ("/", "nav.status"),
    ("/setup", "nav.setup"),
    ("/conversations", "nav.conversations"),
    ("/pairing", "nav.pairing"),
    ("/cron", "nav.cron"),
    ("/agents", "nav.agents"),
    ("/memories", "nav.memories"),
    ("/mcp", "nav.mcp"),
    ("/chat", "nav.chat"),
    ("/usage", "nav.usage"),
    ("/logs", "nav.logs"),
    ("/config", "nav.config"),
];

#[allow(dead_code, reason = "pages added in English call it")]
/// A full page in English: `csrf` is the session's token, for the logout form; `None` on the
/// login page.
pub(crate) fn page(title: &str, active: &str, csrf: Option<&str>, body: &Markup) -> Markup {
    page_in(Lang::En, title, active, csrf, body)
}

/// [`page`] with the frame in `lang`, and a switch to the other language.
pub(crate) fn page_in(lang: Lang, title: &str, active: &str, csrf: Option<&str>, body: &Markup) -> Markup {
    let other = lang.other();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · clawtalk" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    strong { "clawtalk" }
                    @if csrf.is_some() {
                        @for (path, label) in NAV {
                            a href=(path) class=[(path == active).then_some("on")] { (t(lang, label)) }
                        }
                    }
                    a #lang-switch href={ "?lang=" (other.short()) } lang=(other.code()) { (other.name()) }
                    @if let Some(csrf) = csrf {
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (t(lang, "nav.logout")) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// Epoch ms as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(at: EpochMs) -> String {
    let ms = at.as_millis();
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How long ago, roughly: `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
#[allow(dead_code, reason = "pages added in English call it")]
pub(crate) fn ago(now: EpochMs, then: EpochMs) -> String {
    ago_in(Lang::En, now, then)
}

/// [`ago`] in `lang`.
pub(crate) fn ago_in(lang: Lang, now: EpochMs, then: EpochMs) -> String {
    let s = now.since(then).as_secs();
    let (key, n) = match s {
        0..60 => ("time.s_ago", s),
        60..3600 => ("time.min_ago", s / 60),
        3600..86_400 => ("time.h_ago", s / 3600),
        _ => ("time.d_ago", s / 86_400),
    };
    tf(lang, key, &[("n", &n.to_string())])
}

/// A duration as [`ago_in`] words it, without "ago" (`5 min`, `5 分钟`).
pub(crate) fn span_in(lang: Lang, from: EpochMs, to: EpochMs) -> String {
    let words = ago_in(lang, to, from);
    words
        .trim_end_matches(" ago")
        .trim_end_matches('前')
        .trim_end()
        .to_owned()
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(utc(EpochMs::from_millis(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc(EpochMs::from_millis(951_782_400_000)),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            utc(EpochMs::from_millis(1_796_163_372_000)),
            "2026-12-01 22:16:12 UTC"
        );
        assert_eq!(
            ago(EpochMs::from_millis(10_000), EpochMs::from_millis(4_000)),
            "6 s ago"
        );
        assert_eq!(
            ago(EpochMs::from_millis(0), EpochMs::from_millis(5_000)),
            "0 s ago"
        );
        assert_eq!(
            ago(EpochMs::from_millis(7_200_000), EpochMs::from_millis(0)),
            "2 h ago"
        );
        assert_eq!(
            ago_in(Lang::Zh, EpochMs::from_millis(7_200_000), EpochMs::from_millis(0)),
            "2 小时前"
        );
        assert_eq!(
            span_in(Lang::Zh, EpochMs::from_millis(0), EpochMs::from_millis(300_000)),
            "5 分钟"
        );
        assert_eq!(
            span_in(Lang::En, EpochMs::from_millis(0), EpochMs::from_millis(300_000)),
            "5 min"
        );
    }

    #[test]
    fn interpolated_text_is_escaped() {
        let hostile = "<script>alert('x')</script>&\"";
        let html = page(hostile, "/", Some("\"><b>csrf"), &html! { p { (hostile) } }).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("\"><b>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert('x')&lt;/script&gt;&amp;&quot;"),
            "{html}"
        );
    }
}
