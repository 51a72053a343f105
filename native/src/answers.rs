//! The model's answers so far: `step(op, state)` for every (op, state) the search has asked
//! about, so that Python is called once per pair. A hash table rather than a table indexed by
//! state: some models (an append-only string) reach a new state at almost every step, and a
//! dense row per operation would grow with the number of states.

use crate::cache::{growing, mix};
use hashbrown::HashTable;

pub struct Answers {
    table: HashTable<(u64, i64)>, // ((op << 32) | state, the answer)
}

impl Answers {
    pub fn new() -> Self {
        Answers {
            table: HashTable::new(),
        }
    }

    /// Bytes allocated, with the next growth (see `cache::growing`).
    pub fn bytes(&self) -> usize {
        growing(self.table.len(), self.table.capacity(), 17 * 8 / 7 + 1)
    }

    pub fn get(&self, op: usize, state: usize) -> Option<i64> {
        let key = key(op, state);
        self.table.find(mix(key), |&(k, _)| k == key).map(|&(_, answer)| answer)
    }

    pub fn insert(&mut self, op: usize, state: usize, answer: i64) {
        let key = key(op, state);
        self.table.insert_unique(mix(key), (key, answer), |&(k, _)| mix(k));
    }
}

/// Op ids and state ids both fit in 32 bits (the constructor and `ask` check so).
fn key(op: usize, state: usize) -> u64 {
    ((op as u64) << 32) | state as u64
}
