//! The queue report as a table, CSV or JSON.

use crate::queues::QueueLine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

const COLUMNS: [&str; 17] = [
    "start_ms",
    "end_ms",
    "queue",
    "source",
    "gap",
    "offered",
    "answered",
    "answered_in_time",
    "abandoned",
    "handled",
    "transferred",
    "lost_at_switchover",
    "sl_ignored",
    "sl_missed",
    "sl_met",
    "asa_s",
    "aht_s",
];

fn cells(l: &QueueLine) -> Vec<String> {
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.3}"));
    vec![
        l.start_ms.to_string(),
        l.end_ms.to_string(),
        l.queue.clone(),
        l.source.clone(),
        l.gap.to_string(),
        l.offered.to_string(),
        l.answered.to_string(),
        l.answered_in_time.to_string(),
        l.abandoned.to_string(),
        l.handled.to_string(),
        l.transferred.to_string(),
        l.lost_at_switchover.to_string(),
        opt(l.service_level_abandons_ignored),
        opt(l.service_level_abandons_missed),
        opt(l.service_level_abandons_met),
        opt(l.asa_s),
        opt(l.aht_s),
    ]
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn render(lines: &[QueueLine], format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(lines).unwrap_or_default() + "\n",
        Format::Csv => {
            let mut out = COLUMNS.join(",") + "\n";
            for l in lines {
                let row: Vec<String> = cells(l).iter().map(|c| csv_field(c)).collect();
                out.push_str(&(row.join(",") + "\n"));
            }
            out
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = lines.iter().map(cells).collect();
            let widths: Vec<usize> = (0..COLUMNS.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].len())
                        .chain([COLUMNS[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |r: &[String]| {
                r.iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:>w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
                    + "\n"
            };
            let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
            std::iter::once(line(&header))
                .chain(rows.iter().map(|r| line(r)))
                .collect()
        }
    }
}
