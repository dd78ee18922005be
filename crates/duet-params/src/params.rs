//! The typed server parameters and the values derived from them.

use serde::{Deserialize, Serialize};

use crate::value::{AttributeException, MirrorDir};

/// A time parameter the seed gives in whole seconds, with an optional duet
/// extension parameter that sets it in milliseconds (for sub-second tuning).
/// The extension wins when both are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Tunable {
    pub seconds_ms: u64,
    pub override_ms: Option<u64>,
}

impl Tunable {
    pub fn ms(&self) -> u64 {
        self.override_ms.unwrap_or(self.seconds_ms)
    }
}

/// `Switchover Monitoring`: which module on the active node the module
/// monitor pings. `TsServer` stands for duet's `interactions` subsystem, `IP`
/// for its `routing` subsystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum MonitoredModule {
    #[default]
    TsServer,
    Ip,
}

impl MonitoredModule {
    /// The name the seed's logs use.
    pub fn seed_name(self) -> &'static str {
        match self {
            MonitoredModule::TsServer => "TsServer",
            MonitoredModule::Ip => "IP",
        }
    }

    /// The duet subsystem this module stands for.
    pub fn subsystem(self) -> &'static str {
        match self {
            MonitoredModule::TsServer => "interactions",
            MonitoredModule::Ip => "routing",
        }
    }

    /// "TS" or "IP", as in "TS Ping Failure".
    pub fn ping_label(self) -> &'static str {
        match self {
            MonitoredModule::TsServer => "TS",
            MonitoredModule::Ip => "IP",
        }
    }
}

/// What the backup does once it has found the primary's address unreachable
/// (`Switchover Unreachable Primary Ping Count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum UnreachablePrimary {
    /// Parameter not set: switch at once (the seed's default), provided the
    /// backup's own network is known to be good.
    #[default]
    SwitchImmediately,
    /// Send this many more ping sets, `Unreachable Primary Ping Delay` apart,
    /// then switch if none is answered (values 0-3 mean 3).
    AfterPingSets(u32),
    /// -1: never switch because the primary is unreachable; keep waiting.
    Never,
}

/// Which of the pair a node is (SwitchoverServer A or B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ServerId {
    A,
    B,
}

/// Every switchover server parameter, typed. Build it with
/// [`ServerParams::default`] (the seed's defaults) or
/// [`crate::ParamSet::from_entries`]; the fields are the parameters as set,
/// and the methods give the effective values the engine uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ServerParams {
    pub server_a: Option<String>,
    pub server_b: Option<String>,
    pub server_a_address: Option<String>,
    pub server_b_address: Option<String>,
    pub force_fqdns: bool,
    pub fqdn_a: Option<String>,
    pub fqdn_b: Option<String>,

    pub monitored_module: MonitoredModule,
    pub ts_timeout: Tunable,
    pub ts_retry_delay: Tunable,
    pub ip_timeout: Tunable,
    pub ip_retry_delay: Tunable,
    pub max_ts_failures: u32,
    pub max_restarts: u32,
    pub max_restarts_period_ms: u64,
    pub max_sequential_restarts: u32,
    pub ping_on_aux_connection: bool,
    pub use_qos_for_ping: bool,
    pub qos_dscp: u8,

    pub primary_monitor_ping_delay: Tunable,
    pub primary_monitor_retry_ping_delay: Tunable,
    pub primary_monitor_retry_count: u32,
    pub primary_monitor_timeout: Tunable,

    pub reconnect_timeout: Tunable,
    pub notifier_reconnect_delay: Tunable,
    pub max_reconnect_attempts: u32,
    pub unreachable_primary_ping_count: UnreachablePrimary,
    pub unreachable_primary_ping_delay: Tunable,
    pub disable_gateway_ping: bool,
    pub net_test_a: Option<String>,
    pub net_test_b: Option<String>,
    pub net_test_timeout: Tunable,

    pub ds_request_timeout_ms: u64,
    pub ds_request_compression: bool,
    pub file_monitor_health_check_interval_ms: u64,
    pub file_monitor_health_check_timeout_ms: u64,
    pub startup_mirror_timeout_ms: u64,
    /// Duet History Retention: history records kept.
    pub history_retention: usize,
    /// Duet Catch-up Changes: changes kept for a backup to catch up from.
    pub catch_up_changes: usize,
    /// Duet Lease ms as set; see [`ServerParams::lease_ms`].
    pub lease_ms: Option<u64>,
    /// Duet Witness TTL s: the etcd witness lease's time to live, in seconds.
    pub witness_ttl_s: u64,

    pub mail_recovery: bool,
    pub mail_recovery_filter: bool,
    pub chat_recovery: bool,
    pub callback_recovery: bool,
    pub sms_recovery: bool,
    pub social_conversation_recovery: bool,
    pub direct_message_recovery: bool,
    pub disable_qps_logging_on_backup: bool,

    pub custom_mirror_dirs: Vec<MirrorDir>,
    pub initial_mirror_dirs: Vec<MirrorDir>,
    pub mirror_exceptions: Vec<String>,
    pub upgrade_sync_dirs_extra: Vec<String>,
    pub upgrade_attribute_exceptions: Vec<AttributeException>,
    pub upgrade_file_sync_dirs: Vec<MirrorDir>,
    pub upgrade_file_sync_exceptions: Option<Vec<String>>,
    pub upgrade_higher_ds_exclusions: Vec<String>,
    pub upgrade_higher_file_exclusions: Vec<MirrorDir>,
}

