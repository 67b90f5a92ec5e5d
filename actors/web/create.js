// Creating a VM from a disk image (`crv vm create NAME --image IMAGE`).

import { api } from './api.js';

export function showCreate(main) {
  main.innerHTML = `<h1>Create a VM from an image</h1>
    <form class="create" novalidate>
      <label>Name <input name="name" required autocomplete="off" pattern="[A-Za-z0-9][A-Za-z0-9._-]*"></label>
      <label>CPUs <input name="cpu_count" type="number" min="1" value="1" required inputmode="numeric"></label>
      <label>RAM (MiB) <input name="ram_mb" type="number" min="16" value="512" required inputmode="numeric"></label>
      <label>Image <select name="image" required><option value="">loading…</option></select></label>
      <label>Disk size (GiB, empty: the image's) <input name="disk_gib" type="number" min="1" inputmode="numeric"></label>
      <label>Description <input name="description" autocomplete="off"></label>
      <fieldset><legend>Access (cloud-init, optional)</legend>
        <label>User <input name="user" autocomplete="username"></label>
        <label>SSH public key <textarea name="ssh_key" rows="2" spellcheck="false" placeholder="ssh-ed25519 AAAA… you@host"></textarea></label>
        <label>Port forward <input name="forward" autocomplete="off" placeholder="tcp:2222:22"></label>
      </fieldset>
      <p class="form-error" role="alert"></p>
      <button type="submit">Create</button>
    </form>`;
  const form = main.querySelector('form');
  const error = form.querySelector('.form-error');
  const select = form.querySelector('select');
  api('GET', '/api/disks').then((answer) => {
    const options = answer.Disks.map((disk) => {
      const option = document.createElement('option');
      option.value = disk.name;
      option.textContent = `${disk.name} (${disk.format}, ${(disk.virtual_size / 1073741824).toFixed(1)} GiB)`;
      return option;
    });
    const none = document.createElement('option');
    none.value = '';
    none.textContent = options.length ? 'choose an image' : 'no disks: add one with `crv disk import`';
    select.replaceChildren(none, ...options);
  }).catch((err) => { error.textContent = err.message; });
  form.onsubmit = async (submit) => {
    submit.preventDefault();
    const data = new FormData(form);
    const body = {
      name: String(data.get('name')).trim(),
      cpu_count: Number(data.get('cpu_count')),
      ram_mb: Number(data.get('ram_mb')),
      image: String(data.get('image')),
      disk_size: data.get('disk_gib') ? Number(data.get('disk_gib')) * 1073741824 : null,
      description: String(data.get('description')),
      user: String(data.get('user')),
      ssh_key: String(data.get('ssh_key')),
      forward: String(data.get('forward')),
    };
    error.textContent = '';
    try {
      const created = await api('POST', '/api/vms', body);
      location.hash = `#/vm/${encodeURIComponent(created.Vm.name)}`;
    } catch (err) {
      error.textContent = err.message;
    }
  };
  return {};
}
