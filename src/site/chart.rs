//! A small SVG chart renderer: bar charts (plain or grouped), line charts, scatter plots with a
//! Pareto front, and heatmaps, each with labelled axes and units.
//!
//! Every mark carries `data-quant` with its quant label and a `<title>` tooltip with its
//! value, so a reader can hover for the exact figure and a test can count marks.

use std::fmt::Write as _;

use super::html::escape;

const WIDTH: f64 = 560.0;
const WIDE_WIDTH: f64 = 860.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 56.0;

/// Colour-blind safe colours (Okabe and Ito), one per quant in the model's order.
const PALETTE: &[&str] = &[
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999",
];

/// The colour of each quant, fixed per model so a quant looks the same in every chart.
#[derive(Debug, Clone)]
pub struct QuantColors {
    quants: Vec<String>,
}

impl QuantColors {
    pub fn new(quants: Vec<String>) -> QuantColors {
        QuantColors { quants }
    }

    pub fn of(&self, quant: &str) -> &'static str {
        let index = self.quants.iter().position(|q| q == quant).unwrap_or(0);
        PALETTE[index % PALETTE.len()]
    }
}

/// One bar: a quant's value, its standard deviation when known, or `None` when not measured.
#[derive(Debug, Clone)]
pub struct Bar {
    pub quant: String,
    pub value: Option<f64>,
    pub spread: Option<f64>,
}

/// Bars that share a category (a benchmark); a plain bar chart has one unnamed group.
#[derive(Debug, Clone)]
pub struct BarGroup {
    pub label: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Upper end of the value axis when it is fixed (100 for scores).
    pub y_max: Option<f64>,
    pub decimals: usize,
    pub groups: Vec<BarGroup>,
}

/// One quant's line through (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub quant: String,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone)]
pub struct ScatterPoint {
    pub quant: String,
    pub x: f64,
    pub y: f64,
    pub on_front: bool,
}

#[derive(Debug, Clone)]
pub struct ScatterChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub y_decimals: usize,
    pub points: Vec<ScatterPoint>,
}

/// A grid of shares (0-1): one row per `rows` label, one column per `columns` label.
#[derive(Debug, Clone)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub columns: Vec<String>,
    pub rows: Vec<String>,
    /// `cells[row][column]`, `None` where that combination was not run.
    pub cells: Vec<Vec<Option<f64>>>,
}

/// Maps values of one axis to pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    min: f64,
    max: f64,
    from: f64,
    to: f64,
    log: bool,
}

impl Scale {
    fn at(&self, value: f64) -> f64 {
        let (value, min, max) = if self.log {
            (value.log2(), self.min.log2(), self.max.log2())
        } else {
            (value, self.min, self.max)
        };
        let share = if max > min {
            (value - min) / (max - min)
        } else {
            0.5
        };
        self.from + share * (self.to - self.from)
    }
}

/// Tick values from 0 (or `min`) to at least `max`, at a step of 1, 2, 2.5 or 5 times a
/// power of ten, so tick labels are round numbers.
pub fn nice_ticks(min: f64, max: f64, target: usize) -> Vec<f64> {
    let span = if max > min {
        max - min
    } else {
        max.abs().max(1.0)
    };
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (min / step).floor() * step;
    let mut ticks = Vec::new();
    let mut index = 0;
    loop {
        let tick = first + step * index as f64;
        ticks.push(tick);
        if (index >= 1 && tick >= max - step * 1e-9) || index > 50 {
            break;
        }
        index += 1;
    }
    ticks
}

/// Formats a tick value with as many decimals as its step needs.
fn tick_label(value: f64, step: f64) -> String {
    let decimals = (0..6)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6) as usize;
    // Adding 0.0 turns -0.0 into 0.0, so the axis never reads "-0".
    format!("{:.decimals$}", value + 0.0)
}

fn open_svg(out: &mut String, kind: &str, title: &str, width: f64) {
    let _ = write!(
        out,
        "<svg class=\"chart\" data-kind=\"{kind}\" viewBox=\"0 0 {width} {HEIGHT}\" \
         role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    );
}

/// Draws the value axis: grid lines, tick labels and the rotated axis title.
fn y_axis(out: &mut String, scale: &Scale, ticks: &[f64], label: &str, width: f64) {
    let step = if ticks.len() > 1 {
        ticks[1] - ticks[0]
    } else {
        1.0
    };
    out.push_str("<g class=\"axis y-axis\">");
    for tick in ticks {
        let y = scale.at(*tick);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            width - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            tick_label(*tick, step)
        );
    }
    let middle = (TOP + HEIGHT - BOTTOM) / 2.0;
    let _ = write!(
        out,
        "<line class=\"axis-line\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{}\"/>\
         <text class=\"axis-title\" transform=\"translate(16 {middle:.1}) rotate(-90)\" \
         text-anchor=\"middle\">{}</text></g>",
        HEIGHT - BOTTOM,
        escape(label)
    );
}

