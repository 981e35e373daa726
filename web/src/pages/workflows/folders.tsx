// The folder tree beside the workflow list: pick one to list its workflows, make a folder
// inside the chosen one, rename or delete the chosen one (its contents move to the top).
import { useState } from 'preact/hooks';
import { del, post, put, query } from '../../api';
import { formatNumber, messages } from '../../i18n';
import { ErrorNote, Field, useAction } from '../../ui';
import type { Folder } from './model';

const t = messages(
  {
    title: 'Folders',
    all: 'All workflows',
    newFolder: 'New folder name',
    inside: 'New folder inside {name}',
    add: 'Add folder',
    renameTo: 'New name for {name}',
    apply: 'Rename folder',
    remove: 'Delete folder',
    confirmRemove: 'Delete the folder “{name}”? Its workflows and folders move to the top level.',
  },
  {
    title: '文件夹',
    all: '全部工作流',
    newFolder: '新文件夹名称',
    inside: '在 {name} 中新建文件夹',
    add: '添加文件夹',
    renameTo: '{name} 的新名称',
    apply: '重命名文件夹',
    remove: '删除文件夹',
    confirmRemove: '删除文件夹“{name}”？其中的工作流和文件夹会移到顶层。',
  },
);

function Branch({ folders, parent, current, onSelect }: { folders: Folder[]; parent: string | null; current: string; onSelect: (id: string) => void }) {
  const here = folders.filter((f) => f.parentId === parent);
  if (!here.length) return null;
  return (
    <ul>
      {here.map((f) => (
        <li key={f.id}>
          <button type="button" class="link" aria-current={current === f.id ? 'true' : undefined} onClick={() => onSelect(f.id)}>
            {f.name} <span class="muted">({formatNumber(f.workflowCount)})</span>
          </button>
          <Branch folders={folders} parent={f.id} current={current} onSelect={onSelect} />
        </li>
      ))}
    </ul>
  );
}

export function Folders({ folders, current, onSelect, onChanged }: { folders: Folder[]; current: string; onSelect: (id: string) => void; onChanged: () => void }) {
  const [name, setName] = useState('');
  const [renaming, setRenaming] = useState('');
  const chosen = folders.find((f) => f.id === current);
  const create = useAction(async () => {
    await post('/api/v1/folders', { name, parentId: current || null });
    setName('');
    onChanged();
  });
  const rename = useAction(async () => {
    if (!chosen) return;
    await put(`/api/v1/folders/${encodeURIComponent(chosen.id)}`, { name: renaming });
    setRenaming('');
    onChanged();
  });
  const remove = useAction(async () => {
    if (!chosen || !confirm(t('confirmRemove', { name: chosen.name }))) return;
    await del(`/api/v1/folders/${encodeURIComponent(chosen.id)}${query({ moveWorkflowsTo: 'root' })}`);
    onSelect('');
    onChanged();
  });
  return (
    <nav class="card wf-folders" aria-labelledby="wf-folders-title">
      <h2 id="wf-folders-title">{t('title')}</h2>
      <button type="button" class="link" aria-current={current === '' ? 'true' : undefined} onClick={() => onSelect('')}>
        {t('all')}
      </button>
      <Branch folders={folders} parent={null} current={current} onSelect={onSelect} />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void create.run();
        }}
      >
        <Field label={chosen ? t('inside', { name: chosen.name }) : t('newFolder')}>
          {(id) => <input id={id} value={name} required onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <button type="submit" disabled={create.busy}>
          {t('add')}
        </button>
        <ErrorNote error={create.error} />
      </form>
      {chosen && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void rename.run();
          }}
        >
          <Field label={t('renameTo', { name: chosen.name })}>{(id) => <input id={id} value={renaming} required onInput={(e) => setRenaming(e.currentTarget.value)} />}</Field>
          <div class="actions">
            <button type="submit" disabled={rename.busy}>
              {t('apply')}
            </button>
            <button type="button" class="danger" disabled={remove.busy} onClick={() => void remove.run()}>
              {t('remove')}
            </button>
          </div>
          <ErrorNote error={rename.error ?? remove.error} />
        </form>
      )}
    </nav>
  );
}
