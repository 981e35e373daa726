// A VM's power buttons: the actions that fit its state (the server refuses the others too).
// Shutdown and reboot wait for the guest, so the request may take a while; the buttons say so.
import { useState } from 'preact/hooks';
import { post } from '../../api';
import { messages } from '../../i18n';
import { ErrorNote, useAction } from '../../ui';
import { type PowerResult, type VmStatus, paths } from './model';
import { ConfirmButton } from './parts';

const t = messages(
  {
    start: 'Start',
    shutdown: 'Shut down',
    reboot: 'Reboot',
    pause: 'Pause',
    resume: 'Resume',
    stop: 'Power off',
    reset: 'Reset',
    stopQuestion: 'Cut the power? The guest does not get to shut down.',
    resetQuestion: 'Reset the VM hard? Unsaved guest data is lost.',
    working: 'Working…',
    forced: 'The guest did not shut down in time and was powered off.',
    actions: 'Power actions',
  },
  {
    start: '启动',
    shutdown: '关机',
    reboot: '重启',
    pause: '暂停',
    resume: '恢复',
    stop: '强制断电',
    reset: '强制重置',
    stopQuestion: '确定强制断电？客户机不会正常关机。',
    resetQuestion: '确定强制重置？客户机中未保存的数据会丢失。',
    working: '执行中…',
    forced: '客户机未能按时关机，已被强制断电。',
    actions: '电源操作',
  },
);

type Action = 'start' | 'shutdown' | 'reboot' | 'pause' | 'resume' | 'stop' | 'reset';

/** The gentle actions offered in each state; power off and reset are offered while a process may run. */
const gentle: Record<string, Action[]> = {
  STOPPED: ['start'],
  CRASHED: ['start'],
  STARTED: ['shutdown', 'reboot', 'pause'],
  SUSPEND: ['resume'],
};
const hard: Record<string, Action[]> = {
  STOPPED: [],
  STARTED: ['stop', 'reset'],
};

/** The buttons for `power`; `onDone` gets the VM's status after an action. */
export function PowerButtons({ host, vm, power, onDone }: { host: string; vm: string; power: string; onDone: (status: VmStatus) => void }) {
  const [forced, setForced] = useState(false);
  const act = useAction(async (action: Action) => {
    setForced(false);
    const result = await post<PowerResult>(paths.client('powers', host, vm), { action });
    setForced(result.forced);
    onDone(result.status);
  });
  const hardOnes = hard[power] ?? ['stop'];
  return (
    <div class="actions" role="group" aria-label={t('actions')}>
      {(gentle[power] ?? []).map((action) => (
        <button
          key={action}
          type="button"
          class={action === 'start' || action === 'resume' ? 'primary' : undefined}
          disabled={act.busy}
          onClick={() => void act.run(action)}
          data-testid={`vm-${action}`}
        >
          {t(action)}
        </button>
      ))}
      {hardOnes.map((action) => (
        <ConfirmButton
          key={action}
          label={t(action)}
          question={action === 'stop' ? t('stopQuestion') : t('resetQuestion')}
          busy={act.busy}
          onConfirm={() => void act.run(action)}
          testid={`vm-${action}`}
        />
      ))}
      {act.busy && (
        <span class="muted" role="status">
          {t('working')}
        </span>
      )}
      {forced && (
        <p class="note error" role="status">
          {t('forced')}
        </p>
      )}
      <ErrorNote error={act.error} />
    </div>
  );
}
