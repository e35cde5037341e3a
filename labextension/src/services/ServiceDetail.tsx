import * as React from 'react';

import { ApiError } from '../api';
import { BackHead } from '../BackHead';
import { SxwlContext } from '../context';
import { errorText, formatTime } from '../format';
import { isShown, usePolling } from '../hooks';
import {
  IModelRef,
  IService,
  MOVING,
  ServiceAction,
  deleteService,
  endpointUrl,
  getService,
  refText,
  serviceAction,
  serviceModelText,
  updateService
} from './api';
import { HistorySections, ServiceLog } from './HistorySections';
import { KeysSection } from './KeysSection';
import { ModelPicker, useModels } from './ModelPicker';
import { ServiceBadge } from './ServiceBadge';
import { confirmed } from '../confirm';

export interface IServiceDetailProps {
  serviceId: string;
  onBack: () => void;
  onDeleted: () => void;
}

/**
 * One service: status, address, model, usage; start chat, stop, start,
 * restart, delete; update to another model version; keys, run records,
 * configuration history and the log.
 */
export function ServiceDetail(props: IServiceDetailProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const root = React.useRef<HTMLDivElement>(null);
  const [service, setService] = React.useState<IService | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [gone, setGone] = React.useState(false);

  const refresh = async (): Promise<void> => {
    if (service !== null && !isShown(root.current)) {
      return;
    }
    try {
      setService(await getService(props.serviceId));
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        setGone(true);
      }
      setError(errorText(e));
    }
  };
  const moving = service === null || MOVING.includes(service.status);
  usePolling(
    refresh,
    gone ? null : (moving ? 1 : 2) * ctx.settings.refreshSeconds * 1000
  );

  const act = async (action: ServiceAction): Promise<void> => {
    if (!service) {
      return;
    }
    setBusy(true);
    try {
      setService(await serviceAction(service.id, action));
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const confirmDelete = async (): Promise<void> => {
    if (!service) {
      return;
    }
    if (
      !(await confirmed(
        'Delete service',
        `Delete ${service.name}? It is stopped and its keys stop working.`
      ))
    ) {
      return;
    }
    setBusy(true);
    try {
      await deleteService(service.id);
      props.onDeleted();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };

  const head = (
    <>
      <BackHead label="Services" onBack={props.onBack} />
      <div className="sxwl-title-row">
        <h3 className="sxwl-grow" title={service?.id}>
          {service?.name ?? props.serviceId}
        </h3>
        {service && (
          <ServiceBadge status={service.status} standby={service.standby} />
        )}
      </div>
    </>
  );
  if (!service) {
    return (
      <div className="sxwl-svc-detail" data-testid="sxwl-svc-detail" ref={root}>
        {head}
        {error ? (
          <div className="sxwl-error-banner">{error}</div>
        ) : (
          <div className="sxwl-muted">Loading…</div>
        )}
      </div>
    );
  }

  const s = service;
  const stopped = s.status === 'stopped' || s.status === 'failed';
  const res = Object.entries(s.resources ?? {})
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return (
    <div
      className="sxwl-svc-detail"
      data-testid="sxwl-svc-detail"
      data-svc-id={s.id}
      data-status={s.status}
      ref={root}
    >
      {head}
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-error">
          {error}
        </div>
      )}
      {s.message && (
        <div className="sxwl-message" data-testid="sxwl-svc-message">
          {s.message}
        </div>
      )}
      <div className="sxwl-actions">
        {s.kind === 'llm' && ctx.openChat && (
          <button
            className="jp-Button jp-mod-styled jp-mod-accept"
            data-testid="sxwl-svc-chat"
            disabled={s.status === 'deleting'}
            onClick={() => ctx.openChat?.(s.id)}
          >
            Start chat
          </button>
        )}
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-svc-stop"
          disabled={busy || stopped || s.status === 'deleting'}
          onClick={() => void act('stop')}
        >
          Stop
        </button>
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-svc-sleep"
          title="Stop the process now; the next request wakes it"
          disabled={busy || s.status !== 'running'}
          onClick={() => void act('sleep')}
        >
          Sleep
        </button>
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-svc-start"
          disabled={busy || !stopped}
          onClick={() => void act('start')}
        >
          Start
        </button>
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-svc-restart"
          disabled={busy || s.status === 'deleting'}
          onClick={() => void act('restart')}
        >
          Restart
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-warn"
          data-testid="sxwl-svc-delete"
          disabled={busy || s.status === 'deleting'}
          onClick={() => void confirmDelete()}
        >
          Delete
        </button>
      </div>
      <dl className="sxwl-fields" data-testid="sxwl-svc-info">
        <dt>id</dt>
        <dd className="sxwl-mono">{s.id}</dd>
        <dt>address</dt>
        <dd className="sxwl-mono" data-testid="sxwl-svc-address">
          {endpointUrl(s)}
        </dd>
        {s.kind === 'llm' && (
          <>
            <dt>OpenAI base_url</dt>
            <dd className="sxwl-mono">{endpointUrl(s)}v1</dd>
          </>
        )}
        <dt>model</dt>
        <dd data-testid="sxwl-svc-model-text">{serviceModelText(s)}</dd>
        {s.spec?.command && (
          <>
            <dt>command</dt>
            <dd className="sxwl-mono">{s.spec.command}</dd>
          </>
        )}
        <dt>revision</dt>
        <dd data-testid="sxwl-svc-revision">
          {s.revision}
          {s.serving_revision && s.serving_revision !== s.revision
            ? ` (revision ${s.serving_revision} answers until it is ready)`
            : ''}
        </dd>
        <dt>resources</dt>
        <dd>{res || 'defaults'}</dd>
        {s.placement && s.placement.length > 0 && (
          <>
            <dt>placement</dt>
            <dd data-testid="sxwl-svc-placement">
              {s.placement
                .map(
                  p =>
                    `node ${p.node}` +
                    (p.cards.length ? ` cards ${p.cards.join(',')}` : '')
                )
                .join('; ')}
            </dd>
          </>
        )}
        <dt>sleep</dt>
        <dd>
          {s.sleep_after_minutes
            ? `after ${s.sleep_after_minutes} idle minutes`
            : 'never'}
        </dd>
        <dt>requests</dt>
        <dd data-testid="sxwl-svc-request-count">
          {s.requests.toLocaleString()}
        </dd>
        <dt>created</dt>
        <dd>{formatTime(s.created_at)}</dd>
        <dt>updated</dt>
        <dd>{formatTime(s.updated_at)}</dd>
      </dl>
      {s.kind === 'llm' && <UpdateSection service={s} onUpdated={setService} />}
      <KeysSection
        serviceId={s.id}
        refreshMs={2 * ctx.settings.refreshSeconds * 1000}
      />
      <HistorySections
        serviceId={s.id}
        version={`${s.status}:${s.revision}:${s.updated_at}`}
      />
      <ServiceLog
        serviceId={s.id}
        pollMs={ctx.settings.logPollSeconds * 1000}
      />
    </div>
  );
}