/// The configuration tree paths Upgrade Lower always replicates
/// (`Custom Upgrade Synchronization Directories` adds to these).
pub const DEFAULT_UPGRADE_SYNC_DIRS: [&str; 7] = [
    r"${CONFIG}\Users",
    r"${CONFIG}\Passwords",
    r"${CONFIG}\Workgroups",
    r"${CONFIG}\Roles",
    r"${CONFIG}\Default User",
    r"${SERVER}\Workstations",
    r"${CONFIG}\ProcessAutomation",
];

/// With a Primary Monitor Ping Delay of 0 (the seed's default, whose meaning
/// the seed leaves open), the primary monitor pings once a second.
pub const ZERO_PING_DELAY_MEANS_MS: u64 = 1_000;

/// Switchovers (epoch rises seen) within [`DAMPING_WINDOW_MS`] after which
/// automatic takeovers are held back while the active node's process
/// answers: a pair that moves back and forth by itself stays put.
pub const DAMPING_SWITCHOVERS_MAX: usize = 4;
pub const DAMPING_WINDOW_MS: u64 = 120_000;

/// The shortest right to serve: a role query must fit in a third of it.
pub const LEASE_MIN_MS: u64 = 30;
/// The longest lease taken when Duet Lease ms is not set: an isolated
/// active node holds writes no longer than this before refusing them.
pub const LEASE_DEFAULT_MAX_MS: u64 = 2_000;

/// The promise a backup gives for a lease of `lease_ms`: an eighth more.
pub fn promise_for_lease_ms(lease_ms: u64) -> u64 {
    lease_ms + lease_ms.div_ceil(8)
}

/// How many echoes make one "ping set" to the primary's address.
pub const PRIMARY_PING_SET_SIZE: u32 = 2;

impl ServerParams {
    /// The module ping timeout: Switchover TS Timeout, or IP Timeout when
    /// `Switchover Monitoring` is IP. Also the interval after a success.
    pub fn module_timeout_ms(&self) -> u64 {
        match self.monitored_module {
            MonitoredModule::TsServer => self.ts_timeout.ms(),
            MonitoredModule::Ip => self.ip_timeout.ms(),
        }
    }

    /// The delay before the next module ping after one timed out.
    pub fn module_retry_delay_ms(&self) -> u64 {
        match self.monitored_module {
            MonitoredModule::TsServer => self.ts_retry_delay.ms(),
            MonitoredModule::Ip => self.ip_retry_delay.ms(),
        }
    }

