//! `shmbus top`: a live terminal monitor of the regions (ratatui): kind, size, writer pid and
//! liveness, update rate, newest sequence, ring fill, and under each journal its registered
//! readers (`JournalReader::register`) with their pid, read rate, position and lag. Keys: `s`
//! sort by the next column, `r` reverse, `q` or Esc quit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row, Table};
use shmbus::candles::CandleReader;
use shmbus::journal::{JournalReader, Mode, Start, list_readers};
use shmbus::{Probe, Region, RegionKind, SlotReader, TradingData};

use crate::output::{Out, esc};
use crate::size::{human_size, parse_seconds};

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Directory to watch (default /dev/shm).
    dir: Option<PathBuf>,
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 0.5, value_parser = parse_seconds)]
    interval: f64,
    /// Print two samples `--interval` apart as a plain table and exit (for scripts).
    #[arg(long)]
    once: bool,
}

/// One region as `top` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionRow {
    pub name: String,
    pub kind: String,
    pub size: u64,
    pub writer_pid: u32,
    pub alive: bool,
    /// Newest journal sequence.
    pub newest: Option<u64>,
    /// Updates so far (journal messages, slot writes, candle writes): the rate's counter.
    pub count: Option<u64>,
    /// Updates per second since the previous sample.
    pub rate: Option<f64>,
    /// Ring fill, 0..=1.
    pub fill: Option<f64>,
    /// What is inside ("8 symbols", "2 series, 456 candles").
    pub info: String,
    /// A journal's registered readers, shown as rows under it.
    pub readers: Vec<ReaderRow>,
}

/// One registered reader of a journal, as `top` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderRow {
    pub name: String,
    pub pid: u32,
    pub alive: bool,
    /// The next sequence it will read.
    pub position: u64,
    /// Committed messages it has not read.
    pub lag: u64,
    /// Messages read per second since the previous sample.
    pub rate: Option<f64>,
}

impl RegionRow {
    /// The largest lag of the journal's live readers.
    fn max_lag(&self) -> Option<u64> {
        self.readers.iter().filter(|r| r.alive).map(|r| r.lag).max()
    }
}

/// Reads the regions of `dir` (read-only opens; a region that fails to open shows its error).
pub fn sample(dir: &Path) -> Result<Vec<RegionRow>> {
    let mut rows = Vec::new();
    for e in Region::list(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let Probe::Shmbus(h) = &e.probe else { continue };
        // A reader registry shows as the reader rows of its journal.
        if h.magic != shmbus::MAGIC || h.kind() == Some(RegionKind::Readers) {
            continue;
        }
        let mut row = RegionRow {
            name: e.name.clone(),
            kind: h.kind_name(),
            size: e.size,
            writer_pid: h.writer_pid,
            alive: e.writer_alive,
            newest: None,
            count: None,
            rate: None,
            fill: None,
            info: String::new(),
            readers: Vec::new(),
        };
        fill_in(&mut row, h.kind());
        rows.push(row);
    }
    for (name, segments, size) in shmbus_gateway::json::persisted_journals(dir) {
        let mut row = RegionRow {
            name,
            kind: "journal".into(),
            size,
            writer_pid: 0,
            alive: false,
            newest: None,
            count: None,
            rate: None,
            fill: None,
            info: format!("{segments} segments"),
            readers: Vec::new(),
        };
        fill_in(&mut row, Some(RegionKind::Journal));
        rows.push(row);
    }
    Ok(rows)
}

fn fill_in(row: &mut RegionRow, kind: Option<RegionKind>) {
    let name = row.name.clone();
    let result: Result<()> = (|| {
        match kind {
            Some(RegionKind::Journal) => {
                let i = JournalReader::open(&name, Start::End)?.info()?;
                row.newest = i.next_seq.checked_sub(1);
                row.count = Some(i.next_seq);
                row.alive = i.writer_alive;
                if i.mode == Mode::Ring && i.capacity > 0 {
                    let used = i.commit_position.saturating_sub(i.oldest_position);
                    row.fill = Some(used as f64 / i.capacity as f64);
                    row.info = format!("{} stored", i.next_seq - i.oldest_seq);
                }
                let readers = list_readers(&name, i.next_seq, &Region::open_options())
                    .context("cannot list its readers")?;
                row.readers = readers
                    .into_iter()
                    .map(|r| ReaderRow {
                        name: r.name,
                        pid: r.pid,
                        alive: r.alive,
                        position: r.position,
                        lag: r.lag,
                        rate: None,
                    })
                    .collect();
            }
            Some(RegionKind::Slots) => {
                let r = SlotReader::<TradingData>::open(&name)?;
                // A slot's sequence grows by 2 per write.
                let writes = r
                    .keys()
                    .iter()
                    .map(|(_, id)| r.sequence(*id).unwrap_or(0) / 2)
                    .sum();
                row.count = Some(writes);
                row.info = format!("{} symbols", r.len());
            }
            Some(RegionKind::Candles) => {
                let s = CandleReader::open(&name)?.stats()?;
                row.count = Some(s.write_count);
                row.info = format!("{} series, {} candles", s.total_symbols, s.total_candles);
            }
            Some(RegionKind::Bridge) => {
                // A bridge's row sorts right under its journal's (`NAME.bridge-...`); its rate
                // is the rate of the messages it carries.
                let b = shmbus::bridge_status::read_status(&name, &Region::open_options())?;
                row.count = Some(b.messages);
                row.alive = b.alive;
                row.info = format!(
                    "{} {} stream {}: lag {}, in flight {}, duplicates {}, lost {}",
                    b.direction.name(),
                    b.state,
                    b.stream,
                    b.lag,
                    b.in_flight,
                    b.duplicates,
                    b.lost
                );
            }
            _ => {}
        }
        Ok(())
    })();
    if let Err(e) = result {
        row.info = format!("{e:#}");
    }
}

