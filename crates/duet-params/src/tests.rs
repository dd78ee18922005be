use super::*;

#[test]
fn every_default_in_the_table_is_valid() {
    let mut params = ServerParams::unset();
    for spec in SPECS.iter().filter(|s| !s.default.is_empty()) {
        spec.kind
            .apply(&mut params, spec.default)
            .unwrap_or_else(|e| panic!("default of {} is invalid: {e}", spec.name));
    }
}

#[test]
fn names_are_unique() {
    let mut names: Vec<String> = SPECS
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
        .map(normalise)
        .collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count);
}

#[test]
fn seed_defaults() {
    // "Optional Switchover Server parameters" and "The ping process".
    let p = ServerParams::default();
    assert_eq!(p.ts_timeout.ms(), 10_000);
    assert_eq!(p.ts_retry_delay.ms(), 1_000);
    assert_eq!(p.max_ts_failures, 2);
    assert_eq!(p.max_restarts, 2);
    assert_eq!(p.max_restarts_period_ms, 300_000);
    assert_eq!(p.max_sequential_restarts, 2);
    assert_eq!(p.reconnect_timeout.ms(), 30_000);
    assert_eq!(p.notifier_reconnect_delay.ms(), 5_000);
    assert_eq!(p.primary_monitor_retry_count, 2);
    assert_eq!(p.unreachable_primary_ping_delay.ms(), 10_000);
    assert_eq!(p.net_test_timeout.ms(), 1_000);
    assert_eq!(p.ds_request_timeout_ms, 120_000);
    assert_eq!(p.file_monitor_health_check_interval_ms, 60_000);
    assert_eq!(p.file_monitor_health_check_timeout_ms, 10_000);
    assert_eq!(p.qos_dscp, 34, "AF41 (DSCP 34) is tagged by default");
    assert!(
        p.disable_gateway_ping,
        "gateway ping is disabled unless set to No"
    );
    assert!(!p.ping_on_aux_connection);
    assert_eq!(p.monitored_module, MonitoredModule::TsServer);
    assert_eq!(
        p.unreachable_primary_ping_count,
        UnreachablePrimary::SwitchImmediately
    );
    assert_eq!(p.custom_mirror_dirs.len(), 11);
    assert!(p.custom_mirror_dirs.iter().all(|d| d.recursive));
    assert_eq!(p.upgrade_file_sync_dirs[0].path, "Flows");
    assert_eq!(p.upgrade_sync_dirs().len(), 7);
}

#[test]
fn primary_monitor_timeout_zero_is_half_the_module_timeout() {
    // "The default value is 0, which indicates that the value will be one half
    // of the monitored module timeout whose default value is 10 seconds."
    let p = ServerParams::default();
    assert_eq!(p.primary_monitor_timeout_ms(), 5_000);
    let p = load([("Switchover TS Timeout", "20")]).unwrap().params;
    assert_eq!(p.primary_monitor_timeout_ms(), 10_000);
    let p = load([("Switchover Primary Monitor Timeout", "3")])
        .unwrap()
        .params;
    assert_eq!(p.primary_monitor_timeout_ms(), 3_000);
}

#[test]
fn ip_monitoring_uses_the_ip_timeouts() {
    let p = load([
        ("Switchover Monitoring", "IP"),
        ("Switchover IP Timeout", "30"),
        ("Switchover IP Retry Delay", "4"),
        ("Switchover TS Timeout", "6"),
    ])
    .unwrap()
    .params;
    assert_eq!(p.module_timeout_ms(), 30_000);
    assert_eq!(p.module_retry_delay_ms(), 4_000);
    assert_eq!(p.monitored_module.subsystem(), "routing");
}

