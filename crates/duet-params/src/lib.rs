//! duet's switchover server parameters: every parameter the seed names, with
//! its name, default, range and meaning, read the way administrators write
//! values, plus a few clearly named duet extensions for sub-second tuning.
//!
//! [`load`] reads `(name, value)` entries; [`load_toml`] reads a parameter
//! file; [`reference`] renders the parameter reference (docs/parameters.md).

mod params;
mod reference;
mod spec;
mod startup;
pub mod value;

use std::collections::BTreeMap;

pub use params::{
    DAMPING_SWITCHOVERS_MAX, DAMPING_WINDOW_MS, DEFAULT_UPGRADE_SYNC_DIRS, LEASE_DEFAULT_MAX_MS,
    LEASE_MIN_MS, MonitoredModule, PRIMARY_PING_SET_SIZE, ServerId, ServerParams, Tunable,
    UnreachablePrimary, ZERO_PING_DELAY_MEANS_MS, promise_for_lease_ms,
};
pub use reference::reference;
pub use spec::{Kind, Origin, ParamSpec, SPECS};
pub use startup::{StartupModes, UnknownMode};

/// A parameter that could not be taken as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("{name}: {value:?} is {reason}; allowed: {allowed}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
        allowed: String,
    },
    #[error("unknown server parameter {name:?}{}", suggestion.as_ref().map(|s| format!("; did you mean {s:?}?")).unwrap_or_default())]
    Unknown {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("{name} is set more than once")]
    Duplicate { name: &'static str },
    #[error("{name}: {detail}")]
    Format { name: String, detail: String },
    #[error("{0}")]
    Unsafe(String),
}

/// All the problems found in a set of parameters, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ParamErrors(pub Vec<ParamError>);

/// Parameters read successfully, with warnings (obsolete parameters,
/// settings that have no effect on their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub params: ServerParams,
    pub warnings: Vec<String>,
}

fn normalise(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// Finds a parameter by name, case-insensitively and ignoring extra blanks.
pub fn find(name: &str) -> Option<&'static ParamSpec> {
    let wanted = normalise(name);
    SPECS.iter().find(|spec| {
        normalise(spec.name) == wanted
            || spec
                .aliases
                .iter()
                .chain(spec.renamed_from)
                .any(|a| normalise(a) == wanted)
    })
}

fn is_former_name(spec: &ParamSpec, name: &str) -> bool {
    let wanted = normalise(name);
    spec.renamed_from.iter().any(|a| normalise(a) == wanted)
}

fn closest(name: &str) -> Option<&'static str> {
    let wanted = normalise(name);
    SPECS
        .iter()
        .map(|spec| {
            (
                strsim::jaro_winkler(&wanted, &normalise(spec.name)),
                spec.name,
            )
        })
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

impl Default for ServerParams {
    /// The seed's defaults.
    fn default() -> Self {
        let mut params = ServerParams::unset();
        for spec in SPECS.iter().filter(|s| !s.default.is_empty()) {
            // The table's defaults are checked by a test.
            let _ = spec.kind.apply(&mut params, spec.default);
        }
        params
    }
}

/// Reads parameters given as `(name, value)`, on top of the seed's defaults.
/// Every problem is reported, not just the first.
pub fn load<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Loaded, ParamErrors> {
    let mut params = ServerParams::default();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut seen: BTreeMap<&'static str, ()> = BTreeMap::new();
    for (name, text) in entries {
        let Some(spec) = find(name) else {
            errors.push(ParamError::Unknown {
                name: name.to_string(),
                suggestion: closest(name),
            });
            continue;
        };
        if seen.insert(spec.name, ()).is_some() {
            errors.push(ParamError::Duplicate { name: spec.name });
            continue;
        }
        if is_former_name(spec, name) {
            warnings.push(format!(
                "{name} was renamed {}; it is read as such, set {} instead",
                spec.name, spec.name
            ));
        }
        if let Kind::Obsolete(note) = spec.kind {
            warnings.push(format!("{} is ignored: {note}", spec.name));
            continue;
        }
        if let Err(reason) = spec.kind.apply(&mut params, text) {
            errors.push(ParamError::Invalid {
                name: spec.name,
                value: text.to_string(),
                reason,
                allowed: spec.kind.allowed(),
            });
        }
    }
    warnings.extend(consistency_warnings(&params));
    errors.extend(lease_check(&params).map(ParamError::Unsafe));
    if errors.is_empty() {
        Ok(Loaded { params, warnings })
    } else {
        Err(ParamErrors(errors))
    }
}

/// The parameters in effect after a change on a running node: dynamic
/// parameters take their new values (`current`), the others keep the values
/// the node started with (`at_start`) until it restarts. The warnings name
/// changed parameters that wait for a restart.
pub fn effective_after_change(
    at_start: &[(String, String)],
    current: &[(String, String)],
) -> Result<Loaded, ParamErrors> {
    let dynamic = |name: &str| find(name).is_some_and(|spec| spec.dynamic);
    let entries: Vec<(&str, &str)> = at_start
        .iter()
        .filter(|(n, _)| !dynamic(n))
        .chain(current.iter().filter(|(n, _)| dynamic(n)))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut loaded = load(entries)?;
    let value_of = |entries: &[(String, String)], name: &str| {
        let spec = find(name).map(|s| s.name);
        entries
            .iter()
            .find(|(n, _)| find(n).map(|s| s.name) == spec)
            .map(|(_, v)| v.clone())
    };
    for (name, _) in current.iter().chain(at_start) {
        if !dynamic(name) && value_of(at_start, name) != value_of(current, name) {
            let message =
                format!("{name} changed; the new value takes effect when this node restarts");
            if !loaded.warnings.contains(&message) {
                loaded.warnings.push(message);
            }
        }
    }
    Ok(loaded)
}

