//! The search's memo of configurations already explored (Lowe's memoisation): a set of
//! (state id, linearized set) rows.
//!
//! Rows live side by side in one arena of u64 words (`[state, bitset words...]`), and the hash
//! table holds only (hash, row offset): 16 bytes a configuration plus the row itself, with no
//! allocation per entry. The hash is computed incrementally by the caller (Zobrist hashing: one
//! random word per operation, XORed in and out as the operation is linearized and undone), so
//! the cost of a probe does not grow with the number of operations; rows are compared in full
//! only when hashes are equal.

use hashbrown::hash_table::{Entry, HashTable};

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    at: usize, // offset of the row in the arena
}

pub struct Cache {
    table: HashTable<Slot>,
    arena: Vec<u64>,
}

impl Cache {
    pub fn new() -> Self {
        Cache {
            table: HashTable::new(),
            arena: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Bytes allocated: the table's slots (16 bytes and a control byte each, capacity at the load
    /// factor of 7/8) and the arena, each counted with its next allocation too once it is 90% full
    /// (growing, a table or vector holds the old and the new allocation at once): so a bound
    /// checked against this between slices of search is not overrun by the next growth.
    pub fn bytes(&self) -> usize {
        growing(self.table.len(), self.table.capacity(), 17 * 8 / 7 + 1)
            + growing(self.arena.len(), self.arena.capacity(), 8)
    }

    /// Adds `row` under `hash`; false when an equal row was already there.
    pub fn insert(&mut self, row: &[u64], hash: u64) -> bool {
        let width = row.len();
        let arena = &self.arena;
        let entry = self.table.entry(
            hash,
            |s| s.hash == hash && same(&arena[s.at..s.at + width], row),
            |s| s.hash,
        );
        match entry {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                let at = self.arena.len();
                self.arena.extend_from_slice(row);
                slot.insert(Slot { hash, at });
                true
            }
        }
    }
}

/// Row equality by a plain loop: rows are a few words, too short for a call to memcmp to pay.
fn same(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// A well-mixed word for `x` (SplitMix64's finaliser): the Zobrist keys of operations and states.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The bytes of a table or vector of `cap` items of `size` bytes holding `len`, plus the next
/// (doubled) allocation once it is 90% full.
pub fn growing(len: usize, cap: usize, size: usize) -> usize {
    let now = cap * size;
    if len * 10 >= cap * 9 {
        now * 3
    } else {
        now
    }
}
