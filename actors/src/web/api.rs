//! The JSON API: each handler turns an HTTP request into the one wire
//! `Request` that `crv` would send, and the answer (a `Response` as JSON,
//! tagged by its variant) or the daemon's refusal back into HTTP.

use super::SharedWeb;
use super::auth::Authed;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corvus_protocol::{
    CallError, CloudInitSpec, DisplayKind, ErrorKind, Forward, ImageVmSpec, Request, RestartPolicy,
    VmRef, VmSpec, WireError,
};
use serde::Deserialize;
use serde_json::json;

/// Sends `request` as the browser's client and answers with the result.
async fn ask(web: &SharedWeb, authed: &Authed, request: Request) -> Response {
    let mut conn = match authed.connect(web).await {
        Ok(conn) => conn,
        Err(err) => return refusal(err),
    };
    let mut response = match conn.call(request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(CallError::Refused(err)) => refusal(err),
        Err(err) => refusal(WireError::internal(format!(
            "the in-process connection failed: {err}"
        ))),
    };
    if let Some(secret) = &authed.cookie {
        super::auth::attach_cookie(&mut response, secret, web.secure);
    }
    response
}

/// A refusal as the page shows it: the daemon's own text, and its kind.
pub fn refusal(err: WireError) -> Response {
    let status = match err.kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidTransition { .. } | ErrorKind::Conflict | ErrorKind::Busy => {
            StatusCode::CONFLICT
        }
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::PermissionDenied { .. } => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable
        | ErrorKind::TooManyConnections { .. }
        | ErrorKind::OwnedByNode { .. }
        | ErrorKind::NodeLost { .. } => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::QemuFailed
        | ErrorKind::Internal
        | ErrorKind::ProtocolMismatch { .. }
        | ErrorKind::FrameTooLarge { .. }
        | ErrorKind::MalformedFrame
        | ErrorKind::FrameBudgetExhausted { .. }
        | ErrorKind::ConnectionTimeout { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        status,
        Json(json!({ "error": err.message, "kind": err.kind })),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    refusal(WireError::not_found(
        "nothing is served at this address: the web console is at /",
    ))
}

pub async fn list(authed: Authed, State(web): State<SharedWeb>) -> Response {
    ask(&web, &authed, Request::ListVms).await
}

pub async fn show(
    authed: Authed,
    State(web): State<SharedWeb>,
    Path(vm): Path<String>,
) -> Response {
    ask(
        &web,
        &authed,
        Request::ShowVm {
            vm: VmRef::parse(&vm),
        },
    )
    .await
}

pub async fn delete(
    authed: Authed,
    State(web): State<SharedWeb>,
    Path(vm): Path<String>,
) -> Response {
    ask(
        &web,
        &authed,
        Request::DeleteVm {
            vm: VmRef::parse(&vm),
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct StopQuery {
    timeout: Option<u32>,
}

/// `POST /api/vms/{vm}/{start|stop|pause|resume|reset}`; resuming is a
/// start of a paused VM, as `crv vm start` does it.
pub async fn act(
    authed: Authed,
    State(web): State<SharedWeb>,
    Path((vm, action)): Path<(String, String)>,
    Query(stop): Query<StopQuery>,
) -> Response {
    let vm = VmRef::parse(&vm);
    let request = match action.as_str() {
        "start" | "resume" => Request::StartVm { vm },
        "stop" => Request::StopVm {
            vm,
            timeout_secs: stop.timeout,
        },
        "pause" => Request::PauseVm { vm },
        "reset" => Request::ResetVm { vm },
        other => {
            return refusal(WireError::not_found(format!(
                "there is no VM action '{other}': use start, stop, pause, resume or reset"
            )));
        }
    };
    ask(&web, &authed, request).await
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    limit: Option<u32>,
}

pub async fn history(
    authed: Authed,
    State(web): State<SharedWeb>,
    Path(vm): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Response {
    let request = Request::History {
        vm: VmRef::parse(&vm),
        limit: query.limit,
    };
    ask(&web, &authed, request).await
}

pub async fn stats(
    authed: Authed,
    State(web): State<SharedWeb>,
    Path(vm): Path<String>,
) -> Response {
    ask(
        &web,
        &authed,
        Request::VmStats {
            vm: VmRef::parse(&vm),
        },
    )
    .await
}

pub async fn all_stats(authed: Authed, State(web): State<SharedWeb>) -> Response {
    ask(&web, &authed, Request::AllStats).await
}

pub async fn disks(authed: Authed, State(web): State<SharedWeb>) -> Response {
    ask(&web, &authed, Request::ListDisks).await
}

/// What the create form sends.
#[derive(Deserialize)]
pub struct NewVm {
    name: String,
    cpu_count: u32,
    ram_mb: u64,
    /// A disk's name or id, as `crv vm create --image` takes it.
    image: String,
    /// Bytes; the image's size when absent.
    disk_size: Option<u64>,
    #[serde(default)]
    description: Option<String>,
    /// cloud-init's account for `ssh_key` (`crv vm create --user`).
    #[serde(default)]
    user: Option<String>,
    /// One public key (`--ssh-key`); with it the VM gets cloud-init.
    #[serde(default)]
    ssh_key: Option<String>,
    /// One port forward as `--forward` takes it, e.g. `tcp:2222:22`.
    #[serde(default)]
    forward: Option<String>,
}

/// The form's cloud-init and forward fields, read as `crv vm create` reads
/// its options; empty fields are absent.
fn cloud_fields(new: &NewVm) -> Result<(Option<CloudInitSpec>, Vec<Forward>), WireError> {
    let given = |field: &Option<String>| {
        field
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let forwards = match given(&new.forward) {
        Some(text) => vec![text.parse::<Forward>().map_err(|err| {
            WireError::invalid(format!("the forward {text:?} cannot be read: {err}"))
        })?],
        None => Vec::new(),
    };
    let cloud_init = match (given(&new.ssh_key), given(&new.user)) {
        (Some(key), Some(user)) => Some(CloudInitSpec {
            user: Some(user),
            ssh_keys: vec![key],
            hostname: None,
            user_data: None,
            network_config: None,
        }),
        (Some(_), None) => {
            return Err(WireError::invalid(
                "an SSH key needs a user name for cloud-init to create: fill in User",
            ));
        }
        (None, _) => None,
    };
    Ok((cloud_init, forwards))
}

/// `POST /api/vms`: `crv vm create NAME --image IMAGE`.
pub async fn create(
    authed: Authed,
    State(web): State<SharedWeb>,
    body: Result<Json<NewVm>, JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return refusal(WireError::invalid(format!(
                "the form could not be read: {}",
                rejection.body_text()
            )));
        }
    };
    let (cloud_init, forwards) = match cloud_fields(&new) {
        Ok(fields) => fields,
        Err(error) => return refusal(error),
    };
    let spec = VmSpec {
        name: new.name,
        cpu_count: new.cpu_count,
        ram_mb: new.ram_mb,
        description: new.description.filter(|d| !d.is_empty()),
        display: DisplayKind::None,
        cpu_model: None,
        stop_timeout_secs: None,
        restart_policy: RestartPolicy::Never,
        max_restarts: None,
        restart_window_secs: None,
        autostart: false,
        kernel: None,
        initrd: None,
        cmdline: None,
        guest_agent: None,
        cloud_init,
        forwards,
        hotplug_slots: None,
        node: None,
        ha: false,
    };
    let request = Request::CreateVmFromImage {
        spec: Box::new(ImageVmSpec {
            spec,
            image: VmRef::parse(&new.image),
            disk_size: new.disk_size,
        }),
    };
    ask(&web, &authed, request).await
}
