//! One peer of one region on one store: a raft core, its storage, and the
//! proposals waiting for their entries to apply. Pure: no clock, task or
//! network — the store feeds it ticks, messages and commands, and after
//! each batch calls [`Peer::handle_ready`], which carries out the core's
//! ready in the order the crate map gives (persist, send, apply, answer,
//! advance) and hands back the messages to send.

use std::collections::VecDeque;
use std::sync::Arc;

use raft::{Apply, Config, Core, Message};
use rand::rngs::SmallRng;
use tinykv_storage::{Engine, Snapshot, WriteBatch, WriteOptions};

use crate::cmd::{self, RaftCmdRequest, Request, Response};
use crate::meta::{Peer as PeerMeta, Region, RegionLocalState};
use crate::peer_storage::read_record;
use crate::{Error, PeerStorage, keys};

/// The raft configuration of a raftstore peer: the reference's 2 heartbeat
/// and 10 election ticks (timeouts drawn from `[10, 20)`), and a no-op
/// entry from every new leader so it can commit (and answer) at once.
pub fn raft_config() -> Config {
    Config {
        election_ticks: 10,
        heartbeat_ticks: 2,
        noop_on_election: true,
        max_entries_per_append: 256,
    }
}

/// The answer to a proposed command.
pub struct Answer {
    /// The caller's id for the command.
    pub id: u64,
    /// The responses, one per request, or the region error.
    pub result: Result<Vec<Response>, Error>,
    /// For a command with a `Snap` request: the kv engine as the command
    /// applied (readers must keep to the region's range).
    pub snapshot: Option<Box<dyn Snapshot>>,
    /// The peer's term when it answered.
    pub term: u64,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("id", &self.id)
            .field("result", &self.result)
            .field("snapshot", &self.snapshot.is_some())
            .field("term", &self.term)
            .finish()
    }
}

/// A command in the log, waiting for its entry to apply.
#[derive(Debug, Clone, Copy)]
struct Proposal {
    id: u64,
    index: u64,
    term: u64,
}

/// One replica of a region.
pub struct Peer {
    store_id: u64,
    meta: PeerMeta,
    core: Core,
    storage: PeerStorage,
    /// In log order. Invariant: indexes strictly increase.
    proposals: VecDeque<Proposal>,
    answers: Vec<Answer>,
}

impl Peer {
    /// The peer of `region` on `store_id`, from what the engines hold (the
    /// region as last applied there, if any; else `region` as given).
    ///
    /// # Errors
    /// [`Error::RegionNotFound`] if the region has no peer on this store
    /// or was destroyed here; [`Error::Corrupt`] / [`Error::Unavailable`] /
    /// [`Error::Engine`] if the persisted state cannot be read back.
    pub fn open(
        store_id: u64,
        region: Region,
        raft_engine: Arc<dyn Engine>,
        kv_engine: Arc<dyn Engine>,
        rng: SmallRng,
    ) -> Result<Peer, Error> {
        let region_id = region.id;
        let persisted: Option<RegionLocalState> =
            read_record(kv_engine.as_ref(), &keys::region_state_key(region_id))?;
        let region = match persisted {
            Some(state) if state.state == crate::meta::PeerState::Tombstone => {
                return Err(Error::RegionNotFound { region_id });
            }
            Some(state) => state.region,
            None => region,
        };
        let meta = region
            .peer_on_store(store_id)
            .ok_or(Error::RegionNotFound { region_id })?;
        let members: Vec<usize> = region.peers.iter().map(|p| p.id as usize).collect();
        let storage = PeerStorage::new(raft_engine, kv_engine, region)?;
        let core = storage.restore_core(meta.id as usize, &members, raft_config(), rng)?;
        Ok(Peer {
            store_id,
            meta,
            core,
            storage,
            proposals: VecDeque::new(),
            answers: Vec::new(),
        })
    }

    /// This peer's id and store.
    pub fn meta(&self) -> PeerMeta {
        self.meta
    }

    /// The region as last applied.
    pub fn region(&self) -> &Region {
        self.storage.region()
    }

    /// The storage.
    pub fn storage(&self) -> &PeerStorage {
        &self.storage
    }

    /// True if this peer believes it leads.
    pub fn is_leader(&self) -> bool {
        self.core.is_leader()
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.core.term()
    }

    /// The leader this peer knows of, as a region peer.
    pub fn leader(&self) -> Option<PeerMeta> {
        let id = self.core.soft_state().leader? as u64;
        self.region().peers.iter().copied().find(|p| p.id == id)
    }

    /// Advances time by one raft tick.
    pub fn tick(&mut self) {
        self.core.tick();
    }

    /// Hands the core a message from peer `from`.
    pub fn step(&mut self, from: u64, message: Message) {
        self.core.step(from as usize, message);
    }

    /// The answers given since the last call.
    pub fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    fn answer(&mut self, id: u64, result: Result<Vec<Response>, Error>) {
        let term = self.core.term();
        self.answers.push(Answer {
            id,
            result,
            snapshot: None,
            term,
        });
    }

    /// Checks `request` and proposes it; the answer (a region error at once,
    /// or the result once the entry applies) arrives through
    /// [`Peer::take_answers`] under `id`.
    pub fn propose(&mut self, id: u64, request: &RaftCmdRequest) {
        // SOLUTION BEGIN p2b: answer a failed check at once, else propose and remember (index, term)
        if let Err(e) = self.pre_propose(request) {
            self.answer(id, Err(e));
            return;
        }
        match self.core.propose(cmd::encode(request)) {
            Some((index, term)) => self.proposals.push_back(Proposal { id, index, term }),
            None => {
                let error = Error::NotLeader {
                    region_id: self.region().id,
                    leader: self.leader(),
                };
                self.answer(id, Err(error));
            }
        }
        // SOLUTION END
    }

