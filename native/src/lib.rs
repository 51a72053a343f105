//! `checkers._native`: the linearizability search core of `checkers/linearizable.py`, in Rust.
//!
//! The same depth-first search as the Python `search` (Porcupine's algorithm: a doubly linked
//! list of call and return entries, lift the first call the model accepts, backtrack at a
//! return, skip any (linearized set, state) seen before; plus the same two reductions:
//! read-only calls taken as no choice, indeterminate twins in call order), on the same
//! integers, taking the same steps in the same order: the Python core is its oracle, and a
//! caller cannot tell them apart except by speed.
//!
//! The model is either one of the fixed models of `models.rs` (registers, Porcupine's kv), run
//! here with no call into Python, or a Python `step(i, s)` called once per new
//! (operation, state), its answers kept here.
//!
//! `Search` is resumable like the Python generator: `run(step, budget)` searches until at least
//! `budget` more backtracks have happened (None: not finished) or the search ends ((ok, ids)),
//! so the caller can watch its deadline and memory bound and let other partitions take turns.

mod answers;
mod cache;
mod models;

use answers::Answers;
use cache::{mix, Cache};
use models::{register_step, Model, Texts};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

const HEAD: usize = 0;
const NO_TWIN: usize = usize::MAX;
const NO_GROUP: u32 = u32::MAX;

#[pyclass(module = "checkers._native")]
pub struct Search {
    tail: usize,
    // the entry list: node k + 1 is entries[k]; node 0 is the head, node len + 1 the tail
    next: Vec<usize>,
    prev: Vec<usize>,
    matching: Vec<usize>, // a call node's return node; 0 at return nodes and the tail
    op_of: Vec<usize>,
    read_only: Vec<bool>, // per node
    twin: Vec<usize>,     // per node: the op that must be linearized before it, or NO_TWIN
    need: Vec<(u32, u32)>, // per node: (group, count) of a read's needs, or (NO_GROUP, 0)
    groups: Vec<Vec<u32>>, // op ids in call order
    model: Model,
    answers: Answers,
    zobrist: Vec<u64>, // per op: its word in the configuration's hash
    cache: Cache,
    config: Vec<u64>,                 // [state, linearized bitset words...]: the row the cache stores
    config_hash: u64,                 // Zobrist hash of the linearized set (the state is mixed in per probe)
    calls: Vec<(usize, usize, bool)>, // (call node, state before it, taken as no choice)
    longest: Vec<usize>,
    node: usize,
    fresh: bool, // at a configuration just reached: read-only calls first
    backtracks: u64,
    result: Option<(bool, Vec<usize>)>,
}

