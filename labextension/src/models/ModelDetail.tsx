import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  ApiError,
  IModel,
  IModelVersion,
  deleteModel,
  getModel,
  listModelShares,
  shareModel
} from '../api';
import { AccessBadge } from '../badges';
import { SxwlContext } from '../context';
import { errorText } from '../format';
import { isShown, usePolling } from '../hooks';
import { MountControl } from '../MountControl';
import { ShareSection } from '../sharing';
import { ModelImportForm } from './ModelImportForm';
import { ModelVersionRow } from './ModelVersionRow';
import { confirmed } from '../confirm';

export interface IModelDetailProps {
  modelId: string;
  /** Open the import form at once (a model just created has no version). */
  importOpen: boolean;
  onBack: () => void;
  onDeleted: () => void;
}

type Panel = 'import' | 'share' | 'mount' | null;

/**
 * One model: its versions with import status and progress, and the actions
 * Import version, Share, Mount and Delete; each version opens its files,
 * downloads, export to S3 and deletion.
 */
export function ModelDetail(props: IModelDetailProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [model, setModel] = React.useState<IModel | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [gone, setGone] = React.useState(false);
  const [panel, setPanel] = React.useState<Panel>(
    props.importOpen ? 'import' : null
  );
  const [busy, setBusy] = React.useState(false);
  const isAdmin = ctx.info?.user.admin ?? false;

  const refresh = async (force = false): Promise<void> => {
    if (!force && model !== null && !isShown(root.current)) {
      return;
    }
    try {
      setModel(await getModel(props.modelId));
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        setGone(true);
      }
      setError(errorText(e));
    }
  };

  const versions = model?.versions ?? [];
  const active = model === null || versions.some(v => v.status === 'importing');
  usePolling(
    () => refresh(),
    gone ? null : (active ? 1 : 5) * ctx.settings.refreshSeconds * 1000
  );

  const toggle = (p: Panel): void =>
    setPanel(current => (current === p ? null : p));

  const confirmDelete = async (): Promise<void> => {
    if (!model) {
      return;
    }
    if (
      !(await confirmed(
        'Delete model',
        `Delete ${model.name} and its ${versions.length} version${
          versions.length === 1 ? '' : 's'
        }? Their files go too.`
      ))
    ) {
      return;
    }
    setBusy(true);
    try {
      await deleteModel(model.id);
      props.onDeleted();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };

  const onImported = (v: IModelVersion): void => {
    setPanel(null);
    setModel(m =>
      m
        ? {
            ...m,
            versions: [
              v,
              ...(m.versions ?? []).filter(x => x.number !== v.number)
            ]
          }
        : m
    );
    void refresh(true);
  };

  const head = (
    <div className="sxwl-view-head">
      <button
        className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
        data-testid="sxwl-back"
        onClick={props.onBack}
      >
        ← Models
      </button>
    </div>
  );

  if (!model) {
    return (
      <div className="sxwl-model-detail" data-testid="sxwl-model-detail">
        {head}
        {error ? (
          <div className="sxwl-error-banner">{error}</div>
        ) : (
          <div className="sxwl-muted">Loading…</div>
        )}
      </div>
    );
  }

  const writable = !model.read_only || (isAdmin && model.preset);
  const ready = versions.filter(v => v.status === 'ready').map(v => v.number);
  const source = model.source;
  return (
    <div
      className="sxwl-model-detail"
      data-testid="sxwl-model-detail"
      data-model-id={model.id}
      ref={root}
    >
      {head}
      <div className="sxwl-title-row">
        <h3 className="sxwl-grow" title={model.name}>
          {model.name}
        </h3>
        <AccessBadge access={model.access} />
      </div>
      <div className="sxwl-summary">
        {model.family && <span>{model.family}</span>}
        {model.access !== 'owner' && <span>owner {model.owner}</span>}
        {source?.kind && source.kind !== 'local' && (
          <span title="Where the preset comes from">
            from {source.kind}
            {source.repo_id ? ` ${String(source.repo_id)}` : ''}
          </span>
        )}
        <span>
          {versions.length} version{versions.length === 1 ? '' : 's'}
        </span>
      </div>
      {model.description && (
        <div className="sxwl-message">{model.description}</div>
      )}
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-error">
          {error}
        </div>
      )}

      <div className="sxwl-actions">
        {writable && (
          <button
            className={`jp-Button jp-mod-styled${panel === 'import' ? ' sxwl-pressed' : ''}`}
            data-testid="sxwl-model-import-open"
            aria-expanded={panel === 'import'}
            onClick={() => toggle('import')}
          >
            Import version
          </button>
        )}
        {!model.read_only && !model.preset && (
          <button
            className={`jp-Button jp-mod-styled${panel === 'share' ? ' sxwl-pressed' : ''}`}
            data-testid="sxwl-model-share"
            aria-expanded={panel === 'share'}
            onClick={() => toggle('share')}
          >
            Share
          </button>
        )}
        <button
          className={`jp-Button jp-mod-styled${panel === 'mount' ? ' sxwl-pressed' : ''}`}
          data-testid="sxwl-model-mount"
          aria-expanded={panel === 'mount'}
          onClick={() => toggle('mount')}
        >
          Mount
        </button>
        {!model.read_only && (
          <button
            className="jp-Button jp-mod-styled jp-mod-warn"
            data-testid="sxwl-model-delete"
            disabled={busy}
            onClick={() => void confirmDelete()}
          >
            Delete
          </button>
        )}
      </div>

      {panel === 'import' && (
        <ModelImportForm
          model={model}
          isAdmin={isAdmin}
          onStarted={onImported}
        />
      )}
      {panel === 'share' && <ModelShare model={model} versions={ready} />}
      {panel === 'mount' && (
        <MountControl
          reference={model.id}
          kind="model"
          name={model.name}
          versions={ready}
        />
      )}

      <details className="sxwl-section" open>
        <summary>Versions ({versions.length})</summary>
        {versions.length === 0 ? (
          <div className="sxwl-muted">
            No versions yet: press "Import version".
          </div>
        ) : (
          <ul className="sxwl-list" data-testid="sxwl-model-versions">
            {versions.map(v => (
              <ModelVersionRow
                key={v.number}
                model={model}
                version={v}
                readOnly={model.read_only}
                onChanged={() => void refresh(true)}
              />
            ))}
          </ul>
        )}
      </details>
    </div>
  );
}

/** Share the whole model or one version of it. */
function ModelShare(props: { model: IModel; versions: number[] }): JSX.Element {
  const [version, setVersion] = React.useState('');
  return (
    <ShareSection
      key={props.model.id}
      kind="model"
      create={days =>
        shareModel(props.model.id, {
          version: version ? Number(version) : undefined,
          expires_in_days: days
        })
      }
      list={() => listModelShares(props.model.id)}
    >
      <div className="sxwl-field">
        <label htmlFor="sxwl-model-share-version">Version to share</label>
        <HTMLSelect
          id="sxwl-model-share-version"
          className="sxwl-select"
          data-testid="sxwl-model-share-version"
          value={version}
          onChange={e => setVersion(e.target.value)}
        >
          <option value="">latest, when they import</option>
          {props.versions.map(n => (
            <option key={n} value={String(n)}>
              version {n}
            </option>
          ))}
        </HTMLSelect>
      </div>
    </ShareSection>
  );
}
