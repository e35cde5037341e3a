import * as React from 'react';

import { SxwlContext } from '../context';
import { errorText, formatTime } from '../format';
import { isShown, usePolling } from '../hooks';
import { IService, MOVING, listServices, serviceModelText } from './api';
import { ServiceBadge } from './ServiceBadge';
import { ListCount, ListNotices, RefreshButton } from '../listParts';

export interface IServiceListProps {
  onOpen: (id: string) => void;
  onNew: () => void;
}

/** The user's services, newest first, refreshed every few seconds. */
export function ServiceList(props: IServiceListProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [items, setItems] = React.useState<IService[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);

  const refresh = React.useCallback(async (force = false): Promise<void> => {
    if (!force && !isShown(root.current)) {
      return;
    }
    try {
      setItems(await listServices());
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, []);

  const moving = (items ?? []).some(s => MOVING.includes(s.status));
  usePolling(
    () => refresh(),
    (moving ? 1 : 2) * ctx.settings.refreshSeconds * 1000
  );
  React.useEffect(() => {
    void refresh(true);
  }, [refresh]);

  return (
    <div className="sxwl-svc-list" ref={root} data-testid="sxwl-svc-list">
      <div className="sxwl-toolbar">
        <ListCount
          shown={items === null ? null : items.length}
          noun="service"
          className="sxwl-muted sxwl-grow"
        />
        <RefreshButton onRefresh={() => void refresh(true)} />
        <button
          className="jp-Button jp-mod-styled jp-mod-accept"
          data-testid="sxwl-svc-new"
          onClick={props.onNew}
        >
          Deploy
        </button>
      </div>
      <ListNotices error={error} empty={items !== null && items.length === 0}>
        No services yet. Press "Deploy": the preset tiny model serves the OpenAI
        API on CPU in seconds.
      </ListNotices>
      <ul className="sxwl-rows">
        {(items ?? []).map(s => (
          <ServiceRow
            key={s.id}
            service={s}
            onOpen={props.onOpen}
            onChat={
              ctx.openChat && s.kind === 'llm'
                ? () => ctx.openChat?.(s.id)
                : null
            }
          />
        ))}
      </ul>
    </div>
  );
}

function ServiceRow(props: {
  service: IService;
  onOpen: (id: string) => void;
  onChat: (() => void) | null;
}): JSX.Element {
  const s = props.service;
  const open = (): void => props.onOpen(s.id);
  return (
    <li
      className="sxwl-row"
      data-testid={`sxwl-svc-row-${s.id}`}
      data-svc-name={s.name}
      role="button"
      tabIndex={0}
      onClick={open}
      onKeyDown={e => {
        if (
          e.target === e.currentTarget &&
          (e.key === 'Enter' || e.key === ' ')
        ) {
          e.preventDefault();
          open();
        }
      }}
    >
      <div className="sxwl-row-head">
        <span className="sxwl-row-name" title={s.id}>
          {s.name}
        </span>
        <span className="sxwl-badge">{s.kind === 'llm' ? 'LLM' : 'app'}</span>
        <ServiceBadge status={s.status} standby={s.standby} />
        {props.onChat && (
          <button
            className="jp-Button jp-mod-styled jp-mod-minimal sxwl-small-button"
            data-testid="sxwl-svc-row-chat"
            title="Open a chat with this service"
            onClick={e => {
              e.stopPropagation();
              props.onChat?.();
            }}
          >
            Start chat
          </button>
        )}
      </div>
      <div className="sxwl-row-meta">
        <span title="Model">{serviceModelText(s)}</span>
        <span className="sxwl-mono" title="Address (through the gateway)">
          {s.address}
        </span>
        <span title="Requests served" data-testid="sxwl-svc-requests">
          {s.requests.toLocaleString()} requests
        </span>
        <span title="Created">{formatTime(s.created_at)}</span>
      </div>
      {s.status === 'failed' && s.message && (
        <div className="sxwl-row-wait">{s.message}</div>
      )}
    </li>
  );
}
