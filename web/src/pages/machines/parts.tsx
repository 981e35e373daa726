// Pieces the machines pages share: the power badge, live power changes, polling, a two-step
// confirm button.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { messages } from '../../i18n';
import { useLive } from '../../live';

const t = messages(
  { confirm: 'Yes, {action}', cancel: 'Cancel', sure: 'Are you sure?' },
  { confirm: '确认{action}', cancel: '取消', sure: '确定吗？' },
);

const powerNames = messages(
  {
    STOPPED: 'Stopped',
    STARTED: 'Running',
    SUSPEND: 'Paused',
    ON_STOP: 'Shutting down',
    ON_OPEN: 'Starting',
    ON_SAVE: 'Saving',
    ON_WAKE: 'Restoring',
    CRASHED: 'Crashed',
    UNKNOWN: 'Unknown',
  },
  {
    STOPPED: '已停止',
    STARTED: '运行中',
    SUSPEND: '已暂停',
    ON_STOP: '关机中',
    ON_OPEN: '启动中',
    ON_SAVE: '保存中',
    ON_WAKE: '恢复中',
    CRASHED: '已崩溃',
    UNKNOWN: '未知',
  },
);

type PowerName = Parameters<typeof powerNames>[0];
const badgeClass: Record<string, string> = {
  STOPPED: 'stopped',
  STARTED: 'running',
  SUSPEND: 'paused',
  ON_STOP: 'busy',
  ON_OPEN: 'starting',
  ON_SAVE: 'busy',
  ON_WAKE: 'busy',
  CRASHED: 'failed',
};

/** A VM's power state as a coloured badge in the chosen language. */
export function PowerBadge({ power }: { power: string }) {
  const known = power in badgeClass || power === 'UNKNOWN';
  return (
    <span class={`badge status-${badgeClass[power] ?? 'unknown'}`} data-testid="vm-power" data-power={power}>
      {known ? powerNames(power as PowerName) : power}
    </span>
  );
}

/** Calls `reload` when the live socket says a VM of `host` (or, given `vm`, that VM) changed power. */
export function useVmStatus(host: string, vm: string | null, reload: () => void) {
  useLive(['vm_status'], (message) => {
    if (message.data.host === host && (vm === null || message.data.vmUuid === vm)) reload();
  });
}

/** Calls `tick` every `ms` while the page is visible (and once more when it becomes visible). */
export function useEvery(ms: number, tick: () => void) {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    const fire = () => {
      if (document.visibilityState === 'visible') latest.current();
    };
    const timer = window.setInterval(fire, ms);
    document.addEventListener('visibilitychange', fire);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', fire);
    };
  }, [ms]);
}


/**
 * A button that asks again before acting: the first press shows the question with a
 * confirming and a cancelling button (no browser dialog), the second runs `onConfirm`.
 */
export function ConfirmButton({
  label,
  question,
  onConfirm,
  busy = false,
  danger = true,
  testid,
  children,
}: {
  label: string;
  question?: string;
  onConfirm: () => void;
  busy?: boolean;
  danger?: boolean;
  testid?: string;
  children?: ComponentChildren;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class={danger ? 'danger' : undefined} disabled={busy} onClick={() => setAsking(true)} data-testid={testid}>
        {label}
      </button>
    );
  }
  return (
    <Confirming
      label={label}
      question={question ?? t('sure')}
      danger={danger}
      busy={busy}
      testid={testid}
      onCancel={() => setAsking(false)}
      onConfirm={() => {
        setAsking(false);
        onConfirm();
      }}
    >
      {children}
    </Confirming>
  );
}

function Confirming(props: {
  label: string;
  question: string;
  danger: boolean;
  busy: boolean;
  testid?: string;
  onCancel: () => void;
  onConfirm: () => void;
  children?: ComponentChildren;
}) {
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => yes.current?.focus(), []);
  return (
    <span class="confirm" role="group" aria-label={props.question}>
      <span>{props.question}</span>
      {props.children}
      <button
        ref={yes}
        type="button"
        class={props.danger ? 'danger' : 'primary'}
        disabled={props.busy}
        onClick={props.onConfirm}
        data-testid={props.testid && `${props.testid}-confirm`}
      >
        {t('confirm', { action: props.label.toLowerCase() })}
      </button>
      <button type="button" onClick={props.onCancel}>
        {t('cancel')}
      </button>
    </span>
  );
}

/** A text input, or a whole-number one with `range`, bound to a string. */
export function Input({
  id,
  value,
  onValue,
  range,
  required,
  testid,
}: {
  id: string;
  value: string;
  onValue: (value: string) => void;
  range?: [number, number];
  required?: boolean;
  testid?: string;
}) {
  return range ? (
    <input id={id} type="number" min={range[0]} max={range[1]} step={1} required={required} value={value} onInput={(e) => onValue(e.currentTarget.value)} data-testid={testid} />
  ) : (
    <input id={id} type="text" required={required} value={value} onInput={(e) => onValue(e.currentTarget.value)} data-testid={testid} />
  );
}
