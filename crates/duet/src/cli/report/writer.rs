//! `duet report writer`: the stream of whichever node answers into one
//! reporting database. The decisions are `duet_report::Ingest`'s; this
//! is the socket, the clock and the signals.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use duet_client::nodes::host_port;
use duet_report::Database;
use duet_report::database::AnyStore;
use duet_report::frame::Frame;
use duet_report::ingest::{Ingest, Next};
use duet_report::store::SessionEnd;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// Connecting or the handshake taking longer: the node is taken for gone.
const CONNECT_WAIT_MS: u64 = 1_000;
/// How long one read blocks, so a stop is noticed.
const READ_SLICE_MS: u64 = 250;
/// Frames written together at most, and how long a read waits for one
/// more before those in hand are written.
const BATCH_MAX: usize = 1_000;
const BATCH_WAIT_MS: u64 = 1;
/// Nothing from the node (it heartbeats every second) for this long: the
/// session ends as `no_activity` and the writer connects again.
const NO_ACTIVITY_MS: u64 = 5_000;
/// The largest frame a node may send: a change is at most 768 KiB (the
/// interaction state's limit), as JSON a little more.
const FRAME_MAX_BYTES: usize = 4 << 20;
/// Pause after both nodes refused, doubling up to the most.
const RETRY_FIRST_MS: u64 = 50;
const RETRY_MOST_MS: u64 = 2_000;
/// Pause between tries of a database that failed, doubling up to the
/// most (a PostgreSQL server restarting takes a second or two).
const DATABASE_RETRY_FIRST_MS: u64 = 100;
const DATABASE_RETRY_MOST_MS: u64 = 2_000;

#[derive(clap::Args)]
pub struct Args {
    /// Each node's base URL (`http://host:port`); the first is tried first.
    #[arg(long = "node", required = true, num_args = 1)]
    nodes: Vec<String>,
    /// The reporting database: an SQLite file's path (created if
    /// missing) or a PostgreSQL URL
    /// (postgres://user:password@host:port/database; the database must
    /// exist, its tables are made). Read as text and named here: clap
    /// would repeat a URL it refused, password and all.
    #[arg(long)]
    database: String,
    /// A master bootstrap user (the stream carries every interaction).
    #[arg(long, env = "DUET_USER")]
    user: String,
    #[arg(long, env = "DUET_PASSWORD", hide_env_values = true)]
    password: String,
    /// How often the configuration in effect (users, queues, settings
    /// with their history) is read and recorded, in seconds; 0: never.
    #[arg(long, default_value_t = CONFIG_EVERY_S)]
    config_every_s: u64,
}

/// The configuration changes seldom: read it once a minute.
const CONFIG_EVERY_S: u64 = 60;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Set on SIGINT or SIGTERM: the session ends as `shutdown`.
fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => return,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            flag.store(true, Ordering::SeqCst);
        });
    });
    Ok(stop)
}

fn open(url: &str, after: Option<String>, authorization: &str) -> Option<WebSocket<TcpStream>> {
    let address = host_port(url).ok()?;
    let socket_address = address.to_socket_addrs().ok()?.next()?;
    let wait = Duration::from_millis(CONNECT_WAIT_MS);
    let stream = TcpStream::connect_timeout(&socket_address, wait).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    stream.set_write_timeout(Some(wait)).ok()?;
    let after = after.map(|a| format!("?after={a}")).unwrap_or_default();
    let mut request = format!("ws://{address}/api/stream/ws{after}")
        .into_client_request()
        .ok()?;
    request
        .headers_mut()
        .insert("authorization", authorization.parse().ok()?);
    let config = WebSocketConfig::default()
        .max_message_size(Some(FRAME_MAX_BYTES))
        .max_frame_size(Some(FRAME_MAX_BYTES));
    let (ws, _) = tungstenite::client::client_with_config(request, stream, Some(config)).ok()?;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(READ_SLICE_MS)))
        .ok()?;
    Some(ws)
}

/// Reads one connection until it ends; why it ended. Frames that came
/// together are handed over together (up to [`BATCH_MAX`]), so a writer
/// behind writes many changes in one transaction.
fn follow(
    ws: &mut WebSocket<TcpStream>,
    ingest: &mut Ingest<AnyStore>,
    stop: &AtomicBool,
) -> anyhow::Result<SessionEnd> {
    let mut heard = Instant::now();
    let mut batch: Vec<Frame> = Vec::new();
    let mut waiting = Duration::from_millis(READ_SLICE_MS);
    loop {
        if stop.load(Ordering::SeqCst) {
            let _ = ws.close(None);
            return Ok(SessionEnd::Shutdown);
        }
        // With frames in hand, only what has already come is read before
        // they are written.
        let wanted = if batch.is_empty() {
            Duration::from_millis(READ_SLICE_MS)
        } else {
            Duration::from_millis(BATCH_WAIT_MS)
        };
        if wanted != waiting {
            ws.get_ref().set_read_timeout(Some(wanted))?;
            waiting = wanted;
        }
        let read = ws.read();
        let idle = matches!(
            &read,
            Err(tungstenite::Error::Io(e)) if matches!(
                e.kind(),
                // A signal (a stop) interrupts a read too.
                std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
            )
        );
        let ended = match read {
            Ok(Message::Text(text)) => {
                heard = Instant::now();
                match Frame::parse(&text) {
                    Ok(frame) => batch.push(frame),
                    Err(e) => tracing::warn!("skipping a frame this writer cannot read: {e}"),
                }
                None
            }
            Ok(Message::Close(_)) => Some(SessionEnd::Disconnected),
            Ok(_) => None,
            Err(_) if idle => (heard.elapsed() >= Duration::from_millis(NO_ACTIVITY_MS))
                .then_some(SessionEnd::NoActivity),
            Err(_) => Some(SessionEnd::Disconnected),
        };
        // What was read is written before the session's end is.
        if (idle || ended.is_some() || batch.len() >= BATCH_MAX) && !batch.is_empty() {
            let frames = std::mem::take(&mut batch);
            if ingest.frames(frames, now_ms())? == Next::Reconnect {
                return Ok(SessionEnd::Resync);
            }
        }
        if let Some(end) = ended {
            return Ok(end);
        }
    }
}

