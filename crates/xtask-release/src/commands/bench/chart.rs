//! The bench's figures as an SVG bar chart, written by hand: a few panels of horizontal bars, each
//! bar labelled with its value. Small enough not to need a plotting crate (and the xtask's cold
//! compile stays short); pure, so the picture is unit-tested.

use std::fmt::Write;

/// One panel: a title and its bars (label, seconds). Bars without a figure are left out.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub bars: Vec<(String, f64)>,
}

const WIDTH: f64 = 760.0;
const LABEL: f64 = 230.0;
const BAR: f64 = 18.0;
const GAP: f64 = 6.0;
const TITLE: f64 = 30.0;
const COLORS: [&str; 6] = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2"];

/// The chart: panels stacked, each scaled to its own longest bar.
pub fn svg(heading: &str, panels: &[Panel]) -> String {
    let mut body = String::new();
    let mut y = 40.0;
    for panel in panels.iter().filter(|p| !p.bars.is_empty()) {
        let _ = writeln!(body, r#"<text x="10" y="{:.0}" class="title">{}</text>"#, y + 16.0, escape(&panel.title));
        y += TITLE;
        let longest = panel.bars.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max).max(f64::EPSILON);
        for (index, (label, value)) in panel.bars.iter().enumerate() {
            let width = (WIDTH - LABEL - 90.0) * value / longest;
            let color = COLORS[index % COLORS.len()];
            let _ = writeln!(
                body,
                r#"<text x="{:.0}" y="{:.0}" class="label">{}</text><rect x="{LABEL:.0}" y="{y:.0}" width="{width:.1}" height="{BAR:.0}" fill="{color}"/><text x="{:.1}" y="{:.0}" class="value">{}</text>"#,
                LABEL - 8.0,
                y + 13.0,
                escape(label),
                LABEL + width + 6.0,
                y + 13.0,
                seconds(*value)
            );
            y += BAR + GAP;
        }
        y += GAP * 2.0;
    }
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="12">"#,
            "\n<style>.title{{font-weight:bold;font-size:14px}} .label{{text-anchor:end}} .value{{fill:#333}}</style>\n",
            r#"<rect width="100%" height="100%" fill="white"/>"#,
            "\n<text x=\"10\" y=\"22\" class=\"title\">{heading}</text>\n{body}</svg>\n"
        ),
        w = WIDTH,
        h = y + 10.0,
        heading = escape(heading),
        body = body
    )
}

fn seconds(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} s")
    } else {
        format!("{value:.1} s")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_longest_in_their_panel_and_empty_panels_are_left_out() {
        let panels = [
            Panel {
                title: "cross vs QEMU".into(),
                bars: vec![("cross".into(), 20.0), ("QEMU <emulated>".into(), 800.0)],
            },
            Panel { title: "nothing".into(), bars: vec![] },
        ];
        let picture = svg("beacon & co", &panels);
        assert!(picture.starts_with("<svg") && picture.ends_with("</svg>\n"));
        assert!(picture.contains("beacon &amp; co") && picture.contains("QEMU &lt;emulated&gt;"));
        assert!(picture.contains(r#"width="440.0""#), "the longest bar spans the plot: {picture}");
        assert!(picture.contains(r#"width="11.0""#), "the short one is 20/800 of it: {picture}");
        assert!(picture.contains(">800 s<") && picture.contains(">20.0 s<"));
        assert!(!picture.contains("nothing"));
    }
}
