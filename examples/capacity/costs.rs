//! The unit costs the capacity model runs on (ms, measured on this machine; where each comes from:
//! `inputs.rs`), and how several measurements of them combine: the median over one point's runs, and
//! the line through two points for the sizes between and beyond.

/// Costs measured on this machine (ms). Where each comes from: `inputs.rs`.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitCosts {
    /// CPU per socket a shard (or the seed's object) writes in a broadcast.
    pub socket_send_ms: f64,
    /// CPU per message a Worker relays from its object socket into the client's SSE body.
    pub relay_ms: f64,
    /// CPU per message the clients spend reading it (local runs share the machine with them).
    pub client_read_ms: f64,
    /// What one more member shard adds to a broadcast: a Worker→object call, the shard's handler and
    /// its one replay-log write (measured together; the log write is not separated).
    pub object_call_ms: f64,
    /// One tool call that sends nothing (parse, session check, answer): the fixed part of a send.
    pub tool_call_ms: f64,
    /// CPU per session create (initialize, initialized, GET) in the objects, the Worker and the client.
    pub create_objects_ms: f64,
    pub create_worker_ms: f64,
    pub create_client_ms: f64,
    /// A targeted send's work in the objects beyond writing its messages, per recipient (the mesh's
    /// topic lookup and grouping), or for the seed per recipient *per session held*: its object checks
    /// every session against the recipient list (`sessions.includes(id)`).
    pub targeted_objects_extra_ms: f64,
    /// A targeted send's work in the Worker beyond the tool call and the relays, per recipient (the
    /// seed reads each subscriber from KV).
    pub targeted_worker_extra_ms: f64,
    /// How much later than an even spread of the serial work the slowest 1 % of a local broadcast's
    /// deliveries arrive (broadcasts are not identical: a run's slowest sets its p99), as measured in
    /// the calibration runs; 1 for none. Local predictions only.
    pub p99_tail: f64,
    /// How much of the busiest thread's (or the machine's) time a local run's creates and targeted
    /// sends get: measured ÷ predicted throughput in the calibration runs (idle gaps between requests,
    /// kernel work no process is charged for); 1 for all of it. Local predictions only.
    pub throughput_share: f64,
}

impl UnitCosts {
    /// The costs each run measures, in a fixed order (the calls measured once, object and tool call,
    /// and the tail are not among them).
    fn per_run(&self) -> [f64; 8] {
        [
            self.socket_send_ms,
            self.relay_ms,
            self.client_read_ms,
            self.create_objects_ms,
            self.create_worker_ms,
            self.create_client_ms,
            self.targeted_objects_extra_ms,
            self.targeted_worker_extra_ms,
        ]
    }

    /// `self` with the costs each run measures replaced by `v` (in `per_run`'s order).
    fn with_per_run(&self, v: [f64; 8]) -> UnitCosts {
        UnitCosts {
            socket_send_ms: v[0],
            relay_ms: v[1],
            client_read_ms: v[2],
            create_objects_ms: v[3],
            create_worker_ms: v[4],
            create_client_ms: v[5],
            targeted_objects_extra_ms: v[6],
            targeted_worker_extra_ms: v[7],
            ..self.clone()
        }
    }

    /// The costs a fraction `t` of the way from `self` to `other` (t outside 0..1 extrapolates; no cost
    /// goes below zero). The calls measured once (object call, tool call) stay `self`'s.
    pub fn towards(&self, other: &UnitCosts, t: f64) -> UnitCosts {
        let (a, b) = (self.per_run(), other.per_run());
        self.with_per_run(std::array::from_fn(|i| (a[i] + (b[i] - a[i]) * t).max(0.0)))
    }