/// The inequality of the right to serve: the promise a backup gives
/// (Duet Lease ms and an eighth) must run out before the backup could
/// detect a vanished active node, or every such failover waits for it.
fn lease_check(p: &ServerParams) -> Option<String> {
    let lease_ms = p.lease_ms?;
    let detection_ms = p.vanished_detection_min_ms();
    let promise_ms = promise_for_lease_ms(lease_ms);
    (promise_ms > detection_ms).then(|| {
        let most = (detection_ms * 8 / 9).max(1);
        format!(
            "Duet Lease ms {lease_ms}: a backup promises {promise_ms} ms for it, longer than the {detection_ms} ms in which it can detect a vanished active node (Primary Monitor Timeout x Retry Count, the ping set to the primary's address, Reconnect Timeout), so failovers would wait for the lease; set Duet Lease ms to at most {most}{}, or lengthen those timeouts",
            if most < LEASE_MIN_MS { format!(" (below its minimum {LEASE_MIN_MS}: lengthen the timeouts)") } else { String::new() }
        )
    })
}

/// Settings that are valid but do nothing as set.
fn consistency_warnings(p: &ServerParams) -> Vec<String> {
    let mut warnings = Vec::new();
    if p.mail_recovery_filter && !p.mail_recovery {
        warnings.push("Mail Interaction Recovery Filter Enabled has no effect unless Mail Interaction Recovery Enabled is 1".into());
    }
    if p.use_qos_for_ping && !p.ping_on_aux_connection {
        warnings.push("Switchover Use QoS For Ping has no effect unless Switchover Ping on Aux Connection is also on".into());
    }
    if p.force_fqdns && (p.fqdn_a.is_none() || p.fqdn_b.is_none()) {
        warnings
            .push("ForceSwitchoverFQDNs is on but SwitchoverServerFQDN A or B is not set".into());
    }
    warnings
}

/// Reads a parameter file: TOML whose keys are parameter names (quoted, as
/// they contain blanks) and whose values are strings, numbers or booleans.
///
/// ```toml
/// "Switchover TS Timeout" = 20
/// "Switchover Disable Gateway Ping" = "No"
/// ```
pub fn load_toml(text: &str) -> Result<Loaded, ParamErrors> {
    let entries = toml_entries(text)?;
    load(entries.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

/// The `(name, value)` entries of a parameter file, values in the form an
/// administrator would type them.
pub fn toml_entries(text: &str) -> Result<Vec<(String, String)>, ParamErrors> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ParamErrors(vec![ParamError::Format {
            name: "parameter file".into(),
            detail: e.message().to_string(),
        }])
    })?;
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (name, value) in table {
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => if b { "Yes" } else { "No" }.to_string(),
            other => {
                errors.push(ParamError::Format {
                    detail: format!(
                        "a {} is not a parameter value; write a string, a whole number or true/false",
                        other.type_str()
                    ),
                    name,
                });
                continue;
            }
        };
        entries.push((name, text));
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(ParamErrors(errors))
    }
}

impl ServerParams {
    /// Every field at its zero value, before defaults are applied.
    fn unset() -> Self {
        ServerParams {
            server_a: None,
            server_b: None,
            server_a_address: None,
            server_b_address: None,
            force_fqdns: false,
            fqdn_a: None,
            fqdn_b: None,
            monitored_module: MonitoredModule::TsServer,
            ts_timeout: Tunable::default(),
            ts_retry_delay: Tunable::default(),
            ip_timeout: Tunable::default(),
            ip_retry_delay: Tunable::default(),
            max_ts_failures: 0,
            max_restarts: 0,
            max_restarts_period_ms: 0,
            max_sequential_restarts: 0,
            ping_on_aux_connection: false,
            use_qos_for_ping: false,
            qos_dscp: 0,
            primary_monitor_ping_delay: Tunable::default(),
            primary_monitor_retry_ping_delay: Tunable::default(),
            primary_monitor_retry_count: 0,
            primary_monitor_timeout: Tunable::default(),
            reconnect_timeout: Tunable::default(),
            notifier_reconnect_delay: Tunable::default(),
            max_reconnect_attempts: 0,
            unreachable_primary_ping_count: UnreachablePrimary::SwitchImmediately,
            unreachable_primary_ping_delay: Tunable::default(),
            disable_gateway_ping: false,
            net_test_a: None,
            net_test_b: None,
            net_test_timeout: Tunable::default(),
            ds_request_timeout_ms: 0,
            ds_request_compression: false,
            file_monitor_health_check_interval_ms: 0,
            file_monitor_health_check_timeout_ms: 0,
            startup_mirror_timeout_ms: 0,
            lease_ms: None,
            history_retention: 0,
            catch_up_changes: 0,
            witness_ttl_s: 0,
            mail_recovery: false,
            mail_recovery_filter: false,
            chat_recovery: false,
            callback_recovery: false,
            sms_recovery: false,
            social_conversation_recovery: false,
            direct_message_recovery: false,
            disable_qps_logging_on_backup: false,
            custom_mirror_dirs: Vec::new(),
            initial_mirror_dirs: Vec::new(),
            mirror_exceptions: Vec::new(),
            upgrade_sync_dirs_extra: Vec::new(),
            upgrade_attribute_exceptions: Vec::new(),
            upgrade_file_sync_dirs: Vec::new(),
            upgrade_file_sync_exceptions: None,
            upgrade_higher_ds_exclusions: Vec::new(),
            upgrade_higher_file_exclusions: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;

/// The fast profile shipped in `profiles/fast.toml`.
pub const FAST_PROFILE_TOML: &str = include_str!("../../../profiles/fast.toml");
