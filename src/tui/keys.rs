//! The one key table: every binding with its context and description. Key
//! dispatch, the `?` help overlay and the status-line hints all read it, so
//! the help never lies (gitui's rule).

use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Everything the interface can be asked to do. Keys map to actions through
/// [`BINDINGS`]; the event loop adds ticks, resizes and mouse actions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Quit,
    Help,
    /// Esc: close an overlay, else back out of a pane.
    Close,
    NextStep,
    PrevStep,
    PageDown,
    PageUp,
    First,
    Last,
    NextField,
    PrevField,
    ScrollDown,
    ScrollUp,
    NextPane,
    PrevPane,
    DrillIn,
    BackOut,
    NextSameKind,
    PrevSameKind,
    NextFinding,
    PrevFinding,
    Search,
    Filter,
    Play,
    Faster,
    Slower,
    Stack,
    Hint,
    /// Type an answer to the lesson's open question.
    Answer,
    Reload,
    Fold,
    FoldFrames,
    /// Fields: follow the selected row's link, else drill into its bytes.
    Follow,
    /// Back to the step a link was followed from.
    Back,
    /// Switch replay between the fixed interval and the capture's timing.
    ReplayMode,
    /// Show the sequence diagram in the timeline's place, or the timeline.
    Diagram,
    /// Follow the newest step as steps arrive (a live session), or stop.
    Tail,
    /// Write everything a live session received so far to a capture file.
    WriteCapture,
    /// In a list overlay: the next / previous item, change its value, choose.
    ItemDown,
    ItemUp,
    ValueNext,
    ValuePrev,
    Choose,
    ClearFilter,
    /// Search prompt editing.
    Input(char),
    Backspace,
    /// Time passed (replay).
    Tick(Duration),
    /// The terminal's size.
    Resize(u16, u16),
    Click(u16, u16),
    Wheel {
        x: u16,
        y: u16,
        down: bool,
    },
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// Everywhere, overlays and the search prompt included.
    Always,
    /// Whenever no overlay is open.
    Global,
    Timeline,
    Fields,
    Bytes,
    Lesson,
    /// While replay is playing (checked first; other keys pause).
    Playing,
    Help,
    Filter,
    Stack,
    Search,
    /// The answer prompt in the lesson pane, while it has the keys.
    Answer,
}

impl Ctx {
    pub fn title(self) -> &'static str {
        match self {
            Ctx::Always => "Everywhere",
            Ctx::Global => "Any pane",
            Ctx::Timeline => "Timeline",
            Ctx::Fields => "Fields",
            Ctx::Bytes => "Bytes",
            Ctx::Lesson => "Lesson",
            Ctx::Playing => "While replaying",
            Ctx::Help => "Help",
            Ctx::Filter => "Filter",
            Ctx::Stack => "Stack",
            Ctx::Search => "Search prompt",
            Ctx::Answer => "Answer prompt",
        }
    }
}

/// One key as matched and as shown.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub code: KeyCode,
    /// Only Control matters: Shift is part of the character (`J`, `?`).
    pub ctrl: bool,
    pub label: &'static str,
}

const fn k(c: char, label: &'static str) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
        label,
    }
}

const fn code(code: KeyCode, label: &'static str) -> Key {
    Key {
        code,
        ctrl: false,
        label,
    }
}

const fn ctrl(c: char, label: &'static str) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
        label,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub ctx: Ctx,
    pub help: &'static str,
    /// Shown in the status line's key hints for its context.
    pub hint: Option<&'static str>,
}

const fn b(
    keys: &'static [Key],
    action: Action,
    ctx: Ctx,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        action,
        ctx,
        help,
        hint,
    }
}

const DOWN: Key = code(KeyCode::Down, "↓");
const UP: Key = code(KeyCode::Up, "↑");
const ENTER: Key = code(KeyCode::Enter, "Enter");
const ESC: Key = code(KeyCode::Esc, "Esc");
const LEFT: Key = code(KeyCode::Left, "←");
const RIGHT: Key = code(KeyCode::Right, "→");
const PGDN: Key = code(KeyCode::PageDown, "PgDn");
const PGUP: Key = code(KeyCode::PageUp, "PgUp");