/// What the table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Name,
    Kind,
    Size,
    Rate,
    Newest,
    Lag,
}

impl SortBy {
    fn next(self) -> Self {
        match self {
            Self::Name => Self::Kind,
            Self::Kind => Self::Size,
            Self::Size => Self::Rate,
            Self::Rate => Self::Newest,
            Self::Newest => Self::Lag,
            Self::Lag => Self::Name,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Kind => "kind",
            Self::Size => "size",
            Self::Rate => "rate",
            Self::Newest => "newest",
            Self::Lag => "lag",
        }
    }
}

/// The monitor's state: the last sample, with rates against the one before.
#[derive(Debug)]
pub struct App {
    pub rows: Vec<RegionRow>,
    pub sort: SortBy,
    pub reverse: bool,
    pub quit: bool,
    previous: HashMap<String, (u64, Instant)>,
    /// (journal, reader, pid) -> (position, when).
    previous_readers: HashMap<(String, String, u32), (u64, Instant)>,
}

impl App {
    pub fn new() -> Self {
        Self {
            rows: Vec::new(),
            sort: SortBy::Name,
            reverse: false,
            quit: false,
            previous: HashMap::new(),
            previous_readers: HashMap::new(),
        }
    }

    /// Takes a new sample, computing each rate from the previous sample of the same region.
    pub fn update(&mut self, mut rows: Vec<RegionRow>, now: Instant) {
        for r in &mut rows {
            if let (Some(c), Some((pc, pt))) = (r.count, self.previous.get(&r.name)) {
                let dt = now.duration_since(*pt).as_secs_f64();
                if dt > 0.0 {
                    r.rate = Some(c.saturating_sub(*pc) as f64 / dt);
                }
            }
        }
        self.previous = rows
            .iter()
            .filter_map(|r| Some((r.name.clone(), (r.count?, now))))
            .collect();
        let mut seen = HashMap::new();
        for row in &mut rows {
            for r in &mut row.readers {
                let key = (row.name.clone(), r.name.clone(), r.pid);
                if let Some((pp, pt)) = self.previous_readers.get(&key) {
                    let dt = now.duration_since(*pt).as_secs_f64();
                    if dt > 0.0 {
                        r.rate = Some(r.position.saturating_sub(*pp) as f64 / dt);
                    }
                }
                seen.insert(key, (r.position, now));
            }
        }
        self.previous_readers = seen;
        self.rows = rows;
        self.sort_rows();
    }

    fn sort_rows(&mut self) {
        let key = self.sort;
        self.rows.sort_by(|a, b| {
            let o = match key {
                SortBy::Name => a.name.cmp(&b.name),
                SortBy::Kind => a.kind.cmp(&b.kind).then(a.name.cmp(&b.name)),
                SortBy::Size => b.size.cmp(&a.size),
                SortBy::Rate => b.rate.unwrap_or(-1.0).total_cmp(&a.rate.unwrap_or(-1.0)),
                SortBy::Newest => b.newest.cmp(&a.newest),
                SortBy::Lag => b.max_lag().cmp(&a.max_lag()),
            };
            o.then(a.name.cmp(&b.name))
        });
        if self.reverse {
            self.rows.reverse();
        }
    }

