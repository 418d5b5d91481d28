//! End to end against workerd: `wrangler dev` started on a free port by the harness, real Durable
//! Objects (hibernation, SQLite), the reference MCP server and the manager API.
//!
//! A plain `cargo test` skips this (it needs the wasm build and the npm tools); `make test` sets
//! `MESH_E2E=1` after building. It prints one line per scenario and `e2e: N passed, M failed`.
//!
//! This file is the runner: the order of the parts, the scenario list and the report. The scenarios
//! live in `support/mcp_scenarios.rs` and `support/stream_scenarios.rs`, what they share in
//! `support/e2e_http.rs`.

mod support;

use std::time::Instant;

use support::e2e_http::{check, HttpDriver};
use support::fanout_scenarios::{
    a_broadcast_calls_every_shard_while_reports_are_held, a_shard_failing_after_its_headers_fails_the_send,
    relays_keep_every_guarantee,
};
use support::manager_suite;
use support::mcp_scenarios::{
    announce_reaches_every_session_exactly_once, delete_closes_the_stream_and_later_requests_get_404,
    has_reports_live_streams, second_get_stream_conflicts, sessions_spread_over_shards, status_route_needs_the_token,
    targeted_send_reaches_exactly_the_subscribers, transport_errors_are_json_rpc_errors, Fleet,
};
use support::stream_scenarios::{
    a_client_that_disconnects_is_removed, a_closed_listen_stream_leaves_the_topic_index,
    a_resumed_stream_gets_exactly_what_it_missed, a_resuming_stream_takes_over_a_registered_one,
    a_stalled_consumer_is_cut_off_without_delaying_others, a_stream_waits_for_a_record_still_being_written,
    shard_rebuilds_its_table_after_eviction,
};
use support::workerd::Wrangler;
use support::{chaos, chaos_scale, interop, oauth, operator, package, tasks, tmcp};

/// A scenario against the shared worker and the shared fleet of sessions.
type Scenario = fn(&Wrangler, &mut Option<Fleet>) -> Result<(), String>;
/// An interop run (conformance suite or SDK client) that prints a summary.
type InteropCheck<'a> = Box<dyn Fn() -> Result<String, String> + 'a>;

