// The caller's workflows: folders beside them, a search and tag filter, and per workflow
// favourite, enable, duplicate, export and delete; new workflows and imports.
import { useEffect, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, del, get, post, put, query } from '../../api';
import { formatNumber, formatTime, messages } from '../../i18n';
import { Empty, ErrorNote, Field, Loaded, Page, Pager, useAction, useResource } from '../../ui';
import { Folders } from './folders';
import { type Folder, type WorkflowSummary, downloadJson } from './model';

const t = messages(
  {
    title: 'Workflows',
    executions: 'Executions',
    create: 'New workflow',
    import: 'Import',
    search: 'Search',
    tags: 'Tags',
    tagsHint: 'Workflows with any of these tags (comma-separated).',
    name: 'Name',
    steps: 'Steps',
    modified: 'Modified',
    enabled: 'Enabled',
    actions: 'Actions',
    favorite: 'Favourite',
    favoriteOn: 'Add {name} to favourites',
    favoriteOff: 'Remove {name} from favourites',
    enable: 'Enabled: {name}',
    duplicate: 'Duplicate',
    export: 'Export',
    remove: 'Delete',
    confirmRemove: 'Delete the workflow “{name}”? Its execution history stays.',
    filterTag: 'Show workflows tagged {tag}',
    newName: 'Name of the new workflow',
    createIt: 'Create and edit',
    cancel: 'Cancel',
    file: 'Workflow file (JSON or ZIP)',
    override: 'Replace workflows with the same name',
    importIt: 'Import file',
    imported: 'Imported: {names}',
    skipped: 'Skipped {name}: {reason}',
    failed: '{name}: {error}',
    total: '{n} workflow(s)',
    none: 'No workflows here yet.',
    nextRun: 'next run {time}',
  },
  {
    title: '工作流',
    executions: '执行记录',
    create: '新建工作流',
    import: '导入',
    search: '搜索',
    tags: '标签',
    tagsHint: '带有其中任一标签的工作流（用逗号分隔）。',
    name: '名称',
    steps: '步骤',
    modified: '修改时间',
    enabled: '启用',
    actions: '操作',
    favorite: '收藏',
    favoriteOn: '收藏 {name}',
    favoriteOff: '取消收藏 {name}',
    enable: '启用：{name}',
    duplicate: '复制',
    export: '导出',
    remove: '删除',
    confirmRemove: '删除工作流“{name}”？其执行记录会保留。',
    filterTag: '只看标签为 {tag} 的工作流',
    newName: '新工作流名称',
    createIt: '创建并编辑',
    cancel: '取消',
    file: '工作流文件（JSON 或 ZIP）',
    override: '替换同名工作流',
    importIt: '导入文件',
    imported: '已导入：{names}',
    skipped: '已跳过 {name}：{reason}',
    failed: '{name}：{error}',
    total: '共 {n} 个工作流',
    none: '这里还没有工作流。',
    nextRun: '下次运行 {time}',
  },
);

const PAGE = 50;

interface ImportReport {
  imported: { workflowId: string; name: string }[];
  skipped: { name: string; reason: string }[];
  errors: { filename: string; error: string }[];
}

