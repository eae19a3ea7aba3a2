//! Plots of the per-path time series (goodput, congestion window, RTT), one line per path, as
//! SVG and PNG. Text is drawn with DejaVu Sans embedded in the binary (no system fonts needed).

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::OutputError;
use crate::metrics::{PathSample, PathSeries};

/// Which quantity a plot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Goodput per path, Mbit/s.
    Goodput,
    /// Congestion window, KB.
    Cwnd,
    /// Smoothed RTT, ms.
    Rtt,
}

impl PlotKind {
    /// Every kind.
    pub const ALL: [PlotKind; 3] = [PlotKind::Goodput, PlotKind::Cwnd, PlotKind::Rtt];

    fn file_stem(self) -> &'static str {
        match self {
            PlotKind::Goodput => "goodput",
            PlotKind::Cwnd => "cwnd",
            PlotKind::Rtt => "rtt",
        }
    }

    fn y_label(self) -> &'static str {
        match self {
            PlotKind::Goodput => "goodput (Mbit/s)",
            PlotKind::Cwnd => "congestion window (KB)",
            PlotKind::Rtt => "smoothed RTT (ms)",
        }
    }

    fn value(self, s: &PathSample) -> Option<f64> {
        match self {
            PlotKind::Goodput => Some(s.goodput_mbps),
            PlotKind::Cwnd => s.active.then_some(s.cwnd_bytes as f64 / 1000.0),
            PlotKind::Rtt => s.active.then_some(s.srtt_ms),
        }
    }
}

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are a valid TTF shipped by the dejavu crate.
            let _ = plotters::style::register_font("sans-serif", style, dejavu::sans::regular());
        }
    });
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A line chart: what `plot_series` and `plot_cdf` draw.
struct Chart {
    title: String,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_desc: String,
    y_desc: String,
    /// One line per entry: its legend and its points.
    lines: Vec<(String, Vec<(f64, f64)>)>,
    legend: SeriesLabelPosition,
}

impl Chart {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, plotters::coord::Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(self.x.clone(), self.y.clone())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .y_desc(&self.y_desc)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, points)) in self.lines.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(self.legend.clone())
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    }

    /// Writes `<stem>.svg` and `<stem>.png` in `dir`.
    fn write(&self, dir: &Path, stem: &str) -> Result<Vec<PathBuf>, OutputError> {
        register_font();
        let svg = dir.join(format!("{stem}.svg"));
        let png = dir.join(format!("{stem}.png"));
        let size = (900, 500);
        self.draw(SVGBackend::new(&svg, size).into_drawing_area())
            .map_err(|message| OutputError::Plot { path: svg.display().to_string(), message })?;
        self.draw(BitMapBackend::new(&png, size).into_drawing_area())
            .map_err(|message| OutputError::Plot { path: png.display().to_string(), message })?;
        Ok(vec![svg, png])
    }
}

/// Draws `kind` for one run's series as `<label>_<kind>.svg` and `.png` in `dir`.
pub fn plot_series(
    dir: &Path,
    label: &str,
    series: &[PathSeries],
    kind: PlotKind,
) -> Result<Vec<PathBuf>, OutputError> {
    let x_max = series.iter().flat_map(|s| s.samples.last()).map(|s| s.time_s).fold(0.0, f64::max).max(0.001);
    let y_max =
        series.iter().flat_map(|s| s.samples.iter().filter_map(|x| kind.value(x))).fold(0.0, f64::max).max(0.001) * 1.1;
    let lines = series
        .iter()
        .map(|s| (s.name.clone(), s.samples.iter().filter_map(|x| kind.value(x).map(|v| (x.time_s, v))).collect()))
        .collect();
    Chart {
        title: format!("{label}: {}", kind.y_label()),
        x: 0.0..x_max,
        y: 0.0..y_max,
        x_desc: "time (s)".into(),
        y_desc: kind.y_label().into(),
        lines,
        legend: SeriesLabelPosition::MiddleRight,
    }
    .write(dir, &format!("{label}_{}", kind.file_stem()))
}

