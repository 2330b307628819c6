//! `datagate`: thin CLI over the library (see `datagate --help`).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use datagate::admin::ctl;
use datagate::config::{self, LogFormat};

const DEFAULT_CONFIG: &str = "/etc/datagate/datagate.toml";

#[derive(Parser)]
#[command(
    name = "datagate",
    version,
    about = "MySQL/Galera read-write split, Redis via Sentinel, L4 balancing and VRRP in one daemon"
)]
struct Cli {
    /// Config file (for `run` when no subcommand is given).
    #[arg(short, long, global = true, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon (the default).
    Run,
    /// Validate the config: exit 0, or exit 1 printing FILE:LINE:COL: message.
    Check,
    /// Talk to a running daemon's admin API.
    Ctl {
        /// Admin API base URL (default: from the config's [admin] listen, else http://127.0.0.1:9090).
        #[arg(long)]
        admin: Option<String>,
        /// Bearer token (default: DATAGATE_TOKEN, else the config's admin token).
        #[arg(long, env = "DATAGATE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[command(subcommand)]
        what: CtlCmd,
    },
    /// Translate an existing haproxy.cfg / maxscale.cnf / keepalived.conf to TOML on stdout
    /// (warnings on stderr).
    Import {
        /// The kind of file to translate.
        kind: ImportKind,
        /// The file to translate.
        file: PathBuf,
    },
    /// Print the version.
    Version,
}

/// What `datagate import` reads.
#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    /// An HAProxy configuration (haproxy.cfg).
    Haproxy,
    /// A MaxScale configuration (maxscale.cnf).
    Maxscale,
    /// A keepalived configuration (keepalived.conf): the first vrrp_instance.
    Keepalived,
}

#[derive(Subcommand)]
enum CtlCmd {
    /// Every group's servers with state and role.
    Servers,
    /// Stop sending new sessions to a server.
    Drain { group: String, server: String },
    /// Take a server out and close its sessions.
    Maint { group: String, server: String },
    /// Put a server back in service.
    Ready { group: String, server: String },
    /// VRRP state, priority and VIPs.
    Vrrp,
    /// Reload the daemon's config.
    Reload,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd.unwrap_or(Cmd::Run) {
        Cmd::Version => {
            println!("datagate {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Cmd::Check => match config::load(&cli.config) {
            Ok(_) => {
                println!("{}: ok", cli.config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Run => run(cli.config),
        Cmd::Ctl { admin, token, what } => ctl_main(&cli.config, admin, token, what),
        Cmd::Import { kind, file } => import_main(kind, &file),
    }
}

/// Prints the translation on stdout and each warning as `FILE:LINE: warning: ...` on stderr.
fn import_main(kind: ImportKind, file: &std::path::Path) -> ExitCode {
    let src = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: error: cannot read: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let result = match kind {
        ImportKind::Haproxy => datagate::import::haproxy(&src),
        ImportKind::Maxscale => datagate::import::maxscale(&src),
        ImportKind::Keepalived => datagate::import::keepalived(&src),
    };
    match result {
        Ok(out) => {
            print!("{}", out.toml);
            for w in &out.warnings {
                eprintln!("{}:{w}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.line() > 0 => {
            eprintln!("{}:{}: error: {e}", file.display(), e.line());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{}: error: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

/// Every client and server connection is a file: the soft limit goes up to the hard one (as
/// HAProxy sizes its own), so that thousands of sessions do not meet a default of 1024.
fn raise_open_files() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised the open files limit"),
            Err(e) => tracing::warn!(error = %e, soft, "cannot raise the open files limit"),
        },
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open files limit"),
    }
}

fn run(path: PathBuf) -> ExitCode {
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&cfg.log.level, cfg.log.format);
    raise_open_files();
    let workers = match cfg.global.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    // One worker: a current-thread runtime, no work-stealing or cross-thread wakeups.
    let built = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    };
    let rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(datagate::app::run(path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("datagate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}

fn ctl_main(
    path: &std::path::Path,
    admin: Option<String>,
    token: Option<String>,
    what: CtlCmd,
) -> ExitCode {
    let cfg = config::load(path).ok();
    let base = admin.unwrap_or_else(|| {
        cfg.as_ref().map_or_else(
            || "http://127.0.0.1:9090".into(),
            |c| format!("http://{}", c.admin.listen.get_ref()),
        )
    });
    let token = token.or_else(|| {
        let c = cfg.as_ref()?;
        c.admin.token.clone().or_else(|| {
            let f = c.admin.token_file.as_ref()?;
            std::fs::read_to_string(f)
                .ok()
                .map(|s| s.trim().to_string())
        })
    });
    let state_body = |s: &str| format!("{{\"state\":\"{s}\"}}");
    let (method, path, body) = match &what {
        CtlCmd::Servers => ("GET", "/api/v1/servers".to_string(), None),
        CtlCmd::Vrrp => ("GET", "/api/v1/vrrp".to_string(), None),
        CtlCmd::Reload => ("POST", "/api/v1/reload".to_string(), None),
        CtlCmd::Drain { group, server } => (
            "POST",
            format!("/api/v1/servers/{group}/{server}/state"),
            Some(state_body("drain")),
        ),
        CtlCmd::Maint { group, server } => (
            "POST",
            format!("/api/v1/servers/{group}/{server}/state"),
            Some(state_body("maint")),
        ),
        CtlCmd::Ready { group, server } => (
            "POST",
            format!("/api/v1/servers/{group}/{server}/state"),
            Some(state_body("ready")),
        ),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(ctl::request(
        &base,
        method,
        &path,
        token.as_deref(),
        body.as_deref(),
    )) {
        Ok(r) => {
            print!("{}", r.body);
            if (200..300).contains(&r.status) {
                ExitCode::SUCCESS
            } else {
                eprintln!("datagate ctl: HTTP {}", r.status);
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("datagate ctl: {e}");
            ExitCode::FAILURE
        }
    }
}
