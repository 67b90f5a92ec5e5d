//! `crv top`'s live screen (ratatui on crossterm): every VM's figures,
//! refreshed every `--interval`, sorted by a key; `q` quits. Keys are read
//! on a thread of their own (crossterm's read blocks) and reach the loop
//! through a channel, beside the refresh timer and the signals that end
//! crv, so the terminal is given back whatever ends it.

use crate::client::Client;
use crate::error::CliError;
use crate::stats_view::{SortKey, TOP_HEADER, TopRow, sort};
use corvus_protocol::{Request, Response};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::{DefaultTerminal, Frame};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

enum Input {
    Quit,
    Sort(SortKey),
    Reverse,
    Redraw,
}

struct Screen {
    rows: Vec<TopRow>,
    key: SortKey,
    reverse: bool,
    /// Why the last refresh failed, shown until one succeeds.
    problem: Option<String>,
}

pub async fn run(client: &mut Client, key: SortKey, interval: Duration) -> Result<(), CliError> {
    let mut terminal = ratatui::try_init()
        .map_err(|err| CliError::Failed(format!("cannot take over the terminal: {err}")))?;
    let result = live(&mut terminal, client, key, interval).await;
    ratatui::restore();
    result
}

async fn live(
    terminal: &mut DefaultTerminal,
    client: &mut Client,
    key: SortKey,
    interval: Duration,
) -> Result<(), CliError> {
    let signal = |kind| {
        signal(kind).map_err(|err| CliError::Failed(format!("cannot handle signals: {err}")))
    };
    let (mut term, mut hup, mut int) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::hangup())?,
        signal(SignalKind::interrupt())?,
    );
    let mut inputs = read_keys();
    let mut screen = Screen {
        rows: Vec::new(),
        key,
        reverse: false,
        problem: None,
    };
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => screen.refresh(client).await?,
            input = inputs.recv() => match input {
                None | Some(Input::Quit) => return Ok(()),
                Some(Input::Sort(key)) => {
                    screen.reverse = if screen.key == key { screen.reverse } else { false };
                    screen.key = key;
                }
                Some(Input::Reverse) => screen.reverse = !screen.reverse,
                Some(Input::Redraw) => {}
            },
            _ = term.recv() => return Ok(()),
            _ = hup.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
        sort(&mut screen.rows, screen.key, screen.reverse);
        terminal
            .draw(|frame| screen.draw(frame))
            .map_err(|err| CliError::Failed(format!("cannot draw: {err}")))?;
    }
}

impl Screen {
    /// New figures; a daemon that went away ends `top` with its error.
    async fn refresh(&mut self, client: &mut Client) -> Result<(), CliError> {
        match client.request(Request::AllStats).await {
            Ok(Response::AllStats(all)) => {
                self.rows = all.iter().map(TopRow::of).collect();
                self.problem = None;
                Ok(())
            }
            Ok(other) => Err(crate::commands::daemon::unexpected(other)),
            Err(CliError::Refused(err)) => {
                self.problem = Some(err.message);
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    fn draw(&self, frame: &mut Frame) {
        let [title, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(frame.area());
        let keys: String = SortKey::KEYS.iter().map(|(k, _)| *k).collect();
        let order = if self.reverse { ", reversed" } else { "" };
        let status = self.problem.as_deref().map_or_else(
            || format!("{} VMs", self.rows.len()),
            |problem| format!("not refreshed: {problem}"),
        );
        frame.render_widget(
            Paragraph::new(format!(
                "crv top — {status}, by {}{order} · sort: {keys} · r: reverse · q: quit",
                self.key.label()
            )),
            title,
        );
        let header = Row::new(TOP_HEADER.map(Cell::from))
            .style(Style::default().add_modifier(Modifier::REVERSED));
        let rows = self
            .rows
            .iter()
            .map(|row| Row::new(row.cells().map(Cell::from)));
        let widths = [3, 16, 8, 6, 10, 11, 11, 11, 11, 7, 8].map(Constraint::Min);
        frame.render_widget(Table::new(rows, widths).header(header), body);
    }
}

/// Keys, read on a thread: crossterm's `read` blocks. The thread ends with
/// the process.
fn read_keys() -> mpsc::UnboundedReceiver<Input> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        loop {
            let input = match event::read() {
                Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => match key.code {
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        Input::Quit
                    }
                    KeyCode::Char('q') | KeyCode::Esc => Input::Quit,
                    KeyCode::Char('r') => Input::Reverse,
                    KeyCode::Char(other) => match SortKey::of_key(other) {
                        Some(key) => Input::Sort(key),
                        None => continue,
                    },
                    _ => continue,
                },
                Ok(Event::Resize(..)) => Input::Redraw,
                Ok(_) => continue,
                Err(_) => Input::Quit,
            };
            let quit = matches!(input, Input::Quit);
            if sender.send(input).is_err() || quit {
                return;
            }
        }
    });
    receiver
}