/// Tries the database again, with a pause doubling up to
/// [`DATABASE_RETRY_MOST_MS`], until it opens (`None`: stopped first).
/// Says once what it waits for, and once when it is back.
fn wait_for_database(
    database: &Database,
    open_store: &dyn Fn() -> duet_report::store::Result<Ingest<AnyStore>>,
    stop: &AtomicBool,
    failure: &anyhow::Error,
) -> Option<Ingest<AnyStore>> {
    eprintln!(
        "duet report writer: the reporting database {database} failed ({failure:#}); waiting for it, trying again every {} s at most",
        DATABASE_RETRY_MOST_MS / 1000
    );
    let mut pause = Duration::from_millis(DATABASE_RETRY_FIRST_MS);
    loop {
        let started = Instant::now();
        while started.elapsed() < pause {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(READ_SLICE_MS).min(pause));
        }
        if let Ok(ingest) = open_store() {
            eprintln!(
                "duet report writer: the reporting database {database} is back; resuming after {}",
                ingest
                    .cursor()
                    .map_or_else(|| "its start".to_string(), |c| c.to_string())
            );
            return Some(ingest);
        }
        pause = (pause * 2).min(Duration::from_millis(DATABASE_RETRY_MOST_MS));
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let urls: [String; 2] = match args.nodes.as_slice() {
        [one] => [one.clone(), one.clone()],
        [a, b] => [a.clone(), b.clone()],
        _ => bail!("give one or two --node URLs (the pair's nodes)"),
    };
    for url in &urls {
        host_port(url).map_err(|e| anyhow!("{e}: a node is http://host:port"))?;
    }
    let credentials = format!("{}:{}", args.user, args.password);
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    super::super::init_logging();
    let stop = stop_on_signal()?;
    let database: Database = args.database.parse()?;
    let open_store = || database.open().and_then(Ingest::new);
    let mut ingest = open_store().with_context(|| format!("the reporting database {database}"))?;
    // After the database is open (and migrated): the reader opens its own.
    let config = (args.config_every_s > 0).then(|| {
        super::config::Reader {
            urls: urls.clone(),
            authorization: authorization.clone(),
            database: database.clone(),
            every: Duration::from_secs(args.config_every_s),
        }
        .spawn(stop.clone())
    });
    let (mut node, mut refused, mut pause_ms) = (0usize, 0u32, RETRY_FIRST_MS);
    while !stop.load(Ordering::SeqCst) {
        let url = &urls[node];
        let Some(mut ws) = open(url, ingest.cursor().map(|c| c.to_string()), &authorization) else {
            // The node used last first, then the other; both refused: a
            // pause (a switchover takes a fraction of a second).
            node = 1 - node;
            refused += 1;
            if refused.is_multiple_of(2) {
                std::thread::sleep(Duration::from_millis(pause_ms));
                pause_ms = (pause_ms * 2).min(RETRY_MOST_MS);
            }
            continue;
        };
        (refused, pause_ms) = (0, RETRY_FIRST_MS);
        tracing::info!("reading the stream of {url}");
        let ended = ingest
            .connected(url, now_ms())
            .map_err(anyhow::Error::from)
            .and_then(|()| follow(&mut ws, &mut ingest, &stop))
            .and_then(|end| {
                tracing::info!("the stream of {url} ended: {}", end.name());
                Ok(ingest.disconnected(end, now_ms())?)
            });
        if let Err(e) = ended {
            // The database failed under a write: the session ends as
            // `database_lost` once it is back, and the stream resumes
            // from what it committed.
            drop(ws);
            let lost = ingest.session().map(|session| (session, now_ms()));
            let Some(back) = wait_for_database(&database, &open_store, &stop, &e) else {
                break;
            };
            ingest = back;
            if let Some((session, at_ms)) = lost
                && let Err(e) = ingest.database_lost(session, at_ms)
            {
                tracing::warn!("the session the database failed under was not ended: {e}");
            }
        }
    }
    if let Some(config) = config
        && config.join().is_err()
    {
        tracing::error!("the configuration reader stopped unexpectedly");
    }
    Ok(())
}
