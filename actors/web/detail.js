// One VM: its definition, drives, NICs and shares, its history a page at
// a time, CPU and memory graphs from `vm stats`, and the actions. A VM
// deleted while its page is open is said so at once (who deleted it, from
// its `deleted` event), with its actions disabled; an edit made elsewhere
// shows at once too.

import { api, vmPath, ApiError } from './api.js';
import { toast, confirmDialog } from './app.js';
import { Graph } from './graph.js';

const ACTIONS = [
  ['start', 'Start', (s) => s === 'stopped' || s === 'error'],
  ['resume', 'Resume', (s) => s === 'paused'],
  ['pause', 'Pause', (s) => s === 'running'],
  ['stop', 'Stop…', (s) => s === 'running' || s === 'paused' || s === 'starting'],
  ['reset', 'Reset', () => true],
  ['delete', 'Delete…', () => true],
];
const HISTORY_PAGE = 20;
const STATS_EVERY_MS = 2000;

export function describeCause(cause) {
  if (typeof cause === 'string') return cause.replace(/_/g, ' ');
  const [kind, detail] = Object.entries(cause)[0];
  switch (kind) {
    case 'operator': return `${detail.command} by ${detail.client || `connection ${detail.connection}`}`;
    case 'qemu_event': return `QEMU event ${detail.event}`;
    case 'qemu_exit': return detail.signal !== null ? `QEMU killed by signal ${detail.signal}` : `QEMU exited with ${detail.code}`;
    case 'restart_policy': return `restart policy (attempt ${detail.attempt})`;
    default: return kind.replace(/_/g, ' ');
  }
}

// Buttons for the actions that fit the VM's state (the daemon still has
// the last word, and its refusal is shown as it is).
export function actionButtons(vm, run) {
  return ACTIONS.filter(([, , fits]) => fits(vm.status)).map(([action, label]) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.dataset.action = action;
    button.setAttribute('aria-label', `${label.replace('…', '')} ${vm.name}`);
    if (action === 'delete') button.className = 'danger';
    button.onclick = () => run(action);
    return button;
  });
}

export async function runAction(vm, action, list) {
  let path = `${vmPath(vm.name)}/${action}`;
  let method = 'POST';
  if (action === 'stop') {
    const answer = await confirmDialog({
      title: `Stop ${vm.name}?`,
      text: 'The guest is asked to power off; past the timeout it is killed.',
      ok: 'Stop',
      timeout: true,
    });
    if (!answer) return false;
    if (answer.timeout) path += `?timeout=${answer.timeout}`;
  } else if (action === 'delete') {
    const answer = await confirmDialog({
      title: `Delete ${vm.name}?`,
      text: 'Its definition and history go; disk image files stay where they are.',
      ok: 'Delete',
    });
    if (!answer) return false;
    path = vmPath(vm.name);
    method = 'DELETE';
  }
  try {
    await api(method, path);
    if (action === 'delete') {
      toast(`Deleted ${vm.name}.`, 'info');
      list?.forget(vm.id);
    }
    return true;
  } catch (err) {
    toast(err.message);
    return false;
  }
}

export function showDetail(main, name, tab, list) {
  const state = { vm: null, gone: false, timer: null, page: 0, graphs: null };
  main.innerHTML = `<h1 class="vm-title"></h1><p class="gone" role="alert" hidden></p>
    <div class="vm-actions"></div>
    <nav class="tabs" aria-label="VM sections">
      <a data-tab="overview">Overview</a><a data-tab="history">History</a>
      <a data-tab="graphs">Graphs</a><a data-tab="console">Console</a>
    </nav><section class="tab"></section>`;
  const title = main.querySelector('.vm-title');
  title.textContent = name;
  for (const a of main.querySelectorAll('.tabs a')) {
    const target = a.dataset.tab === 'overview' ? '' : `/${a.dataset.tab}`;
    a.href = `#/vm/${encodeURIComponent(name)}${target}`;
    if (a.dataset.tab === tab) a.setAttribute('aria-current', 'page');
  }
  const section = main.querySelector('.tab');

  const gone = (why) => {
    if (state.gone) return;
    state.gone = true;
    clearInterval(state.timer);
    const p = main.querySelector('.gone');
    p.textContent = why;
    p.hidden = false;
    for (const button of main.querySelectorAll('.vm-actions button')) button.disabled = true;
    const badge = main.querySelector('.vm-title .badge');
    if (badge) {
      badge.className = 'badge deleted';
      badge.textContent = 'deleted';
    }
  };
  const refresh = async () => {
    if (state.gone) return;
    try {
      const answer = await api('GET', vmPath(name));
      state.vm = answer.Vm;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        gone(`VM '${name}' no longer exists: it was deleted. Back to the list: press L or use the VMs link.`);
      } else {
        toast(err.message);
      }
      return;
    }
    if (state.gone) return;
    title.textContent = `${state.vm.name} `;
    const badge = document.createElement('span');
    badge.className = `badge ${state.vm.status}`;
    badge.textContent = state.vm.status;
    title.append(badge);
    main.querySelector('.vm-actions').replaceChildren(...actionButtons(state.vm, async (action) => {
      if (await runAction(state.vm, action, list) && action === 'delete') location.hash = '#/';
    }));
    if (tab === 'overview') overview(section, state.vm);
  };

  refresh().then(() => {
    if (state.gone) return;
    if (tab === 'history') history(section, name, state);
    if (tab === 'graphs') graphs(section, name, state, gone);
  });
  return {
    leave: () => clearInterval(state.timer),
    event: (event) => {
      const mine = state.vm ? event.vm_id === state.vm.id : event.vm_name === name;
      if (!mine) return;
      if (event.kind === 'deleted') {
        gone(`VM '${event.vm_name}' was deleted by ${describeCause(event.cause)} at ${event.at}; ` +
          'nothing here can act on it any more. Back to the list: press L or use the VMs link.');
        return;
      }
      // A state change or an edit: the VM as it now is.
      refresh();
      if (tab === 'history' && state.page === 0 && event.kind === 'state') history(section, name, state);
    },
    resync: refresh,
  };
}

