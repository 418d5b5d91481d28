//! Predicted broadcast p99 on Cloudflare against sessions at one round trip, one curve per shard count
//! as built, one through relays, one as it was before headers-first replies, and one for the seed's
//! single object, as a self-contained SVG (log-log axes).

use super::costs::UnitCosts;
use super::model::{predict, Design, Execution, Fanout, Network};

pub struct Curve {
    pub label: String,
    pub color: &'static str,
    pub dashed: bool,
    /// (sessions, p99 ms) for the session counts the design can hold.
    pub points: Vec<(f64, f64)>,
}

const COLORS: [&str; 6] = ["#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#7f7f7f", "#8c564b"];

pub fn curves(mesh: &UnitCosts, seed: &UnitCosts, shards: &[u32], network: Network) -> Vec<Curve> {
    // 1,000 to ~17M sessions, 8 points per decade.
    let sessions: Vec<u64> = (0..=58).map(|i| 10f64.powf(3.0 + i as f64 / 8.0) as u64).collect();
    let curve = |label: String, color, costs: &UnitCosts, design| Curve {
        label,
        color,
        dashed: !matches!(design, Design::Mesh { fanout: Fanout::HeadersFirst, .. } | Design::SingleObject),
        points: sessions
            .iter()
            .map(|&k| (k, predict(costs, design, Execution::Cloudflare(network), k)))
            .filter(|(_, p)| p.cannot_hold.is_none())
            .map(|(k, p)| (k as f64, p.broadcast_p99_ms))
            .collect(),
    };
    let mut out = vec![curve("seed (1 object)".into(), COLORS[4], seed, Design::SingleObject)];
    for (i, &n) in shards.iter().enumerate() {
        out.push(curve(format!("mesh, {n} shards"), COLORS[i % 4], mesh, Design::mesh(n)));
    }
    if let Some(&n) = shards.last() {
        out.push(curve(format!("{n}, through relays"), COLORS[(shards.len() - 1) % 4], mesh, Design::relayed(n)));
        out.push(curve(format!("{n}, whole replies (before)"), COLORS[5], mesh, Design::whole_reply(n)));
    }
    out
}

pub fn svg(curves: &[Curve], network: Network) -> String {
    let (width, height, left, right, top, bottom) = (760.0, 460.0, 70.0, 190.0, 30.0, 50.0);
    let (x_min, x_max) = (3.0f64, 7.25f64); // log10 sessions
    let all: Vec<f64> = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1.max(1e-3).log10())).collect();
    let y_min = all.iter().cloned().fold(f64::INFINITY, f64::min).floor();
    let y_max = all.iter().cloned().fold(f64::NEG_INFINITY, f64::max).ceil().max(y_min + 1.0);
    let x = |v: f64| left + (v.log10() - x_min) / (x_max - x_min) * (width - left - right);
    let y = |v: f64| top + (y_max - v.max(1e-3).log10()) / (y_max - y_min) * (height - top - bottom);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" \
         font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{left}\" y=\"18\" \
         font-size=\"14\">Predicted broadcast p99 on Cloudflare at a {} ms round trip (model, unit costs \
         measured locally)</text>\n",
        network.round_trip_ms
    );
    for decade in 3..=7 {
        let v = 10f64.powi(decade);
        s += &format!(
            "<line x1=\"{0:.1}\" y1=\"{top}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#ddd\"/><text x=\"{0:.1}\" \
             y=\"{2:.1}\" text-anchor=\"middle\">{3}</text>\n",
            x(v),
            height - bottom,
            height - bottom + 16.0,
            human(v)
        );
    }
    for decade in (y_min as i32)..=(y_max as i32) {
        let v = 10f64.powi(decade);
        s += &format!(
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/><text x=\"{2:.1}\" \
             y=\"{3:.1}\" text-anchor=\"end\">{4} ms</text>\n",
            y(v),
            width - right,
            left - 6.0,
            y(v) + 4.0,
            human(v)
        );
    }
    s += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">sessions</text>\n",
        (left + width - right) / 2.0,
        height - 12.0
    );
    for (i, c) in curves.iter().enumerate() {
        let path: Vec<String> = c.points.iter().map(|&(k, p)| format!("{:.1},{:.1}", x(k), y(p))).collect();
        let dash = if c.dashed { " stroke-dasharray=\"6 4\"" } else { "" };
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash} points=\"{}\"/>\n",
            c.color,
            path.join(" ")
        );
        if let Some(&(k, p)) = c.points.last() {
            s += &format!("<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>\n", x(k), y(p), c.color);
        }
        let ly = top + 20.0 + i as f64 * 18.0;
        s += &format!(
            "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{2:.1}\" y2=\"{1:.1}\" stroke=\"{3}\" stroke-width=\"2\"{7}/>\
             <text x=\"{4:.1}\" y=\"{5:.1}\">{6}</text>\n",
            width - right + 10.0,
            ly,
            width - right + 30.0,
            c.color,
            width - right + 35.0,
            ly + 4.0,
            c.label,
            dash
        );
    }
    s += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">a dot: the most the design holds</text>\n</svg>\n",
        width - right + 10.0,
        top + 20.0 + curves.len() as f64 * 18.0 + 6.0
    );
    s
}

fn human(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{}M", v / 1e6),
        v if v >= 1e3 => format!("{}k", v / 1e3),
        v if v >= 1.0 => format!("{v}"),
        v => format!("{v:.2}"),
    }
}
