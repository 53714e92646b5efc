//! `tinykv-ctl regions` and `tinykv-ctl stores`: the scheduler's view of
//! a cluster, as tables; and `tinykv-ctl fault`, a client of
//! `tinykv-cluster --faults`' fault control. They ask the scheduler (`--scheduler HOST:PORT`),
//! not the stores: what they print is what the stores last reported in
//! their heartbeats (a region's leader reports the region; each store
//! reports itself).

use std::process::ExitCode;

use clap::Subcommand;
use tinykv_scheduler::{RegionInfo, StoreInfo, net};

use crate::Error;

/// The scheduler's tables.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Prints every region the scheduler knows, by start key: id, key
    /// range, epoch (conf_ver/version), leader and peers (`peer@store`).
    Regions {
        /// The scheduler's address, HOST:PORT.
        #[arg(long)]
        scheduler: String,
    },
    /// Prints every store registered with the scheduler: id, address,
    /// state, leader and region counts, time since its last heartbeat.
    Stores {
        /// The scheduler's address, HOST:PORT.
        #[arg(long)]
        scheduler: String,
    },
    /// Sends one command to `tinykv-cluster --faults`' fault control:
    /// `isolate STORE FAULT`, `link FROM TO FAULT`, `pair A B FAULT`,
    /// `heal` or `status`, FAULT being `drop`, `blackhole`, `delay MS` or
    /// `pass` (see `tinykv_server::proxy`).
    Fault {
        /// The control address tinykv-cluster printed, HOST:PORT.
        #[arg(long)]
        control: String,
        /// The command's words.
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
}

