//! What reaches the demo from outside while it runs: the commands typed
//! on its standard input, read bounded, and the signals that stop it.

use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// Commands waiting for the demo's loop; the reader waits when it is full,
/// so a flood on standard input is read no faster than it is used.
const COMMANDS_MAX: usize = 16;
/// Commands the loop takes in one round.
pub const COMMANDS_PER_ROUND: usize = 8;
/// A command line longer than this is cut: commands are one letter.
const LINE_MAX_BYTES: u64 = 256;

/// Reads commands (non-empty lines) from standard input on a thread of
/// its own, into a bounded channel.
pub fn commands() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::sync_channel::<String>(COMMANDS_MAX);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = (&mut stdin)
                .take(LINE_MAX_BYTES)
                .read_until(b'\n', &mut line);
            match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if !line.ends_with(b"\n") {
                // The rest of an over-long line, thrown away as it comes.
                let mut rest = Vec::new();
                if stdin.read_until(b'\n', &mut rest).is_err() {
                    return;
                }
            }
            let command = String::from_utf8_lossy(&line).trim().to_string();
            if !command.is_empty() && tx.send(command).is_err() {
                return;
            }
        }
    });
    rx
}

/// Sets `stop` on Ctrl-C, SIGTERM, SIGHUP or SIGQUIT, so the demo stops
/// its nodes whichever way it is told to end.
pub fn stop_on_signals(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered before the demo starts its nodes: a signal from then on
    // is caught, not the default end that would leave them running.
    let (mut interrupt, mut terminate, mut hangup, mut quit) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
            signal(SignalKind::quit())?,
        ))
    })?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
                _ = quit.recv() => {}
            }
        });
        stop.store(true, Ordering::SeqCst);
    });
    Ok(())
}
