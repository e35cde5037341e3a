import * as React from 'react';

import { IModel, listModels } from '../api';
import { AccessBadge, StateBadge } from '../badges';
import { SxwlContext } from '../context';
import { errorText, formatBytes } from '../format';
import { isShown, usePolling } from '../hooks';
import { ProgressBar } from '../progress';
import { ListCount, ListNotices, RefreshButton } from '../listParts';

export interface IModelListProps {
  onOpen: (id: string) => void;
  onCreate: () => void;
  onImportShared: () => void;
}

/** The user's models and the platform's preset ones, refreshed every few seconds. */
export function ModelList(props: IModelListProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [models, setModels] = React.useState<IModel[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [search, setSearch] = React.useState('');

  const refresh = React.useCallback(async (force = false): Promise<void> => {
    if (!force && !isShown(root.current)) {
      return;
    }
    try {
      setModels(await listModels());
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, []);

  usePolling(() => refresh(), ctx.settings.refreshSeconds * 1000);
  React.useEffect(() => {
    void refresh(true);
  }, [refresh]);

  const needle = search.trim().toLowerCase();
  const shown = (models ?? []).filter(
    m =>
      !needle ||
      m.name.toLowerCase().includes(needle) ||
      (m.family ?? '').toLowerCase().includes(needle)
  );

  return (
    <div className="sxwl-model-list" ref={root} data-testid="sxwl-model-list">
      <div className="sxwl-toolbar">
        <input
          type="search"
          className="jp-mod-styled sxwl-search"
          placeholder="Search models"
          aria-label="Search models by name or family"
          data-testid="sxwl-model-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
        <button
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="sxwl-model-create"
          onClick={props.onCreate}
        >
          Create model
        </button>
      </div>
      <div className="sxwl-toolbar sxwl-toolbar-secondary">
        <button
          className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
          data-testid="sxwl-model-import-shared"
          onClick={props.onImportShared}
        >
          Import by token
        </button>
        <ListCount shown={models === null ? null : shown.length} noun="model" />
        <RefreshButton onRefresh={() => void refresh(true)} />
      </div>
      <ListNotices error={error} empty={models !== null && shown.length === 0}>
        {needle
          ? 'No model matches this search.'
          : 'No models yet. Press "Create model" and import a version.'}
      </ListNotices>
      <ul className="sxwl-rows">
        {shown.map(m => (
          <ModelRow key={m.id} model={m} onOpen={props.onOpen} />
        ))}
      </ul>
    </div>
  );
}

function ModelRow(props: {
  model: IModel;
  onOpen: (id: string) => void;
}): JSX.Element {
  const m = props.model;
  const latest = m.latest;
  const open = (): void => props.onOpen(m.id);
  return (
    <li
      className="sxwl-row"
      data-testid={`sxwl-model-row-${m.name}`}
      data-model-id={m.id}
      role="button"
      tabIndex={0}
      onClick={open}
      onKeyDown={e => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          open();
        }
      }}
    >
      <div className="sxwl-row-head">
        <span className="sxwl-row-name" title={m.description || m.name}>
          {m.name}
        </span>
        {latest && (
          <StateBadge
            state={latest.status}
            label={`v${latest.number} ${latest.status}`}
            testid="sxwl-model-latest"
          />
        )}
        <AccessBadge access={m.access} />
      </div>
      <div className="sxwl-row-meta">
        {m.family && <span title="Family">{m.family}</span>}
        <span title="Versions">
          {m.versions_count} version{m.versions_count === 1 ? '' : 's'}
        </span>
        {latest?.size ? <span>{formatBytes(latest.size)}</span> : null}
        {!latest && <span>no version yet</span>}
      </div>
      {latest?.status === 'importing' && (
        <ProgressBar
          label={`Importing v${latest.number}: ${latest.phase}`}
          done={latest.bytes_done}
          total={latest.bytes_total}
          format={formatBytes}
        />
      )}
    </li>
  );
}
