//! The retry policy's delays: doubling, capped, jittered, and lengthened by a server's
//! `Retry-After`.
#![cfg(not(loom))]

use std::time::Duration;

use fetch_scheduler::RetryPolicy;

#[test]
fn delay_doubles_and_caps() {
    let p = RetryPolicy::new(10)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(50))
        .jitter(false);
    assert_eq!(p.delay_after(1), Duration::from_millis(10));
    assert_eq!(p.delay_after(2), Duration::from_millis(20));
    assert_eq!(p.delay_after(3), Duration::from_millis(40));
    assert_eq!(p.delay_after(4), Duration::from_millis(50));
    assert_eq!(p.delay_after(400), Duration::from_millis(50));
    // The server's Retry-After wins when longer, and is capped like any delay.
    let hint = |d| p.delay_after_hint(1, Some(Duration::from_millis(d)));
    assert_eq!(hint(30), Duration::from_millis(30));
    assert_eq!(hint(5), Duration::from_millis(10));
    assert_eq!(hint(10_000), Duration::from_millis(50));
}

#[test]
fn jitter_stays_between_half_and_full() {
    let p = RetryPolicy::new(3).base_delay(Duration::from_millis(100));
    let mut seen_below_full = false;
    for _ in 0..200 {
        let d = p.delay_after(2);
        assert!(
            d >= Duration::from_millis(100) && d <= Duration::from_millis(200),
            "{d:?}"
        );
        seen_below_full |= d < Duration::from_millis(199);
    }
    assert!(seen_below_full, "jitter never moved the delay");
}