function NewWorkflow({ folderId, onCancel }: { folderId: string; onCancel: () => void }) {
  const { route } = useLocation();
  const [name, setName] = useState('');
  const create = useAction(async () => {
    const steps = [{ id: 'trigger_manual-1', moduleId: 'trigger_manual', indentationLevel: 0, parameters: {} }];
    const made = await post<{ id: string }>('/api/v1/workflows', { name, folderId: folderId || null, steps });
    route(`/workflows/${encodeURIComponent(made.id)}`);
  });
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void create.run();
      }}
    >
      <Field label={t('newName')}>{(id) => <input id={id} value={name} required autoFocus data-testid="new-name" onInput={(e) => setName(e.currentTarget.value)} />}</Field>
      <ErrorNote error={create.error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={create.busy} data-testid="create">
          {t('createIt')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}

function Import({ folderId, onDone }: { folderId: string; onDone: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [override, setOverride] = useState(false);
  const [report, setReport] = useState<ImportReport | null>(null);
  const send = useAction(async () => {
    if (!file) return;
    const form = new FormData();
    form.set('file', file);
    form.set('override', String(override));
    if (folderId) form.set('folderId', folderId);
    setReport(await api<ImportReport>('POST', '/api/v1/workflows/import', form));
    onDone();
  });
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        void send.run();
      }}
    >
      <Field label={t('file')}>{(id) => <input id={id} type="file" required accept=".json,.zip,application/json,application/zip" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />}</Field>
      <label class="row">
        <input type="checkbox" checked={override} onChange={(e) => setOverride(e.currentTarget.checked)} />
        {t('override')}
      </label>
      <ErrorNote error={send.error} />
      {report && (
        <div role="status">
          {report.imported.length > 0 && <p class="note ok">{t('imported', { names: report.imported.map((w) => w.name).join(', ') })}</p>}
          {report.skipped.map((s) => (
            <p key={s.name} class="note error">
              {t('skipped', { name: s.name, reason: s.reason })}
            </p>
          ))}
          {report.errors.map((e) => (
            <p key={e.filename} class="note error">
              {t('failed', { name: e.filename, error: e.error })}
            </p>
          ))}
        </div>
      )}
      <button type="submit" class="primary" disabled={send.busy || !file}>
        {t('importIt')}
      </button>
    </form>
  );
}

function Row({ w, onChanged, onTag }: { w: WorkflowSummary; onChanged: () => void; onTag: (tag: string) => void }) {
  const path = `/api/v1/workflows/${encodeURIComponent(w.id)}`;
  // The enable switch shows a change at once, until the reloaded list or a refusal settles it.
  const [enabling, setEnabling] = useState<boolean | null>(null);
  useEffect(() => setEnabling(null), [w.isEnabled]);
  const enabled = enabling ?? w.isEnabled;
  const act = useAction(async (what: 'favorite' | 'enable' | 'duplicate' | 'export' | 'delete') => {
    if (what === 'favorite') await put(path, { isFavorite: !w.isFavorite });
    if (what === 'enable') {
      setEnabling(!enabled);
      await post(`${path}/${enabled ? 'disable' : 'enable'}`).catch((error: unknown) => {
        setEnabling(null);
        throw error;
      });
    }
    if (what === 'duplicate') await post(`${path}/duplicate`);
    if (what === 'export') {
      downloadJson(`${w.name.replace(/[^\p{L}\p{N}._-]+/gu, '_') || 'workflow'}.json`, await get(`${path}/export`));
      return;
    }
    if (what === 'delete') {
      if (!confirm(t('confirmRemove', { name: w.name }))) return;
      await del(path);
    }
    onChanged();
  });
  return (
    <tr data-testid={`workflow-${w.id}`}>
      <td>
        <button
          type="button"
          class="link wf-star"
          aria-pressed={w.isFavorite}
          aria-label={t(w.isFavorite ? 'favoriteOff' : 'favoriteOn', { name: w.name })}
          title={t('favorite')}
          disabled={act.busy}
          onClick={() => void act.run('favorite')}
        >
          {w.isFavorite ? '★' : '☆'}
        </button>
      </td>
      <td class="wf-wide">
        <a href={`/workflows/${encodeURIComponent(w.id)}`}>{w.name}</a>
        {w.description && <div class="muted">{w.description}</div>}
        {enabled && w.nextRunAt != null && (
          <div class="muted" data-testid="next-run">
            {t('nextRun', { time: formatTime(w.nextRunAt) })}
          </div>
        )}
        {w.tags.length > 0 && (
          <div class="row wf-tags">
            {w.tags.map((tag) => (
              <button key={tag} type="button" class="badge" title={t('filterTag', { tag })} onClick={() => onTag(tag)}>
                {tag}
              </button>
            ))}
          </div>
        )}
        <ErrorNote error={act.error} />
      </td>
      <td data-label={t('enabled')}>
        <input type="checkbox" role="switch" aria-label={t('enable', { name: w.name })} checked={enabled} disabled={act.busy} onChange={() => void act.run('enable')} />
      </td>
      <td class="num" data-label={t('steps')}>
        {formatNumber(w.stepCount)}
      </td>
      <td data-label={t('modified')}>{formatTime(w.modifiedAt)}</td>
      <td class="wf-wide">
        <div class="actions">
          <button type="button" disabled={act.busy} onClick={() => void act.run('duplicate')}>
            {t('duplicate')}
          </button>
          <button type="button" disabled={act.busy} onClick={() => void act.run('export')}>
            {t('export')}
          </button>
          <button type="button" class="danger" disabled={act.busy} onClick={() => void act.run('delete')}>
            {t('remove')}
          </button>
        </div>
      </td>
    </tr>
  );
}

