//! SVG figures with plotters: processed pps against the number of rules (log axis), one line
//! per target (the Netdev 1.1 figure redone), and pps against frame size.

use std::collections::BTreeSet;
use std::path::Path;

use plotters::prelude::*;

use crate::error::Error;
use crate::model::{Action, Match, Placement, Row, Status, Target, Traffic};

fn color(target: Target) -> RGBColor {
    match target {
        Target::Dataplane => RGBColor(214, 39, 40),
        Target::TcU32 => RGBColor(31, 119, 180),
        Target::TcFlower => RGBColor(44, 160, 44),
        Target::TcBpf => RGBColor(255, 127, 14),
        Target::TcBpfPerRule => RGBColor(148, 103, 189),
        Target::Xdp => RGBColor(140, 86, 75),
        Target::DpdkTestpmd => RGBColor(23, 190, 207),
    }
}

type Series = Vec<(Target, Vec<(f64, f64)>)>;

fn draw(path: &Path, title: &str, x_desc: &str, log_x: bool, series: &Series) -> Result<(), Error> {
    // Rules against pps spans three orders of magnitude on both axes (the Netdev 1.1
    // figure): log x goes with log y.
    let log_y = log_x;
    let points: Vec<(f64, f64)> = series.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    if points.is_empty() {
        return Err(Error::NothingToPlot);
    }
    let x_min = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_max = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.15;
    // The backend's error type is generic; its message is what the lab can keep.
    let err = |e: DrawingAreaErrorKind<_>| Error::Plot { message: e.to_string() };
    let root = SVGBackend::new(path, (860, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut builder = ChartBuilder::on(&root);
    builder.caption(title, ("sans-serif", 20)).margin(14).x_label_area_size(44).y_label_area_size(80);
    let y_fmt = |v: &f64| if *v >= 1e6 { format!("{:.1}M", v / 1e6) } else { format!("{:.0}k", v / 1e3) };
    // One style of chart body for both axis kinds.
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc("packets per second")
                .y_label_formatter(&y_fmt)
                .x_label_formatter(&|v: &f64| format!("{v:.0}"))
                .draw()
                .map_err(err)?;
            for (target, s) in series {
                let c = color(*target);
                chart
                    .draw_series(LineSeries::new(s.iter().copied(), c.stroke_width(2)))
                    .map_err(err)?
                    .label(target.name())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
                chart.draw_series(s.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }};
    }
    if log_x && log_y {
        let (lo, hi) = (x_min.max(1.0) / 1.5, x_max.max(2.0) * 1.5);
        let y_min = points.iter().map(|p| p.1).filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min).max(1.0) / 1.5;
        body!(builder.build_cartesian_2d((lo..hi).log_scale(), (y_min..y_max).log_scale()).map_err(err)?);
    } else {
        let pad = ((x_max - x_min) * 0.05).max(16.0);
        body!(builder.build_cartesian_2d((x_min - pad)..(x_max + pad), 0.0..y_max).map_err(err)?);
    }
    root.present().map_err(err)?;
    Ok(())
}

fn ok(rows: &[Row]) -> impl Iterator<Item = &Row> {
    rows.iter().filter(|r| r.status == Status::Ok)
}

/// Draws every figure the rows allow; returns (file name, title) of each one written.
pub fn all(dir: &Path, rows: &[Row]) -> Vec<(String, String)> {
    let mut written = Vec::new();
    let mut emit = |file: String, title: String, x_desc: &str, log_x: bool, series: Series| {
        let series: Series = series.into_iter().filter(|(_, s)| !s.is_empty()).collect();
        if series.is_empty() {
            return;
        }
        match draw(&dir.join(&file), &title, x_desc, log_x, &series) {
            Ok(()) => written.push((file, title)),
            Err(e) => eprintln!("dataplane lab: figure {file}: {e}"),
        }
    };
    // pps against rules, per (size, traffic, match), drop.
    let combos: BTreeSet<(Placement, u16, Traffic, Match)> = ok(rows)
        .filter(|r| r.point.action == Action::Drop)
        .map(|r| (r.point.placement, r.point.size, r.point.traffic, r.point.matching))
        .collect();
    for (placement, size, traffic, matching) in combos {
        let series: Series = Target::ALL
            .into_iter()
            .map(|t| {
                let mut s: Vec<(f64, f64)> = ok(rows)
                    .filter(|r| {
                        r.point.action == Action::Drop
                            && r.point.target == t
                            && r.point.placement == placement
                            && (r.point.size, r.point.traffic, r.point.matching) == (size, traffic, matching)
                    })
                    .filter_map(|r| Some((r.point.rules as f64, r.processed()?)))
                    .collect();
                s.sort_by(|a, b| a.0.total_cmp(&b.0));
                (t, s)
            })
            .collect();
        emit(
            format!("pps-vs-rules-{size}-{}-{}-{}.svg", traffic.name(), matching.name(), placement.name()),
            format!(
                "drop, {}: processed pps vs rules ({} rule matches, {size} B {})",
                placement.name(),
                matching.name(),
                traffic.name()
            ),
            "rules (log scale; pps log scale too)",
            true,
            series,
        );
    }
    // pps against frame size, per action and traffic, at the fewest rules (last match).
    for action in [Action::Drop, Action::Fwd] {
        for traffic in [Traffic::Udp, Traffic::Vxlan] {
            let series: Series = Target::ALL
                .into_iter()
                .map(|t| {
                    let candidates: Vec<&Row> = ok(rows)
                        .filter(|r| {
                            r.point.action == action
                                && r.point.target == t
                                && r.point.placement == Placement::Dedicated
                                && r.point.traffic == traffic
                                && r.point.matching == Match::Last
                        })
                        .collect();
                    let fewest = candidates.iter().map(|r| r.point.rules).min();
                    let mut s: Vec<(f64, f64)> = candidates
                        .iter()
                        .filter(|r| Some(r.point.rules) == fewest)
                        .filter_map(|r| Some((f64::from(r.point.size), r.figure()?)))
                        .collect();
                    s.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (t, s)
                })
                .collect();
            let what = if action == Action::Drop { "processed" } else { "delivered" };
            emit(
                format!("pps-vs-size-{}-{}.svg", action.name(), traffic.name()),
                format!("{}: {what} pps vs frame size ({}, fewest rules, dedicated)", action.name(), traffic.name()),
                "frame size, bytes with FCS",
                false,
                series,
            );
        }
    }
    written
}
