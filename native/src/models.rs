//! The fixed models the search runs without calling back into Python (`IntModel` in
//! `checkers/models.py` says what each field means): a register on value ids, and Porcupine's
//! kv on texts. Any other model stays in Python, asked through a callback.

use crate::cache::mix;
use hashbrown::HashTable;

const READ: u8 = 0;
const WRITE: u8 = 1;

pub enum Model {
    /// `step(op, state)` in Python, its answers memoised here.
    Callback,
    /// state = value id (0 is nil). Outputs of a cas: 1 ok, 0 observed mismatch, 2 indeterminate.
    Register { f: Vec<u8>, a: Vec<u32>, b: Vec<u32>, out: Vec<u32> },
    /// state = text id (0 is ""); texts are interned as first reached, so equal texts share an id.
    Text(Texts),
}

pub struct Texts {
    pub f: Vec<u8>,
    pub a: Vec<u32>,
    pub out: Vec<u32>,
    texts: Vec<Box<str>>,
    ids: HashTable<u32>,
    bytes: usize,
}

impl Texts {
    pub fn new(f: Vec<u8>, a: Vec<u32>, out: Vec<u32>, initial: Vec<String>) -> Self {
        let mut t = Texts { f, a, out, texts: Vec::new(), ids: HashTable::new(), bytes: 0 };
        for s in initial {
            t.intern(s);
        }
        t
    }

    fn intern(&mut self, s: String) -> u32 {
        let hash = hash_str(&s);
        let texts = &self.texts;
        if let Some(&id) = self.ids.find(hash, |&id| *texts[id as usize] == *s) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.bytes += s.len() + 32;
        self.texts.push(s.into_boxed_str());
        let texts = &self.texts;
        self.ids.insert_unique(hash, id, |&id| hash_str(&texts[id as usize]));
        id
    }

    /// The text model's step: a state id, or -1.
    pub fn step(&mut self, op: usize, state: u32) -> i64 {
        match self.f[op] {
            READ => {
                if self.out[op] == state {
                    state as i64
                } else {
                    -1
                }
            }
            WRITE => self.a[op] as i64,
            _ => {
                let (s, a) = (&self.texts[state as usize], &self.texts[self.a[op] as usize]);
                let mut joined = String::with_capacity(s.len() + a.len());
                joined.push_str(s);
                joined.push_str(a);
                self.intern(joined) as i64
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes + self.ids.len() * 5
    }
}

/// The register's step: a state id, or -1.
#[inline]
pub fn register_step(f: u8, a: u32, b: u32, out: u32, state: u32) -> i64 {
    match f {
        READ => {
            if out == state {
                state as i64
            } else {
                -1
            }
        }
        WRITE => a as i64,
        _ => match out {
            1 if state == a => b as i64,
            1 => -1,
            0 if state != a => state as i64,
            0 => -1,
            _ if state == a => b as i64,
            _ => state as i64,
        },
    }
}

fn hash_str(s: &str) -> u64 {
    let mut h = s.len() as u64;
    let bytes = s.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = mix(h ^ u64::from_le_bytes(c.try_into().unwrap()));
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    mix(h ^ u64::from_le_bytes(last))
}
