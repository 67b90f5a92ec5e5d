// A VM's serial console in xterm.js, over a WebSocket relayed exactly like
// `crv vm console`: one client at a time (a second one is refused with
// the daemon's Busy text), the last 64 KiB replayed first.

import { Terminal } from './vendor/xterm/xterm.mjs';
import { vmPath, wsUrl } from './api.js';

export function showConsole(main, name) {
  main.innerHTML = `<h1></h1><p class="console-status" role="status" aria-live="polite">connecting…</p>
    <div class="terminal" aria-label="Serial console"></div>
    <p class="note">Keys go to the guest while the console has focus; Tab stays in the terminal; the VMs link (access key L) leaves it.</p>`;
  main.querySelector('h1').textContent = `${name}: serial console`;
  const status = main.querySelector('.console-status');
  const term = new Terminal({ cursorBlink: true, scrollback: 5000, fontSize: 14, convertEol: false });
  term.open(main.querySelector('.terminal'));
  const socket = new WebSocket(wsUrl(`${vmPath(name)}/console`));
  socket.binaryType = 'arraybuffer';
  const encoder = new TextEncoder();
  socket.onopen = () => { status.textContent = 'attached'; term.focus(); };
  socket.onmessage = (message) => {
    if (message.data instanceof ArrayBuffer) {
      term.write(new Uint8Array(message.data));
      return;
    }
    const data = JSON.parse(message.data);
    status.textContent = data.error ?? data.end ?? '';
    status.className = `console-status ${data.error ? 'error' : ''}`;
  };
  socket.onclose = () => {
    if (status.textContent === 'attached' || status.textContent.startsWith('connecting')) {
      status.textContent = 'the console closed';
    }
  };
  const typing = term.onData((text) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(text));
  });
  window.corvusTerminal = term;
  return {
    leave: () => {
      typing.dispose();
      socket.close();
      term.dispose();
      window.corvusTerminal = null;
    },
  };
}
