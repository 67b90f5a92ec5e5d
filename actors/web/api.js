// The JSON API: every call carries the session's CSRF token on POST and
// DELETE; a refusal becomes an ApiError with the daemon's own words.

let csrf = '';

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, message, kind) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

export async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (err) {
    throw new ApiError(0, `the daemon cannot be reached (${err.message}); is corvus running?`, 'unreachable');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.error ?? `${response.status} ${response.statusText}`, data?.kind);
  }
  return data;
}

// The VM's name for URLs: names never contain '/', but may need escaping.
export function vmPath(vm) {
  return `/api/vms/${encodeURIComponent(vm)}`;
}

export function wsUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}${path}`;
}