export function WorkflowList() {
  const [folderId, setFolderId] = useState('');
  const [search, setSearch] = useState('');
  const [tags, setTags] = useState('');
  const [offset, setOffset] = useState(0);
  const [panel, setPanel] = useState<'' | 'create' | 'import'>('');
  const folders = useResource(() => get<{ folders: Folder[] }>('/api/v1/folders'));
  const list = useResource(
    () => get<{ workflows: WorkflowSummary[]; total: number }>(`/api/v1/workflows${query({ folderId, search, tags, limit: PAGE, offset })}`),
    [folderId, search, tags, offset],
  );
  const reload = () => {
    list.reload();
    folders.reload();
  };
  const filter = (apply: () => void) => {
    apply();
    setOffset(0);
  };
  return (
    <Page
      title={t('title')}
      actions={
        <>
          <a href="/workflows/executions">{t('executions')}</a>
          <button type="button" onClick={() => setPanel(panel === 'import' ? '' : 'import')} aria-expanded={panel === 'import'}>
            {t('import')}
          </button>
          <button type="button" class="primary" data-testid="new-workflow" onClick={() => setPanel('create')} aria-expanded={panel === 'create'}>
            {t('create')}
          </button>
        </>
      }
    >
      {panel === 'create' && <NewWorkflow folderId={folderId} onCancel={() => setPanel('')} />}
      {panel === 'import' && <Import folderId={folderId} onDone={reload} />}
      <div class="wf-list">
        <Loaded resource={folders}>{(f) => <Folders folders={f.folders} current={folderId} onSelect={(id) => filter(() => setFolderId(id))} onChanged={reload} />}</Loaded>
        <div>
          <div class="row wf-filters">
            <Field label={t('search')}>{(id) => <input id={id} type="search" value={search} onInput={(e) => filter(() => setSearch(e.currentTarget.value))} />}</Field>
            <Field label={t('tags')} hint={t('tagsHint')}>
              {(id) => <input id={id} value={tags} onInput={(e) => filter(() => setTags(e.currentTarget.value))} />}
            </Field>
          </div>
          <Loaded resource={list}>
            {(data) =>
              data.workflows.length === 0 ? (
                <Empty>{t('none')}</Empty>
              ) : (
                <>
                  <p class="muted">{t('total', { n: data.total })}</p>
                  <div class="table-wrap">
                    <table class="wf-stack" data-testid="workflows">
                      <thead>
                        <tr>
                          <th>
                            <span class="sr-only">{t('favorite')}</span>
                          </th>
                          <th>{t('name')}</th>
                          <th>{t('enabled')}</th>
                          <th class="num">{t('steps')}</th>
                          <th>{t('modified')}</th>
                          <th>{t('actions')}</th>
                        </tr>
                      </thead>
                      <tbody>
                        {data.workflows.map((w) => (
                          <Row key={w.id} w={w} onChanged={reload} onTag={(tag) => filter(() => setTags(tag))} />
                        ))}
                      </tbody>
                    </table>
                  </div>
                  <Pager page={offset / PAGE + 1} pages={Math.ceil(data.total / PAGE)} onPage={(p) => setOffset((p - 1) * PAGE)} />
                </>
              )
            }
          </Loaded>
        </div>
      </div>
    </Page>
  );
}
