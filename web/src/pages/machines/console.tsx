// /machines/<host>/<vm>/console: the VM's screen in the page through noVNC, signed in with
// the one-time VNC password of a console ticket, so nobody types one. noVNC (about 300 KB) is
// imported here only, when the view opens, so it gets its own chunk. Tickets are single use
// and short-lived: every connection, reconnections included, asks for a fresh one.
import type { RFB as Rfb } from '@novnc/novnc/lib/rfb.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../../api';
import { messages } from '../../i18n';
import { Page, errorText, useResource } from '../../ui';
import { type ConsoleTicket, type VmStatus, type VmView, consoleOpen, links, paths } from './model';
import { PowerBadge, useEvery, useVmStatus } from './parts';
import { PowerButtons } from './power';

const t = messages(
  {
    title: 'Console · {vm}',
    back: 'Back to the VM',
    loading: 'Loading the console…',
    connecting: 'Connecting…',
    connected: 'Connected',
    disconnected: 'Disconnected',
    lost: 'The connection was lost.',
    closed: 'The console was closed.',
    refused: 'The connection was refused.',
    notRunning: 'The VM is not running.',
    security: 'Authentication failed: {reason}',
    credentials: 'The console asked for credentials Gantry does not have.',
    retrying: 'Reconnecting in a moment…',
    reconnect: 'Reconnect',
    disconnect: 'Disconnect',
    ctrlAltDel: 'Send Ctrl+Alt+Del',
    focus: 'Type into the console',
    fullscreen: 'Full screen',
    screen: 'Screen of {vm}',
    hint: 'Click the screen or use “Type into the console” to send keys to the VM.',
  },
  {
    title: '控制台 · {vm}',
    back: '返回虚拟机',
    loading: '正在加载控制台…',
    connecting: '正在连接…',
    connected: '已连接',
    disconnected: '已断开',
    lost: '连接已中断。',
    closed: '控制台已关闭。',
    refused: '连接被拒绝。',
    notRunning: '虚拟机未运行。',
    security: '认证失败：{reason}',
    credentials: '控制台要求了 Gantry 没有的凭据。',
    retrying: '即将重新连接…',
    reconnect: '重新连接',
    disconnect: '断开',
    ctrlAltDel: '发送 Ctrl+Alt+Del',
    focus: '向控制台输入',
    fullscreen: '全屏',
    screen: '{vm} 的屏幕',
    hint: '点击屏幕或使用“向控制台输入”即可向虚拟机发送按键。',
  },
);

type Phase = 'loading' | 'connecting' | 'connected' | 'disconnected';

interface State {
  phase: Phase;
  /** Why the console is disconnected (shown as it is). */
  reason?: string;
  /** Whether a reconnection is scheduled. */
  retrying?: boolean;
}

/** Consecutive automatic reconnections after a lost connection, before waiting for a click. */
const MAX_RETRIES = 3;

let rfbClass: Promise<typeof Rfb> | null = null;

/** noVNC's RFB class, imported on first use (its own chunk). */
function loadRfb(): Promise<typeof Rfb> {
  rfbClass ??= import('@novnc/novnc/lib/rfb.js').then(
    (module) => module.default.default,
    (error: unknown) => {
      rfbClass = null; // try the download again next time
      throw error;
    },
  );
  return rfbClass;
}