/// Draws the category or numeric axis line and its title; tick labels are drawn by the caller.
fn x_axis_frame(out: &mut String, label: &str, width: f64) {
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        out,
        "<line class=\"axis-line\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\"/>\
         <text class=\"axis-title\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        width - RIGHT,
        (LEFT + width - RIGHT) / 2.0,
        HEIGHT - 8.0,
        escape(label)
    );
}

fn x_tick(out: &mut String, x: f64, text: &str) {
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        out,
        "<line class=\"tick-mark\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{base}\" y2=\"{}\"/>\
         <text class=\"tick\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        base + 4.0,
        base + 18.0,
        escape(text)
    );
}

/// Draws a row of coloured keys naming the quants above the plot.
fn legend(out: &mut String, quants: &[&str], colors: &QuantColors) {
    out.push_str("<g class=\"legend\">");
    let mut x = LEFT;
    for quant in quants {
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"17\">{}</text>",
            colors.of(quant),
            x + 14.0,
            escape(quant)
        );
        x += 24.0 + 7.0 * quant.chars().count() as f64;
    }
    out.push_str("</g>");
}

impl BarChart {
    /// Renders the chart; each bar, or its "not measured" note, is one `.mark`.
    pub fn to_svg(&self, colors: &QuantColors) -> String {
        let values = self.groups.iter().flat_map(|g| &g.bars);
        let top = values
            .filter_map(|b| b.value.map(|v| v + b.spread.unwrap_or(0.0)))
            .fold(0.0_f64, f64::max);
        let ticks = nice_ticks(0.0, self.y_max.unwrap_or(top).max(top), 5);
        let scale = Scale {
            min: 0.0,
            max: *ticks.last().unwrap_or(&1.0),
            from: HEIGHT - BOTTOM,
            to: TOP,
            log: false,
        };

        // Grouped charts get a wider canvas so a category's bars and label stay readable.
        let grouped = self.groups.len() > 1;
        let width = if grouped { WIDE_WIDTH } else { WIDTH };
        let mut out = String::new();
        open_svg(&mut out, "bar", &self.title, width);
        y_axis(&mut out, &scale, &ticks, &self.y_label, width);
        out.push_str("<g class=\"axis x-axis\">");
        x_axis_frame(&mut out, &self.x_label, width);
        let group_width = (width - LEFT - RIGHT) / self.groups.len().max(1) as f64;
        for (index, group) in self.groups.iter().enumerate() {
            let centre = LEFT + group_width * (index as f64 + 0.5);
            if grouped {
                x_tick(&mut out, centre, &group.label);
            } else {
                for (slot, bar) in group.bars.iter().enumerate() {
                    let x = bar_x(group_width, index, slot, group.bars.len());
                    x_tick(&mut out, x.0 + x.1 / 2.0, &bar.quant);
                }
            }
        }
        out.push_str("</g>");
        if grouped {
            let quants: Vec<&str> = self.groups[0]
                .bars
                .iter()
                .map(|b| b.quant.as_str())
                .collect();
            legend(&mut out, &quants, colors);
        }

        out.push_str("<g class=\"marks\">");
        for (index, group) in self.groups.iter().enumerate() {
            let _ = write!(
                out,
                "<g class=\"group\" data-group=\"{}\">",
                escape(&group.label)
            );
            for (slot, bar) in group.bars.iter().enumerate() {
                let (x, width) = bar_x(group_width, index, slot, group.bars.len());
                self.bar(&mut out, bar, x, width, &scale, colors, grouped);
            }
            out.push_str("</g>");
        }
        out.push_str("</g></svg>");
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn bar(
        &self,
        out: &mut String,
        bar: &Bar,
        x: f64,
        width: f64,
        scale: &Scale,
        colors: &QuantColors,
        grouped: bool,
    ) {
        let quant = escape(&bar.quant);
        let base = scale.at(0.0);
        let Some(value) = bar.value else {
            let text = if grouped { "n/m" } else { "not measured" };
            let _ = write!(
                out,
                "<g class=\"mark missing\" data-quant=\"{quant}\">\
                 <title>{quant}: not measured</title>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{text}</text></g>",
                x + width / 2.0,
                base - 6.0
            );
            return;
        };
        let top = scale.at(value);
        let decimals = self.decimals;
        let spread = bar
            .spread
            .map(|sd| format!(" ± {sd:.decimals$}"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<g class=\"mark\" data-quant=\"{quant}\" data-value=\"{value}\">\
             <title>{quant}: {value:.decimals$}{spread} {}</title>\
             <rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{:.1}\" \
             fill=\"{}\"/>",
            escape(&self.y_label),
            (base - top).max(0.0),
            colors.of(&bar.quant)
        );
        if let Some(sd) = bar.spread.filter(|sd| *sd > 0.0) {
            let middle = x + width / 2.0;
            let _ = write!(
                out,
                "<line class=\"spread\" x1=\"{middle:.1}\" x2=\"{middle:.1}\" y1=\"{:.1}\" \
                 y2=\"{:.1}\"/>",
                scale.at(value + sd),
                scale.at((value - sd).max(0.0))
            );
        }
        if !grouped || width >= 24.0 {
            let label_y = scale.at(value + bar.spread.unwrap_or(0.0)) - 4.0;
            let _ = write!(
                out,
                "<text class=\"value\" x=\"{:.1}\" y=\"{label_y:.1}\" \
                 text-anchor=\"middle\">{value:.decimals$}</text>",
                x + width / 2.0
            );
        }
        out.push_str("</g>");
    }
}

/// Left edge and width of bar `slot` of `count` in group `index`.
fn bar_x(group_width: f64, index: usize, slot: usize, count: usize) -> (f64, f64) {
    let inner = group_width * 0.8;
    let width = inner / count.max(1) as f64;
    let start = LEFT + group_width * index as f64 + group_width * 0.1;
    (start + width * slot as f64 + width * 0.1, width * 0.8)
}

impl LineChart {
    /// Renders the chart; each quant's line with its points is one `.mark`. The x axis is
    /// logarithmic (base 2) when the x values span a factor of 4 or more, as context lengths
    /// usually double from one to the next.
    pub fn to_svg(&self, colors: &QuantColors) -> String {
        let mut xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let (x_min, x_max) = (
            xs.first().copied().unwrap_or(0.0),
            xs.last().copied().unwrap_or(1.0),
        );
        let log = x_min > 0.0 && x_max / x_min >= 4.0;
        let y_top = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0_f64, f64::max);
        let ticks = nice_ticks(0.0, y_top, 5);
        let y_scale = Scale {
            min: 0.0,
            max: *ticks.last().unwrap_or(&1.0),
            from: HEIGHT - BOTTOM,
            to: TOP,
            log: false,
        };
        let x_scale = Scale {
            min: x_min,
            max: x_max,
            from: LEFT + 24.0,
            to: WIDTH - RIGHT - 24.0,
            log,
        };

        let mut out = String::new();
        open_svg(&mut out, "line", &self.title, WIDTH);
        y_axis(&mut out, &y_scale, &ticks, &self.y_label, WIDTH);
        out.push_str("<g class=\"axis x-axis\">");
        let x_label = match (log, self.x_label.strip_suffix(')')) {
            (true, Some(open)) => format!("{open}, log scale)"),
            (true, None) => format!("{} (log scale)", self.x_label),
            (false, _) => self.x_label.clone(),
        };
        x_axis_frame(&mut out, &x_label, WIDTH);
        for x in &xs {
            x_tick(&mut out, x_scale.at(*x), &format!("{x}"));
        }
        out.push_str("</g>");
        let quants: Vec<&str> = self.series.iter().map(|s| s.quant.as_str()).collect();
        legend(&mut out, &quants, colors);

        out.push_str("<g class=\"marks\">");
        for series in &self.series {
            let quant = escape(&series.quant);
            let color = colors.of(&series.quant);
            let path: Vec<String> = series
                .points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", x_scale.at(*x), y_scale.at(*y)))
                .collect();
            let _ = write!(
                out,
                "<g class=\"mark\" data-quant=\"{quant}\"><polyline points=\"{}\" \
                 fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                path.join(" ")
            );
            for (x, y) in &series.points {
                let _ = write!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\">\
                     <title>{quant} at {x}: {y:.1} {}</title></circle>",
                    x_scale.at(*x),
                    y_scale.at(*y),
                    escape(&self.y_label)
                );
            }
            out.push_str("</g>");
        }
        out.push_str("</g></svg>");
        out
    }
}

