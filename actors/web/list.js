// The VM list: one row per VM, kept current by events (no reload, no
// polling): a row appears when a VM is defined, goes when it is deleted,
// and follows its state changes and edits; the last state change's cause
// and reason show on hover and focus.

import { api, vmPath } from './api.js';
import { runAction, actionButtons, describeCause } from './detail.js';

export class VmList {
  constructor() {
    this.vms = new Map();       // id -> VmInfo
    this.started = new Map();   // id -> ms since epoch the QEMU started
    this.lastEvent = new Map(); // id -> VmEvent (state changes only)
    this.deleted = new Set();   // ids whose deletion this page has seen
    this.table = null;
    this.loaded = this.reload();
    setInterval(() => this.tickUptime(), 1000);
  }

  async reload() {
    const [vms, stats] = await Promise.all([
      api('GET', '/api/vms'),
      api('GET', '/api/stats').catch(() => ({ AllStats: [] })),
    ]);
    this.vms = new Map(vms.Vms.map((vm) => [vm.id, vm]));
    const now = Date.now();
    this.started = new Map();
    for (const s of stats.AllStats) {
      if (s.uptime_secs !== null && s.uptime_secs !== undefined) this.started.set(s.vm_id, now - s.uptime_secs * 1000);
    }
    this.render();
    // The last event of each VM, for the hover text (bounded: a long list
    // gets it from live events only).
    if (this.vms.size <= 100) {
      await Promise.all([...this.vms.values()].map(async (vm) => {
        try {
          const history = await api('GET', `${vmPath(vm.id)}/history?limit=1`);
          const last = history.History.at(-1);
          if (last && !this.lastEvent.has(vm.id)) {
            this.lastEvent.set(vm.id, last);
            this.renderRow(vm.id);
          }
        } catch {
          // The VM went away meanwhile: the next reload drops it.
        }
      }));
    }
  }

  apply(event) {
    window.corvusApplied = window.corvusApplied ?? {};
    const applied = () => { window.corvusApplied[event.seq] = performance.timeOrigin + performance.now(); };
    if (event.kind === 'deleted') {
      this.deleted.add(event.vm_id);
      this.lastEvent.delete(event.vm_id);
      this.started.delete(event.vm_id);
      this.forget(event.vm_id);
      applied();
      return;
    }
    if (event.kind === 'defined' || event.kind === 'edited') {
      this.deleted.delete(event.vm_id);
      this.refreshVm(event.vm_id).then(applied);
      return;
    }
    this.lastEvent.set(event.vm_id, event);
    const vm = this.vms.get(event.vm_id);
    if (!vm) {
      // A VM this page has not seen yet: created elsewhere.
      this.reload();
      return;
    }
    vm.status = event.to;
    if (event.to === 'starting' || (event.to === 'running' && !this.started.has(vm.id))) {
      this.started.set(vm.id, Date.parse(event.at));
    }
    if (event.to === 'stopped' || event.to === 'error') {
      this.started.delete(vm.id);
      vm.pid = null;
    }
    this.renderRow(vm.id);
    applied();
    // The PID and other runtime fields come with a fresh look at the VM.
    api('GET', vmPath(vm.id)).then((fresh) => {
      const known = this.vms.get(vm.id);
      if (known) {
        fresh.Vm.status = known.status;
        this.vms.set(vm.id, fresh.Vm);
        this.renderRow(vm.id);
      }
    }).catch(() => {});
  }

  // A VM defined or edited elsewhere: its row, as the daemon has it now
  // (unless its deletion overtook the answer).
  async refreshVm(id) {
    try {
      const fresh = (await api('GET', vmPath(id))).Vm;
      if (this.deleted.has(id)) return;
      this.vms.set(id, fresh);
      this.renderRow(id);
    } catch {
      // Deleted meanwhile: its own event removes it.
    }
  }

  forget(id) {
    this.vms.delete(id);
    this.render();
  }

  show(main) {
    main.innerHTML = '<h1>Virtual machines</h1><div class="scroll"><table class="vms">' +
      '<caption class="sr">Virtual machines; hover or focus a state for the last change</caption><thead><tr>' +
      '<th scope="col">Name</th><th scope="col">State</th><th scope="col">CPUs</th>' +
      '<th scope="col">RAM</th><th scope="col">PID</th><th scope="col">Restart</th>' +
      '<th scope="col">Uptime</th><th scope="col">Actions</th></tr></thead><tbody></tbody></table></div>' +
      '<p class="empty" hidden>No VMs yet: <a href="#/create">create one</a>.</p>';
    this.table = main.querySelector('tbody');
    this.empty = main.querySelector('.empty');
    this.render();
    return { leave: () => { this.table = null; } };
  }

  render() {
    if (!this.table) return;
    this.table.replaceChildren(...[...this.vms.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((vm) => this.row(vm)));
    this.empty.hidden = this.vms.size > 0;
    if (!performance.getEntriesByName('corvus-list-rendered').length && this.vms.size > 0) {
      performance.mark('corvus-list-rendered');
    }
  }

  renderRow(id) {
    if (!this.table) return;
    const old = this.table.querySelector(`tr[data-id="${id}"]`);
    const vm = this.vms.get(id);
    if (old && vm) {
      const focused = old.contains(document.activeElement) ? document.activeElement.dataset.action : null;
      const fresh = this.row(vm);
      old.replaceWith(fresh);
      if (focused) fresh.querySelector(`[data-action="${focused}"]`)?.focus();
    } else {
      this.render();
    }
  }

  row(vm) {
    const tr = document.createElement('tr');
    tr.dataset.id = vm.id;
    tr.dataset.name = vm.name;
    const cell = (text, cls) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
      return td;
    };
    const name = document.createElement('a');
    name.href = `#/vm/${encodeURIComponent(vm.name)}`;
    name.textContent = vm.name;
    cell('').append(name);
    const state = cell('', 'state');
    const badge = document.createElement('span');
    badge.className = `badge ${vm.status}`;
    badge.textContent = vm.status;
    badge.tabIndex = 0;
    const last = this.lastEvent.get(vm.id);
    if (last) {
      const why = `${last.from} → ${last.to}: ${describeCause(last.cause)}${last.reason ? ` — ${last.reason}` : ''} (${last.at})`;
      badge.title = why;
      badge.setAttribute('aria-label', `${vm.status}; last change ${why}`);
    }
    state.append(badge);
    cell(String(vm.cpu_count), 'num');
    cell(`${vm.ram_mb} MiB`, 'num');
    cell(vm.pid ?? '—', 'num pid');
    cell(vm.restart_policy);
    cell(uptime(this.started.get(vm.id)), 'num uptime');
    const actions = cell('', 'actions');
    actions.append(...actionButtons(vm, (action) => runAction(vm, action, this)));
    return tr;
  }

  tickUptime() {
    if (!this.table) return;
    for (const tr of this.table.querySelectorAll('tr')) {
      tr.querySelector('.uptime').textContent = uptime(this.started.get(Number(tr.dataset.id)));
    }
  }
}

function uptime(since) {
  if (since === undefined) return '—';
  let secs = Math.max(0, Math.floor((Date.now() - since) / 1000));
  const d = Math.floor(secs / 86400); secs %= 86400;
  const h = Math.floor(secs / 3600); secs %= 3600;
  const m = Math.floor(secs / 60); secs %= 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${secs}s`;
}
