/**
 * The key the Chat view uses for a service: made once through the API (its
 * secrets are shown only then) and kept in this browser's local storage, so
 * reopening the chat needs no new key. A refused key is replaced.
 */
import { INewServiceKey, createServiceKey } from '../services/api';

const PREFIX = 'sxwl-chat-key:';

export interface IChatKey {
  id: string;
  bearer: string;
  app_key: string;
  app_secret: string;
}

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function storedKey(serviceId: string): IChatKey | null {
  const text = storage()?.getItem(PREFIX + serviceId);
  if (!text) {
    return null;
  }
  try {
    const key = JSON.parse(text) as IChatKey;
    return key.bearer ? key : null;
  } catch {
    return null;
  }
}

export function storeKey(serviceId: string, key: IChatKey): void {
  storage()?.setItem(PREFIX + serviceId, JSON.stringify(key));
}

export function forgetKey(serviceId: string): void {
  storage()?.removeItem(PREFIX + serviceId);
}

/** The kept key of the service, or a new one named "chat in JupyterLab". */
export async function chatKey(
  serviceId: string,
  renew = false
): Promise<IChatKey> {
  const kept = renew ? null : storedKey(serviceId);
  if (kept) {
    return kept;
  }
  const made: INewServiceKey = await createServiceKey(
    serviceId,
    'chat in JupyterLab'
  );
  const key: IChatKey = {
    id: made.id,
    bearer: made.bearer,
    app_key: made.app_key,
    app_secret: made.app_secret
  };
  storeKey(serviceId, key);
  return key;
}
