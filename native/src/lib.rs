//! `checkers._native`: the linearizability search core of `checkers/linearizable.py`, in Rust.
//!
//! The same depth-first search as the Python `search` (Porcupine's algorithm: a doubly linked
//! list of call and return entries, lift the first call the model accepts, backtrack at a
//! return, skip any (linearized set, state) seen before), on the same integers, taking the same
//! steps in the same order: the Python core is its oracle, and a caller cannot tell them apart
//! except by speed. The model stays in Python: `step(i, s)` is called once per new
//! (operation, state), and the answers are kept here, so callbacks are rare.
//!
//! `Search` is resumable like the Python generator: `run(step, budget)` searches until `budget`
//! more backtracks have happened (None: not finished) or the search ends ((ok, ids)), so the
//! caller can watch its deadline and memory bound and let other partitions take turns.

mod answers;
mod cache;

use answers::Answers;
use cache::{mix, Cache};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

const HEAD: usize = 0;

#[pyclass(module = "checkers._native")]
pub struct Search {
    tail: usize,
    // the entry list: node k + 1 is entries[k]; node 0 is the head, node len + 1 the tail
    next: Vec<usize>,
    prev: Vec<usize>,
    matching: Vec<usize>, // a call node's return node; 0 at return nodes
    op_of: Vec<usize>,
    answers: Answers,
    zobrist: Vec<u64>, // per op: its word in the configuration's hash
    cache: Cache,
    config: Vec<u64>,           // [state, linearized bitset words...]: the row the cache stores
    config_hash: u64,           // Zobrist hash of the linearized set (the state is mixed in per probe)
    calls: Vec<(usize, usize)>, // (call node, state before it), the current partial linearization
    longest: Vec<usize>,
    node: usize,
    backtracks: u64,
    result: Option<(bool, Vec<usize>)>,
}

#[pymethods]
impl Search {
    /// `entries` as the Python `search` takes them: op id `i` for a call, `~i` for its return.
    #[new]
    fn new(entries: Vec<i64>) -> PyResult<Self> {
        let len = entries.len();
        let n = len / 2;
        let bad = |why: String| PyValueError::new_err(format!("search entries: {why}"));
        if !len.is_multiple_of(2) {
            return Err(bad(format!("{len} entries cannot pair calls with returns")));
        }
        if n > u32::MAX as usize {
            return Err(bad(format!("{n} ops: more than op ids of 32 bits can name")));
        }
        let mut call_node = vec![0usize; n];
        let mut matching = vec![0usize; len + 2];
        let mut op_of = vec![0usize; len + 2];
        for (k, &e) in entries.iter().enumerate() {
            let (op, is_call) = if e >= 0 { (e, true) } else { (!e, false) };
            if op >= n as i64 {
                return Err(bad(format!("op id {op} out of range for {n} ops")));
            }
            let (op, node) = (op as usize, k + 1);
            op_of[node] = op;
            if is_call {
                if call_node[op] != 0 {
                    return Err(bad(format!("op {op} is called twice")));
                }
                call_node[op] = node;
            } else {
                let call = call_node[op];
                if call == 0 || matching[call] != 0 {
                    return Err(bad(format!("op {op} returns before its call, or twice")));
                }
                matching[call] = node;
            }
        }
        let words = n.div_ceil(64);
        Ok(Search {
            tail: len + 1,
            next: (1..len + 2).chain([len + 1]).collect(),
            prev: [HEAD].into_iter().chain(0..len + 1).collect(),
            matching,
            op_of,
            answers: Answers::new(),
            zobrist: (0..n as u64).map(mix).collect(),
            cache: Cache::new(),
            config: vec![0; 1 + words],
            config_hash: 0,
            calls: Vec::new(),
            longest: Vec::new(),
            node: 1, // the first entry, or the tail when there is none
            backtracks: 0,
            result: None,
        })
    }

    /// Configurations cached so far (each costs 16 bytes plus 8 per 64 operations, plus the
    /// table's slack).
    #[getter]
    fn states(&self) -> usize {
        self.cache.len()
    }

