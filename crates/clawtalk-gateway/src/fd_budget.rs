//! How many HTTP connections the listener may hold: `gateway.http.maxConnections`, and never
//! so many that the process runs out of file descriptors. Each connection is a descriptor;
//! the store, log file, DingTalk and model calls need theirs too, and a slow-client flood
//! that takes the last ones makes the store fail to open and replies fail to send. So the
//! listener stops at the open-files limit minus what is already open minus a reserve.
//!
//! Running turns need descriptors too: a turn waiting on an HTTP/1 model holds a connection
//! the whole time, so thousands at once (`gateway.maxConcurrentTurns`) would fail with "too
//! many open files" under the common limit of 1024. They get at most half the limit.

use tracing::warn;

/// Descriptors kept for everything but the listener: at least this many…
const MIN_RESERVE: usize = 64;
/// …or this share of the limit, whichever is more (outgoing calls grow with the turns).
const RESERVE_DIVISOR: usize = 4;
/// Below this the listener would be useless; a limit this low gets a warning instead.
const MIN_CONNECTIONS: usize = 8;

/// The connection cap for `max_connections` under this process's open-files limit.
#[must_use]
pub(crate) fn connection_cap(max_connections: usize) -> usize {
    let limit = nofile_limit();
    let open = open_descriptors().unwrap_or(0);
    let cap = cap_for(max_connections, limit, open);
    if let Some(limit) = limit
        && cap < max_connections
    {
        tracing::info!(
            limit,
            open,
            cap,
            "the open-files limit allows {cap} HTTP connections (gateway.http.maxConnections is \
             {max_connections}); raise `ulimit -n` (LimitNOFILE= under systemd) for more"
        );
        if cap == MIN_CONNECTIONS {
            warn!(
                limit,
                "the open-files limit is too low to keep descriptors in reserve for the store; \
                 raise `ulimit -n` to at least 1024"
            );
        }
    }
    cap
}

/// How many turns may run at once: `configured`, or half the open-files limit when that is
/// less (each running turn may hold one model connection, and the rest of the process needs
/// the other half).
#[must_use]
pub(crate) fn turn_cap(configured: usize) -> usize {
    let limit = nofile_limit();
    let cap = turn_cap_for(configured, limit);
    if let Some(limit) = limit
        && cap < configured
    {
        tracing::info!(
            limit,
            cap,
            "the open-files limit allows {cap} turns at once (gateway.maxConcurrentTurns is \
             {configured}); raise `ulimit -n` (LimitNOFILE= under systemd) for more"
        );
    }
    cap
}

fn turn_cap_for(configured: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit.and_then(|l| usize::try_from(l).ok()) else {
        return configured;
    };
    configured.min(limit / 2).max(1)
}

fn cap_for(max_connections: usize, limit: Option<u64>, open: usize) -> usize {
    let Some(limit) = limit.and_then(|l| usize::try_from(l).ok()) else {
        return max_connections;
    };
    let reserve = MIN_RESERVE.max(limit / RESERVE_DIVISOR);
    let room = limit.saturating_sub(open).saturating_sub(reserve);
    max_connections.min(room).max(MIN_CONNECTIONS)
}

/// The soft `RLIMIT_NOFILE`; `None` when unlimited or unknown.
fn nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` through a valid pointer to a local.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0;
        if ok && limit.rlim_cur != libc::RLIM_INFINITY {
            return Some(limit.rlim_cur);
        }
    }
    None
}

/// Descriptors open in this process now.
fn open_descriptors() -> Option<usize> {
    // Linux and the BSDs list them; the listing itself holds one more, counted as used.
    ["/proc/self/fd", "/dev/fd"]
        .iter()
        .find_map(|dir| std::fs::read_dir(dir).ok())
        .map(Iterator::count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_under_the_limit() {
        // prlimit --nofile=256: 40 open, 64 kept back.
        assert_eq!(cap_for(512, Some(256), 40), 152);
        // The common 1024: a quarter kept back.
        assert_eq!(cap_for(512, Some(1024), 40), 512);
        assert_eq!(cap_for(2000, Some(1024), 24), 744);
        // A generous limit: the configured cap.
        assert_eq!(cap_for(512, Some(1_048_576), 40), 512);
        assert_eq!(cap_for(512, None, 40), 512);
        // Too low to keep a reserve: still a few connections.
        assert_eq!(cap_for(512, Some(64), 30), MIN_CONNECTIONS);
    }

    #[test]
    fn turns_get_at_most_half_the_open_files_limit() {
        assert_eq!(turn_cap_for(10_000, Some(1024)), 512);
        assert_eq!(turn_cap_for(10_000, Some(65_536)), 10_000);
        assert_eq!(turn_cap_for(128, Some(1024)), 128);
        assert_eq!(turn_cap_for(10_000, None), 10_000);
        assert_eq!(turn_cap_for(10_000, Some(1)), 1);
    }

    #[test]
    fn this_process_has_a_limit_and_open_descriptors() {
        #[cfg(target_os = "linux")]
        {
            assert!(nofile_limit().is_some_and(|l| l > 0));
            assert!(open_descriptors().is_some_and(|n| n >= 3));
        }
    }
}
