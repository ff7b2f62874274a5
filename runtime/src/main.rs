use clap::Parser;
use jetway_runtime::cli::{Cli, Command};
use jetway_runtime::node::{self, StartError};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit codes: configuration a person must fix, and NATS that cannot be reached.
const EXIT_CONFIG: i32 = 78; // EX_CONFIG
const EXIT_UNAVAILABLE: i32 = 69; // EX_UNAVAILABLE

fn main() {
    let cli = Cli::parse();
    let (args, app_command) = match cli.command {
        Command::Sidecar(a) => (a, None),
        Command::Run(r) => (r.sidecar, Some(r.command)),
        Command::Bench(b) => std::process::exit(bench(b)),
        Command::Seal(s) => std::process::exit(seal(s)),
    };
    let level = match args.log_level() {
        Ok(level) => level,
        Err(e) => {
            eprintln!("jetway: {e}");
            std::process::exit(EXIT_CONFIG);
        }
    };
    init_logging(level, args.log_as_json);
    let settings = match args.settings(|k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => std::process::exit(fail(EXIT_CONFIG, &e)),
    };
    let runtime = runtime();
    let code = runtime.block_on(async {
        match app_command {
            None => sidecar(settings).await,
            Some(command) => match jetway_runtime::run::run(settings, &command).await {
                Ok(code) => code,
                Err(e) => match e.downcast_ref::<StartError>() {
                    Some(s) => start_failed(s),
                    None => fail(1, &e),
                },
            },
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}

/// `jetway seal`: the sealed form of the value on stdin.
fn seal(args: jetway_runtime::cli::SealArgs) -> i32 {
    use std::io::Read;
    let key = std::fs::read_to_string(&args.key_file)
        .map_err(|e| e.to_string())
        .and_then(|text| jetway_blocks::secrets::SealKey::parse(&text));
    let key = match key {
        Ok(key) => key,
        Err(e) => {
            eprintln!("jetway seal: {}: {e}", args.key_file.display());
            return EXIT_CONFIG;
        }
    };
    let mut value = Vec::new();
    if let Err(e) = std::io::stdin().take(1 << 20).read_to_end(&mut value) {
        eprintln!("jetway seal: cannot read the value on stdin: {e}");
        return 1;
    }
    // `echo value | jetway seal` should not seal echo's newline.
    if value.ends_with(b"\n") {
        value.pop();
    }
    println!("{}", key.seal(&args.name, &value));
    0
}

async fn sidecar(settings: jetway_api::settings::Settings) -> i32 {
    let shutdown = CancellationToken::new();
    let running = match node::start(settings, shutdown.clone()).await {
        Ok(r) => r,
        Err(e) => return start_failed(&e),
    };
    let token = shutdown.clone();
    tokio::spawn(async move {
        let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        token.cancel();
    });
    running.wait().await;
    0
}

/// Keeps a timer due within a second. Registering a timer due before every
/// other wakes the runtime's driver with a write to its eventfd, and every
/// NATS request registers one (its timeout): with this floor under them, they
/// no longer do.
async fn timer_floor() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
    }
}

/// The sidecar's runtime. One thread by default: a sidecar shares its machine
/// with its app and NATS, and on one thread a request never waits for a wakeup
/// on another core (measured: lower latency and higher throughput on two
/// cores). `JETWAY_WORKER_THREADS=N` runs N worker threads instead.
fn runtime() -> tokio::runtime::Runtime {
    let workers = std::env::var("JETWAY_WORKER_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = builder.enable_all().build().expect("tokio runtime");
    runtime.spawn(timer_floor());
    runtime
}

fn bench(args: jetway_bench::BenchArgs) -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(jetway_bench::run(args)) {
        Ok(()) => 0,
        Err(e) => fail(1, &format!("{e:#}")),
    }
}

fn start_failed(e: &StartError) -> i32 {
    match e {
        StartError::Config(_) => fail(EXIT_CONFIG, e),
        StartError::Nats(_) => fail(EXIT_UNAVAILABLE, e),
        StartError::Io(_) => fail(1, e),
    }
}

fn fail(code: i32, e: &dyn std::fmt::Display) -> i32 {
    tracing::error!("{e}");
    eprintln!("jetway: {e}");
    code
}

fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},async_nats=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
