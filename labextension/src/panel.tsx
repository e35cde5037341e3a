import { ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import { ApiError, IInfo, IJob, getInfo } from './api';
import {
  DEFAULT_SETTINGS,
  IPanelSettings,
  ISxwlContext,
  SxwlContext
} from './context';
import { DatasetsView } from './datasets/DatasetsView';
import { FinetuneView } from './finetune/FinetuneView';
import { sxwlIcon } from './icon';
import { JobDetail } from './jobs/JobDetail';
import { JobsView } from './jobs/JobsView';
import { ModelsView } from './models/ModelsView';
import { ServicesView } from './services/ServicesView';

/** One tab of the panel. */
interface ITab {
  id: string;
  label: string;
  view: () => JSX.Element;
}

const TABS: ITab[] = [
  { id: 'jobs', label: 'Jobs', view: () => <JobsView /> },
  { id: 'datasets', label: 'Datasets', view: () => <DatasetsView /> },
  { id: 'models', label: 'Models', view: () => <ModelsView /> },
  { id: 'finetune', label: 'Fine-tune', view: () => <FinetuneView /> },
  { id: 'services', label: 'Services', view: () => <ServicesView /> }
];

export interface ISxwlHooks {
  currentBrowserPath: () => string | null;
  openJobInTab: ((id: string) => void) | null;
  openChat?: ((serviceId: string) => void) | null;
}

/** `GET info` (who the user is, priorities), loaded once; `load` retries. */
function useInfo(): {
  info: IInfo | null;
  error: string | null;
  load: () => void;
} {
  const [info, setInfo] = React.useState<IInfo | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const load = React.useCallback(() => {
    getInfo()
      .then(i => {
        setInfo(i);
        setError(null);
      })
      .catch(e => setError(e instanceof ApiError ? e.message : String(e)));
  }, []);
  React.useEffect(load, [load]);
  return { info, error, load };
}

/** Provides `GET info` and settings to every view, and shows the tabs. */
function SxwlRoot(props: {
  settings: IPanelSettings;
  hooks: ISxwlHooks;
}): JSX.Element {
  const { info, error, load } = useInfo();
  const [tab, setTab] = React.useState(TABS[0].id);

  const value: ISxwlContext = {
    info,
    settings: props.settings,
    currentBrowserPath: props.hooks.currentBrowserPath,
    openJobInTab: props.hooks.openJobInTab,
    openChat: props.hooks.openChat ?? null
  };
  const current = TABS.find(t => t.id === tab) ?? TABS[0];
  return (
    <SxwlContext.Provider value={value}>
      <div className="sxwl-header">
        <sxwlIcon.react tag="span" className="sxwl-header-icon" />
        <h2>AI platform</h2>
        {info && (
          <span className="sxwl-muted sxwl-user" data-testid="sxwl-user">
            {info.user.name}
            {info.user.admin ? ' (admin)' : ''}
          </span>
        )}
      </div>
      <div className="sxwl-tabs" role="tablist">
        {TABS.map(t => (
          <button
            key={t.id}
            role="tab"
            aria-selected={t.id === current.id}
            className={`sxwl-tab${t.id === current.id ? ' sxwl-tab-active' : ''}`}
            data-testid={`sxwl-tab-${t.id}`}
            onClick={() => setTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-info-error">
          Cannot reach the platform: {error}{' '}
          <button
            className="jp-Button jp-mod-styled jp-mod-minimal"
            onClick={load}
          >
            retry
          </button>
        </div>
      )}
      <div className="sxwl-tab-body" role="tabpanel">
        {current.view()}
      </div>
    </SxwlContext.Provider>
  );
}

/** The left side panel "SXWL". */
export class SxwlPanel extends ReactWidget {
  constructor(private hooks: ISxwlHooks) {
    super();
    this.id = 'sxwl-panel';
    this.node.dataset.testid = 'sxwl-panel';
    this.addClass('sxwl-panel');
    this.title.icon = sxwlIcon;
    this.title.caption = 'AI platform';
  }

  /** New settings apply at once; the views re-render with them. */
  set settings(value: IPanelSettings) {
    this._settings = value;
    this.update();
  }

  protected render(): JSX.Element {
    return <SxwlRoot settings={this._settings} hooks={this.hooks} />;
  }

  private _settings: IPanelSettings = DEFAULT_SETTINGS;
}

/** One job's detail in a main-area tab, with room for its log. */
export class JobDetailWidget extends ReactWidget {
  constructor(
    readonly jobId: string,
    private settings: IPanelSettings,
    private hooks: ISxwlHooks
  ) {
    super();
    this.id = `sxwl-job-${jobId}`;
    this.addClass('sxwl-panel');
    this.addClass('sxwl-job-tab');
    this.title.label = jobId;
    this.title.icon = sxwlIcon;
    this.title.closable = true;
  }

  protected render(): JSX.Element {
    return (
      <StandaloneJob
        jobId={this.jobId}
        settings={this.settings}
        hooks={this.hooks}
        onDeleted={() => this.close()}
        onJob={job => {
          this.title.label = job.name;
          this.title.caption = `${job.name} (${job.id}): ${job.status}`;
        }}
      />
    );
  }
}

function StandaloneJob(props: {
  jobId: string;
  settings: IPanelSettings;
  hooks: ISxwlHooks;
  onDeleted: () => void;
  onJob: (job: IJob) => void;
}): JSX.Element {
  const { info } = useInfo();
  const value: ISxwlContext = {
    info,
    settings: props.settings,
    currentBrowserPath: props.hooks.currentBrowserPath,
    openJobInTab: null
  };
  return (
    <SxwlContext.Provider value={value}>
      <JobDetail
        jobId={props.jobId}
        onDeleted={props.onDeleted}
        onJob={props.onJob}
      />
    </SxwlContext.Provider>
  );
}