#[test]
fn out_of_range_values_name_parameter_value_and_range() {
    // "Set this value between 5 - 60 seconds."
    let err = load([("Switchover TS Timeout", "4")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Switchover TS Timeout: \"4\" is out of range; allowed: 5-60 s"
    );
    let err = load([("Switchover Notifier Reconnect Delay", "61")]).unwrap_err();
    assert!(err.to_string().contains("allowed: 5-60 s"), "{err}");
    let err = load([("Switchover Max TS Failures", "0")]).unwrap_err();
    assert!(err.to_string().contains("allowed: 1-50"), "{err}");
    let err = load([("Switchover TS Failure Retry Delay", "0")]).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn malformed_values_are_refused_and_all_problems_reported() {
    let err = load([
        ("Switchover TS Timeout", "ten"),
        ("Switchover Disable Gateway Ping", "perhaps"),
        ("Switchover QoS DSCP", "99"),
    ])
    .unwrap_err();
    assert_eq!(err.0.len(), 3, "{err}");
    assert!(err.to_string().contains("\"ten\" is not a whole number"));
}

#[test]
fn unknown_names_suggest_the_closest() {
    let err = load([("Switchover TS Timout", "10")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown server parameter \"Switchover TS Timout\"; did you mean \"Switchover TS Timeout\"?"
    );
}

#[test]
fn names_ignore_case_and_spacing() {
    // The seed writes both "Use QoS For Ping" and "Use QoS for Ping".
    let p = load([
        ("switchover use qos for ping", "Yes"),
        ("Switchover  Ping on Aux Connection", "1"),
    ])
    .unwrap()
    .params;
    assert_eq!(p.qos_dscp_for_ping(), Some(34));
}

#[test]
fn qos_applies_only_with_ping_on_aux() {
    // "If only the Switchover Use QoS For Ping parameter is enabled, QoS is not used on the ping."
    let loaded = load([("Switchover Use QoS For Ping", "Yes")]).unwrap();
    assert_eq!(loaded.params.qos_dscp_for_ping(), None);
    assert_eq!(loaded.warnings.len(), 1);
}

#[test]
fn unreachable_primary_ping_count_zero_to_three_means_three() {
    // "If you enter values 0-3, the switchover system sends 3 additional ping sets"
    for v in ["0", "1", "3"] {
        let p = load([("Switchover Unreachable Primary Ping Count", v)])
            .unwrap()
            .params;
        assert_eq!(
            p.unreachable_primary_ping_count,
            UnreachablePrimary::AfterPingSets(3)
        );
    }
    let p = load([("Switchover Unreachable Primary Ping Count", "7")])
        .unwrap()
        .params;
    assert_eq!(
        p.unreachable_primary_ping_count,
        UnreachablePrimary::AfterPingSets(7)
    );
    // "If you enter a value of -1, it results in unlimited attempts"
    let p = load([("Switchover Unreachable Primary Ping Count", "-1")])
        .unwrap()
        .params;
    assert_eq!(p.unreachable_primary_ping_count, UnreachablePrimary::Never);
    assert!(load([("Switchover Unreachable Primary Ping Count", "-2")]).is_err());
}

#[test]
fn obsolete_udp_parameters_are_ignored_with_a_warning() {
    // "Existing parameters for the UDP monitor are ignored and have no effect."
    let loaded = load([
        ("Switchover Max UDP Failures", "9"),
        ("Switchover UDP Monitor", "x"),
    ])
    .unwrap();
    assert_eq!(loaded.params, ServerParams::default());
    assert_eq!(loaded.warnings.len(), 2);
    assert!(loaded.warnings[0].contains("ignored"));
}

#[test]
fn duet_millisecond_extensions_win_over_seconds() {
    let p = load([
        ("Switchover TS Timeout", "10"),
        ("Duet Module Ping Timeout ms", "150"),
        ("Duet Primary Monitor Ping Delay ms", "50"),
    ])
    .unwrap()
    .params;
    assert_eq!(p.module_timeout_ms(), 150);
    assert_eq!(p.primary_monitor_ping_delay_ms(), 50);
    assert_eq!(
        ServerParams::default().primary_monitor_ping_delay_ms(),
        1_000
    );
}

#[test]
fn duplicates_are_refused() {
    let err = load([
        ("Switchover TS Timeout", "10"),
        ("switchover ts timeout", "12"),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Switchover TS Timeout is set more than once"
    );
}

#[test]
fn toml_files_take_strings_numbers_and_booleans() {
    let loaded = load_toml(
        r#"
        "Switchover TS Timeout" = 20
        "Switchover Disable Gateway Ping" = "No"
        "Switchover Ping on Aux Connection" = true
        "CustomMirrorDir" = "+Resources;Data"
        "Switchover NetTest A" = "10.1.0.1"
        "#,
    )
    .unwrap();
    let p = loaded.params;
    assert_eq!(p.ts_timeout.ms(), 20_000);
    assert!(p.gateway_ping_enabled());
    assert!(p.ping_on_aux_connection);
    assert_eq!(p.custom_mirror_dirs.len(), 2);
    assert_eq!(p.net_test_address(ServerId::A), Some("10.1.0.1"));
    assert_eq!(p.net_test_address(ServerId::B), None);

    let err = load_toml("\"Switchover TS Timeout\" = [1]").unwrap_err();
    assert!(
        err.to_string().contains("is not a parameter value"),
        "{err}"
    );
    let err = load_toml("this is not toml").unwrap_err();
    assert!(err.to_string().starts_with("parameter file:"), "{err}");
}

#[test]
fn dynamic_parameters_include_the_seeds_list() {
    // "Dynamic monitoring of system parameters"
    for name in [
        "CustomMirrorDir",
        "Switchover Max TS Failures",
        "Switchover TS Failure Retry Delay",
        "Switchover TS Timeout",
    ] {
        assert!(find(name).unwrap().dynamic, "{name}");
    }
    assert!(!find("SwitchoverServer A").unwrap().dynamic);
}

#[test]
fn reference_document_matches_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/parameters.md");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == reference(),
        "docs/parameters.md is out of date: run `cargo run -- params > docs/parameters.md`"
    );
}

#[test]
fn the_fast_profile_loads_cleanly() {
    let loaded = load_toml(FAST_PROFILE_TOML).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.params.primary_monitor_ping_delay_ms(), 100);
    assert_eq!(loaded.params.module_timeout_ms(), 200);
}

#[test]
fn seed_spellings_and_former_names_are_accepted() {
    // The IP section says "Switchover TS Retry Delay" for TS Failure Retry Delay.
    let p = load([("Switchover TS Retry Delay", "3")]).unwrap().params;
    assert_eq!(p.ts_retry_delay.ms(), 3_000);
    // "It was known as Switchover Reconnect Delay from 4.0 SU4 through 4.0 SU6."
    let loaded = load([("Switchover Reconnect Delay", "60")]).unwrap();
    assert_eq!(loaded.params.reconnect_timeout.ms(), 60_000);
    assert!(
        loaded.warnings[0].contains("renamed Switchover Reconnect Timeout"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn only_dynamic_parameters_change_on_a_running_node() {
    let entry = |n: &str, v: &str| (n.to_string(), v.to_string());
    let at_start = vec![entry("Switchover Max Restarts", "2")];
    let current = vec![
        entry("Switchover Max Restarts", "1"),
        entry("Switchover TS Timeout", "20"),
    ];
    let loaded = effective_after_change(&at_start, &current).unwrap();
    assert_eq!(
        loaded.params.max_restarts, 2,
        "not dynamic: waits for a restart"
    );
    assert_eq!(loaded.params.ts_timeout.ms(), 20_000, "dynamic: at once");
    assert_eq!(
        loaded.warnings,
        vec!["Switchover Max Restarts changed; the new value takes effect when this node restarts"]
    );
}

#[test]
fn the_lan_profile_loads_cleanly() {
    let loaded = load_toml(include_str!("../../../profiles/lan.toml")).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.params.primary_monitor_ping_delay_ms(), 100);
}

#[test]
fn lease_not_set_fits_inside_the_vanished_host_detection() {
    // Seed defaults: the lease is capped; the promise is far inside detection.
    let seed = ServerParams::default();
    assert_eq!(seed.lease_ms(), crate::LEASE_DEFAULT_MAX_MS);
    assert!(seed.lease_promise_ms() <= seed.vanished_detection_min_ms());
    // The LAN profile: 60 ms ping timeout with one retry, two 20 ms echoes,
    // a 20 ms reconnect timer: 120 ms; the lease is 8/9 of it.
    let lan = load_toml(include_str!("../../../profiles/lan.toml"))
        .unwrap()
        .params;
    assert_eq!(lan.vanished_detection_min_ms(), 120);
    assert_eq!(lan.lease_ms(), 106);
    assert_eq!(lan.lease_promise_ms(), 120);
}

#[test]
fn a_lease_longer_than_detection_is_an_error_saying_what_to_change() {
    let err = load_toml(
        "\"Switchover Primary Monitor Retry Count\" = 1\n\"Duet Primary Monitor Timeout ms\" = 60\n\"Duet Echo Timeout ms\" = 20\n\"Duet Reconnect Timeout ms\" = 20\n\"Duet Lease ms\" = 200\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("Duet Lease ms 200"), "{err}");
    assert!(err.contains("set Duet Lease ms to at most 106"), "{err}");
    let ok = load_toml(
        "\"Switchover Primary Monitor Retry Count\" = 1\n\"Duet Primary Monitor Timeout ms\" = 60\n\"Duet Echo Timeout ms\" = 20\n\"Duet Reconnect Timeout ms\" = 20\n\"Duet Lease ms\" = 100\n",
    )
    .unwrap();
    assert_eq!(ok.params.lease_ms(), 100);
    assert_eq!(ok.params.lease_promise_ms(), 113);
}
