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

/// Texts interned by a polynomial hash, so that the hash of `s + a` comes from those of `s`
/// and `a` without reading `s`, and an append that reaches a known text allocates nothing.
/// Equal hashes are always confirmed byte for byte.
pub struct Texts {
    pub f: Vec<u8>,
    pub a: Vec<u32>,
    pub out: Vec<u32>,
    texts: Vec<Box<str>>,
    hash: Vec<u64>, // per text: its polynomial hash
    pow: Vec<u64>,  // per text: BASE^len
    ids: HashTable<u32>,
    bytes: usize,
}

const BASE: u64 = 0x100_0000_01b3; // odd: multiplication by it is a bijection mod 2^64

impl Texts {
    pub fn new(f: Vec<u8>, a: Vec<u32>, out: Vec<u32>, initial: Vec<String>) -> Self {
        let mut t = Texts {
            f,
            a,
            out,
            texts: Vec::new(),
            hash: Vec::new(),
            pow: Vec::new(),
            ids: HashTable::new(),
            bytes: 0,
        };
        for s in initial {
            let (h, p) = poly(s.as_bytes());
            t.find_or_add(h, p, &s, "");
        }
        t
    }

    /// The id of the text `x + y`, whose hash is `h`, if known.
    fn find(&self, h: u64, x: &str, y: &str) -> Option<u32> {
        let len = x.len() + y.len();
        let texts = &self.texts;
        let same = |&id: &u32| {
            let t = texts[id as usize].as_bytes();
            t.len() == len && &t[..x.len()] == x.as_bytes() && &t[x.len()..] == y.as_bytes()
        };
        self.ids.find(mix(h), same).copied()
    }

    /// Adds `text`, whose hash is `h` and BASE^len `p`: its new id.
    fn add(&mut self, h: u64, p: u64, text: String) -> u32 {
        let id = self.texts.len() as u32;
        self.bytes += text.len() + 48;
        self.texts.push(text.into_boxed_str());
        self.hash.push(h);
        self.pow.push(p);
        let hashes = &self.hash;
        self.ids.insert_unique(mix(h), id, |&id| mix(hashes[id as usize]));
        id
    }

    fn find_or_add(&mut self, h: u64, p: u64, s: &str, a: &str) -> u32 {
        match self.find(h, s, a) {
            Some(id) => id,
            None => self.add(h, p, format!("{s}{a}")),
        }
    }

    /// The text model's step: a state id, or -1 (-2 for a read: see `IntModel.needs`).
    pub fn step(&mut self, op: usize, state: u32) -> i64 {
        match self.f[op] {
            READ => {
                let out = self.out[op];
                if out == state {
                    state as i64
                } else if self.texts[out as usize].starts_with(&*self.texts[state as usize]) {
                    -1
                } else {
                    -2 // appends only lengthen a text: only a put can make it fit
                }
            }
            WRITE => self.a[op] as i64,
            _ => {
                let (s, a) = (state as usize, self.a[op] as usize);
                let h = self.hash[s].wrapping_mul(self.pow[a]).wrapping_add(self.hash[a]);
                if let Some(id) = self.find(h, &self.texts[s], &self.texts[a]) {
                    return id as i64;
                }
                let p = self.pow[s].wrapping_mul(self.pow[a]);
                let joined = format!("{}{}", self.texts[s], self.texts[a]);
                self.add(h, p, joined) as i64
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes + self.ids.len() * 5
    }
}

/// The polynomial hash of `b` and BASE^len(b).
fn poly(b: &[u8]) -> (u64, u64) {
    b.iter().fold((0u64, 1u64), |(h, p), &c| {
        (h.wrapping_mul(BASE).wrapping_add(c as u64 + 1), p.wrapping_mul(BASE))
    })
}

/// The register's step: a state id, or -1 (-2 for a read: see `IntModel.needs`).
#[inline]
pub fn register_step(f: u8, a: u32, b: u32, out: u32, state: u32) -> i64 {
    match f {
        READ => {
            if out == state {
                state as i64
            } else {
                -2 // only a write of `out` can make it fit
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

