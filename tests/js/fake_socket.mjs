// The Worker's end of a shard socket, for the relay tests (relay.test.mjs, tmcp_mesh.test.mjs): it
// records accept and close, and delivers messages as binary frames, as a shard sends them.
const encoder = new TextEncoder();

export class FakeSocket extends EventTarget {
  constructor() {
    super();
    this.accepted = false;
    this.closed = null;
  }
  accept() {
    this.accepted = true;
  }
  close(code, reason) {
    this.closed ??= [code, reason];
  }
  deliver(text) {
    const event = new Event('message');
    event.data = encoder.encode(text).buffer;
    this.dispatchEvent(event);
  }
  end() {
    this.dispatchEvent(new Event('close'));
  }
}
