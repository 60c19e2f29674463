//! The usage page's bar charts: inline SVG drawn on the server, one bar per day, so the page
//! needs no script and no chart library.

use maud::{Markup, html};

/// Width and height of the drawing (the browser scales it to the page's width).
const WIDTH: u32 = 720;
const HEIGHT: u32 = 160;
/// Room under the bars for the day labels.
const LABELS: u32 = 18;
/// Room left and right, so the first and last day labels are not cut.
const PAD: u32 = 24;

/// A bar chart of `values` (a label and a value per day, oldest first) titled `title`, its
/// bars filled with `color`. Each bar's tooltip gives its day and value.
pub(crate) fn bar_chart(id: &str, title: &str, values: &[(String, u64)], color: &str) -> Markup {
    let max = values.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let count = u32::try_from(values.len()).unwrap_or(u32::MAX).max(1);
    let slot = WIDTH / count;
    let bar_width = (slot * 3 / 4).max(1);
    let plot = HEIGHT - LABELS;
    html! {
        figure.chart {
            figcaption { (title) " " span.muted { "(max " (max) ")" } }
            svg id=(id) xmlns="http://www.w3.org/2000/svg" viewBox={ "-" (PAD) " 0 " (WIDTH + 2 * PAD) " " (HEIGHT) }
                width="100%" role="img" aria-label=(title) {
                line x1="0" y1=(plot) x2=(WIDTH) y2=(plot) stroke="#c9cdd4" {}
                @for (index, (label, value)) in values.iter().enumerate() {
                    @let x = slot * u32::try_from(index).unwrap_or(0) + (slot - bar_width) / 2;
                    @let height = bar_height(*value, max, plot);
                    rect.bar x=(x) y=(plot - height) width=(bar_width) height=(height) fill=(color)
                        data-day=(label) data-value=(value) {
                        title { (label) ": " (value) }
                    }
                    // Every fifth day and the last are labelled (month-day), so labels never overlap.
                    @if index % 5 == 0 || index + 1 == values.len() {
                        text x=(x + bar_width / 2) y=(HEIGHT - 4) font-size="10" text-anchor="middle"
                            fill="#86909c" { (label.get(5..).unwrap_or(label)) }
                    }
                }
            }
        }
    }
}

/// A bar's height for `value` on a plot `plot` high whose tallest bar is `max`; a day with
/// something to show is at least one unit high.
fn bar_height(value: u64, max: u64, plot: u32) -> u32 {
    if value == 0 {
        return 0;
    }
    let scaled = value.saturating_mul(u64::from(plot)) / max.max(1);
    u32::try_from(scaled).unwrap_or(plot).clamp(1, plot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_day_and_carry_their_values() {
        let values = vec![
            ("2026-12-01".to_owned(), 0),
            ("2026-12-02".to_owned(), 50),
            ("2026-12-03".to_owned(), 100),
        ];
        let svg = bar_chart("tokens", "Tokens", &values, "#1677ff").into_string();
        assert!(svg.contains("<svg id=\"tokens\""), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains("data-day=\"2026-12-03\" data-value=\"100\""),
            "{svg}"
        );
        assert!(svg.contains("<title>2026-12-02: 50</title>"), "{svg}");
        assert_eq!(bar_height(100, 100, 142), 142);
        assert_eq!(bar_height(50, 100, 142), 71);
        assert_eq!(bar_height(1, 1_000_000, 142), 1, "a small day still shows");
        assert_eq!(bar_height(0, 100, 142), 0);
    }
}
