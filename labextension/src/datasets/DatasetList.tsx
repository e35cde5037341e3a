import * as React from 'react';

import { IDataset, listDatasets } from '../api';
import { AccessBadge } from '../badges';
import { SxwlContext } from '../context';
import { errorText, formatBytes } from '../format';
import { isShown, usePolling } from '../hooks';
import { ProgressBar } from '../progress';
import { annotationLabel } from './annotation';
import { ListCount, ListNotices, RefreshButton } from '../listParts';

export interface IDatasetListProps {
  onOpen: (id: string) => void;
  onCreate: () => void;
  onAddShared: () => void;
}

/** The user's datasets, shared and preset ones, refreshed every few seconds. */
export function DatasetList(props: IDatasetListProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [datasets, setDatasets] = React.useState<IDataset[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [search, setSearch] = React.useState('');
  const [showAll, setShowAll] = React.useState(false);
  const isAdmin = ctx.info?.user.admin ?? false;

  const refresh = React.useCallback(
    async (force = false): Promise<void> => {
      if (!force && !isShown(root.current)) {
        return;
      }
      try {
        setDatasets(await listDatasets(isAdmin && showAll));
        setError(null);
      } catch (e) {
        setError(errorText(e));
      }
    },
    [isAdmin, showAll]
  );

  usePolling(() => refresh(), ctx.settings.refreshSeconds * 1000);
  React.useEffect(() => {
    void refresh(true);
  }, [refresh]);

  const needle = search.trim().toLowerCase();
  const shown = (datasets ?? []).filter(
    ds =>
      !needle ||
      ds.name.toLowerCase().includes(needle) ||
      ds.description.toLowerCase().includes(needle)
  );

  return (
    <div
      className="sxwl-dataset-list"
      ref={root}
      data-testid="sxwl-dataset-list"
    >
      <div className="sxwl-toolbar">
        <input
          type="search"
          className="jp-mod-styled sxwl-search"
          placeholder="Search datasets"
          aria-label="Search datasets by name"
          data-testid="sxwl-dataset-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
        <button
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="sxwl-dataset-create"
          onClick={props.onCreate}
        >
          Create dataset
        </button>
      </div>
      <div className="sxwl-toolbar sxwl-toolbar-secondary">
        <button
          className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
          data-testid="sxwl-dataset-add-shared"
          onClick={props.onAddShared}
        >
          Add shared dataset
        </button>
        {isAdmin && (
          <label className="sxwl-check">
            <input
              type="checkbox"
              checked={showAll}
              onChange={e => setShowAll(e.target.checked)}
            />
            All users'
          </label>
        )}
        <ListCount
          shown={datasets === null ? null : shown.length}
          noun="dataset"
        />
        <RefreshButton onRefresh={() => void refresh(true)} />
      </div>
      <ListNotices
        error={error}
        empty={datasets !== null && shown.length === 0}
      >
        {needle
          ? 'No dataset matches this search.'
          : 'No datasets yet. Press "Create dataset", then import data into it.'}
      </ListNotices>
      <ul className="sxwl-rows">
        {shown.map(ds => (
          <DatasetRow
            key={ds.id}
            dataset={ds}
            showOwner={isAdmin && showAll}
            onOpen={props.onOpen}
          />
        ))}
      </ul>
    </div>
  );
}

function DatasetRow(props: {
  dataset: IDataset;
  showOwner: boolean;
  onOpen: (id: string) => void;
}): JSX.Element {
  const ds = props.dataset;
  const open = (): void => props.onOpen(ds.id);
  return (
    <li
      className="sxwl-row"
      data-testid={`sxwl-dataset-row-${ds.name}`}
      data-dataset-id={ds.id}
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
        <span className="sxwl-row-name" title={ds.description || ds.name}>
          {ds.name}
        </span>
        <AccessBadge access={ds.access} />
      </div>
      <div className="sxwl-row-meta">
        <span title="Annotation type">
          {annotationLabel(ds.annotation_type)}
        </span>
        <span title="Records in the working copy" data-testid="sxwl-ds-records">
          {ds.draft.records.toLocaleString()} records
          {ds.draft.invalid > 0 && (
            <span className="sxwl-invalid-count">
              {' '}
              · {ds.draft.invalid.toLocaleString()} invalid
            </span>
          )}
        </span>
        <span title="Latest published version" data-testid="sxwl-ds-latest">
          {ds.latest_version
            ? `v${ds.latest_version}${
                ds.latest ? ` · ${formatBytes(ds.latest.size)}` : ''
              }`
            : 'not published'}
        </span>
        {props.showOwner && <span title="Owner">{ds.owner}</span>}
      </div>
      {ds.importing.map(imp => (
        <ProgressBar
          key={imp.id}
          label={`Importing: ${imp.phase}`}
          done={imp.bytes_done}
          total={imp.bytes_total}
          format={formatBytes}
          testid="sxwl-ds-row-importing"
        />
      ))}
      {ds.publishing && (
        <ProgressBar
          label="Publishing"
          done={ds.publishing.done}
          total={ds.publishing.total}
          testid="sxwl-ds-row-publishing"
        />
      )}
    </li>
  );
}