/** The ticket's WebSocket on this page's own origin (the server may name another base). */
function socketUrl(ticket: ConsoleTicket): string {
  const given = new URL(ticket.ws_url, location.href);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${given.pathname}${given.search}`;
}

/** The open connection: noVNC's client, and closing it on purpose. */
interface Session {
  rfb: Rfb;
  close: () => void;
}

/** The embedded screen with its state line and controls. */
function Screen({ host, vm, name, running }: { host: string; vm: string; name: string; running: boolean }) {
  const target = useRef<HTMLDivElement>(null);
  const session = useRef<Session | null>(null);
  const [state, setState] = useState<State>({ phase: 'loading' });
  const [round, setRound] = useState(0);
  const retries = useRef(0);

  useEffect(() => {
    let live = true;
    let timer: number | undefined;
    // noVNC logs an error when a client that has begun disconnecting is told to again.
    let open: Rfb | null = null;
    const close = () => {
      const rfb = open;
      open = null;
      rfb?.disconnect();
    };
    const end = (reason: string, retry: boolean) => {
      if (!live) return;
      session.current = null;
      if (retry && retries.current < MAX_RETRIES) {
        retries.current += 1;
        setState({ phase: 'disconnected', reason, retrying: true });
        timer = window.setTimeout(() => setRound((r) => r + 1), 1000 * retries.current);
      } else {
        setState({ phase: 'disconnected', reason });
      }
    };
    (async () => {
      const RFB = await loadRfb();
      if (!live || !target.current) return;
      setState({ phase: 'connecting' });
      const ticket = await get<ConsoleTicket>(paths.client('vncons', host, vm));
      if (!live || !target.current) return;
      let connected = false;
      let failure: string | null = null;
      const rfb = new RFB(target.current, socketUrl(ticket), { credentials: { password: ticket.password } });
      open = rfb;
      rfb.scaleViewport = true;
      rfb.background = '#000';
      session.current = {
        rfb,
        close: () => {
          failure = t('closed');
          close();
        },
      };
      rfb.addEventListener('connect', () => {
        connected = true;
        retries.current = 0;
        if (live) setState({ phase: 'connected' });
      });
      rfb.addEventListener('securityfailure', (e) => {
        failure = t('security', { reason: e.detail.reason ?? String(e.detail.status) });
      });
      rfb.addEventListener('credentialsrequired', () => {
        failure = t('credentials');
        close();
      });
      rfb.addEventListener('disconnect', (e) => {
        open = null;
        if (!live) return;
        if (failure) return end(failure, false);
        if (!connected) return end(t('refused'), false);
        // A console that was up and went away: say why when the VM stopped, else try again.
        get<VmStatus>(paths.client('status', host, vm)).then(
          (s) => (consoleOpen(s.power) ? end(e.detail.clean ? t('closed') : t('lost'), true) : end(t('notRunning'), false)),
          (error: unknown) => end(errorText(error), false),
        );
      });
    })().catch((error: unknown) => end(errorText(error), false));
    return () => {
      live = false;
      window.clearTimeout(timer);
      session.current = null;
      close();
    };
  }, [host, vm, round]);

  const reconnect = () => {
    retries.current = 0;
    setState({ phase: 'connecting' });
    setRound((r) => r + 1);
  };
  // A VM started from this page: connect once it runs.
  const wasRunning = useRef(running);
  useEffect(() => {
    if (running && !wasRunning.current && state.phase === 'disconnected') reconnect();
    wasRunning.current = running;
  }, [running]);
  const phaseText = { loading: t('loading'), connecting: t('connecting'), connected: t('connected'), disconnected: t('disconnected') }[state.phase];
  const up = state.phase === 'connected';
  return (
    <div class="console">
      <div class="row spread console-bar">
        <p class="console-state" role="status" data-testid="console-state" data-state={state.phase}>
          <span class={`badge status-${up ? 'running' : state.phase === 'disconnected' ? 'stopped' : 'starting'}`}>{phaseText}</span>
          {state.reason && <span>{state.reason}</span>}
          {state.retrying && <span class="muted">{t('retrying')}</span>}
        </p>
        <div class="actions">
          <button type="button" disabled={!up} onClick={() => session.current?.rfb.focus()}>
            {t('focus')}
          </button>
          <button type="button" disabled={!up} onClick={() => session.current?.rfb.sendCtrlAltDel()}>
            {t('ctrlAltDel')}
          </button>
          <button type="button" disabled={!up} onClick={() => void target.current?.requestFullscreen()}>
            {t('fullscreen')}
          </button>
          {up ? (
            <button type="button" onClick={() => session.current?.close()} data-testid="console-disconnect">
              {t('disconnect')}
            </button>
          ) : (
            <button type="button" class="primary" disabled={state.phase !== 'disconnected'} onClick={reconnect} data-testid="console-reconnect">
              {t('reconnect')}
            </button>
          )}
        </div>
      </div>
      <div ref={target} class="console-screen" role="application" aria-label={t('screen', { vm: name })} data-testid="console-screen" />
      <p class="muted">{t('hint')}</p>
    </div>
  );
}

export function Console({ host, vm }: { host: string; vm: string }) {
  const detail = useResource(() => get<VmView>(paths.client('detail', host, vm)), [host, vm]);
  const status = useResource(() => get<VmStatus>(paths.client('status', host, vm)), [host, vm]);
  useVmStatus(host, vm, status.reload);
  useEvery(10000, status.reload);
  const name = detail.data ? detail.data.vm_name || detail.data.vm_uuid : vm;
  const power = status.data?.power;
  return (
    <Page
      title={t('title', { vm: name })}
      actions={
        <>
          {power && <PowerBadge power={power} />}
          <a href={links.vm(host, vm)}>{t('back')}</a>
        </>
      }
    >
      {power && <PowerButtons host={host} vm={vm} power={power} onDone={(s) => status.set(s)} />}
      <Screen host={host} vm={vm} name={name} running={power === undefined || consoleOpen(power)} />
    </Page>
  );
}
