import { Clipboard } from '@jupyterlab/apputils';
import * as React from 'react';

import { IShare, revokeShare } from './api';
import { errorText, formatTime } from './format';

export interface IShareSectionProps {
  /** "dataset" or "model": the words of the hints. */
  kind: 'dataset' | 'model';
  /** Make a share that expires after `days` days; its answer holds the token. */
  create: (days: number) => Promise<IShare>;
  list: () => Promise<IShare[]>;
  /** Inputs shown before the button (a model's version choice). */
  children?: React.ReactNode;
}

/**
 * Make share tokens and revoke them. A token is shown once, right after it
 * was made, with a copy button: the platform keeps only its hash.
 */
export function ShareSection(props: IShareSectionProps): JSX.Element {
  const [days, setDays] = React.useState('7');
  const [token, setToken] = React.useState<string | null>(null);
  const [copied, setCopied] = React.useState(false);
  const [shares, setShares] = React.useState<IShare[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  // Parents pass a fresh function on each render: keep the latest without
  // making the list reload every time.
  const list = React.useRef(props.list);
  list.current = props.list;
  const reload = React.useCallback(async (): Promise<void> => {
    try {
      setShares(await list.current());
    } catch (e) {
      setError(errorText(e));
    }
  }, []);

  React.useEffect(() => {
    void reload();
  }, [reload]);

  const create = async (): Promise<void> => {
    const n = Number(days);
    if (!Number.isFinite(n) || n <= 0) {
      setError('expires in: enter a number of days, e.g. 7');
      return;
    }
    setBusy(true);
    setError(null);
    setCopied(false);
    try {
      const share = await props.create(n);
      setToken(share.token ?? null);
      await reload();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (share: IShare): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await revokeShare(share.id);
      await reload();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="sxwl-subpanel sxwl-share" data-testid="sxwl-share">
      {props.children}
      <div className="sxwl-form-actions sxwl-share-create">
        <label className="sxwl-check" htmlFor="sxwl-share-days">
          Expires in
          <input
            id="sxwl-share-days"
            type="number"
            min={1}
            className="jp-mod-styled sxwl-narrow"
            data-testid="sxwl-share-days"
            value={days}
            onChange={e => setDays(e.target.value)}
          />
          days
        </label>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept sxwl-nowrap"
          data-testid="sxwl-share-create"
          disabled={busy}
          onClick={() => void create()}
        >
          Create share token
        </button>
      </div>
      {token && (
        <div className="sxwl-token" data-testid="sxwl-share-token-box">
          <div className="sxwl-hint">
            Give this token to the person you share with; they add the{' '}
            {props.kind} with it
            {props.kind === 'dataset'
              ? ' ("Add shared dataset")'
              : ' ("Import by token")'}
            . It is shown only now: copy it.
          </div>
          <div className="sxwl-inline">
            <input
              type="text"
              readOnly
              className="jp-mod-styled sxwl-mono"
              data-testid="sxwl-share-token"
              value={token}
              onFocus={e => e.target.select()}
            />
            <button
              type="button"
              className="jp-Button jp-mod-styled"
              data-testid="sxwl-share-copy"
              onClick={() => {
                Clipboard.copyToSystem(token);
                setCopied(true);
              }}
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
          </div>
        </div>
      )}
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-share-error">
          {error}
        </div>
      )}
      {shares !== null && shares.length === 0 && (
        <div className="sxwl-muted">Not shared yet.</div>
      )}
      {shares !== null && shares.length > 0 && (
        <ul className="sxwl-list" data-testid="sxwl-shares">
          {shares.map(s => (
            <li key={s.id} data-testid="sxwl-share-row" data-status={s.status}>
              <span className="sxwl-grow">
                {s.version !== null && s.version !== undefined
                  ? `v${s.version} · `
                  : ''}
                {s.status} · {s.uses} use{s.uses === 1 ? '' : 's'} ·{' '}
                {s.status === 'revoked'
                  ? `revoked ${formatTime(s.revoked_at)}`
                  : `expires ${formatTime(s.expires_at)}`}
              </span>
              {s.status === 'active' && (
                <button
                  type="button"
                  className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
                  data-testid="sxwl-share-revoke"
                  disabled={busy}
                  onClick={() => void revoke(s)}
                >
                  Revoke
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
