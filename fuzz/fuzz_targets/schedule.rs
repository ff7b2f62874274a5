//! Due times, periods and TTLs: any registration parses or is refused, and
//! the next fire of a parsed schedule is computed without a panic.
#![no_main]

use jetway_core::{duration, schedule};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_700_000_000_000;

fuzz_target!(|input: (&str, &str, &str, u32)| {
    let (due, period, ttl, later) = input;
    let _ = duration::parse(due);
    if let Ok(s) = schedule::parse(due, period, ttl, NOW) {
        let mut at = s.due;
        for fires in 1..4 {
            match s.after(at, fires, at.saturating_add(i64::from(later))) {
                Some(next) => {
                    assert!(next > at, "the next fire comes later");
                    at = next;
                }
                None => break,
            }
        }
    }
});