fn main() {
    if std::env::var("MESH_E2E").as_deref() != Ok("1") {
        println!("e2e: skipped (needs the wasm build and wrangler; `make test` runs it with MESH_E2E=1)");
        return;
    }
    // MESH_E2E_ONLY=reshard|chaos|limits|polling|tmcp|oauth|hib|fanout|operator|package|tasks runs just
    // that part, for quick iterations by hand
    // (hib: the manager suite and the MCP and stream scenarios, HIB_RUNS (10) times on fresh workers).
    if let Ok(only) = std::env::var("MESH_E2E_ONLY") {
        let outcome = match only.as_str() {
            "reshard" => chaos::reshard(24, 4, 6).map(|r| println!("reshard: moved {}", r.moved)),
            "chaos" => chaos::run(12, 30, 0).and_then(|direct| Ok((direct, chaos::run(12, 30, 1)?))).map(|(d, r)| {
                println!("chaos: direct {}/{}, through relays {}/{}", d.delivered, d.expected, r.delivered, r.expected)
            }),
            // `make chaos`: CHAOS_SESSIONS (1000), CHAOS_ROUNDS (20), CHAOS_SEED (1), CHAOS_RUNS (2).
            "chaos-scale" => chaos_at_scale(),
            "limits" => chaos::shard_full(),
            "polling" => chaos::polling(),
            "hib" => hib_loop(),
            "fanout" => start_workers().and_then(|(wrangler, _peer)| {
                a_broadcast_calls_every_shard_while_reports_are_held(&wrangler, &mut None)?;
                a_shard_failing_after_its_headers_fails_the_send(&wrangler, &mut None)?;
                relays_keep_every_guarantee(&wrangler, &mut None)
            }),
            "oauth" => oauth::run_scenario().and_then(|rust| {
                let tmcp = oauth::run_tmcp_scenario()?;
                let python = oauth::run_python_scenario()?;
                println!("{rust}\ntmcp {tmcp}\n{python}");
                Ok(())
            }),
            "operator" => operator::run_scenario().map(|summary| println!("{summary}")),
            "tasks" => start_workers().and_then(|(wrangler, peer)| {
                let clients = tasks::clients(&wrangler.url("/mcp"), &peer.url("/mcp"), &wrangler.token)?;
                drop((wrangler, peer));
                let restarts = tasks::a_restart_mid_task_resumes_or_fails_it()?;
                println!("{clients}\n{restarts}");
                Ok(())
            }),
            "package" => package::installed_from_the_tarball().map(|summary| println!("{summary}")),
            "tmcp" => match tmcp::run_all().into_iter().find(|(_, outcome)| outcome.is_err()) {
                Some((name, Err(error))) => Err(format!("{name}: {error}")),
                _ => Ok(()),
            },
            other => Err(format!("unknown MESH_E2E_ONLY {other}")),
        };
        let failed = usize::from(outcome.is_err());
        if let Err(error) = outcome {
            println!("FAIL {only}: {error}");
        }
        println!("e2e: {} passed, {failed} failed", 1 - failed);
        std::process::exit(i32::from(failed > 0));
    }
    let (wrangler, peer) = match start_workers() {
        Ok(workers) => workers,
        Err(error) => {
            eprintln!("e2e: {error}");
            std::process::exit(1);
        }
    };
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    let driver = HttpDriver { wrangler: &wrangler };
    for (name, case) in manager_suite::cases::<HttpDriver>() {
        let prefix = format!("{name}-{}", std::process::id());
        results.push((format!("manager::{name}"), case(&driver, &prefix)));
        report(results.last());
    }
    let mut fixture = None;
    for (name, scenario) in scenarios() {
        timed(&mut results, name, || scenario(&wrangler, &mut fixture));
    }
    let url = wrangler.url("/mcp");
    let peer_url = peer.url("/mcp");
    let interop: Vec<(&str, InteropCheck<'_>)> = vec![
        ("conformance::0.1.16_active_suite", Box::new(|| interop::conformance_0_1_16(&url))),
        ("conformance::0.2.0-alpha.12_2025-11-25", Box::new(|| interop::conformance_alpha(&url, "2025-11-25"))),
        ("conformance::0.2.0-alpha.12_2026-07-28", Box::new(|| interop::conformance_alpha(&url, "2026-07-28"))),
        ("clients::typescript_sdk", Box::new(|| interop::typescript_client(&url, &peer_url))),
        ("clients::python_sdk_legacy", Box::new(|| interop::python_client(&url, &peer_url, "legacy"))),
        ("clients::python_sdk_auto", Box::new(|| interop::python_client(&url, &peer_url, "auto"))),
        (
            "tasks::ext_tasks_and_sdk_task_clients_across_processes",
            Box::new(|| tasks::clients(&url, &peer_url, &wrangler.token)),
        ),
    ];
    for (name, check) in interop {
        timed(&mut results, name, || check().map(|summary| println!("     {name}: {summary}")));
    }
    timed(&mut results, "operator::analytics_stay_off_without_the_binding", || {
        operator::analytics_stay_off_without_the_binding(&peer)
    });
    drop(peer);
    timed(&mut results, "operator::metrics_analytics_dashboard_and_restart", || {
        operator::run_scenario().map(|summary| println!("     {summary}"))
    });
    let started = Instant::now();
    for (name, outcome) in tmcp::run_all() {
        results.push((format!("{name} ({:.1}s)", started.elapsed().as_secs_f64()), outcome));
        report(results.last());
    }
    timed(&mut results, "tmcp::the_packed_package_from_its_readme", || {
        package::installed_from_the_tarball().map(|summary| println!("     {summary}"))
    });
    for (name, relay_above_shards) in [("", 0), (", through relays", 1)] {
        let label = if relay_above_shards > 0 { "_through_relays" } else { "" };
        timed(&mut results, &format!("chaos::restart_and_drops_lose_nothing{label}"), || {
            chaos::run(12, 30, relay_above_shards).and_then(|r| {
                println!(
                    "     chaos{name}: {} sessions x {} notifications: delivered {}/{} (duplicates {}, \
                     reconnects {}); faults: {}",
                    r.sessions,
                    r.notifications,
                    r.delivered,
                    r.expected,
                    r.duplicates,
                    r.reconnects,
                    r.faults.join("; ")
                );
                check(r.delivered == r.expected && r.duplicates == 0, "a notification was lost or repeated")
            })
        });
    }
    timed(&mut results, "reshard::live_sessions_survive_a_shard_count_change", || {
        chaos::reshard(24, 4, 6).map(|r| {
            println!(
                "     reshard: {} live sessions, SHARD_COUNT {} -> {}: {} sessions' home shard changed; \
                 all kept working",
                r.sessions, r.from, r.to, r.moved
            );
        })
    });
    timed(&mut results, "limits::a_full_shard_answers_503_and_recovers", chaos::shard_full);
    timed(&mut results, "oauth::a_real_authorization_server_end_to_end", || {
        oauth::run_scenario().map(|summary| println!("     {summary}"))
    });
    timed(&mut results, "oauth::a_tmcp_server_with_mesh_oauth", || {
        oauth::run_tmcp_scenario().map(|summary| println!("     {summary}"))
    });
    timed(&mut results, "oauth::the_python_sdks_own_oauth_client", || {
        oauth::run_python_scenario().map(|summary| println!("     {summary}"))
    });
    timed(&mut results, "tasks::a_restart_mid_task_resumes_or_fails_it", || {
        tasks::a_restart_mid_task_resumes_or_fails_it().map(|summary| println!("     {summary}"))
    });
    timed(&mut results, "polling::each_poll_carries_the_next_event", chaos::polling);
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if failed > 0 {
        eprintln!("--- wrangler log (tail) ---\n{}", wrangler.log_tail());
    }
    drop(fixture);
    drop(wrangler);
    println!("e2e: {} passed, {} failed", results.len() - failed, failed);
    if failed > 0 {
        std::process::exit(1);
    }
}

