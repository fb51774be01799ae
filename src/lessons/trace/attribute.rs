//! Attribution: which functions of a trace log ran for which steps.
//!
//! The log is read once ([`Scan::read`]): activations (a call to its return
//! on one greenlet) and *marks*, the events that stand for steps. Hand-overs
//! between greenlets are then resolved into marks — a queue `put` becomes
//! the getter's next write ([`Scan::resolve_puts`]), a `get` or `wake`
//! becomes a read of what the putter or setter was doing
//! ([`Scan::resolve_wakes`]) — and each activation is given the steps of its
//! own marks, of its greenlet's spawner and of the connection or start-up it
//! belongs to ([`attribute`]).

use std::collections::{BTreeSet, HashMap};

use super::{Log, LogEv, StepAt};
use crate::step::{ConnId, Dir};

/// What the attribution found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// Per step: the functions that ran for it, in order of first call.
    pub per_step: Vec<Vec<usize>>,
    /// Every function that ran (for "ran elsewhere" and "not run").
    pub ran: BTreeSet<usize>,
    /// Files at least one of whose functions ran.
    pub files: BTreeSet<(String, String)>,
    /// Per step, whether the live server read (c2s) or wrote (s2c) its bytes.
    pub seen: Vec<bool>,
}

/// Attributes the functions of a trace log to steps.
///
/// Each greenlet/thread's events are read in order; its socket events
/// ("marks": a read or write of stream bytes, an accept, an end-of-stream
/// read, a close) stand for the steps whose bytes or control they carry
/// (`places`, through `ports`: live client port → capture connection). A
/// function call (from its call to its return on the same greenlet) ran for:
/// - the steps of every mark made while it was on the stack;
/// - the steps of the greenlet's last read before it (it processes what
///   was read);
/// - with no socket I/O inside it, the steps of the greenlet's next write
///   or put, unless a read comes first (it prepares what is written);
/// - on a greenlet started by `start_background_task`, the steps its
///   spawner's call ran for at the spawn (the work was handed over);
/// - begun before the server's first socket event (start-up), the first
///   SYN; begun by a connection's greenlet before its first read of that
///   connection, that connection's SYN.
///
/// A queue `put` is a mark too: it stands for the steps of the next write of
/// the greenlet whose `get` returned the same object. And a `get` (or the
/// `wake` of an event another greenlet `set`) is a read: of the steps the
/// putter's (setter's) innermost call ran for at the put (set).
pub fn attribute(log: &Log, places: &[StepAt], ports: &HashMap<u16, ConnId>) -> Attribution {
    let mut scan = Scan::read(log, places, ports);
    scan.resolve_puts();
    scan.resolve_wakes();
    let spawned = scan.spawn_causes();
    let opened = scan.opened_by(places, ports);
    // Start-up: what ran before the server's first socket event (creating
    // the app, choosing the async mode and the server) ran for the first
    // SYN, the step a start-up lesson can bind to.
    let first_mark = scan
        .marks
        .iter()
        .position(Option::is_some)
        .unwrap_or(log.events.len());
    let first_open = places.iter().position(|p| matches!(p, StepAt::Open { .. }));
    let mut per_step: Vec<Vec<usize>> = vec![Vec::new(); places.len()];
    let mut in_step: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); places.len()];
    let mut ran = BTreeSet::new();
    let mut files = BTreeSet::new();
    for a in &scan.acts {
        ran.insert(a.func);
        let f = &log.funcs[a.func];
        files.insert((f.package.clone(), f.file.clone()));
        let mut s = scan.own(a);
        if let Some(c) = spawned.get(&a.g) {
            s.extend(c.iter().copied());
        }
        if a.start < first_mark
            && let Some(o) = first_open
        {
            s.insert(o);
        }
        if let Some(&(m0, open_step)) = opened.get(&a.g)
            && a.start < m0
            && a.end > m0
        {
            s.insert(open_step);
        }
        for x in s {
            if in_step[x].insert(a.func) {
                per_step[x].push(a.func);
            }
        }
    }
    Attribution {
        per_step,
        ran,
        files,
        seen: scan.seen,
    }
}

/// A socket event as a mark: what it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Io(Dir, u64, u64),
    Accept,
    Eof,
    Close,
}

