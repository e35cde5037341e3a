/**
 * jupyter_sxwl's JupyterLab extension: the "SXWL" side panel (AI platform)
 * for submitting and managing training jobs.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { ChatWidget } from './chat/ChatWidget';
import { DEFAULT_SETTINGS, IPanelSettings } from './context';
import { sxwlIcon } from './icon';
import { ISxwlHooks, JobDetailWidget, SxwlPanel } from './panel';

const PLUGIN_ID = 'jupyter_sxwl:plugin';

namespace CommandIDs {
  export const openPanel = 'sxwl:open-panel';
  export const openJob = 'sxwl:open-job';
  export const openChat = 'sxwl:open-chat';
}

function readSettings(settings: ISettingRegistry.ISettings): IPanelSettings {
  const num = (key: keyof IPanelSettings): number => {
    const value = settings.get(key).composite;
    return typeof value === 'number' && value > 0
      ? value
      : DEFAULT_SETTINGS[key];
  };
  return {
    refreshSeconds: num('refreshSeconds'),
    logPollSeconds: num('logPollSeconds')
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The SXWL side panel: submit and manage AI training jobs.',
  autoStart: true,
  optional: [
    ILabShell,
    ILayoutRestorer,
    IDefaultFileBrowser,
    ISettingRegistry,
    ICommandPalette
  ],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null,
    fileBrowser: IDefaultFileBrowser | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null
  ): void => {
    let settings = DEFAULT_SETTINGS;
    const tracker = new WidgetTracker<JobDetailWidget>({
      namespace: 'sxwl-job'
    });
    const chats = new WidgetTracker<ChatWidget>({ namespace: 'sxwl-chat' });

    const hooks: ISxwlHooks = {
      // The file browser's path is already relative to the lab root, which
      // is what the code-package endpoint expects.
      currentBrowserPath: () => (fileBrowser ? fileBrowser.model.path : null),
      openJobInTab: labShell
        ? (id: string) => void app.commands.execute(CommandIDs.openJob, { id })
        : null,
      openChat: (id: string) =>
        void app.commands.execute(CommandIDs.openChat, { id })
    };

    const panel = new SxwlPanel(hooks);
    app.shell.add(panel, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(panel, 'sxwl-panel');
    }

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Open the SXWL AI platform panel',
      icon: sxwlIcon,
      execute: () => app.shell.activateById(panel.id)
    });

    app.commands.addCommand(CommandIDs.openJob, {
      label: args => `Open SXWL job ${String(args.id ?? '')}`,
      execute: args => {
        const id = String(args.id ?? '');
        if (!id) {
          return;
        }
        const open = tracker.find(w => w.jobId === id);
        if (open) {
          app.shell.activateById(open.id);
          return;
        }
        const widget = new JobDetailWidget(id, settings, hooks);
        void tracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      }
    });

    app.commands.addCommand(CommandIDs.openChat, {
      label: args => `Chat with SXWL service ${String(args.id ?? '')}`,
      icon: sxwlIcon,
      execute: args => {
        const id = String(args.id ?? '');
        if (!id) {
          return;
        }
        const open = chats.find(w => w.serviceId === id);
        if (open) {
          app.shell.activateById(open.id);
          return;
        }
        const widget = new ChatWidget(id);
        void chats.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      }
    });

    if (restorer) {
      // Reopen chats after a reload (the answers so far are not kept).
      void restorer.restore(chats, {
        command: CommandIDs.openChat,
        args: widget => ({ id: widget.serviceId }),
        name: widget => widget.serviceId
      });
    }

    if (restorer) {
      // Reopen job tabs after a reload.
      void restorer.restore(tracker, {
        command: CommandIDs.openJob,
        args: widget => ({ id: widget.jobId }),
        name: widget => widget.jobId
      });
    }

    if (palette) {
      palette.addItem({ command: CommandIDs.openPanel, category: 'SXWL' });
    }

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(loaded => {
          const apply = (): void => {
            settings = readSettings(loaded);
            panel.settings = settings;
          };
          apply();
          loaded.changed.connect(apply);
        })
        .catch(reason => {
          console.warn(
            'jupyter_sxwl: settings not loaded, using defaults',
            reason
          );
        });
    }
  }
};

export default plugin;
