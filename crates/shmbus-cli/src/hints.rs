//! The command line's own advice after a core error. The core's messages speak the library's
//! terms ("remove it first", "open it with allow_foreign_owner"); here each error code gets the
//! command or flag that does it, e.g. "(hint: `shmbus rm NAME`)".

use std::path::Path;

use shmbus::{CandleError, ErrorCode, JournalError, RegionError, RemoveError, SlotError};

/// The hint for a code, with `NAME` standing for the region or journal the error names.
pub fn hint(code: ErrorCode) -> Option<&'static str> {
    use ErrorCode as C;
    Some(match code {
        C::NotFound => "create it, e.g. `shmbus create NAME --kind slots --size 64K`",
        C::AlreadyExists => "`shmbus rm NAME`",
        C::NotReady => "if no writer is alive, `shmbus rm NAME`",
        C::ForeignOwner => "pass --allow-foreign-owner if you trust it",
        C::Truncated | C::SizeMismatch | C::Corrupt => "`shmbus rm --force NAME` removes it",
        C::InUse => "stop the writer, or pass --force",
        C::NotARegion | C::ForeignFile => {
            "`shmbus rm` removes only shmbus's own files, even with --force"
        }
        C::UnknownKey => "list the keys with `shmbus slot get NAME`",
        C::MessageTooLarge => "create the journal with a larger --size / --segment-size",
        C::OutOfOrder => "pass --replace to overwrite that range",
        _ => return None,
    })
}

/// The code of the first core error in the chain, and the region or journal it names.
fn core_error(e: &anyhow::Error) -> Option<(ErrorCode, Option<String>)> {
    e.chain().find_map(|c| {
        if let Some(r) = c.downcast_ref::<RegionError>() {
            Some((r.code(), region_subject(r)))
        } else if let Some(s) = c.downcast_ref::<SlotError>() {
            let subject = match s {
                SlotError::Region(r) => region_subject(r),
                SlotError::UnknownKey { region, .. } => Some(region.clone()),
                _ => None,
            };
            Some((s.code(), subject))
        } else if let Some(r) = c.downcast_ref::<RemoveError>() {
            let subject = match r {
                RemoveError::Region(r) => region_subject(r),
                RemoveError::InUse { path, .. } => Some(path.display().to_string()),
                _ => None,
            };
            Some((r.code(), subject))
        } else if let Some(j) = c.downcast_ref::<JournalError>() {
            let subject = match j {
                JournalError::Region(r) => region_subject(r),
                JournalError::MessageTooLarge { journal, .. } => Some(journal.clone()),
                _ => None,
            };
            Some((j.code(), subject))
        } else {
            c.downcast_ref::<CandleError>().map(|k| {
                let subject = match k {
                    CandleError::Region { error } => region_subject(error),
                    _ => None,
                };
                (k.error_code(), subject)
            })
        }
    })
}

/// The name a command takes for the region of a region error: its name, else its path.
fn region_subject(e: &RegionError) -> Option<String> {
    let path = |p: &Path| Some(p.display().to_string());
    match e {
        RegionError::NotFound { name, .. } | RegionError::AlreadyExists { name, .. } => {
            Some(name.clone())
        }
        RegionError::NotReady { path: p }
        | RegionError::Truncated { path: p, .. }
        | RegionError::SizeMismatch { path: p, .. }
        | RegionError::Corrupt { path: p, .. } => path(p),
        _ => None,
    }
}

/// The error as the command line prints it: its chain (`{:#}`), then the hint for its code, if
/// any, with the region's name in it.
pub fn render(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let Some((code, subject)) = core_error(e) else {
        return text;
    };
    match (hint(code), subject) {
        (Some(h), Some(name)) => format!("{text} (hint: {})", h.replace("NAME", &name)),
        (Some(h), None) if !h.contains("NAME") => format!("{text} (hint: {h})"),
        (Some(h), None) => format!("{text} (hint: {})", h.replace(" NAME", "")),
        (None, _) => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_core_error_gets_its_command_hint_with_the_name() {
        let e = anyhow::Error::from(RegionError::AlreadyExists {
            name: "ticks".into(),
            path: PathBuf::from("/dev/shm/ticks"),
        });
        let line = render(&e);
        assert!(
            line.starts_with("region \"ticks\" already exists"),
            "{line}"
        );
        assert!(line.ends_with("(hint: `shmbus rm ticks`)"), "{line}");

        // Through a wrapping error and a context line.
        let e = anyhow::Error::from(RemoveError::InUse {
            path: PathBuf::from("/dev/shm/t"),
            pid: Some(7),
        })
        .context("rm t");
        let line = render(&e);
        assert!(line.starts_with("rm t: "), "{line}");
        assert!(
            line.ends_with("(hint: stop the writer, or pass --force)"),
            "{line}"
        );
    }

    #[test]
    fn errors_without_a_hint_print_as_before() {
        let e = anyhow::Error::from(RegionError::WriterBusy {
            path: PathBuf::from("/dev/shm/t"),
            pid: None,
        });
        assert_eq!(render(&e), format!("{e:#}"));
        let e = anyhow::anyhow!("not a core error");
        assert_eq!(render(&e), "not a core error");
    }

    #[test]
    fn a_hint_without_a_known_name_drops_the_placeholder() {
        let e = anyhow::Error::from(SlotError::UnknownKey {
            region: "prices".into(),
            key: "X".into(),
        });
        assert!(render(&e).ends_with("(hint: list the keys with `shmbus slot get prices`)"));
        for code in ErrorCode::ALL {
            if let Some(h) = hint(*code) {
                assert!(!h.is_empty() && !h.ends_with('.'), "{code}: {h:?}");
            }
        }
    }
}