    /// Searches until `budget` more backtracks have happened (returns None) or the end:
    /// (True, a full linearization) or (False, the longest prefix linearized), as op ids.
    /// Once finished, every later call returns the same result.
    fn run(&mut self, step: &Bound<'_, PyAny>, budget: u64) -> PyResult<Option<(bool, Vec<usize>)>> {
        if budget == 0 {
            return Err(PyValueError::new_err("run: a budget of 0 backtracks could never pause"));
        }
        if self.result.is_none() {
            self.result = self.search(step, budget)?;
        }
        Ok(self.result.clone())
    }
}

impl Search {
    fn search(&mut self, step: &Bound<'_, PyAny>, budget: u64) -> PyResult<Option<(bool, Vec<usize>)>> {
        let pause_at = self.backtracks.saturating_add(budget);
        let mut node = self.node;
        while node != self.tail {
            if self.matching[node] == 0 {
                // a return: its operation should have taken effect by now; undo the last choice
                let Some((call, state)) = self.calls.pop() else {
                    return Ok(Some((false, std::mem::take(&mut self.longest))));
                };
                self.backtracks += 1;
                if self.calls.len() >= self.longest.len() {
                    self.longest.clear();
                    self.longest.extend(self.calls.iter().map(|&(c, _)| self.op_of[c]));
                    self.longest.push(self.op_of[call]);
                }
                self.undo_lift(call, state);
                node = self.next[call];
                if self.backtracks == pause_at {
                    self.node = node;
                    return Ok(None);
                }
                continue;
            }
            let op = self.op_of[node];
            let state = self.config[0] as usize;
            let new_state = match self.answers.get(op, state) {
                Some(answer) => answer,
                None => {
                    self.node = node; // so that a failing step leaves a consistent search behind
                    let answer = ask(step, op, state)?;
                    self.answers.insert(op, state, answer);
                    answer
                }
            };
            if new_state >= 0 && self.lift(node, op, new_state as u64) {
                self.calls.push((node, state));
                node = self.next[HEAD];
            } else {
                node = self.next[node];
            }
        }
        self.node = node;
        Ok(Some((true, self.calls.iter().map(|&(c, _)| self.op_of[c]).collect())))
    }

    /// Linearizes the call at `node` into `new_state` unless that configuration was seen before.
    fn lift(&mut self, node: usize, op: usize, new_state: u64) -> bool {
        let (word, bit) = (1 + op / 64, 1u64 << (op % 64));
        let old_state = self.config[0];
        self.config[0] = new_state;
        self.config[word] |= bit;
        let hash = self.config_hash ^ self.zobrist[op];
        if !self.cache.insert(&self.config, hash ^ mix(!new_state)) {
            self.config[0] = old_state;
            self.config[word] &= !bit;
            return false;
        }
        self.config_hash = hash;
        let ret = self.matching[node];
        for k in [node, ret] {
            let (p, q) = (self.prev[k], self.next[k]);
            self.next[p] = q;
            self.prev[q] = p;
        }
        true
    }

    /// Undoes `lift` of the call at `node`, made in `state`.
    fn undo_lift(&mut self, node: usize, state: usize) {
        let op = self.op_of[node];
        self.config[0] = state as u64;
        self.config[1 + op / 64] &= !(1u64 << (op % 64));
        self.config_hash ^= self.zobrist[op];
        // put back in the reverse order of lifting
        for k in [self.matching[node], node] {
            let (p, q) = (self.prev[k], self.next[k]);
            self.next[p] = k;
            self.prev[q] = k;
        }
    }
}

/// The model's answer for op `op` in state `state`: a state id, or -1 when it cannot take effect.
fn ask(step: &Bound<'_, PyAny>, op: usize, state: usize) -> PyResult<i64> {
    let answer: i64 = step.call1((op, state))?.extract()?;
    if answer < -1 || answer > u32::MAX as i64 {
        return Err(PyValueError::new_err(format!(
            "step({op}, {state}) gave {answer}: not a state id or -1"
        )));
    }
    Ok(answer)
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Search>()
}