impl ScatterChart {
    /// Renders the chart; each quant's point is one `.mark`. Points on the Pareto front are
    /// filled and joined by a dashed line, the others are hollow.
    pub fn to_svg(&self, colors: &QuantColors) -> String {
        let x_max = self.points.iter().map(|p| p.x).fold(0.0_f64, f64::max);
        let y_max = self.points.iter().map(|p| p.y).fold(0.0_f64, f64::max);
        let x_ticks = nice_ticks(0.0, x_max, 5);
        let y_ticks = nice_ticks(0.0, y_max, 5);
        let x_scale = Scale {
            min: 0.0,
            max: *x_ticks.last().unwrap_or(&1.0),
            from: LEFT,
            to: WIDTH - RIGHT,
            log: false,
        };
        let y_scale = Scale {
            min: 0.0,
            max: *y_ticks.last().unwrap_or(&1.0),
            from: HEIGHT - BOTTOM,
            to: TOP,
            log: false,
        };

        let mut out = String::new();
        open_svg(&mut out, "scatter", &self.title, WIDTH);
        y_axis(&mut out, &y_scale, &y_ticks, &self.y_label, WIDTH);
        out.push_str("<g class=\"axis x-axis\">");
        x_axis_frame(&mut out, &self.x_label, WIDTH);
        let step = x_ticks.get(1).map_or(1.0, |t| t - x_ticks[0]);
        for tick in &x_ticks {
            x_tick(&mut out, x_scale.at(*tick), &tick_label(*tick, step));
        }
        out.push_str("</g>");
        let _ = write!(
            out,
            "<g class=\"legend\"><circle cx=\"{}\" cy=\"13\" r=\"4\" fill=\"#444\"/>\
             <text x=\"{}\" y=\"17\">on the Pareto front</text>\
             <circle cx=\"{}\" cy=\"13\" r=\"4\" fill=\"white\" stroke=\"#444\"/>\
             <text x=\"{}\" y=\"17\">a smaller, closer quant exists</text></g>",
            LEFT + 4.0,
            LEFT + 12.0,
            LEFT + 150.0,
            LEFT + 158.0
        );

        let mut front: Vec<&ScatterPoint> = self.points.iter().filter(|p| p.on_front).collect();
        front.sort_by(|a, b| a.x.total_cmp(&b.x));
        if front.len() > 1 {
            let path: Vec<String> = front
                .iter()
                .map(|p| format!("{:.1},{:.1}", x_scale.at(p.x), y_scale.at(p.y)))
                .collect();
            let _ = write!(
                out,
                "<polyline class=\"front\" points=\"{}\"/>",
                path.join(" ")
            );
        }

        out.push_str("<g class=\"marks\">");
        let decimals = self.y_decimals;
        for point in &self.points {
            let quant = escape(&point.quant);
            let color = colors.of(&point.quant);
            let (cx, cy) = (x_scale.at(point.x), y_scale.at(point.y));
            let fill = if point.on_front { color } else { "white" };
            let front_note = if point.on_front {
                "on the Pareto front"
            } else {
                "off the Pareto front"
            };
            let _ = write!(
                out,
                "<g class=\"mark\" data-quant=\"{quant}\" data-front=\"{}\">\
                 <title>{quant}: {:.1} {}, {:.decimals$} {}, {front_note}</title>\
                 <circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" fill=\"{fill}\" \
                 stroke=\"{color}\" stroke-width=\"2\"/>\
                 <text class=\"point-label\" x=\"{:.1}\" y=\"{:.1}\">{quant}</text></g>",
                point.on_front,
                point.x,
                escape(&self.x_label),
                point.y,
                escape(&self.y_label),
                cx + 8.0,
                cy - 8.0
            );
        }
        out.push_str("</g></svg>");
        out
    }
}

