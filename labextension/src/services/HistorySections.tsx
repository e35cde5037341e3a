import * as React from 'react';

import { errorText, formatTime } from '../format';
import {
  IRevisionChange,
  IServiceEvent,
  IServiceRevision,
  listServiceEvents,
  listServiceRevisions,
  readServiceLog
} from './api';

/** A revision's changes as `field: old → new` lines. */
export function changeLines(changes: IRevisionChange[] | undefined): string[] {
  return (changes ?? []).map(
    c => `${c.field}: ${JSON.stringify(c.old)} → ${JSON.stringify(c.new)}`
  );
}

/** Run records (started, ready, sleeping, woken, …) and configuration history. */
export function HistorySections(props: {
  serviceId: string;
  /** Changes when the service does: read again then. */
  version: string;
}): JSX.Element {
  const [events, setEvents] = React.useState<IServiceEvent[]>([]);
  const [revisions, setRevisions] = React.useState<IServiceRevision[]>([]);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    Promise.all([
      listServiceEvents(props.serviceId),
      listServiceRevisions(props.serviceId)
    ])
      .then(([e, r]) => {
        setEvents(e);
        setRevisions(r);
        setError(null);
      })
      .catch(e => setError(errorText(e)));
  }, [props.serviceId, props.version]);
  return (
    <>
      <details className="sxwl-section" open data-testid="sxwl-svc-events">
        <summary>Run records (newest first)</summary>
        {error && <div className="sxwl-error-banner">{error}</div>}
        <ul className="sxwl-svc-events">
          {events.map((e, i) => (
            <li key={e.id ?? i} data-event={e.kind}>
              <span className="sxwl-muted">{formatTime(e.at)}</span>{' '}
              <strong>{e.kind}</strong>
              {e.revision ? ` (revision ${e.revision})` : ''}
              {e.message ? `: ${e.message}` : ''}
            </li>
          ))}
        </ul>
      </details>
      <details className="sxwl-section" data-testid="sxwl-svc-revisions">
        <summary>Configuration history</summary>
        <ul className="sxwl-svc-events">
          {revisions.map(r => (
            <li key={r.number}>
              <strong>Revision {r.number}</strong>{' '}
              <span className="sxwl-muted">
                {formatTime(r.created_at)}
                {r.created_by ? ` by ${r.created_by}` : ''}
              </span>
              <ul>
                {(changeLines(r.changes).length
                  ? changeLines(r.changes)
                  : ['first configuration']
                ).map((line, i) => (
                  <li key={i} className="sxwl-mono">
                    {line}
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      </details>
    </>
  );
}

/** The service's log, read on from the last offset while it is open. */
export function ServiceLog(props: {
  serviceId: string;
  pollMs: number;
}): JSX.Element {
  const [text, setText] = React.useState('');
  const offset = React.useRef(0);
  const [open, setOpen] = React.useState(false);
  React.useEffect(() => {
    offset.current = 0;
    setText('');
  }, [props.serviceId]);
  React.useEffect(() => {
    if (!open) {
      return;
    }
    let busy = false;
    const read = async (): Promise<void> => {
      if (busy) {
        return;
      }
      busy = true;
      try {
        const chunk = await readServiceLog(props.serviceId, offset.current);
        if (chunk.next < offset.current) {
          setText(chunk.text); // a new run started the log again
        } else if (chunk.text) {
          setText(t => (t + chunk.text).slice(-200000));
        }
        offset.current = chunk.next;
      } catch {
        // Asked again on the next tick.
      } finally {
        busy = false;
      }
    };
    void read();
    const timer = window.setInterval(() => void read(), props.pollMs);
    return () => window.clearInterval(timer);
  }, [open, props.serviceId, props.pollMs]);
  return (
    <details
      className="sxwl-section"
      data-testid="sxwl-svc-log"
      onToggle={e => setOpen((e.target as HTMLDetailsElement).open)}
    >
      <summary>Log</summary>
      <pre className="sxwl-log-view" data-testid="sxwl-svc-log-text">
        {text || 'Nothing logged yet.'}
      </pre>
    </details>
  );
}
