//! `docs/benchmarks.svg`: horizontal bar charts drawn by hand (no plotting dependency):
//! data channel throughput and setup time per stack (median bar, min–max whisker), and SRTP
//! as a percentage of `openssl speed`.

use std::fmt::Write as _;

use super::micro::SRTP_PACKET;
use super::report::reference;
use super::{field, summary, Results, Summary};

const WIDTH: f64 = 880.0;
const LABEL: f64 = 230.0;
const BAR_AREA: f64 = 440.0;
const ROW: f64 = 26.0;
const COLORS: &[&str] = &["#2b6cb0", "#dd6b20", "#38a169", "#805ad5"];

/// One bar: label, median, optional whisker.
struct Bar {
    label: String,
    value: f64,
    whisker: Option<Summary>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws one panel at `y`; returns the height used.
fn panel(out: &mut String, y: f64, title: &str, unit: &str, bars: &[Bar]) -> f64 {
    let _ = writeln!(
        out,
        r#"<text x="10" y="{:.0}" font-size="15" font-weight="bold">{}</text>"#,
        y + 18.0,
        escape(title)
    );
    if bars.is_empty() {
        let _ = writeln!(
            out,
            r##"<text x="{LABEL}" y="{:.0}" font-size="12" fill="#666">not measured in this run</text>"##,
            y + 42.0
        );
        return 60.0;
    }
    // The axis ends at 2.5× the largest median: a far outlier (a 1 s retransmission in a setup
    // time) clips its whisker instead of squashing every bar.
    let largest_median = bars.iter().map(|b| b.value).fold(0.0f64, f64::max);
    let whiskers_end = bars
        .iter()
        .map(|b| b.whisker.map_or(b.value, |w| w.max.max(b.value)))
        .fold(0.0f64, f64::max);
    let max = whiskers_end
        .min(largest_median * 2.5)
        .max(largest_median)
        .max(f64::MIN_POSITIVE);
    let scale = BAR_AREA / max;
    for (i, b) in bars.iter().enumerate() {
        let top = y + 30.0 + i as f64 * ROW;
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            out,
            r#"<text x="{:.0}" y="{:.0}" font-size="12" text-anchor="end">{}</text>"#,
            LABEL - 8.0,
            top + 14.0,
            escape(&b.label)
        );
        let _ = writeln!(
            out,
            r#"<rect x="{LABEL}" y="{top:.0}" width="{:.1}" height="18" fill="{color}"/>"#,
            (b.value * scale).max(1.0)
        );
        let clipped = b.whisker.filter(|w| w.max > max).map(|w| w.max);
        if let Some(w) = b.whisker {
            let (x0, x1) = (
                LABEL + w.min.min(max) * scale,
                LABEL + w.max.min(max) * scale,
            );
            let mid = top + 9.0;
            let _ = writeln!(
                out,
                "<path d=\"M{x0:.1} {mid:.1}H{x1:.1}M{x0:.1} {:.1}V{:.1}M{x1:.1} {:.1}V{:.1}\" \
                 stroke=\"#222\" stroke-width=\"1.2\"/>",
                mid - 5.0,
                mid + 5.0,
                mid - 5.0,
                mid + 5.0
            );
        }
        let right = LABEL + b.whisker.map_or(b.value, |w| w.max.max(b.value)).min(max) * scale;
        let beyond = clipped.map_or(String::new(), |m| format!(" (max {m:.0} →)"));
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.0}" font-size="12">{:.1} {}{}</text>"#,
            right + 6.0,
            top + 14.0,
            b.value,
            escape(unit),
            escape(&beyond)
        );
    }
    40.0 + bars.len() as f64 * ROW
}

fn stack_bars(rows: &[(String, Vec<super::Record>, Vec<String>)], key: &str) -> Vec<Bar> {
    rows.iter()
        .filter_map(|(stack, recs, _)| {
            let s = summary(&field(recs, key))?;
            Some(Bar {
                label: stack.clone(),
                value: s.median,
                whisker: Some(s),
            })
        })
        .collect()
}

/// The whole chart.
pub(crate) fn svg(r: &Results) -> String {
    let mut body = String::new();
    let mut y = 10.0;
    y += panel(
        &mut body,
        y,
        &format!(
            "Data channel throughput, {} MiB of 32 KiB messages (median, min–max)",
            r.options.mib
        ),
        "MiB/s",
        &stack_bars(&r.dc, "mib_s"),
    );
    y += panel(
        &mut body,
        y,
        "Setup: offer → channel open (median, min–max)",
        "ms",
        &stack_bars(&r.dc, "setup_ms"),
    );
    let srtp: Vec<Bar> = r
        .srtp
        .iter()
        .filter_map(|(profile, op, ns)| {
            let (_, reference) = reference(r, profile)?;
            Some(Bar {
                label: format!("{op} {profile}"),
                value: 100.0 * (SRTP_PACKET / ns * 1e9) / reference,
                whisker: None,
            })
        })
        .collect();
    y += panel(
        &mut body,
        y,
        "SRTP, 1200-byte packets, as % of openssl speed (same run)",
        "%",
        &srtp,
    );
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{:.0}\" \
         viewBox=\"0 0 {WIDTH} {:.0}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n",
        y + 10.0,
        y + 10.0
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Options, Record, Results};
    use super::*;

    #[test]
    fn draws_one_bar_per_measured_stack() {
        let mut r = Results::new(Options::quick());
        let rec = |v: &str| -> Record { [("mib_s".to_owned(), v.to_owned())].into() };
        r.dc = vec![
            ("ours".into(), vec![rec("10"), rec("20")], vec![]),
            ("webrtc".into(), vec![], vec!["failed".into()]),
        ];
        let svg = svg(&r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=").count(), 1, "{svg}");
        assert!(svg.contains(">15.0 MiB/s<"), "{svg}");
        assert!(svg.contains("not measured in this run"));
    }
}
