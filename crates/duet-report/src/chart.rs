//! Reports as charts (SVG, drawn with plotters): one panel per figure,
//! a line per queue or agent across the window's intervals. SVG text is
//! left to the viewer's fonts, so nothing is looked for on this machine.

use std::collections::BTreeMap;

use plotters::prelude::*;

use crate::agents::AgentLine;
use crate::queues::QueueLine;
use crate::staffing::StaffingLine;

/// The chart's size in pixels: a panel's height, and the width.
const WIDTH_PX: u32 = 960;
const PANEL_HEIGHT_PX: u32 = 320;
/// Lines one panel draws; the rest are left out (and said so), so a
/// chart of a thousand agents stays readable.
pub const SERIES_MAX: usize = 12;

#[derive(Debug, thiserror::Error)]
#[error("the chart could not be drawn: {0}")]
pub struct ChartError(String);

impl ChartError {
    /// A report that is a list, with nothing to draw over time.
    pub fn not_a_chart(what: &str) -> ChartError {
        ChartError(format!(
            "{what} are a list, not figures over time: ask for a table, CSV or JSON"
        ))
    }
}

fn drawing<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError(e.to_string())
}

/// One figure over the intervals: a line per name, `(interval start,
/// value)` points; an interval without a value (nothing to divide by)
/// breaks no line, it is only not drawn.
pub struct Panel {
    pub title: String,
    pub series: BTreeMap<String, Vec<(u64, f64)>>,
}

impl Panel {
    fn of<L>(
        title: &str,
        lines: &[L],
        name: impl Fn(&L) -> String,
        at: impl Fn(&L) -> u64,
        value: impl Fn(&L) -> Option<f64>,
    ) -> Panel {
        let mut series: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
        for l in lines {
            if let Some(v) = value(l) {
                series
                    .entry(name(l).to_string())
                    .or_default()
                    .push((at(l), v));
            }
        }
        Panel {
            title: title.to_string(),
            series,
        }
    }
}

/// `HH:MM` (UTC) of a time in unix ms.
fn clock(ms: u64) -> String {
    let minutes = ms / 60_000 % 1_440;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The panels stacked in one SVG document.
pub fn svg(panels: &[Panel]) -> Result<String, ChartError> {
    let mut out = String::new();
    let height = PANEL_HEIGHT_PX * panels.len().max(1) as u32;
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH_PX, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (panel, area) in panels.iter().zip(areas) {
            draw(panel, &area)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(out)
}

fn draw<DB: DrawingBackend>(
    panel: &Panel,
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), ChartError> {
    let points = || panel.series.values().flatten();
    let x_min = points().map(|p| p.0).min().unwrap_or(0);
    let x_max = points().map(|p| p.0).max().unwrap_or(0).max(x_min + 1);
    let y_max = points().map(|p| p.1).fold(0.0, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let left_out = panel.series.len().saturating_sub(SERIES_MAX);
    let caption = match left_out {
        0 => panel.title.clone(),
        n => format!(
            "{} (the first {SERIES_MAX}; {n} more left out)",
            panel.title
        ),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|ms| clock(*ms))
        .x_desc("interval start (UTC)")
        .draw()
        .map_err(drawing)?;
    for (i, (name, points)) in panel.series.iter().take(SERIES_MAX).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(drawing)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    if !panel.series.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(drawing)?;
    }
    Ok(())
}

/// The queue report's chart: offered, service level (abandons ignored)
/// and ASA per queue.
pub fn queues(lines: &[QueueLine]) -> Result<String, ChartError> {
    let name = |l: &QueueLine| l.queue.clone();
    let at = |l: &QueueLine| l.start_ms;
    svg(&[
        Panel::of("offered", lines, name, at, |l| Some(l.offered as f64)),
        Panel::of("service level (abandons ignored)", lines, name, at, |l| {
            l.service_level_abandons_ignored
        }),
        Panel::of("ASA (s)", lines, name, at, |l| l.asa_s),
    ])
}

/// The agent report's chart: handled and occupancy per agent.
pub fn agents(lines: &[AgentLine]) -> Result<String, ChartError> {
    let name = |l: &AgentLine| l.agent.clone();
    let at = |l: &AgentLine| l.start_ms;
    svg(&[
        Panel::of("handled", lines, name, at, |l| Some(l.handled as f64)),
        Panel::of("occupancy", lines, name, at, |l| l.occupancy),
    ])
}

/// The staffing estimate's chart: agents needed and traffic per queue.
pub fn staffing(lines: &[StaffingLine]) -> Result<String, ChartError> {
    let name = |l: &StaffingLine| l.queue.clone();
    let at = |l: &StaffingLine| l.start_ms;
    svg(&[
        Panel::of("agents needed", lines, name, at, |l| {
            l.agents.map(f64::from)
        }),
        Panel::of("traffic (Erlangs)", lines, name, at, |l| l.traffic_erlangs),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panel_has_a_line_per_name_and_skips_empty_figures() {
        let lines = [
            ("Sales", 0, Some(1.0)),
            ("Sales", 60_000, None),
            ("Support", 0, Some(2.0)),
        ];
        let p = Panel::of("t", &lines, |l| l.0.to_string(), |l| l.1, |l| l.2);
        assert_eq!(p.series["Sales"], [(0, 1.0)]);
        assert_eq!(p.series["Support"], [(0, 2.0)]);
    }

    #[test]
    fn the_svg_names_its_panels_and_lines() {
        let panel = |title: &str| Panel {
            title: title.into(),
            series: BTreeMap::from([
                ("Sales".to_string(), vec![(0, 3.0), (1_800_000, 5.0)]),
                ("Support".to_string(), vec![(0, 1.0), (1_800_000, 0.0)]),
            ]),
        };
        let svg = svg(&[panel("offered"), panel("ASA (s)")]).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in ["offered", "ASA (s)", "Sales", "Support", "00:30"] {
            assert!(svg.contains(text), "{text} in the chart");
        }
        // Two lines in each of two panels, each with its legend's mark.
        let drawn = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
            .count();
        assert_eq!(drawn, 8, "{svg}");
        assert_eq!(clock(86_400_000 + 9 * 3_600_000 + 30 * 60_000), "09:30");
    }

    #[test]
    fn an_empty_report_still_draws() {
        assert!(queues(&[]).unwrap().contains("offered"));
    }
}
