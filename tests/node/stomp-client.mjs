// Drives Gantry's STOMP endpoint with the npm clients star-graph's spec uses, and prints
// one JSON line describing what happened. Usage:
//   node stomp-client.mjs <ws|websocket|xhr-streaming|xhr-polling> <base http url> <token> [generate|bad-token]
// `ws` is @stomp/stompjs over a plain WebSocket; the others are sockjs-client limited to that transport.
import { Client } from '@stomp/stompjs';
import SockJS from 'sockjs-client';
import WebSocket from 'ws';
import { startOutcome } from './outcome.mjs';

const [transport, base, token, mode = 'generate'] = process.argv.slice(2);
const wsUrl = base.replace(/^http/, 'ws') + '/ws';
const sockjsOptions = { transports: [transport] };
const { outcome, finish } = startOutcome({ transport });

const client = new Client({
  connectHeaders: { Authorization: 'Bearer ' + token },
  reconnectDelay: 0,
  heartbeatIncoming: 10000,
  heartbeatOutgoing: 10000,
  webSocketFactory: () =>
    transport === 'ws' ? new WebSocket(wsUrl, ['v12.stomp', 'v11.stomp', 'v10.stomp']) : new SockJS(base + '/ws', null, sockjsOptions),
  onStompError: (frame) => {
    outcome.errors.push(frame.headers.message);
    client.deactivate();
    finish(mode === 'bad-token' ? 0 : 1);
  },
  onWebSocketClose: () => {
    if (mode === 'bad-token' && outcome.errors.length === 0) {
      outcome.closedWithoutError = true;
      finish(1);
    }
  },
});

client.onConnect = (frame) => {
  outcome.connected = true;
  // sockjs-client names the transport it settled on (undefined for a plain WebSocket).
  outcome.sockjsTransport = client.webSocket && client.webSocket.transport;
  outcome.version = frame.headers.version;
  outcome.user = frame.headers['user-name'];
  client.subscribe('/user/queue/reply', (m) => {
    const reply = JSON.parse(m.body);
    outcome.replies.push(reply);
    if (reply.type === 'generate') {
      client.publish({ destination: '/app/task/status', body: JSON.stringify({ taskId: reply.taskId }) });
    }
  });
  client.subscribe('/user/topic/progress', (m) => outcome.progress.push(JSON.parse(m.body)));
  client.subscribe('/user/topic/result', (m) => {
    outcome.results.push(JSON.parse(m.body));
    client.deactivate().then(() => finish(0));
  });
  client.publish({
    destination: '/app/generate',
    body: JSON.stringify({ type: 'TEXT2IMG', prompt: 'a cat over ' + transport, width: 64, height: 64, steps: 8 }),
  });
};

client.activate();
