// The page: logs in (the session cookie is already set by /login), keeps
// the VM list live from the event stream, and routes by the URL's hash:
// #/ the list, #/vm/NAME a VM, #/vm/NAME/console its console, #/create.

import { api, setCsrf, ApiError } from './api.js';
import { EventFeed } from './events.js';
import { VmList } from './list.js';
import { showDetail } from './detail.js';
import { showCreate } from './create.js';

const main = document.getElementById('main');
let current = null;

export function toast(text, kind = 'error') {
  const box = document.getElementById('toast');
  box.textContent = text;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

// Asks for confirmation in a modal dialog (focus stays inside; Escape
// cancels). Resolves to null when cancelled, else { timeout }.
export function confirmDialog({ title, text, ok, timeout = false }) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = ok;
  document.getElementById('confirm-timeout-label').hidden = !timeout;
  const input = document.getElementById('confirm-timeout');
  input.value = '';
  return new Promise((resolve) => {
    dialog.onclose = () => {
      if (dialog.returnValue !== 'ok') return resolve(null);
      resolve({ timeout: input.value ? Number(input.value) : null });
    };
    dialog.returnValue = '';
    dialog.showModal();
    (timeout ? input : document.getElementById('confirm-ok')).focus();
  });
}

function route() {
  if (current?.leave) current.leave();
  current = null;
  const hash = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  const consoleRoute = hash.match(/^\/vm\/([^/]+)\/console$/);
  const vm = hash.match(/^\/vm\/([^/]+)(?:\/(\w+))?$/);
  if (consoleRoute) {
    // xterm.js is most of the page's bytes: loaded only for a console.
    const pending = {};
    current = pending;
    import('./console.js').then(({ showConsole }) => {
      if (current === pending) current = showConsole(main, consoleRoute[1]);
    });
  } else if (vm) current = showDetail(main, vm[1], vm[2] ?? 'overview', list);
  else if (hash === '/create') current = showCreate(main);
  else current = list.show(main);
  main.focus({ preventScroll: true });
}

let list;

async function start() {
  let session;
  try {
    session = await api('GET', '/api/session');
  } catch (err) {
    const why = err instanceof ApiError ? err.message : String(err);
    main.innerHTML = '<h1>Not logged in</h1><p class="why"></p>' +
      '<p>Run <code>crv web</code> on the daemon\'s host and open the link it prints ' +
      '(<code>crv web --open</code> opens it for you).</p>';
    main.querySelector('.why').textContent = why;
    document.getElementById('live').textContent = '';
    return;
  }
  setCsrf(session.csrf);
  document.getElementById('who').textContent = `${session.client} (${session.role})`;
  const logout = document.getElementById('logout');
  logout.hidden = false;
  logout.onclick = async () => {
    try {
      await api('POST', '/api/logout');
    } catch (err) {
      toast(err.message);
      return;
    }
    // Nothing of the page stays usable: a fresh load shows how to log in.
    location.replace('/');
  };
  list = new VmList();
  new EventFeed({
    onEvent: (event) => {
      list.apply(event);
      current?.event?.(event);
    },
    onResync: () => {
      list.reload();
      current?.resync?.();
    },
    onStatus: (state, text) => {
      const live = document.getElementById('live');
      live.textContent = text;
      live.className = `live ${state}`;
    },
  });
  window.addEventListener('hashchange', route);
  route();
}

start();
