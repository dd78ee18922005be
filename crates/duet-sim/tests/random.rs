//! Randomised fault schedules: thousands of seeds, invariants checked after
//! every step. `DUET_SIM_SEEDS` sets how many (default 2000) and
//! `DUET_SIM_FIRST_SEED` where to start.

use duet_sim::random::run_seeds;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_fault_schedules_keep_the_invariants() {
    let first = env("DUET_SIM_FIRST_SEED", 0);
    let count = env("DUET_SIM_SEEDS", 2000);
    let (runs, violations) = run_seeds(first, count);
    for v in violations.iter().take(3) {
        eprintln!("{v}");
    }
    assert!(
        violations.is_empty(),
        "{} of {count} seeds broke an invariant",
        violations.len()
    );
    // The schedules do exercise both outcomes.
    let switched = runs.iter().filter(|r| r.switch.is_some()).count();
    assert!(
        switched > runs.len() / 10,
        "only {switched} of {} runs switched",
        runs.len()
    );
    assert!(
        switched < runs.len() * 9 / 10,
        "{switched} of {} runs switched",
        runs.len()
    );
}