    /// Cost by cost, the median over several runs of one point (`None` for no runs): one noisy run does
    /// not set a point's costs. The calls measured once stay the first run's.
    pub fn median_of(runs: &[UnitCosts]) -> Option<UnitCosts> {
        let first = runs.first()?;
        // Not empty: every cost has a median.
        Some(first.with_per_run(std::array::from_fn(|i| {
            median(runs.iter().map(|c| c.per_run()[i]).collect()).unwrap_or(0.0)
        })))
    }

    /// The costs for `sessions` sessions on the line through points measured at (sessions, costs), in
    /// ascending order: the first two (extrapolated past them); with one point, its costs.
    pub fn interpolate(points: &[(u64, UnitCosts)], sessions: u64) -> Option<UnitCosts> {
        match points {
            [] => None,
            [(_, only)] => Some(only.clone()),
            [(k0, first), (k1, second), ..] => {
                Some(first.towards(second, (sessions as f64 - *k0 as f64) / (*k1 as f64 - *k0 as f64)))
            }
        }
    }
}

/// The median of `values`: the middle value, or the mean of the middle two; `None` for none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(0.5 * (values[n / 2 - 1] + values[n / 2])),
    }
}

/// Round costs the tests of this model compute their expectations from.
#[cfg(test)]
pub fn example_costs() -> UnitCosts {
    UnitCosts {
        socket_send_ms: 0.03,
        relay_ms: 0.1,
        client_read_ms: 0.02,
        object_call_ms: 1.0,
        tool_call_ms: 5.0,
        create_objects_ms: 1.5,
        create_worker_ms: 5.0,
        create_client_ms: 0.4,
        targeted_objects_extra_ms: 0.0,
        targeted_worker_extra_ms: 0.0,
        p99_tail: 1.0,
        throughput_share: 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::{example_costs as costs, *};

    #[test]
    fn costs_between_two_calibration_sizes_follow_the_line_through_them() {
        let (a, b) = (costs(), UnitCosts { relay_ms: 0.2, create_worker_ms: 3.0, ..costs() });
        let half = a.towards(&b, 0.5);
        assert!((half.relay_ms - 0.15).abs() < 1e-12 && (half.create_worker_ms - 4.0).abs() < 1e-12);
        // Past the second point the line goes on, and never below zero.
        assert!((a.towards(&b, 2.0).relay_ms - 0.3).abs() < 1e-12);
        assert_eq!(a.towards(&b, 6.0).create_worker_ms, 0.0);
        assert_eq!(a.towards(&b, 0.5).object_call_ms, a.object_call_ms);
    }

    #[test]
    fn a_points_costs_are_the_median_of_its_runs_cost_by_cost() {
        let runs = [
            UnitCosts { relay_ms: 0.10, socket_send_ms: 0.05, ..costs() },
            UnitCosts { relay_ms: 0.30, socket_send_ms: 0.01, ..costs() },
            UnitCosts { relay_ms: 0.12, socket_send_ms: 0.02, object_call_ms: 9.0, ..costs() },
        ];
        let median = UnitCosts::median_of(&runs).unwrap();
        // One slow run moves neither cost; each cost's median comes from a different run.
        assert_eq!((median.relay_ms, median.socket_send_ms), (0.12, 0.02));
        assert_eq!(median.object_call_ms, 1.0);
        let two = UnitCosts::median_of(&runs[..2]).unwrap();
        assert!((two.relay_ms - 0.2).abs() < 1e-12);
        assert!(UnitCosts::median_of(&[]).is_none());
    }

    #[test]
    fn interpolation_uses_the_two_points_and_one_point_alone() {
        let (a, b) = (costs(), UnitCosts { relay_ms: 0.2, ..costs() });
        let points = [(10_000, a.clone()), (30_000, b)];
        let at_50k = UnitCosts::interpolate(&points, 50_000).unwrap();
        assert!((at_50k.relay_ms - 0.3).abs() < 1e-12, "{at_50k:?}");
        assert_eq!(UnitCosts::interpolate(&points[..1], 50_000), Some(a));
        assert_eq!(UnitCosts::interpolate(&[], 50_000), None);
    }
}