    fn pre_propose(&self, request: &RaftCmdRequest) -> Result<(), Error> {
        // SOLUTION BEGIN p2b: region id, store, leadership (NotLeader with hint), header term, epoch and keys
        let header = &request.header;
        let region_id = self.region().id;
        if header.region_id != region_id {
            return Err(Error::RegionNotFound {
                region_id: header.region_id,
            });
        }
        if header.peer.store_id != self.store_id {
            return Err(Error::StoreNotMatch {
                request: header.peer.store_id,
                actual: self.store_id,
            });
        }
        if !self.core.is_leader() {
            return Err(Error::NotLeader {
                region_id,
                leader: self.leader(),
            });
        }
        if header.term != 0 && header.term + 1 < self.core.term() {
            return Err(Error::StaleCommand);
        }
        cmd::check_region(self.region(), request)
        // SOLUTION END
    }

    /// Carries out the core's ready: persist hard state and entries (one
    /// raft batch), take the messages, apply committed entries (one kv batch
    /// each, with the applied index), answer their proposals, advance.
    /// Returns the messages to send, as (peer id, message).
    ///
    /// # Errors
    /// An engine failure or an unreadable entry: the peer must stop.
    pub fn handle_ready(&mut self) -> Result<Vec<(u64, Message)>, Error> {
        // SOLUTION BEGIN p2b: persist, take the messages, apply each committed entry, advance
        if !self.core.has_ready() {
            return Ok(Vec::new());
        }
        let mut ready = self.core.ready();
        self.storage.save_ready_state(&self.core, &ready)?;
        let messages = std::mem::take(&mut ready.messages)
            .into_iter()
            .map(|(to, m)| (to as u64, m))
            .collect();
        for apply in std::mem::take(&mut ready.committed) {
            match apply {
                Apply::Command { index, term, data } => self.apply_command(index, term, &data)?,
                Apply::ConfChange { index, .. } | Apply::Snapshot { index, .. } => {
                    // Membership changes are Project 3B, region snapshots 2C.
                    return Err(Error::SnapshotUnsupported { index });
                }
            }
        }
        self.core.advance(&ready);
        Ok(messages)
        // SOLUTION END
    }

    fn apply_command(&mut self, index: u64, term: u64, data: &[u8]) -> Result<(), Error> {
        // SOLUTION BEGIN p2b: the entry's writes and the applied index in one kv batch; answer or StaleCommand its proposals
        let mut kv_wb = WriteBatch::new();
        let outcome = if data.is_empty() {
            // A new leader's no-op.
            None
        } else {
            let request = cmd::decode(index, data)?;
            // The region may have changed since the proposal was checked.
            let checked = cmd::check_region(self.region(), &request).map(|()| request);
            if let Ok(request) = &checked {
                for r in &request.requests {
                    match r {
                        Request::Put { cf, key, value } => {
                            kv_wb.put(*cf, key.clone(), value.clone())
                        }
                        Request::Delete { cf, key } => kv_wb.delete(*cf, key.clone()),
                        Request::Get { .. } | Request::Snap => {}
                    }
                }
            }
            Some(checked)
        };
        self.storage.apply_state_mut().applied_index = index;
        self.storage.write_apply_state(&mut kv_wb);
        self.storage.kv_engine().write(&kv_wb, WriteOptions::SYNC)?;
        // Proposals overtaken by this entry lost their place.
        while let Some(p) = self.proposals.front().copied() {
            if p.index > index {
                break;
            }
            self.proposals.pop_front();
            if p.index < index || p.term != term {
                self.answer(p.id, Err(Error::StaleCommand));
                continue;
            }
            let Some(checked) = &outcome else {
                self.answer(p.id, Err(Error::StaleCommand));
                continue;
            };
            let answer = self.respond(checked)?;
            self.answers.push(Answer { id: p.id, ..answer });
        }
        Ok(())
        // SOLUTION END
    }

    fn respond(&self, checked: &Result<RaftCmdRequest, Error>) -> Result<Answer, Error> {
        let term = self.core.term();
        let request = match checked {
            Ok(request) => request,
            Err(e) => {
                return Ok(Answer {
                    id: 0,
                    result: Err(e.clone()),
                    snapshot: None,
                    term,
                });
            }
        };
        let view = self.storage.kv_engine().snapshot()?;
        let mut responses = Vec::with_capacity(request.requests.len());
        let mut snapshot = None;
        for r in &request.requests {
            responses.push(match r {
                Request::Get { cf, key } => Response::Get {
                    value: view.get_cf(*cf, key)?,
                },
                Request::Put { .. } => Response::Put,
                Request::Delete { .. } => Response::Delete,
                Request::Snap => {
                    snapshot = Some(self.storage.kv_engine().snapshot()?);
                    Response::Snap {
                        region: self.region().clone(),
                    }
                }
            });
        }
        Ok(Answer {
            id: 0,
            result: Ok(responses),
            snapshot,
            term,
        })
    }

    /// Stops the peer (a crash keeps only what the engines hold; a destroy
    /// answers every waiting command): outstanding proposals get
    /// `RegionNotFound`.
    pub fn stop(mut self) -> Vec<Answer> {
        let region_id = self.region().id;
        while let Some(p) = self.proposals.pop_front() {
            self.answer(p.id, Err(Error::RegionNotFound { region_id }));
        }
        self.answers
    }
}

#[cfg(test)]
mod tests;