/// Draws the empirical CDFs of `curves` (name, values) as `<stem>.svg` and `.png` in `dir`.
pub fn plot_cdf(
    dir: &Path,
    stem: &str,
    title: &str,
    x_label: &str,
    curves: &[(String, Vec<f64>)],
) -> Result<Vec<PathBuf>, OutputError> {
    // The axis ends at the 98th percentile of all values: a few outliers (an EABen of 17 where a
    // single path nearly stalled) would squeeze every curve against the left edge.
    let mut all: Vec<f64> = curves.iter().flat_map(|(_, v)| v.iter().copied()).filter(|x| x.is_finite()).collect();
    all.sort_by(f64::total_cmp);
    let x_min = all.first().copied().unwrap_or(0.0);
    let x_max = all.get((all.len() * 98 / 100).min(all.len().saturating_sub(1))).copied().unwrap_or(1.0);
    let (x_min, x_max) = if x_min < x_max { (x_min, x_max) } else { (x_min - 1.0, x_min + 1.0) };
    let lines = curves
        .iter()
        .map(|(name, values)| {
            let mut sorted: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len().max(1) as f64;
            // A step function: at each value the fraction of cells at or below it.
            let mut points = Vec::with_capacity(2 * sorted.len());
            for (k, x) in sorted.iter().enumerate() {
                let x = x.min(x_max);
                points.push((x, k as f64 / n));
                points.push((x, (k + 1) as f64 / n));
            }
            (format!("{name} ({} cells)", sorted.len()), points)
        })
        .collect();
    Chart {
        title: title.into(),
        x: x_min..x_max,
        y: 0.0..1.0,
        x_desc: format!("{x_label} (axis cut at the 98th percentile)"),
        y_desc: "fraction of cells".into(),
        lines,
        legend: SeriesLabelPosition::LowerRight,
    }
    .write(dir, stem)
}

/// The protocols of a `--netns` comparison side by side (`comparison.svg` and `.png`): one bar
/// per protocol, its mean goodput over the seeds, split into the paths' shares of the bytes the
/// client received.
pub fn plot_comparison(dir: &Path, comparisons: &[crate::metrics::Comparison]) -> Result<Vec<PathBuf>, OutputError> {
    register_font();
    let mut protocols: Vec<&str> = Vec::new();
    for c in comparisons {
        if !protocols.contains(&c.protocol.as_str()) {
            protocols.push(&c.protocol);
        }
    }
    let paths: Vec<String> =
        comparisons.first().map(|c| c.paths.iter().map(|p| p.name.clone()).collect()).unwrap_or_default();
    // Per protocol: per path, mean goodput x the path's share of the received bytes.
    let bars: Vec<Vec<f64>> = protocols
        .iter()
        .map(|proto| {
            let runs: Vec<_> = comparisons.iter().filter(|c| c.protocol == *proto).collect();
            let mut segments = vec![0.0; paths.len()];
            for c in &runs {
                let total: u64 = c.paths.iter().map(|p| p.bytes_down).sum();
                for (seg, p) in segments.iter_mut().zip(&c.paths) {
                    if total > 0 {
                        *seg += c.goodput_mbps * p.bytes_down as f64 / total as f64 / runs.len() as f64;
                    }
                }
            }
            segments
        })
        .collect();
    let svg = dir.join("comparison.svg");
    let png = dir.join("comparison.png");
    let size = (900, 500);
    draw_bars(SVGBackend::new(&svg, size).into_drawing_area(), &protocols, &paths, &bars)
        .map_err(|message| OutputError::Plot { path: svg.display().to_string(), message })?;
    draw_bars(BitMapBackend::new(&png, size).into_drawing_area(), &protocols, &paths, &bars)
        .map_err(|message| OutputError::Plot { path: png.display().to_string(), message })?;
    Ok(vec![svg, png])
}

fn draw_bars<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    protocols: &[&str],
    paths: &[String],
    bars: &[Vec<f64>],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let y_max = bars.iter().map(|b| b.iter().sum::<f64>()).fold(0.0, f64::max).max(0.001) * 1.15;
    let n = protocols.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption("goodput by protocol, split by path (same emulated links)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(protocols.len().max(1))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                protocols.get(i as usize).map(|p| p.to_string()).unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("goodput (Mbit/s)")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    for (p, name) in paths.iter().enumerate() {
        let color = COLORS[p % COLORS.len()];
        let rects = bars.iter().enumerate().map(|(i, segments)| {
            let below: f64 = segments[..p].iter().sum();
            let x = i as f64;
            Rectangle::new([(x - 0.3, below), (x + 0.3, below + segments[p])], color.filled())
        });
        chart
            .draw_series(rects)
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