/// Runs one check, timed, and records and prints its outcome as `name (N.Ns)`.
fn timed(results: &mut Vec<(String, Result<(), String>)>, name: &str, check: impl FnOnce() -> Result<(), String>) {
    let started = Instant::now();
    let outcome = check();
    results.push((format!("{name} ({:.1}s)", started.elapsed().as_secs_f64()), outcome));
    report(results.last());
}

fn report(result: Option<&(String, Result<(), String>)>) {
    if let Some((name, outcome)) = result {
        match outcome {
            Ok(()) => println!("ok   {name}"),
            Err(error) => println!("FAIL {name}: {error}"),
        }
    }
}

fn chaos_at_scale() -> Result<(), String> {
    let var = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (sessions, rounds) = (var("CHAOS_SESSIONS", 1000) as usize, var("CHAOS_ROUNDS", 20) as usize);
    let (seed, runs) = (var("CHAOS_SEED", 1), var("CHAOS_RUNS", 2));
    let mut reports = Vec::new();
    for run in 0..runs {
        // Every other run sends through relays (RELAY_ABOVE_SHARDS 1: 2 or 3 relays for 4 or 6 shards).
        let relay_above_shards = (run % 2) as u32;
        let report = chaos_scale::run(sessions, rounds.max(5), seed + run, relay_above_shards)?;
        println!(
            "chaos-scale: {} sessions, RELAY_ABOVE_SHARDS {}: sent {}, delivered {}, lost {}, duplicates {}, \
             reconnects {}, refused {}, unconfirmed {}; faults: {}",
            report.sessions,
            report.relay_above_shards,
            report.sent,
            report.delivered,
            report.lost,
            report.duplicates,
            report.reconnects,
            report.refused,
            report.unconfirmed,
            report.faults.join("; ")
        );
        reports.push(report);
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest/results/chaos.json");
    chaos_scale::write(&reports, &path)?;
    println!("chaos-scale: wrote {}", path.display());
    let clean = reports.iter().all(|r| r.lost == 0 && r.duplicates == 0 && r.refused == 0);
    check(clean, "a notification was lost or repeated, or a reconnect refused")
}

/// The e2e up to the hibernation scenario (manager suite, MCP and stream scenarios, each round on a
/// fresh wrangler and peer) repeated `HIB_RUNS` times: a hunt for the rare miss of the first send after
/// a shard hibernated. Each round prints a `PROBE` line with that send's raw answer.
fn hib_loop() -> Result<(), String> {
    let runs = std::env::var("HIB_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(10u32);
    let mut failures = 0;
    for run in 0..runs {
        let (wrangler, peer) = start_workers()?;
        let driver = HttpDriver { wrangler: &wrangler };
        for (name, case) in manager_suite::cases::<HttpDriver>() {
            let prefix = format!("{name}-{}-{run}", std::process::id());
            if let Err(error) = case(&driver, &prefix) {
                println!("run {run}: FAIL manager::{name}: {error}");
                failures += 1;
            }
        }
        let mut fixture = None;
        for (name, scenario) in scenarios() {
            let started = Instant::now();
            match scenario(&wrangler, &mut fixture) {
                Ok(()) => println!("run {run}: ok   {name} ({:.1}s)", started.elapsed().as_secs_f64()),
                Err(error) => {
                    println!("run {run}: FAIL {name}: {error}");
                    failures += 1;
                }
            }
        }
        drop(fixture);
        drop(peer);
        drop(wrangler);
    }
    check(
        failures == 0,
        format!("{failures} failed cases in {runs} rounds (a first send that missed and then arrived prints a NOTE)"),
    )
}

/// The worker the suite runs against, and a second worker process bound to the same Durable Objects
/// (another isolate for sure).
fn start_workers() -> Result<(Wrangler, Wrangler), String> {
    let wrangler =
        Wrangler::start(&[("SHARD_COUNT", "16"), ("KEEPALIVE_MS", "500"), ("STREAM_BUFFER_BYTES", "262144")])
            .map_err(|error| format!("could not start wrangler dev: {error}"))?;
    let peer = Wrangler::start_with_config(Some("tests/wrangler.peer.toml"), &[])
        .map_err(|error| format!("could not start the peer worker: {error}"))?;
    Ok((wrangler, peer))
}

/// The MCP and stream scenarios, in the order they run against the shared worker and fleet.
fn scenarios() -> Vec<(&'static str, Scenario)> {
    vec![
        ("mcp::sessions_spread_over_shards", sessions_spread_over_shards),
        ("mcp::has_reports_live_streams", has_reports_live_streams),
        ("mcp::announce_reaches_every_session_exactly_once", announce_reaches_every_session_exactly_once),
        ("mcp::targeted_send_reaches_exactly_the_subscribers", targeted_send_reaches_exactly_the_subscribers),
        ("mcp::second_get_stream_conflicts", second_get_stream_conflicts),
        (
            "mcp::delete_closes_the_stream_and_later_requests_get_404",
            delete_closes_the_stream_and_later_requests_get_404,
        ),
        ("mcp::transport_errors_are_json_rpc_errors", transport_errors_are_json_rpc_errors),
        ("mcp::status_route_needs_the_token", status_route_needs_the_token),
        ("mcp::a_client_that_disconnects_is_removed", a_client_that_disconnects_is_removed),
        ("mcp::a_resumed_stream_gets_exactly_what_it_missed", a_resumed_stream_gets_exactly_what_it_missed),
        ("mcp::a_resuming_stream_takes_over_a_registered_one", a_resuming_stream_takes_over_a_registered_one),
        ("mcp::a_stream_waits_for_a_record_still_being_written", a_stream_waits_for_a_record_still_being_written),
        ("mcp::a_closed_listen_stream_leaves_the_topic_index", a_closed_listen_stream_leaves_the_topic_index),
        (
            "mesh::a_stalled_consumer_is_cut_off_without_delaying_others",
            a_stalled_consumer_is_cut_off_without_delaying_others,
        ),
        ("mesh::shard_rebuilds_its_table_after_eviction", shard_rebuilds_its_table_after_eviction),
        (
            "fanout::a_broadcast_calls_every_shard_while_reports_are_held",
            a_broadcast_calls_every_shard_while_reports_are_held,
        ),
        ("fanout::a_shard_failing_after_its_headers_fails_the_send", a_shard_failing_after_its_headers_fails_the_send),
        ("fanout::relays_keep_every_guarantee", relays_keep_every_guarantee),
    ]
}
