/** What every view of the panel shares: who the user is, settings, lab hooks. */
import * as React from 'react';

import { IInfo } from './api';

export interface IPanelSettings {
  /** Seconds between refreshes of job lists and job details. */
  refreshSeconds: number;
  /** Seconds between log reads while following a log. */
  logPollSeconds: number;
}

export const DEFAULT_SETTINGS: IPanelSettings = {
  refreshSeconds: 3,
  logPollSeconds: 1
};

export interface ISxwlContext {
  /** The platform's `GET info`; null until loaded. */
  info: IInfo | null;
  settings: IPanelSettings;
  /** The default file browser's folder, relative to the lab root, if any. */
  currentBrowserPath: () => string | null;
  /** Open a job's detail in a main-area tab; null where that is not possible. */
  openJobInTab: ((id: string) => void) | null;
  /** Open a chat with a service in a main-area tab; null where not possible. */
  openChat?: ((serviceId: string) => void) | null;
}

export const SxwlContext = React.createContext<ISxwlContext>({
  info: null,
  settings: DEFAULT_SETTINGS,
  currentBrowserPath: () => null,
  openJobInTab: null
});