/// The steps a server event stands for.
fn steps_of(places: &[StepAt], conn: ConnId, what: Mark) -> Vec<usize> {
    places
        .iter()
        .enumerate()
        .filter(|(_, p)| match (what, **p) {
            (
                Mark::Io(dir, a, z),
                StepAt::Bytes {
                    conn: c,
                    dir: d,
                    start,
                    end,
                },
            ) => c == conn && d == dir && start < z && a < end,
            (Mark::Accept, StepAt::Open { conn: c }) => c == conn,
            (Mark::Eof, StepAt::Fin { conn: c, dir }) => c == conn && dir == Dir::C2s,
            (Mark::Close, StepAt::Fin { conn: c, dir }) => c == conn && dir == Dir::S2c,
            _ => false,
        })
        .map(|(i, _)| i)
        .collect()
}

/// One function call, from its call to its return on greenlet `g` (event
/// indices; `end` is the log's length for a call that never returned).
#[derive(Clone)]
struct Act {
    g: u64,
    func: usize,
    start: usize,
    end: usize,
}

/// A step mark at an event: whether it is a read (or something the
/// greenlet goes on from, like an accept), and the steps it stands for.
type StepMark = Option<(bool, Vec<usize>)>;

/// The log, read once.
struct Scan<'l> {
    events: &'l [LogEv],
    /// Per event index, the mark it is (if any).
    marks: Vec<StepMark>,
    acts: Vec<Act>,
    /// (index, greenlet, object) of every queue put and event set.
    puts: Vec<(usize, u64, u64)>,
    sets: Vec<(usize, u64, u64)>,
    /// Per object, the (index, greenlet) of each get.
    gets: HashMap<u64, Vec<(usize, u64)>>,
    /// (index, greenlet, object, is an event's wake) of every get and wake.
    wakes: Vec<(usize, u64, u64, bool)>,
    /// Greenlet → where and by which greenlet it was spawned.
    started_by: HashMap<u64, (usize, u64)>,
    seen: Vec<bool>,
    /// Per greenlet, the indices of its marks, in order.
    by_g: HashMap<u64, Vec<usize>>,
}

