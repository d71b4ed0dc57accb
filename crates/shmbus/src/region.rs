//! Named shared-memory regions: created safely, validated on open, owned by one writer at a time.
//!
//! * **Create** is exclusive (`O_CREAT | O_EXCL`), sets the exact mode (0600 unless group
//!   sharing is asked for), reserves the whole size with `posix_fallocate` (a full `/dev/shm` is
//!   an error now, not a SIGBUS later), takes the writer lock, writes the header and publishes
//!   it last.
//! * **Open** maps exactly the size `fstat` reports and checks magic, version, kind, record
//!   layout and size before anything else is read. Readers map read-only.
//! * **One writer**: an exclusive `flock` on the region file, which the kernel drops when the
//!   writer exits or is killed, so a new writer can take over at once.

use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::error::{RegionCorruption, RegionError, RemoveError};
use crate::header::{
    self, FORMAT_VERSION, HEADER_LEN, HeaderInfo, MAGIC, Probe, RawHeader, RegionKind,
};
use crate::mapping::Mapping;
use crate::name::RegionName;
use crate::os::{self, OpenMode};
use crate::record::{RecordLayout, RecordLayoutBuf};

/// (Lives in the OS boundary; named here too for the modules that call it by this path.)
pub(crate) use crate::os::unlink_same;

/// Largest region shmbus creates (1 TiB).
pub const MAX_REGION_SIZE: u64 = 1 << 40;

/// How long a writer waits for the lock to be released by a short-lived liveness probe.
const LOCK_PROBE_GRACE: Duration = Duration::from_millis(20);

/// An open region: a mapped file with a validated header.
///
/// A writer holds the region's writer lock for as long as the `Region` lives.
#[derive(Debug)]
pub struct Region {
    name: RegionName,
    fd: os::Handle,
    map: Mapping,
    header: HeaderInfo,
    writer: bool,
}

/// Options for [`RegionBuilder::create`], made by [`Region::builder`].
#[derive(Debug, Clone)]
pub struct RegionBuilder {
    name: String,
    kind: RegionKind,
    size: u64,
    layout: Option<(u64, String)>,
    mode: u32,
    flags: u32,
    body_offset: Option<u32>,
    populate: bool,
}

impl RegionBuilder {
    /// The kind of region (default [`RegionKind::Raw`]).
    pub fn kind(mut self, kind: RegionKind) -> Self {
        self.kind = kind;
        self
    }

    /// Total size in bytes, reserved up front.
    pub fn size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    /// The record layout the region holds, checked by every later open.
    pub fn layout(mut self, layout: &RecordLayout) -> Self {
        self.layout = Some((layout.fingerprint(), layout.name.to_owned()));
        self
    }

    /// As [`RegionBuilder::layout`], for a layout known at run time.
    pub fn layout_buf(mut self, layout: &RecordLayoutBuf) -> Self {
        self.layout = Some((layout.fingerprint(), layout.name.clone()));
        self
    }

    /// Lets the owner's group read and write the region (mode 0660 instead of 0600).
    pub fn group_shared(mut self, yes: bool) -> Self {
        self.mode = if yes { 0o660 } else { 0o600 };
        self
    }

    /// Sets the exact permission bits.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Pre-faults every page of the mapping (keeps page faults out of latency-critical loops).
    pub fn populate(mut self, yes: bool) -> Self {
        self.populate = yes;
        self
    }

    /// Creates the region and publishes its header. The caller is its writer.
    ///
    /// # Errors
    ///
    /// [`RegionError::AlreadyExists`], [`RegionError::NoSpace`], [`RegionError::SizeTooSmall`],
    /// [`RegionError::InvalidName`], [`RegionError::PermissionDenied`] and I/O errors.
    pub fn create(self) -> Result<Region, RegionError> {
        let region = self.create_unpublished()?;
        region.publish();
        Ok(region)
    }

