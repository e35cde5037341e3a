import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  ApiError,
  ILabMount,
  MountKind,
  listLabMounts,
  mountInLab,
  unmountInLab
} from './api';
import { errorText } from './format';

export interface IMountControlProps {
  kind: MountKind;
  /** The dataset's or model's id, which the platform resolves. */
  reference: string;
  /** Its name: the mount's folder is named after it. */
  name: string;
  /** Versions that can be mounted, newest first; empty when none is ready. */
  versions: number[];
}

/** Words for a lab whose server extension answers 404 on the mount routes. */
const NO_MOUNTS =
  "This lab's server does not offer mounts (update jupyter_sxwl in the lab's image). " +
  'Jobs can still use the version through their mounts.';

/**
 * Link a published version into this lab, read-only, at
 * `~/mnt/<kind>s/<name>` (through the lab's server extension), and show or
 * remove the mount there is.
 */
export function MountControl(props: IMountControlProps): JSX.Element {
  const [version, setVersion] = React.useState<string>(
    props.versions.length ? String(props.versions[0]) : ''
  );
  const [current, setCurrent] = React.useState<ILabMount | null>(null);
  const [mountedPath, setMountedPath] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const describe = (e: unknown): string =>
    e instanceof ApiError && e.status === 404 && !e.errors.length
      ? `${NO_MOUNTS} (${e.message})`
      : errorText(e);

  const reload = React.useCallback(async (): Promise<void> => {
    try {
      const mounts = await listLabMounts();
      setCurrent(
        mounts.find(m => m.kind === props.kind && m.name === props.name) ?? null
      );
    } catch (e) {
      // Listing is a nicety: the mount button still says what is wrong.
      setCurrent(null);
    }
  }, [props.kind, props.name]);

  React.useEffect(() => {
    void reload();
  }, [reload]);

  React.useEffect(() => {
    if (!version && props.versions.length) {
      setVersion(String(props.versions[0]));
    }
  }, [props.versions, version]);

  const mount = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const answer = await mountInLab(
        props.kind,
        props.reference,
        version ? Number(version) : undefined
      );
      setMountedPath(answer.path);
      await reload();
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };

  const unmount = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await unmountInLab(props.kind, props.name);
      setMountedPath(null);
      await reload();
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };

  const path = mountedPath ?? current?.path ?? null;
  const folder = `~/mnt/${props.kind}s/${props.name}`;
  return (
    <div className="sxwl-subpanel sxwl-mount" data-testid="sxwl-mount">
      {props.versions.length === 0 ? (
        <div className="sxwl-muted">
          Nothing to mount yet:{' '}
          {props.kind === 'dataset'
            ? 'publish the dataset first.'
            : 'wait for a version to be ready.'}
        </div>
      ) : (
        <>
          <div className="sxwl-hint">
            Links the version into this lab, read-only, at {folder}.
          </div>
          <div className="sxwl-inline">
            <HTMLSelect
              className="sxwl-select"
              aria-label="Version to mount"
              data-testid="sxwl-mount-version"
              value={version}
              onChange={e => setVersion(e.target.value)}
            >
              {props.versions.map(n => (
                <option key={n} value={String(n)}>
                  version {n}
                </option>
              ))}
            </HTMLSelect>
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-accept"
              data-testid="sxwl-mount-button"
              disabled={busy}
              onClick={() => void mount()}
            >
              Mount
            </button>
          </div>
        </>
      )}
      {path && (
        <div className="sxwl-mounted" data-testid="sxwl-mount-path">
          <div className="sxwl-inline">
            <span className="sxwl-grow">
              Mounted{current && !current.ok ? '' : ', read-only,'} at
            </span>
            <button
              type="button"
              className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
              data-testid="sxwl-unmount"
              disabled={busy}
              onClick={() => void unmount()}
            >
              Unmount
            </button>
          </div>
          <code className="sxwl-mono sxwl-path" title={current?.target}>
            {path}
          </code>
          {current && !current.ok && (
            <div className="sxwl-field-error">
              Its version is gone: mount again.
            </div>
          )}
        </div>
      )}
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-mount-error">
          {error}
        </div>
      )}
    </div>
  );
}