use Action as A;

/// Every key binding, in the order the help shows them.
pub static BINDINGS: &[Binding] = &[
    // Everywhere
    b(&[k('q', "q")], A::Quit, Ctx::Always, "quit", Some("quit")),
    b(&[ctrl('c', "Ctrl-C")], A::Quit, Ctx::Always, "quit", None),
    // While replaying
    b(
        &[k(' ', "Space")],
        A::Play,
        Ctx::Playing,
        "pause",
        Some("pause"),
    ),
    b(
        &[k('+', "+"), k('=', "=")],
        A::Faster,
        Ctx::Playing,
        "play faster",
        Some("faster"),
    ),
    b(
        &[k('-', "-")],
        A::Slower,
        Ctx::Playing,
        "play slower",
        Some("slower"),
    ),
    b(
        &[k('m', "m")],
        A::ReplayMode,
        Ctx::Playing,
        "switch between a fixed interval and the capture's timing",
        Some("mode"),
    ),
    // Timeline
    b(
        &[k('j', "j"), DOWN],
        A::NextStep,
        Ctx::Timeline,
        "next step",
        Some("step"),
    ),
    b(
        &[k('k', "k"), UP],
        A::PrevStep,
        Ctx::Timeline,
        "previous step",
        None,
    ),
    b(
        &[PGDN],
        A::PageDown,
        Ctx::Timeline,
        "a page of steps down",
        None,
    ),
    b(
        &[PGUP],
        A::PageUp,
        Ctx::Timeline,
        "a page of steps up",
        None,
    ),
    b(
        &[ENTER, RIGHT],
        A::DrillIn,
        Ctx::Timeline,
        "drill into the step's fields",
        Some("fields"),
    ),
    b(
        &[k('z', "z")],
        A::Fold,
        Ctx::Timeline,
        "fold / unfold the steps under this one (or its parent)",
        Some("fold"),
    ),
    b(
        &[k('Z', "Z")],
        A::FoldFrames,
        Ctx::Timeline,
        "fold / unfold every frame under its message",
        None,
    ),
    // Fields
    b(
        &[k('j', "j"), DOWN],
        A::NextField,
        Ctx::Fields,
        "next field",
        Some("field"),
    ),
    b(
        &[k('k', "k"), UP],
        A::PrevField,
        Ctx::Fields,
        "previous field",
        None,
    ),
    b(
        &[PGDN],
        A::PageDown,
        Ctx::Fields,
        "a page of fields down",
        None,
    ),
    b(&[PGUP], A::PageUp, Ctx::Fields, "a page of fields up", None),
    b(
        &[ENTER],
        A::Follow,
        Ctx::Fields,
        "follow the row's link (↪) to its step, else drill into the bytes",
        Some("follow/bytes"),
    ),
    b(
        &[RIGHT],
        A::DrillIn,
        Ctx::Fields,
        "drill into the field's bytes",
        None,
    ),
    b(
        &[LEFT, ESC],
        A::BackOut,
        Ctx::Fields,
        "back to the timeline",
        Some("back"),
    ),
    // Bytes
    b(
        &[k('j', "j"), DOWN],
        A::ScrollDown,
        Ctx::Bytes,
        "scroll down",
        Some("scroll"),
    ),
    b(
        &[k('k', "k"), UP],
        A::ScrollUp,
        Ctx::Bytes,
        "scroll up",
        None,
    ),
    b(&[PGDN], A::PageDown, Ctx::Bytes, "a page down", None),
    b(&[PGUP], A::PageUp, Ctx::Bytes, "a page up", None),
    b(
        &[LEFT, ESC],
        A::BackOut,
        Ctx::Bytes,
        "back to the fields",
        Some("back"),
    ),
    // Lesson
    b(
        &[k('j', "j"), DOWN],
        A::ScrollDown,
        Ctx::Lesson,
        "scroll down",
        Some("scroll"),
    ),
    b(
        &[k('k', "k"), UP],
        A::ScrollUp,
        Ctx::Lesson,
        "scroll up",
        None,
    ),
    b(&[PGDN], A::PageDown, Ctx::Lesson, "a page down", None),
    b(&[PGUP], A::PageUp, Ctx::Lesson, "a page up", None),
    b(
        &[LEFT, ESC],
        A::BackOut,
        Ctx::Lesson,
        "back to the timeline",
        Some("back"),
    ),
    // Any pane
    b(
        &[k('J', "J"), code(KeyCode::Tab, "Tab")],
        A::NextPane,
        Ctx::Global,
        "next pane",
        Some("pane"),
    ),
    b(
        &[k('K', "K"), code(KeyCode::BackTab, "Shift-Tab")],
        A::PrevPane,
        Ctx::Global,
        "previous pane",
        None,
    ),
    b(
        &[k('n', "n")],
        A::NextSameKind,
        Ctx::Global,
        "next step of the same kind",
        Some("same kind"),
    ),
    b(
        &[k('N', "N")],
        A::PrevSameKind,
        Ctx::Global,
        "previous step of the same kind",
        None,
    ),
    b(
        &[k(']', "]")],
        A::NextFinding,
        Ctx::Global,
        "next step with a finding",
        Some("finding"),
    ),
    b(
        &[k('[', "[")],
        A::PrevFinding,
        Ctx::Global,
        "previous step with a finding",
        None,
    ),
    b(
        &[k('F', "F")],
        A::Tail,
        Ctx::Global,
        "follow the newest step as steps arrive, like tail -f (F again: stop)",
        None,
    ),
    b(
        &[k('w', "w")],
        A::WriteCapture,
        Ctx::Global,
        "live: write everything received so far to dispel-live-N.pcap",
        None,
    ),
    b(
        &[k('g', "g"), code(KeyCode::Home, "Home")],
        A::First,
        Ctx::Global,
        "first step",
        None,
    ),
    b(
        &[k('G', "G"), code(KeyCode::End, "End")],
        A::Last,
        Ctx::Global,
        "last step",
        None,
    ),
    b(
        &[k('/', "/")],
        A::Search,
        Ctx::Global,
        "search summaries and field values (Enter on an empty prompt repeats)",
        Some("search"),
    ),
    b(
        &[k('f', "f")],
        A::Filter,
        Ctx::Global,
        "filter: connection, session, layer, direction, findings only",
        Some("filter"),
    ),
    b(
        &[k('d', "d")],
        A::Diagram,
        Ctx::Global,
        "the connection or session as a sequence diagram (d again: the timeline)",
        Some("diagram"),
    ),
    b(
        &[k('b', "b"), code(KeyCode::Backspace, "Backspace")],
        A::Back,
        Ctx::Global,
        "back to the step a link was followed from",
        Some("link back"),
    ),
    b(
        &[k(' ', "Space")],
        A::Play,
        Ctx::Global,
        "replay one step a second; pauses on a finding or a question",
        Some("play"),
    ),
    b(
        &[k('m', "m")],
        A::ReplayMode,
        Ctx::Global,
        "replay mode: a fixed interval or the capture's timing (gaps capped at 2 s)",
        None,
    ),
    b(
        &[k('+', "+"), k('=', "=")],
        A::Faster,
        Ctx::Global,
        "replay faster (a shorter interval, or a higher speed)",
        None,
    ),
    b(
        &[k('-', "-")],
        A::Slower,
        Ctx::Global,
        "replay slower",
        None,
    ),
    b(
        &[k('s', "s")],
        A::Stack,
        Ctx::Global,
        "choose the server stack for call chains",
        Some("stack"),
    ),
    b(
        &[k('h', "h")],
        A::Hint,
        Ctx::Global,
        "next hint, then the answers one by one",
        Some("hint"),
    ),
    b(
        &[k('a', "a")],
        A::Answer,
        Ctx::Global,
        "type an answer to the lesson's open question; dispel checks it against the capture",
        None,
    ),
    b(
        &[k('r', "r")],
        A::Reload,
        Ctx::Global,
        "reload lessons from disk",
        None,
    ),
    b(
        &[k('?', "?")],
        A::Help,
        Ctx::Global,
        "this help",
        Some("help"),
    ),
    b(&[ESC, LEFT], A::BackOut, Ctx::Global, "back out", None),
    // Help overlay
    b(
        &[k('j', "j"), DOWN],
        A::ScrollDown,
        Ctx::Help,
        "scroll down",
        Some("scroll"),
    ),
    b(
        &[k('k', "k"), UP],
        A::ScrollUp,
        Ctx::Help,
        "scroll up",
        None,
    ),
    b(
        &[ESC, k('?', "?")],
        A::Close,
        Ctx::Help,
        "close the help",
        Some("close"),
    ),
    // Filter overlay
    b(
        &[k('j', "j"), DOWN],
        A::ItemDown,
        Ctx::Filter,
        "next criterion",
        Some("criterion"),
    ),
    b(
        &[k('k', "k"), UP],
        A::ItemUp,
        Ctx::Filter,
        "previous criterion",
        None,
    ),
    b(
        &[k('l', "l"), RIGHT, k(' ', "Space")],
        A::ValueNext,
        Ctx::Filter,
        "next value",
        Some("value"),
    ),
    b(
        &[k('h', "h"), LEFT],
        A::ValuePrev,
        Ctx::Filter,
        "previous value",
        None,
    ),
    b(
        &[k('x', "x")],
        A::ClearFilter,
        Ctx::Filter,
        "clear every criterion",
        Some("clear"),
    ),
    b(
        &[ESC, ENTER, k('f', "f")],
        A::Close,
        Ctx::Filter,
        "close the filter",
        Some("close"),
    ),
    // Stack overlay
    b(
        &[k('j', "j"), DOWN],
        A::ItemDown,
        Ctx::Stack,
        "next stack",
        Some("move"),
    ),
    b(
        &[k('k', "k"), UP],
        A::ItemUp,
        Ctx::Stack,
        "previous stack",
        None,
    ),
    b(
        &[ENTER],
        A::Choose,
        Ctx::Stack,
        "use this stack",
        Some("choose"),
    ),
    b(&[ESC], A::Close, Ctx::Stack, "cancel", Some("cancel")),
    // Search prompt
    b(
        &[ENTER],
        A::Choose,
        Ctx::Search,
        "find the next match",
        Some("find"),
    ),
    b(&[ESC], A::Close, Ctx::Search, "cancel", Some("cancel")),
    b(
        &[code(KeyCode::Backspace, "Backspace")],
        A::Backspace,
        Ctx::Search,
        "delete a character",
        None,
    ),
    // Answer prompt
    b(
        &[ENTER],
        A::Choose,
        Ctx::Answer,
        "check the answer (a wrong one shows the next hint)",
        Some("check"),
    ),
    b(
        &[ESC],
        A::Close,
        Ctx::Answer,
        "cancel the answer",
        Some("cancel"),
    ),
    b(
        &[code(KeyCode::Tab, "Tab")],
        A::NextPane,
        Ctx::Answer,
        "leave the prompt open and move to the next pane (a returns)",
        Some("leave"),
    ),
    b(
        &[code(KeyCode::Backspace, "Backspace")],
        A::Backspace,
        Ctx::Answer,
        "delete a character",
        None,
    ),
];

