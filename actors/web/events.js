// The live event stream: one WebSocket, reopened after a drop (a daemon
// restart, say) from the last event seen (`since`), so nothing is missed;
// the page is told to resync its list after each reopening.

import { wsUrl } from './api.js';

export class EventFeed {
  constructor({ onEvent, onResync, onStatus }) {
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onStatus = onStatus;
    this.lastSeq = null;
    this.delay = 250;
    this.opened = false;
    this.connect();
  }

  connect() {
    const since = this.lastSeq === null ? '' : `?since=${this.lastSeq}`;
    const socket = new WebSocket(wsUrl(`/api/events${since}`));
    this.socket = socket;
    socket.onopen = () => {
      this.delay = 250;
      this.onStatus('live', 'live');
      if (this.opened) this.onResync();
      this.opened = true;
    };
    socket.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.event) {
        this.lastSeq = data.event.seq;
        this.onEvent(data.event);
      } else if (data.lagged !== undefined) {
        // Events were dropped for this page: the list is reloaded instead.
        this.onResync();
      } else if (data.error) {
        this.onStatus('error', data.error);
      }
    };
    socket.onclose = () => {
      this.onStatus('down', 'reconnecting…');
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 5000);
    };
  }
}