impl Heatmap {
    /// Renders the grid; every cell is one `.cell` with its share printed as a percentage.
    pub fn to_svg(&self) -> String {
        let columns = self.columns.len().max(1) as f64;
        let rows = self.rows.len().max(1) as f64;
        let cell_width = (WIDTH - LEFT - RIGHT) / columns;
        let cell_height = (HEIGHT - TOP - BOTTOM) / rows;

        let mut out = String::new();
        open_svg(&mut out, "heatmap", &self.title, WIDTH);
        out.push_str("<g class=\"axis y-axis\">");
        for (index, label) in self.rows.iter().enumerate() {
            let y = TOP + cell_height * (index as f64 + 0.5);
            let _ = write!(
                out,
                "<text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT - 6.0,
                y + 4.0,
                escape(label)
            );
        }
        let middle = (TOP + HEIGHT - BOTTOM) / 2.0;
        let _ = write!(
            out,
            "<text class=\"axis-title\" transform=\"translate(16 {middle:.1}) rotate(-90)\" \
             text-anchor=\"middle\">{}</text></g><g class=\"axis x-axis\">",
            escape(&self.y_label)
        );
        x_axis_frame(&mut out, &self.x_label, WIDTH);
        for (index, label) in self.columns.iter().enumerate() {
            x_tick(&mut out, LEFT + cell_width * (index as f64 + 0.5), label);
        }
        out.push_str("</g><g class=\"cells\">");
        for (row_index, row) in self.cells.iter().enumerate() {
            for (column_index, cell) in row.iter().enumerate() {
                let x = LEFT + cell_width * column_index as f64;
                let y = TOP + cell_height * row_index as f64;
                let (fill, text, ink) = match cell {
                    Some(share) => (
                        heat_color(*share),
                        format!("{:.0}%", share * 100.0),
                        if *share > 0.55 { "white" } else { "#222" },
                    ),
                    None => ("#eeeeee".to_string(), "–".to_string(), "#777"),
                };
                let _ = write!(
                    out,
                    "<g class=\"cell\"><title>{} tokens, depth {}: {text}</title>\
                     <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
                     fill=\"{fill}\" stroke=\"white\"/>\
                     <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{ink}\">\
                     {text}</text></g>",
                    escape(&self.rows[row_index]),
                    escape(&self.columns[column_index]),
                    cell_width,
                    cell_height,
                    x + cell_width / 2.0,
                    y + cell_height / 2.0 + 4.0
                );
            }
        }
        out.push_str("</g></svg>");
        out
    }
}