impl<'l> Scan<'l> {
    /// Reads the log's activations, socket marks and hand-overs.
    fn read(log: &'l Log, places: &[StepAt], ports: &HashMap<u16, ConnId>) -> Scan<'l> {
        let n = log.events.len();
        let mut scan = Scan {
            events: &log.events,
            marks: vec![None; n],
            acts: Vec::new(),
            puts: Vec::new(),
            sets: Vec::new(),
            gets: HashMap::new(),
            wakes: Vec::new(),
            started_by: HashMap::new(),
            seen: vec![false; places.len()],
            by_g: HashMap::new(),
        };
        let mut open: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut spawn_at: HashMap<u64, (usize, u64)> = HashMap::new();
        for (i, ev) in log.events.iter().enumerate() {
            match ev {
                LogEv::Call { g, func } => {
                    open.entry(*g).or_default().push(scan.acts.len());
                    scan.acts.push(Act {
                        g: *g,
                        func: *func,
                        start: i,
                        end: n,
                    });
                }
                LogEv::Ret { g } => {
                    if let Some(a) = open.get_mut(g).and_then(Vec::pop) {
                        scan.acts[a].end = i;
                    }
                }
                LogEv::Io {
                    port,
                    dir,
                    off,
                    n: len,
                    ..
                } => scan.socket(i, ports.get(port), places, Mark::Io(*dir, *off, off + len)),
                LogEv::Accept { port, .. } => {
                    scan.socket(i, ports.get(port), places, Mark::Accept);
                }
                LogEv::Eof { port, .. } => scan.socket(i, ports.get(port), places, Mark::Eof),
                LogEv::Close { port, .. } => {
                    scan.socket(i, ports.get(port), places, Mark::Close);
                }
                LogEv::Put { g, obj } => scan.puts.push((i, *g, *obj)),
                LogEv::Get { g, obj } => {
                    scan.gets.entry(*obj).or_default().push((i, *g));
                    scan.wakes.push((i, *g, *obj, false));
                }
                LogEv::Set { g, obj } => scan.sets.push((i, *g, *obj)),
                LogEv::Wake { g, obj } => scan.wakes.push((i, *g, *obj, true)),
                LogEv::Spawn { g, key } => {
                    spawn_at.insert(*key, (i, *g));
                }
                LogEv::Start { g, key } => {
                    if let Some(&s) = spawn_at.get(key) {
                        scan.started_by.entry(*g).or_insert(s);
                    }
                }
                LogEv::Pkg { .. } => {}
            }
        }
        // Per greenlet, the indices of its marks (before puts are resolved,
        // only socket marks: a put resolves to the getter's next socket
        // write).
        for (i, m) in scan.marks.iter().enumerate() {
            if m.is_some() {
                let g = greenlet(&log.events[i]).unwrap_or(0);
                scan.by_g.entry(g).or_default().push(i);
            }
        }
        scan
    }

    /// Records the socket event at `i` on a connection of the capture as a
    /// mark.
    fn socket(&mut self, i: usize, conn: Option<&ConnId>, places: &[StepAt], m: Mark) {
        let Some(&c) = conn else { return };
        let s = steps_of(places, c, m);
        for &x in &s {
            self.seen[x] = true;
        }
        let is_read = match m {
            Mark::Io(dir, ..) => dir == Dir::C2s,
            Mark::Accept | Mark::Eof => true,
            Mark::Close => false,
        };
        self.marks[i] = Some((is_read, s));
    }

    /// Adds a mark at `i` to greenlet `g`'s ordered list.
    fn insert_mark(&mut self, g: u64, i: usize) {
        let v = self.by_g.entry(g).or_default();
        let at = v.partition_point(|&x| x < i);
        v.insert(at, i);
    }

    /// A put stands for the getter's write of what it got: a writer that
    /// gets a batch (get, get, …, write, write) writes the k-th item got
    /// with the k-th write.
    fn resolve_puts(&mut self) {
        // Each get's place in its batch: the gets of its greenlet since that
        // greenlet's last socket write.
        let mut get_order: HashMap<usize, usize> = HashMap::new();
        let mut count: HashMap<u64, usize> = HashMap::new();
        for (i, ev) in self.events.iter().enumerate() {
            match ev {
                LogEv::Get { g, .. } => {
                    let c = count.entry(*g).or_default();
                    get_order.insert(i, *c);
                    *c += 1;
                }
                LogEv::Io {
                    g, dir: Dir::S2c, ..
                } => {
                    count.insert(*g, 0);
                }
                _ => {}
            }
        }
        for (i, g, obj) in self.puts.clone() {
            let Some(getter) = self
                .gets
                .get(&obj)
                .and_then(|v| v.iter().find(|(j, _)| *j > i).copied())
            else {
                continue;
            };
            let k = get_order.get(&getter.0).copied().unwrap_or(0);
            let next_write = self.by_g.get(&getter.1).and_then(|ms| {
                let writes: Vec<usize> = ms
                    .iter()
                    .copied()
                    .filter(|&j| j > getter.0 && matches!(&self.marks[j], Some((false, _))))
                    .take(k + 1)
                    .collect();
                writes.get(k).or(writes.first()).copied()
            });
            if let Some(j) = next_write {
                let s = self.marks[j]
                    .as_ref()
                    .map(|m| m.1.clone())
                    .unwrap_or_default();
                self.marks[i] = Some((false, s));
                self.insert_mark(g, i);
            }
        }
    }

    /// A get or a wake: the greenlet goes on with what the putter or setter
    /// was doing (its innermost call at the put/set), as if it had read it.
    fn resolve_wakes(&mut self) {
        let mut woken = Vec::new();
        for &(j, bg, obj, is_event) in &self.wakes {
            let from = if is_event { &self.sets } else { &self.puts };
            let Some(&(i, ag, _)) = from
                .iter()
                .rev()
                .find(|(i, ag, o)| *o == obj && *i < j && *ag != bg)
            else {
                continue;
            };
            if let Some(a) = self.innermost(ag, i) {
                let cause = self.own(a);
                if !cause.is_empty() {
                    woken.push((j, bg, cause));
                }
            }
        }
        for (j, bg, cause) in woken {
            if self.marks[j].is_none() {
                self.marks[j] = Some((true, cause.into_iter().collect()));
                self.insert_mark(bg, j);
            }
        }
    }

    /// The innermost call open on greenlet `g` at event `at`.
    fn innermost(&self, g: u64, at: usize) -> Option<&Act> {
        self.acts
            .iter()
            .filter(|a| a.g == g && a.start <= at && a.end >= at)
            .max_by_key(|a| a.start)
    }

    /// The steps one activation ran for, without the spawn link.
    fn own(&self, a: &Act) -> BTreeSet<usize> {
        let socket = |j: usize| {
            matches!(
                self.events[j],
                LogEv::Io { .. } | LogEv::Accept { .. } | LogEv::Eof { .. } | LogEv::Close { .. }
            )
        };
        let marks = &self.marks;
        let mut out = BTreeSet::new();
        let ms = self.by_g.get(&a.g).map_or(&[][..], Vec::as_slice);
        let lo = ms.partition_point(|&x| x < a.start);
        let hi = ms.partition_point(|&x| x < a.end);
        let inside = &ms[lo..hi];
        for &j in inside {
            if let Some((_, s)) = &marks[j] {
                out.extend(s.iter().copied());
            }
        }
        // The greenlet's last read before the call: the call processes
        // what was read (a call that goes on to read more, such as a
        // connection's loop, was started by it).
        if let Some(&j) = ms[..lo]
            .iter()
            .rev()
            .find(|&&j| matches!(&marks[j], Some((true, _))))
            && let Some((_, s)) = &marks[j]
        {
            out.extend(s.iter().copied());
        }
        // With no socket I/O inside (a hand-over at most), the greenlet's
        // next write or put (skipping gets), if no read comes first: the
        // call prepared it.
        if !inside.iter().any(|&j| socket(j))
            && let Some(&j) = ms[hi..]
                .iter()
                .find(|&&j| socket(j) || matches!(&marks[j], Some((false, _))))
            && let Some((false, s)) = &marks[j]
        {
            out.extend(s.iter().copied());
        }
        out
    }

    /// Per spawned greenlet, the context its spawn handed over: what the
    /// spawner's innermost open call at the spawn ran for (and what the
    /// spawner was itself handed).
    fn spawn_causes(&self) -> HashMap<u64, BTreeSet<usize>> {
        let mut cause_of_g: HashMap<u64, BTreeSet<usize>> = HashMap::new();
        let mut gs: Vec<u64> = self.started_by.keys().copied().collect();
        gs.sort_unstable();
        for g in gs {
            let (idx, pg) = self.started_by[&g];
            let mut cause = self
                .innermost(pg, idx)
                .map(|a| self.own(a))
                .unwrap_or_default();
            if let Some(up) = cause_of_g.get(&pg) {
                cause.extend(up.iter().copied());
            }
            cause_of_g.insert(g, cause);
        }
        cause_of_g
    }

    /// A greenlet whose first mark reads a connection handles it: the calls
    /// it began before that read (the connection's handler) ran for the
    /// connection's SYN too. Greenlet → (its first mark, the SYN's step).
    fn opened_by(
        &self,
        places: &[StepAt],
        ports: &HashMap<u16, ConnId>,
    ) -> HashMap<u64, (usize, usize)> {
        let mut opened = HashMap::new();
        for (g, ms) in &self.by_g {
            if let Some(&m0) = ms.first()
                && let LogEv::Io {
                    port,
                    dir: Dir::C2s,
                    ..
                } = &self.events[m0]
                && let Some(&c) = ports.get(port)
                && let Some(open_step) = places.iter().position(|p| *p == StepAt::Open { conn: c })
            {
                opened.insert(*g, (m0, open_step));
            }
        }
        opened
    }
}

/// The greenlet an event happened on.
fn greenlet(ev: &LogEv) -> Option<u64> {
    match ev {
        LogEv::Call { g, .. }
        | LogEv::Ret { g }
        | LogEv::Io { g, .. }
        | LogEv::Accept { g, .. }
        | LogEv::Eof { g, .. }
        | LogEv::Close { g, .. }
        | LogEv::Put { g, .. }
        | LogEv::Get { g, .. }
        | LogEv::Set { g, .. }
        | LogEv::Wake { g, .. }
        | LogEv::Spawn { g, .. }
        | LogEv::Start { g, .. } => Some(*g),
        LogEv::Pkg { .. } => None,
    }
}