/**
 * Move the service to another model version (or adapter): a new revision
 * that takes over once it is ready, with no failed request meanwhile.
 */
function UpdateSection(props: {
  service: IService;
  onUpdated: (s: IService) => void;
}): JSX.Element {
  const { models } = useModels();
  const plain = (ref: IModelRef | null): IModelRef | null =>
    ref ? { name: ref.name, version: ref.version ?? null } : null;
  const [model, setModel] = React.useState<IModelRef | null>(
    plain(props.service.model)
  );
  const [adapter, setAdapter] = React.useState<IModelRef | null>(
    plain(props.service.adapter)
  );
  const [error, setError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const same =
    JSON.stringify(plain(model)) ===
      JSON.stringify(plain(props.service.model)) &&
    JSON.stringify(plain(adapter)) ===
      JSON.stringify(plain(props.service.adapter));
  const update = async (): Promise<void> => {
    if (!model) {
      setError('Choose the model version to serve.');
      return;
    }
    setBusy(true);
    try {
      props.onUpdated(
        await updateService(props.service.id, {
          model: plain(model) ?? undefined,
          adapter: plain(adapter)
        })
      );
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <details className="sxwl-section" data-testid="sxwl-svc-update">
      <summary>Update to another model version</summary>
      {error && <div className="sxwl-field-error">{error}</div>}
      <div className="sxwl-field">
        <label htmlFor="sxwl-svc-update-model">Model version</label>
        <ModelPicker
          id="sxwl-svc-update-model"
          models={models ?? []}
          value={model}
          onChange={setModel}
          testid="sxwl-svc-update-model"
        />
      </div>
      <div className="sxwl-field">
        <label htmlFor="sxwl-svc-update-adapter">Adapter</label>
        <ModelPicker
          id="sxwl-svc-update-adapter"
          models={models ?? []}
          value={adapter}
          onChange={setAdapter}
          optional
          testid="sxwl-svc-update-adapter"
        />
      </div>
      <div className="sxwl-actions">
        <button
          className="jp-Button jp-mod-styled"
          data-testid="sxwl-svc-update-apply"
          disabled={busy || same}
          onClick={() => void update()}
        >
          Update
        </button>
        <span className="sxwl-muted">
          Now {props.service.model ? refText(props.service.model) : '–'}; the
          current revision answers until the new one is ready.
        </span>
      </div>
    </details>
  );
}