/// Returns a blue that deepens with the share, from 0 (pale) to 1 (dark).
fn heat_color(share: f64) -> String {
    let share = share.clamp(0.0, 1.0);
    let mix = |light: f64, dark: f64| (light + (dark - light) * share).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(239.0, 8.0),
        mix(243.0, 69.0),
        mix(255.0, 148.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colors() -> QuantColors {
        QuantColors::new(vec!["F16".into(), "Q8_0".into()])
    }

    #[test]
    fn ticks_are_round_and_cover_max() {
        assert_eq!(
            nice_ticks(0.0, 93.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let small = nice_ticks(0.0, 0.14, 5);
        assert_eq!(small.len(), 4, "{small:?}");
        assert!((small[3] - 0.15).abs() < 1e-12, "{small:?}");
        assert_eq!(nice_ticks(0.0, 0.0, 5), vec![0.0, 0.2]);
    }

    #[test]
    fn tick_labels_fit_step() {
        assert_eq!(tick_label(40.0, 20.0), "40");
        assert_eq!(tick_label(0.06, 0.03), "0.06");
        assert_eq!(tick_label(0.075, 0.025), "0.075");
        assert_eq!(tick_label(1.5, 0.5), "1.5");
    }

    #[test]
    fn bar_chart_has_one_mark_per_quant() {
        let chart = BarChart {
            title: "speed".into(),
            x_label: "quant".into(),
            y_label: "tokens/s".into(),
            y_max: None,
            decimals: 1,
            groups: vec![BarGroup {
                label: String::new(),
                bars: vec![
                    Bar {
                        quant: "F16".into(),
                        value: Some(90.0),
                        spread: Some(2.0),
                    },
                    Bar {
                        quant: "Q8_0".into(),
                        value: None,
                        spread: None,
                    },
                ],
            }],
        };
        let svg = chart.to_svg(&colors());
        assert_eq!(svg.matches("class=\"mark\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("class=\"mark missing\"").count(), 1, "{svg}");
        assert!(svg.contains("data-quant=\"Q8_0\""));
        assert!(svg.contains(">not measured</text>"));
        assert!(svg.contains("class=\"axis y-axis\""));
        assert!(svg.contains(">100</text>"), "{svg}");
    }

    #[test]
    fn labels_are_escaped() {
        let chart = LineChart {
            title: "<t>".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                quant: "<script>".into(),
                points: vec![(512.0, 10.0), (2048.0, 40.0)],
            }],
        };
        let svg = chart.to_svg(&colors());
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains(">x (log scale)</text>"), "{svg}");
    }

    #[test]
    fn heat_color_runs_pale_to_dark() {
        assert_eq!(heat_color(0.0), "#eff3ff");
        assert_eq!(heat_color(1.0), "#084594");
    }
}
