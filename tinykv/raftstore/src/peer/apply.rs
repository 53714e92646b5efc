//! Applying committed entries on one peer (p2b, p2c): each command's
//! writes and the new applied index in one kv batch, CompactLog and the
//! raft-log GC after it, proposals a snapshot overtook, and the answers to
//! the proposals an entry settles.

use tinykv_storage::{Snapshot, WriteBatch, WriteOptions};

use super::{Answer, Peer};
use crate::Error;
use crate::cmd::{self, AdminRequest, RaftCmdRequest, Request, Response};

impl Peer {
    /// A snapshot from the leader was installed (by
    /// [`crate::PeerStorage::save_ready_state`]) through `index`: proposals at or
    /// below it lost their place.
    pub(super) fn applied_snapshot(&mut self, index: u64) {
        // SOLUTION BEGIN p2c: answer the proposals the snapshot overtook
        while let Some(p) = self.proposals.front().copied() {
            if p.index > index {
                break;
            }
            self.proposals.pop_front();
            self.answer(p.id, Err(Error::StaleCommand));
        }
        // SOLUTION END
    }

    pub(super) fn apply_command(
        &mut self,
        index: u64,
        term: u64,
        data: &[u8],
    ) -> Result<(), Error> {
        // SOLUTION BEGIN p2b: the entry's writes and the applied index in one kv batch; answer or StaleCommand its proposals
        if index <= self.storage.applied_index() {
            // Covered by a snapshot installed in this ready.
            return Ok(());
        }
        let mut kv_wb = WriteBatch::new();
        let mut compacted = false;
        let mut admin_response = None;
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
                            self.size_diff_hint += (key.len() + value.len()) as u64;
                            kv_wb.put(*cf, key.clone(), value.clone())
                        }
                        Request::Delete { cf, key } => kv_wb.delete(*cf, key.clone()),
                        Request::Get { .. } | Request::Snap => {}
                    }
                }
            }
            let checked = match checked {
                Ok(request) => match request.admin.clone() {
                    Some(admin) => {
                        self.exec_admin(index, admin, &mut kv_wb)
                            .map(|(response, did_compact)| {
                                compacted = did_compact;
                                admin_response = Some(response);
                                request
                            })
                    }
                    None => Ok(request),
                },
                Err(e) => Err(e),
            };
            Some(checked)
        };
        self.storage.apply_state_mut().applied_index = index;
        self.storage.write_apply_state(&mut kv_wb);
        self.storage.kv_engine().write(&kv_wb, WriteOptions::SYNC)?;
        if compacted {
            self.after_compaction()?;
        }
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
            let answer = self.respond(checked, admin_response.clone())?;
            self.deliver(Answer { id: p.id, ..answer });
        }
        Ok(())
        // SOLUTION END
    }

    /// Applies an admin command at `index` (the caller writes `kv_wb`,
    /// with the apply state, once this returns): its response, and whether
    /// the log was truncated.
    ///
    /// # Errors
    /// A region error the command is answered with (it changed nothing).
    fn exec_admin(
        &mut self,
        index: u64,
        admin: AdminRequest,
        kv_wb: &mut WriteBatch,
    ) -> Result<(Response, bool), Error> {
        match admin {
            AdminRequest::CompactLog {
                compact_index,
                compact_term,
            } => {
                // SOLUTION BEGIN p2c: CompactLog moves the truncated state (forward only)
                // The truncated index may reach the applied one, this entry's.
                self.storage.apply_state_mut().applied_index = index;
                self.compacted = self.compacted.max(compact_index);
                let compacted = self.storage.compact_to(compact_index, compact_term);
                Ok((Response::CompactLog, compacted))
                // SOLUTION END
            }
            AdminRequest::ChangePeer { change_type, peer } => {
                Ok((self.exec_change_peer(change_type, peer, kv_wb), false))
            }
            AdminRequest::Split {
                split_key,
                new_region_id,
                new_peer_ids,
            } => Ok((
                self.exec_split(split_key, new_region_id, new_peer_ids, kv_wb)?,
                false,
            )),
            // Never in the log: answered at proposal.
            AdminRequest::TransferLeader { .. } => Ok((Response::TransferLeader, false)),
        }
    }

    /// After a CompactLog's batch is written: delete the truncated entries
    /// from the raft engine and let the core drop them from memory.
    fn after_compaction(&mut self) -> Result<(), Error> {
        // SOLUTION BEGIN p2c: raft-log GC, and the core forgets the compacted prefix
        self.storage.gc_raft_log()?;
        // The core's snapshot bytes stay empty: one to send is cut when
        // needed ([`Peer::fill_snapshot`]).
        self.core
            .snapshot(self.storage.truncated_index(), Vec::new());
        Ok(())
        // SOLUTION END
    }

    fn respond(
        &self,
        checked: &Result<RaftCmdRequest, Error>,
        admin_response: Option<Response>,
    ) -> Result<Answer, Error> {
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
        if request.admin.is_some() {
            return Ok(Answer {
                id: 0,
                result: Ok(admin_response.into_iter().collect()),
                snapshot: None,
                term,
            });
        }
        // A read view only for a command that reads: taking one costs the
        // engine (an engine that buffers writes must hand them over first).
        let mut view: Option<Box<dyn Snapshot>> = None;
        let mut responses = Vec::with_capacity(request.requests.len());
        let mut snapshot = None;
        for r in &request.requests {
            responses.push(match r {
                Request::Get { cf, key } => {
                    let view = match &mut view {
                        Some(view) => view,
                        None => view.insert(self.storage.kv_engine().snapshot()?),
                    };
                    Response::Get {
                        value: view.get_cf(*cf, key)?,
                    }
                }
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
}
