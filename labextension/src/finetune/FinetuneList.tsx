import * as React from 'react';

import { SxwlContext } from '../context';
import { errorText, formatDuration, formatTime } from '../format';
import { isShown, usePolling } from '../hooks';
import { StatusBadge } from '../jobs/StatusBadge';
import { ProgressBar } from '../progress';
import { IFinetune, listFinetunes } from './api';
import { axisNumber } from './LossCurve';
import { ListCount, ListNotices, RefreshButton } from '../listParts';

export interface IFinetuneListProps {
  onOpen: (id: string) => void;
  onNew: () => void;
}

/** The user's fine-tunes, newest first, refreshed every few seconds. */
export function FinetuneList(props: IFinetuneListProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [items, setItems] = React.useState<IFinetune[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);

  const refresh = React.useCallback(async (force = false): Promise<void> => {
    if (!force && !isShown(root.current)) {
      return;
    }
    try {
      setItems(await listFinetunes());
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, []);

  usePolling(() => refresh(), ctx.settings.refreshSeconds * 1000);
  React.useEffect(() => {
    void refresh(true);
  }, [refresh]);

  return (
    <div className="sxwl-ft-list" ref={root} data-testid="sxwl-ft-list">
      <div className="sxwl-toolbar">
        <ListCount
          shown={items === null ? null : items.length}
          noun="fine-tune"
          className="sxwl-muted sxwl-grow"
        />
        <RefreshButton onRefresh={() => void refresh(true)} />
        <button
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="sxwl-ft-new"
          onClick={props.onNew}
        >
          New fine-tune
        </button>
      </div>
      <ListNotices error={error} empty={items !== null && items.length === 0}>
        No fine-tunes yet. Press "New fine-tune": the preset tiny model and a
        preset instruction dataset train in a minute on CPU.
      </ListNotices>
      <ul className="sxwl-rows">
        {(items ?? []).map(ft => (
          <FinetuneRow key={ft.id} ft={ft} onOpen={props.onOpen} />
        ))}
      </ul>
    </div>
  );
}

function FinetuneRow(props: {
  ft: IFinetune;
  onOpen: (id: string) => void;
}): JSX.Element {
  const ft = props.ft;
  const p = ft.progress;
  const open = (): void => props.onOpen(ft.id);
  return (
    <li
      className="sxwl-row"
      data-testid={`sxwl-ft-row-${ft.id}`}
      data-ft-name={ft.name}
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
        <span className="sxwl-row-name" title={ft.id}>
          {ft.name}
        </span>
        <span className="sxwl-badge" data-testid="sxwl-ft-method">
          {ft.method}
        </span>
        <StatusBadge status={ft.status} />
      </div>
      <div className="sxwl-row-meta">
        <span title="Base model">
          {ft.model.name} v{ft.model.version}
        </span>
        {p && <span title="Training loss">loss {axisNumber(p.loss)}</span>}
        {p?.eta_seconds !== null &&
          p?.eta_seconds !== undefined &&
          ft.status === 'Running' && (
            <span title="Time left">ETA {formatDuration(p.eta_seconds)}</span>
          )}
        <span title="Created">{formatTime(ft.created_at)}</span>
      </div>
      {p && (
        <ProgressBar
          label="Steps"
          done={p.step}
          total={p.total_steps}
          testid="sxwl-ft-row-progress"
          failed={ft.status === 'Failed'}
        />
      )}
    </li>
  );
}
