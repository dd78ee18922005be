//! The table itself: every parameter, grouped by what it concerns.

use super::*;

/// Every server parameter duet knows, in the order of the reference.
pub static SPECS: &[ParamSpec] = &[
    // The pair.
    seed(
        "SwitchoverServer A",
        Kind::Name(|p, v| p.server_a = opt(v)),
        "",
        "Name of the server designated as the initial active server; it comes up active first and stays so until the first switchover.",
    ),
    seed(
        "SwitchoverServer B",
        Kind::Name(|p, v| p.server_b = opt(v)),
        "",
        "Name of the server designated as the initial backup server.",
    ),
    seed(
        "Server A Address",
        Kind::Address(|p, v| p.server_a_address = opt(v)),
        "",
        "Address of SwitchoverServer A's dedicated switchover interface; when both addresses are set, switchover traffic uses them exclusively.",
    ),
    seed(
        "Server B Address",
        Kind::Address(|p, v| p.server_b_address = opt(v)),
        "",
        "Address of SwitchoverServer B's dedicated switchover interface.",
    ),
    seed(
        "ForceSwitchoverFQDNs",
        Kind::Flag(|p, v| p.force_fqdns = v),
        "No",
        "Use SwitchoverServerFQDN A and B instead of the names the system resolves itself.",
    ),
    seed(
        "SwitchoverServerFQDN A",
        Kind::Address(|p, v| p.fqdn_a = opt(v)),
        "",
        "Fully qualified name of SwitchoverServer A, used when ForceSwitchoverFQDNs is on.",
    ),
    seed(
        "SwitchoverServerFQDN B",
        Kind::Address(|p, v| p.fqdn_b = opt(v)),
        "",
        "Fully qualified name of SwitchoverServer B, used when ForceSwitchoverFQDNs is on.",
    ),
    // The module monitor.
    seed(
        "Switchover Monitoring",
        Kind::Module,
        "TsServer",
        "The module the backup pings on the active node: TsServer (duet's interactions subsystem) or IP (its routing subsystem, with the IP timeouts).",
    ),
    dynamic(seed(
        "Switchover TS Timeout",
        Kind::Seconds {
            min: 5,
            max: Some(60),
            set: |p, v| p.ts_timeout.seconds_ms = v,
        },
        "10",
        "Seconds from sending a module ping until it counts as a failure; also the wait after a success, or after a rejected ping, before the next ping.",
    )),
    dynamic(aka(
        seed(
            "Switchover TS Failure Retry Delay",
            Kind::Seconds {
                min: 1,
                max: Some(300),
                set: |p, v| p.ts_retry_delay.seconds_ms = v,
            },
            "1",
            "Seconds to wait after a module ping timed out before the next one.",
        ),
        &["Switchover TS Retry Delay"],
    )),
    dynamic(seed(
        "Switchover IP Timeout",
        Kind::Seconds {
            min: 5,
            max: Some(60),
            set: |p, v| p.ip_timeout.seconds_ms = v,
        },
        "10",
        "Switchover TS Timeout for when Switchover Monitoring is IP.",
    )),
    dynamic(seed(
        "Switchover IP Retry Delay",
        Kind::Seconds {
            min: 1,
            max: Some(300),
            set: |p, v| p.ip_retry_delay.seconds_ms = v,
        },
        "1",
        "Switchover TS Failure Retry Delay for when Switchover Monitoring is IP.",
    )),
    dynamic(seed(
        "Switchover Max TS Failures",
        Kind::Count {
            min: 1,
            max: Some(50),
            set: |p, v| p.max_ts_failures = v as u32,
        },
        "2",
        "Module ping failures tolerated on one connection; reaching it on the main connection moves pinging to the auxiliary, reaching it there signals the module down. Reset by every answered ping.",
    )),
    seed(
        "Switchover Max Restarts",
        Kind::Count {
            min: 1,
            max: Some(1000),
            set: |p, v| p.max_restarts = v as u32,
        },
        "2",
        "New incarnations of the module within Switchover Max Restarts Period that signal the module down when reached (restarting too often).",
    ),
    seed(
        "Switchover Max Restarts Period",
        Kind::Seconds {
            min: 1,
            max: Some(86_400),
            set: |p, v| p.max_restarts_period_ms = v,
        },
        "300",
        "The window, in seconds, over which module restarts are counted.",
    ),
    seed(
        "Switchover Max Sequential Restarts",
        Kind::Count {
            min: 1,
            max: Some(1000),
            set: |p, v| p.max_sequential_restarts = v as u32,
        },
        "2",
        "New incarnations in consecutive ping answers that signal the module down.",
    ),
    seed(
        "Switchover Ping on Aux Connection",
        Kind::Flag(|p, v| p.ping_on_aux_connection = v),
        "No",
        "Send the module ping on the auxiliary connection instead of the main one.",
    ),
    seed(
        "Switchover Use QoS For Ping",
        Kind::Flag(|p, v| p.use_qos_for_ping = v),
        "No",
        "Mark module ping packets with Switchover QoS DSCP; applies only together with Switchover Ping on Aux Connection.",
    ),
    seed(
        "Switchover QoS DSCP",
        Kind::Dscp(|p, v| p.qos_dscp = v),
        "34",
        "The DSCP value for module pings when QoS is on (34 is AF41).",
    ),
    // The primary monitor.
    dynamic(seed(
        "Switchover Primary Monitor Ping Delay",
        Kind::Seconds {
            min: 0,
            max: Some(300),
            set: |p, v| p.primary_monitor_ping_delay.seconds_ms = v,
        },
        "0",
        "Seconds between the primary monitor's pings to the notifier on the active node; 0 means one ping a second.",
    )),
    dynamic(seed(
        "Switchover Primary Monitor Retry Ping Delay",
        Kind::Seconds {
            min: 0,
            max: Some(300),
            set: |p, v| p.primary_monitor_retry_ping_delay.seconds_ms = v,
        },
        "0",
        "Seconds between retry pings after a failed notifier ping; 0 retries at once.",
    )),
    dynamic(seed(
        "Switchover Primary Monitor Retry Count",
        Kind::Count {
            min: 1,
            max: Some(50),
            set: |p, v| p.primary_monitor_retry_count = v as u32,
        },
        "2",
        "Retry pings sent before the primary monitor diagnoses the network and connections; also the number of confirmation pings it sends to a module reported down.",
    )),
    dynamic(seed(
        "Switchover Primary Monitor Timeout",
        Kind::Seconds {
            min: 0,
            max: Some(300),
            set: |p, v| p.primary_monitor_timeout.seconds_ms = v,
        },
        "0",
        "Seconds a notifier ping may take before retry mode starts; 0 means half the module timeout.",
    )),
    // Reconnecting and the network.
    dynamic(renamed(
        seed(
            "Switchover Reconnect Timeout",
            Kind::Seconds {
                min: 0,
                max: None,
                set: |p, v| p.reconnect_timeout.seconds_ms = v,
            },
            "30",
            "Seconds the backup tries to reconnect after the primary monitor signalled a connection problem before it switches; 0 switches at once.",
        ),
        &["Switchover Reconnect Delay"],
    )),
    dynamic(seed(
        "Switchover Notifier Reconnect Delay",
        Kind::Seconds {
            min: 5,
            max: Some(60),
            set: |p, v| p.notifier_reconnect_delay.seconds_ms = v,
        },
        "5",
        "Seconds between attempts to re-establish a lost link connection.",
    )),
    dynamic(ParamSpec {
        aliases: &["Unreachable Primary Ping Count"],
        ..seed(
            "Switchover Unreachable Primary Ping Count",
            Kind::Count {
                min: -1,
                max: Some(1000),
                set: |p, v| {
                    p.unreachable_primary_ping_count = match v {
                        -1 => UnreachablePrimary::Never,
                        0..=3 => UnreachablePrimary::AfterPingSets(3),
                        n => UnreachablePrimary::AfterPingSets(n as u32),
                    }
                },
            },
            "",
            "Ping sets sent to an unreachable primary's address before switching: 0-3 mean 3, -1 means never switch for an unreachable primary; not set means switch at once. Applies only when the backup's own network is known good (a gateway or NetTest address answered); otherwise the reconnect timer decides.",
        )
    }),
    dynamic(seed(
        "Switchover Unreachable Primary Ping Delay",
        Kind::Seconds {
            min: 1,
            max: Some(300),
            set: |p, v| p.unreachable_primary_ping_delay.seconds_ms = v,
        },
        "10",
        "Seconds between ping sets to an unreachable primary.",
    )),
    dynamic(seed(
        "Switchover Disable Gateway Ping",
        Kind::Flag(|p, v| p.disable_gateway_ping = v),
        "Yes",
        "No enables pinging the backup's gateways when diagnosing its own network; Yes (the default) disables it.",
    )),
    dynamic(seed(
        "Switchover NetTest A",
        Kind::Address(|p, v| p.net_test_a = opt(v)),
        "",
        "An address on SwitchoverServer B's network segment that A pings when it is the backup; unreachable means a WAN failure: no switch.",
    )),
    dynamic(seed(
        "Switchover NetTest B",
        Kind::Address(|p, v| p.net_test_b = opt(v)),
        "",
        "An address on SwitchoverServer A's network segment that B pings when it is the backup.",
    )),
    dynamic(seed(
        "Switchover NetTest Timeout",
        Kind::Seconds {
            min: 1,
            max: Some(60),
            set: |p, v| p.net_test_timeout.seconds_ms = v,
        },
        "1",
        "Seconds to wait for an ICMP echo reply (NetTest, gateway and primary address pings).",
    )),
    // Replication.
    dynamic(seed(
        "Switchover DS Request Timeout",
        Kind::Seconds {
            min: 1,
            max: Some(3600),
            set: |p, v| p.ds_request_timeout_ms = v,
        },
        "120",
        "Seconds the backup waits for a configuration request to the active node during initial sync or resync.",
    )),
    seed(
        "Switchover Use Compression For DS Request Sync",
        Kind::Flag(|p, v| p.ds_request_compression = v),
        "No",
        "Compress configuration resynchronisation traffic on the link (digest, snapshot and history pages) with zstd. Each node compresses what it sends according to its own setting and reads either form.",
    ),
    dynamic(seed(
        "Switchover File Monitor Health Check Interval",
        Kind::Seconds {
            min: 0,
            max: Some(86_400),
            set: |p, v| p.file_monitor_health_check_interval_ms = v,
        },
        "60",
        "Seconds between health checks of the active node's file monitor; 0 turns them off.",
    )),
    dynamic(seed(
        "Switchover File Monitor Health Check Timeout",
        Kind::Seconds {
            min: 1,
            max: Some(3600),
            set: |p, v| p.file_monitor_health_check_timeout_ms = v,
        },
        "10",
        "Seconds the file monitor has to answer a health check before the failure is reported.",
    )),
    dynamic(seed(
        "CustomMirrorDir",
        Kind::Dirs(|p, v| p.custom_mirror_dirs = v),
        "+Resources;+HostTools;+Server/LRA;+ClientSettings;+Flows;+TFTPRoot;+Provision;+Certificates/LinesAuthority;+Certificates/Email;+Server/I3RxDocs;+Server/Reports",
        "Directories mirrored continuously to the backup, relative to the data directory unless absolute.",
    )),
    dynamic(seed(
        "InitialMirrorDir",
        Kind::Dirs(|p, v| p.initial_mirror_dirs = v),
        "",
        "Directories mirrored once, when the backup starts.",
    )),
    dynamic(seed(
        "MirrorExceptions",
        Kind::Extensions(|p, v| p.mirror_exceptions = v),
        "",
        "Extensions of files that are never mirrored.",
    )),
    dynamic(seed(
        "Custom Upgrade Synchronization Directories",
        Kind::TreePaths(|p, v| p.upgrade_sync_dirs_extra = v),
        "",
        "Configuration tree paths replicated in Upgrade Lower, in addition to the defaults (Users, Passwords, Workgroups, Roles, Default User, Workstations, ProcessAutomation).",
    )),
    dynamic(seed(
        "Custom Upgrade Attribute Exceptions",
        Kind::Attributes(|p, v| p.upgrade_attribute_exceptions = v),
        "",
        "Attributes left out of Upgrade Lower replication, as Class(attribute, attribute).",
    )),
    dynamic(seed(
        "Custom Upgrade File Synchronization Directories",
        Kind::Dirs(|p, v| p.upgrade_file_sync_dirs = v),
        "+Flows",
        "Directories mirrored in Upgrade Lower.",
    )),
    dynamic(seed(
        "Custom Upgrade File Synchronization Exceptions",
        Kind::Extensions(|p, v| p.upgrade_file_sync_exceptions = Some(v)),
        "",
        "Extensions not mirrored in the upgrade states; not set means MirrorExceptions.",
    )),
    dynamic(seed(
        "Switchover Upgrade Higher DS Exclusions",
        Kind::TreePaths(|p, v| p.upgrade_higher_ds_exclusions = v),
        "",
        "Configuration tree paths not replicated in Upgrade Higher, besides the fixed exclusions (handlers, phones, install-script entries).",
    )),
    dynamic(seed(
        "Switchover Upgrade Higher File Exclusions",
        Kind::Dirs(|p, v| p.upgrade_higher_file_exclusions = v),
        "",
        "Directories not mirrored in Upgrade Higher.",
    )),
    // Interaction recovery: duet shadows every interaction always (the
    // backup applies the same changes); these decide what a takeover
    // keeps, at once on a running pair. Off gives the seed's behaviour
    // before recovery existed, so the difference can be shown.
    dynamic(seed(
        "Mail Interaction Recovery Enabled",
        Kind::Flag(|p, v| p.mail_recovery = v),
        "1",
        "A takeover keeps email interactions: id, creation time, HTML, attachments, drafts and replies (0: each is requeued as a new email, the agent's work lost).",
    )),
    dynamic(seed(
        "Mail Interaction Recovery Filter Enabled",
        Kind::Flag(|p, v| p.mail_recovery_filter = v),
        "0",
        "Keep only emails already assigned to an agent; the others are requeued as new, from the mailbox (needs Mail Interaction Recovery Enabled).",
    )),
    dynamic(seed(
        "Chat Interaction Recovery Enabled",
        Kind::Flag(|p, v| p.chat_recovery = v),
        "1",
        "A takeover keeps chats: transcript, status lines, files, the agent (0: the chat ends and the customer is asked to start again).",
    )),
    dynamic(seed(
        "Callback Interaction Recovery Enabled",
        Kind::Flag(|p, v| p.callback_recovery = v),
        "1",
        "A takeover keeps callbacks (0: they are lost).",
    )),
    dynamic(seed(
        "SMS Interaction Recovery Enabled",
        Kind::Flag(|p, v| p.sms_recovery = v),
        "1",
        "A takeover keeps SMS conversations (0: they end, as chats do).",
    )),
    ParamSpec {
        aliases: &["Social conversation Interaction Recovery Enabled"],
        ..dynamic(seed(
            "Socialconversation Interaction Recovery Enabled",
            Kind::Flag(|p, v| p.social_conversation_recovery = v),
            "1",
            "A takeover keeps social media conversations (0: they end; the customer's next reply starts a new one).",
        ))
    },
    dynamic(seed(
        "Directmessage Interaction Recovery Enabled",
        Kind::Flag(|p, v| p.direct_message_recovery = v),
        "1",
        "A takeover keeps social media direct messages (0: they end).",
    )),
    // The seed needs a restart of the Statserver; here it holds at once.
    dynamic(seed(
        "StatServer_DisableQPSLoggingOnBackup",
        Kind::Flag(|p, v| p.disable_qps_logging_on_backup = v),
        "No",
        "Keep the backup from writing its queue statistics log data (CSV files in the data directory's statistics-log folder); a takeover's record is written all the same.",
    )),
    // Duet extensions.
    duet(
        "Duet Module Ping Timeout ms",
        Kind::Millis {
            min: 10,
            max: 60_000,
            set: |p, v| {
                p.ts_timeout.override_ms = Some(v);
                p.ip_timeout.override_ms = Some(v)
            },
        },
        "Sets the module ping timeout (TS or IP Timeout) in milliseconds.",
    ),
    duet(
        "Duet Module Retry Delay ms",
        Kind::Millis {
            min: 1,
            max: 300_000,
            set: |p, v| {
                p.ts_retry_delay.override_ms = Some(v);
                p.ip_retry_delay.override_ms = Some(v)
            },
        },
        "Sets the module ping retry delay (TS Failure or IP Retry Delay) in milliseconds.",
    ),
    duet(
        "Duet Primary Monitor Ping Delay ms",
        Kind::Millis {
            min: 10,
            max: 300_000,
            set: |p, v| p.primary_monitor_ping_delay.override_ms = Some(v),
        },
        "Sets Switchover Primary Monitor Ping Delay in milliseconds.",
    ),
    duet(
        "Duet Primary Monitor Retry Ping Delay ms",
        Kind::Millis {
            min: 0,
            max: 300_000,
            set: |p, v| p.primary_monitor_retry_ping_delay.override_ms = Some(v),
        },
        "Sets Switchover Primary Monitor Retry Ping Delay in milliseconds.",
    ),
    duet(
        "Duet Primary Monitor Timeout ms",
        Kind::Millis {
            min: 10,
            max: 300_000,
            set: |p, v| p.primary_monitor_timeout.override_ms = Some(v),
        },
        "Sets Switchover Primary Monitor Timeout in milliseconds.",
    ),
    duet(
        "Duet Reconnect Timeout ms",
        Kind::Millis {
            min: 0,
            max: 86_400_000,
            set: |p, v| p.reconnect_timeout.override_ms = Some(v),
        },
        "Sets Switchover Reconnect Timeout in milliseconds.",
    ),
    duet(
        "Duet Notifier Reconnect Delay ms",
        Kind::Millis {
            min: 10,
            max: 60_000,
            set: |p, v| p.notifier_reconnect_delay.override_ms = Some(v),
        },
        "Sets Switchover Notifier Reconnect Delay in milliseconds.",
    ),
    duet(
        "Duet Unreachable Primary Ping Delay ms",
        Kind::Millis {
            min: 10,
            max: 300_000,
            set: |p, v| p.unreachable_primary_ping_delay.override_ms = Some(v),
        },
        "Sets Switchover Unreachable Primary Ping Delay in milliseconds.",
    ),
    duet(
        "Duet Echo Timeout ms",
        Kind::Millis {
            min: 10,
            max: 60_000,
            set: |p, v| p.net_test_timeout.override_ms = Some(v),
        },
        "Sets Switchover NetTest Timeout (the wait for any ICMP echo reply) in milliseconds.",
    ),
    duet(
        "Duet Max Reconnect Attempts",
        Kind::Count {
            min: 0,
            max: Some(100_000),
            set: |p, v| p.max_reconnect_attempts = v as u32,
        },
        "Reconnect attempts after which the backup switches even before Switchover Reconnect Timeout expires; 0 (not set) means no such limit.",
    ),
    // The seed's "maximum startup time allocated by the Switchover system"
    // for copying mirrored files, which it leaves to the registry.
    ParamSpec {
        default: "600",
        dynamic: false,
        ..duet(
            "Duet Startup Mirror Timeout",
            Kind::Seconds {
                min: 1,
                max: Some(86_400),
                set: |p, v| p.startup_mirror_timeout_ms = v,
            },
            "Seconds a starting backup has to copy the mirrored directories (the default set and InitialMirrorDir) from the active node; when they are not all copied in time, start-up fails and says which directory was still being copied.",
        )
    },
    // History retention: the seed keeps no change history; duet's is bounded.
    ParamSpec {
        default: "200000",
        ..duet(
            "Duet History Retention",
            Kind::Count {
                min: 1_000,
                max: Some(100_000_000),
                set: |p, v| p.history_retention = v as usize,
            },
            "Configuration change history records each node keeps; older ones are dropped (the entries themselves are the snapshot they compact into), so as-of reads and client-id retries reach back this many changes. Conflict records are kept.",
        )
    },
    // How far back a returning backup catches up (the seed's catches up
    // from nothing: it copies the whole database).
    ParamSpec {
        default: "100000",
        ..duet(
            "Duet Catch-up Changes",
            Kind::Count {
                min: 100,
                max: Some(10_000_000),
                set: |p, v| p.catch_up_changes = v as usize,
            },
            "Changes the active node keeps in memory (since it became active) for a backup that returns or falls behind to catch up from, a window at a time as it acknowledges them; a backup further behind resynchronises (configuration by digests, interactions by a snapshot). Applies from the next activation.",
        )
    },
    // The right to serve (not in the seed, whose pair can serve twice).
    ParamSpec {
        dynamic: false,
        ..duet(
            "Duet Lease ms",
            Kind::Millis {
                min: 30,
                max: 60_000,
                set: |p, v| p.lease_ms = Some(v),
            },
            "How long the active node's right to serve lasts after the backup promised not to take over (or its process was found gone, or the node's own network checks passed); renewed every third of it. The backup never takes over while a promise it gave runs, unless the old active's process is gone. Not set: 8/9 of the vanished-host detection time, at most 2 s. It must not exceed that bound (see Right to serve).",
        )
    },
    // The etcd witness (not in the seed).
    ParamSpec {
        default: "2",
        dynamic: false,
        ..duet(
            "Duet Witness TTL s",
            Kind::Seconds {
                min: 1,
                max: Some(60),
                set: |p, v| p.witness_ttl_s = v / 1000,
            },
            "Seconds of the etcd lease under which a node holds the pair's witness key, when the bootstrap file names witness endpoints; the holder renews it every third of it, and a node that vanished loses the key about this long after its last renewal. etcd may grant a longer lease than asked (its minimum is about 2 s).",
        )
    },
    // Removed by the seed's releases: accepted and ignored.
    obsolete(
        "Switchover UDP Monitor",
        "The UDP monitor was replaced by the primary monitor; this parameter has no effect.",
    ),
    obsolete(
        "Switchover Max UDP Failures",
        "The UDP monitor was replaced by the primary monitor; this parameter has no effect.",
    ),
    obsolete(
        "Switchover UDP Maximum Ping Delay",
        "The UDP monitor was replaced by the primary monitor; this parameter has no effect.",
    ),
    obsolete(
        "Switchover UDP Normal Retry Delay",
        "The UDP monitor was replaced by the primary monitor; this parameter has no effect.",
    ),
    obsolete(
        "Switchover UDP Send Ping Delay",
        "The UDP monitor was replaced by the primary monitor; this parameter has no effect.",
    ),
    obsolete(
        "Enable Switchover Upgrade Mode",
        "Upgrade states are entered automatically when releases differ; this parameter has no effect.",
    ),
    obsolete(
        "Switchover Use Compression for DS Sync",
        "Removed; use Switchover Use Compression For DS Request Sync.",
    ),
    obsolete(
        "Switchover Use WAN Optimizations for DS Sync",
        "Removed; configuration sync always sends only differing subtrees.",
    ),
];