#[pymethods]
impl Search {
    /// `entries` as the Python `search` takes them: op id `i` for a call, `~i` for its return;
    /// per op, `read_only` and `twin` (an op id, or -1) as `search` takes them (None: none).
    #[new]
    #[pyo3(signature = (entries, read_only=None, twin=None))]
    fn new(entries: Vec<i64>, read_only: Option<Vec<bool>>, twin: Option<Vec<i64>>) -> PyResult<Self> {
        let len = entries.len();
        let n = len / 2;
        let read_only = read_only.unwrap_or_else(|| vec![false; n]);
        let twin = twin.unwrap_or_else(|| vec![-1; n]);
        let bad = |why: String| PyValueError::new_err(format!("search entries: {why}"));
        if !len.is_multiple_of(2) {
            return Err(bad(format!("{len} entries cannot pair calls with returns")));
        }
        if n > u32::MAX as usize {
            return Err(bad(format!("{n} ops: more than op ids of 32 bits can name")));
        }
        if read_only.len() != n || twin.len() != n {
            return Err(bad(format!("{n} ops but {} read-only flags and {} twins", read_only.len(), twin.len())));
        }
        let mut call_node = vec![0usize; n];
        let mut matching = vec![0usize; len + 2];
        let mut op_of = vec![0usize; len + 2];
        let mut ro = vec![false; len + 2];
        let mut tw = vec![NO_TWIN; len + 2];
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
                ro[node] = read_only[op];
                let t = twin[op];
                if t >= n as i64 || t < -1 {
                    return Err(bad(format!("twin {t} of op {op} out of range")));
                }
                if t >= 0 {
                    tw[node] = t as usize;
                }
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
            read_only: ro,
            twin: tw,
            need: vec![(NO_GROUP, 0); len + 2],
            groups: Vec::new(),
            model: Model::Callback,
            answers: Answers::new(),
            zobrist: (0..n as u64).map(mix).collect(),
            cache: Cache::new(),
            config: vec![0; 1 + words],
            config_hash: 0,
            calls: Vec::new(),
            longest: Vec::new(),
            node: HEAD,
            fresh: true,
            backtracks: 0,
            result: None,
        })
    }

    /// Runs `IntModel` of `checkers/models.py` here rather than a Python `step`: kind "register"
    /// or "text" (then `texts` are the strings that `a` and `out` index); `needs` and `groups`
    /// as `IntModel` has them (None: no read has needs).
    #[pyo3(signature = (kind, f, a, b, out, texts, needs=None, groups=None))]
    #[allow(clippy::too_many_arguments)]
    fn use_model(
        &mut self,
        kind: &str,
        f: Vec<u8>,
        a: Vec<u32>,
        b: Vec<u32>,
        out: Vec<u32>,
        texts: Vec<String>,
        needs: Option<Vec<(i64, u32)>>,
        groups: Option<Vec<Vec<u32>>>,
    ) -> PyResult<()> {
        let n = self.zobrist.len();
        if f.len() != n || a.len() != n || b.len() != n || out.len() != n {
            return Err(PyValueError::new_err(format!("use_model: {n} ops but columns of other lengths")));
        }
        if let Some(needs) = needs {
            let groups = groups.unwrap_or_default();
            if needs.len() != n {
                return Err(PyValueError::new_err(format!("use_model: {n} ops but {} needs", needs.len())));
            }
            if groups.iter().flatten().any(|&j| j as usize >= n) {
                return Err(PyValueError::new_err("use_model: a group names an op out of range"));
            }
            for node in 1..self.tail {
                if self.matching[node] == 0 {
                    continue;
                }
                let (g, count) = needs[self.op_of[node]];
                if g >= 0 {
                    let members = groups.get(g as usize).map_or(0, |m| m.len());
                    if count as usize > members {
                        return Err(PyValueError::new_err(format!("use_model: needs ({g}, {count}) beyond its group")));
                    }
                    self.need[node] = (g as u32, count);
                }
            }
            self.groups = groups;
        }
        if self.backtracks > 0 || !self.fresh {
            return Err(PyValueError::new_err("use_model: the search has started"));
        }
        self.model = match kind {
            "register" => Model::Register { f, a, b, out },
            "text" => {
                let known = texts.len() as u32;
                if a.iter().chain(&out).any(|&t| t >= known) || texts.first().map(|t| t.is_empty()) != Some(true) {
                    return Err(PyValueError::new_err("use_model: texts must start with \"\" and hold every id"));
                }
                Model::Text(Texts::new(f, a, out, texts))
            }
            _ => return Err(PyValueError::new_err(format!("use_model: no model {kind:?}"))),
        };
        Ok(())
    }

    /// Configurations cached so far.
    #[getter]
    fn states(&self) -> usize {
        self.cache.len()
    }

    /// Bytes held by the search: the cache, the memo of answers, the model's states, the tables.
    #[getter]
    fn memory(&self) -> usize {
        let model = match &self.model {
            Model::Text(t) => t.bytes(),
            _ => 0,
        };
        self.cache.bytes() + self.answers.bytes() + model + self.next.len() * 8 * 6
    }

    /// Searches until at least `budget` more backtracks have happened (returns None) or the end:
    /// (True, a full linearization) or (False, the longest prefix linearized), as op ids.
    /// `step` is the Python model (None when `use_model` gave one). Once finished, every later
    /// call returns the same result.
    fn run(&mut self, step: Option<&Bound<'_, PyAny>>, budget: u64) -> PyResult<Option<(bool, Vec<usize>)>> {
        if budget == 0 {
            return Err(PyValueError::new_err("run: a budget of 0 backtracks could never pause"));
        }
        if step.is_none() && matches!(self.model, Model::Callback) {
            return Err(PyValueError::new_err("run: no step given and no model set"));
        }
        if self.result.is_none() {
            self.result = self.search(step, budget)?;
        }
        Ok(self.result.clone())
    }
}