    /// Creates the region with its header written but not published: the kind's module
    /// initialises its area, then calls [`Region::publish`].
    pub(crate) fn create_unpublished(self) -> Result<Region, RegionError> {
        let name = RegionName::parse(&self.name)?;
        let path = name.path().to_path_buf();
        let hdr = self.kind.header_offset();
        let body = self.body_offset.unwrap_or((hdr + HEADER_LEN) as u32);
        let min = u64::from(body).max((hdr + HEADER_LEN) as u64);
        if self.size < min {
            return Err(RegionError::SizeTooSmall {
                kind: self.kind,
                requested: self.size,
                min,
            });
        }
        if self.size > MAX_REGION_SIZE {
            return Err(RegionError::SizeTooLarge {
                requested: self.size,
                max: MAX_REGION_SIZE,
            });
        }
        let fd = os::open(&path, OpenMode::CreateNew(self.mode))
            .map_err(|e| open_error(e, &name, "create"))?;
        // From here on a failure must not leave a half-made region behind.
        let cleanup = |e: RegionError| {
            let _ = os::unlink(&path);
            e
        };
        if let Err(e) = os::reserve(&fd, self.size) {
            let free = os::free_space(&fd);
            return Err(cleanup(match os::failure(&e) {
                os::Failure::NoSpace => RegionError::NoSpace {
                    path: path.clone(),
                    requested: self.size,
                    free,
                },
                _ => io_error("reserve space for", &path, e),
            }));
        }
        match os::try_lock_exclusive(&fd) {
            Ok(true) => {}
            Ok(false) => {
                return Err(cleanup(RegionError::WriterBusy {
                    path: path.clone(),
                    pid: None,
                }));
            }
            Err(e) => return Err(cleanup(io_error("lock", &path, e))),
        }
        let map = Mapping::new(&fd, self.size as usize, true, self.populate)
            .map_err(|e| cleanup(io_error("map", &path, e)))?;
        let (layout, layout_name) = self.layout.unwrap_or_default();
        let header = HeaderInfo {
            offset: hdr,
            magic: MAGIC,
            version: FORMAT_VERSION,
            kind_code: self.kind.code(),
            header_len: HEADER_LEN as u32,
            flags: self.flags,
            layout,
            layout_name,
            total_size: self.size,
            creator_pid: os::pid(),
            creator_uid: os::euid(),
            created_ns: os::now_unix_ns(),
            writer_generation: 1,
            writer_pid: os::pid(),
            body_offset: body,
        };
        let Some(raw) = map.view::<RawHeader>(hdr) else {
            // (Unreachable: the size was checked against the header's end above.)
            return Err(cleanup(RegionError::SizeTooSmall {
                kind: self.kind,
                requested: self.size,
                min,
            }));
        };
        header.write_unpublished(raw);
        Ok(Region {
            name,
            fd,
            map,
            header,
            writer: true,
        })
    }
}

/// What an opener expects of a region, made by [`Region::open_options`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    kind: Option<RegionKind>,
    layout: Option<(u64, String)>,
    writer: bool,
    allow_foreign_owner: bool,
    populate: bool,
    defer_claim: bool,
    shared_write: bool,
}

impl OpenOptions {
    /// Requires this kind.
    pub fn kind(mut self, kind: RegionKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Requires records of this layout.
    pub fn layout(mut self, layout: &RecordLayout) -> Self {
        self.layout = Some((layout.fingerprint(), layout.name.to_owned()));
        self
    }

    /// As [`OpenOptions::layout`], for a layout known at run time.
    pub fn layout_buf(mut self, layout: &RecordLayoutBuf) -> Self {
        self.layout = Some((layout.fingerprint(), layout.name.clone()));
        self
    }

    /// Opens read-write and takes the writer lock.
    pub fn writer(mut self, yes: bool) -> Self {
        self.writer = yes;
        self
    }

    /// Accepts a region owned by another user.
    pub fn allow_foreign_owner(mut self, yes: bool) -> Self {
        self.allow_foreign_owner = yes;
        self
    }

    /// Pre-faults every page of the mapping.
    pub fn populate(mut self, yes: bool) -> Self {
        self.populate = yes;
        self
    }

    pub(crate) fn allows_foreign_owner(&self) -> bool {
        self.allow_foreign_owner
    }

    /// A writer open takes the lock but stores nothing: the kind's writer validates its own
    /// area first, then calls [`Region::claim_writer`] (a writer that refuses a corrupt region
    /// must leave it exactly as it found it).
    pub(crate) fn defer_claim(mut self) -> Self {
        self.defer_claim = true;
        self
    }

    /// Opens read-write without the writer lock: for a region that many processes write, each
    /// its own part, by their own protocol (a journal's reader registry).
    pub(crate) fn shared_write(mut self) -> Self {
        self.shared_write = true;
        self
    }

    /// Opens and validates the region.
    ///
    /// # Errors
    ///
    /// A distinct [`RegionError`] for each way a region can be missing, foreign, corrupt or
    /// busy: see the variants.
    pub fn open(&self, name: &str) -> Result<Region, RegionError> {
        Region::open_with(name, self)
    }
}

impl Region {
    /// Starts creating a region named `name` (a shm name or a file path).
    pub fn builder(name: &str) -> RegionBuilder {
        RegionBuilder {
            name: name.to_owned(),
            kind: RegionKind::Raw,
            size: 0,
            layout: None,
            mode: 0o600,
            flags: 0,
            body_offset: None,
            populate: false,
        }
    }

