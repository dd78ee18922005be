//! How long detection may take, derived from the parameters: the bound the
//! simulation holds the engine to, and the figure `duet simulate` prints.

use duet_params::{PRIMARY_PING_SET_SIZE, ServerParams, UnreachablePrimary};

/// Worst-case times from a failure on the active node to the switch, with
/// automatic switching on, the backup started and its own network good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FailoverBounds {
    /// The monitored module stops answering while the connections work.
    pub module_down_ms: u64,
    /// The notifier, the active node's host or the path to it fails; `None`
    /// when the parameters say never to switch for an unreachable primary.
    pub connection_lost_ms: Option<u64>,
}

/// Time for the network checks: gateways (when enabled), NetTest (when
/// configured), the primary's address.
fn network_check_ms(p: &ServerParams, gateways: usize, net_test: bool, primary: bool) -> u64 {
    let echo = p.net_test_timeout.ms();
    let gateway = if p.gateway_ping_enabled() {
        gateways as u64 * echo
    } else {
        0
    };
    let net_test = if net_test { echo } else { 0 };
    let primary = if primary {
        u64::from(PRIMARY_PING_SET_SIZE) * echo
    } else {
        0
    };
    gateway + net_test + primary
}

pub fn failover_bounds(p: &ServerParams, gateways: usize, net_test: bool) -> FailoverBounds {
    let module_timeout = p.module_timeout_ms();
    // A timed-out ping costs the timeout and the retry delay; a rejected
    // one, the regular interval (the timeout).
    let per_failure = module_timeout + p.module_retry_delay_ms();
    let confirm = u64::from(p.primary_monitor_retry_count) * p.primary_monitor_timeout_ms();
    let checks = network_check_ms(p, gateways, net_test, true);
    // The next ping may be a full interval away, then Max TS Failures on each
    // connection, the confirmation pings and the network checks.
    let module_down_ms =
        module_timeout + 2 * u64::from(p.max_ts_failures) * per_failure + confirm + checks;

    let detect = p.primary_monitor_ping_delay_ms()
        + u64::from(p.primary_monitor_retry_count + 1)
            * (p.primary_monitor_timeout_ms() + p.primary_monitor_retry_ping_delay.ms());
    let expiry_checks = network_check_ms(p, gateways, net_test, false);
    let connection_lost_ms = match p.unreachable_primary_ping_count {
        UnreachablePrimary::Never => None,
        _ => Some(detect + checks + p.reconnect_timeout.ms() + expiry_checks),
    };
    FailoverBounds {
        module_down_ms,
        connection_lost_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bounds_cover_the_seed_timelines() {
        // The seed's samples: a module down switches about 30 s after the
        // first failed ping; lost connections switch when the 30 s reconnect
        // timer expires.
        let b = failover_bounds(&ServerParams::default(), 0, false);
        assert!(b.module_down_ms >= 30_000, "{b:?}");
        assert!(b.connection_lost_ms.unwrap() >= 30_000, "{b:?}");
    }
}
