//! `shmbus`: create, list, inspect, watch and remove shared-memory regions; run the demo feed.

#[macro_use]
mod output;

mod bench;
mod bridge;
mod bridge_stats;
mod candles_cmd;
mod demo;
mod feed;
mod hints;
mod journal_cmd;
mod journal_watch;
mod records;
mod region_cmd;
mod replay;
mod serve;
mod slot_cmd;
mod top;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
// The parsers of sizes, durations and CSV bars live in a library of their own (the fuzz targets
// use it); `crate::size` and `crate::csv_import` name them here.
use shmbus_input::{csv_import, size};

/// shmbus: a shared-memory market-data bus.
///
/// Regions are named like POSIX shared memory (`prices` or `/prices`, living in /dev/shm) or
/// by a file path (any name with a `/` after its first character, e.g. `./data/prices.shm`).
#[derive(Debug, Parser)]
#[command(name = "shmbus", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an empty region (exclusive: fails if the name exists).
    Create(CreateArgs),
    /// List shmbus regions (in /dev/shm, or in DIR).
    Ls(LsArgs),
    /// Show a region's header (--json for machines, --hex for bytes).
    Inspect(InspectArgs),
    /// Remove regions (refuses while a writer is alive unless --force).
    Rm(RmArgs),
    /// Read and write slot tables (latest value per symbol).
    #[command(subcommand)]
    Slot(SlotCommand),
    /// Journals: append-only message logs.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Append messages (stdin lines, or arguments) to a journal.
    Append(journal_cmd::AppendArgs),
    /// Print a journal's messages (the last 10 by default; -f to follow).
    Tail(journal_cmd::TailArgs),
    /// List and validate every frame of a journal (positions, sequences, lengths).
    Dump(journal_cmd::DumpArgs),
    /// A journal's messages, bytes, sequences and append rate.
    Stats(journal_cmd::StatsArgs),
    /// Candle stores (QuantNexus-compatible OHLCV regions).
    #[command(subcommand)]
    Candles(CandlesCommand),
    /// Replay OHLCV bars from CSV files, in time order, into a candle region and a journal.
    Replay(replay::ReplayArgs),
    /// Publish a synthetic random-walk price feed into a slot table.
    Feed(feed::FeedArgs),
    /// Run the live demo: a feed process and a reader process on one slot table.
    Demo(demo::DemoArgs),
    /// Benchmarks between real processes: journal latency and throughput.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Serve the regions over HTTP and WebSocket, read-only (JSON API, live subscriptions, /metrics).
    Serve(serve::ServeArgs),
    /// Live terminal monitor of the regions: kind, writer and liveness, rates, newest sequence.
    Top(top::TopArgs),
    /// Carry journals to and from NATS JetStream, exactly once (`bridge out`, `bridge in`).
    #[command(subcommand)]
    Bridge(Box<bridge::BridgeCommand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KindArg {
    /// Only the common header (for tools and tests).
    Raw,
    /// A seqlock slot table of TradingData records (price, timestamp, volume, valid).
    Slots,
    /// A QuantNexus-compatible OHLCV candle store.
    Candles,
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// Region name (shm name or file path).
    name: String,
    /// What the region holds.
    #[arg(long, value_enum)]
    kind: KindArg,
    /// Total size, e.g. 64K, 8M, 1G (reserved up front).
    #[arg(long, value_parser = size::parse_size)]
    size: u64,
    /// Let the owner's group read and write it (mode 0660 instead of 0600).
    #[arg(long)]
    group: bool,
}

#[derive(Debug, clap::Args)]
struct LsArgs {
    /// Directory to list (default /dev/shm).
    dir: Option<PathBuf>,
    /// Also list files that are not shmbus regions.
    #[arg(long)]
    all: bool,
    /// One JSON object per region, in an array.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct InspectArgs {
    /// Region name (shm name or file path).
    name: String,
    /// Print JSON.
    #[arg(long, conflicts_with = "hex")]
    json: bool,
    /// Hexdump the region's bytes (works on any file, even a corrupt one).
    #[arg(long)]
    hex: bool,
    /// With --hex: first byte to dump.
    #[arg(long, default_value_t = 0, value_parser = size::parse_size)]
    offset: u64,
    /// With --hex: bytes to dump.
    #[arg(long, default_value_t = 256, value_parser = size::parse_size)]
    len: u64,
    /// Accept a region owned by another user.
    #[arg(long)]
    allow_foreign_owner: bool,
}

#[derive(Debug, clap::Args)]
struct RmArgs {
    /// Region names.
    #[arg(required = true)]
    names: Vec<String>,
    /// Remove even with a live writer, or a file that is not a shmbus region.
    #[arg(long, short)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Create a journal: a ring (--ring SIZE) or a persisted directory of segments.
    Create(journal_cmd::CreateArgs),
    /// Follow a journal of trades: rate and write-to-read latency.
    Watch(journal_watch::JournalWatchArgs),
}

#[derive(Debug, Subcommand)]
enum CandlesCommand {
    /// Import OHLCV bars from a CSV file into a series (all or nothing).
    Import(candles_cmd::ImportArgs),
    /// List the series, or print the candles of one.
    Show(candles_cmd::ShowArgs),
    /// Series, candles, memory used, last write, write count.
    Stats(candles_cmd::StatsArgs),
}

#[derive(Debug, Subcommand)]
enum SlotCommand {
    /// Publish one TradingData record under SYMBOL.
    Put(slot_cmd::PutArgs),
    /// Print the record of SYMBOL (or of every symbol).
    Get(slot_cmd::GetArgs),
    /// Live table of every symbol, with update rate and write-to-read latency.
    Watch(watch::WatchArgs),
}

/// The command line, or the exit after clap's help, version or usage error. A usage error quotes
/// what was typed: it is printed without styling and with control characters escaped.
fn parse() -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind;
    Cli::try_parse().map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Our own text, to stdout, through the one writer: a closed pipe ends quietly, any
            // other write error is one line (as for every command).
            let mut out = output::Out::buffered();
            match write!(out, "{}", e.render()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.is_broken_pipe() => ExitCode::from(output::BROKEN_PIPE_EXIT),
                Err(e) => {
                    errln!("shmbus: error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            let text = e.render().to_string();
            for line in text.trim_end().lines() {
                errln!("{}", output::esc(line));
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
    })
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Create(a) => region_cmd::create(&a),
        Command::Ls(a) => region_cmd::ls(&a),
        Command::Inspect(a) => region_cmd::inspect(&a),
        Command::Rm(a) => region_cmd::rm(&a),
        Command::Slot(SlotCommand::Put(a)) => slot_cmd::put(&a),
        Command::Slot(SlotCommand::Get(a)) => slot_cmd::get(&a),
        Command::Slot(SlotCommand::Watch(a)) => watch::run(&a),
        Command::Journal(JournalCommand::Create(a)) => journal_cmd::create(&a),
        Command::Journal(JournalCommand::Watch(a)) => journal_watch::run(&a),
        Command::Append(a) => journal_cmd::append(&a),
        Command::Tail(a) => journal_cmd::tail(&a),
        Command::Dump(a) => journal_cmd::dump(&a),
        Command::Stats(a) => journal_cmd::stats(&a),
        Command::Candles(CandlesCommand::Import(a)) => candles_cmd::import(&a),
        Command::Candles(CandlesCommand::Show(a)) => candles_cmd::show(&a),
        Command::Candles(CandlesCommand::Stats(a)) => candles_cmd::stats(&a),
        Command::Replay(a) => replay::run(&a),
        Command::Feed(a) => feed::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Bench(c) => bench::run(&c),
        Command::Serve(a) => serve::run(&a),
        Command::Top(a) => top::run(&a),
        Command::Bridge(c) => bridge::run(&c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The reader of our stdout went away (`shmbus ls | head`): end quietly, as `cat` does.
            let closed_pipe = e.chain().any(|c| {
                c.downcast_ref::<output::StdoutError>()
                    .is_some_and(output::StdoutError::is_broken_pipe)
            });
            if closed_pipe {
                return ExitCode::from(output::BROKEN_PIPE_EXIT);
            }
            // One clear line: the error and its causes, never a backtrace, and nothing from a
            // name or a region that could drive the terminal.
            // A core error gets the command line's hint for its code (`hints`).
            errln!("shmbus: error: {}", output::esc(&hints::render(&e)));
            ExitCode::FAILURE
        }
    }
}
