//! The terminal side: raw mode and the alternate screen on the way in, the
//! exact reverse on every way out (quit, Ctrl-C, an error, a panic), and the
//! event loop that feeds the [`App`] key presses, mouse events, resizes,
//! replay ticks and newly loaded steps.

use std::io::{self, BufWriter, Write, stdout};
use std::panic;
use std::sync::Once;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind, MouseButton, MouseEventKind,
};
use ratatui::crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{execute, queue};

use super::app::App;
use super::keys::Action;
use super::view;

/// Time given to loading and scanning per turn of the loop, so keys stay responsive.
const WORK_BUDGET: Duration = Duration::from_millis(12);

/// Room for a full redraw of a large terminal (a changed cell costs a few
/// bytes of colour and cursor sequences plus its text).
const FRAME_BUFFER: usize = 256 * 1024;

/// Puts the terminal back as it was. Safe to call more than once; the
/// `Guard` calls it again after the interface's buffered writer is dropped,
/// so a frame cut short by a panic cannot leave output held back.
pub fn restore() {
    let mut out = stdout();
    let _ = execute!(
        out,
        EndSynchronizedUpdate,
        DisableMouseCapture,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Restores the terminal before the previous panic hook prints the message.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Restores the terminal when dropped: on return and on unwinding alike.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Runs the interface until the user quits.
pub fn run(app: &mut App) -> io::Result<()> {
    install_panic_hook();
    enable_raw_mode()?;
    let guard = Guard;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    // A frame goes out in one write, not in the line-buffered stdout's
    // 1 KiB pieces, so a terminal (or tmux) never shows half of one.
    let out = BufWriter::with_capacity(FRAME_BUFFER, stdout());
    let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
    terminal.clear()?;
    let result = event_loop(&mut terminal, app);
    drop(terminal);
    drop(guard);
    result
}

fn event_loop<W: Write>(
    terminal: &mut Terminal<CrosstermBackend<W>>,
    app: &mut App,
) -> io::Result<()> {
    let size = terminal.size()?;
    app.handle(Action::Resize(size.width, size.height));
    let mut last = Instant::now();
    loop {
        app.pump(WORK_BUDGET);
        // Synchronized output (mode 2026): a terminal that knows it holds
        // the frame back until it is whole; others ignore the sequence.
        queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
        terminal.draw(|f| view::draw(f, app))?;
        execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
        if app.quit {
            return Ok(());
        }
        let timeout = if app.busy() || app.replay.playing {
            Duration::from_millis(16)
        } else {
            Duration::from_millis(500)
        };
        if event::poll(timeout)? {
            // Take every queued event before drawing again.
            loop {
                match event::read()? {
                    Event::Key(k) if k.kind != KeyEventKind::Release => app.key(&k),
                    Event::Mouse(m) => match m.kind {
                        MouseEventKind::Down(MouseButton::Left) => {
                            app.handle(Action::Click(m.column, m.row))
                        }
                        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                            app.handle(Action::Wheel {
                                x: m.column,
                                y: m.row,
                                down: m.kind == MouseEventKind::ScrollDown,
                            })
                        }
                        _ => {}
                    },
                    Event::Resize(w, h) => app.handle(Action::Resize(w, h)),
                    _ => {}
                }
                if app.quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
        let now = Instant::now();
        app.handle(Action::Tick(now - last));
        last = now;
    }
}
