import { Dialog, showDialog } from '@jupyterlab/apputils';

/**
 * Ask before something that cannot be undone (a delete, a revoke): true when
 * the user pressed the warning button, false on Cancel.
 */
export async function confirmed(
  title: string,
  body: string,
  label = 'Delete'
): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label })]
  });
  return result.button.accept;
}
