//! The probe's command line.

pub(crate) struct Args {
    pub(crate) url: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) sessions: usize,
    pub(crate) broadcasts: usize,
    pub(crate) targeted: usize,
    pub(crate) label: String,
    pub(crate) out: Option<String>,
    pub(crate) server_pids: Vec<u32>,
    pub(crate) create_concurrency: usize,
    pub(crate) callers: usize,
    pub(crate) subscribe_fraction: f64,
    pub(crate) wait_secs: u64,
    pub(crate) broadcast_gap_ms: u64,
    pub(crate) settle_ms: u64,
    pub(crate) no_delete: bool,
    /// `--storm`: the reconnect storm (see storm.rs) instead of the delivery run.
    pub(crate) storm: bool,
    /// `--epoll`: one reader thread for every stream (poller.rs) instead of one thread each.
    pub(crate) epoll: bool,
    /// `--cluster-dir DIR --cluster-peers P [--cluster-leader]`: one of P processes measuring together
    /// (cluster.rs); only the leader sends.
    pub(crate) cluster_dir: Option<String>,
    pub(crate) cluster_peers: usize,
    pub(crate) cluster_leader: bool,
    /// `--create-timeout-secs`: how long the create phase may take before the run goes on with the
    /// sessions it has.
    pub(crate) create_timeout_secs: u64,
}

pub(crate) fn usage() -> ! {
    eprintln!(
        "usage: probe --url http://127.0.0.1:PORT/mcp [--sessions K] [--broadcasts B] [--targeted T] \
         [--label NAME] [--out FILE]\n\
         \x20            [--server-pids PID,PID] [--create-concurrency 8] [--callers 4] [--subscribe-fraction 0.1]\n\
         \x20            [--wait-secs 30] [--broadcast-gap-ms 200] [--settle-ms 1000] [--no-delete] [--storm]\n\
         \x20            [--epoll] [--cluster-dir DIR --cluster-peers P [--cluster-leader]] [--create-timeout-secs 300]"
    );
    std::process::exit(2)
}

pub(crate) fn parse_args() -> Args {
    let mut a = Args {
        url: String::new(),
        host: String::new(),
        port: 0,
        path: String::new(),
        sessions: 100,
        broadcasts: 10,
        targeted: 100,
        label: "probe".into(),
        out: None,
        server_pids: Vec::new(),
        create_concurrency: 8,
        callers: 4,
        subscribe_fraction: 0.1,
        wait_secs: 30,
        broadcast_gap_ms: 200,
        settle_ms: 1000,
        no_delete: false,
        storm: false,
        epoll: false,
        cluster_dir: None,
        cluster_peers: 1,
        cluster_leader: false,
        create_timeout_secs: 300,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let flag = argv[i].as_str();
        if matches!(flag, "--no-delete" | "--storm" | "--epoll" | "--cluster-leader") {
            a.no_delete |= flag == "--no-delete";
            a.storm |= flag == "--storm";
            a.epoll |= flag == "--epoll";
            a.cluster_leader |= flag == "--cluster-leader";
            i += 1;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            usage();
        }
        let Some(value) = argv.get(i + 1).cloned() else { usage() };
        let num = |v: &str| -> usize { v.parse().unwrap_or_else(|_| usage()) };
        match flag {
            "--url" => a.url = value,
            "--sessions" => a.sessions = num(&value),
            "--broadcasts" => a.broadcasts = num(&value),
            "--targeted" => a.targeted = num(&value),
            "--label" => a.label = value,
            "--out" => a.out = Some(value),
            "--server-pids" => {
                a.server_pids = value
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--create-concurrency" => a.create_concurrency = num(&value).max(1),
            "--callers" => a.callers = num(&value).max(1),
            "--subscribe-fraction" => a.subscribe_fraction = value.parse().unwrap_or_else(|_| usage()),
            "--wait-secs" => a.wait_secs = num(&value) as u64,
            "--broadcast-gap-ms" => a.broadcast_gap_ms = num(&value) as u64,
            "--settle-ms" => a.settle_ms = num(&value) as u64,
            "--cluster-dir" => a.cluster_dir = Some(value),
            "--cluster-peers" => a.cluster_peers = num(&value).max(1),
            "--create-timeout-secs" => a.create_timeout_secs = num(&value) as u64,
            _ => usage(),
        }
        i += 2;
    }
    // Only loopback http URLs.
    let rest = a.url.strip_prefix("http://").unwrap_or_else(|| {
        eprintln!("--url must be http://127.0.0.1:PORT/path (loopback only)");
        std::process::exit(2)
    });
    let (hostport, path) = match rest.find('/') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, "/mcp"),
    };
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "80"));
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        eprintln!("refusing non-loopback host {host}");
        std::process::exit(2);
    }
    a.host = if host == "localhost" { "127.0.0.1".into() } else { host.trim_matches(|c| c == '[' || c == ']').into() };
    a.port = port.parse().unwrap_or_else(|_| usage());
    a.path = path.into();
    a
}