fn matches(key: &Key, ev: &KeyEvent) -> bool {
    let ev_ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    if key.ctrl != ev_ctrl {
        return false;
    }
    match (key.code, ev.code) {
        // Terminals differ on whether Shift-Tab carries SHIFT; the code is enough.
        (KeyCode::Char(a), KeyCode::Char(b)) => a == b,
        (a, b) => a == b,
    }
}

/// The action for a key press in the given contexts, searched in order.
/// In the search and answer prompts, printable characters are input.
pub fn lookup(contexts: &[Ctx], ev: &KeyEvent) -> Option<Action> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    for ctx in contexts {
        for b in BINDINGS.iter().filter(|b| b.ctx == *ctx) {
            if b.keys.iter().any(|k| matches(k, ev)) {
                return Some(b.action);
            }
        }
        if matches!(*ctx, Ctx::Search | Ctx::Answer)
            && let KeyCode::Char(c) = ev.code
            && !ev.modifiers.contains(KeyModifiers::CONTROL)
        {
            return Some(Action::Input(c));
        }
    }
    None
}

/// A binding's keys as shown: `j/↓`.
pub fn keys_label(b: &Binding) -> String {
    b.keys.iter().map(|k| k.label).collect::<Vec<_>>().join("/")
}

/// Short hints for the status line, for the contexts in effect, first context first.
pub fn hints(contexts: &[Ctx]) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    // In a prompt, a character key types itself: its binding is no hint.
    let prompt = matches!(contexts.first(), Some(Ctx::Search | Ctx::Answer));
    let typed = |b: &Binding| {
        prompt
            && b.keys
                .iter()
                .all(|k| matches!(k.code, KeyCode::Char(_)) && !k.ctrl)
    };
    for ctx in contexts {
        for b in BINDINGS.iter().filter(|b| b.ctx == *ctx && !typed(b)) {
            if let Some(h) = b.hint
                && !out.iter().any(|(_, seen)| *seen == h)
            {
                let label = match b.action {
                    // Pair the up/down bindings in one hint.
                    A::NextStep | A::NextField | A::ScrollDown | A::ItemDown => "j/k".to_string(),
                    A::NextPane => "Tab".to_string(),
                    A::NextSameKind => "n/N".to_string(),
                    A::NextFinding => "]/[".to_string(),
                    A::ValueNext => "←/→".to_string(),
                    A::Faster => "+".to_string(),
                    _ => b.keys[0].label.to_string(),
                };
                out.push((label, h));
            }
        }
    }
    // Quit and help first: they matter most when the line is cut short.
    out.sort_by_key(|(_, h)| !matches!(*h, "quit" | "help" | "close" | "cancel"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn contexts_take_precedence_in_order() {
        let j = ev(KeyCode::Char('j'), KeyModifiers::NONE);
        assert_eq!(
            lookup(&[Ctx::Always, Ctx::Timeline, Ctx::Global], &j),
            Some(Action::NextStep)
        );
        assert_eq!(
            lookup(&[Ctx::Always, Ctx::Fields, Ctx::Global], &j),
            Some(Action::NextField)
        );
        assert_eq!(
            lookup(&[Ctx::Always, Ctx::Search], &j),
            Some(Action::Input('j'))
        );
        let shift_j = ev(KeyCode::Char('J'), KeyModifiers::SHIFT);
        assert_eq!(
            lookup(&[Ctx::Always, Ctx::Timeline, Ctx::Global], &shift_j),
            Some(Action::NextPane)
        );
        let back_tab = ev(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            lookup(&[Ctx::Always, Ctx::Timeline, Ctx::Global], &back_tab),
            Some(Action::PrevPane)
        );
        let ctrl_c = ev(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            lookup(&[Ctx::Always, Ctx::Search], &ctrl_c),
            Some(Action::Quit)
        );
        // `q` quits in the help, but types a `q` into the search prompt.
        let q = ev(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(&[Ctx::Help, Ctx::Always], &q), Some(Action::Quit));
        assert_eq!(
            lookup(&[Ctx::Search, Ctx::Always], &q),
            Some(Action::Input('q'))
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                if a.ctx != b.ctx {
                    continue;
                }
                for ka in a.keys {
                    assert!(
                        !b.keys
                            .iter()
                            .any(|kb| kb.code == ka.code && kb.ctrl == ka.ctrl),
                        "{} bound twice in {:?}",
                        ka.label,
                        a.ctx
                    );
                }
            }
        }
    }
}