    /// Options for opening an existing region.
    pub fn open_options() -> OpenOptions {
        OpenOptions::default()
    }

    /// Opens any shmbus region read-only, checking magic, version and size but not kind or
    /// layout (for tools that inspect regions).
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`].
    pub fn open_any(name: &str) -> Result<Region, RegionError> {
        Self::open_with(name, &OpenOptions::default())
    }

    fn open_with(name: &str, opts: &OpenOptions) -> Result<Region, RegionError> {
        let name = RegionName::parse(name)?;
        let path = name.path().to_path_buf();
        let mode = if opts.writer || opts.shared_write {
            OpenMode::Write
        } else {
            OpenMode::Read
        };
        let fd = os::open(&path, mode).map_err(|e| open_error(e, &name, "open"))?;
        // (`os::open` opens nothing but a regular file.)
        let st = os::stat(&fd).map_err(|e| io_error("stat", &path, e))?;
        let me = os::euid();
        if st.uid != me && !opts.allow_foreign_owner {
            return Err(RegionError::ForeignOwner {
                path,
                owner: st.uid,
                me,
            });
        }
        let min = (opts.kind.map_or(0, RegionKind::header_offset) + HEADER_LEN) as u64;
        if st.size == 0 {
            // The creator made the file and has not reserved its space yet (or died right
            // there): the same state as an unpublished header, so openers that wait for a
            // region to appear treat both alike.
            return Err(RegionError::NotReady { path });
        }
        if st.size < min {
            return Err(RegionError::Truncated {
                path,
                size: st.size,
                min,
            });
        }
        let len = usize::try_from(st.size).map_err(|_| RegionError::SizeTooLarge {
            requested: st.size,
            max: MAX_REGION_SIZE,
        })?;
        let map = Mapping::new(&fd, len, opts.writer || opts.shared_write, opts.populate)
            .map_err(|e| io_error("map", &path, e))?;
        let header = match opts.kind {
            Some(kind) => HeaderInfo::read(&map, kind.header_offset()),
            None => match header::probe(&map) {
                Probe::Shmbus(h) => Some(h),
                _ => HeaderInfo::read(&map, 0),
            },
        }
        .ok_or_else(|| RegionError::Truncated {
            path: path.clone(),
            size: st.size,
            min,
        })?;
        validate(&header, &path, st.size, opts)?;
        let mut region = Region {
            name,
            fd,
            map,
            header,
            writer: false,
        };
        if opts.writer {
            region.take_writer_lock()?;
            if !opts.defer_claim {
                region.claim_writer();
            }
        }
        Ok(region)
    }

    fn take_writer_lock(&mut self) -> Result<(), RegionError> {
        let path = self.name.path();
        let start = Instant::now();
        loop {
            match os::try_lock_exclusive(&self.fd) {
                Ok(true) => break,
                Ok(false) => {
                    // A liveness probe (`shmbus ls`, a reader checking for a dead writer) holds a
                    // shared lock for microseconds; a real writer holds it until it exits.
                    let pid = self.raw_header().writer_pid.load(Ordering::Relaxed);
                    let alive = pid != 0 && os::pid_alive(pid);
                    if alive || start.elapsed() > LOCK_PROBE_GRACE {
                        return Err(RegionError::WriterBusy {
                            path: path.to_path_buf(),
                            pid: alive.then_some(pid),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(io_error("lock", path, e)),
            }
        }
        self.writer = true;
        Ok(())
    }

    /// Makes the lock holder the region's writer: increments the writer generation and stores
    /// this process's pid. The first store a writer makes, after everything it validates.
    pub(crate) fn claim_writer(&mut self) {
        debug_assert!(self.writer, "claim_writer without the writer lock");
        let raw = self.raw_header();
        let generation = raw
            .writer_generation
            .load(Ordering::Relaxed)
            .wrapping_add(1);
        raw.writer_generation.store(generation, Ordering::Relaxed);
        raw.writer_pid.store(os::pid(), Ordering::Relaxed);
        self.header.writer_generation = generation;
        self.header.writer_pid = os::pid();
    }

    /// The header in the mapping. Create and open checked that the mapping holds all of it
    /// at `header.offset` (the file is at least `header_offset + HEADER_LEN` bytes, and a
    /// mapping never shrinks), so the view exists for the region's whole life.
    fn raw_header(&self) -> &RawHeader {
        self.map
            .view(self.header.offset)
            .expect("create and open checked that the mapping holds the header")
    }

    /// Makes a created region visible to readers (stores the magic last).
    pub(crate) fn publish(&self) {
        HeaderInfo::publish(self.raw_header());
    }

    /// The region's name.
    pub fn name(&self) -> &RegionName {
        &self.name
    }

    /// The header as read at open (writer fields updated by this process).
    pub fn header(&self) -> &HeaderInfo {
        &self.header
    }

    /// A fresh read of the header (writer pid and generation change over the region's life).
    pub fn read_header(&self) -> HeaderInfo {
        HeaderInfo::load(self.raw_header(), self.header.offset)
    }

    /// The region's kind.
    pub fn kind(&self) -> Option<RegionKind> {
        self.header.kind()
    }

    /// Size of the region in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the region has no bytes (never true for a valid region).
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Whether this handle holds the writer lock.
    pub fn is_writer(&self) -> bool {
        self.writer
    }

    /// Whether some process holds the writer lock (this one included).
    ///
    /// # Errors
    ///
    /// I/O errors of the lock probe.
    pub fn writer_alive(&self) -> Result<bool, RegionError> {
        if self.writer {
            return Ok(true);
        }
        os::writer_lock_held(&self.fd)
            .map_err(|e| io_error("probe the lock of", self.name.path(), e))
    }

    /// Copies `len` bytes from `offset` (for dumps); `None` if out of bounds.
    pub fn read_bytes(&self, offset: usize, len: usize) -> Option<Vec<u8>> {
        self.map.read_bytes(offset, len)
    }

    pub(crate) fn map(&self) -> &Mapping {
        &self.map
    }

    /// Fails if another process truncated the region's file while it was mapped here (see
    /// [`RegionError::TruncatedWhileMapped`]): what was read from it since then was zeros.
    /// Every read and write of shmbus checks this before returning; call it after reading the
    /// region through an API that returns no `Result` (e.g. `keys()`).
    ///
    /// # Errors
    ///
    /// [`RegionError::TruncatedWhileMapped`].
    #[inline]
    pub fn check_intact(&self) -> Result<(), RegionError> {
        if self.map.truncated() {
            return Err(self.truncated_error());
        }
        Ok(())
    }

    /// Whether the region's file was removed since it was opened (retention deleted the
    /// segment, or `remove` the region): its mapping still reads, but the name leads elsewhere
    /// or nowhere. One `fstat`; a failed one counts as removed.
    pub(crate) fn removed(&self) -> bool {
        os::stat(&self.fd).map_or(true, |st| st.unlinked)
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn truncated_error(&self) -> RegionError {
        RegionError::TruncatedWhileMapped {
            path: self.name.path().to_path_buf(),
        }
    }

    /// Maps `len` bytes from `offset` (page-aligned) read-write, through a second descriptor
    /// opened on the same file (checked by device and inode): how a read-only reader gets the
    /// journal's doorbell page. Fails if this process may not write the file.
    ///
    /// The file is opened again through the region's own descriptor, so it is the same file
    /// however long after the open this runs (a reader maps the doorbell when it first sleeps);
    /// by its name only where the system has no /proc.
    pub(crate) fn map_writable_page(&self, offset: u64, len: usize) -> io::Result<Mapping> {
        let fd = match os::reopen_write(&self.fd) {
            Err(e) if os::failure(&e) == os::Failure::NotFound => {
                os::open(self.name.path(), OpenMode::Write)?
            }
            other => other?,
        };
        let (a, b) = (os::stat(&fd)?, os::stat(&self.fd)?);
        if (a.dev, a.ino) != (b.dev, b.ino) {
            return Err(io::Error::other("the region file was replaced"));
        }
        Mapping::new_at(&fd, offset, len, true, false)
    }

    /// Maps a file read-only without looking for a shmbus header (for foreign formats such as a
    /// region written by the original QuantNexus writer). Same name, symlink, owner and size
    /// checks as [`OpenOptions::open`].
    #[cfg_attr(loom, allow(dead_code))] // its only user, the candle reader, is not built for loom
    pub(crate) fn map_foreign(
        name: &str,
        allow_foreign_owner: bool,
        min: u64,
    ) -> Result<(RegionName, Mapping), RegionError> {
        let name = RegionName::parse(name)?;
        let path = name.path().to_path_buf();
        let fd = os::open(&path, OpenMode::Read).map_err(|e| open_error(e, &name, "open"))?;
        // (`os::open` opens nothing but a regular file.)
        let st = os::stat(&fd).map_err(|e| io_error("stat", &path, e))?;
        let me = os::euid();
        if st.uid != me && !allow_foreign_owner {
            return Err(RegionError::ForeignOwner {
                path,
                owner: st.uid,
                me,
            });
        }
        if st.size < min {
            return Err(RegionError::Truncated {
                path,
                size: st.size,
                min,
            });
        }
        let len = usize::try_from(st.size).map_err(|_| RegionError::SizeTooLarge {
            requested: st.size,
            max: MAX_REGION_SIZE,
        })?;
        let map = Mapping::new(&fd, len, false, false).map_err(|e| io_error("map", &path, e))?;
        Ok((name, map))
    }

    /// Opens the file behind a region name read-only, for its raw bytes (a hex dump of a file
    /// that may not be a valid region): the name, symlink and file-type checks of every open (so
    /// a FIFO is refused, never waited on), but no header check.
    ///
    /// # Errors
    ///
    /// [`RegionError::NotFound`], [`RegionError::Symlink`], [`RegionError::NotRegularFile`],
    /// [`RegionError::PermissionDenied`], [`RegionError::InvalidName`] and I/O errors.
    pub fn open_file(name: &str) -> Result<std::fs::File, RegionError> {
        let name = RegionName::parse(name)?;
        let fd = os::open(name.path(), OpenMode::Read).map_err(|e| open_error(e, &name, "open"))?;
        Ok(std::fs::File::from(fd))
    }

    pub(crate) fn builder_with_body(name: &str, body_offset: u32) -> RegionBuilder {
        let mut b = Self::builder(name);
        b.body_offset = Some(body_offset);
        b
    }

    /// Removes a region by name.
    ///
    /// Removes only a regular file that is recognisably a shmbus region, **even with `force`**:
    /// never a directory, symbolic link, FIFO, socket or device, nor a file of someone else's.
    /// A journal's reader registry (`NAME.readers`) is removed with it.
    ///
    /// * Without `force`: the region must open and validate (a header written but never
    ///   published by a creator that died is also removed), and no writer may be alive.
    /// * With `force`: a live writer is no reason to refuse, nor is a damaged header, as long as
    ///   the file still carries a shmbus header (its magic, or a well-formed unpublished header)
    ///   or is a QuantNexus candle region. An empty file is refused (nothing says it is ours).
    ///
    /// # Errors
    ///
    /// [`RemoveError::InUse`], [`RemoveError::NotARegion`], and as [`RemoveError::Region`]:
    /// `NotFound`, `NotRegularFile`, `Symlink`, `InvalidName`, `PermissionDenied`, `Io`, and
    /// (without `force`) the open errors of a damaged region that `force` would remove.
    pub fn remove(name: &str, force: bool) -> Result<(), RemoveError> {
        let parsed = RegionName::parse(name)?;
        let path = parsed.path().to_path_buf();
        let (st, what) = identify(&path).map_err(|e| open_error(e, &parsed, "remove"))?;
        match what {
            Identity::Foreign(reason) => return Err(RemoveError::NotARegion { path, reason }),
            // Nothing says whose it is (a creator killed before reserving its space leaves one,
            // but so do many other programs): not ours to remove.
            Identity::Empty => {
                return Err(RemoveError::NotARegion {
                    path,
                    reason: crate::NotARegionReason::Empty,
                });
            }
            _ => {}
        }
        if !force {
            let region = Self::open_options().allow_foreign_owner(true).open(name);
            let region = match region {
                Ok(r) => r,
                // A region whose creator died before publishing is exactly what rm is for, if
                // its unpublished header says it is one (not just any file of zeros).
                Err(RegionError::NotReady { .. }) if what == Identity::Unpublished => {
                    return Ok(os::unlink_same(&path, &st)
                        .map_err(|e| open_error(e, &parsed, "remove"))?);
                }
                Err(e) => return Err(e.into()),
            };
            // A writer that just closed may still have its lock held for a moment by a child
            // forked in another thread (until that child execs, when CLOEXEC closes it): only a
            // lock that stays held, or whose holder's pid is alive, means a live writer.
            let start = Instant::now();
            while region.writer_alive()? {
                let pid = region.read_header().writer_pid;
                if (pid != 0 && os::pid_alive(pid)) || start.elapsed() > LOCK_PROBE_GRACE {
                    return Err(RemoveError::InUse {
                        path,
                        pid: (pid != 0).then_some(pid),
                    });
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        os::unlink_same(&path, &st).map_err(|e| open_error(e, &parsed, "remove"))?;
        // A journal's reader registry (`NAME.readers`) goes with it.
        if what == Identity::Shmbus(Some(RegionKind::Journal)) {
            crate::journal::remove_registry(name)?;
            crate::bridge_status::remove_bridges(name)?;
        }
        Ok(())
    }

    /// Lists the shmbus regions in `dir` (`/dev/shm` for shm names).
    ///
    /// # Errors
    ///
    /// If the directory cannot be read. Files that cannot be opened are listed with their error.
    pub fn list(dir: &Path) -> io::Result<Vec<ListEntry>> {
        let mut out = Vec::new();
        for entry in os::list_dir(dir)? {
            let entry = entry?;
            if !entry.is_file {
                continue;
            }
            let name = if dir == Path::new(crate::name::SHM_DIR) {
                entry.name.to_string_lossy().into_owned()
            } else {
                entry.path.to_string_lossy().into_owned()
            };
            out.push(ListEntry::read(name, &entry.path));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.writer {
            // A clean exit clears the writer pid; a killed writer leaves it, and its lock is gone.
            let _ = self.raw_header().writer_pid.compare_exchange(
                os::pid(),
                0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}

/// One file seen by [`Region::list`].
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// The name to pass to shmbus (shm name, or the path).
    pub name: String,
    /// The file's size.
    pub size: u64,
    /// The file owner's uid.
    pub owner: u32,
    /// What the file is.
    pub probe: Probe,
    /// Whether a writer holds the lock.
    pub writer_alive: bool,
    /// Permission bits of the file.
    pub mode: u32,
}

impl ListEntry {
    fn read(name: String, path: &Path) -> Self {
        let mut entry = ListEntry {
            name,
            size: 0,
            owner: 0,
            probe: Probe::Unknown,
            writer_alive: false,
            mode: 0,
        };
        let Ok(fd) = os::open(path, OpenMode::Read) else {
            return entry;
        };
        let Ok(st) = os::stat(&fd) else { return entry };
        entry.size = st.size;
        entry.owner = st.uid;
        entry.mode = st.mode;
        if st.size < HEADER_LEN as u64 || !st.is_regular {
            return entry;
        }
        let Ok(len) = usize::try_from(st.size) else {
            return entry;
        };
        if let Ok(map) = Mapping::new(&fd, len, false, false) {
            entry.probe = header::probe(&map);
        }
        entry.writer_alive = os::writer_lock_held(&fd).unwrap_or(false);
        entry
    }
}

fn validate(
    h: &HeaderInfo,
    path: &Path,
    file_size: u64,
    opts: &OpenOptions,
) -> Result<(), RegionError> {
    let path = path.to_path_buf();
    if h.magic == 0 {
        return Err(RegionError::NotReady { path });
    }
    if h.magic != MAGIC {
        return Err(RegionError::BadMagic {
            path,
            expected: MAGIC,
            found: h.magic,
        });
    }
    if h.version != FORMAT_VERSION {
        return Err(RegionError::VersionMismatch {
            path,
            expected: FORMAT_VERSION,
            found: h.version,
        });
    }
    if let Some(kind) = opts.kind {
        if h.kind_code != kind.code() {
            return Err(RegionError::KindMismatch {
                path,
                expected: kind,
                found: h.kind_name(),
            });
        }
    }
    if let Some((fp, name)) = &opts.layout {
        if h.layout != *fp {
            return Err(RegionError::LayoutMismatch {
                path,
                expected_name: name.clone(),
                expected: *fp,
                found_name: h.layout_name.clone(),
                found: h.layout,
            });
        }
    }
    if h.total_size != file_size {
        return Err(RegionError::SizeMismatch {
            path,
            header_size: h.total_size,
            file_size,
        });
    }
    if h.header_len as usize != HEADER_LEN {
        return Err(RegionError::Corrupt {
            path,
            what: RegionCorruption::HeaderLength {
                found: h.header_len,
                expected: HEADER_LEN as u32,
            },
        });
    }
    let body = u64::from(h.body_offset);
    if body < (h.offset + HEADER_LEN) as u64 && h.kind() != Some(RegionKind::Candles)
        || body > file_size
    {
        return Err(RegionError::Corrupt {
            path,
            what: RegionCorruption::BodyOutside { body, file_size },
        });
    }
    Ok(())
}

/// What [`identify`] found a regular file to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    /// A published shmbus header (valid or not otherwise).
    Shmbus(Option<RegionKind>),
    /// A shmbus header written but not published: magic 0, this format version, a known kind.
    Unpublished,
    /// A candle region of the original QuantNexus writer.
    ForeignQnxs,
    /// An empty file: a creator killed between creating it and reserving its space, or
    /// anything else. Only a journal directory's context makes it recognisably shmbus's.
    Empty,
    /// Not a shmbus file, and why.
    Foreign(crate::NotARegionReason),
}

/// Opens `path` (a regular file only, without blocking or following a link) and says whether it
/// is recognisably a shmbus file, by its header. Returns the file's identity as `fstat` saw it.
pub(crate) fn identify(path: &Path) -> io::Result<(os::FileStat, Identity)> {
    let fd = os::open(path, OpenMode::Read)?;
    let st = os::stat(&fd)?;
    if st.size == 0 {
        return Ok((st, Identity::Empty));
    }
    if st.size < HEADER_LEN as u64 {
        return Ok((
            st,
            Identity::Foreign(crate::NotARegionReason::ShorterThanHeader),
        ));
    }
    let len = usize::try_from(st.size).map_err(|_| io::Error::other("file too large to map"))?;
    let map = Mapping::new(&fd, len, false, false)?;
    let what = match header::probe(&map) {
        Probe::Shmbus(h) if h.magic == MAGIC => Identity::Shmbus(h.kind()),
        Probe::Shmbus(h) if h.version == FORMAT_VERSION && h.kind().is_some() => {
            Identity::Unpublished
        }
        Probe::ForeignQnxs => Identity::ForeignQnxs,
        _ => Identity::Foreign(crate::NotARegionReason::NoHeader),
    };
    Ok((st, what))
}

fn io_error(op: &'static str, path: &Path, error: io::Error) -> RegionError {
    RegionError::Io {
        op,
        path: path.to_path_buf(),
        error,
    }
}

fn open_error(e: io::Error, name: &RegionName, op: &'static str) -> RegionError {
    let path = name.path().to_path_buf();
    match os::failure(&e) {
        os::Failure::NotRegular(what) => RegionError::NotRegularFile { path, what },
        os::Failure::NotFound => RegionError::NotFound {
            name: name.to_string(),
            path,
        },
        os::Failure::Exists => RegionError::AlreadyExists {
            name: name.to_string(),
            path,
        },
        os::Failure::Symlink => RegionError::Symlink { path },
        os::Failure::Denied => RegionError::PermissionDenied { op, path },
        os::Failure::NoSpace | os::Failure::Other => io_error(op, &path, e),
    }
}
