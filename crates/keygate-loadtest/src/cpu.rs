//! A process's CPU time, from `/proc/<pid>/stat`.

use std::time::Duration;

/// Clock ticks per second in `/proc`: `USER_HZ`, fixed at 100 on Linux
/// whatever the kernel's own tick rate.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of process `pid` so far; `None` where `/proc`
/// cannot tell (not Linux, or the process is gone).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_from_stat(&stat)
}

/// Parses `utime` and `stime` (fields 14 and 15) out of a `stat` line. The
/// command name (field 2) is in parentheses and may hold spaces: count from
/// the last `)`.
fn cpu_from_stat(stat: &str) -> Option<Duration> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SECOND,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_name_with_spaces() {
        let stat = "4242 (keygate (load) test) S 1 4242 4242 0 -1 4194560 \
                    100 0 0 0 250 50 0 0 20 0 3 0 1000 0 0";
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_secs(3)));
        assert_eq!(cpu_from_stat("garbage"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spin: u64 = (0..2_000_000u64).fold(0, |a, b| a ^ b.wrapping_mul(31));
        std::hint::black_box(spin);
        assert!(process_cpu(std::process::id()).is_some());
    }
}