    /// Primary Monitor Timeout; 0 means half the module timeout.
    pub fn primary_monitor_timeout_ms(&self) -> u64 {
        match self.primary_monitor_timeout.ms() {
            0 => self.module_timeout_ms() / 2,
            ms => ms,
        }
    }

    /// Primary Monitor Ping Delay; 0 means [`ZERO_PING_DELAY_MEANS_MS`]
    /// unless the millisecond extension sets it.
    pub fn primary_monitor_ping_delay_ms(&self) -> u64 {
        match self.primary_monitor_ping_delay.override_ms {
            Some(ms) => ms,
            None if self.primary_monitor_ping_delay.seconds_ms == 0 => ZERO_PING_DELAY_MEANS_MS,
            None => self.primary_monitor_ping_delay.seconds_ms,
        }
    }

    /// The shortest time from the backup's last answer from a vanished
    /// active node to its switch: the ping that went unanswered may have
    /// left just before the failure, then its retries, the ping set to the
    /// primary's address and the reconnect timer.
    pub fn vanished_detection_min_ms(&self) -> u64 {
        let timeout = self.primary_monitor_timeout_ms();
        u64::from(self.primary_monitor_retry_count)
            * (timeout + self.primary_monitor_retry_ping_delay.ms())
            + u64::from(PRIMARY_PING_SET_SIZE) * self.net_test_timeout.ms()
            + self.reconnect_timeout.ms()
    }

    /// The right to serve: Duet Lease ms, or when not set 8/9 of
    /// [`ServerParams::vanished_detection_min_ms`] (so the backup's promise,
    /// [`ServerParams::lease_promise_ms`], never outlasts its detection),
    /// between [`LEASE_MIN_MS`] and [`LEASE_DEFAULT_MAX_MS`].
    pub fn lease_ms(&self) -> u64 {
        self.lease_ms.unwrap_or_else(|| {
            (self.vanished_detection_min_ms() * 8 / 9).clamp(LEASE_MIN_MS, LEASE_DEFAULT_MAX_MS)
        })
    }

    /// What a backup promises when it grants the lease: the lease and an
    /// eighth more, for clock-rate differences and scheduling.
    pub fn lease_promise_ms(&self) -> u64 {
        promise_for_lease_ms(self.lease_ms())
    }

    /// Gateway pings are on unless `Switchover Disable Gateway Ping` is Yes.
    pub fn gateway_ping_enabled(&self) -> bool {
        !self.disable_gateway_ping
    }

    /// The NetTest address this node pings when it is the backup: NetTest A
    /// on SwitchoverServer A, NetTest B on SwitchoverServer B.
    pub fn net_test_address(&self, this: ServerId) -> Option<&str> {
        match this {
            ServerId::A => self.net_test_a.as_deref(),
            ServerId::B => self.net_test_b.as_deref(),
        }
    }

    /// QoS is applied to the module ping only when it runs on the auxiliary
    /// connection and `Switchover Use QoS For Ping` is on (the seed's rule).
    pub fn qos_dscp_for_ping(&self) -> Option<u8> {
        (self.ping_on_aux_connection && self.use_qos_for_ping).then_some(self.qos_dscp)
    }

    /// Upgrade Lower's opt-in tree paths: the seed's defaults plus the extra ones.
    pub fn upgrade_sync_dirs(&self) -> Vec<String> {
        DEFAULT_UPGRADE_SYNC_DIRS
            .iter()
            .map(|s| s.to_string())
            .chain(self.upgrade_sync_dirs_extra.iter().cloned())
            .collect()
    }

    /// Upgrade-state file exceptions default to MirrorExceptions.
    pub fn effective_upgrade_file_sync_exceptions(&self) -> &[String] {
        self.upgrade_file_sync_exceptions
            .as_deref()
            .unwrap_or(&self.mirror_exceptions)
    }
}