function overview(section, vm) {
  const rows = [
    ['ID', vm.id], ['State', vm.status], ['CPUs', vm.cpu_count], ['RAM', `${vm.ram_mb} MiB`],
    ['PID', vm.pid ?? '—'], ['Description', vm.description ?? ''], ['Display', vm.display],
    ['CPU model', vm.cpu_model ?? 'default'], ['Restart policy', `${vm.restart_policy} (max ${vm.max_restarts} in ${vm.restart_window_secs} s)`],
    ['Stop timeout', vm.stop_timeout_secs ? `${vm.stop_timeout_secs} s` : 'default'],
    ['Autostart', vm.autostart ? 'yes' : 'no'], ['Kernel', vm.kernel ?? ''], ['Initrd', vm.initrd ?? ''],
    ['Command line', vm.cmdline ?? ''], ['Last error', vm.last_error ?? ''], ['Created', vm.created_at],
  ];
  section.replaceChildren(
    definitionList(rows),
    table('Drives', ['ID', 'Interface', 'File', 'Format', 'Media', 'Read-only', 'Cache'],
      vm.drives.map((d) => [d.id, d.interface, d.file_path, d.format, d.media, d.read_only ? 'yes' : 'no', d.cache ?? 'default'])),
    table('Network interfaces', ['ID', 'Type', 'Host device / network', 'MAC', 'Address', 'Forwards'],
      vm.network_interfaces.map((n) => [
        n.id, n.type, n.network_id != null ? `network ${n.network_id}` : (n.host_device ?? ''), n.mac_address,
        n.lease_address ?? n.ip_address ?? (n.type === 'user' ? '' : (vm.ip_addresses ?? []).join(', ')),
        (n.forwards ?? []).map((f) => `${f.protocol}:${f.host_address}:${f.host_port}→${f.guest_port}`).join(' '),
      ])),
    table('Shared directories', ['ID', 'Tag', 'Path', 'Cache', 'Read-only'],
      vm.shared_dirs.map((s) => [s.id, s.tag, s.path, s.cache, s.read_only ? 'yes' : 'no'])),
  );
}

// Newest first, HISTORY_PAGE a page: page n asks for the newest
// (n+1)·HISTORY_PAGE + 1 events and shows its slice (the extra one says
// whether an older page exists).
async function history(section, name, state) {
  let events;
  try {
    const wanted = (state.page + 1) * HISTORY_PAGE + 1;
    events = (await api('GET', `${vmPath(name)}/history?limit=${wanted}`)).History;
  } catch (err) {
    toast(err.message);
    return;
  }
  const newest = events.slice().reverse();
  const rows = newest.slice(state.page * HISTORY_PAGE, (state.page + 1) * HISTORY_PAGE);
  const more = newest.length > (state.page + 1) * HISTORY_PAGE;
  const nav = document.createElement('div');
  nav.className = 'pager';
  const button = (label, enabled, move) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.disabled = !enabled;
    b.onclick = () => { state.page += move; history(section, name, state); };
    return b;
  };
  const where = document.createElement('span');
  where.textContent = `Page ${state.page + 1}`;
  nav.append(button('Newer', state.page > 0, -1), where, button('Older', more, 1));
  section.replaceChildren(
    table('History', ['Seq', 'At', 'From', 'To', 'Cause', 'Reason'],
      rows.map((e) => [e.seq, e.at, e.from, e.to, describeCause(e.cause), e.reason])),
    nav,
  );
}

function graphs(section, name, state, gone) {
  const cpu = new Graph('CPU (% of one host CPU)', (v) => `${v.toFixed(1)} %`);
  const memory = new Graph('Memory (resident, MiB)', (v) => `${v.toFixed(0)} MiB`);
  const note = document.createElement('p');
  note.className = 'note';
  section.replaceChildren(cpu.element, memory.element, note);
  const sample = async () => {
    try {
      const stats = (await api('GET', `${vmPath(name)}/stats`)).VmStats;
      if (!stats.cpu) {
        note.textContent = `No figures: the VM is ${stats.status}.`;
        return;
      }
      note.textContent = `Sampled ${stats.sampled_at}.`;
      if (stats.cpu.percent !== null) cpu.push(stats.cpu.percent);
      if (stats.memory) memory.push(stats.memory.rss_bytes / 1048576);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) gone(`VM '${name}' no longer exists: it was deleted.`);
      else note.textContent = err.message;
    }
  };
  sample();
  state.timer = setInterval(sample, STATS_EVERY_MS);
}

function definitionList(rows) {
  const dl = document.createElement('dl');
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
  return dl;
}

function table(caption, headers, rows) {
  const wrap = document.createElement('div');
  wrap.className = 'scroll';
  const t = document.createElement('table');
  const c = t.createCaption();
  c.textContent = caption;
  const head = t.createTHead().insertRow();
  for (const h of headers) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  const body = t.createTBody();
  if (!rows.length) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = headers.length;
    cell.textContent = 'none';
  }
  for (const r of rows) {
    const tr = body.insertRow();
    for (const v of r) tr.insertCell().textContent = String(v);
  }
  wrap.append(t);
  return wrap;
}
