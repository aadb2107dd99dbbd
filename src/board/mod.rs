//! The live scoreboard (`firedrill run --serve ADDR`, `firedrill board --listen ADDR`):
//! a small HTTP server on axum that follows a drill's journal in the state store and
//! pushes the board to browsers as it changes (Server-Sent Events). Nothing per viewer
//! reaches AWS: the runner looks at AWS, the board reads what it journaled, so a board in
//! another process, or after the drill, shows the same thing.
//!
//! Pages, each one self-contained HTML document (its CSS and a small script inline,
//! nothing fetched from elsewhere):
//! - `/`: the room, for a projector: teams ranked by points, every step's state per
//!   team, time since each break, the clock, the last events. Read-only, no token.
//! - `/team?token=T`: a team's own steps, the hints it was shown (with their cost), its
//!   score, and a button to ask for the next hint early.
//! - `/instructor?token=T`: everything, with controls: release a hint, extend or end a
//!   step, stop the drill, abort it.
//!
//! A team's or the instructor's token is checked against the hashes in the drill's
//! journal ([`tokens`]); a wrong one gets 403. Requests go to the runner through the
//! drill's request file ([`crate::drill::control`]), which it reads at every look.

pub mod model;
pub mod tokens;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::watch;

use crate::drill::control::{self, Request};
use crate::drill::journal::{self, DrillEvent};
use crate::store::Store;
use crate::store::journal::now;
use crate::{Error, Result};
pub use model::Board;
pub use tokens::Tokens;

/// How often the board looks at the journal for new events (a local file, never AWS).
const FOLLOW: Duration = Duration::from_millis(200);

/// What the board has read of the drill so far.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub board: Board,
    /// The SHA-256 of each token, by who holds it, as the drill's first line says.
    pub tokens: BTreeMap<String, String>,
}

struct Shared {
    store: Store,
    drill_id: String,
    seen: watch::Receiver<Arc<Seen>>,
}

/// Serve the board of drill `drill_id` on `listen` until the process ends. Returns the
/// address it listens on (port 0 picks one) once it does.
pub async fn serve(store: Store, drill_id: String, listen: SocketAddr) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Usage(format!("the board cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Error::Failed(format!("the board's address: {e}")))?;
    if !addr.ip().is_loopback() {
        tracing::info!("the board listens on {addr}, beyond this machine: team and instructor pages need their tokens");
    }
    let (tx, rx) = watch::channel(Arc::new(Seen::default()));
    tokio::spawn(follow(store.clone(), journal::drill_journal(&drill_id), tx));
    let shared = Arc::new(Shared { store, drill_id, seen: rx });
    let app = Router::new()
        .route("/", get(room_page))
        .route("/team", get(team_page))
        .route("/instructor", get(instructor_page))
        .route("/api/board", get(board_json))
        .route("/api/events", get(events))
        .route("/api/hint", post(ask_hint))
        .route("/api/control", post(control))
        .with_state(shared);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the board stopped: {e}");
        }
    });
    Ok(addr)
}

/// Follow the drill's journal: read what was appended, fold it into the board, and
/// publish the board when it changed. A journal that does not exist yet is waited for.
/// The store is read off the async threads (an S3 store waits for its answers).
async fn follow(store: Store, key: String, tx: watch::Sender<Arc<Seen>>) {
    let mut events: Vec<DrillEvent> = Vec::new();
    let mut follow = Some(crate::store::Follow::new(&key));
    let location = store.log_location(&key);
    loop {
        let (store2, mut f) = (store.clone(), follow.take().expect("put back after every read"));
        let read = tokio::task::spawn_blocking(move || {
            let lines = f.lines(&store2);
            (f, lines)
        })
        .await;
        let Ok((f, lines)) = read else { return };
        follow = Some(f);
        match lines {
            Err(e) => tracing::debug!("{}: {e}", location.display()),
            Ok(new) if !new.is_empty() => {
                let mut changed = false;
                for line in new {
                    match serde_json::from_slice::<DrillEvent>(&line) {
                        Ok(e) => {
                            events.push(e);
                            changed = true;
                        }
                        // Not a line the runner wrote whole (a torn tail, a marker): skip it.
                        Err(e) => tracing::debug!("{}: a line the board cannot read: {e}", location.display()),
                    }
                }
                if changed {
                    let tokens = match events.first() {
                        Some(DrillEvent::Started { tokens, .. }) => tokens.clone(),
                        _ => BTreeMap::new(),
                    };
                    let seen = Seen { board: Board::from_events(&events), tokens };
                    tx.send_replace(Arc::new(seen));
                }
            }
            Ok(_) => {}
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(FOLLOW).await;
    }
}

/// Who a request comes from: the token in `?token=` or `Authorization: Bearer`.
#[derive(Debug, Default, Deserialize)]
struct Auth {
    token: Option<String>,
}

/// A token that is not one of the drill's: 403.
struct Forbidden;

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        forbidden()
    }
}

/// Who holds the request's token: a team's name or `instructor`; `None` without one.
fn who(seen: &Seen, auth: &Auth, headers: &HeaderMap) -> std::result::Result<Option<String>, Forbidden> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = auth.token.clone().or(bearer).filter(|t| !t.is_empty()) else { return Ok(None) };
    tokens::holder(&seen.tokens, &token).map(|who| Some(who.to_owned())).ok_or(Forbidden)
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "403: this token is not one of this drill's (ask the instructor for yours)\n")
        .into_response()
}

