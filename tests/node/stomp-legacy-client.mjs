// Drives Gantry's STOMP endpoint with `stompjs` 2.x, a STOMP 1.0/1.1-only client (it offers
// `accept-version:1.1,1.0`), over a plain WebSocket, and prints one JSON line describing
// what happened. Usage: node stomp-legacy-client.mjs <base http url> <token>
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { startOutcome } from './outcome.mjs';

const require = createRequire(import.meta.url);
const Stomp = require('stompjs');

const [base, token] = process.argv.slice(2);
const { outcome, finish } = startOutcome();

const socket = new WebSocket(base.replace(/^http/, 'ws') + '/ws', ['v11.stomp', 'v10.stomp']);
const client = Stomp.over(socket);
client.debug = null;
client.connect(
  { Authorization: 'Bearer ' + token },
  (frame) => {
    outcome.connected = true;
    outcome.version = frame.headers.version;
    outcome.protocol = socket.protocol;
    outcome.user = frame.headers['user-name'];
    client.subscribe('/user/queue/reply', (m) => outcome.replies.push(JSON.parse(m.body)));
    client.subscribe('/user/topic/progress', (m) => outcome.progress.push(JSON.parse(m.body)));
    client.subscribe('/user/topic/result', (m) => {
      outcome.results.push(JSON.parse(m.body));
      client.disconnect(() => finish(0));
    });
    const request = { type: 'TEXT2IMG', prompt: 'a cat over STOMP 1.1', width: 64, height: 64, steps: 8 };
    client.send('/app/generate', { 'content-type': 'application/json' }, JSON.stringify(request));
  },
  (error) => {
    outcome.errors.push(error && error.headers ? error.headers.message : String(error));
    finish(1);
  },
);
