//! Process memory: how the allocator is set up, and which start-up pages stay resident.
//!
//! Both only matter on Linux with glibc (the release target); elsewhere they do nothing.
//! Figures and the reasoning behind them are in BENCHMARKS.md ("Memory").

/// Most glibc malloc arenas. glibc gives a thread its own arena when another thread holds
/// the one it would use, up to eight per core. Memory freed in one arena serves only that
/// arena, so after a burst every tokio worker, blocking-pool thread and SQLite connection
/// thread keeps its own high-water mark of free pages: that, not live data, is what made
/// the resident set grow with load. Two arenas keep contention low on the two cores the
/// gateway targets and let freed memory be reused by every thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: libc::c_int = 2;

/// Sets up the allocator. Call first thing in `main`, before any other thread exists (glibc
/// reads these settings when a thread first allocates).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator parameters; no other thread is running yet,
    // and a refused setting (return 0) leaves glibc's default in place, which is harmless.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
    }
}

/// Drops this process's mappings of the executable's read-only pages, typically right after
/// start-up; returns how many kB were resident in them.
///
/// Why: the kernel maps code in 64 kB windows around every page that runs ("fault-around"),
/// so running start-up once (config parsing, migrations, argument parsing, the TLS roots)
/// leaves megabytes of the 20-odd MB binary resident although the running gateway never
/// touches them again; that was most of its idle resident set. The pages stay in the page
/// cache: whatever the gateway runs later is mapped back by a minor fault, with no I/O.
///
/// Only mappings that are not writable and hold no private copy of a page are dropped: for
/// those, dropping and re-reading from the file give the same bytes, so this cannot change
/// what the program sees. Relocated data (RELRO) has private copies and is left alone.
#[must_use]
pub fn release_startup_pages() -> u64 {
    #[cfg(target_os = "linux")]
    match linux::release_executable_pages() {
        Ok(kb) => kb,
        Err(error) => {
            tracing::debug!(%error, "cannot release start-up pages");
            0
        }
    }
    #[cfg(not(target_os = "linux"))]
    0
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::Path;

    /// One mapping of `/proc/self/smaps`.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) struct Mapping<'a> {
        pub start: usize,
        pub end: usize,
        pub writable: bool,
        pub path: &'a str,
        pub rss_kb: u64,
        pub anonymous_kb: u64,
    }

    pub(super) fn release_executable_pages() -> std::io::Result<u64> {
        let exe = std::fs::read_link("/proc/self/exe")?;
        let smaps = std::fs::read_to_string("/proc/self/smaps")?;
        let mut released = 0;
        for mapping in droppable(&smaps, &exe) {
            // SAFETY: the range is a whole mapping of our own executable that is read-only
            // and holds no private (anonymous) page, so MADV_DONTNEED only unmaps clean file
            // pages; the next access maps the identical bytes from the file again.
            let done = unsafe {
                libc::madvise(
                    mapping.start as *mut libc::c_void,
                    mapping.end - mapping.start,
                    libc::MADV_DONTNEED,
                )
            };
            if done == 0 {
                released += mapping.rss_kb;
            }
        }
        Ok(released)
    }

    /// The executable's mappings that can be dropped and faulted back unchanged.
    pub(super) fn droppable<'a>(smaps: &'a str, exe: &Path) -> Vec<Mapping<'a>> {
        parse(smaps)
            .into_iter()
            .filter(|m| !m.writable && m.anonymous_kb == 0 && Path::new(m.path) == exe)
            .collect()
    }

    pub(super) fn parse(smaps: &str) -> Vec<Mapping<'_>> {
        let mut mappings: Vec<Mapping<'_>> = Vec::new();
        for line in smaps.lines() {
            if let Some(mapping) = header(line) {
                mappings.push(mapping);
            } else if let Some(current) = mappings.last_mut() {
                let mut fields = line.split_whitespace();
                let (Some(name), Some(kb)) = (fields.next(), fields.next().and_then(|v| v.parse().ok()))
                else {
                    continue;
                };
                match name {
                    "Rss:" => current.rss_kb = kb,
                    "Anonymous:" => current.anonymous_kb = kb,
                    _ => {}
                }
            }
        }
        mappings
    }

    /// `start-end perms offset dev inode path`; `None` for the `Field: value` lines.
    fn header(line: &str) -> Option<Mapping<'_>> {
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let (_offset, _dev, _inode) = (fields.next()?, fields.next()?, fields.next()?);
        Some(Mapping {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            writable: perms.as_bytes().get(1) == Some(&b'w'),
            path: fields.next().unwrap_or_default().trim(),
            rss_kb: 0,
            // Unknown until the field is read: count as private so a cut-off entry is kept.
            anonymous_kb: u64::MAX,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const SMAPS: &str = "\
5600aa000000-5600aa200000 r--p 00000000 fd:01 42                         /opt/clawtalk
Size:               2048 kB
Rss:                 900 kB
Anonymous:             0 kB
5600aa200000-5600ab000000 r-xp 00200000 fd:01 42                         /opt/clawtalk
Rss:                9000 kB
Anonymous:             0 kB
5600ab000000-5600ab100000 r--p 01000000 fd:01 42                         /opt/clawtalk
Rss:                 600 kB
Anonymous:           600 kB
5600ab100000-5600ab110000 rw-p 01100000 fd:01 42                         /opt/clawtalk
Rss:                  64 kB
Anonymous:             0 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 7                          /usr/lib/libc.so.6
Rss:                1000 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0 
Rss:                 100 kB
Anonymous:           100 kB
5600ac000000-5600ac100000 r-xp 00000000 fd:01 42                         /opt/clawtalk
Rss:                  10 kB
";

        #[test]
        fn only_clean_read_only_mappings_of_the_executable_are_dropped() {
            let dropped = droppable(SMAPS, Path::new("/opt/clawtalk"));
            let ranges: Vec<(usize, usize, u64)> =
                dropped.iter().map(|m| (m.start, m.end, m.rss_kb)).collect();
            // Not the relocated (private) one, not the writable one, not libc, not the
            // anonymous one, and not an entry whose Anonymous line is missing.
            assert_eq!(
                ranges,
                [
                    (0x5600_aa00_0000, 0x5600_aa20_0000, 900),
                    (0x5600_aa20_0000, 0x5600_ab00_0000, 9000)
                ]
            );
        }

        #[test]
        fn releasing_our_own_pages_keeps_the_program_running() {
            let kb = super::super::release_startup_pages();
            // The test binary's code ran, so some of it was resident; running more code
            // afterwards (the assertions, the formatting) faults it back in.
            assert!(kb > 0, "released {kb} kB");
            assert_eq!(format!("{}", 6 * 7), "42");
        }
    }
}