/// The board as `who` may see it.
fn view(seen: &Seen, who: Option<&str>) -> Board {
    match who {
        Some(tokens::INSTRUCTOR) => seen.board.clone(),
        Some(team) => seen.board.for_team(team),
        None => seen.board.for_room(),
    }
}

/// The one page of every view: its script tells the room, a team and the instructor
/// apart by the path.
const PAGE: &str = include_str!("pages/board.html");

async fn room_page() -> Html<&'static str> {
    Html(PAGE)
}

async fn team_page(State(s): State<Arc<Shared>>, Query(auth): Query<Auth>, headers: HeaderMap) -> Response {
    let seen = s.seen.borrow().clone();
    match who(&seen, &auth, &headers) {
        Ok(Some(who)) if who != tokens::INSTRUCTOR => Html(PAGE).into_response(),
        Ok(_) => forbidden(),
        Err(f) => f.into_response(),
    }
}

async fn instructor_page(State(s): State<Arc<Shared>>, Query(auth): Query<Auth>, headers: HeaderMap) -> Response {
    let seen = s.seen.borrow().clone();
    match who(&seen, &auth, &headers) {
        Ok(Some(who)) if who == tokens::INSTRUCTOR => Html(PAGE).into_response(),
        Ok(_) => forbidden(),
        Err(f) => f.into_response(),
    }
}

async fn board_json(State(s): State<Arc<Shared>>, Query(auth): Query<Auth>, headers: HeaderMap) -> Response {
    let seen = s.seen.borrow().clone();
    match who(&seen, &auth, &headers) {
        Ok(who) => Json(view(&seen, who.as_deref())).into_response(),
        Err(f) => f.into_response(),
    }
}

/// The board as Server-Sent Events: the board now, then again each time it changes.
async fn events(State(s): State<Arc<Shared>>, Query(auth): Query<Auth>, headers: HeaderMap) -> Response {
    let seen = s.seen.borrow().clone();
    let who = match who(&seen, &auth, &headers) {
        Ok(who) => who,
        Err(f) => return f.into_response(),
    };
    let rx = s.seen.clone();
    let stream = futures_util::stream::unfold((rx, who, true), |(mut rx, who, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let board = view(&rx.borrow_and_update(), who.as_deref());
        let event = Event::default().event("board").json_data(&board).unwrap_or_default();
        Some((Ok::<_, std::convert::Infallible>(event), (rx, who, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// A team asks for the next hint of a step.
#[derive(Debug, Deserialize)]
struct AskHint {
    step: String,
}

async fn ask_hint(
    State(s): State<Arc<Shared>>,
    Query(auth): Query<Auth>,
    headers: HeaderMap,
    Json(body): Json<AskHint>,
) -> Response {
    let seen = s.seen.borrow().clone();
    let team = match who(&seen, &auth, &headers) {
        Ok(Some(who)) if who != tokens::INSTRUCTOR => who,
        Ok(_) => return forbidden(),
        Err(f) => return f.into_response(),
    };
    send(&s, &seen, Request::AskHint { at: now(), team, step: body.step })
}

/// An instructor's button.
#[derive(Debug, Deserialize)]
struct Control {
    action: String,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    seconds: Option<f64>,
}

async fn control(
    State(s): State<Arc<Shared>>,
    Query(auth): Query<Auth>,
    headers: HeaderMap,
    Json(c): Json<Control>,
) -> Response {
    let seen = s.seen.borrow().clone();
    match who(&seen, &auth, &headers) {
        Ok(Some(who)) if who == tokens::INSTRUCTOR => {}
        Ok(_) => return forbidden(),
        Err(f) => return f.into_response(),
    }
    let need_step = |c: &Control| c.step.clone().ok_or("this action needs a `step`");
    let request = match c.action.as_str() {
        "release-hint" => match (need_step(&c), c.team.clone()) {
            (Ok(step), Some(team)) => Ok(Request::ReleaseHint { at: now(), team, step }),
            _ => Err("release-hint needs a `team` and a `step`"),
        },
        "extend" => need_step(&c).and_then(|step| match c.seconds {
            Some(seconds) if seconds > 0.0 && seconds <= 86_400.0 => {
                Ok(Request::Extend { at: now(), team: c.team.clone(), step, seconds })
            }
            _ => Err("extend needs `seconds`, more than 0 and at most a day"),
        }),
        "end-step" => need_step(&c).map(|step| Request::EndStep { at: now(), team: c.team.clone(), step }),
        "stop" => Ok(Request::Stop { at: now() }),
        "abort" => Ok(Request::Abort { at: now() }),
        _ => Err("the actions are release-hint, extend, end-step, stop and abort"),
    };
    match request {
        Ok(r) => send(&s, &seen, r),
        Err(why) => (StatusCode::BAD_REQUEST, format!("400: {why}\n")).into_response(),
    }
}

/// Pass a request to the runner; 409 once the drill is over.
fn send(s: &Shared, seen: &Seen, request: Request) -> Response {
    if seen.board.outcome.is_some() {
        return (StatusCode::CONFLICT, "409: the drill is over\n").into_response();
    }
    match control::send(&s.store, &s.drill_id, &request) {
        Ok(()) => (StatusCode::ACCEPTED, "202: sent to the drill; it acts at its next look\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("500: {e}\n")).into_response(),
    }
}