/// Runs one of the commands.
pub async fn run(command: ClusterCommand) -> Result<ExitCode, Error> {
    match command {
        ClusterCommand::Regions { scheduler } => {
            let client = net::connect(&scheduler).await.map_err(remote)?;
            let regions = client
                .list_regions(net::context())
                .await
                .map_err(|e| Error::Net(format!("{scheduler}: {e}")))?
                .map_err(remote)?;
            print!("{}", region_table(regions));
        }
        ClusterCommand::Stores { scheduler } => {
            let client = net::connect(&scheduler).await.map_err(remote)?;
            let stores = client
                .list_stores(net::context())
                .await
                .map_err(|e| Error::Net(format!("{scheduler}: {e}")))?
                .map_err(remote)?;
            print!("{}", store_table(&stores, wall_ms()));
        }
        ClusterCommand::Fault { control, command } => return fault(&control, &command).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// One line to the fault control, its one-line answer printed.
async fn fault(control: &str, command: &[String]) -> Result<ExitCode, Error> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let net = |e: std::io::Error| Error::Net(format!("fault control at {control}: {e}"));
    let mut stream = tokio::net::TcpStream::connect(control).await.map_err(net)?;
    let line = format!("{}\n", command.join(" "));
    stream.write_all(line.as_bytes()).await.map_err(net)?;
    let mut answer = String::new();
    tokio::io::BufReader::new(stream)
        .read_line(&mut answer)
        .await
        .map_err(net)?;
    match answer.trim_end().strip_prefix("ok") {
        Some(rest) => {
            println!("{}", rest.trim_start());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("tinykv-ctl: {}", answer.trim_end());
            Ok(ExitCode::from(1))
        }
    }
}

fn remote(e: tinykv_scheduler::Error) -> Error {
    match e {
        tinykv_scheduler::Error::Net(msg) => Error::Net(msg),
        other => Error::Remote(other.to_string()),
    }
}

/// Milliseconds since the Unix epoch: the real scheduler's clock.
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A key for a table: escaped; the empty key as `-inf` (a start) or
/// `+inf` (an end).
fn key(bytes: &[u8], empty: &str) -> String {
    if bytes.is_empty() {
        empty.to_string()
    } else {
        bytes.escape_ascii().to_string()
    }
}

/// The region table, sorted by start key.
pub fn region_table(mut regions: Vec<RegionInfo>) -> String {
    regions.sort_by(|a, b| a.meta.start_key.cmp(&b.meta.start_key));
    let mut rows = vec![
        [
            "REGION", "START", "END", "EPOCH", "LEADER", "PEERS", "PENDING",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &regions {
        let leader = match r.leader {
            Some(p) => format!("{}@{}", p.id, p.store_id),
            None => "-".into(),
        };
        let peers = |list: &[tinykv_scheduler::Peer]| {
            let text = list
                .iter()
                .map(|p| format!("{}@{}", p.id, p.store_id))
                .collect::<Vec<_>>()
                .join(",");
            if text.is_empty() { "-".into() } else { text }
        };
        rows.push(vec![
            r.meta.id.to_string(),
            key(&r.meta.start_key, "-inf"),
            key(&r.meta.end_key, "+inf"),
            format!(
                "{}/{}",
                r.meta.region_epoch.conf_ver, r.meta.region_epoch.version
            ),
            leader,
            peers(&r.meta.peers),
            peers(&r.pending_peers),
        ]);
    }
    let mut out = columns(&rows);
    out.push_str(&format!("{} regions\n", regions.len()));
    out
}

/// The store table, by id; `now_ms` dates the heartbeats.
pub fn store_table(stores: &[StoreInfo], now_ms: u64) -> String {
    let mut rows = vec![
        [
            "STORE",
            "ADDRESS",
            "STATE",
            "LEADERS",
            "REGIONS",
            "PENDING",
            "HEARTBEAT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in stores {
        let age = now_ms.saturating_sub(s.last_heartbeat_ms);
        rows.push(vec![
            s.meta.id.to_string(),
            s.meta.address.clone(),
            format!("{:?}", s.meta.state),
            s.leader_count.to_string(),
            s.region_count.to_string(),
            s.pending_peer_count.to_string(),
            format!("{:.1}s ago", age as f64 / 1000.0),
        ]);
    }
    let mut out = columns(&rows);
    out.push_str(&format!("{} stores\n", stores.len()));
    out
}

/// Left-aligned columns, two spaces apart.
fn columns(rows: &[Vec<String>]) -> String {
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..rows[0].len()).map(width).collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use tinykv_scheduler::{Peer, Region, RegionEpoch, Store};

    use super::*;

    #[test]
    fn region_table_sorts_by_start_key_and_escapes() {
        let peer = |id, store_id| Peer { id, store_id };
        let region = |id, start: &[u8], end: &[u8], leader| RegionInfo {
            meta: Region {
                id,
                start_key: start.to_vec(),
                end_key: end.to_vec(),
                region_epoch: RegionEpoch {
                    conf_ver: 3,
                    version: id,
                },
                peers: vec![peer(10 * id, 1), peer(10 * id + 1, 2)],
            },
            leader,
            pending_peers: Vec::new(),
            approximate_size: 0,
        };
        let table = region_table(vec![
            region(2, b"k\x01", b"", Some(peer(21, 2))),
            region(1, b"", b"k\x01", None),
        ]);
        assert_eq!(
            table,
            "REGION  START  END    EPOCH  LEADER  PEERS      PENDING\n\
             1       -inf   k\\x01  3/1    -       10@1,11@2  -\n\
             2       k\\x01  +inf   3/2    21@2    20@1,21@2  -\n\
             2 regions\n"
        );
    }

    #[test]
    fn store_table_dates_heartbeats() {
        let store = StoreInfo {
            meta: Store {
                id: 1,
                address: "127.0.0.1:20161".into(),
                ..Store::default()
            },
            last_heartbeat_ms: 1_000,
            leader_count: 2,
            region_count: 3,
            ..StoreInfo::default()
        };
        assert_eq!(
            store_table(&[store], 3_500),
            "STORE  ADDRESS          STATE  LEADERS  REGIONS  PENDING  HEARTBEAT\n\
             1      127.0.0.1:20161  Up     2        3        0        2.5s ago\n\
             1 stores\n"
        );
        assert_eq!(
            store_table(&[], 0),
            "STORE  ADDRESS  STATE  LEADERS  REGIONS  PENDING  HEARTBEAT\n0 stores\n"
        );
    }
}
