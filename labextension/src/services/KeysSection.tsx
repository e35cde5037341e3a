import * as React from 'react';

import { errorText, formatTime } from '../format';
import {
  INewServiceKey,
  IServiceKey,
  createServiceKey,
  listServiceKeys,
  revokeServiceKey
} from './api';
import { confirmed } from '../confirm';

/**
 * A service's keys: the list with the requests made with each, a new key
 * (its AppSecret and bearer key shown this once) and revoking one.
 */
export function KeysSection(props: {
  serviceId: string;
  refreshMs: number;
}): JSX.Element {
  const [keys, setKeys] = React.useState<IServiceKey[] | null>(null);
  const [made, setMade] = React.useState<INewServiceKey | null>(null);
  const [name, setName] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const load = React.useCallback(async (): Promise<void> => {
    try {
      setKeys(await listServiceKeys(props.serviceId));
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, [props.serviceId]);

  React.useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), props.refreshMs);
    return () => window.clearInterval(timer);
  }, [load, props.refreshMs]);

  const create = async (): Promise<void> => {
    setBusy(true);
    try {
      setMade(
        await createServiceKey(props.serviceId, name.trim() || undefined)
      );
      setName('');
      await load();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (key: IServiceKey): Promise<void> => {
    if (
      !(await confirmed(
        'Revoke key',
        `Revoke ${key.name || key.app_key}? Requests that carry it are refused from now on.`,
        'Revoke'
      ))
    ) {
      return;
    }
    try {
      await revokeServiceKey(props.serviceId, key.id);
      if (made?.id === key.id) {
        setMade(null);
      }
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <details className="sxwl-section" open data-testid="sxwl-svc-keys">
      <summary>Keys</summary>
      {error && <div className="sxwl-error-banner">{error}</div>}
      {made && (
        <div className="sxwl-svc-secret" data-testid="sxwl-svc-new-key">
          <strong>Keep these now: they are not shown again.</strong>
          <dl className="sxwl-fields">
            <dt>AppKey</dt>
            <dd className="sxwl-mono">{made.app_key}</dd>
            <dt>AppSecret</dt>
            <dd className="sxwl-mono" data-testid="sxwl-svc-app-secret">
              {made.app_secret}
            </dd>
            <dt>Bearer key</dt>
            <dd className="sxwl-mono" data-testid="sxwl-svc-bearer">
              {made.bearer}
            </dd>
          </dl>
          <button
            className="jp-Button jp-mod-styled jp-mod-minimal"
            onClick={() => setMade(null)}
          >
            I have kept them
          </button>
        </div>
      )}
      <div className="sxwl-inline-fields">
        <input
          type="text"
          aria-label="Key name"
          placeholder="key name (optional)"
          value={name}
          onChange={e => setName(e.target.value)}
        />
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-svc-key-create"
          disabled={busy}
          onClick={() => void create()}
        >
          New key
        </button>
      </div>
      {keys !== null && keys.length === 0 && (
        <div className="sxwl-muted">No keys yet: a request needs one.</div>
      )}
      {keys !== null && keys.length > 0 && (
        <table className="sxwl-table" data-testid="sxwl-svc-key-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>AppKey</th>
              <th>Requests</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {keys.map(k => (
              <tr key={k.id} data-testid={`sxwl-svc-key-${k.id}`}>
                <td>{k.name || '–'}</td>
                <td className="sxwl-mono">{k.app_key}</td>
                <td>{(k.requests ?? 0).toLocaleString()}</td>
                <td>{formatTime(k.last_used_at)}</td>
                <td>
                  <button
                    className="jp-Button jp-mod-styled jp-mod-minimal sxwl-small-button"
                    data-testid="sxwl-svc-key-revoke"
                    onClick={() => void revoke(k)}
                  >
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </details>
  );
}