impl Search {
    /// The model's answer for the call at `node` in `state`: a state id, or -1.
    #[inline]
    fn step(&mut self, step: Option<&Bound<'_, PyAny>>, node: usize, state: usize) -> PyResult<i64> {
        let op = self.op_of[node];
        match &mut self.model {
            Model::Register { f, a, b, out } => Ok(register_step(f[op], a[op], b[op], out[op], state as u32)),
            Model::Text(texts) => {
                if let Some(answer) = self.answers.get(op, state) {
                    return Ok(answer);
                }
                let answer = texts.step(op, state as u32);
                self.answers.insert(op, state, answer);
                Ok(answer)
            }
            Model::Callback => {
                if let Some(answer) = self.answers.get(op, state) {
                    return Ok(answer);
                }
                let answer = ask(step.expect("run checks a step is given"), op, state)?;
                self.answers.insert(op, state, answer);
                Ok(answer)
            }
        }
    }

    fn search(&mut self, step: Option<&Bound<'_, PyAny>>, budget: u64) -> PyResult<Option<(bool, Vec<usize>)>> {
        let pause_at = self.backtracks.saturating_add(budget);
        let mut node = self.node;
        loop {
            if self.fresh {
                self.fresh = false;
                if self.next[HEAD] == self.tail {
                    return Ok(Some((true, self.calls.iter().map(|&(c, _, _)| self.op_of[c]).collect())));
                }
                // a read-only call that fits, before the first return, takes effect as no choice
                let state = self.config[0] as usize;
                let mut k = self.next[HEAD];
                let mut dead = false;
                while self.matching[k] != 0 {
                    if self.read_only[k] {
                        self.node = HEAD;
                        self.fresh = true; // so that a failing step leaves a consistent search behind
                        let answer = self.step(step, k, state)?;
                        self.fresh = false;
                        if answer == state as i64 {
                            break;
                        }
                        if answer == -2 && self.need[k].0 != NO_GROUP && self.all_linearized(self.need[k]) {
                            dead = true;
                            break;
                        }
                    }
                    k = self.next[k];
                }
                if dead {
                    node = self.tail; // a read that nothing left can make fit: this configuration fails
                } else if self.matching[k] != 0 {
                    if self.lift(k, state as u64) {
                        self.calls.push((k, state, true));
                        self.fresh = true;
                        continue;
                    }
                    node = self.tail; // the configuration after it failed, so this one fails
                } else {
                    node = self.next[HEAD];
                }
            }
            if self.matching[node] != 0 {
                let twin = self.twin[node];
                if twin == NO_TWIN || self.config[1 + twin / 64] & (1u64 << (twin % 64)) != 0 {
                    let state = self.config[0] as usize;
                    self.node = node;
                    let new_state = self.step(step, node, state)?;
                    if new_state >= 0 && self.lift(node, new_state as u64) {
                        self.calls.push((node, state, false));
                        self.fresh = true;
                        continue;
                    }
                }
                node = self.next[node];
                continue;
            }
            // a return: its operation should have taken effect by now; undo the last choice,
            // and the read-only calls taken after it
            if self.calls.len() > self.longest.len() {
                self.longest.clear();
                self.longest.extend(self.calls.iter().map(|&(c, _, _)| self.op_of[c]));
            }
            loop {
                let Some((call, state, forced)) = self.calls.pop() else {
                    return Ok(Some((false, std::mem::take(&mut self.longest))));
                };
                self.backtracks += 1;
                self.undo_lift(call, state);
                node = call;
                if !forced {
                    break;
                }
            }
            node = self.next[node];
            if self.backtracks >= pause_at {
                self.node = node;
                return Ok(None);
            }
        }
    }

    /// Whether the first `count` ops of group `g` are all linearized (latest called first: the
    /// likeliest not to be).
    fn all_linearized(&self, (g, count): (u32, u32)) -> bool {
        self.groups[g as usize][..count as usize]
            .iter()
            .rev()
            .all(|&j| self.config[1 + j as usize / 64] & (1u64 << (j % 64)) != 0)
    }

    /// Linearizes the call at `node` into `new_state` unless that configuration was seen before.
    fn lift(&mut self, node: usize, new_state: u64) -> bool {
        let op = self.op_of[node];
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