    /// Handles one key: `s` next sort column, `r` reverse, `q`/Esc/Ctrl-C quit.
    pub fn key(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        match code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => self.quit = true,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.sort_rows();
            }
            KeyCode::Char('r') => {
                self.reverse = !self.reverse;
                self.sort_rows();
            }
            _ => {}
        }
    }

    fn cells(r: &RegionRow) -> [String; 9] {
        let writer = match (r.writer_pid, r.alive) {
            (0, true) => "alive".to_owned(),
            (0, false) => "-".to_owned(),
            (p, true) => format!("{p} alive"),
            (p, false) => format!("{p} DEAD"),
        };
        // Names and messages come from the file system and from regions: never raw to a terminal.
        [
            esc(&r.name).into_owned(),
            r.kind.clone(),
            human_size(r.size),
            writer,
            r.rate.map_or_else(|| "-".into(), |v| format!("{v:.0}/s")),
            r.newest.map_or_else(|| "-".into(), |v| v.to_string()),
            r.fill
                .map_or_else(|| "-".into(), |v| format!("{:.0}%", v * 100.0)),
            r.max_lag().map_or_else(|| "-".into(), |v| v.to_string()),
            esc(&r.info).into_owned(),
        ]
    }

    /// A reader's row, under its journal: its pid in WRITER, its read rate, its position (the
    /// next sequence it reads) in NEWEST, its lag.
    fn reader_cells(r: &ReaderRow) -> [String; 9] {
        [
            format!("  > {}", esc(&r.name)),
            "reader".into(),
            String::new(),
            format!("{} {}", r.pid, if r.alive { "alive" } else { "DEAD" }),
            r.rate.map_or_else(|| "-".into(), |v| format!("{v:.0}/s")),
            format!("@{}", r.position),
            String::new(),
            r.lag.to_string(),
            String::new(),
        ]
    }

    /// Every line of the table: each region, then its readers.
    fn lines(&self) -> Vec<([String; 9], bool)> {
        let mut out = Vec::new();
        for r in &self.rows {
            out.push((Self::cells(r), r.writer_pid != 0 && !r.alive));
            for reader in &r.readers {
                out.push((Self::reader_cells(reader), !reader.alive));
            }
        }
        out
    }

    const HEAD: [&'static str; 9] = [
        "NAME", "KIND", "SIZE", "WRITER", "RATE", "NEWEST", "FILL", "LAG", "CONTENT",
    ];

    /// Draws the table and a help line.
    pub fn draw(&self, f: &mut Frame<'_>) {
        let [table_area, help_area] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(f.area());
        let rows = self.lines().into_iter().map(|(cells, dead)| {
            let style = if dead {
                Style::default().fg(Color::Red)
            } else {
                Style::default()
            };
            Row::new(cells.map(Cell::from)).style(style)
        });
        let widths = [
            Constraint::Min(16),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(14),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Min(12),
        ];
        let header = Row::new(Self::HEAD.map(Cell::from))
            .style(Style::default().add_modifier(Modifier::BOLD));
        f.render_widget(Table::new(rows, widths).header(header), table_area);
        let help = format!(
            "{} regions  sorted by {}{}  s: sort  r: reverse  q: quit",
            self.rows.len(),
            self.sort.label(),
            if self.reverse { " (reversed)" } else { "" }
        );
        f.render_widget(Line::from(help), help_area);
    }

    /// The table as plain text (for `--once`).
    pub fn text(&self) -> String {
        let mut lines = vec![Self::HEAD.map(String::from)];
        lines.extend(self.lines().into_iter().map(|(cells, _)| cells));
        let widths: Vec<usize> = (0..9)
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for l in &lines {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

pub fn run(a: &TopArgs) -> Result<()> {
    anyhow::ensure!(
        a.interval > 0.0 && a.interval.is_finite(),
        "--interval must be a positive number of seconds"
    );
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(shmbus::SHM_DIR));
    let interval = Duration::from_secs_f64(a.interval);
    let mut app = App::new();
    app.update(sample(&dir)?, Instant::now());
    if a.once {
        std::thread::sleep(interval);
        app.update(sample(&dir)?, Instant::now());
        let mut out = Out::buffered();
        write!(out, "{}", app.text())?;
        return Ok(out.flush()?);
    }
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result = (|| -> Result<()> {
        let mut next = Instant::now() + interval;
        while !app.quit {
            terminal.draw(|f| app.draw(f))?;
            let wait = next.saturating_duration_since(Instant::now());
            if event::poll(wait)? {
                if let Event::Key(k) = event::read()? {
                    if k.kind == KeyEventKind::Press {
                        app.key(k.code, k.modifiers);
                    }
                }
            }
            if Instant::now() >= next {
                app.update(sample(&dir)?, Instant::now());
                next = Instant::now() + interval;
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;

    fn row(name: &str, kind: &str, size: u64, count: u64, pid: u32, alive: bool) -> RegionRow {
        RegionRow {
            name: name.into(),
            kind: kind.into(),
            size,
            writer_pid: pid,
            alive,
            newest: (kind == "journal").then(|| count.saturating_sub(1)),
            count: Some(count),
            rate: None,
            fill: None,
            info: String::new(),
            readers: Vec::new(),
        }
    }

    fn screen(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(100, 8)).unwrap();
        t.draw(|f| app.draw(f)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn rates_sorting_keys_and_dead_writers() {
        let t0 = Instant::now();
        let mut app = App::new();
        app.update(
            vec![
                row("trades", "journal", 1 << 20, 100, 42, true),
                row("quotes", "slots", 64 << 10, 10, 43, false),
            ],
            t0,
        );
        app.update(
            vec![
                row("trades", "journal", 1 << 20, 1100, 42, true),
                row("quotes", "slots", 64 << 10, 30, 43, false),
            ],
            t0 + Duration::from_secs(2),
        );
        let s = screen(&app);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{s}");
        // Sorted by name: quotes, then trades.
        assert!(lines[1].starts_with("quotes"), "{s}");
        assert!(
            lines[1].contains("43 DEAD") && lines[1].contains("10/s"),
            "{s}"
        );
        assert!(lines[2].starts_with("trades"), "{s}");
        assert!(
            lines[2].contains("42 alive") && lines[2].contains("500/s"),
            "{s}"
        );
        assert!(lines[2].contains("1099"), "{s}");
        assert!(s.contains("sorted by name"), "{s}");
        // s: kind; s again: size (largest first); r reverses.
        app.key(KeyCode::Char('s'), KeyModifiers::NONE);
        assert!(screen(&app).contains("sorted by kind"));
        app.key(KeyCode::Char('s'), KeyModifiers::NONE);
        app.key(KeyCode::Char('s'), KeyModifiers::NONE);
        assert_eq!(app.sort, SortBy::Rate);
        assert_eq!(app.rows[0].name, "trades");
        app.key(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(app.rows[0].name, "quotes");
        assert!(screen(&app).contains("(reversed)"));
        assert!(!app.quit);
        app.key(KeyCode::Char('x'), KeyModifiers::NONE);
        assert!(!app.quit);
        app.key(KeyCode::Char('q'), KeyModifiers::NONE);
        assert!(app.quit);
        let mut app = App::new();
        app.key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(app.quit);
    }

    fn reader(name: &str, pid: u32, alive: bool, position: u64, lag: u64) -> ReaderRow {
        ReaderRow {
            name: name.into(),
            pid,
            alive,
            position,
            lag,
            rate: None,
        }
    }

    #[test]
    fn readers_show_under_their_journal_with_lag_and_rate() {
        let t0 = Instant::now();
        let mut app = App::new();
        let sample = |fast: u64, slow: u64| {
            let mut a = row("alpha", "journal", 1 << 20, 1000, 42, true);
            a.readers = vec![
                reader("fast", 50, true, fast, 1000 - fast),
                reader("gone", 51, false, 3, 997),
            ];
            let mut b = row("beta", "journal", 1 << 20, 1000, 43, true);
            b.readers = vec![reader("slow", 52, true, slow, 1000 - slow)];
            vec![a, b, row("quotes", "slots", 64 << 10, 10, 44, true)]
        };
        app.update(sample(600, 100), t0);
        app.update(sample(1000, 200), t0 + Duration::from_secs(2));
        let s = screen(&app);
        let lines: Vec<&str> = s.lines().collect();
        // Sorted by name; each journal's readers right under it.
        assert!(lines[1].starts_with("alpha"), "{s}");
        assert!(lines[2].starts_with("  > fast"), "{s}");
        assert!(
            lines[2].contains("50 alive") && lines[2].contains("200/s"),
            "{s}"
        );
        assert!(lines[2].contains("@1000"), "{s}");
        assert!(
            lines[3].starts_with("  > gone") && lines[3].contains("51 DEAD"),
            "{s}"
        );
        assert!(lines[3].contains("997"), "{s}");
        assert!(lines[4].starts_with("beta"), "{s}");
        assert!(
            lines[5].starts_with("  > slow") && lines[5].contains("800"),
            "{s}"
        );
        // The journal's LAG is its live readers' largest: alpha 0 (the dead one does not count).
        assert_eq!(app.rows[0].max_lag(), Some(0));
        // s cycles name, kind, size, rate, newest, lag: by lag, beta (800) comes first.
        for _ in 0..5 {
            app.key(KeyCode::Char('s'), KeyModifiers::NONE);
        }
        assert_eq!(app.sort, SortBy::Lag);
        assert_eq!(app.rows[0].name, "beta");
        let s = screen(&app);
        assert!(s.contains("sorted by lag"), "{s}");
        assert!(s.lines().nth(2).unwrap().starts_with("  > slow"), "{s}");
        let text = app.text();
        assert!(text.lines().next().unwrap().contains("LAG"), "{text}");
        assert!(text.contains("  > slow"), "{text}");
    }
}
