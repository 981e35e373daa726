// The machines area (admins): hosts, their VMs, a VM's console, the audit log and task
// records. Addresses: /machines, /machines/<host>, /machines/<host>/<vm>,
// /machines/<host>/<vm>/console, /machines/-/audit, /machines/-/tasks ("-" is never a host
// name, which starts with a letter or digit).
import { Route, Router, useRoute } from 'preact-iso';
import { isAdmin } from '../../api';
import { messages } from '../../i18n';
import { Page } from '../../ui';
import { Console } from './console';
import { Home } from './home';
import { Host } from './host';
import { AuditLog, TaskRecords } from './records';
import { Vm } from './vm';

const t = messages(
  { title: 'Virtual machines', admins: 'Only administrators manage virtual machines.' },
  { title: '虚拟机', admins: '只有管理员可以管理虚拟机。' },
);

function HostRoute() {
  const { params } = useRoute();
  return <Host host={params.host} />;
}

function VmRoute() {
  const { params } = useRoute();
  return <Vm host={params.host} vm={params.vm} />;
}

function ConsoleRoute() {
  const { params } = useRoute();
  return <Console host={params.host} vm={params.vm} />;
}

export function Machines() {
  if (!isAdmin()) {
    return (
      <Page title={t('title')}>
        <p class="note error">{t('admins')}</p>
      </Page>
    );
  }
  return (
    <div class="machines">
      <Router>
        <Route path="/" component={Home} />
        <Route path="/-/audit" component={AuditLog} />
        <Route path="/-/tasks" component={TaskRecords} />
        <Route path="/:host" component={HostRoute} />
        <Route path="/:host/:vm" component={VmRoute} />
        <Route path="/:host/:vm/console" component={ConsoleRoute} />
      </Router>
    </div>
  );
}
